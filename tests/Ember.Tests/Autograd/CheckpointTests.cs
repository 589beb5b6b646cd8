using Ember.Autograd;
using Ember.Models;
using Ember.NN;
using Xunit;

namespace Ember.Tests.Autograd;

/// <summary>Gradient checkpointing: gradients bit-identical to the plain run (dropout replayed, BatchNorm statistics
/// updated once), parameters reached when no input needs a gradient, central differences in float64.</summary>
public class CheckpointTests
{
    private static void AssertSameGradients(Module plain, Module checkpointed)
    {
        var a = plain.NamedParameters().ToList();
        var b = checkpointed.NamedParameters().ToList();
        Assert.Equal(a.Count, b.Count);
        for (int i = 0; i < a.Count; i++)
        {
            Assert.Equal(a[i].Name, b[i].Name);
            Assert.True(a[i].Parameter.Grad is not null, $"{a[i].Name}: no gradient in the plain run");
            Assert.True(b[i].Parameter.Grad is not null, $"{b[i].Name}: no gradient with checkpointing");
            Assert.Equal(a[i].Parameter.Grad!.ToArray<float>(), b[i].Parameter.Grad!.ToArray<float>());   // bit for bit
        }
    }

    [Fact]
    public void GptGradientsAreBitIdenticalWithDropoutReplayed()
    {
        var config = new GptConfig(VocabSize: 17, ContextLength: 12, NLayer: 3, NHead: 2, NEmbd: 16, Dropout: 0.2);
        var gPlain = new Generator(5);
        var gCkpt = new Generator(5);
        var plain = new Gpt(config, gPlain);
        var ckpt = new Gpt(config, gCkpt) { GradientCheckpointing = true };
        var idx = Tensor.RandInt(0, 17, [3, 12], new Generator(9));
        var target = Tensor.RandInt(0, 17, [3 * 12], new Generator(10));
        for (int step = 0; step < 2; step++)
        {
            foreach (var m in new[] { plain, ckpt }) m.ZeroGrad();
            var lp = Functional.CrossEntropy(plain.Call(idx).Reshape(-1, 17), target);
            var lc = Functional.CrossEntropy(ckpt.Call(idx).Reshape(-1, 17), target);
            Assert.Equal(lp.Item(), lc.Item());
            lp.Backward();
            lc.Backward();
            AssertSameGradients(plain, ckpt);
            // The dropout generator ends where the plain run's does: the recomputation replayed, then restored, it.
            Assert.Equal(gPlain.GetState(), gCkpt.GetState());
        }
        // Dropout was really drawn: a second forward in training mode differs from the first.
        Assert.NotEqual(ckpt.Call(idx).ToArray<float>(), ckpt.Call(idx).ToArray<float>());
    }

    [Fact]
    public void ResNetGradientsAndBatchNormStatisticsMatchThePlainRun()
    {
        var config = new ResNetConfig(InChannels: 3, NumClasses: 4, Layers: [1, 2], BaseWidth: 4);
        var plain = new ResNet(config, new Generator(2));
        var ckpt = new ResNet(config, new Generator(2)) { GradientCheckpointing = true };
        var x = Tensor.Randn([4, 3, 8, 8], DType.Float32, new Generator(3));   // the image needs no gradient
        var y = Tensor.FromArray(new long[] { 0, 1, 2, 3 });
        Functional.CrossEntropy(plain.Call(x), y).Backward();
        Functional.CrossEntropy(ckpt.Call(x), y).Backward();
        AssertSameGradients(plain, ckpt);
        var sp = plain.StateDict();
        var sc = ckpt.StateDict();
        foreach (var key in sp.Keys.Where(k => k.Contains("running") || k.Contains("num_batches")))
            Assert.Equal(sp[key].To(DType.Float64).ToArray<double>(), sc[key].To(DType.Float64).ToArray<double>());
        Assert.Equal(1.0, sc["stem.1.num_batches_tracked"].To(DType.Float64).Item());
    }

