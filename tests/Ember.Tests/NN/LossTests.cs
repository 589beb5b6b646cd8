using Ember;
using Ember.NN;
using Xunit;
using static Ember.Tests.TorchReference;

namespace Ember.Tests.NN;

/// <summary>Every loss against PyTorch 1.13 (values and input gradients, float64), plus finite differences.</summary>
public class LossTests
{
    public static TheoryData<string> Cases() => new(Names("losses"));

    private static Reduction Red(System.Text.Json.JsonElement c) => c.TryGetProperty("reduction", out var r)
        ? r.GetString() switch { "sum" => Reduction.Sum, "none" => Reduction.None, _ => Reduction.Mean } : Reduction.Mean;

    private static Func<Tensor, Tensor> Loss(string name, System.Text.Json.JsonElement c, Tensor target)
    {
        Tensor? weight = c.TryGetProperty("weight", out _) ? Tensor.FromArray(c.Doubles("weight")) : null;
        int ignore = c.TryGetProperty("ignore_index", out var ii) ? ii.GetInt32() : -100;
        double smoothing = c.TryGetProperty("label_smoothing", out var ls) ? ls.GetDouble() : 0;
        var red = Red(c);
        return name switch
        {
            _ when name.StartsWith("mse") => x => Functional.MseLoss(x, target, red),
            _ when name.StartsWith("l1") => x => Functional.L1Loss(x, target, red),
            "smooth_l1_beta0.5" => x => Functional.SmoothL1Loss(x, target, 0.5),
            "huber_delta0.7" => x => Functional.HuberLoss(x, target, 0.7),
            _ when name.StartsWith("ce") => x => Functional.CrossEntropy(x, target, weight, ignore, red, smoothing),
            "nll_weight" => x => Functional.NllLoss(x, target, weight),
            "bce" => x => Functional.BinaryCrossEntropy(x, target),
            "bce_logits" => x => Functional.BinaryCrossEntropyWithLogits(x, target),
            "bce_logits_posweight" => x => Functional.BinaryCrossEntropyWithLogits(x, target, posWeight: Tensor.FromArray(c.Doubles("pos_weight"))),
            _ => throw new ArgumentException(name),
        };
    }

