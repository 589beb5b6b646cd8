using Ember;
using Ember.Kernels;
using Xunit;

namespace Ember.Tests.Quantization;

/// <summary>The int8 product on every path this CPU has, against a plain reference written here from the definition
/// (unpacked weights, one loop per output): the int32 sums are exact, so outputs must be equal bit for bit.</summary>
public static class Int8KernelChecks
{
    /// <summary>The reference quantizer: the documented rule, written out element by element.</summary>
    internal static (byte[] Q, float[] Scale, int[] Zero) QuantizeReference(float[] x, int n, int k)
    {
        var q = new byte[n * k];
        var scale = new float[n];
        var zero = new int[n];
        for (int r = 0; r < n; r++)
        {
            float lo = 0, hi = 0;
            for (int i = 0; i < k; i++) { lo = MathF.Min(lo, x[r * k + i]); hi = MathF.Max(hi, x[r * k + i]); }
            float s = (hi - lo) / 127;
            int z = 0;
            if (s > 0) z = Math.Clamp((int)MathF.Round(-lo / s), 0, 127);
            else s = 1;
            scale[r] = s;
            zero[r] = z;
            float inv = 1 / s;
            for (int i = 0; i < k; i++) q[r * k + i] = (byte)Math.Clamp((int)MathF.Round(x[r * k + i] * inv) + z, 0, 127);
        }
        return (q, scale, zero);
    }

    internal static unsafe void Run(Int8Path path)
    {
        var rng = new Random(7);
        foreach (int n in new[] { 1, 2, 3, 4, 5, 9 })
        foreach (int m in new[] { 1, 7, 16, 31, 33, 64, 100 })
        foreach (int k in new[] { 1, 3, 4, 5, 17, 64, 130 })
        foreach (bool relu in new[] { false, true })
        foreach (bool withBias in new[] { false, true })
        {
            var x = new float[n * k];
            for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 4 - 1.5);
            if (n > 2) for (int i = 0; i < k; i++) x[2 * k + i] = 0;          // an all-zero row
            var w = new sbyte[m * k];
            for (int i = 0; i < w.Length; i++) w[i] = (sbyte)rng.Next(-128, 128);   // −128 included: still exact
            var ws = new float[m];
            for (int j = 0; j < m; j++) ws[j] = (float)(0.001 + rng.NextDouble() * 0.05);
            var bias = new float[m];
            for (int j = 0; j < m; j++) bias[j] = (float)(rng.NextDouble() - 0.5);

            var (qr, sr, zr) = QuantizeReference(x, n, k);
            var expected = new float[n * m];
            for (int r = 0; r < n; r++)
                for (int j = 0; j < m; j++)
                {
                    int acc = 0, sum = 0;
                    for (int i = 0; i < k; i++) { acc += qr[r * k + i] * w[j * k + i]; sum += w[j * k + i]; }
                    float v = (float)(acc - zr[r] * sum) * sr[r] * ws[j];
                    if (withBias) v += bias[j];
                    if (relu) v = MathF.Max(v, 0);
                    expected[r * m + j] = v;
                }

            int kp = Int8Gemm.PaddedK(k);
            var q = new byte[n * kp];
            var scale = new float[n];
            var zero = new int[n];
            var packed = Int8Gemm.Pack(w, m, k);
            var sums = Int8Gemm.ChannelSums(w, m, k);
            var y = new float[n * m];
            fixed (float* px = x, ps = scale, pws = ws, pb = bias, py = y)
            fixed (byte* pq = q)
            fixed (int* pz = zero, psum = sums)
            fixed (sbyte* pw = packed)
            {
                Int8Gemm.QuantizeRows("check", n, k, px, k, pq, kp, ps, pz);
                for (int r = 0; r < n; r++)
                {
                    Assert.Equal(sr[r], scale[r]);
                    Assert.Equal(zr[r], zero[r]);
                    for (int i = 0; i < k; i++)
                        if (q[r * kp + i] != qr[r * k + i]) Assert.Fail($"int8 quantize path={path} n={n} k={k}: row {r} element {i} = {q[r * kp + i]}, reference {qr[r * k + i]} (x = {x[r * k + i]})");
                }
                Int8Gemm.Gemm(n, m, k, pq, kp, ps, pz, pw, pws, psum, withBias ? pb : null, py, m, relu, path);
            }
            for (int i = 0; i < y.Length; i++)
                if (BitConverter.SingleToInt32Bits(y[i]) != BitConverter.SingleToInt32Bits(expected[i]))
                    Assert.Fail($"int8 gemm path={path} n={n} m={m} k={k} relu={relu} bias={withBias}: element {i} = {y[i]}, reference {expected[i]}");
        }
    }

    /// <summary>Every path up to the widest this process allows.</summary>
    public static void RunAllPaths()
    {
        for (var p = Int8Path.Scalar; p <= Int8Gemm.DetectPath(); p++)
        {
            if (p == Int8Path.AvxVnni && !System.Runtime.Intrinsics.X86.AvxVnni.IsSupported) continue;
            Run(p);
        }
    }
}

public class Int8KernelTests
{
    [Fact]
    public void Int8ProductEqualsTheReferenceBitForBitOnEveryPath() => Int8KernelChecks.RunAllPaths();

    [Fact]
    public unsafe void NonFiniteInputIsAnErrorNamingTheRow()
    {
        var x = new float[] { 1, 2, 3, float.NaN };
        var q = new byte[4];
        var s = new float[2];
        var z = new int[2];
        var e = Assert.Throws<ArgumentException>(() =>
        {
            fixed (float* px = x, ps = s) fixed (byte* pq = q) fixed (int* pz = z) Int8Gemm.QuantizeRows("Linear (int8)", 2, 2, px, 2, pq, 2, ps, pz);
        });
        Assert.Contains("row 1", e.Message);
        Assert.Contains("Linear (int8)", e.Message);
    }
}
