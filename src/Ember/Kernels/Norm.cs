using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Ember.Kernels;

/// <summary>Fused normalization kernels (statistics accumulate in float64; rows and channels threaded).</summary>
internal static unsafe class NormKernels
{
    private static double D<T>(T v) where T : INumberBase<T> => double.CreateTruncating(v);
    private static T F<T>(double v) where T : INumberBase<T> => T.CreateTruncating(v);

    /// <summary>Σ over dims 0 and 2… of a (N, C, *) tensor: the bias gradient of a convolution, one vectorized sum
    /// per (sample, channel) plane.</summary>
    public static Tensor ChannelSum(Tensor g)
    {
        var x = g.Contiguous();
        int n = x._shape[0], c = x._shape[1], spatial = x.NumEl / Math.Max(1, n * c);
        var sums = new double[c];
        if (x.DType == DType.Float32) ChannelSumT<float>(x, n, c, spatial, sums);
        else ChannelSumT<double>(x, n, c, spatial, sums);
        return Tensor.FromArray(sums).To(x.DType);
    }

    private static void ChannelSumT<T>(Tensor x, int n, int c, int spatial, double[] sums) where T : unmanaged, IFloatingPointIeee754<T>
    {
        fixed (T* px0 = x.Data<T>())
        {
            nint px = (nint)(px0 + x._offset);
            Parallelism.For(c, Math.Max(1, 65536 / Math.Max(1, n * spatial)), (s, e) =>
            {
                for (int ch = s; ch < e; ch++)
                {
                    double sum = 0;
                    for (int i = 0; i < n; i++) sum += D(TensorPrimitives.Sum(new ReadOnlySpan<T>((T*)px + ((long)i * c + ch) * spatial, spatial)));
                    sums[ch] = sum;
                }
            });
        }
    }

