using Ember.Kernels;
using Xunit;

namespace Ember.Tests.Kernels;

/// <summary>The unpacked attention product against a double-precision triple loop, for column counts that exercise
/// its 32-wide tiles, its 16-wide step and its masked last vector (nothing written past column n); on AVX2 its 6×16
/// tiles, leftover rows and masked 8-wide tail.</summary>
public class SmallGemmTests
{
    [Theory]
    [InlineData(9, 1, 5)]
    [InlineData(8, 7, 16)]
    [InlineData(17, 16, 3)]
    [InlineData(5, 17, 16)]
    [InlineData(16, 33, 8)]
    [InlineData(11, 50, 16)]
    [InlineData(32, 64, 50)]
    [InlineData(13, 8, 20)]
    [InlineData(6, 24, 7)]
    public void MatchesTheTripleLoop(int m, int n, int k)
    {
        bool wide = System.Runtime.Intrinsics.X86.Avx512F.IsSupported && System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated;
        bool avx2 = System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated && System.Runtime.Intrinsics.X86.Fma.IsSupported;
        if (!wide && !avx2)
        {
            Assert.False(SmallGemm.Applies(n, 1));   // AVX-512 or AVX2: the other machines take the packed kernel (GemmTests)
            return;
        }
        Check(m, n, k);
    }

    /// <summary>Also run by the kernel checks in a child process with AVX-512 off (the AVX2 tiles on an AVX-512 machine).</summary>
    internal static unsafe void Check(int m, int n, int k)
    {
        Assert.True(SmallGemm.Applies(n, 1));
        var g = new Generator((ulong)(m * 1000 + n * 10 + k));
        int lda = k + 3, ldb = n + 5, ldc = n + 7;
        var a = new float[m * lda];
        var b = new float[k * ldb];
        for (int i = 0; i < a.Length; i++) a[i] = (float)g.NextNormal();
        for (int i = 0; i < b.Length; i++) b[i] = (float)g.NextNormal();
        foreach (bool accumulate in new[] { false, true })
        {
            var c = new float[m * ldc];
            for (int i = 0; i < c.Length; i++) c[i] = 0.5f + i % 3;   // padding columns must keep these
            var before = (float[])c.Clone();
            fixed (float* pa = a, pb = b, pc = c) SmallGemm.Run(m, n, k, pa, lda, 1, pb, ldb, pc, ldc, accumulate);
            for (int i = 0; i < m; i++)
                for (int j = 0; j < ldc; j++)
                {
                    if (j >= n) { Assert.Equal(before[i * ldc + j], c[i * ldc + j]); continue; }
                    double want = accumulate ? before[i * ldc + j] : 0;
                    for (int p = 0; p < k; p++) want += (double)a[i * lda + p] * b[p * ldb + j];
                    Assert.True(Math.Abs(want - c[i * ldc + j]) <= 1e-4 * (1 + Math.Abs(want)), $"C[{i},{j}] {c[i * ldc + j]} vs {want} (m {m}, n {n}, k {k}, accumulate {accumulate})");
                }
        }
    }
}
