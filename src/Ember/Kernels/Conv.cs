using System.Buffers;
using System.Numerics;
using System.Numerics.Tensors;

namespace Ember.Kernels;

/// <summary>The geometry of one 2-D convolution over a single image: C input channels of H×W, a KH×KW kernel
/// with stride, dilation and (possibly asymmetric) zero padding, giving OH×OW outputs. Padding below/right is
/// implied by OH/OW. A 1-D convolution is the H = KH = OH = 1 case.</summary>
internal readonly record struct ConvGeometry(int C, int H, int W, int KH, int KW, int SH, int SW, int PadTop, int PadLeft, int DH, int DW, int OH, int OW)
{
    /// <summary>Rows of the unfolded (im2col) matrix: C·KH·KW.</summary>
    public int ColRows => C * KH * KW;
    public int Plane => H * W;
    public int OutPlane => OH * OW;
    /// <summary>A 1×1 stride-1 unpadded kernel: the unfolded matrix is the image itself.</summary>
    public bool IsPointwise => KH == 1 && KW == 1 && SH == 1 && SW == 1 && PadTop == 0 && PadLeft == 0 && OH == H && OW == W;

    public static int OutSize(int input, int kernel, int stride, int padTotal, int dilation)
        => (input + padTotal - dilation * (kernel - 1) - 1) / stride + 1;
}

/// <summary>Lowering of convolution to the matrix product: im2col (unfold one image into a (C·KH·KW) × (OH·OW)
/// matrix) and its adjoint col2im, plus the GEMM dispatch for float32/float64.</summary>
internal static unsafe class ConvKernels
{
    /// <summary>Unfolds image x (C×H×W, dense) into col ((C·KH·KW) × (OH·OW), dense). Out-of-image taps are zero.
    /// Each output row is filled by a contiguous copy (stride 1) or a strided gather, with the zero borders cleared
    /// in bulk: no per-tap bounds checks.</summary>
    public static void Im2Col<T>(in ConvGeometry g, T* x, T* col) where T : unmanaged => Im2Col(g, x, col, g.OutPlane);

    /// <summary><see cref="Im2Col{T}(in ConvGeometry, T*, T*)"/> into a matrix whose rows are <paramref name="ld"/> apart, so that
    /// several images can sit side by side as column blocks of one wider matrix.</summary>
    public static void Im2Col<T>(in ConvGeometry g, T* x, T* col, long ld) where T : unmanaged
    {
        long ohw = ld;
        bool runs = IsRowRun(g);
        for (int c = 0; c < g.C; c++)
        for (int ki = 0; ki < g.KH; ki++)
        for (int kj = 0; kj < g.KW; kj++)
        {
            T* dst = col + (long)((c * g.KH + ki) * g.KW + kj) * ohw;
            T* src = x + (long)c * g.Plane;
            int dj = kj * g.DW - g.PadLeft;
            var (lo, hi) = ValidRange(dj, g.SW, g.W, g.OW);
            if (runs)
            {
                // Stride 1 and OW = W: the valid rows of this tap are one contiguous run of the input, shifted by
                // dy·W + dj; one copy moves them all, then the few out-of-image columns are zeroed row by row.
                int dy = ki * g.DH - g.PadTop;
                int ohLo = Math.Clamp(-dy, 0, g.OH), ohHi = Math.Clamp(g.H - dy, ohLo, g.OH);
                if (ohLo > 0) new Span<T>(dst, ohLo * g.OW).Clear();
                if (ohHi < g.OH) new Span<T>(dst + ohHi * g.OW, (g.OH - ohHi) * g.OW).Clear();
                if (ohLo >= ohHi) continue;
                if (lo >= hi)
                {
                    new Span<T>(dst + ohLo * g.OW, (ohHi - ohLo) * g.OW).Clear();
                    continue;
                }
                int t0 = ohLo * g.OW + lo, t1 = (ohHi - 1) * g.OW + hi;
                new ReadOnlySpan<T>(src + t0 + (long)dy * g.W + dj, t1 - t0).CopyTo(new Span<T>(dst + t0, t1 - t0));
                for (int oh = ohLo; oh < ohHi; oh++)
                {
                    T* d = dst + oh * g.OW;
                    for (int ow = 0; ow < lo; ow++) d[ow] = default;
                    for (int ow = hi; ow < g.OW; ow++) d[ow] = default;
                }
                continue;
            }
            for (int oh = 0; oh < g.OH; oh++)
            {
                int ih = oh * g.SH - g.PadTop + ki * g.DH;
                T* d = dst + oh * g.OW;
                if ((uint)ih >= (uint)g.H || lo >= hi)
                {
                    new Span<T>(d, g.OW).Clear();
                    continue;
                }
                if (lo > 0) new Span<T>(d, lo).Clear();
                if (hi < g.OW) new Span<T>(d + hi, g.OW - hi).Clear();
                T* s = src + (long)ih * g.W + dj;
                if (g.SW == 1)
                    new ReadOnlySpan<T>(s + lo, hi - lo).CopyTo(new Span<T>(d + lo, hi - lo));
                else
                    for (int ow = lo; ow < hi; ow++) d[ow] = s[ow * g.SW];
            }
        }
    }

    /// <summary>The adjoint of <see cref="Im2Col{T}(in ConvGeometry, T*, T*)"/>: adds every entry of col into the image position it was read
    /// from (x is accumulated into, not overwritten). Entries of col that stand for padding may be zeroed on the way.</summary>
    public static void Col2Im<T>(in ConvGeometry g, T* col, T* x) where T : unmanaged, INumberBase<T> => Col2Im(g, col, x, g.OutPlane);

