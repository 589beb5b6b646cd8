using Ember;
using Ember.Kernels;
using Xunit;

namespace Ember.Tests.Kernels;

/// <summary>Kernel checks shared by the in-process tests and the child processes of <see cref="WidthPathTests"/>.</summary>
public static class KernelChecks
{
    private static readonly int[] Sizes = [0, 1, 2, 3, 5, 7, 11, 12, 13, 16, 17, 31, 32, 33, 47, 64, 65, 100, 127, 191, 193, 255, 257, 300];

    internal static unsafe void Gemm(GemmPath path, bool quick)
    {
        using var scope = EmberSettings.Scope(EmberSettings.Current with { GemmPath = path });
        {
            var rng = new Generator(11);
            var sizes = quick ? new[] { 0, 1, 7, 13, 33, 65, 129, 300 } : Sizes;
            foreach (int m in sizes)
            foreach (int n in new[] { 1, 17, 33, 64, 80, 300 })   // 64 and 80: 16- and 32-wide last panels
            foreach (int k in new[] { 0, 1, 9, 256, 257 })
            {
                if (quick && m * n * k > 3_000_000) continue;
                foreach (bool transA in new[] { false, true })
                foreach (bool transB in new[] { false, true })
                {
                    if (!quick && (m % 2 == 1) && transA && transB && m > 100) continue;
                    var a = Tensor.Randn(transA ? [k, m] : [m, k], DType.Float32, rng);
                    var b = Tensor.Randn(transB ? [n, k] : [k, n], DType.Float32, rng);
                    int rsa = transA ? 1 : k, csa = transA ? m : 1, rsb = transB ? 1 : n, csb = transB ? k : 1;
                    var fast = new float[m * n];
                    var refr = new float[m * n];
                    foreach (bool acc in new[] { false, true })
                    {
                        for (int i = 0; i < fast.Length; i++) fast[i] = refr[i] = i % 7 - 3;
                        fixed (float* pa = a.Data<float>(), pb = b.Data<float>(), pf = fast, pr = refr)
                        {
                            Ember.Kernels.Gemm.Sgemm(m, n, k, pa, rsa, csa, pb, rsb, csb, pf, n, acc);
                            GemmReference.Sgemm(m, n, k, pa, rsa, csa, pb, rsb, csb, pr, n, acc);
                        }
                        for (int i = 0; i < fast.Length; i++)
                        {
                            double tol = 1e-5 * (k + 1) * 4;
                            if (!(Math.Abs(fast[i] - refr[i]) <= tol))
                                Assert.Fail($"gemm path={path} m={m} n={n} k={k} transA={transA} transB={transB} acc={acc}: element {i} = {fast[i]}, reference {refr[i]}");
                        }
                    }
                }
            }
        }
    }

