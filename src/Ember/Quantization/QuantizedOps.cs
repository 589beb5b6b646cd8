using System.Buffers;
using System.Numerics.Tensors;
using Ember.Kernels;
using Ember.NN;

namespace Ember.Quantization;

/// <summary>The int8 layers' forward: inputs quantized to 7-bit levels (per row, per image, or with a calibrated
/// range), multiplied with the int8 weight in int32 (<see cref="Int8Gemm"/>), dequantized into float32 with the bias
/// (and ReLU) applied.</summary>
internal static unsafe class QuantizedOps
{
    private static readonly Int8Path Path = Int8Gemm.DetectPath();

    /// <summary>y = x·Wᵀ + b with W int8, x float32 (…, in) → (…, out). Each row is quantized on its own, so a row's
    /// output does not depend on the other rows of the batch. Backward: the gradient reaches x through the
    /// dequantized weight (straight through the activation rounding) and the bias; the int8 weight is not trained.</summary>
    public static Tensor Linear(Tensor x, Int8Weight w, Tensor? bias, bool relu, ActivationRange? input = null)
    {
        int k = w.InFeatures, m = w.OutFeatures;
        if (x.DType != DType.Float32)
            throw new ArgumentException($"Linear (int8): input must be float32, got {x.DType.Name()} {ShapeUtil.Str(x.Shape)}.");
        if (x.Dim == 0 || x.Size(-1) != k)
            throw new ArgumentException($"Linear (int8): input shape {ShapeUtil.Str(x.Shape)} does not end in in_features={k}.");
        if (bias is not null && (bias.Dim != 1 || bias.Size(0) != m || bias.DType != DType.Float32))
            throw new ArgumentException($"Linear (int8): bias must be float32 ({m}), got {bias.DType.Name()} {ShapeUtil.Str(bias.Shape)}.");
        var lead = x.Shape[..^1];
        var flat = x.Reshape(-1, k);
        if (flat._strides[1] != 1) flat = flat.Contiguous();
        int n = flat.Size(0);
        Diagnostics.Profiler.AddFlops(2L * n * k * m);
        var y = Tensor.Empty(DType.Float32, [n, m]);
        var (packed, sums) = w.Prepared();
        var b = bias?.Detach().Contiguous();
        var ws = w.Scales.Contiguous();
        int kp = Int8Gemm.PaddedK(k);
        var q = ArrayPool<byte>.Shared.Rent(Math.Max(1, n * kp));
        var scales = ArrayPool<float>.Shared.Rent(Math.Max(1, n));
        var zeros = ArrayPool<int>.Shared.Rent(Math.Max(1, n));
        try
        {
            fixed (float* px = flat.Data<float>(), pws = ws.Data<float>(), pb0 = b is null ? null : b.Data<float>(),
                   py = y.Data<float>(), psc = scales)
            fixed (byte* pq = q)
            fixed (int* pz = zeros, psum = sums)
            fixed (sbyte* pw = packed)
            {
                float* pb = pb0 == null ? null : pb0 + b!._offset;
                if (input is null) Int8Gemm.QuantizeRows("Linear (int8)", n, k, px + flat._offset, flat._strides[0], pq, kp, psc, pz);
                else Int8Gemm.QuantizeRowsStatic("Linear (int8)", n, k, px + flat._offset, flat._strides[0], pq, kp, input.Scale, input.ZeroPoint, psc, pz);
                Int8Gemm.Gemm(n, m, k, pq, kp, psc, pz, pw, pws + ws._offset, psum, pb, py, m, relu, Path);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(q);
            ArrayPool<float>.Shared.Return(scales);
            ArrayPool<int>.Shared.Return(zeros);
        }
        var result = y;
        if (GradMode.IsEnabled && (flat.RequiresGrad || (bias?.RequiresGrad ?? false)))
        {
            var output = y.Detach();
            Tensor[] inputs = bias is null ? [flat] : [flat, bias];
            result = y.Record(relu ? "QuantizedLinearReluBackward" : "QuantizedLinearBackward", inputs, g =>
            {
                if (relu) g = Elementwise.Backward("ReluBackward", new ReluBackwardOp<float>(), g, output);
                var gx = flat.RequiresGrad ? g.Matmul(w.Dequantize()) : null;
                return bias is null ? [gx] : [gx, bias.RequiresGrad ? g.Sum(0) : null];
            });
        }
        return result.View([.. lead, m]);
    }

    /// <summary>A 2-D convolution with an int8 kernel (C_out, C·kH·kW). Each image is quantized once (one scale and
    /// zero point per image from its range, or the calibrated ones) into channels-last bytes; each output pixel's
    /// receptive field is then gathered as a row of bytes, tap by tap as runs of C channels (the zero point outside the
    /// image, which stands for 0), against the kernel reordered to (C_out, kH, kW, C); the int8 product gives the
    /// (pixels, C_out) outputs, laid out as (N, C_out, OH, OW). Inference only: reaching this op in a backward pass
    /// is an error.</summary>
    public static Tensor Conv2d(Tensor x, Int8Weight w, Tensor? bias, Size2 kernel, Size2 stride, Padding padding, Size2 dilation, bool relu,
        ActivationRange? input = null)
    {
        const string op = "Conv2d (int8)";
        if (x.Dim != 4 || x.DType != DType.Float32)
            throw new ArgumentException($"{op}: input must be float32 (N, C, H, W), got {x.DType.Name()} {ShapeUtil.Str(x.Shape)}.");
        int n = x.Size(0), c = x.Size(1), h = x.Size(2), wd = x.Size(3), cout = w.OutFeatures;
        if (c * kernel.H * kernel.W != w.InFeatures)
            throw new ArgumentException($"{op}: input has {c} channels; the kernel takes {w.InFeatures / (kernel.H * kernel.W)}.");
        if (bias is not null && (bias.Dim != 1 || bias.Size(0) != cout || bias.DType != DType.Float32))
            throw new ArgumentException($"{op}: bias must be float32 ({cout}), got {bias.DType.Name()} {ShapeUtil.Str(bias.Shape)}.");
        var g = NN.Functional.Geometry(op, c, h, wd, kernel.H, kernel.W, stride, padding, dilation);
        int pixels = g.OH * g.OW, k = w.InFeatures, kp = Int8Gemm.PaddedK(k), plane = h * wd;
        var (packed, sums) = w.TapMajor(c, kernel.H, kernel.W);
        var xc = x.Detach().Contiguous();
        var b = bias?.Detach().Contiguous();
        var ws = w.Scales.Contiguous();
        var y = Tensor.Empty(DType.Float32, [n * pixels, cout]);
        var image = ArrayPool<byte>.Shared.Rent(n * plane * c);
        var rows = ArrayPool<byte>.Shared.Rent(n * pixels * kp);
        var scales = ArrayPool<float>.Shared.Rent(n * pixels);
        var zeros = ArrayPool<int>.Shared.Rent(n * pixels);
        try
        {
            fixed (float* px0 = xc.Data<float>(), pws = ws.Data<float>(), pb0 = b is null ? null : b.Data<float>(), py = y.Data<float>(), psc = scales)
            fixed (byte* pimg = image, prow = rows)
            fixed (int* pz = zeros, psum = sums)
            fixed (sbyte* pw = packed)
            {
                float* px = px0 + xc._offset;
                // Per image: its scale and zero point, then its bytes channels-last (planes quantized, then interleaved).
                nint pxi = (nint)px, pimgi = (nint)pimg, pscs = (nint)psc, pzs = (nint)pz;
                Parallelism.For(n, 1, (s0, e0) =>
                {
                    var tmp = c > 1 && e0 - s0 > 0 ? new byte[plane * c] : null;
                    fixed (byte* pt = tmp)
                        for (int img = s0; img < e0; img++)
                        {
                            float* src = (float*)pxi + (long)img * c * plane;
                            float scale;
                            int zp;
                            var all = new ReadOnlySpan<float>(src, c * plane);
                            if (input is not null)
                            {
                                if (!float.IsFinite(TensorPrimitives.MaxMagnitude(all)))
                                    throw new ArgumentException($"{op}: image {img} holds a non-finite value; int8 quantization needs finite inputs.");
                                (scale, zp) = (input.Scale, input.ZeroPoint);
                            }
                            else
                            {
                                float lo = TensorPrimitives.Min(all), hi = TensorPrimitives.Max(all);
                                if (!float.IsFinite(lo) || !float.IsFinite(hi))
                                    throw new ArgumentException($"{op}: image {img} holds a non-finite value (min {lo}, max {hi}); int8 quantization needs finite inputs.");
                                (scale, zp) = Int8Gemm.RowParameters(lo, hi);
                            }
                            new Span<float>((float*)pscs + (long)img * pixels, pixels).Fill(scale);
                            new Span<int>((int*)pzs + (long)img * pixels, pixels).Fill(zp);
                            byte* dstImg = (byte*)pimgi + (long)img * plane * c;
                            Int8Gemm.QuantizeRow(src, c * plane, 1 / scale, zp, c == 1 ? dstImg : pt);
                            if (c > 1) TransposeBytes(pt, c, plane, dstImg);
                        }
                });
                nint pi = (nint)pimg, pr = (nint)prow, pzz = (nint)pz;
                Parallelism.For(n * g.OH, Math.Max(1, 65536 / Math.Max(1, g.OW * kp)), (s0, e0) =>
                {
                    for (int row = s0; row < e0; row++)
                    {
                        int img = row / g.OH, oh = row % g.OH;
                        byte zpb = (byte)((int*)pzz)[(long)img * pixels];
                        byte* imgBase = (byte*)pi + (long)img * plane * c;
                        for (int ow = 0; ow < g.OW; ow++)
                        {
                            byte* dst = (byte*)pr + ((long)row * g.OW + ow) * kp;
                            for (int ki = 0; ki < g.KH; ki++)
                            {
                                int ih = oh * g.SH - g.PadTop + ki * g.DH;
                                for (int kj = 0; kj < g.KW; kj++, dst += c)
                                {
                                    int iw = ow * g.SW - g.PadLeft + kj * g.DW;
                                    if ((uint)ih < (uint)h && (uint)iw < (uint)wd) Buffer.MemoryCopy(imgBase + ((long)ih * wd + iw) * c, dst, c, c);
                                    else new Span<byte>(dst, c).Fill(zpb);
                                }
                            }
                            new Span<byte>(dst, kp - k).Clear();
                        }
                    }
                });
                Int8Gemm.Gemm(n * pixels, cout, k, prow, kp, psc, pz, pw, pws + ws._offset, psum, pb0 == null ? null : pb0 + b!._offset, py, cout, relu, Path);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(image);
            ArrayPool<byte>.Shared.Return(rows);
            ArrayPool<float>.Shared.Return(scales);
            ArrayPool<int>.Shared.Return(zeros);
        }
        var result = Tensor.Empty(DType.Float32, [n, cout, g.OH, g.OW]);
        fixed (float* py = y.Data<float>(), pr = result.Data<float>())
        {
            nint pyi = (nint)py, pri = (nint)pr;
            Parallelism.For(n, 1, (s0, e0) =>
            {
                for (int img = s0; img < e0; img++)
                    TransposeFloats((float*)pyi + (long)img * pixels * cout, pixels, cout, (float*)pri + (long)img * pixels * cout);
            });
        }
        if (GradMode.IsEnabled && (x.RequiresGrad || (bias?.RequiresGrad ?? false)))
            result = result.Record("QuantizedConv2dBackward", x, _ => throw new NotSupportedException(
                $"{op}: no backward through an int8 convolution; quantize after training, or fine-tune the float model."));
        return result;
    }

    /// <summary>dst (cols × rows) = srcᵀ for a dense (rows × cols) byte matrix, in 16×16 blocks.</summary>
    private static void TransposeBytes(byte* src, int rows, int cols, byte* dst)
    {
        for (int r0 = 0; r0 < rows; r0 += 16)
            for (int c0 = 0; c0 < cols; c0 += 16)
            {
                int r1 = Math.Min(rows, r0 + 16), c1 = Math.Min(cols, c0 + 16);
                for (int r = r0; r < r1; r++)
                    for (int cc = c0; cc < c1; cc++) dst[(long)cc * rows + r] = src[(long)r * cols + cc];
            }
    }

    /// <summary>dst (cols × rows) = srcᵀ for a dense (rows × cols) float matrix: 8×8 blocks in registers
    /// (<see cref="Gemm.Transpose8x8"/>), the edges element by element.</summary>
    private static void TransposeFloats(float* src, int rows, int cols, float* dst)
    {
        int r8 = 0, c8 = 0;
        if (System.Runtime.Intrinsics.X86.Avx.IsSupported)
        {
            (r8, c8) = (rows & ~7, cols & ~7);
            for (int r0 = 0; r0 < r8; r0 += 8)
                for (int c0 = 0; c0 < c8; c0 += 8)
                    Gemm.Transpose8x8(src + (long)r0 * cols + c0, cols, dst + (long)c0 * rows + r0, rows);
        }
        for (int r = 0; r < rows; r++)
            for (int c = r < r8 ? c8 : 0; c < cols; c++) dst[(long)c * rows + r] = src[(long)r * cols + c];
    }
}