    private static Tensor Target(System.Text.Json.JsonElement c)
    {
        var shape = c.Ints("target_shape");
        return c.GetProperty("target_dtype").GetString() == "int64"
            ? Tensor.FromArray(c.Doubles("target").Select(v => (long)v).ToArray(), shape)
            : Tensor.FromArray(c.Doubles("target"), shape);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesPyTorch(string name)
    {
        var c = Find("losses", name);
        var x = Tensor.FromArray(c.Doubles("input"), c.Ints("input_shape")).RequiresGrad_();
        var target = Target(c);
        var y = Loss(name, c, target)(x);
        Assert.Equal(c.Ints("output_shape"), y.Shape);
        Close(c.Doubles("output"), y.ToArray<double>(), 1e-12, name + " value");
        y.Backward(y.Dim == 0 ? null : Tensor.FromArray(c.Doubles("grad_output"), y.Shape));
        Close(c.Doubles("grad"), x.Grad!.ToArray<double>(), 1e-12, name + " grad");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesFiniteDifferences(string name)
    {
        var c = Find("losses", name);
        var x = Tensor.FromArray(c.Doubles("input"), c.Ints("input_shape")).RequiresGrad_();
        var f = Loss(name, c, Target(c));
        GradCheck.Check(v => f(v[0]), [x]);
    }

    [Fact]
    public void StableForExtremeLogits()
    {
        var logits = Tensor.FromArray(new float[] { 1000, -1000, 0, -1000, 1000, 0 }, 2, 3);
        var ce = Functional.CrossEntropy(logits, Tensor.FromArray(new long[] { 0, 0 }));
        Assert.Equal(1000, ce.Item(), 3);   // (0 + 2000) / 2
        var z = Tensor.FromArray(new float[] { 500, -500 });
        var bce = Functional.BinaryCrossEntropyWithLogits(z, Tensor.FromArray(new float[] { 0, 1 }), reduction: Reduction.None).ToArray<float>();
        Assert.Equal(new float[] { 500, 500 }, bce);
        var p = Functional.BinaryCrossEntropy(Tensor.FromArray(new float[] { 0, 1 }), Tensor.FromArray(new float[] { 1, 0 }), reduction: Reduction.None).ToArray<float>();
        Assert.Equal(new float[] { 100, 100 }, p);   // logs clamped at −100, as in PyTorch
    }

    [Fact]
    public void BadInputsNameTheProblem()
    {
        var logits = Tensor.Randn(4, 3);
        var e1 = Assert.Throws<ArgumentException>(() => Functional.CrossEntropy(logits, Tensor.FromArray(new long[] { 0, 1, 3, 0 })));
        Assert.Contains("target 3", e1.Message);
        var e2 = Assert.Throws<ArgumentException>(() => Functional.CrossEntropy(logits, Tensor.FromArray(new long[] { 0, 1, 2 })));
        Assert.Contains("[3]", e2.Message);
        var e3 = Assert.Throws<ArgumentException>(() => Functional.MseLoss(Tensor.Ones(2, 3), Tensor.Ones(3, 2)));
        Assert.Contains("[2, 3]", e3.Message);
        Assert.Throws<ArgumentException>(() => Functional.BinaryCrossEntropy(Tensor.FromArray(new float[] { 1.5f }), Tensor.Ones(1)));
    }

    [Fact]
    public void CrossEntropyIgnoresNonFiniteLogitsOfIgnoredRows()
    {
        // PyTorch 1.13: x = [[1,2,nan],[0,1,2],[3,4,5]], targets [0,1,2], ignore_index=0 (F.cross_entropy):
        // mean 0.9076058864593506, none [0, 1.4076058864593506, 0.40760594606399536], sum 1.8152117729187012,
        // label_smoothing 0.1 → 0.9576058983802795, weight [1,2,3] → 0.8076059222221375; input gradient rows 1-2 below
        // (row 0 is NaN in PyTorch too: log-softmax's backward multiplies the row's NaN probabilities by its 0 gradient).
        var x = Tensor.FromArray(new float[] { 1, 2, float.NaN, 0, 1, 2, 3, 4, 5 }, 3, 3).RequiresGrad_();   // float32, as PyTorch ran
        var t = Tensor.FromArray(new long[] { 0, 1, 2 });
        var loss = Functional.CrossEntropy(x, t, ignoreIndex: 0);
        Assert.Equal(0.9076058864593506, loss.Item<float>(), 1e-6);
        loss.Backward();
        var g = x.Grad!.ToArray<float>();
        double[] expected = [0.04501529037952423, -0.37763574719429016, 0.3326205015182495, 0.04501529037952423, 0.12236424535512924, -0.1673794984817505];
        for (int i = 0; i < 6; i++) Assert.Equal(expected[i], g[3 + i], 1e-6);
        Assert.Equal(new[] { 0, 1.4076058864593506, 0.40760594606399536 }, Functional.CrossEntropy(x.Detach(), t, ignoreIndex: 0, reduction: Reduction.None).ToArray<float>().Select(v => (double)v).ToArray(), new ToleranceComparer(1e-6));
        Assert.Equal(1.8152117729187012, Functional.CrossEntropy(x.Detach(), t, ignoreIndex: 0, reduction: Reduction.Sum).Item<float>(), 1e-6);
        Assert.Equal(0.9576058983802795, Functional.CrossEntropy(x.Detach(), t, ignoreIndex: 0, labelSmoothing: 0.1).Item<float>(), 1e-6);
        Assert.Equal(0.8076059222221375, Functional.CrossEntropy(x.Detach(), t, Tensor.FromArray(new float[] { 1, 2, 3 }), ignoreIndex: 0).Item<float>(), 1e-6);
        Assert.Equal(0.9076058864593506, Functional.NllLoss(x.Detach().LogSoftmax(1), t, ignoreIndex: 0).Item<float>(), 1e-6);
    }

    private sealed class ToleranceComparer(double tol) : IEqualityComparer<double>
    {
        public bool Equals(double a, double b) => Math.Abs(a - b) <= tol;
        public int GetHashCode(double v) => 0;
    }
}