    /// <summary>Elementwise ops and reductions on sizes 0..300 (odd tails), contiguous, transposed and broadcast,
    /// against scalar double-precision references.</summary>
    internal static void Elementwise()
    {
        var rng = new Generator(5);
        foreach (int n in Enumerable.Range(0, 70).Concat([127, 128, 129, 255, 256, 257, 300]))
        {
            var x = Tensor.Randn([n], DType.Float32, rng);
            var y = Tensor.Randn([n], DType.Float32, rng);
            var xv = x.ToArray<float>();
            var yv = y.ToArray<float>();
            Check(n, "add", x.Add(y), i => xv[i] + yv[i], 1e-6);
            Check(n, "mul", x.Mul(y), i => xv[i] * yv[i], 1e-6);
            Check(n, "div", x.Div(y.Abs().Add(0.5)), i => xv[i] / (Math.Abs(yv[i]) + 0.5), 1e-5);
            Check(n, "sub-scalar", x.Sub(2), i => xv[i] - 2, 1e-6);
            Check(n, "max", x.Maximum(y), i => Math.Max(xv[i], yv[i]), 0);
            Check(n, "exp", x.Exp(), i => Math.Exp(xv[i]), 1e-6);
            Check(n, "log", x.Abs().Add(0.1).Log(), i => Math.Log(Math.Abs(xv[i]) + 0.1), 1e-6);
            Check(n, "tanh", x.Tanh(), i => Math.Tanh(xv[i]), 1e-6);
            Check(n, "sigmoid", x.Sigmoid(), i => 1 / (1 + Math.Exp(-xv[i])), 1e-6);
            Check(n, "relu", x.Relu(), i => Math.Max(xv[i], 0), 0);
            Check(n, "sqrt", x.Abs().Sqrt(), i => Math.Sqrt(Math.Abs(xv[i])), 1e-6);
            Check(n, "relu-backward", ReluBackward(x, y), i => yv[i] > 0 ? xv[i] : 0, 0);
            if (n > 0)
            {
                double sum = xv.Sum(v => (double)v);
                Assert.True(Math.Abs(x.Sum().Item() - sum) <= 1e-5 * (1 + n), $"sum n={n}");
                Assert.Equal(xv.Max(), x.Max().Item());
                Assert.Equal(Array.IndexOf(xv, xv.Max()), x.ArgMax().Item<long>());
            }
        }
        // Non-contiguous and broadcast operands on a 2-D grid with odd sizes.
        foreach (var (r, c) in new[] { (1, 1), (3, 17), (17, 3), (33, 65), (129, 31) })
        {
            var a = Tensor.Randn([c, r], DType.Float32, rng).T;          // transposed view (r, c)
            var row = Tensor.Randn([c], DType.Float32, rng);
            var col = Tensor.Randn([r, 1], DType.Float32, rng);
            var av = a.Contiguous().ToArray<float>();
            var rv = row.ToArray<float>();
            var cv = col.ToArray<float>();
            Check(r * c, "transposed+row", a.Add(row), i => av[i] + rv[i % c], 1e-6);
            Check(r * c, "transposed*col", a.Mul(col), i => av[i] * cv[i / c], 1e-6);
            Check(r * c, "col-row", col.Sub(row), i => cv[i / c] - rv[i % c], 1e-6);
            var sums = a.Sum(0).ToArray<float>();
            for (int j = 0; j < c; j++)
            {
                double s = 0;
                for (int i = 0; i < r; i++) s += av[i * c + j];
                Assert.True(Math.Abs(sums[j] - s) < 1e-4, $"column sum {r}x{c}");
            }
            var sm = a.Softmax(1).Sum(1).ToArray<float>();
            Assert.All(sm, v => Assert.True(Math.Abs(v - 1) < 1e-5));
        }
    }

