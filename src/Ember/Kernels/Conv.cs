using System.Buffers;
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

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
    /// threaded products. One contiguous share per thread: the backward merges each share's weight gradient into
    /// the total.</summary>
    public static void ForBatch(int batch, Action<int, int, bool> body)
    {
        if (batch >= Parallelism.NumThreads && Parallelism.NumThreads > 1)
            Parallelism.ForPerThread(batch, 1, (s, e) => body(s, e, false));
        else if (batch > 0)
            body(0, batch, true);
    }

    public static T[] Rent<T>(int length) => ArrayPool<T>.Shared.Rent(Math.Max(1, length));
    public static void Return<T>(T[] array) => ArrayPool<T>.Shared.Return(array);
}

/// <summary>float32 AVX-512 kernels for convolutions with few taps per group (a first layer on one to three channels,
/// a depthwise 3×3): the unfolded rows of one image sit in L1, and each pass over 16 output pixels computes four
/// channels (forward), four taps' weight-gradient sums, or four unfolded input-gradient rows at once, instead of one
/// vector call per (channel, tap) pair that re-reads and re-writes a whole output row each time. Pixels past the last
/// full vector run in scalars.</summary>
internal static unsafe class SmallK512
{
    /// <summary>y[c, j] = bias[c] + Σ_r w[c·rows + r]·col[r·ohw + j] for the og channels of one group.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Forward(float* col, int rows, int og, float* w, float* bias, float* y, int ohw)
    {
        int full = ohw & ~15, c = 0;
        for (; c + 4 <= og; c += 4)
        {
            float* w0 = w + c * rows, w1 = w0 + rows, w2 = w1 + rows, w3 = w2 + rows;
            float* y0 = y + (long)c * ohw, y1 = y0 + ohw, y2 = y1 + ohw, y3 = y2 + ohw;
            var b0 = Vector512.Create(bias == null ? 0f : bias[c]);
            var b1 = Vector512.Create(bias == null ? 0f : bias[c + 1]);
            var b2 = Vector512.Create(bias == null ? 0f : bias[c + 2]);
            var b3 = Vector512.Create(bias == null ? 0f : bias[c + 3]);
            for (int j = 0; j < full; j += 16)
            {
                Vector512<float> a0 = b0, a1 = b1, a2 = b2, a3 = b3;
                float* cj = col + j;
                for (int r = 0; r < rows; r++, cj += ohw)
                {
                    var v = Vector512.Load(cj);
                    a0 = Vector512.FusedMultiplyAdd(v, Vector512.Create(w0[r]), a0);
                    a1 = Vector512.FusedMultiplyAdd(v, Vector512.Create(w1[r]), a1);
                    a2 = Vector512.FusedMultiplyAdd(v, Vector512.Create(w2[r]), a2);
                    a3 = Vector512.FusedMultiplyAdd(v, Vector512.Create(w3[r]), a3);
                }
                a0.Store(y0 + j); a1.Store(y1 + j); a2.Store(y2 + j); a3.Store(y3 + j);
            }
            for (int k = 0; k < 4; k++) ForwardTail(col, rows, w + (c + k) * rows, bias == null ? 0f : bias[c + k], y + (long)(c + k) * ohw, full, ohw);
        }
        for (; c < og; c++)
        {
            float* wc = w + c * rows, yc = y + (long)c * ohw;
            var b = Vector512.Create(bias == null ? 0f : bias[c]);
            for (int j = 0; j < full; j += 16)
            {
                var a = b;
                float* cj = col + j;
                for (int r = 0; r < rows; r++, cj += ohw) a = Vector512.FusedMultiplyAdd(Vector512.Load(cj), Vector512.Create(wc[r]), a);
                a.Store(yc + j);
            }
            ForwardTail(col, rows, wc, bias == null ? 0f : bias[c], yc, full, ohw);
        }
    }

    private static void ForwardTail(float* col, int rows, float* wc, float b, float* yc, int from, int ohw)
    {
        for (int j = from; j < ohw; j++)
        {
            float a = b;
            for (int r = 0; r < rows; r++) a = MathF.FusedMultiplyAdd(col[(long)r * ohw + j], wc[r], a);
            yc[j] = a;
        }
    }

