using System.Numerics;
using System.Runtime.Intrinsics;
using Ember.Kernels;

namespace Ember.NN;

public static partial class Functional
{
    /// <summary>2-D max pooling. Shape: (N, C, H, W) or (C, H, W) → (…, OH, OW). Stride defaults to the kernel
    /// size; padding (at most half the kernel) pads with −∞; NaN propagates as in PyTorch.</summary>
    public static Tensor MaxPool2d(Tensor input, Size2 kernelSize, Size2? stride = null, Size2? padding = null, Size2? dilation = null, bool ceilMode = false)
    {
        const string op = "MaxPool2d";
        var (x, batched) = PoolInput(op, input, 4);
        var geo = PoolGeometry(op, x, kernelSize, stride ?? kernelSize, padding ?? 0, dilation ?? 1, ceilMode);
        var y = MaxPoolCore(x, geo).Y;
        return batched ? y : y.Squeeze(0);
    }

    /// <summary><see cref="MaxPool2d"/> that also returns, for each output, the flat index (h·W + w) of the
    /// chosen input in its plane (int64, as PyTorch's <c>return_indices=True</c>).</summary>
    public static (Tensor Values, Tensor Indices) MaxPool2dWithIndices(Tensor input, Size2 kernelSize, Size2? stride = null, Size2? padding = null,
        Size2? dilation = null, bool ceilMode = false)
    {
        const string op = "MaxPool2d";
        var (x, batched) = PoolInput(op, input, 4);
        var geo = PoolGeometry(op, x, kernelSize, stride ?? kernelSize, padding ?? 0, dilation ?? 1, ceilMode);
        var (y, idx) = MaxPoolCore(x, geo, withIndices: true);
        var indices = Tensor.FromArray(Array.ConvertAll(idx, v => (long)v), y.Shape);
        return batched ? (y, indices) : (y.Squeeze(0), indices.Squeeze(0));
    }

    /// <summary>1-D max pooling: (N, C, L) or (C, L) → (…, OL).</summary>
    public static Tensor MaxPool1d(Tensor input, int kernelSize, int? stride = null, int padding = 0, int dilation = 1, bool ceilMode = false)
    {
        if (input.Dim is not (2 or 3)) throw new ArgumentException($"MaxPool1d: input must be (N, C, L) or (C, L), got {ShapeUtil.Str(input.Shape)}.");
        return MaxPool2d(input.Unsqueeze(-2), (1, kernelSize), (1, stride ?? kernelSize), (0, padding), (1, dilation), ceilMode).Squeeze(-2);
    }

    /// <summary>2-D average pooling: (N, C, H, W) or (C, H, W) → (…, OH, OW). With <paramref name="countIncludePad"/>
    /// the zero padding counts in the divisor; <paramref name="divisorOverride"/> replaces the divisor.</summary>
    public static Tensor AvgPool2d(Tensor input, Size2 kernelSize, Size2? stride = null, Size2? padding = null, bool ceilMode = false,
        bool countIncludePad = true, int? divisorOverride = null)
    {
        const string op = "AvgPool2d";
        if (divisorOverride is <= 0) throw new ArgumentException($"{op}: divisor_override must be positive, got {divisorOverride}.");
        var (x, batched) = PoolInput(op, input, 4);
        var geo = PoolGeometry(op, x, kernelSize, stride ?? kernelSize, padding ?? 0, 1, ceilMode);
        var y = AvgPoolCore(x, geo, countIncludePad, divisorOverride);
        return batched ? y : y.Squeeze(0);
    }

    /// <summary>1-D average pooling: (N, C, L) or (C, L) → (…, OL).</summary>
    public static Tensor AvgPool1d(Tensor input, int kernelSize, int? stride = null, int padding = 0, bool ceilMode = false, bool countIncludePad = true)
    {
        if (input.Dim is not (2 or 3)) throw new ArgumentException($"AvgPool1d: input must be (N, C, L) or (C, L), got {ShapeUtil.Str(input.Shape)}.");
        return AvgPool2d(input.Unsqueeze(-2), (1, kernelSize), (1, stride ?? kernelSize), (0, padding), ceilMode, countIncludePad).Squeeze(-2);
    }