    /// <summary>The float32 convolution and 2×2 max-pool kernels (vectorized or scalar, whichever this process runs)
    /// against the float64 path, forward and backward, on ties, NaN and widths below and above one vector.</summary>
    internal static void Vision()
    {
        var rng = new Generator(5);
        foreach (var (h, w) in new[] { (2, 2), (4, 6), (6, 14), (8, 20), (28, 28), (4, 36) })
        {
            var v = Tensor.RandInt(0, 3, [2, 3, h, w], rng).To(DType.Float64);
            if (h * w > 8) v.SetItem(double.NaN, 1, 2, 1, 3);
            var x32 = v.To(DType.Float32).RequiresGrad_();
            var x64 = v.Clone().RequiresGrad_();
            var y32 = Ember.NN.Functional.MaxPool2d(x32, 2);
            var y64 = Ember.NN.Functional.MaxPool2d(x64, 2);
            var g = Tensor.Randn(y64.Shape, DType.Float64, rng).To(DType.Float32).To(DType.Float64);   // exact in float32
            y32.Backward(g.To(DType.Float32));
            y64.Backward(g);
            AssertSame($"maxpool {h}x{w} forward", y64.ToArrayDouble(), y32.ToArrayDouble(), 0);
            AssertSame($"maxpool {h}x{w} backward", x64.Grad!.ToArrayDouble(), x32.Grad!.ToArrayDouble(), 0);
        }
        // (1, 5): few taps, four-channel blocks plus one; (4, 8, groups 4): depthwise-style groups of few taps;
        // 9×10 outputs: full 16-pixel vectors plus a scalar tail.
        foreach (var (cin, cout, groups) in new[] { (1, 5, 1), (3, 8, 1), (8, 6, 1), (4, 8, 4) })
        {
            var x = Tensor.Randn([3, cin, 9, 10], DType.Float64, rng);
            var wt = Tensor.Randn([cout, cin / groups, 3, 3], DType.Float64, rng);
            var b = Tensor.Randn([cout], DType.Float64, rng);
            var leaves64 = new[] { x.Clone().RequiresGrad_(), wt.Clone().RequiresGrad_(), b.Clone().RequiresGrad_() };
            var leaves32 = new[] { x.To(DType.Float32).RequiresGrad_(), wt.To(DType.Float32).RequiresGrad_(), b.To(DType.Float32).RequiresGrad_() };
            var y64 = Ember.NN.Functional.Conv2d(leaves64[0], leaves64[1], leaves64[2], padding: 1, groups: groups);
            var y32 = Ember.NN.Functional.Conv2d(leaves32[0], leaves32[1], leaves32[2], padding: 1, groups: groups);
            var g = Tensor.Randn(y64.Shape, DType.Float64, rng);
            y64.Backward(g);
            y32.Backward(g.To(DType.Float32));
            AssertSame($"conv {cin}->{cout} forward", y64.ToArrayDouble(), y32.ToArrayDouble(), 1e-4);
            for (int i = 0; i < 3; i++)
                AssertSame($"conv {cin}->{cout} grad {i}", leaves64[i].Grad!.ToArrayDouble(), leaves32[i].Grad!.ToArrayDouble(), 1e-4);
        }
    }

    /// <summary>Ember's own float32 exp, tanh and sigmoid (FastMath) within 2 ulp of the double-precision functions
    /// (sigmoid 4 ulp: two rounded operations follow the exp) on a dense sweep of their whole range, exact at the
    /// special values; the fused softmax / log-softmax rows and their one-pass backward rules against float64.</summary>
    internal static void Transcendentals()
    {
        const int n = 200_003;   // odd: every width path's tail runs
        foreach (var (name, exact, lo, hi, maxUlp) in new (string, Func<double, double>, float, float, double)[]
        {
            ("exp", Math.Exp, -103f, 88.7f, 2), ("exp", Math.Exp, -3f, 3f, 2), ("tanh", Math.Tanh, -12f, 12f, 2),
            ("tanh", Math.Tanh, -0.7f, 0.7f, 2), ("sigmoid", v => 1 / (1 + Math.Exp(-v)), -80f, 30f, 4),
        })
        {
            var xs = new float[n];
            for (int i = 0; i < n; i++) xs[i] = lo + (hi - lo) * i / (n - 1);
            var t = Tensor.FromArray(xs, [n]);
            var y = (name == "exp" ? t.Exp() : name == "tanh" ? t.Tanh() : t.Sigmoid()).ToArray<float>();
            var strided = Tensor.FromArray(xs.Concat(xs).ToArray(), [2, n]).T.Select(1, 0);    // scalar path
            var ys = (name == "exp" ? strided.Exp() : name == "tanh" ? strided.Tanh() : strided.Sigmoid()).ToArray<float>();
            for (int i = 0; i < n; i++)
            {
                double e = exact(xs[i]);
                float ef = (float)e;
                double ulp = ef == 0 ? float.Epsilon : MathF.BitIncrement(MathF.Abs(ef)) - MathF.Abs(ef);
                foreach (var (v, path) in new[] { (y[i], "vector"), (ys[i], "scalar") })
                    if (!(Math.Abs(v - e) <= maxUlp * ulp))
                        Assert.Fail($"{name}({xs[i]:R}) {path} = {v:R}, exact {e:R}: {Math.Abs(v - e) / ulp:F2} ulp > {maxUlp}");
            }
        }
        float[] special = [float.NaN, float.PositiveInfinity, float.NegativeInfinity, 0f, 89f, -104f, -200f, 200f];
        var sp = Tensor.FromArray(special.Concat(new float[33]).ToArray(), [special.Length + 33]);
        var ex = sp.Exp().ToArray<float>(); var th = sp.Tanh().ToArray<float>(); var sg = sp.Sigmoid().ToArray<float>();
        for (int i = 0; i < special.Length; i++)
        {
            Assert.Equal(MathF.Exp(special[i]), ex[i]);
            Assert.Equal(MathF.Tanh(special[i]), th[i]);
            Assert.Equal(float.IsNaN(special[i]) ? float.NaN : (float)(1 / (1 + Math.Exp(-(double)special[i]))), sg[i]);
        }
        var rng = new Generator(3);
        foreach (int len in new[] { 1, 7, 16, 33, 128, 300 })
        {
            var x64 = Tensor.Randn([5, len], DType.Float64, rng).Mul(4);
            x64.SetItem(double.NegativeInfinity, 1, 0);                       // a masked position
            var g64 = Tensor.Randn([5, len], DType.Float64, rng);
            foreach (bool log in new[] { false, true })
            {
                var a64 = x64.Clone().RequiresGrad_();
                var a32 = x64.To(DType.Float32).RequiresGrad_();
                var y64 = log ? a64.LogSoftmax(1) : a64.Softmax(1);
                var y32 = log ? a32.LogSoftmax(1) : a32.Softmax(1);
                y64.Backward(g64);
                y32.Backward(g64.To(DType.Float32));
                AssertSame($"{(log ? "log_softmax" : "softmax")} len={len}", y64.ToArrayDouble(), y32.ToArrayDouble(), 1e-5);
                AssertSame($"{(log ? "log_softmax" : "softmax")} backward len={len}", a64.Grad!.ToArrayDouble(), a32.Grad!.ToArrayDouble(), 1e-5);
            }
        }
    }

