using Ember;
using Ember.Optim;
using Xunit;
using static Ember.Tests.TorchReference;

namespace Ember.Tests.Optim;

/// <summary>Optimizer trajectories over 5 steps against torch.optim (PyTorch 1.13), in float64 (the composed
/// path) and float32 (the fused kernels).</summary>
public class OptimizerTests
{
    public static TheoryData<string> Cases() => new(Names("optimizers"));

    private static Optimizer Make(string name, Tensor p) => name switch
    {
        "sgd" => new SGD([p], 0.1),
        "sgd_momentum" => new SGD([p], 0.1, momentum: 0.9),
        "sgd_nesterov_wd" => new SGD([p], 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01),
        "sgd_dampening" => new SGD([p], 0.05, momentum: 0.8, dampening: 0.3),
        "adam" => new Adam([p], lr: 0.1),
        "adam_wd" => new Adam([p], lr: 0.05, beta1: 0.8, beta2: 0.95, weightDecay: 0.1),
        "adam_amsgrad" => new Adam([p], lr: 0.1, amsgrad: true),
        "adamw" => new AdamW([p], lr: 0.1, weightDecay: 0.1),
        "rmsprop" => new RMSprop([p], lr: 0.01),
        "rmsprop_centered_momentum" => new RMSprop([p], lr: 0.01, momentum: 0.9, centered: true, weightDecay: 0.01),
        _ => throw new ArgumentException(name),
    };

    private static Tensor Objective(Tensor p, int step) => p.Mul(step + 1.0).Cos().Div(step + 1.0).Sum().Neg().Add(p.Square().Sum().Mul(0.05));

    [Theory]
    [MemberData(nameof(Cases))]
    public void TrajectoryMatchesPyTorch(string name)
    {
        var c = Find("optimizers", name);
        var traj = c.GetProperty("trajectory").EnumerateArray().Select(e => e.EnumerateArray().Select(x => x.GetDouble()).ToArray()).ToArray();
        foreach (var dtype in new[] { DType.Float64, DType.Float32 })
        {
            var p = Tensor.FromArray(c.Doubles("init")).To(dtype).RequiresGrad_();
            var opt = Make(name, p);
            for (int s = 0; s < traj.Length; s++)
            {
                opt.ZeroGrad();
                Objective(p, s).Backward();
                opt.Step();
                Close(traj[s], p.ToArrayDouble(), dtype == DType.Float64 ? 1e-12 : 2e-5, $"{name} {dtype.Name()} step {s + 1}");
            }
        }
    }

    [Fact]
    public void StateDictRoundTripContinuesIdentically()
    {
        Tensor Param() => Tensor.FromArray(new float[] { 0.5f, -1.5f, 2, 0.1f }).RequiresGrad_();
        void Steps(Optimizer o, Tensor p, int from, int to)
        {
            for (int s = from; s < to; s++) { o.ZeroGrad(); Objective(p, s).Backward(); o.Step(); }
        }
        var p1 = Param();
        var o1 = new AdamW([p1], lr: 0.05);
        Steps(o1, p1, 0, 6);
        var p2 = Param();
        var o2 = new AdamW([p2], lr: 0.05);
        Steps(o2, p2, 0, 3);
        var saved = o2.StateDict();
        var p3 = Tensor.FromArray(p2.ToArray<float>()).RequiresGrad_();
        var o3 = new AdamW([p3], lr: 0.05);
        o3.LoadStateDict(saved);
        Assert.Equal(3, o3.StepCount);
        Steps(o3, p3, 3, 6);
        Assert.Equal(p1.ToArray<float>(), p3.ToArray<float>());
    }

    [Fact]
    public void ClipGradNormScalesToTheBound()
    {
        var a = Tensor.Zeros([2], requiresGrad: true);
        var b = Tensor.Zeros([1], requiresGrad: true);
        a.Grad = Tensor.FromArray(new float[] { 3, 0 });
        b.Grad = Tensor.FromArray(new float[] { 4 });
        double norm = Optimizer.ClipGradNorm([a, b], 1.0);
        Assert.Equal(5, norm, 6);
        Assert.Equal(0.6, a.Grad.GetItem(0), 5);
        Assert.Equal(0.8, b.Grad.GetItem(0), 5);
        b.Grad = Tensor.FromArray(new float[] { float.NaN });
        Assert.Throws<InvalidOperationException>(() => Optimizer.ClipGradNorm([a, b], 1.0));
    }