    /// <summary>Adaptive average pooling to a fixed output size: output cell i averages input rows
    /// ⌊i·H/OH⌋ … ⌈(i+1)·H/OH⌉ − 1 (and likewise for columns), as PyTorch.</summary>
    public static Tensor AdaptiveAvgPool2d(Tensor input, Size2 outputSize)
    {
        const string op = "AdaptiveAvgPool2d";
        var (x, batched) = PoolInput(op, input, 4);
        if (outputSize.H < 1 || outputSize.W < 1) throw new ArgumentException($"{op}: output size must be positive, got {outputSize}.");
        Tensor y;
        if (outputSize.H == 1 && outputSize.W == 1) y = x.Mean([2, 3], keepDim: true);
        else
        {
            // Separable: average rows, then columns, each as a matmul with a (out × in) averaging matrix.
            var ph = AdaptiveMatrix(x.Size(2), outputSize.H, x.DType);
            var pw = AdaptiveMatrix(x.Size(3), outputSize.W, x.DType);
            y = ph.Matmul(x).Matmul(pw.T);
        }
        return batched ? y : y.Squeeze(0);
    }

    /// <summary>Adaptive average pooling over the last dim: (N, C, L) or (C, L) → (…, outputSize).</summary>
    public static Tensor AdaptiveAvgPool1d(Tensor input, int outputSize)
    {
        if (input.Dim is not (2 or 3)) throw new ArgumentException($"AdaptiveAvgPool1d: input must be (N, C, L) or (C, L), got {ShapeUtil.Str(input.Shape)}.");
        if (outputSize < 1) throw new ArgumentException($"AdaptiveAvgPool1d: output size must be positive, got {outputSize}.");
        return input.Matmul(AdaptiveMatrix(input.Size(-1), outputSize, input.DType).T);
    }

    private static Tensor AdaptiveMatrix(int n, int outN, DType dtype)
    {
        var m = new double[outN * n];
        for (int i = 0; i < outN; i++)
        {
            int start = (int)((long)i * n / outN), end = (int)(((long)(i + 1) * n + outN - 1) / outN);
            for (int j = start; j < end; j++) m[i * n + j] = 1.0 / (end - start);
        }
        return Tensor.FromArray(m, outN, n).To(dtype);
    }

    private static (Tensor X, bool Batched) PoolInput(string op, Tensor input, int dims)
    {
        if (input.Dim != dims && input.Dim != dims - 1)
            throw new ArgumentException($"{op}: input must be (N, C, H, W) or (C, H, W), got {ShapeUtil.Str(input.Shape)}.");
        if (input.DType is not (DType.Float32 or DType.Float64))
            throw new NotSupportedException($"{op}: needs float32 or float64, got {input.DType.Name()}.");
        return input.Dim == dims ? (input, true) : (input.Unsqueeze(0), false);
    }

    private static ConvGeometry PoolGeometry(string op, Tensor x, Size2 k, Size2 s, Size2 p, Size2 d, bool ceilMode)
    {
        int h = x.Size(2), w = x.Size(3);
        if (k.H < 1 || k.W < 1 || s.H < 1 || s.W < 1 || d.H < 1 || d.W < 1)
            throw new ArgumentException($"{op}: kernel size {k}, stride {s} and dilation {d} must be positive.");
        if (p.H < 0 || p.W < 0 || p.H > k.H / 2 || p.W > k.W / 2)
            throw new ArgumentException($"{op}: padding {p} must be non-negative and at most half the kernel size {k}.");
        int OutSize(int n, int kk, int ss, int pp, int dd)
        {
            int span = n + 2 * pp - dd * (kk - 1) - 1;
            if (span < 0) return 0;
            int o = (ceilMode ? (span + ss - 1) / ss : span / ss) + 1;
            // The last window must start inside the input or its left padding (PyTorch's rule).
            if (ceilMode && (o - 1) * ss >= n + pp) o--;
            return o;
        }
        int oh = OutSize(h, k.H, s.H, p.H, d.H), ow = OutSize(w, k.W, s.W, p.W, d.W);
        if (oh <= 0 || ow <= 0)
            throw new ArgumentException($"{op}: input {ShapeUtil.Str(x.Shape)} is too small for kernel {k} with padding {p} and dilation {d} (output {oh}×{ow}).");
        return new ConvGeometry(x.Size(1), h, w, k.H, k.W, s.H, s.W, p.H, p.W, d.H, d.W, oh, ow);
    }