    /// <summary>The float32 erf (vector lanes at whatever width this process runs, then the scalar tail) against the
    /// double-precision series on a sweep with NaN and ±∞, and exact GELU's float32 forward and backward against float64.</summary>
    internal static void ErfAndGelu()
    {
        var xs = Enumerable.Range(-4000, 8001).Select(i => (float)(i * 0.0015)).Concat([float.NaN, float.PositiveInfinity, float.NegativeInfinity, 0f]).ToArray();
        var t = Tensor.FromArray(xs.Select(v => (double)v).ToArray()).To(DType.Float32);
        var got = t.Erf().ToArray<float>();
        for (int i = 0; i < xs.Length; i++)
        {
            double want = float.IsNaN(xs[i]) ? double.NaN : float.IsInfinity(xs[i]) ? Math.Sign(xs[i]) : Ember.Kernels.SpecialFunctions.Erf((double)xs[i]);
            if (double.IsNaN(want)) { Assert.True(float.IsNaN(got[i]), $"erf(NaN) = {got[i]}"); continue; }
            Assert.True(Math.Abs(got[i] - want) <= 3e-7 * Math.Max(1, Math.Abs(want)), $"erf({xs[i]}) = {got[i]}, double {want}");
        }
        // Table values (Abramowitz & Stegun, Table 7.1) anchor the double series the sweep compares with.
        foreach (var (x, erf) in new[] { (0.5, 0.5204998778130465), (1.0, 0.8427007929497149), (2.0, 0.9953222650189527), (-1.5, -0.9661051464753108) })
        {
            Assert.True(Math.Abs(Ember.Kernels.SpecialFunctions.Erf(x) - erf) < 1e-15, $"double erf({x})");
            Assert.True(Math.Abs(Tensor.FromArray([x]).To(DType.Float32).Erf().ToArray<float>()[0] - erf) < 3e-7, $"float erf({x})");
        }
        var rng = new Generator(12);
        var x64 = Tensor.Randn([257], DType.Float64, rng).Mul(3).RequiresGrad_();
        var x32 = x64.Detach().To(DType.Float32).RequiresGrad_();
        var g = Tensor.Randn([257], DType.Float64, rng);
        var y64 = Ember.NN.Functional.Gelu(x64);
        var y32 = Ember.NN.Functional.Gelu(x32);
        y64.Backward(g);
        y32.Backward(g.To(DType.Float32));
        AssertSame("gelu forward", y64.ToArrayDouble(), y32.ToArrayDouble(), 2e-6);
        AssertSame("gelu backward", x64.Grad!.ToArrayDouble(), x32.Grad!.ToArrayDouble(), 2e-5);
    }