    /// <summary><see cref="Col2Im{T}(in ConvGeometry, T*, T*)"/> from a matrix whose rows are <paramref name="ld"/> apart.</summary>
    public static void Col2Im<T>(in ConvGeometry g, T* col, T* x, long ld) where T : unmanaged, INumberBase<T>
    {
        long ohw = ld;
        bool runs = IsRowRun(g);
        for (int c = 0; c < g.C; c++)
        for (int ki = 0; ki < g.KH; ki++)
        for (int kj = 0; kj < g.KW; kj++)
        {
            T* src = col + (long)((c * g.KH + ki) * g.KW + kj) * ohw;
            T* dstPlane = x + (long)c * g.Plane;
            int dj = kj * g.DW - g.PadLeft;
            var (lo, hi) = ValidRange(dj, g.SW, g.W, g.OW);
            if (lo >= hi) continue;
            if (runs)
            {
                // The adjoint of the run copy in Im2Col: zero the out-of-image columns of this tap in col (scratch
                // owned by the caller), then add the valid rows back with one vectorized run.
                int dy = ki * g.DH - g.PadTop;
                int ohLo = Math.Clamp(-dy, 0, g.OH), ohHi = Math.Clamp(g.H - dy, ohLo, g.OH);
                if (ohLo >= ohHi) continue;
                for (int oh = ohLo; oh < ohHi; oh++)
                {
                    T* r = src + oh * g.OW;
                    for (int ow = 0; ow < lo; ow++) r[ow] = default;
                    for (int ow = hi; ow < g.OW; ow++) r[ow] = default;
                }
                int t0 = ohLo * g.OW + lo, t1 = (ohHi - 1) * g.OW + hi;
                var dspan = new Span<T>(dstPlane + t0 + (long)dy * g.W + dj, t1 - t0);
                TensorPrimitives.Add<T>(dspan, new ReadOnlySpan<T>(src + t0, t1 - t0), dspan);
                continue;
            }
            for (int oh = 0; oh < g.OH; oh++)
            {
                int ih = oh * g.SH - g.PadTop + ki * g.DH;
                if ((uint)ih >= (uint)g.H) continue;
                T* s = src + oh * g.OW;
                T* d = dstPlane + (long)ih * g.W + dj;
                if (g.SW == 1)
                {
                    var dspan = new Span<T>(d + lo, hi - lo);
                    TensorPrimitives.Add<T>(dspan, new ReadOnlySpan<T>(s + lo, hi - lo), dspan);
                }
                else
                    for (int ow = lo; ow < hi; ow++) d[ow * g.SW] += s[ow];
            }
        }
    }

    /// <summary>Stride 1 with output width equal to input width: each tap's valid rows form one contiguous run.</summary>
    private static bool IsRowRun(in ConvGeometry g) => g.SW == 1 && g.SH == 1 && g.OW == g.W;

    /// <summary>The output columns [lo, hi) whose input column ow·stride + offset lies inside [0, width).</summary>
    private static (int Lo, int Hi) ValidRange(int offset, int stride, int width, int outWidth)
    {
        int lo = offset >= 0 ? 0 : Math.Min(outWidth, (-offset + stride - 1) / stride);
        int hi = width - 1 - offset < 0 ? 0 : Math.Min(outWidth, (width - 1 - offset) / stride + 1);
        return (lo, Math.Max(lo, hi));
    }

    /// <summary>C[m×n] (+)= A·B with A(i, p) = a[i·rsa + p·csa], B(p, j) = b[p·rsb + j·csb]; C row-major, leading
    /// dimension ldc. float32 runs the packed kernel (threaded when <paramref name="parallel"/>); float64 (gradient
    /// checks) the row-axpy kernel or, for B without unit column stride, a plain loop.</summary>
    public static void Gemm<T>(int m, int n, int k, T* a, int rsa, int csa, T* b, int rsb, int csb, T* c, int ldc, bool accumulate, bool parallel)
        where T : unmanaged
    {
        if (typeof(T) == typeof(float))
        {
            Kernels.Gemm.Sgemm(m, n, k, (float*)a, rsa, csa, (float*)b, rsb, csb, (float*)c, ldc, accumulate, parallel);
            return;
        }
        if (typeof(T) != typeof(double)) throw new NotSupportedException($"Convolution: dtype {typeof(T).Name} is not supported.");
        double* da = (double*)a, db = (double*)b, dc = (double*)c;
        if (csb == 1)
        {
            Kernels.Gemm.Dgemm(m, n, k, da, rsa, csa, db, rsb, dc, ldc, accumulate);
            return;
        }
        for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++)
        {
            double s = accumulate ? dc[(long)i * ldc + j] : 0;
            for (int p = 0; p < k; p++) s += da[(long)i * rsa + (long)p * csa] * db[(long)p * rsb + (long)j * csb];
            dc[(long)i * ldc + j] = s;
        }
    }

    /// <summary>Runs body(start, end, parallelInside) over the batch: images split across threads with
    /// single-threaded products when the batch is at least the thread count, else images in turn with
    /// threaded products.</summary>
    public static void ForBatch(int batch, Action<int, int, bool> body)
    {
        if (batch >= Parallelism.NumThreads && Parallelism.NumThreads > 1)
            Parallelism.For(batch, 1, (s, e) => body(s, e, false));
        else if (batch > 0)
            body(0, batch, true);
    }

    public static T[] Rent<T>(int length) => ArrayPool<T>.Shared.Rent(Math.Max(1, length));
    public static void Return<T>(T[] array) => ArrayPool<T>.Shared.Return(array);
}
