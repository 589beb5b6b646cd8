using System.Runtime.Intrinsics;
using System.Runtime.CompilerServices;
using System.Numerics;
using System.Numerics.Tensors;

namespace Ember.Kernels;

internal enum RowReduction { Sum, Prod, Max, Min }

/// <summary>
/// Reductions over a set of dims. The input is viewed with the kept dims first and the reduced dims last; when
/// that view is dense (reducing trailing dims of a contiguous tensor) each output element reduces one
/// contiguous row with TensorPrimitives. Sums over the leading dims of a contiguous tensor accumulate whole rows
/// instead (bias gradients). Anything else is first copied into the row layout.
/// </summary>
internal static class Reduce
{
    /// <summary>Rows of length R in a dense buffer: (array, offset of row 0, rows, R).</summary>
    internal readonly record struct Rows<T>(T[] Data, int Offset, int Count, int Length);

    internal static int[] OutputShape(int[] shape, int[] dims, bool keepDim)
    {
        var r = new List<int>();
        for (int i = 0; i < shape.Length; i++)
        {
            if (Array.IndexOf(dims, i) >= 0) { if (keepDim) r.Add(1); }
            else r.Add(shape[i]);
        }
        return r.ToArray();
    }

    /// <summary>The input arranged as rows (kept dims major, reduced dims minor), copying only if needed.</summary>
    internal static Rows<T> AsRows<T>(Tensor x, int[] dims) where T : unmanaged
    {
        int nd = x.Dim;
        var perm = new int[nd];
        int k = 0;
        for (int i = 0; i < nd; i++) if (Array.IndexOf(dims, i) < 0) perm[k++] = i;
        foreach (int d in dims) perm[k++] = d;
        int len = 1;
        foreach (int d in dims) len *= x._shape[d];
        var p = x.Detach().Permute(perm);
        if (!p.IsContiguous) p = p.Contiguous();
        int rows = len == 0 ? ShapeUtil.NumEl(OutputShape(x._shape, dims, false)) : x.NumEl / len;
        return new Rows<T>(p.Data<T>(), p._offset, rows, len);
    }

    private static bool LeadingDims(Tensor x, int[] dims)
    {
        if (!x.IsContiguous || dims.Length == 0 || dims.Length == x.Dim) return false;
        for (int i = 0; i < dims.Length; i++) if (dims[i] != i) return false;
        return true;
    }

    public static void RowsInto<T>(Tensor x, int[] dims, RowReduction kind, T[] dst) where T : unmanaged, INumber<T>, IMinMaxValue<T>
    {
        if (kind == RowReduction.Sum && LeadingDims(x, dims))
        {
            SumLeading(x, dims, dst);
            return;
        }
        var rows = AsRows<T>(x, dims);
        var (data, off, count, len) = rows;
        if (len == 0 && kind is RowReduction.Max or RowReduction.Min)
            throw new ArgumentException($"{kind}: cannot reduce over a zero-size dimension (shape {ShapeUtil.Str(x._shape)}, dims {ShapeUtil.Str(dims)}).");
        Parallelism.For(count, Math.Max(1, Parallelism.ElementwiseGrain / Math.Max(len, 1)), (s, e) =>
        {
            for (int r = s; r < e; r++)
            {
                var row = new ReadOnlySpan<T>(data, off + r * len, len);
                dst[r] = kind switch
                {
                    RowReduction.Sum => TensorPrimitives.Sum(row),
                    RowReduction.Prod => TensorPrimitives.Product(row),
                    RowReduction.Max => TensorPrimitives.Max(row),
                    _ => TensorPrimitives.Min(row),
                };
            }
        });
    }

    /// <summary>out[j] = Σ_i x[i, j] for a contiguous x whose leading dims are reduced.</summary>
    private static void SumLeading<T>(Tensor x, int[] dims, T[] dst) where T : unmanaged, INumber<T>
    {
        int outer = 1;
        foreach (int d in dims) outer *= x._shape[d];
        int inner = dst.Length;
        var data = x.Data<T>();
        int off = x._offset;
        if (typeof(T) == typeof(float) && Vector512.IsHardwareAccelerated)
        {
            SumLeading512((float[])(object)data, off, outer, inner, (float[])(object)dst);
            return;
        }
        Array.Clear(dst);
        // Split the columns across threads; each thread walks all rows of its column block.
        Parallelism.For(inner, Math.Max(64, Parallelism.ElementwiseGrain / Math.Max(outer, 1)), (s, e) =>
        {
            var acc = new Span<T>(dst, s, e - s);
            for (int i = 0; i < outer; i++)
                TensorPrimitives.Add(acc, new ReadOnlySpan<T>(data, off + i * inner + s, e - s), acc);
        });
    }