    public static void BatchNormForward<T>(Tensor x, Tensor? weight, Tensor? bias, Tensor y, int n, int c, int spatial, double eps,
        double[] mean, double[] invStd) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var wv = weight?.ToArrayDouble();
        var bv = bias?.ToArrayDouble();
        long m = (long)n * spatial;
        fixed (T* px0 = x.Data<T>(), py0 = y.Data<T>())
        {
            nint px = (nint)(px0 + x._offset), py = (nint)py0;
            Parallelism.For(c, Math.Max(1, 65536 / Math.Max(1, (int)Math.Min(m, 65536))), (s, e) =>
            {
                for (int ch = s; ch < e; ch++)
                {
                    double sum = 0;
                    for (int i = 0; i < n; i++)
                        sum += D(TensorPrimitives.Sum(new ReadOnlySpan<T>((T*)px + ((long)i * c + ch) * spatial, spatial)));
                    double mu = sum / m;
                    double sq = 0;
                    T tmu = F<T>(mu);
                    for (int i = 0; i < n; i++)
                    {
                        // Center into the output buffer, then sum squares: a two-pass variance, no cancellation.
                        long off = ((long)i * c + ch) * spatial;
                        var dst = new Span<T>((T*)py + off, spatial);
                        TensorPrimitives.Subtract(new ReadOnlySpan<T>((T*)px + off, spatial), tmu, dst);
                        sq += D(TensorPrimitives.SumOfSquares<T>(dst));
                    }
                    double inv = 1 / Math.Sqrt(sq / m + eps);
                    mean[ch] = mu; invStd[ch] = inv;
                    double a = inv * (wv?[ch] ?? 1), b = bv?[ch] ?? 0;
                    T ta = F<T>(a), tb = F<T>(b);
                    for (int i = 0; i < n; i++)
                    {
                        var dst = new Span<T>((T*)py + ((long)i * c + ch) * spatial, spatial);
                        TensorPrimitives.Multiply(dst, ta, dst);
                        TensorPrimitives.Add(dst, tb, dst);
                    }
                }
            });
        }
    }

    public static void BatchNormBackward<T>(Tensor x, Tensor? weight, Tensor gy, Tensor? gx, int n, int c, int spatial,
        double[] mean, double[] invStd, double[] gw, double[] gb) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var wv = weight?.ToArrayDouble();
        long m = (long)n * spatial;
        fixed (T* px0 = x.Data<T>(), pg0 = gy.Data<T>(), pgx0 = gx is null ? null : gx.Data<T>())
        {
            nint px = (nint)(px0 + x._offset), pg = (nint)(pg0 + gy._offset), pgx = (nint)pgx0;
            Parallelism.For(c, Math.Max(1, 65536 / Math.Max(1, (int)Math.Min(m, 65536))), (s, e) =>
            {
                for (int ch = s; ch < e; ch++)
                {
                    double sumDy = 0, sumDyX = 0;
                    for (int i = 0; i < n; i++)
                    {
                        long off = ((long)i * c + ch) * spatial;
                        var dy = new ReadOnlySpan<T>((T*)pg + off, spatial);
                        sumDy += D(TensorPrimitives.Sum(dy));
                        sumDyX += D(TensorPrimitives.Dot(dy, new ReadOnlySpan<T>((T*)px + off, spatial)));
                    }
                    double mu = mean[ch], inv = invStd[ch];
                    double dotXhat = inv * (sumDyX - mu * sumDy);     // Σ dy·x̂
                    gw[ch] = dotXhat; gb[ch] = sumDy;
                    if (pgx == 0) continue;
                    // dx = γ·σ⁻¹·(dy − Σdy/M − x̂·Σ(dy·x̂)/M) = k1·dy + k2·x + k3
                    double k1 = inv * (wv?[ch] ?? 1);
                    double k2 = -k1 * inv * dotXhat / m;
                    double k3 = k1 * (-sumDy / m + mu * inv * dotXhat / m);
                    T t1 = F<T>(k1), t2 = F<T>(k2), t3 = F<T>(k3);
                    for (int i = 0; i < n; i++)
                    {
                        long off = ((long)i * c + ch) * spatial;
                        var dst = new Span<T>((T*)pgx + off, spatial);
                        TensorPrimitives.Multiply(new ReadOnlySpan<T>((T*)pg + off, spatial), t1, dst);
                        TensorPrimitives.Add(dst, t3, dst);
                        TensorPrimitives.MultiplyAdd<T>(new ReadOnlySpan<T>((T*)px + off, spatial), t2, dst, dst);
                    }
                }
            });
        }
    }

    public static void LayerNormForward<T>(Tensor x, Tensor? w, Tensor? b, Tensor y, int rows, int len, double eps, double[] mean, double[] rstd)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float) && Vector512.IsHardwareAccelerated && len % 16 == 0)
        {
            LayerNorm512.Forward(x, w, b, y, rows, len, eps, mean, rstd);
            return;
        }
        fixed (T* px0 = x.Data<T>(), py0 = y.Data<T>(), pw0 = w is null ? null : w.Data<T>(), pb0 = b is null ? null : b.Data<T>())
        {
            nint px = (nint)(px0 + x._offset), py = (nint)py0;
            nint pw = w is null ? 0 : (nint)(pw0 + w._offset), pb = b is null ? 0 : (nint)(pb0 + b._offset);
            Parallelism.For(rows, Math.Max(1, 16384 / Math.Max(1, len)), (s, e) =>
            {
                for (int r = s; r < e; r++)
                {
                    var src = new ReadOnlySpan<T>((T*)px + (long)r * len, len);
                    var dst = new Span<T>((T*)py + (long)r * len, len);
                    double mu = D(TensorPrimitives.Sum(src)) / len;
                    TensorPrimitives.Subtract(src, F<T>(mu), dst);
                    double inv = 1 / Math.Sqrt(D(TensorPrimitives.SumOfSquares<T>(dst)) / len + eps);
                    mean[r] = mu; rstd[r] = inv;
                    TensorPrimitives.Multiply(dst, F<T>(inv), dst);
                    if (pw != 0) TensorPrimitives.Multiply(dst, new ReadOnlySpan<T>((T*)pw, len), dst);
                    if (pb != 0) TensorPrimitives.Add(dst, new ReadOnlySpan<T>((T*)pb, len), dst);
                }
            });
        }
    }

    public static void LayerNormBackward<T>(Tensor x, Tensor? w, Tensor gy, Tensor? gx, Tensor? gw, int rows, int len, double[] mean, double[] rstd)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float) && Vector512.IsHardwareAccelerated && len % 16 == 0)
        {
            LayerNorm512.Backward(x, w, gy, gx, gw, rows, len, mean, rstd);
            return;
        }
        var gate = new object();
        fixed (T* px0 = x.Data<T>(), pg0 = gy.Data<T>(), pgx0 = gx is null ? null : gx.Data<T>(), pw0 = w is null ? null : w.Data<T>(),
               pgw0 = gw is null ? null : gw.Data<T>())
        {
            nint px = (nint)(px0 + x._offset), pg = (nint)(pg0 + gy._offset), pgx = (nint)pgx0, pgw = (nint)pgw0;
            nint pw = w is null ? 0 : (nint)(pw0 + w._offset);
            Parallelism.ForPerThread(rows, Math.Max(1, 16384 / Math.Max(1, len)), (s, e) =>
            {
                var xhat = new T[len];
                var dxhat = new T[len];
                var gwLocal = pgw != 0 ? new T[len] : null;
                for (int r = s; r < e; r++)
                {
                    var src = new ReadOnlySpan<T>((T*)px + (long)r * len, len);
                    var dy = new ReadOnlySpan<T>((T*)pg + (long)r * len, len);
                    T inv = F<T>(rstd[r]);
                    TensorPrimitives.Subtract(src, F<T>(mean[r]), xhat);
                    TensorPrimitives.Multiply(xhat, inv, xhat);
                    if (gwLocal is not null) TensorPrimitives.MultiplyAdd<T>(dy, xhat, gwLocal, gwLocal);
                    if (pgx == 0) continue;
                    if (pw != 0) TensorPrimitives.Multiply(dy, new ReadOnlySpan<T>((T*)pw, len), dxhat);
                    else dy.CopyTo(dxhat);
                    // dx = σ⁻¹·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂))
                    double mDx = D(TensorPrimitives.Sum<T>(dxhat)) / len;
                    double mDxX = D(TensorPrimitives.Dot<T>(dxhat, xhat)) / len;
                    var dst = new Span<T>((T*)pgx + (long)r * len, len);
                    TensorPrimitives.MultiplyAdd<T>(xhat, F<T>(-mDxX), dxhat, dst);
                    TensorPrimitives.Add(dst, F<T>(-mDx), dst);
                    TensorPrimitives.Multiply(dst, inv, dst);
                }
                if (gwLocal is not null)
                    lock (gate)
                    {
                        var total = new Span<T>((T*)pgw, len);
                        TensorPrimitives.Add<T>(total, gwLocal, total);
                    }
            });
        }
    }
}
/// <summary>float32 layer normalization over rows whose length is a multiple of 16, with AVX-512: each row is read
/// in L1-sized passes of whole vectors (sum, centred sum of squares, then the scaled and shifted output in one
/// write), and the backward pass fuses x̂, the weight gradient and the two row means into one pass plus one writing
/// dx — instead of six or seven library calls per row with their own loop overheads.</summary>
internal static unsafe class LayerNorm512
{
    public static void Forward(Tensor x, Tensor? w, Tensor? b, Tensor y, int rows, int len, double eps, double[] mean, double[] rstd)
    {
        fixed (float* px0 = x.Data<float>(), py0 = y.Data<float>(), pw0 = w is null ? null : w.Data<float>(), pb0 = b is null ? null : b.Data<float>())
        {
            nint px = (nint)(px0 + x._offset), py = (nint)py0;
            nint pw = w is null ? 0 : (nint)(pw0 + w._offset), pb = b is null ? 0 : (nint)(pb0 + b._offset);
            Parallelism.For(rows, Math.Max(1, 16384 / Math.Max(1, len)), [MethodImpl(MethodImplOptions.AggressiveOptimization)] (s, e) =>
            {
                for (int r = s; r < e; r++)
                {
                    float* src = (float*)px + (long)r * len, dst = (float*)py + (long)r * len;
                    var acc = Vector512<float>.Zero;
                    for (int j = 0; j < len; j += 16) acc += Vector512.Load(src + j);
                    float mu = Vector512.Sum(acc) / len;
                    var m = Vector512.Create(mu);
                    acc = Vector512<float>.Zero;
                    for (int j = 0; j < len; j += 16)
                    {
                        var d = Vector512.Load(src + j) - m;
                        acc = Vector512.FusedMultiplyAdd(d, d, acc);
                    }
                    double inv = 1 / Math.Sqrt((double)Vector512.Sum(acc) / len + eps);
                    mean[r] = mu; rstd[r] = inv;
                    var iv = Vector512.Create((float)inv);
                    for (int j = 0; j < len; j += 16)
                    {
                        var v = (Vector512.Load(src + j) - m) * iv;
                        if (pw != 0) v *= Vector512.Load((float*)pw + j);
                        if (pb != 0) v += Vector512.Load((float*)pb + j);
                        v.Store(dst + j);
                    }
                }
            });
        }
    }

