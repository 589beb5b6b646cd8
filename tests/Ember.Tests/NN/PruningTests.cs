using System.Text.Json;
using Ember;
using Ember.Models;
using Ember.NN;
using Ember.Optim;
using Xunit;

namespace Ember.Tests.NN;

public class PruningTests
{
    private static readonly Lazy<JsonElement> s_ref = new(() => JsonDocument.Parse(File.ReadAllText(
        Path.Combine(AppContext.BaseDirectory, "Fixtures", "compression_reference.json"))).RootElement);

    private static float[] F(JsonElement e, string p) => e.GetProperty(p).EnumerateArray().Select(x => (float)x.GetDouble()).ToArray();

    /// <summary>The masks equal torch.nn.utils.prune's: global L1 over two weights, then a second per-layer round on
    /// what is left (Fixtures/gen_compression_fixtures.py).</summary>
    [Fact]
    public void UnstructuredMasksEqualTorchPrune()
    {
        var c = s_ref.Value.GetProperty("pruning_unstructured");
        var lin = new Linear(30, 20);
        var conv = new Conv2d(3, 8, 3);
        using (Tensor.NoGrad())
        {
            lin.Weight.CopyFrom(Tensor.FromArray(F(c, "linear_weight"), 20, 30));
            conv.Weight.CopyFrom(Tensor.FromArray(F(c, "conv_weight"), 8, 3, 3, 3));
        }
        var model = new Sequential(lin, conv);   // a container for the two (never run)
        var masks = Pruning.Magnitude(model, 0.4);
        Assert.Equal(F(c, "mask_global_linear"), masks.Masks[0].Mask.ToArray<float>());
        Assert.Equal(F(c, "mask_global_conv"), masks.Masks[1].Mask.ToArray<float>());
        var (layers, overall) = Pruning.Sparsity(model);
        Assert.Equal(Math.Round(0.4 * (600 + 216)), layers.Sum(l => l.Zeros));
        Assert.Equal(0.4, overall, 2);

        // Per layer, on the Linear alone: 0.3 of the entries it still has.
        var second = Pruning.Magnitude(new Sequential(lin), 0.0);
        second.Masks[0].Mask.CopyFrom(Tensor.FromArray(F(c, "mask_global_linear"), 20, 30));
        second.Prune(0.3, global: false);
        Assert.Equal(F(c, "mask_iterative_linear"), second.Masks[0].Mask.ToArray<float>());
    }

    [Fact]
    public void MasksKeepPrunedWeightsAtZeroWhileFineTuning()
    {
        var model = new Mlp(new MlpConfig { InFeatures = 20, Hidden = [32], OutFeatures = 3 }, new Generator(1));
        var masks = Pruning.Magnitude(model, 0.7, global: false);
        var x = Tensor.Randn([16, 20], DType.Float32, new Generator(2));
        var y = Tensor.RandInt(0, 3, [16], new Generator(3));
        var opt = new SGD(model.Parameters(), lr: 0.1, momentum: 0.9);
        for (int step = 0; step < 5; step++)
        {
            opt.ZeroGrad();
            Functional.CrossEntropy(model.Call(x), y).Backward();
            opt.Step();
            masks.Apply();
        }
        foreach (var (name, zeros, total) in Pruning.Sparsity(model).Layers)
            Assert.True(zeros >= Math.Round(0.7 * total), $"{name}: {zeros} of {total} zero after fine-tuning");
    }

