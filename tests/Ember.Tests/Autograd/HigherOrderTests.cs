using System.Text.Json;
using Ember.Autograd;
using Ember.NN;
using Xunit;

namespace Ember.Tests.Autograd;

/// <summary>Gradients of gradients (createGraph) and <see cref="Grad.Of"/>: WGAN-GP gradient penalties through conv and
/// MLP critics against PyTorch 1.13's torch.autograd.grad (Fixtures/generative_reference.json, written by
/// Fixtures/gen_generative_fixtures.py), in float64 (the general kernels) and float32 (the fused Linear/Conv+ReLU paths).</summary>
public class HigherOrderTests
{
    private static readonly Lazy<JsonElement> s_doc = new(() =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "generative_reference.json"))).RootElement);

    private static Module ConvCritic(DType dt) => new Sequential(new Conv2d(2, 4, 4, stride: 2, padding: 1, dtype: dt), new LeakyReLU(0.2),
        new Conv2d(4, 6, 3, padding: 1, groups: 2, dtype: dt), new LeakyReLU(0.2), new Conv2d(6, 4, 3, stride: 2, dtype: dt), new ReLU(), new Flatten(),
        new Linear(4, 1, dtype: dt));

    private static Module MlpCritic(string act, DType dt) => new Sequential(new Linear(5, 7, dtype: dt), act switch
    {
        "tanh" => new Tanh(),
        "sigmoid" => new Sigmoid(),
        "gelu" => new GELU(),
        "gelu_tanh" => new GELU(tanhApproximation: true),
        "relu" => new ReLU(),
        _ => new LeakyReLU(0.2),
    }, new Linear(7, 1, dtype: dt));

    public static TheoryData<string, DType> Cases()
    {
        var d = new TheoryData<string, DType>();
        foreach (var dt in new[] { DType.Float64, DType.Float32 })
        {
            d.Add("penalty_conv", dt);
            foreach (var a in new[] { "tanh", "sigmoid", "gelu", "gelu_tanh", "relu", "leaky_relu" }) d.Add("penalty_mlp_" + a, dt);
        }
        return d;
    }

    /// <summary>The gradient penalty E[(‖∂D/∂x‖ − 1)²] and its gradient with respect to every critic parameter.</summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public void GradientPenaltyEqualsPyTorch(string name, DType dtype)
    {
        var c = s_doc.Value.GetProperty(name);
        var critic = name == "penalty_conv" ? ConvCritic(dtype) : MlpCritic(name["penalty_mlp_".Length..], dtype);
        critic.LoadStateDict(c.GetProperty("state").EnumerateObject().ToDictionary(p => p.Name,
            p => Tensor.FromArray(p.Value.Doubles("values"), p.Value.Ints("shape")).To(dtype)));
        if (dtype == DType.Float64) foreach (var p in critic.Parameters()) Assert.Equal(DType.Float64, p.DType);
        var x = Tensor.FromArray(c.Doubles("x"), c.Ints("x_shape")).To(dtype);
        x.RequiresGrad = true;
        var gx = Grad.Of(critic.Call(x).Sum(), x, createGraph: true);
        Assert.Null(x.Grad);                                         // Grad.Of returns, it does not accumulate
        Assert.All(critic.Parameters(), p => Assert.Null(p.Grad));
        double tol = dtype == DType.Float64 ? 1e-9 : 2e-4;
        TorchReference.Close(c.Doubles("grad_x"), gx.Contiguous().ToArrayDouble(), tol, $"{name} ∂D/∂x");
        var penalty = gx.Flatten(1).Pow(2).Sum(1).Sqrt().Sub(1).Pow(2).Mean();
        Assert.Equal(c.GetProperty("penalty").GetDouble(), penalty.Item(), dtype == DType.Float64 ? 1e-9 : 1e-4);
        penalty.Backward();
        var grads = c.GetProperty("grads");
        foreach (var (pname, p) in critic.NamedParameters())
        {
            var expected = grads.GetProperty(pname);
            if (expected.ValueKind == JsonValueKind.Null)
            {
                // PyTorch: no path from the penalty to this parameter (the last bias); Ember: none, or zeros.
                Assert.True(p.Grad is null || p.Grad.Abs().Max().Item() == 0, $"{name} {pname}: expected no gradient");
                continue;
            }
            var want = expected.EnumerateArray().Select(v => v.GetDouble()).ToArray();
            if (p.Grad is null)
            {
                // Through a ReLU the penalty reaches the bias before it only via the mask, whose derivative is zero:
                // PyTorch gives zeros there, Ember no gradient.
                Assert.All(want, v => Assert.Equal(0, v));
                continue;
            }
            TorchReference.Close(want, p.Grad.Contiguous().ToArrayDouble(), tol * 10, $"{name} ∂penalty/∂{pname}");
        }
    }

    /// <summary>Second derivatives of the elementwise functions and the matrix product, by finite differences in float64:
    /// d/dx of Σ ∂f/∂x for f = Σ exp, sqrt, rsqrt, tanh, sigmoid, x/y and x·W.</summary>
    [Fact]
    public void SecondDerivativesMatchFiniteDifferences()
    {
        var g = new Generator(3);
        var w = Tensor.Randn([4, 3], DType.Float64, g);
        var fns = new (string Name, Func<Tensor, Tensor> F)[]
        {
            ("exp", x => x.Exp().Sum()), ("sqrt", x => x.Abs().Add(0.5).Sqrt().Sum()), ("rsqrt", x => x.Abs().Add(0.5).Rsqrt().Sum()),
            ("tanh", x => x.Tanh().Sum()), ("sigmoid", x => x.Sigmoid().Sum()), ("div", x => Tensor.Ones([2, 4], DType.Float64).Div(x.Abs().Add(1)).Sum()),
            ("matmul", x => x.Matmul(w).Tanh().Sum()), ("gelu", x => Functional.Gelu(x).Sum()),
            ("norm", x => x.Norm(2, [1]).Pow(3).Sum()), ("softmax", x => x.Softmax(1).Pow(2).Sum()), ("log_softmax", x => x.LogSoftmax(1).Pow(2).Sum()),
        };
        foreach (var (name, f) in fns)
        {
            var x0 = Tensor.Randn([2, 4], DType.Float64, g);
            // s(x) = Σ ∂f/∂x (a scalar function of x); its gradient by autograd, twice, against central differences.
            double S(Tensor xv)
            {
                var xx = xv.Detach().Clone();
                xx.RequiresGrad = true;
                return Grad.Of(f(xx), xx).Sum().Item();
            }
            var x = x0.Clone();
            x.RequiresGrad = true;
            var ds = Grad.Of(Grad.Of(f(x), x, createGraph: true).Sum(), x).ToArrayDouble();
            var flat = x0.ToArrayDouble();
            for (int i = 0; i < flat.Length; i++)
            {
                const double h = 1e-5;
                var plus = (double[])flat.Clone(); plus[i] += h;
                var minus = (double[])flat.Clone(); minus[i] -= h;
                double fd = (S(Tensor.FromArray(plus, [2, 4])) - S(Tensor.FromArray(minus, [2, 4]))) / (2 * h);
                Assert.True(Math.Abs(fd - ds[i]) <= 1e-6 * (1 + Math.Abs(fd)), $"{name}[{i}]: autograd {ds[i]:R}, finite differences {fd:R}");
            }
        }
    }

    /// <summary>Ops whose backward is a kernel outside the graph refuse createGraph instead of silently giving a
    /// constant gradient (whose own derivative would be wrong).</summary>
    [Fact]
    public void KernelOnlyBackwardsRefuseHigherOrder()
    {
        var x = Tensor.Randn([2, 3, 4, 4], DType.Float32, new Generator(1));
        x.RequiresGrad = true;
        var ln = new LayerNorm(4);
        var e = Assert.Throws<NotSupportedException>(() => Grad.Of(Grad.Of(ln.Call(x).Pow(2).Sum(), x, createGraph: true).Sum(), x));
        Assert.Contains("NativeLayerNormBackward", e.Message);
        Assert.Throws<NotSupportedException>(() => Grad.Of(Functional.MaxPool2d(x, 2).Pow(2).Sum(), x, createGraph: true));
    }

    [Fact]
    public void GradOfSumsOutputsLeavesGradsAloneAndReportsUnusedInputs()
    {
        var a = Tensor.FromArray(new double[] { 1, 2, 3 }, 3);
        var b = Tensor.FromArray(new double[] { 4, 5, 6 }, 3);
        a.RequiresGrad = b.RequiresGrad = true;
        var mid = a.Mul(b);                                  // an intermediate input is allowed
        var y1 = mid.Sum();
        var y2 = a.Pow(2).Sum();
        var grads = Grad.Of([y1, y2], [a, mid]);
        Assert.Equal(new double[] { 4 + 2, 5 + 4, 6 + 6 }, grads[0]!.ToArrayDouble());   // b + 2a
        Assert.Equal(new double[] { 1, 1, 1 }, grads[1]!.ToArrayDouble());
        Assert.Null(a.Grad);
        Assert.Null(b.Grad);
        var c = Tensor.FromArray(new double[] { 1 }, 1);
        c.RequiresGrad = true;
        var z = a.Sum();
        var e = Assert.Throws<InvalidOperationException>(() => Grad.Of([z], [a, c], retainGraph: true));
        Assert.Contains("input 1", e.Message);
        var ok = Grad.Of([z], [a, c], allowUnused: true);
        Assert.Null(ok[1]);
        Assert.Throws<ArgumentException>(() => Grad.Of(z, Tensor.FromArray(new double[] { 1 }, 1)));   // input needs no grad
        // A non-scalar output needs its gradient.
        var v = a.Mul(2);
        Assert.Equal(new double[] { 2, 0, 6 }, Grad.Of([v], [a], [Tensor.FromArray(new double[] { 1, 0, 3 }, 3)])[0]!.ToArrayDouble());
    }
}

