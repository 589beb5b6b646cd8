using Ember;
using Ember.Explain;
using Xunit;

namespace Ember.Tests.Explain;

/// <summary>SHAP and gradient attributions against closed forms worked out by hand: Shapley values of a linear model
/// with independent features (wᵢ(xᵢ − E bᵢ)) and of a product term; KernelSHAP against exact enumeration; integrated
/// gradients' completeness; Grad-CAM on a head whose channel weights are known.</summary>
public class ExplainTests
{
    private static Tensor Row(params double[] v) => Tensor.FromArray(v, v.Length);

    /// <summary>A float64 tanh network in → hidden → 1, one output per row.</summary>
    private static Func<Tensor, Tensor> Net(int inputs, int hidden, ulong seed)
    {
        var g = new Generator(seed);
        var w1 = Tensor.Randn([inputs, hidden], DType.Float64, g).Div(Math.Sqrt(inputs));
        var b1 = Tensor.Randn([hidden], DType.Float64, g).Mul(0.1);
        var w2 = Tensor.Randn([hidden, 1], DType.Float64, g).Div(Math.Sqrt(hidden));
        return rows => rows.Matmul(w1).Add(b1).Tanh().Matmul(w2).Squeeze(-1);
    }

    [Fact]
    public void ExactShapOfALinearModelIsWeightTimesDeviationFromTheBackgroundMean()
    {
        var w = new[] { 2.0, -1.0, 0.5, 3.0 };
        var wt = Tensor.FromArray(w, 4, 1);
        Func<Tensor, Tensor> f = rows => rows.Matmul(wt).Squeeze(-1).Add(7);
        var x = Row(1, 2, -3, 0.5);
        var background = Tensor.Randn([30, 4], DType.Float64, new Generator(1));
        var mean = background.Mean(0).ToArrayDouble();
        foreach (var e in new[] { Shap.Exact(f, x, background), Shap.Kernel(f, x, background, samples: 64), Shap.Gradient(f, x, background, 4, new Generator(2)) })
        {
            for (int i = 0; i < 4; i++) Assert.Equal(w[i] * (x.ToArrayDouble()[i] - mean[i]), e.Values[i], 10);
            Assert.Equal(0, e.Gap, 10);
            Assert.Equal(7 + w.Select((wi, i) => wi * mean[i]).Sum(), e.BaseValue, 10);
        }
    }

    [Fact]
    public void ExactShapSplitsAnInteractionEvenly()
    {
        // f = x0·x1 + sin x2 + x3² against one background row b: the product's coalitions give
        // φ0 = ½(x0 − b0)(x1 + b1), φ1 = ½(x1 − b1)(x0 + b0); the separable terms φ2 = sin x2 − sin b2, φ3 = x3² − b3².
        Func<Tensor, Tensor> f = r => r.Select(1, 0).Mul(r.Select(1, 1)).Add(r.Select(1, 2).Sin()).Add(r.Select(1, 3).Square());
        var xv = new[] { 1.5, -2.0, 0.7, 3.0 };
        var bv = new[] { 0.5, 1.0, -0.2, 1.0 };
        var e = Shap.Exact(f, Row(xv), Tensor.FromArray(bv, 1, 4));
        Assert.Equal(0.5 * (xv[0] - bv[0]) * (xv[1] + bv[1]), e.Values[0], 12);
        Assert.Equal(0.5 * (xv[1] - bv[1]) * (xv[0] + bv[0]), e.Values[1], 12);
        Assert.Equal(Math.Sin(xv[2]) - Math.Sin(bv[2]), e.Values[2], 12);
        Assert.Equal(xv[3] * xv[3] - bv[3] * bv[3], e.Values[3], 12);
        Assert.Equal(0, e.Gap, 12);
    }