    private static (Tensor Y, int[] Indices) MaxPoolCore(Tensor input, ConvGeometry geo, bool withIndices = false)
    {
        var x = input.Contiguous();
        int planes = x.Size(0) * x.Size(1);
        var y = Tensor.Empty(x.DType, [x.Size(0), x.Size(1), geo.OH, geo.OW]);
        var idx = new int[planes * geo.OutPlane];
        var shape = x.Shape;
        if (!withIndices && x.DType == DType.Float32 && MaxPool2x2.Applies(geo))
        {
            // idx holds which of the four window positions won (row·2 + column), not plane offsets.
            MaxPool2x2.Forward(x, y, idx, planes, geo.H, geo.W);
            if (!(GradMode.IsEnabled && input.RequiresGrad)) return (y, idx);
            return (y.Record("MaxPool2DBackward", input, g =>
            {
            Tensor.RefuseHigherOrder("MaxPool2DBackward");
                var gx = Tensor.Empty(g.DType, shape);
                MaxPool2x2.Backward(g.Contiguous(), idx, gx, planes, geo.H, geo.W);
                return gx;
            }), idx);
        }
        if (x.DType == DType.Float32) PoolKernels.MaxForward<float>(x, y, idx, geo, planes);
        else PoolKernels.MaxForward<double>(x, y, idx, geo, planes);
        if (!(GradMode.IsEnabled && input.RequiresGrad)) return (y, idx);
        var r = y.Record("MaxPool2DBackward", input, g =>
        {
            Tensor.RefuseHigherOrder("MaxPool2DBackward");
            var gx = Tensor.Empty(g.DType, shape, zero: true);
            var gc = g.Contiguous();
            if (g.DType == DType.Float32) PoolKernels.MaxBackward<float>(gc, gx, idx, geo, planes);
            else PoolKernels.MaxBackward<double>(gc, gx, idx, geo, planes);
            return gx;
        });
        return (r, idx);
    }

    private static Tensor AvgPoolCore(Tensor input, ConvGeometry geo, bool countIncludePad, int? divisorOverride)
    {
        var x = input.Contiguous();
        int planes = x.Size(0) * x.Size(1);
        var y = Tensor.Empty(x.DType, [x.Size(0), x.Size(1), geo.OH, geo.OW]);
        if (x.DType == DType.Float32) PoolKernels.AvgForward<float>(x, y, geo, planes, countIncludePad, divisorOverride);
        else PoolKernels.AvgForward<double>(x, y, geo, planes, countIncludePad, divisorOverride);
        if (!(GradMode.IsEnabled && input.RequiresGrad)) return y;
        var shape = x.Shape;
        return y.Record("AvgPool2DBackward", input, g =>
        {
            Tensor.RefuseHigherOrder("AvgPool2DBackward");
            var gx = Tensor.Empty(g.DType, shape, zero: true);
            var gc = g.Contiguous();
            if (g.DType == DType.Float32) PoolKernels.AvgBackward<float>(gc, gx, geo, planes, countIncludePad, divisorOverride);
            else PoolKernels.AvgBackward<double>(gc, gx, geo, planes, countIncludePad, divisorOverride);
            return gx;
        });
    }
}