    [Fact]
    public void TransformerEncoderWithPaddingMaskAndDropoutMatches()
    {
        TransformerEncoder Make(Generator g) => new(() => new TransformerEncoderLayer(8, 2, 16, dropout: 0.1, batchFirst: true, generator: g), 2);
        var plain = Make(new Generator(4));
        var ckpt = Make(new Generator(4));
        ckpt.GradientCheckpointing = true;
        var xp = Tensor.Randn([2, 5, 8], DType.Float32, new Generator(6), requiresGrad: true);
        var xc = xp.Detach().Clone().RequiresGrad_();
        var pad = Tensor.FromArray(new[] { false, false, false, true, true, false, false, false, false, false }, [2, 5]);
        plain.Forward(xp, null, pad).Square().Sum().Backward();
        ckpt.Forward(xc, null, pad).Square().Sum().Backward();
        AssertSameGradients(plain, ckpt);
        Assert.Equal(xp.Grad!.ToArray<float>(), xc.Grad!.ToArray<float>());
    }

    [Fact]
    public void FunctionSegmentsPassGradcheckAndReachParameters()
    {
        var w = GradCheck.Leaf(1, 4, 3);
        GradCheck.Check(xs => Checkpoint.Run(ys => ys[0].Matmul(ys[1]).Tanh().Mul(ys[0].Sum()), [xs[0], xs[1]]).Sum(),
            [GradCheck.Leaf(2, 5, 4), GradCheck.Leaf(3, 4, 3)]);
        // Only a parameter needs a gradient: the segment is still recorded, and the parameter gets the plain gradient.
        var x = Tensor.Randn([5, 4], DType.Float64, new Generator(7));
        Checkpoint.Run(ys => ys[0].Matmul(w).Sin(), [x], [w]).Sum().Backward();
        var viaCheckpoint = w.Grad!.ToArray<double>();
        w.ZeroGrad();
        x.Matmul(w).Sin().Sum().Backward();
        Assert.Equal(w.Grad!.ToArray<double>(), viaCheckpoint);
    }

    [Fact]
    public void HigherOrderGradientsAndEvalModeAreHandled()
    {
        var x = GradCheck.Leaf(1, 3);
        var y = Checkpoint.Run(ys => ys[0].Mul(ys[0]), [x]).Sum();
        var ex = Assert.Throws<NotSupportedException>(() => y.Backward(createGraph: true));
        Assert.Contains("createGraph", ex.Message);
        // Under NoGrad the function simply runs.
        using (Tensor.NoGrad()) Assert.Null(Checkpoint.Run(ys => ys[0].Mul(2), [x]).GradFn);
        // Eval mode in a model: no checkpoint nodes.
        var gpt = new Gpt(new GptConfig(VocabSize: 5, ContextLength: 4, NLayer: 1, NHead: 1, NEmbd: 4), new Generator(1)) { GradientCheckpointing = true };
        gpt.Eval();
        var logits = gpt.Call(Tensor.FromArray(new long[] { 1, 2, 3 }, [1, 3]));
        Assert.DoesNotContain("CheckpointBackward", GraphNames(logits));
        gpt.Train();
        Assert.Contains("CheckpointBackward", GraphNames(gpt.Call(Tensor.FromArray(new long[] { 1, 2, 3 }, [1, 3]))));
    }

    private static HashSet<string> GraphNames(Tensor t)
    {
        var names = new HashSet<string>();
        var stack = new Stack<Node>();
        if (t.GradFn is { } root) stack.Push(root);
        var seen = new HashSet<Node>(ReferenceEqualityComparer.Instance);
        while (stack.Count > 0)
        {
            var n = stack.Pop();
            if (!seen.Add(n)) continue;
            names.Add(n.Name);
            foreach (var i in n.Inputs) if (i?.GradFn is { } next) stack.Push(next);
        }
        return names;
    }
}
