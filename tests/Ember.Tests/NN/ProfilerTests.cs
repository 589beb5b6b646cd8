using System.Text.Json;
using Ember.Diagnostics;
using Ember.Models;
using Ember.NN;
using Xunit;

namespace Ember.Tests.NN;

/// <summary>The profiler records all threads, so its tests run alone (no other test's modules in its totals).</summary>
[CollectionDefinition("ProfilerAlone", DisableParallelization = true)]
public class ProfilerAloneCollection;

/// <summary>The profiler's FLOP counts against hand-computed values (2 per multiply-add), forward only; its totals,
/// allocation counts and Chrome trace.</summary>
[Collection("ProfilerAlone")]
public class ProfilerTests
{
    private sealed class Fn(Func<Tensor, Tensor> f) : Module
    {
        public override Tensor Forward(Tensor input) => f(input);
    }

    private static IReadOnlyList<ProfileEntry> Profile(Action run)
    {
        Profiler.Start();
        try { run(); }
        finally { Profiler.Stop(); }
        return Profiler.Totals();
    }

    private static long Flops(IReadOnlyList<ProfileEntry> totals, string name) => totals.Single(t => t.Name == name).Flops;

    [Fact]
    public void ProductsCountTwoFlopsPerMultiplyAdd()
    {
        var g = new Generator(3);
        var linear = new Linear(300, 200, generator: g);
        var conv = new Conv2d(3, 5, 3, padding: 1, generator: g);
        var strided = new Conv2d(3, 5, 3, stride: 2, generator: g);
        var transposed = new ConvTranspose2d(3, 4, 2, stride: 2, generator: g);
        var totals = Profile(() =>
        {
            linear.Call(Tensor.Randn([8, 300], DType.Float32, g));                   // 8·300·200 multiply-adds
            linear.Call(Tensor.Randn([2, 5, 300], DType.Float32, g));                // 10 rows through the leading dims
            conv.Call(Tensor.Randn([2, 3, 10, 12], DType.Float32, g));               // 2·5·(10·12)·(3·3·3)
            strided.Call(Tensor.Randn([2, 3, 10, 12], DType.Float32, g));            // 2·5·(4·5)·27
            transposed.Call(Tensor.Randn([1, 3, 5, 5], DType.Float32, g));           // each input pixel to 4·2·2 outputs
        });
        Assert.Equal(2L * (8 + 10) * 300 * 200, Flops(totals, "forward Linear"));
        Assert.Equal(2L * 2 * 5 * 120 * 27 + 2L * 2 * 5 * 20 * 27, Flops(totals, "forward Conv2d"));
        Assert.Equal(2L * 1 * 3 * 25 * 4 * 2 * 2, Flops(totals, "forward ConvTranspose2d"));
        Assert.Equal(2, totals.Single(t => t.Name == "forward Conv2d").Calls);
    }

    [Fact]
    public void MatmulAndAttentionCountTheirBroadcastBatchAndVisibleKeys()
    {
        var g = new Generator(4);
        var totals = Profile(() =>
        {
            new Fn(_ => Tensor.Randn([2, 1, 4, 5], DType.Float32, g).Matmul(Tensor.Randn([3, 5, 6], DType.Float32, g))).Call(Tensor.Zeros([1]));
            var q = Tensor.Randn([2, 3, 4, 8], DType.Float32, g);
            var k = Tensor.Randn([2, 3, 6, 8], DType.Float32, g);
            var v = Tensor.Randn([2, 3, 6, 5], DType.Float32, g);
            new Fn(_ => Functional.ScaledDotProductAttention(q, k, v)).Call(Tensor.Zeros([1]));
            var kc = Tensor.Randn([2, 3, 4, 8], DType.Float32, g);
            var vc = Tensor.Randn([2, 3, 4, 8], DType.Float32, g);
            new Fn(_ => Functional.ScaledDotProductAttention(q, kc, vc, isCausal: true)).Call(Tensor.Zeros([1]));
        });
        // Matmul: (2, 1) and (3) broadcast to 6 products of 4×5 by 5×6. Attention over 6 heads: QKᵀ (e = 8) and the
        // weighted V (5) for 4 queries × 6 keys; causal, 4 × 4: the queries see 1 + 2 + 3 + 4 keys.
        long matmul = 2L * 6 * 4 * 5 * 6, attention = 2L * 6 * (4 * 6) * (8 + 5), causal = 2L * 6 * (1 + 2 + 3 + 4) * (8 + 8);
        Assert.Equal(matmul + attention + causal, Flops(totals, "forward Fn"));
        Assert.Equal(3, totals.Single(t => t.Name == "forward Fn").Calls);
    }

    [Fact]
    public void ModulesIncludeTheirChildrenAndBackwardNodesCountTheirGradientProducts()
    {
        var mlp = new Mlp(new MlpConfig { InFeatures = 20, Hidden = [30, 40], OutFeatures = 5, Dropout = 0 }, new Generator(5));
        var x = Tensor.Randn([7, 20], DType.Float32, new Generator(6));
        var totals = Profile(() => mlp.Call(x).Sum().Backward());
        long linears = 2L * 7 * (20 * 30 + 30 * 40 + 40 * 5);
        Assert.Equal(linears, Flops(totals, "forward Linear"));
        Assert.Equal(linears, Flops(totals, "forward Mlp"));
        // Backward: every weight gradient (one forward's worth), and the input gradients of the two upper layers (the
        // network's input needs none).
        long backward = linears + 2L * 7 * (30 * 40 + 40 * 5);
        Assert.Equal(backward, totals.Where(t => t.Name.StartsWith("backward ")).Sum(t => t.Flops));
        Assert.Equal(backward, Flops(totals, "backward LinearBackward"));
        Assert.True(totals.Single(t => t.Name == "forward Mlp").BytesAllocated > 7 * 40 * 4, "the forward's outputs were not counted as allocated");
        Assert.Contains("GFLOP/s", Profiler.Report());
    }