    /// <summary>float32 Linear with 1–5 rows (the matrix-vector path below 5) and with more (the GEMM, with the bias
    /// added inside the product's tiles, edge tiles and both thread splits included) against the float64 product.</summary>
    internal static void LinearFewRows()
    {
        var rng = new Generator(9);
        foreach (int n in new[] { 1, 2, 3, 4, 5, 6, 33, 130 })
            foreach (var (m, k) in new[] { (1, 1), (3, 15), (7, 16), (13, 37), (384, 128), (33, 600) })
            {
                var x = Tensor.Randn([n, k], DType.Float64, rng);
                var w = Tensor.Randn([m, k], DType.Float64, rng);
                var b = Tensor.Randn([m], DType.Float64, rng);
                var expected = x.Matmul(w.T).Add(b).ToArrayDouble();
                var actual = Ember.NN.Functional.Linear(x.To(DType.Float32), w.To(DType.Float32), b.To(DType.Float32)).ToArrayDouble();
                AssertSame($"linear n={n} m={m} k={k}", expected, actual, 1e-4);
                var noBias = Ember.NN.Functional.Linear(x.To(DType.Float32), w.To(DType.Float32)).ToArrayDouble();
                AssertSame($"linear n={n} m={m} k={k} no bias", x.Matmul(w.T).ToArrayDouble(), noBias, 1e-4);
            }
    }

    private static void AssertSame(string what, double[] expected, double[] actual, double rtol)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            if (double.IsNaN(expected[i]) && double.IsNaN(actual[i])) continue;
            if (Math.Abs(expected[i] - actual[i]) > rtol * (1 + Math.Abs(expected[i])))
                Assert.Fail($"{what}: element {i} = {actual[i]}, expected {expected[i]}");
        }
    }

    private static Tensor ReluBackward(Tensor g, Tensor x)
        => Ember.Kernels.Elementwise.BinaryF("ReluBackward", g, x, new ReluBackwardOp<float>(), new ReluBackwardOp<double>());

    private static void Check(int n, string op, Tensor actual, Func<int, double> expected, double rtol)
    {
        var v = actual.ToArrayDouble();
        Assert.Equal(n, v.Length);
        for (int i = 0; i < n; i++)
        {
            double e = expected(i);
            if (!(Math.Abs(v[i] - e) <= rtol * (1 + Math.Abs(e)) + 1e-7))
                Assert.Fail($"{op} n={n}: element {i} = {v[i]}, expected {e}");
        }
    }

    /// <summary>Entry for the child process: runs the checks on the path this process's ISA allows.</summary>
    public static int RunInProcess()
    {
        var path = Ember.Kernels.Gemm.DetectPath();
        Console.WriteLine($"path={path} Vector512={System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated} Vector256={System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated}");
        Gemm(path, quick: true);
        Elementwise();
        Vision();
        LinearFewRows();
        Transcendentals();
        ErfAndGelu();
        if (Ember.Kernels.SmallGemm.Applies(1, 1))
            foreach (var (m, n, k) in new[] { (9, 1, 5), (8, 7, 16), (17, 16, 3), (11, 50, 16), (32, 64, 50), (13, 8, 20) })
                SmallGemmTests.Check(m, n, k);
        Optim.OptimizerTests.CheckSubnormalFlush();
        Console.WriteLine($"int8 path={Ember.Kernels.Int8Gemm.DetectPath()}");
        Quantization.Int8KernelChecks.RunAllPaths();
        Console.WriteLine("kernel checks: ok");
        return 0;
    }
}
