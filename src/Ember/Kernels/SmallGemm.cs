using System.Runtime.Intrinsics.X86;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Ember.Kernels;

/// <summary>
/// C[m×n] (+)= A[m×k]·B[k×n] for the small products inside attention (one head, a block of rows, head widths such as
/// 16, 32 or 64, short sequences), where the packed kernel spends more on packing both operands and on zero-padded
/// edge tiles (n = 32 fills two thirds of its 48-wide panels) than on the arithmetic. Nothing is packed: B must have
/// unit column stride (rows <c>ldb</c> apart); each 8×32 tile keeps 16 AVX-512 accumulators, streams two vectors of a
/// B row per step and broadcasts A's elements straight from memory through (rsa, csa); the last n mod 32 columns go
/// 16 at a time, the final partial vector with masked loads and stores. With AVX2 (no AVX-512), 6×16 tiles of eight-lane
/// vectors in the same manner (<see cref="Run256"/>).
/// </summary>
internal static unsafe class SmallGemm
{
    /// <summary>True when <see cref="Run"/> takes the product (AVX-512 or AVX2 with FMA, n positive, unit column stride).</summary>
    public static bool Applies(int n, int csb) => n > 0 && csb == 1 && (Wide || Avx2Path);

    private static bool Wide => Vector512.IsHardwareAccelerated && Avx512F.IsSupported;

