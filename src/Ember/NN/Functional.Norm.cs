using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Ember.NN;

public static partial class Functional
{
    /// <summary>Batch normalization over (N, C, *) per channel (PyTorch's <c>F.batch_norm</c>). In training the batch
    /// statistics normalize (biased variance) and, when given, the running statistics are updated in place:
    /// running = (1 − momentum)·running + momentum·batch (unbiased variance). In eval the running statistics normalize.
    /// The training pass is one fused kernel forward and one backward.</summary>
    public static Tensor BatchNorm(Tensor input, Tensor? runningMean, Tensor? runningVar, Tensor? weight = null, Tensor? bias = null,
        bool training = false, double momentum = 0.1, double eps = 1e-5)
    {
        const string op = "BatchNorm";
        if (input.Dim < 2)
            throw new ArgumentException($"{op}: input must be (N, C, *), got {ShapeUtil.Str(input._shape)}.");
        if (input.DType is not (DType.Float32 or DType.Float64))
            throw new NotSupportedException($"{op}: needs float32 or float64, got {input.DType.Name()}.");
        int c = input._shape[1];
        foreach (var (name, t) in new[] { ("running_mean", runningMean), ("running_var", runningVar), ("weight", weight), ("bias", bias) })
            if (t is not null && (t.Dim != 1 || t._shape[0] != c))
                throw new ArgumentException($"{op}: {name} shape {ShapeUtil.Str(t._shape)} does not match the {c} channels of input {ShapeUtil.Str(input._shape)}.");
        if (!training)
        {
            if (runningMean is null || runningVar is null)
                throw new ArgumentException($"{op}: eval mode needs running_mean and running_var (or use batch statistics with training: true).");
            var shape = new int[input.Dim];
            Array.Fill(shape, 1);
            shape[1] = c;
            var scale = runningVar.Detach().Add(eps).Rsqrt();
            if (weight is not null) scale = scale.Mul(weight);
            var shift = runningMean.Detach().Neg().Mul(scale);
            if (bias is not null) shift = shift.Add(bias);
            return input.Mul(scale.View(shape)).Add(shift.View(shape));
        }
        int n = input._shape[0], spatial = input.NumEl / Math.Max(1, n * c);
        if ((long)n * spatial <= 1)
            throw new ArgumentException($"{op}: expected more than 1 value per channel when training, got input {ShapeUtil.Str(input._shape)}.");
        var x = input.Contiguous();
        var y = Tensor.Empty(x.DType, x._shape);
        var mean = new double[c];
        var invStd = new double[c];
        if (x.DType == DType.Float32) NormKernels.BatchNormForward<float>(x, weight, bias, y, n, c, spatial, eps, mean, invStd);
        else NormKernels.BatchNormForward<double>(x, weight, bias, y, n, c, spatial, eps, mean, invStd);
        if (runningMean is not null || runningVar is not null)
        {
            long m = (long)n * spatial;
            var batchMean = Tensor.FromArray(mean).To(x.DType);
            var batchVar = Tensor.FromArray(Array.ConvertAll(invStd, s => (1 / (s * s) - eps) * m / (m - 1))).To(x.DType);
            using (Tensor.NoGrad())
            {
                runningMean?.MulInPlace(1 - momentum).AddInPlace(batchMean.Mul(momentum));
                runningVar?.MulInPlace(1 - momentum).AddInPlace(batchVar.Mul(momentum));
            }
        }
        bool needsGrad = input.RequiresGrad || (weight?.RequiresGrad ?? false) || (bias?.RequiresGrad ?? false);
        if (!(GradMode.IsEnabled && needsGrad)) return y;
        Tensor[] saved = weight is null ? [input] : [input, weight];
        return y.Record("NativeBatchNormBackward", [input, weight, bias], g =>
        {
            var gy = g.Contiguous();
            var gx = input.RequiresGrad ? Tensor.Empty(x.DType, x._shape) : null;
            var gw = new double[c];
            var gb = new double[c];
            if (x.DType == DType.Float32) NormKernels.BatchNormBackward<float>(x, weight, gy, gx, n, c, spatial, mean, invStd, gw, gb);
            else NormKernels.BatchNormBackward<double>(x, weight, gy, gx, n, c, spatial, mean, invStd, gw, gb);
            return [gx, weight is { RequiresGrad: true } ? Tensor.FromArray(gw).To(x.DType) : null,
                bias is { RequiresGrad: true } ? Tensor.FromArray(gb).To(x.DType) : null];
        }, saved);
    }