    [Fact]
    public void ConvolutionAndAttentionGradientsCountTheirProducts()
    {
        var g = new Generator(7);
        var conv = new Conv2d(3, 5, 3, padding: 1, generator: g);
        var x = Tensor.Randn([2, 3, 6, 6], DType.Float32, g).RequiresGrad_();
        var q = Tensor.Randn([1, 2, 4, 8], DType.Float32, g).RequiresGrad_();
        var totals = Profile(() =>
        {
            conv.Call(x).Sum().Backward();                                          // input and weight gradients
            Functional.ScaledDotProductAttention(q, q, q).Sum().Backward();
        });
        long forward = 2L * 2 * 5 * 36 * 27;
        Assert.Equal(forward, Flops(totals, "forward Conv2d"));
        Assert.Equal(2 * forward, Flops(totals, "backward ConvolutionBackward"));
        Assert.Equal(2 * (2L * 2 * (4 * 4) * (8 + 8)), Flops(totals, "backward ScaledDotProductAttentionBackward"));
    }

    [Fact]
    public void ChromeTraceHoldsEverySpan()
    {
        var model = new Sequential(new Linear(6, 4, generator: new Generator(1)), new ReLU());
        Profile(() => { for (int i = 0; i < 3; i++) model.Call(Tensor.Randn([2, 6], DType.Float32, new Generator((ulong)i))); });
        var path = Path.Combine(Directory.CreateTempSubdirectory("ember-trace").FullName, "trace.json");
        Profiler.WriteChromeTrace(path);
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var events = doc.RootElement.GetProperty("traceEvents").EnumerateArray().ToList();
        Assert.Equal(9, events.Count);                                           // 3 × (Sequential, Linear, ReLU)
        Assert.All(events, e => Assert.Equal("X", e.GetProperty("ph").GetString()));
        var linear = events.Where(e => e.GetProperty("name").GetString() == "Linear").ToList();
        Assert.Equal(3, linear.Count);
        Assert.All(linear, e => Assert.Equal(2L * 2 * 6 * 4, e.GetProperty("args").GetProperty("flops").GetInt64()));
        // A child's span lies inside its parent's.
        var seq = events.First(e => e.GetProperty("name").GetString() == "Sequential");
        double s0 = seq.GetProperty("ts").GetDouble(), s1 = s0 + seq.GetProperty("dur").GetDouble();
        double l0 = linear[0].GetProperty("ts").GetDouble();
        Assert.InRange(l0, s0, s1);
    }
}

/// <summary>`ember profile` on a checkpoint `ember train` wrote: the table names the layers with their FLOPs, and the
/// trace file holds the spans.</summary>
[Collection("ProfilerAlone")]
public class ProfileCommandTests
{
    [Fact]
    public void ProfilesATrainedCheckpoint()
    {
        var dir = Directory.CreateTempSubdirectory("ember-profile").FullName;
        var csv = Path.Combine(dir, "d.csv");
        var rng = new Random(2);
        File.WriteAllLines(csv, ["a,b,label", .. Enumerable.Range(0, 60).Select(_ => { double a = rng.NextDouble(), b = rng.NextDouble(); return FormattableString.Invariant($"{a:F3},{b:F3},{(a > b ? "x" : "y")}"); })]);
        var (code, _, err) = Ember.Tests.Cli.CliTests.Run("train", "--data", csv, "--target", "label", "--hidden", "16", "--epochs", "1", "--out", dir, "--quiet");
        Assert.True(code == 0, err);
        var trace = Path.Combine(dir, "trace.json");
        (code, var output, err) = Ember.Tests.Cli.CliTests.Run("profile", Path.Combine(dir, "best.safetensors"), "--batch", "8", "--runs", "4", "--trace", trace);
        Assert.True(code == 0, err);
        Assert.Contains("input [8, 2] float32, 4 passes", output);
        // Linear rows: 4 passes × 2 layers of 8 rows: 2·8·(2·16 + 16·2) FLOPs each pass.
        var linear = output.Split('\n').Single(l => l.TrimStart().StartsWith("Linear "));
        Assert.Contains((2.0 * 8 * (2 * 16 + 16 * 2) * 4 / 1e9).ToString("F4", System.Globalization.CultureInfo.InvariantCulture), linear);
        using var doc = JsonDocument.Parse(File.ReadAllText(trace));
        Assert.Contains(doc.RootElement.GetProperty("traceEvents").EnumerateArray(), e => e.GetProperty("name").GetString() == "Linear");
        (code, _, err) = Ember.Tests.Cli.CliTests.Run("profile", csv);        // not a checkpoint: the file is named
        Assert.Equal(2, code);
        Assert.Contains(csv, err);
    }
}