    private static bool Avx2Path => Vector256.IsHardwareAccelerated && Avx2.IsSupported && Fma.IsSupported;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(int m, int n, int k, float* a, int rsa, int csa, float* b, int ldb, float* c, int ldc, bool accumulate)
    {
        if (!Wide)
        {
            Run256(m, n, k, a, rsa, csa, b, ldb, c, ldc, accumulate);
            return;
        }
        int j0 = 0;
        for (; j0 + 32 <= n; j0 += 32)
        {
            int i = 0;
            for (; i + 8 <= m; i += 8) Tile8(k, a + (long)i * rsa, rsa, csa, b + j0, ldb, c + (long)i * ldc + j0, ldc, accumulate);
            for (; i < m; i++) Row(k, a + (long)i * rsa, csa, b + j0, ldb, c + (long)i * ldc + j0, accumulate);
        }
        // The last 1-31 columns: 16 at a time, the final partial vector through masked loads and stores (nothing read
        // or written past column n).
        for (; j0 < n; j0 += 16)
        {
            int w = Math.Min(16, n - j0);
            var mask = Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(w)).AsSingle();
            int i = 0;
            for (; i + 8 <= m; i += 8) Tile8Narrow(k, a + (long)i * rsa, rsa, csa, b + j0, ldb, c + (long)i * ldc + j0, ldc, accumulate, mask);
            for (; i < m; i++) RowNarrow(k, a + (long)i * rsa, csa, b + j0, ldb, c + (long)i * ldc + j0, accumulate, mask);
        }
    }

    /// <summary>The AVX2 form: 6×16 tiles (12 accumulators, 2 B vectors and a broadcast: 15 of the 16 YMM registers, the
    /// packed kernel's shape), leftover rows one at a time; the last n mod 16 columns 8 at a time, the final partial
    /// vector through masked loads and stores (vmaskmovps: nothing read or written past column n).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Run256(int m, int n, int k, float* a, int rsa, int csa, float* b, int ldb, float* c, int ldc, bool accumulate)
    {
        int j0 = 0;
        for (; j0 + 16 <= n; j0 += 16)
        {
            int i = 0;
            for (; i + 6 <= m; i += 6) Tile6(k, a + (long)i * rsa, rsa, csa, b + j0, ldb, c + (long)i * ldc + j0, ldc, accumulate);
            for (; i < m; i++) Row16(k, a + (long)i * rsa, csa, b + j0, ldb, c + (long)i * ldc + j0, accumulate);
        }
        for (; j0 < n; j0 += 8)
        {
            int w = Math.Min(8, n - j0);
            var mask = Vector256.LessThan(Vector256<int>.Indices, Vector256.Create(w)).AsSingle();
            int i = 0;
            for (; i + 6 <= m; i += 6) Tile6Narrow(k, a + (long)i * rsa, rsa, csa, b + j0, ldb, c + (long)i * ldc + j0, ldc, accumulate, mask);
            for (; i < m; i++) Row8Narrow(k, a + (long)i * rsa, csa, b + j0, ldb, c + (long)i * ldc + j0, accumulate, mask);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile6(int k, float* a, int rsa, int csa, float* b, int ldb, float* c, int ldc, bool accumulate)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        long r1 = rsa, r2 = 2L * rsa, r3 = 3L * rsa, r4 = 4L * rsa, r5 = 5L * rsa;
        for (int p = 0; p < k; p++, a += csa, b += ldb)
        {
            var b0 = Vector256.Load(b);
            var b1 = Vector256.Load(b + 8);
            var x = Vector256.Create(a[0]);
            c00 = Vector256.FusedMultiplyAdd(x, b0, c00); c01 = Vector256.FusedMultiplyAdd(x, b1, c01);
            x = Vector256.Create(a[r1]);
            c10 = Vector256.FusedMultiplyAdd(x, b0, c10); c11 = Vector256.FusedMultiplyAdd(x, b1, c11);
            x = Vector256.Create(a[r2]);
            c20 = Vector256.FusedMultiplyAdd(x, b0, c20); c21 = Vector256.FusedMultiplyAdd(x, b1, c21);
            x = Vector256.Create(a[r3]);
            c30 = Vector256.FusedMultiplyAdd(x, b0, c30); c31 = Vector256.FusedMultiplyAdd(x, b1, c31);
            x = Vector256.Create(a[r4]);
            c40 = Vector256.FusedMultiplyAdd(x, b0, c40); c41 = Vector256.FusedMultiplyAdd(x, b1, c41);
            x = Vector256.Create(a[r5]);
            c50 = Vector256.FusedMultiplyAdd(x, b0, c50); c51 = Vector256.FusedMultiplyAdd(x, b1, c51);
        }
        Store(c, c00, c01, accumulate); c += ldc;
        Store(c, c10, c11, accumulate); c += ldc;
        Store(c, c20, c21, accumulate); c += ldc;
        Store(c, c30, c31, accumulate); c += ldc;
        Store(c, c40, c41, accumulate); c += ldc;
        Store(c, c50, c51, accumulate);
    }

    private static void Row16(int k, float* a, int csa, float* b, int ldb, float* c, bool accumulate)
    {
        Vector256<float> c0 = default, c1 = default;
        for (int p = 0; p < k; p++, a += csa, b += ldb)
        {
            var x = Vector256.Create(a[0]);
            c0 = Vector256.FusedMultiplyAdd(x, Vector256.Load(b), c0);
            c1 = Vector256.FusedMultiplyAdd(x, Vector256.Load(b + 8), c1);
        }
        Store(c, c0, c1, accumulate);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile6Narrow(int k, float* a, int rsa, int csa, float* b, int ldb, float* c, int ldc, bool accumulate, Vector256<float> mask)
    {
        Vector256<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default;
        long r1 = rsa, r2 = 2L * rsa, r3 = 3L * rsa, r4 = 4L * rsa, r5 = 5L * rsa;
        for (int p = 0; p < k; p++, a += csa, b += ldb)
        {
            var b0 = Avx.MaskLoad(b, mask);
            c0 = Vector256.FusedMultiplyAdd(Vector256.Create(a[0]), b0, c0);
            c1 = Vector256.FusedMultiplyAdd(Vector256.Create(a[r1]), b0, c1);
            c2 = Vector256.FusedMultiplyAdd(Vector256.Create(a[r2]), b0, c2);
            c3 = Vector256.FusedMultiplyAdd(Vector256.Create(a[r3]), b0, c3);
            c4 = Vector256.FusedMultiplyAdd(Vector256.Create(a[r4]), b0, c4);
            c5 = Vector256.FusedMultiplyAdd(Vector256.Create(a[r5]), b0, c5);
        }
        StoreMasked(c, c0, accumulate, mask); c += ldc;
        StoreMasked(c, c1, accumulate, mask); c += ldc;
        StoreMasked(c, c2, accumulate, mask); c += ldc;
        StoreMasked(c, c3, accumulate, mask); c += ldc;
        StoreMasked(c, c4, accumulate, mask); c += ldc;
        StoreMasked(c, c5, accumulate, mask);
    }

    private static void Row8Narrow(int k, float* a, int csa, float* b, int ldb, float* c, bool accumulate, Vector256<float> mask)
    {
        Vector256<float> c0 = default;
        for (int p = 0; p < k; p++, a += csa, b += ldb)
            c0 = Vector256.FusedMultiplyAdd(Vector256.Create(a[0]), Avx.MaskLoad(b, mask), c0);
        StoreMasked(c, c0, accumulate, mask);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreMasked(float* c, Vector256<float> v, bool accumulate, Vector256<float> mask)
    {
        if (accumulate) v += Avx.MaskLoad(c, mask);
        Avx.MaskStore(c, mask, v);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(float* c, Vector256<float> v0, Vector256<float> v1, bool accumulate)
    {
        if (accumulate)
        {
            v0 += Vector256.Load(c);
            v1 += Vector256.Load(c + 8);
        }
        v0.Store(c);
        v1.Store(c + 8);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile8Narrow(int k, float* a, int rsa, int csa, float* b, int ldb, float* c, int ldc, bool accumulate, Vector512<float> mask)
    {
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
        long r1 = rsa, r2 = 2L * rsa, r3 = 3L * rsa, r4 = 4L * rsa, r5 = 5L * rsa, r6 = 6L * rsa, r7 = 7L * rsa;
        for (int p = 0; p < k; p++, a += csa, b += ldb)
        {
            var b0 = Avx512F.MaskLoad(b, mask, Vector512<float>.Zero);
            c0 = Vector512.FusedMultiplyAdd(Vector512.Create(a[0]), b0, c0);
            c1 = Vector512.FusedMultiplyAdd(Vector512.Create(a[r1]), b0, c1);
            c2 = Vector512.FusedMultiplyAdd(Vector512.Create(a[r2]), b0, c2);
            c3 = Vector512.FusedMultiplyAdd(Vector512.Create(a[r3]), b0, c3);
            c4 = Vector512.FusedMultiplyAdd(Vector512.Create(a[r4]), b0, c4);
            c5 = Vector512.FusedMultiplyAdd(Vector512.Create(a[r5]), b0, c5);
            c6 = Vector512.FusedMultiplyAdd(Vector512.Create(a[r6]), b0, c6);
            c7 = Vector512.FusedMultiplyAdd(Vector512.Create(a[r7]), b0, c7);
        }
        StoreMasked(c, c0, accumulate, mask); c += ldc;
        StoreMasked(c, c1, accumulate, mask); c += ldc;
        StoreMasked(c, c2, accumulate, mask); c += ldc;
        StoreMasked(c, c3, accumulate, mask); c += ldc;
        StoreMasked(c, c4, accumulate, mask); c += ldc;
        StoreMasked(c, c5, accumulate, mask); c += ldc;
        StoreMasked(c, c6, accumulate, mask); c += ldc;
        StoreMasked(c, c7, accumulate, mask);
    }

    private static void RowNarrow(int k, float* a, int csa, float* b, int ldb, float* c, bool accumulate, Vector512<float> mask)
    {
        Vector512<float> c0 = default;
        for (int p = 0; p < k; p++, a += csa, b += ldb)
            c0 = Vector512.FusedMultiplyAdd(Vector512.Create(a[0]), Avx512F.MaskLoad(b, mask, Vector512<float>.Zero), c0);
        StoreMasked(c, c0, accumulate, mask);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreMasked(float* c, Vector512<float> v, bool accumulate, Vector512<float> mask)
    {
        if (accumulate) v += Avx512F.MaskLoad(c, mask, Vector512<float>.Zero);
        Avx512F.MaskStore(c, mask, v);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile8(int k, float* a, int rsa, int csa, float* b, int ldb, float* c, int ldc, bool accumulate)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
        Vector512<float> c40 = default, c41 = default, c50 = default, c51 = default, c60 = default, c61 = default, c70 = default, c71 = default;
        long r1 = rsa, r2 = 2L * rsa, r3 = 3L * rsa, r4 = 4L * rsa, r5 = 5L * rsa, r6 = 6L * rsa, r7 = 7L * rsa;
        for (int p = 0; p < k; p++, a += csa, b += ldb)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            var x = Vector512.Create(a[0]);
            c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
            x = Vector512.Create(a[r1]);
            c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
            x = Vector512.Create(a[r2]);
            c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
            x = Vector512.Create(a[r3]);
            c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
            x = Vector512.Create(a[r4]);
            c40 = Vector512.FusedMultiplyAdd(x, b0, c40); c41 = Vector512.FusedMultiplyAdd(x, b1, c41);
            x = Vector512.Create(a[r5]);
            c50 = Vector512.FusedMultiplyAdd(x, b0, c50); c51 = Vector512.FusedMultiplyAdd(x, b1, c51);
            x = Vector512.Create(a[r6]);
            c60 = Vector512.FusedMultiplyAdd(x, b0, c60); c61 = Vector512.FusedMultiplyAdd(x, b1, c61);
            x = Vector512.Create(a[r7]);
            c70 = Vector512.FusedMultiplyAdd(x, b0, c70); c71 = Vector512.FusedMultiplyAdd(x, b1, c71);
        }
        Store(c, c00, c01, accumulate); c += ldc;
        Store(c, c10, c11, accumulate); c += ldc;
        Store(c, c20, c21, accumulate); c += ldc;
        Store(c, c30, c31, accumulate); c += ldc;
        Store(c, c40, c41, accumulate); c += ldc;
        Store(c, c50, c51, accumulate); c += ldc;
        Store(c, c60, c61, accumulate); c += ldc;
        Store(c, c70, c71, accumulate);
    }

    private static void Row(int k, float* a, int csa, float* b, int ldb, float* c, bool accumulate)
    {
        Vector512<float> c0 = default, c1 = default;
        for (int p = 0; p < k; p++, a += csa, b += ldb)
        {
            var x = Vector512.Create(a[0]);
            c0 = Vector512.FusedMultiplyAdd(x, Vector512.Load(b), c0);
            c1 = Vector512.FusedMultiplyAdd(x, Vector512.Load(b + 16), c1);
        }
        Store(c, c0, c1, accumulate);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(float* c, Vector512<float> v0, Vector512<float> v1, bool accumulate)
    {
        if (accumulate)
        {
            v0 += Vector512.Load(c);
            v1 += Vector512.Load(c + 16);
        }
        v0.Store(c);
        v1.Store(c + 16);
    }
}