    /// <summary><see cref="SumLeading{T}"/> for float32 with AVX-512: blocks of 64 columns keep their four accumulators in
    /// registers down all the rows (a bias gradient over 4,096 rows: one read of the gradient, no per-row call).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void SumLeading512(float[] data, int off, int outer, int inner, float[] dst)
    {
        int blocks = (inner + 63) / 64;
        fixed (float* p0 = data, d0 = dst)
        {
            nint pp = (nint)(p0 + off), pd = (nint)d0;
            Parallelism.For(blocks, Math.Max(1, Parallelism.ElementwiseGrain / Math.Max(1, outer * 64)), (bs, be) =>
            {
                float* src = (float*)pp, d = (float*)pd;
                for (int b = bs; b < be; b++)
                {
                    int j = b * 64, width = Math.Min(64, inner - j);
                    if (width == 64)
                    {
                        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                        float* row = src + j;
                        for (int i = 0; i < outer; i++, row += inner)
                        {
                            a0 += Vector512.Load(row); a1 += Vector512.Load(row + 16);
                            a2 += Vector512.Load(row + 32); a3 += Vector512.Load(row + 48);
                        }
                        a0.Store(d + j); a1.Store(d + j + 16); a2.Store(d + j + 32); a3.Store(d + j + 48);
                        continue;
                    }
                    for (int c = j; c < j + width; c++) d[c] = 0;
                    for (int i = 0; i < outer; i++)
                    {
                        float* row = src + (long)i * inner;
                        for (int c = j; c < j + width; c++) d[c] += row[c];
                    }
                }
            });
        }
    }

    /// <summary>Index of the max (or min) of each row; first occurrence wins, NaN counts as the maximum.</summary>
    public static void ArgRowsInto<T>(string op, Tensor x, int dim, bool max, long[] dst) where T : unmanaged, INumber<T>
    {
        var (data, off, count, len) = AsRows<T>(x, [dim]);
        if (len == 0) throw new ArgumentException($"{op}: cannot reduce over a zero-size dimension (shape {ShapeUtil.Str(x._shape)}, dim {dim}).");
        Parallelism.For(count, Math.Max(1, Parallelism.ElementwiseGrain / len), (s, e) =>
        {
            for (int r = s; r < e; r++)
            {
                var row = new ReadOnlySpan<T>(data, off + r * len, len);
                dst[r] = max ? TensorPrimitives.IndexOfMax(row) : TensorPrimitives.IndexOfMin(row);
            }
        });
    }

    /// <summary>Softmax (or log-softmax) along the last axis of dense rows, numerically stable: the row max is
    /// subtracted before exponentiation, so exp never overflows.</summary>
    public static void SoftmaxRows<T>(Rows<T> src, T[] dst, bool log) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (data, off, count, len) = src;
        if (len == 0) return;
        if (typeof(T) == typeof(float))
        {
            SoftmaxRowsFloat((float[])(object)data, off, count, len, (float[])(object)dst, log);
            return;
        }
        Parallelism.For(count, Math.Max(1, Parallelism.ElementwiseGrain / len), (s, e) =>
        {
            for (int r = s; r < e; r++)
            {
                var x = new ReadOnlySpan<T>(data, off + r * len, len);
                var y = new Span<T>(dst, r * len, len);
                T m = TensorPrimitives.Max(x);
                if (T.IsInfinity(m)) m = T.Zero;          // all −∞ (fully masked) or +∞: keep exp finite where possible
                TensorPrimitives.Subtract(x, m, y);
                if (log)
                {
                    // y = x − m − log Σ exp(x − m)
                    T lse = T.Zero;
                    for (int i = 0; i < len; i++) lse += T.Exp(y[i]);
                    TensorPrimitives.Subtract(y, T.Log(lse), y);
                }
                else
                {
                    TensorPrimitives.Exp(y, y);
                    T sum = TensorPrimitives.Sum(y);
                    TensorPrimitives.Multiply(y, T.One / sum, y);
                }
            }
        });
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SoftmaxRowsFloat(float[] data, int off, int count, int len, float[] dst, bool log)
    {
        Parallelism.For(count, Math.Max(1, Parallelism.ElementwiseGrain / len), (s, e) =>
        {
            for (int r = s; r < e; r++)
            {
                var x = new ReadOnlySpan<float>(data, off + r * len, len);
                var y = new Span<float>(dst, r * len, len);
                float m = TensorPrimitives.Max(x);
                if (float.IsInfinity(m)) m = 0;          // all −∞ (fully masked) or +∞: keep exp finite where possible
                if (log) TensorPrimitives.Subtract(x, m + MathF.Log(FastMath.SumExpSub(x, m)), y);
                else TensorPrimitives.Multiply(y, 1 / FastMath.ExpSubSum(x, m, y), y);
            }
        });
    }

    /// <summary>Softmax backward along dense rows of length <paramref name="len"/>: dx = y ⊙ (g − Σ g ⊙ y) or, for
    /// log-softmax (y = log p), dx = g − e^y · Σ g. One pass per row instead of four temporaries.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void SoftmaxBackwardRows(float[] y, int yOff, float[] g, int gOff, float[] dx, int count, int len, bool log)
    {
        if (len == 0) return;
        Parallelism.For(count, Math.Max(1, Parallelism.ElementwiseGrain / len), (s, e) =>
        {
            Span<float> tmp = len <= 1024 ? stackalloc float[len] : new float[len];
            for (int r = s; r < e; r++)
            {
                var yr = new ReadOnlySpan<float>(y, yOff + r * len, len);
                var gr = new ReadOnlySpan<float>(g, gOff + r * len, len);
                var dr = new Span<float>(dx, r * len, len);
                if (log)
                {
                    float sum = TensorPrimitives.Sum(gr);
                    FastMath.Exp(yr, tmp);
                    // dx = g − sum·e^y
                    TensorPrimitives.MultiplyAdd(tmp, -sum, gr, dr);
                }
                else
                {
                    float dot = TensorPrimitives.Dot(gr, yr);
                    TensorPrimitives.Subtract(gr, dot, tmp);
                    TensorPrimitives.Multiply(tmp, yr, dr);
                }
            }
        });
    }
}
