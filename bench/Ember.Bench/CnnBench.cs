using Ember.NN;
using Ember.Optim;
using TorchSharp;
using static TorchSharp.torch;

namespace Ember.Bench;

/// <summary>Training steps per second of the small CNN on 28×28 inputs: conv(1→32, 3×3, pad 1)-ReLU-maxpool2 →
/// conv(32→64, 3×3, pad 1)-ReLU-maxpool2 → linear(3136→128)-ReLU → linear(128→10); batch 128, Adam, cross-entropy.</summary>
internal static class CnnBench
{
    private const int Batch = 128;

    public static void Run(int rounds) => TrainBench.Run("cnn", "cnn-ember", "cnn-torch", rounds: rounds);

    public static Sequential EmberModel(Generator g) => new(
        new Conv2d(1, 32, 3, padding: 1, generator: g), new ReLU(), new MaxPool2d(2),
        new Conv2d(32, 64, 3, padding: 1, generator: g), new ReLU(), new MaxPool2d(2),
        new Flatten(), new Linear(3136, 128, generator: g), new ReLU(), new Linear(128, 10, generator: g));

    public static void EmberSide()
    {
        var g = new Generator(1);
        var model = EmberModel(g);
        var opt = new Adam(model.Parameters(), lr: 1e-3);
        var x = Tensor.Rand([Batch, 1, 28, 28], DType.Float32, g);
        var y = Tensor.RandInt(0, 10, [Batch], g);
        double rate = TrainBench.Measure(() =>
        {
            var loss = Functional.CrossEntropy(model.Call(x), y);
            opt.ZeroGrad();
            loss.Backward();
            opt.Step();
        }, warmup: 10);
        TrainBench.Report(rate);
    }

    public static void TorchSide()
    {
        torch.set_num_threads(Environment.ProcessorCount);
        var model = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding: 1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding: 1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10));
        var opt = optim.Adam(model.parameters(), 1e-3);
        var x = torch.rand(Batch, 1, 28, 28);
        var y = torch.randint(0, 10, Batch, dtype: ScalarType.Int64);
        double rate = TrainBench.Measure(() =>
        {
            using var scope = torch.NewDisposeScope();
            var loss = nn.functional.cross_entropy(model.forward(x), y);
            opt.zero_grad();
            loss.backward();
            opt.step();
        }, warmup: 10);
        TrainBench.Report(rate);
    }
}