    [Fact]
    public void KernelShapEqualsExactWhenEveryCoalitionIsUsedAndApproachesItWhenSampled()
    {
        var f = Net(6, 16, 3);
        var x = Tensor.Randn([6], DType.Float64, new Generator(4)).Mul(2);
        var background = Tensor.Randn([20, 6], DType.Float64, new Generator(5));
        var exact = Shap.Exact(f, x, background);
        var full = Shap.Kernel(f, x, background, samples: 62);
        for (int i = 0; i < 6; i++) Assert.Equal(exact.Values[i], full.Values[i], 9);
        var sampled = Shap.Kernel(f, x, background, samples: 40, generator: new Generator(6));
        Assert.Equal(0, sampled.Gap, 10);   // additivity holds by construction
        double scale = exact.Values.Max(Math.Abs);
        for (int i = 0; i < 6; i++) Assert.True(Math.Abs(exact.Values[i] - sampled.Values[i]) < 0.1 * scale, $"feature {i}: {sampled.Values[i]} vs exact {exact.Values[i]}");
        // GradientSHAP is additive only in expectation: its gap is small next to the output's range.
        var grad = Shap.Gradient(f, x, background, 64, new Generator(7));
        Assert.True(Math.Abs(grad.Gap) < 0.05 * Math.Abs(grad.Output - grad.BaseValue) + 1e-3, $"gradient SHAP gap {grad.Gap}");
    }

    [Fact]
    public void IntegratedGradientsAreCompleteAndSaliencyIsTheGradientsMagnitude()
    {
        // f = Σ x²: the integrand 2α·x is linear in α, so the midpoint rule is exact and IGᵢ = xᵢ² from a zero baseline.
        Func<Tensor, Tensor> square = r => r.Square().Sum(1);
        var x = Tensor.FromArray(new[] { 1.5, -2.0, 0.25 }, 1, 3);
        var (ig, gap) = Attributions.IntegratedGradients(square, x, steps: 8);
        Assert.Equal(new[] { 2.25, 4.0, 0.0625 }, ig.ToArrayDouble().Select(v => Math.Round(v, 12)).ToArray());
        Assert.Equal(0, gap, 12);
        var f = Net(5, 12, 8);
        var xin = Tensor.Randn([1, 5], DType.Float64, new Generator(9));
        var (_, gap16) = Attributions.IntegratedGradients(f, xin, steps: 16);
        var (_, gap256) = Attributions.IntegratedGradients(f, xin, steps: 256);
        Assert.True(Math.Abs(gap256) < 1e-4 && Math.Abs(gap256) <= Math.Abs(gap16), $"completeness gap {gap16} (16 steps), {gap256} (256)");
        var w = Tensor.FromArray(new[] { 0.5, -3.0, 2.0 }, 3, 1);
        Assert.Equal(new[] { 0.5, 3.0, 2.0 }, Attributions.Saliency(r => r.Matmul(w).Squeeze(-1), x).ToArrayDouble());
        Assert.Throws<ArgumentException>(() => Attributions.Saliency(r => r.Matmul(w), x));   // (1, 1), not one value per row
    }

    [Fact]
    public void GradCamWeighsChannelsByTheirMeanGradient()
    {
        // head = Σc wc·mean(Ac): ∂y/∂Ac = wc/(H·W) everywhere, so the map is ReLU(Σc wc·Ac)/(H·W).
        var a = Tensor.Randn([1, 3, 4, 5], DType.Float64, new Generator(10));
        var wc = new[] { 1.0, -2.0, 0.5 };
        var wt = Tensor.FromArray(wc, 1, 3);
        var cam = Attributions.GradCam(x => x, m => m.Mean([2, 3]).Mul(wt).Sum(), a).ToArrayDouble();
        var av = a.ToArrayDouble();
        for (int p = 0; p < 20; p++)
        {
            double s = 0;
            for (int c = 0; c < 3; c++) s += wc[c] * av[c * 20 + p];
            Assert.Equal(Math.Max(0, s) / 20, cam[p], 12);
        }
    }
}