    /// <summary>partial[c·rows + r] = Σ_j gy[c·ohw + j]·col[r·ohw + j] for the og channels of one group (overwritten).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void WeightGrad(float* col, int rows, int og, float* gy, int ohw, float* partial)
    {
        int full = ohw & ~15;
        for (int c = 0; c < og; c++)
        {
            float* g = gy + (long)c * ohw;
            int r = 0;
            for (; r + 4 <= rows; r += 4)
            {
                float* c0 = col + (long)r * ohw, c1 = c0 + ohw, c2 = c1 + ohw, c3 = c2 + ohw;
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                for (int j = 0; j < full; j += 16)
                {
                    var gv = Vector512.Load(g + j);
                    a0 = Vector512.FusedMultiplyAdd(gv, Vector512.Load(c0 + j), a0);
                    a1 = Vector512.FusedMultiplyAdd(gv, Vector512.Load(c1 + j), a1);
                    a2 = Vector512.FusedMultiplyAdd(gv, Vector512.Load(c2 + j), a2);
                    a3 = Vector512.FusedMultiplyAdd(gv, Vector512.Load(c3 + j), a3);
                }
                float s0 = Vector512.Sum(a0), s1 = Vector512.Sum(a1), s2 = Vector512.Sum(a2), s3 = Vector512.Sum(a3);
                for (int j = full; j < ohw; j++)
                {
                    s0 += g[j] * c0[j]; s1 += g[j] * c1[j]; s2 += g[j] * c2[j]; s3 += g[j] * c3[j];
                }
                float* pr = partial + c * rows + r;
                pr[0] = s0; pr[1] = s1; pr[2] = s2; pr[3] = s3;
            }
            for (; r < rows; r++)
            {
                float* cr = col + (long)r * ohw;
                Vector512<float> a = default;
                for (int j = 0; j < full; j += 16) a = Vector512.FusedMultiplyAdd(Vector512.Load(g + j), Vector512.Load(cr + j), a);
                float s = Vector512.Sum(a);
                for (int j = full; j < ohw; j++) s += g[j] * cr[j];
                partial[c * rows + r] = s;
            }
        }
    }

    /// <summary>col[r·ohw + j] = Σ_c w[c·rows + r]·gy[c·ohw + j] for one group (overwritten): the unfolded input gradient.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void InputGrad(float* gy, int rows, int og, float* w, float* col, int ohw)
    {
        int full = ohw & ~15, r = 0;
        for (; r + 4 <= rows; r += 4)
        {
            float* d0 = col + (long)r * ohw, d1 = d0 + ohw, d2 = d1 + ohw, d3 = d2 + ohw;
            for (int j = 0; j < full; j += 16)
            {
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                float* wr = w + r;
                float* gj = gy + j;
                for (int c = 0; c < og; c++, wr += rows, gj += ohw)
                {
                    var gv = Vector512.Load(gj);
                    a0 = Vector512.FusedMultiplyAdd(gv, Vector512.Create(wr[0]), a0);
                    a1 = Vector512.FusedMultiplyAdd(gv, Vector512.Create(wr[1]), a1);
                    a2 = Vector512.FusedMultiplyAdd(gv, Vector512.Create(wr[2]), a2);
                    a3 = Vector512.FusedMultiplyAdd(gv, Vector512.Create(wr[3]), a3);
                }
                a0.Store(d0 + j); a1.Store(d1 + j); a2.Store(d2 + j); a3.Store(d3 + j);
            }
            for (int k = 0; k < 4; k++) InputGradTail(gy, rows, og, w + r + k, col + (long)(r + k) * ohw, full, ohw);
        }
        for (; r < rows; r++)
        {
            float* d = col + (long)r * ohw;
            for (int j = 0; j < full; j += 16)
            {
                Vector512<float> a = default;
                float* gj = gy + j;
                for (int c = 0; c < og; c++, gj += ohw) a = Vector512.FusedMultiplyAdd(Vector512.Load(gj), Vector512.Create(w[c * rows + r]), a);
                a.Store(d + j);
            }
            InputGradTail(gy, rows, og, w + r, d, full, ohw);
        }
    }

    private static void InputGradTail(float* gy, int rows, int og, float* wr, float* d, int from, int ohw)
    {
        for (int j = from; j < ohw; j++)
        {
            float a = 0;
            for (int c = 0; c < og; c++) a = MathF.FusedMultiplyAdd(gy[(long)c * ohw + j], wr[c * rows], a);
            d[j] = a;
        }
    }
}