    [Fact]
    public void SchedulersMatchPyTorch()
    {
        var p = Tensor.Zeros([1], requiresGrad: true);
        var step = new StepLR(new SGD([p], 0.1), stepSize: 3, gamma: 0.5);
        var expected = Find("schedulers", "step").Doubles("lrs");
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i], step.Optimizer.LearningRate, 12);
            step.Step();
        }
        var oc = new OneCycleLR(new SGD([p], 0.1), maxLr: 0.5, totalSteps: 20, pctStart: 0.3);
        var expOc = Find("schedulers", "onecycle").Doubles("lrs");
        for (int i = 0; i < expOc.Length; i++)
        {
            Assert.Equal(expOc[i], oc.Optimizer.LearningRate, 12);
            oc.Step();
        }
    }

    [Fact]
    public void CosineWarmupAndPlateau()
    {
        var p = Tensor.Zeros([1], requiresGrad: true);
        var opt = new SGD([p], 1.0);
        var cos = new CosineWithWarmup(opt, warmupSteps: 4, totalSteps: 12, minLr: 0.1);
        var lrs = new List<double>();
        for (int i = 0; i <= 12; i++) { lrs.Add(opt.LearningRate); cos.Step(); }
        Assert.Equal([0, 0.25, 0.5, 0.75, 1.0], lrs.Take(5).Select(v => Math.Round(v, 12)));
        Assert.Equal(0.1 + 0.9 * 0.5 * (1 + Math.Cos(Math.PI * 0.5)), lrs[8], 12);
        Assert.Equal(0.1, lrs[12], 12);

        var opt2 = new SGD([p], 1.0);
        var plateau = new ReduceLROnPlateau(opt2, factor: 0.5, patience: 2);
        foreach (var m in new[] { 1.0, 0.9, 0.95, 0.95, 0.95 }) plateau.Step(m);
        Assert.Equal(0.5, opt2.LearningRate, 12);   // three checks without improvement > patience 2
        plateau.Step(0.5);
        Assert.Equal(0.5, opt2.LearningRate, 12);
    }

    /// <summary>Moments that decay below float's smallest normal number are flushed to zero (x86 stalls ~100 cycles
    /// on every multiply by a subnormal); normal moments follow the float64 recurrence, the parameters match the
    /// float64 optimizer, and a NaN gradient still reaches the parameter (vector lanes and scalar tail). Also run by
    /// <see cref="Kernels.KernelChecks"/> with AVX-512 and AVX2 disabled.</summary>
    [Fact]
    public void SubnormalStateIsFlushedAndNaNPropagates() => CheckSubnormalFlush();

    internal static void CheckSubnormalFlush()
    {
        const int n = 40;  // 16-lane vectors plus an 8-element scalar tail
        const float minNormal = 1.17549435e-38f;
        var g0 = Enumerable.Range(0, n).Select(i => 1e-17 * (1 + i / 8.0)).ToArray();
        var p32 = Tensor.Ones([n], DType.Float32, requiresGrad: true);
        var p64 = Tensor.Ones([n], DType.Float64, requiresGrad: true);
        var o32 = new Adam([p32], lr: 0.01);
        var o64 = new Adam([p64], lr: 0.01);
        var zeros = new double[n];
        int flushed = 0;
        for (int t = 1; t <= 500; t++)
        {
            var g = t == 1 ? g0 : zeros;
            p32.Grad = Tensor.FromArray(g).To(DType.Float32);
            p64.Grad = Tensor.FromArray(g);
            o32.Step();
            o64.Step();
            var m32 = o32.StateDict()["state.0.0.exp_avg"].ToArrayDouble();
            var m64 = o64.StateDict()["state.0.0.exp_avg"].ToArrayDouble();
            var v32 = o32.StateDict()["state.0.0.exp_avg_sq"].ToArrayDouble();
            for (int i = 0; i < n; i++)
            {
                Assert.False(m32[i] != 0 && Math.Abs(m32[i]) < minNormal, $"step {t}: m[{i}] = {m32[i]:E3} is subnormal");
                Assert.False(v32[i] != 0 && v32[i] < minNormal, $"step {t}: v[{i}] = {v32[i]:E3} is subnormal");
                if (Math.Abs(m64[i]) >= 2 * minNormal) Assert.True(Math.Abs(m32[i] - m64[i]) <= 1e-4 * Math.Abs(m64[i]), $"step {t}: m[{i}] {m32[i]:E6} vs float64 {m64[i]:E6}");
                if (m32[i] == 0) flushed++;
            }
            Close(p64.ToArrayDouble(), p32.ToArrayDouble(), 1e-7, $"step {t}");
        }
        Assert.True(flushed > 0, "the moments never decayed below the normal range; the test does not exercise flushing");
        Assert.Equal(0, o32.StateDict()["state.0.0.exp_avg"].ToArrayDouble().Count(m => m != 0));

        foreach (int bad in new[] { 3, n - 2 })
        {
            var g = new double[n];
            g[bad] = double.NaN;
            p32.Grad = Tensor.FromArray(g).To(DType.Float32);
            o32.Step();
            var after = p32.ToArrayDouble();
            Assert.True(double.IsNaN(after[bad]), $"a NaN gradient at {bad} must reach the parameter, got {after[bad]}");
        }

        var s = Tensor.Ones([n], DType.Float32, requiresGrad: true);
        var sgd = new SGD([s], 0.1, momentum: 0.9);
        for (int t = 1; t <= 550; t++)
        {
            s.Grad = Tensor.FromArray(t == 1 ? g0 : zeros).To(DType.Float32);
            sgd.Step();
        }
        var buf = sgd.StateDict()["state.0.0.momentum_buffer"].ToArrayDouble();
        Assert.All(buf, b => Assert.Equal(0.0, b));  // 1e-17·0.9^549 ≈ 8e-43: subnormal unless flushed
    }
}