/// <summary>The DCGAN pair, the GAN losses and the weight average.</summary>
public class GanComponentTests
{
    [Fact]
    public void GradientPenaltyHelperEqualsPyTorch()
    {
        var c = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "generative_reference.json"))).RootElement.GetProperty("penalty_conv");
        var critic = new Sequential(new Conv2d(2, 4, 4, stride: 2, padding: 1, dtype: DType.Float64), new LeakyReLU(0.2),
            new Conv2d(4, 6, 3, padding: 1, groups: 2, dtype: DType.Float64), new LeakyReLU(0.2), new Conv2d(6, 4, 3, stride: 2, dtype: DType.Float64), new ReLU(),
            new Flatten(), new Linear(4, 1, dtype: DType.Float64));
        critic.LoadStateDict(c.GetProperty("state").EnumerateObject().ToDictionary(p => p.Name,
            p => Tensor.FromArray(p.Value.Doubles("values"), p.Value.Ints("shape"))));
        var gp = Ember.Models.GanLosses.GradientPenalty(critic, Tensor.FromArray(c.Doubles("x"), c.Ints("x_shape")));
        Assert.Equal(c.GetProperty("penalty").GetDouble(), gp.Item(), 1e-9);
        gp.Backward();
        TorchReference.Close(c.GetProperty("grads").Doubles("0.weight"), critic.Parameters().First().Grad!.ToArrayDouble(), 1e-8, "∂penalty/∂0.weight");
    }

    [Fact]
    public void DcganShapesLossesAndConfig()
    {
        var cfg = new Ember.Models.DcganConfig(LatentDim: 8, GeneratorWidth: 4, DiscriminatorWidth: 4);
        var g = new Ember.Models.DcganGenerator(cfg, new Generator(1));
        var d = new Ember.Models.DcganDiscriminator(cfg, new Generator(2));
        var fake = g.Call(Tensor.Randn([3, 8], DType.Float32, new Generator(3)));
        Assert.Equal([3, 1, 28, 28], fake.Shape.ToArray());
        Assert.InRange(fake.Abs().Max().Item(), 0, 1);
        var logits = d.Call(fake);
        Assert.Equal([3], logits.Shape.ToArray());
        var samples = g.Sample(5, new Generator(4));
        Assert.InRange(samples.Min().Item(), 0, 1);
        Assert.True(g.Training);
        // −log σ(l) and −log(1 − σ(l)) at l = 0 are both log 2.
        var zero = Tensor.Zeros(4);
        Assert.Equal(2 * Math.Log(2), Ember.Models.GanLosses.Discriminator(zero, zero).Item(), 6);
        Assert.Equal(Math.Log(2), Ember.Models.GanLosses.NonSaturatingGenerator(zero).Item(), 6);
        Assert.Equal(-1.5, Ember.Models.GanLosses.WassersteinCritic(Tensor.Full([2], 2.0), Tensor.Full([2], 0.5)).Item(), 6);
        Assert.Equal(cfg, Ember.Models.DcganConfig.FromMetadata(cfg.ToMetadata(), "gan.safetensors"));
        Assert.Contains("(N, 8)", Assert.Throws<ArgumentException>(() => g.Call(Tensor.Zeros(2, 7))).Message);
        Assert.Throws<ArgumentException>(() => new Ember.Models.DcganGenerator(cfg with { ImageSize = 30 }));
        // A critic without BatchNorm has no running statistics (per-sample penalty).
        Assert.DoesNotContain(new Ember.Models.DcganDiscriminator(cfg with { DiscriminatorBatchNorm = false }).StateDict().Keys, k => k.Contains("running"));
    }

    [Fact]
    public void ExponentialMovingAverageFollowsItsFormulaAndSwapsWeights()
    {
        var lin = new Linear(2, 1, generator: new Generator(1));
        var w0 = lin.Weight.ToArrayDouble();
        var ema = new Ember.Optim.ExponentialMovingAverage(lin, decay: 0.9);
        using (Tensor.NoGrad()) lin.Weight.Fill(1.0);
        ema.Update();
        var expected = w0.Select(v => 0.9 * v + 0.1 * 1.0).ToArray();
        TorchReference.Close(expected, ema.StateDict()["weight"].ToArrayDouble(), 1e-6, "shadow");
        using (ema.Apply()) TorchReference.Close(expected, lin.Weight.ToArrayDouble(), 1e-6, "applied");
        Assert.All(lin.Weight.ToArrayDouble(), v => Assert.Equal(1.0, v));   // restored
        var warm = new Ember.Optim.ExponentialMovingAverage(lin, decay: 0.999, warmup: true);
        Assert.Equal(0.1, warm.CurrentDecay, 12);   // (1 + 0)/(10 + 0)
        warm.Update();
        Assert.Equal(2.0 / 11, warm.CurrentDecay, 12);
        Assert.Throws<ArgumentOutOfRangeException>(() => new Ember.Optim.ExponentialMovingAverage(lin, decay: 1));
    }
}