    /// <summary>Structured pruning picks the channels torch's ln_structured keeps, and the physically smaller network
    /// gives the outputs of the network PyTorch sliced by hand.</summary>
    [Fact]
    public void StructuredPruningShrinksLayersAsTorchSlicing()
    {
        var c = s_ref.Value.GetProperty("pruning_structured");
        var net = new Sequential(new Conv2d(1, 6, 3, padding: 1, bias: false), new BatchNorm2d(6), new ReLU(), new MaxPool2d(2),
            new Conv2d(6, 8, 3, padding: 1), new BatchNorm2d(8), new ReLU(), new MaxPool2d(2),
            new Flatten(), new Linear(32, 16), new ReLU(), new Linear(16, 4));
        var state = c.GetProperty("state").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.EnumerateArray().Select(v => (float)v.GetDouble()).ToArray());
        using (Tensor.NoGrad())
            foreach (var (name, t) in net.StateDict())
                if (state.TryGetValue(name, out var v)) t.CopyFrom(Tensor.FromArray(v, t.Shape));
        net.Eval();
        var x = Tensor.FromArray(F(c, "x"), 3, 1, 8, 8);
        var report = Pruning.Structured(net, 0.5);
        Assert.Equal(c.Ints("keep0").Select(v => (long)v), KeptRows(state["0.weight"], 6, ((Conv2d)net[0]).Weight));
        Assert.Equal([("0", 3, 6), ("4", 4, 8), ("9", 8, 16)], report);
        Assert.Equal([3, 1, 3, 3], ((Conv2d)net[0]).Weight.Shape);
        Assert.Equal([4, 3, 3, 3], ((Conv2d)net[4]).Weight.Shape);
        Assert.Equal(3, ((BatchNorm2d)net[1]).RunningMean!.Size(0));
        Assert.Equal([8, 16], ((Linear)net[9]).Weight.Shape);
        Assert.Equal([4, 8], ((Linear)net[11]).Weight.Shape);
        TorchReference.Close(c.Doubles("y"), net.Infer(x).Double().ToArray<double>(), 1e-5, "pruned network");
        // The state dict is the smaller one, and it still trains.
        Assert.Equal([4], net.StateDict()["5.running_var"].Shape);
        net.Train();
        var loss = net.Call(x).Square().Mean();
        loss.Backward();
        Assert.NotNull(((Conv2d)net[4]).Weight.Grad);
    }

    /// <summary>Which rows of the original (rows, …) weight the pruned weight holds.</summary>
    private static IEnumerable<long> KeptRows(float[] original, int rows, Tensor pruned)
    {
        int per = original.Length / rows;
        var p = pruned.Contiguous().ToArray<float>();
        for (int r = 0; r < pruned.Size(0); r++)
            for (long o = 0; o < rows; o++)
                if (original.AsSpan((int)o * per, per).SequenceEqual(p.AsSpan(r * per, per))) { yield return o; break; }
    }

    [Fact]
    public void StructuredPruningOfAnMlpAndAGptFeedForward()
    {
        var mlp = new Mlp(new MlpConfig { InFeatures = 12, Hidden = [40, 30], OutFeatures = 5 }, new Generator(4));
        var report = Pruning.Structured(mlp, 0.25);
        Assert.Equal([("net.1", 30, 40), ("net.4", 22, 30)], report);
        Assert.Equal([5, 22], ((Linear)mlp.Network[7]).Weight.Shape);
        long before = new Mlp(new MlpConfig { InFeatures = 12, Hidden = [40, 30], OutFeatures = 5 }).ParameterCount;
        Assert.True(mlp.ParameterCount < before);

        var gpt = new Gpt(new GptConfig(VocabSize: 20, ContextLength: 8, NLayer: 1, NHead: 2, NEmbd: 16), new Generator(5));
        var r = Pruning.Structured(gpt, 0.5);
        Assert.Equal([("h.0.mlp.0", 32, 64)], r);
        Assert.Equal([2, 8, 20], gpt.Infer(Tensor.RandInt(0, 20, [2, 8], new Generator(6))).Shape);
        Assert.Contains("amount", Assert.Throws<ArgumentException>(() => Pruning.Structured(gpt, 1.0)).Message);
    }
}

public class FoldingTests
{
    /// <summary>Folding BatchNorm into the convolution (or Linear) before it keeps the eval outputs, removes the
    /// BatchNorm's state, lets conv+ReLU+pool fuse, and a folded state dict loads into a fresh model folded the same way.</summary>
    [Fact]
    public void FoldedBatchNormKeepsEvalOutputs()
    {
        Sequential Net(ulong seed) => new(
            new Sequential(new Conv2d(1, 6, 3, padding: 1, bias: false, generator: new Generator(seed)), new BatchNorm2d(6), new ReLU(), new MaxPool2d(2)),
            new Conv2d(6, 8, 3, padding: 1, generator: new Generator(seed + 1)), new BatchNorm2d(8), new ReLU(),
            new Flatten(), new Linear(8 * 4 * 4, 12, generator: new Generator(seed + 2)), new BatchNorm1d(12), new ReLU(), new Linear(12, 3, generator: new Generator(seed + 3)));
        var net = Net(1);
        var g = new Generator(5);
        using (Tensor.NoGrad())
            foreach (var (name, t) in net.StateDict())
            {
                if (name.EndsWith("running_mean")) t.CopyFrom(Tensor.Randn(t.Shape, DType.Float32, g).Mul(0.3));
                else if (name.EndsWith("running_var")) t.CopyFrom(Tensor.Rand(t.Shape, DType.Float32, g).Add(0.5));
                else if (t.Dim == 1 && name.Contains(".weight") && !name.StartsWith("5") && t.Size(0) < 13) t.CopyFrom(Tensor.Rand(t.Shape, DType.Float32, g).Add(0.5));
            }
        net.Eval();
        var x = Tensor.Randn([4, 1, 8, 8], DType.Float32, new Generator(6));
        var want = net.Infer(x).ToArray<float>();
        var folded = Folding.FoldBatchNorm(net);
        Assert.Equal(["0.1", "2", "6"], folded.Order());
        var got = net.Infer(x).ToArray<float>();
        for (int i = 0; i < want.Length; i++) Assert.True(Math.Abs(want[i] - got[i]) <= 1e-5 * (1 + Math.Abs(want[i])), $"[{i}]: {got[i]} vs {want[i]}");
        var state = net.StateDict();
        Assert.DoesNotContain(state.Keys, k => k.Contains("running_"));
        Assert.Equal([6], state["0.0.bias"].Shape);
        var fresh = Net(9);
        Folding.FoldBatchNorm(fresh);
        fresh.LoadStateDict(state);
        fresh.Eval();
        Assert.Equal(got, fresh.Infer(x).ToArray<float>());
    }
}
