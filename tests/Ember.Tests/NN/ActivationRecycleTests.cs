using Ember.Models;
using Ember.NN;
using Ember.Optim;
using Xunit;

namespace Ember.Tests.NN;

/// <summary>Intermediates of a <see cref="Sequential"/> of built-in layers (and of the GPT's blocks) go back to the buffer
/// pool once the op that made them has run backward, and the next step's forward reuses them. Training must be
/// unchanged bit for bit, the tensors the caller holds (input, output) must never be recycled, and a graph kept with
/// retainGraph must keep its activations until the last pass.</summary>
public class ActivationRecycleTests
{
    private static T WithRecycling<T>(bool on, Func<T> run)
    {
        using var scope = EmberSettings.Scope(EmberSettings.Current with { RecycleActivations = on });
        return run();
    }

    /// <summary>Three Adam steps of an MLP (a fused Linear+ReLU, GELU, a Dropout(0) alias at the end) and of a CNN (fused
    /// conv+ReLU+pool, BatchNorm, Flatten view): losses, outputs and parameters equal with and without recycling.</summary>
    [Theory]
    [InlineData("mlp")]
    [InlineData("cnn")]
    public void TrainingIsUnchangedBitForBit(string kind)
    {
        (List<double> Losses, List<float[]> Params, long Recycled) Train(bool on) => WithRecycling(on, () =>
        {
            var g = new Generator(3);
            Sequential model = kind == "mlp"
                ? new Sequential(new Linear(100, 512, generator: g), new ReLU(), new Linear(512, 256, generator: g), new GELU(),
                    new Linear(256, 400, generator: g), new Dropout(0.0))   // output large enough to be pooled, aliased by the Dropout
                : new Sequential(new Conv2d(1, 8, 3, padding: 1, generator: g), new ReLU(), new MaxPool2d(2),
                    new Conv2d(8, 16, 3, padding: 1, generator: g), new BatchNorm2d(16), new ReLU(), new Flatten(),
                    new Linear(16 * 14 * 14, 10, generator: g));
            var x = kind == "mlp" ? Tensor.Randn([64, 100], DType.Float32, g) : Tensor.Randn([16, 1, 28, 28], DType.Float32, g);
            var y = Tensor.RandInt(0, 10, [x.Size(0)], g);   // class ids < 10 of the MLP's 400 outputs
            var opt = new Adam(model.Parameters(), lr: 1e-3);
            var losses = new List<double>();
            var outputs = new List<(Tensor Output, float[] Copy)>();
            long before = Engine.ActivationsRecycledHere;
            for (int step = 0; step < 3; step++)
            {
                var output = model.Call(x);
                outputs.Add((output, output.ToArray<float>()));
                var loss = Functional.CrossEntropy(output, y);
                opt.ZeroGrad();
                loss.Backward();
                opt.Step();
                losses.Add(loss.Item());
            }
            // The caller's outputs are never recycled: later steps' forwards did not write over them.
            foreach (var (output, copy) in outputs) Assert.Equal(copy, output.ToArray<float>());
            return (losses, model.Parameters().Select(p => p.ToArray<float>()).ToList(), Engine.ActivationsRecycledHere - before);
        });
        var plain = Train(on: false);
        var recycled = Train(on: true);
        Assert.Equal(plain.Losses, recycled.Losses);
        for (int i = 0; i < plain.Params.Count; i++) Assert.Equal(plain.Params[i], recycled.Params[i]);
        Assert.True(recycled.Recycled > 0, "no activation was recycled");
    }

    [Fact]
    public void RetainedGraphKeepsItsActivationsUntilTheLastPass()
    {
        WithRecycling(true, () =>
        {
            var g = new Generator(5);
            var model = new Sequential(new Linear(64, 512, generator: g), new Tanh(), new Linear(512, 512, generator: g), new Sigmoid(),
                new Linear(512, 1, generator: g));
            var x = Tensor.Randn([64, 64], DType.Float32, g);
            var loss = model.Call(x).Square().Mean();
            long before = Engine.ActivationsRecycledHere;
            loss.Backward(retainGraph: true);
            var first = model.Parameters().Select(p => p.Grad!.ToArray<float>()).ToList();
            foreach (var p in model.Parameters()) p.Grad = null;
            // Another model's step takes whatever the pool holds: had the first pass recycled the retained activations,
            // this would write over them and the second pass's gradients would differ.
            var churn = new Sequential(new Linear(64, 512, generator: g), new Tanh(), new Linear(512, 512, generator: g), new Sigmoid());
            churn.Call(Tensor.Randn([64, 64], DType.Float32, g)).Sum().Backward();
            loss.Backward();
            var second = model.Parameters().Select(p => p.Grad!.ToArray<float>()).ToList();
            for (int i = 0; i < first.Count; i++) Assert.Equal(first[i], second[i]);
            Assert.True(Engine.ActivationsRecycledHere > before);
            return 0;
        });
    }

    /// <summary>Two AdamW steps of a small GPT (its blocks recycle their norms, attention, MLP and residual activations):
    /// the same losses and parameters as without recycling; the pool then serves the step's forward (the GC is asked
    /// for a small fraction of the activations).</summary>
    [Fact]
    public void GptTrainingIsUnchangedBitForBit()
    {
        (List<double> Losses, List<float[]> Params, long Recycled) Train(bool on) => WithRecycling(on, () =>
        {
            var g = new Generator(2);
            var model = new Gpt(new GptConfig(VocabSize: 23, ContextLength: 64, NLayer: 2, NHead: 2, NEmbd: 64), g);
            var opt = new AdamW(model.Parameters(), lr: 1e-3, weightDecay: 0.1);
            var idx = Tensor.RandInt(0, 23, [8, 64], g);
            var target = Tensor.RandInt(0, 23, [8, 64], g);
            var losses = new List<double>();
            long before = Engine.ActivationsRecycledHere;
            for (int step = 0; step < 2; step++)
            {
                var loss = Functional.CrossEntropy(model.Call(idx).Reshape(-1, 23), target.Reshape(-1));
                opt.ZeroGrad();
                loss.Backward();
                opt.Step();
                losses.Add(loss.Item());
            }
            return (losses, model.Parameters().Select(p => p.ToArray<float>()).ToList(), Engine.ActivationsRecycledHere - before);
        });
        var plain = Train(on: false);
        var recycled = Train(on: true);
        Assert.Equal(plain.Losses, recycled.Losses);
        for (int i = 0; i < plain.Params.Count; i++) Assert.Equal(plain.Params[i], recycled.Params[i]);
        // Per layer: two norms, qkv, attention, MLP hidden and activation, MLP output, attention output, residual.
        Assert.True(recycled.Recycled >= 2 * 2 * 8, $"recycled {recycled.Recycled}");
    }
}
