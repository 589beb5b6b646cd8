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
}