    public static void Backward(Tensor x, Tensor? w, Tensor gy, Tensor? gx, Tensor? gw, int rows, int len, double[] mean, double[] rstd)
    {
        var gate = new object();
        fixed (float* px0 = x.Data<float>(), pg0 = gy.Data<float>(), pgx0 = gx is null ? null : gx.Data<float>(), pw0 = w is null ? null : w.Data<float>(),
               pgw0 = gw is null ? null : gw.Data<float>())
        {
            nint px = (nint)(px0 + x._offset), pg = (nint)(pg0 + gy._offset), pgx = (nint)pgx0, pgw = (nint)pgw0;
            nint pw = w is null ? 0 : (nint)(pw0 + w._offset);
            Parallelism.ForPerThread(rows, Math.Max(1, 16384 / Math.Max(1, len)), [MethodImpl(MethodImplOptions.AggressiveOptimization)] (s, e) =>
            {
                var gwLocal = pgw != 0 ? new float[len] : null;
                fixed (float* gl = gwLocal)
                {
                    for (int r = s; r < e; r++)
                    {
                        float* src = (float*)px + (long)r * len, dy = (float*)pg + (long)r * len;
                        var m = Vector512.Create((float)mean[r]);
                        var iv = Vector512.Create((float)rstd[r]);
                        // x̂ = (x − μ)·σ⁻¹; dx̂ = dy·w; Σdx̂ and Σdx̂·x̂; the weight gradient Σ_rows dy·x̂.
                        Vector512<float> sDx = default, sDxX = default;
                        for (int j = 0; j < len; j += 16)
                        {
                            var xh = (Vector512.Load(src + j) - m) * iv;
                            var g = Vector512.Load(dy + j);
                            if (gl != null) Vector512.FusedMultiplyAdd(g, xh, Vector512.Load(gl + j)).Store(gl + j);
                            var dxh = pw != 0 ? g * Vector512.Load((float*)pw + j) : g;
                            sDx += dxh;
                            sDxX = Vector512.FusedMultiplyAdd(dxh, xh, sDxX);
                        }
                        if (pgx == 0) continue;
                        // dx = σ⁻¹·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂))
                        var mDx = Vector512.Create(Vector512.Sum(sDx) / len);
                        var mDxX = Vector512.Create(Vector512.Sum(sDxX) / len);
                        float* dst = (float*)pgx + (long)r * len;
                        for (int j = 0; j < len; j += 16)
                        {
                            var xh = (Vector512.Load(src + j) - m) * iv;
                            var g = Vector512.Load(dy + j);
                            var dxh = pw != 0 ? g * Vector512.Load((float*)pw + j) : g;
                            ((dxh - mDx - xh * mDxX) * iv).Store(dst + j);
                        }
                    }
                }
                if (gwLocal is not null)
                    lock (gate)
                    {
                        var total = new Span<float>((float*)pgw, len);
                        TensorPrimitives.Add(total, gwLocal, total);
                    }
            });
        }
    }
}
