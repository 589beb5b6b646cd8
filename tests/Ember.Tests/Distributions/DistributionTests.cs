using System.Text.Json;
using Ember;
using Ember.Distributions;
using Xunit;

namespace Ember.Tests.Distributions;

/// <summary>Ember.Distributions against SciPy 1.10 (Fixtures/distributions_reference.json, written by
/// Fixtures/gen_distributions_fixtures.py): log-densities, entropies, moments, closed-form KL divergences against
/// numerical integration, and the gamma-function family; sampling moments checked statistically; gradients of
/// LogProb, RSample, Entropy and KL checked by central differences.</summary>
public class DistributionTests
{
    private static readonly Lazy<JsonElement> s_ref = new(() =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "distributions_reference.json"))).RootElement);

    private static Tensor D(params double[] v) => Tensor.FromArray(v, v.Length);
    private static Tensor S(double v) => Tensor.Scalar(v, DType.Float64);

    private static void Close(double expected, double actual, double rtol, string what) =>
        Assert.True(Math.Abs(expected - actual) <= rtol * (1 + Math.Abs(expected)), $"{what}: SciPy {expected:R}, Ember {actual:R}");

    [Fact]
    public void GammaFunctionFamilyMatchesSciPy()
    {
        var sp = s_ref.Value.GetProperty("special");
        var x = sp.GetProperty("x").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        var t = D(x);
        foreach (var (name, got) in new[] { ("lgamma", t.Lgamma()), ("digamma", t.Digamma()), ("trigamma", t.Polygamma(1)) })
        {
            var want = sp.GetProperty(name).EnumerateArray().Select(e => e.GetDouble()).ToArray();
            var have = got.ToArrayDouble();
            for (int i = 0; i < x.Length; i++) Close(want[i], have[i], 1e-12, $"{name}({x[i]})");
            // float32: the double result rounded.
            var have32 = t.To(DType.Float32).Lgamma().ToArrayDouble();
            if (name == "lgamma") for (int i = 0; i < x.Length; i++) Close(want[i], have32[i], 2e-6, $"float32 lgamma({x[i]})");
        }
        Assert.Equal(double.PositiveInfinity, D(0, -3).Lgamma().ToArrayDouble()[1]);
        Assert.Equal(double.NegativeInfinity, D(0).Digamma().ToArrayDouble()[0]);
        Assert.True(double.IsNaN(D(-2).Digamma().ToArrayDouble()[0]));
    }

    private static Distribution Build(string name, double[] p) => name switch
    {
        "normal" => new Normal(S(p[0]), S(p[1])),
        "uniform" => new Uniform(S(p[0]), S(p[1])),
        "gamma" => new Gamma(S(p[0]), S(p[1])),
        "beta" => new Beta(S(p[0]), S(p[1])),
        "bernoulli" => new Bernoulli(probs: S(p[0])),
        "categorical" => new Categorical(probs: D(p)),
        "dirichlet" => new Dirichlet(D(p)),
        _ => throw new ArgumentException(name),
    };

    [Fact]
    public void LogProbEntropyAndMomentsMatchSciPy()
    {
        int checkedCases = 0;
        foreach (var c in s_ref.Value.GetProperty("distributions").EnumerateArray())
        {
            string name = c.GetProperty("name").GetString()!;
            var p = c.GetProperty("params").EnumerateArray().Select(e => e.GetDouble()).ToArray();
            var d = Build(name, p);
            string what = $"{name}({string.Join(", ", p)})";
            var want = c.GetProperty("log_prob").EnumerateArray().Select(e => e.GetDouble()).ToArray();
            var values = c.GetProperty("values").EnumerateArray().ToArray();
            for (int i = 0; i < values.Length; i++)
            {
                var v = name == "dirichlet" ? D(values[i].EnumerateArray().Select(e => e.GetDouble()).ToArray())
                    : name == "categorical" ? Tensor.FromArray(new long[] { (long)values[i].GetDouble() }).Reshape() : S(values[i].GetDouble());
                Close(want[i], d.LogProb(v).ToArrayDouble()[0], 1e-12, $"{what}.LogProb({values[i]})");
            }
            Close(c.GetProperty("entropy").GetDouble(), d.Entropy().ToArrayDouble()[0], 1e-12, $"{what}.Entropy");
            if (c.TryGetProperty("mean", out var mean))
            {
                if (mean.ValueKind == JsonValueKind.Array)
                {
                    var m = d.Mean.ToArrayDouble();
                    var va = d.Variance.ToArrayDouble();
                    var wm = mean.EnumerateArray().Select(e => e.GetDouble()).ToArray();
                    var wv = c.GetProperty("variance").EnumerateArray().Select(e => e.GetDouble()).ToArray();
                    for (int k = 0; k < wm.Length; k++)
                    {
                        Close(wm[k], m[k], 1e-12, $"{what}.Mean[{k}]");
                        Close(wv[k], va[k], 1e-12, $"{what}.Variance[{k}]");
                    }
                }
                else
                {
                    Close(mean.GetDouble(), d.Mean.ToArrayDouble()[0], 1e-12, $"{what}.Mean");
                    Close(c.GetProperty("variance").GetDouble(), d.Variance.ToArrayDouble()[0], 1e-12, $"{what}.Variance");
                }
            }
            checkedCases++;
        }
        Assert.Equal(20, checkedCases);
    }

    [Fact]
    public void KlDivergencesMatchNumericalIntegration()
    {
        foreach (var c in s_ref.Value.GetProperty("kl").EnumerateArray())
        {
            string name = c.GetProperty("name").GetString()!;
            var p = c.GetProperty("p").EnumerateArray().Select(e => e.GetDouble()).ToArray();
            var q = c.GetProperty("q").EnumerateArray().Select(e => e.GetDouble()).ToArray();
            double kl = Kl.Divergence(Build(name, p), Build(name, q)).ToArrayDouble()[0];
            Close(c.GetProperty("kl").GetDouble(), kl, 1e-9, $"KL {name}({string.Join(", ", p)} ‖ {string.Join(", ", q)})");
        }
        // Support not contained: +∞, as the integral diverges.
        Assert.Equal(double.PositiveInfinity, Kl.Divergence(new Uniform(-1.0, 2.0), new Uniform(0.0, 1.0)).ToArrayDouble()[0]);
        // Independent Normals: the sum over the reinterpreted dimension.
        var a = new Independent(new Normal(D(0, 1, 2), D(1, 2, 3)), 1);
        var b = new Independent(new Normal(D(1, 1, 1), D(2, 2, 2)), 1);
        double sum = Kl.Divergence(new Normal(D(0, 1, 2), D(1, 2, 3)), new Normal(D(1, 1, 1), D(2, 2, 2))).Sum().ToArrayDouble()[0];
        Close(sum, Kl.Divergence(a, b).ToArrayDouble()[0], 1e-15, "Independent KL");
    }

    [Fact]
    public void SampleMomentsMatchTheDistributions()
    {
        const int n = 200_000;
        var g = new Generator(7);
        var cases = new (string Name, Distribution D)[]
        {
            ("normal", new Normal(S(1.5), S(0.3))), ("uniform", new Uniform(S(-2), S(3.5))), ("gamma", new Gamma(S(2), S(3))),
            ("gamma small", new Gamma(S(0.5), S(1))), ("beta", new Beta(S(2), S(5))), ("bernoulli", new Bernoulli(probs: S(0.3))),
        };
        foreach (var (name, d) in cases)
        {
            var x = d.Sample([n], g);
            Assert.Equal([n], x.Shape);
            double mean = d.Mean.ToArrayDouble()[0], variance = d.Variance.ToArrayDouble()[0];
            double m = x.Mean().ToArrayDouble()[0], v = x.Var(unbiased: true).ToArrayDouble()[0];
            Assert.True(Math.Abs(m - mean) < 5 * Math.Sqrt(variance / n), $"{name}: sample mean {m}, mean {mean}");
            Assert.True(Math.Abs(v - variance) < 0.03 * variance, $"{name}: sample variance {v}, variance {variance}");
        }
        // Categorical: frequencies within 5 standard errors; a zero-probability category never drawn.
        var cat = new Categorical(probs: D(0.1, 0.0, 0.2, 0.7));
        var draws = cat.Sample([n], g);
        Assert.Equal(DType.Int64, draws.DType);
        var counts = new int[4];
        foreach (long k in draws.ToArray<long>()) counts[k]++;
        Assert.Equal(0, counts[1]);
        foreach (var (k, p) in new[] { (0, 0.1), (2, 0.2), (3, 0.7) })
            Assert.True(Math.Abs(counts[k] / (double)n - p) < 5 * Math.Sqrt(p * (1 - p) / n), $"categorical {k}: {counts[k]} of {n}");
        // Dirichlet: each component's mean and variance; every draw on the simplex.
        var dir = new Dirichlet(D(0.5, 2.0, 3.5));
        var xd = dir.Sample([n], g);
        Assert.Equal([n, 3], xd.Shape);
        var sums = xd.Sum(-1).ToArrayDouble();
        Assert.All(sums, s => Assert.True(Math.Abs(s - 1) < 1e-12));
        var wm = dir.Mean.ToArrayDouble();
        var wv = dir.Variance.ToArrayDouble();
        var sm = xd.Mean(0).ToArrayDouble();
        var sv = xd.Var(0).ToArrayDouble();
        for (int k = 0; k < 3; k++)
        {
            Assert.True(Math.Abs(sm[k] - wm[k]) < 5 * Math.Sqrt(wv[k] / n), $"dirichlet mean[{k}] {sm[k]} vs {wm[k]}");
            Assert.True(Math.Abs(sv[k] - wv[k]) < 0.03 * wv[k], $"dirichlet variance[{k}] {sv[k]} vs {wv[k]}");
        }
    }

    [Fact]
    public void ShapesBroadcastLikeTorch()
    {
        var d = new Normal(Tensor.Zeros([3, 1], DType.Float64), Tensor.Ones([4], DType.Float64));
        Assert.Equal([3, 4], d.BatchShape);
        Assert.Empty(d.EventShape);
        Assert.Equal([5, 3, 4], d.Sample([5]).Shape);
        Assert.Equal([3, 4], d.LogProb(S(0.5)).Shape);
        var ind = new Independent(d, 1);
        Assert.Equal([3], ind.BatchShape);
        Assert.Equal([4], ind.EventShape);
        Assert.Equal([2, 3, 4], ind.RSample([2]).Shape);
        var lp = ind.LogProb(Tensor.Zeros([3, 4], DType.Float64)).ToArrayDouble();
        Assert.Equal(3, lp.Length);
        Close(4 * d.LogProb(S(0)).ToArrayDouble()[0], lp[0], 1e-15, "Independent log prob");
        var cat = new Categorical(logits: Tensor.Zeros([2, 5], DType.Float64));
        Assert.Equal([2], cat.BatchShape);
        Assert.Equal([7, 2], cat.Sample([7]).Shape);
        Close(Math.Log(5), cat.Entropy().ToArrayDouble()[1], 1e-15, "uniform categorical entropy");
        var dir = new Dirichlet(Tensor.Ones([2, 3], DType.Float64));
        Assert.Equal([2], dir.BatchShape);
        Assert.Equal([3], dir.EventShape);
        Assert.Equal([4, 2, 3], dir.Sample([4]).Shape);
    }

    [Fact]
    public void GradientsOfLogProbRSampleEntropyAndKl()
    {
        GradCheck.Check(x => new Normal(x[0], x[1]).LogProb(x[2]), [GradCheck.Leaf(1, 4), GradCheck.LeafIn(2, 0.5, 2, 4), GradCheck.Leaf(3, 4)]);
        // RSample with the same noise on every evaluation: d/dloc = 1, d/dscale = ε.
        GradCheck.Check(x => new Normal(x[0], x[1]).RSample([3], new Generator(5)), [GradCheck.Leaf(4, 2), GradCheck.LeafIn(5, 0.5, 2, 2)]);
        GradCheck.Check(x => new Uniform(x[0], x[0].Add(x[1])).RSample([3], new Generator(6)), [GradCheck.Leaf(6, 2), GradCheck.LeafIn(7, 0.5, 2, 2)]);
        GradCheck.Check(x => new Gamma(x[0], x[1]).LogProb(x[2]), [GradCheck.LeafIn(8, 0.5, 4, 3), GradCheck.LeafIn(9, 0.5, 3, 3), GradCheck.LeafIn(10, 0.2, 3, 3)]);
        GradCheck.Check(x => new Beta(x[0], x[1]).LogProb(x[2]), [GradCheck.LeafIn(11, 0.5, 4, 3), GradCheck.LeafIn(12, 0.5, 4, 3), GradCheck.LeafIn(13, 0.1, 0.9, 3)]);
        GradCheck.Check(x => new Dirichlet(x[0]).LogProb(x[1].Softmax(-1)), [GradCheck.LeafIn(14, 0.5, 4, 2, 3), GradCheck.Leaf(15, 2, 3)]);
        GradCheck.Check(x => new Bernoulli(logits: x[0]).LogProb(Tensor.FromArray(new double[] { 0, 1, 1 })), [GradCheck.Leaf(16, 3)]);
        GradCheck.Check(x => new Categorical(logits: x[0]).LogProb(Tensor.FromArray(new long[] { 2, 0 })), [GradCheck.Leaf(17, 2, 4)]);
        GradCheck.Check(x => new Gamma(x[0], x[1]).Entropy(), [GradCheck.LeafIn(18, 0.5, 4, 3), GradCheck.LeafIn(19, 0.5, 3, 3)]);
        GradCheck.Check(x => new Beta(x[0], x[1]).Entropy(), [GradCheck.LeafIn(20, 0.5, 4, 3), GradCheck.LeafIn(21, 0.5, 4, 3)]);
        GradCheck.Check(x => Kl.Divergence(new Normal(x[0], x[1]), new Normal(x[2], x[3])),
            [GradCheck.Leaf(22, 3), GradCheck.LeafIn(23, 0.5, 2, 3), GradCheck.Leaf(24, 3), GradCheck.LeafIn(25, 0.5, 2, 3)]);
        GradCheck.Check(x => Kl.Divergence(new Dirichlet(x[0]), new Dirichlet(x[1])), [GradCheck.LeafIn(26, 0.5, 3, 4), GradCheck.LeafIn(27, 0.5, 3, 4)]);
        GradCheck.Check(x => x[0].Lgamma().Add(x[0].Digamma()), [GradCheck.LeafIn(28, 0.2, 6, 5)]);
    }

    private static double[] Doubles(JsonElement e, string name) => e.GetProperty(name).EnumerateArray().Select(x => x.GetDouble()).ToArray();

    [Fact]
    public void MultivariateNormalAndCholeskyMatchSciPyAndPyTorch()
    {
        foreach (var c in s_ref.Value.GetProperty("mvn").EnumerateArray())
        {
            int k = c.GetProperty("k").GetInt32();
            var cov = Tensor.FromArray(Doubles(c, "cov"), k, k);
            var loc = D(Doubles(c, "loc"));
            // Cholesky against numpy.linalg.cholesky; its gradient against torch.autograd.
            var a = cov.Detach().RequiresGrad_();
            var l = Linalg.Cholesky(a);
            var want = Doubles(c, "cholesky");
            var have = l.ToArrayDouble();
            for (int i = 0; i < want.Length; i++) Close(want[i], have[i], 1e-13, $"cholesky k={k} [{i}]");
            l.Mul(Tensor.FromArray(Doubles(c, "w"), k, k)).Sum().Backward();
            var gw = Doubles(c, "cholesky_grad");
            var gh = a.Grad!.ToArrayDouble();
            for (int i = 0; i < gw.Length; i++) Close(gw[i], gh[i], 1e-11, $"cholesky grad k={k} [{i}]");

            var d = new MultivariateNormal(loc, covarianceMatrix: cov);
            Assert.Equal([k], d.EventShape);
            var values = Tensor.FromArray(Doubles(c, "values"), 3, k);
            var lp = d.LogProb(values).ToArrayDouble();
            var wlp = Doubles(c, "log_prob");
            for (int i = 0; i < 3; i++) Close(wlp[i], lp[i], 1e-12, $"mvn k={k} log_prob[{i}]");
            Close(c.GetProperty("entropy").GetDouble(), d.Entropy().ToArrayDouble()[0], 1e-12, $"mvn k={k} entropy");
            var q = new MultivariateNormal(D(Doubles(c, "loc2")), covarianceMatrix: Tensor.FromArray(Doubles(c, "cov2"), k, k));
            Close(c.GetProperty("kl").GetDouble(), Kl.Divergence(d, q).ToArrayDouble()[0], 1e-12, $"mvn k={k} KL");
            // The same distribution from its factor; the diagonal of Σ as the variance.
            var byTril = new MultivariateNormal(loc, scaleTril: l.Detach());
            Close(lp[0], byTril.LogProb(values).ToArrayDouble()[0], 1e-13, "scaleTril log_prob");
            var variance = byTril.Variance.ToArrayDouble();
            for (int i = 0; i < k; i++) Close(Doubles(c, "cov")[i * k + i], variance[i], 1e-13, $"variance[{i}]");
            // Sample covariance of 100,000 draws within 3% of Σ's scale.
            var x = d.Sample([100_000], new Generator(9));
            var centered = x.Sub(x.Mean(0));
            var sampleCov = centered.MT.Matmul(centered).Div(100_000 - 1).ToArrayDouble();
            double covScale = Doubles(c, "cov").Max(Math.Abs);
            for (int i = 0; i < k * k; i++)
                Assert.True(Math.Abs(sampleCov[i] - Doubles(c, "cov")[i]) < 0.03 * covScale, $"sample covariance [{i}] {sampleCov[i]} vs {Doubles(c, "cov")[i]}");
        }
        // Gradients through the covariance (symmetric parametrization) and through a reparameterized draw.
        GradCheck.Check(x => new MultivariateNormal(x[0], covarianceMatrix: x[1].Matmul(x[1].MT).Add(Tensor.Eye(3, 3, DType.Float64))).LogProb(x[2]),
            [GradCheck.Leaf(30, 3), GradCheck.Leaf(31, 3, 3), GradCheck.Leaf(32, 2, 3)]);
        GradCheck.Check(x => new MultivariateNormal(x[0], covarianceMatrix: x[1].Matmul(x[1].MT).Add(Tensor.Eye(3, 3, DType.Float64))).RSample([2], new Generator(3)),
            [GradCheck.Leaf(33, 3), GradCheck.Leaf(34, 3, 3)]);
        GradCheck.Check(x => Linalg.Cholesky(x[0].Add(x[0].MT).Mul(0.5).Add(Tensor.Eye(4, 4, DType.Float64).Mul(4))), [GradCheck.Leaf(35, 4, 4)]);
        var notPd = Assert.Throws<ArgumentException>(() => Linalg.Cholesky(Tensor.FromArray(new double[] { 1, 2, 2, 1 }, 2, 2)));
        Assert.Contains("not positive definite", notPd.Message);
        Assert.Contains("order 2", notPd.Message);
        Assert.Throws<ArgumentException>(() => new MultivariateNormal(D(0, 0), covarianceMatrix: Tensor.FromArray(new double[] { 1, 0.5, 0, 1 }, 2, 2)));
        Assert.Throws<ArgumentException>(() => new MultivariateNormal(D(0, 0), scaleTril: Tensor.FromArray(new double[] { 1, 0.5, 0, 1 }, 2, 2)));
        Assert.Throws<ArgumentException>(() => new MultivariateNormal(D(0, 0, 0), covarianceMatrix: Tensor.Eye(2, 2, DType.Float64)));
    }

    [Fact]
    public void BadArgumentsAndValuesAreRefusedByName()
    {
        var scale = Assert.Throws<ArgumentException>(() => new Normal(D(0, 0), D(1, -2)));
        Assert.Contains("Normal", scale.Message);
        Assert.Contains("scale", scale.Message);
        Assert.Contains("-2", scale.Message);
        Assert.Throws<ArgumentException>(() => new Uniform(1.0, 1.0));
        Assert.Throws<ArgumentException>(() => new Gamma(0.0, 1.0));
        Assert.Throws<ArgumentException>(() => new Bernoulli(probs: S(1.5)));
        Assert.Throws<ArgumentException>(() => new Bernoulli(probs: S(0.5), logits: S(0)));
        Assert.Throws<ArgumentException>(() => new Categorical(probs: D(0, 0)));
        var beta = Assert.Throws<ArgumentException>(() => new Beta(2.0, 2.0).LogProb(Tensor.Scalar(1.5)));
        Assert.Contains("(0, 1)", beta.Message);
        var cat = Assert.Throws<ArgumentException>(() => new Categorical(probs: D(0.5, 0.5)).LogProb(Tensor.FromArray(new long[] { 2 })));
        Assert.Contains("[0, 2)", cat.Message);
        Assert.Throws<ArgumentException>(() => new Dirichlet(D(1, 1)).LogProb(D(0.3, 0.3)));
        Assert.Throws<ArgumentException>(() => new Uniform(0.0, 1.0).LogProb(Tensor.Scalar(1.0)));
        Assert.Equal(double.NegativeInfinity, new Uniform(0.0, 1.0, validateArgs: false).LogProb(Tensor.Scalar(1.0)).ToArrayDouble()[0]);
        var rs = Assert.Throws<NotSupportedException>(() => new Gamma(1.0, 1.0).RSample());
        Assert.Contains("Gamma", rs.Message);
        var kl = Assert.Throws<NotSupportedException>(() => Kl.Divergence(new Normal(0.0, 1.0), new Gamma(1.0, 1.0)));
        Assert.Contains("Normal", kl.Message);
        Assert.Throws<ArgumentException>(() => new Normal(D(1), Tensor.Ones(1)));   // float64 vs float32
    }
}
