using Ember.NN;
using Ember.Optim;
using TorchSharp;
using static TorchSharp.torch;

namespace Ember.Bench;

/// <summary>Training steps per second of an MLP 784-512-256-10 (ReLU, batch 128, Adam, cross-entropy) in Ember and
/// in TorchSharp, each in its own child process (<see cref="TrainBench"/>).</summary>
internal static class MlpBench
{
    private const int Batch = 128;

    public static void Run(int rounds) => TrainBench.Run("mlp", "mlp-ember", "mlp-torch", rounds: rounds);

    public static void EmberSide()
    {
        var g = new Generator(1);
        var model = new Sequential(new Linear(784, 512, generator: g), new ReLU(), new Linear(512, 256, generator: g), new ReLU(), new Linear(256, 10, generator: g));
        var opt = new Adam(model.Parameters(), lr: 1e-3);
        var x = Tensor.Rand([Batch, 784], DType.Float32, g);
        var y = Tensor.RandInt(0, 10, [Batch], g);
        double rate = TrainBench.Measure(() =>
        {
            var loss = Functional.CrossEntropy(model.Call(x), y);
            opt.ZeroGrad();
            loss.Backward();
            opt.Step();
        });
        TrainBench.Report(rate);
    }

    public static void TorchSide()
    {
        torch.set_num_threads(Environment.ProcessorCount);
        var model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10));
        var opt = optim.Adam(model.parameters(), 1e-3);
        var x = torch.rand(Batch, 784);
        var y = torch.randint(0, 10, Batch, dtype: ScalarType.Int64);
        double rate = TrainBench.Measure(() =>
        {
            using var scope = torch.NewDisposeScope();
            var loss = nn.functional.cross_entropy(model.forward(x), y);
            opt.zero_grad();
            loss.backward();
            opt.step();
        });
        TrainBench.Report(rate);
    }
}