    /// <summary>Layer normalization over the trailing dims <paramref name="normalizedShape"/>, with an optional
    /// elementwise affine transform of that shape (PyTorch's <c>F.layer_norm</c>). One fused kernel each way.</summary>
    public static Tensor LayerNorm(Tensor input, int[] normalizedShape, Tensor? weight = null, Tensor? bias = null, double eps = 1e-5)
    {
        const string op = "LayerNorm";
        int k = normalizedShape.Length;
        if (k == 0 || k > input.Dim || !input._shape.AsSpan(input.Dim - k).SequenceEqual(normalizedShape))
            throw new ArgumentException($"{op}: input shape {ShapeUtil.Str(input._shape)} does not end in normalized_shape {ShapeUtil.Str(normalizedShape)}.");
        if (input.DType is not (DType.Float32 or DType.Float64))
            throw new NotSupportedException($"{op}: needs float32 or float64, got {input.DType.Name()}.");
        foreach (var (name, t) in new[] { ("weight", weight), ("bias", bias) })
            if (t is not null && !ShapeUtil.SameShape(t._shape, normalizedShape))
                throw new ArgumentException($"{op}: {name} shape {ShapeUtil.Str(t._shape)} must equal normalized_shape {ShapeUtil.Str(normalizedShape)}.");
        int len = 1;
        foreach (var s in normalizedShape) len *= s;
        int rows = input.NumEl / Math.Max(1, len);
        var x = input.Contiguous();
        var y = Tensor.Empty(x.DType, x._shape);
        var mean = new double[rows];
        var rstd = new double[rows];
        var w = weight?.Contiguous();
        var b = bias?.Contiguous();
        if (x.DType == DType.Float32) NormKernels.LayerNormForward<float>(x, w, b, y, rows, len, eps, mean, rstd);
        else NormKernels.LayerNormForward<double>(x, w, b, y, rows, len, eps, mean, rstd);
        bool needsGrad = input.RequiresGrad || (weight?.RequiresGrad ?? false) || (bias?.RequiresGrad ?? false);
        if (!(GradMode.IsEnabled && needsGrad)) return y;
        Tensor[] saved = weight is null ? [input] : [input, weight];
        return y.Record("NativeLayerNormBackward", [input, weight, bias], g =>
        {
            var gy = g.Contiguous();
            var gx = input.RequiresGrad ? Tensor.Empty(x.DType, x._shape) : null;
            var gw = weight is { RequiresGrad: true } ? Tensor.Empty(x.DType, weight._shape, zero: true) : null;
            var gb = bias is { RequiresGrad: true } ? gy.Reshape(rows, len).Sum(0).View(bias._shape) : null;
            if (x.DType == DType.Float32) NormKernels.LayerNormBackward<float>(x, w, gy, gx, gw, rows, len, mean, rstd);
            else NormKernels.LayerNormBackward<double>(x, w, gy, gx, gw, rows, len, mean, rstd);
            return [gx, gw, gb];
        }, saved);
    }

    /// <summary>Group normalization: channels split into <paramref name="numGroups"/> groups, each (sample, group)
    /// normalized over its channels and positions, then a per-channel affine transform (Wu &amp; He, 2018).</summary>
    public static Tensor GroupNorm(Tensor input, int numGroups, Tensor? weight = null, Tensor? bias = null, double eps = 1e-5)
    {
        const string op = "GroupNorm";
        if (input.Dim < 2) throw new ArgumentException($"{op}: input must be (N, C, *), got {ShapeUtil.Str(input._shape)}.");
        int n = input._shape[0], c = input._shape[1];
        if (numGroups < 1 || c % numGroups != 0)
            throw new ArgumentException($"{op}: num_groups={numGroups} must divide the {c} channels of input {ShapeUtil.Str(input._shape)}.");
        foreach (var (name, t) in new[] { ("weight", weight), ("bias", bias) })
            if (t is not null && (t.Dim != 1 || t._shape[0] != c))
                throw new ArgumentException($"{op}: {name} shape {ShapeUtil.Str(t._shape)} does not match the {c} channels.");
        int per = input.NumEl / Math.Max(1, n * numGroups);
        var y = LayerNorm(input.Reshape(n, numGroups, per), [per], eps: eps).View(input._shape);
        var shape = new int[input.Dim];
        Array.Fill(shape, 1);
        shape[1] = c;
        if (weight is not null) y = y.Mul(weight.View(shape));
        if (bias is not null) y = y.Add(bias.View(shape));
        return y;
    }
}

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
