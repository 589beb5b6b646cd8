using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

using Ember.Kernels;

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
            throw new ArgumentException($"{op}: input must be (N, C, *), got {ShapeUtil.Str(input.Shape)}.");
        if (input.DType is not (DType.Float32 or DType.Float64))
            throw new NotSupportedException($"{op}: needs float32 or float64, got {input.DType.Name()}.");
        int c = input.Size(1);
        foreach (var (name, t) in new[] { ("running_mean", runningMean), ("running_var", runningVar), ("weight", weight), ("bias", bias) })
            if (t is not null && (t.Dim != 1 || t.Size(0) != c))
                throw new ArgumentException($"{op}: {name} shape {ShapeUtil.Str(t.Shape)} does not match the {c} channels of input {ShapeUtil.Str(input.Shape)}.");
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
        int n = input.Size(0), spatial = input.NumEl / Math.Max(1, n * c);
        if ((long)n * spatial <= 1)
            throw new ArgumentException($"{op}: expected more than 1 value per channel when training, got input {ShapeUtil.Str(input.Shape)}.");
        var x = input.Contiguous();
        var y = Tensor.Empty(x.DType, x.Shape);
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
            Tensor.RefuseHigherOrder("NativeBatchNormBackward");
            var gy = g.Contiguous();
            var gx = input.RequiresGrad ? Tensor.Empty(x.DType, x.Shape) : null;
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
        if (k == 0 || k > input.Dim || !input.Shape.AsSpan(input.Dim - k).SequenceEqual(normalizedShape))
            throw new ArgumentException($"{op}: input shape {ShapeUtil.Str(input.Shape)} does not end in normalized_shape {ShapeUtil.Str(normalizedShape)}.");
        if (input.DType is not (DType.Float32 or DType.Float64))
            throw new NotSupportedException($"{op}: needs float32 or float64, got {input.DType.Name()}.");
        foreach (var (name, t) in new[] { ("weight", weight), ("bias", bias) })
            if (t is not null && !ShapeUtil.SameShape(t.Shape, normalizedShape))
                throw new ArgumentException($"{op}: {name} shape {ShapeUtil.Str(t.Shape)} must equal normalized_shape {ShapeUtil.Str(normalizedShape)}.");
        int len = 1;
        foreach (var s in normalizedShape) len *= s;
        int rows = input.NumEl / Math.Max(1, len);
        var x = input.Contiguous();
        var y = Tensor.Empty(x.DType, x.Shape);
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
            Tensor.RefuseHigherOrder("NativeLayerNormBackward");
            var gy = g.Contiguous();
            var gx = input.RequiresGrad ? Tensor.Empty(x.DType, x.Shape) : null;
            var gw = weight is { RequiresGrad: true } ? Tensor.Empty(x.DType, weight.Shape, zero: true) : null;
            var gb = bias is { RequiresGrad: true } ? gy.Reshape(rows, len).Sum(0).View(bias.Shape) : null;
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
        if (input.Dim < 2) throw new ArgumentException($"{op}: input must be (N, C, *), got {ShapeUtil.Str(input.Shape)}.");
        int n = input.Size(0), c = input.Size(1);
        if (numGroups < 1 || c % numGroups != 0)
            throw new ArgumentException($"{op}: num_groups={numGroups} must divide the {c} channels of input {ShapeUtil.Str(input.Shape)}.");
        foreach (var (name, t) in new[] { ("weight", weight), ("bias", bias) })
            if (t is not null && (t.Dim != 1 || t.Size(0) != c))
                throw new ArgumentException($"{op}: {name} shape {ShapeUtil.Str(t.Shape)} does not match the {c} channels.");
        int per = input.NumEl / Math.Max(1, n * numGroups);
        var y = LayerNorm(input.Reshape(n, numGroups, per), [per], eps: eps).View(input.Shape);
        var shape = new int[input.Dim];
        Array.Fill(shape, 1);
        shape[1] = c;
        if (weight is not null) y = y.Mul(weight.View(shape));
        if (bias is not null) y = y.Add(bias.View(shape));
        return y;
    }
}
