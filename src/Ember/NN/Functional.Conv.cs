using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Ember.Kernels;

namespace Ember.NN;

public static partial class Functional
{
    /// <summary>2-D convolution (cross-correlation, as PyTorch). Shape: input (N, C, H, W) or (C, H, W), weight
    /// (O, C/groups, kH, kW), bias (O) → (N, O, OH, OW) with OH = ⌊(H + 2·pad − dil·(kH − 1) − 1)/stride⌋ + 1.
    /// Lowered to the matrix product: each image is unfolded (im2col) and multiplied by the weight matrix;
    /// both backward passes are products too (col2im for the input gradient).</summary>
    public static Tensor Conv2d(Tensor input, Tensor weight, Tensor? bias = null, Size2? stride = null, Padding? padding = null,
        Size2? dilation = null, int groups = 1)
        => Conv2dCore(input, weight, bias, stride, padding, dilation, groups, relu: false);

    /// <summary>ReLU(Conv2d(…)) in one op: the ReLU is applied to each image's output while it is still in cache, and
    /// the backward masks the incoming gradient by the output (relu(c) &gt; 0 exactly where c &gt; 0), instead of a
    /// separate ReLU pass that allocates, writes and keeps a second activation of the same size. Values and gradients
    /// equal <c>Conv2d(…).Relu()</c> bit for bit. <see cref="Sequential"/> uses it for a Conv2d followed by a ReLU.</summary>
    internal static Tensor Conv2dRelu(Tensor input, Tensor weight, Tensor? bias = null, Size2? stride = null, Padding? padding = null,
        Size2? dilation = null, int groups = 1)
        => Conv2dCore(input, weight, bias, stride, padding, dilation, groups, relu: true);

    /// <summary>MaxPool2d(ReLU(Conv2d(…)), 2) in one op: each image's convolution output is ReLU'd and pooled while it
    /// is in cache, so the full-resolution activation is never allocated nor kept (a quarter of it is, plus the winner
    /// codes); the backward expands the full-resolution gradient plane by plane into the convolution's scratch. Values
    /// and gradients equal the three separate layers bit for bit. float32 with an even output height and width;
    /// anything else runs the separate ops. <see cref="Sequential"/> uses it for Conv2d, ReLU, MaxPool2d(2).</summary>
    internal static Tensor Conv2dReluPool(Tensor input, Tensor weight, Tensor? bias = null, Size2? stride = null, Padding? padding = null,
        Size2? dilation = null, int groups = 1)
        => Conv2dCore(input, weight, bias, stride, padding, dilation, groups, relu: true, pool: true);

    private static Tensor Conv2dCore(Tensor input, Tensor weight, Tensor? bias, Size2? stride, Padding? padding, Size2? dilation, int groups, bool relu,
        bool pool = false)
    {
        const string op = "Conv2d";
        bool batched = input.Dim == 4;
        if (input.Dim is not (3 or 4))
            throw new ArgumentException($"{op}: input must be (N, C, H, W) or (C, H, W), got {ShapeUtil.Str(input._shape)}.");
        if (weight.Dim != 4)
            throw new ArgumentException($"{op}: weight must be (out_channels, in_channels/groups, kH, kW), got {ShapeUtil.Str(weight._shape)}.");
        var x = batched ? input : input.Unsqueeze(0);
        var s = stride ?? 1; var d = dilation ?? 1; var p = padding ?? 0;
        var geo = Geometry(op, x._shape[1], x._shape[2], x._shape[3], weight._shape[2], weight._shape[3], s, p, d);
        CheckConvChannels(op, x, weight, bias, groups);
        Tensor y;
        if (pool && x.DType == DType.Float32 && geo.OH % 2 == 0 && geo.OW % 2 == 0) y = ConvReluPoolForward(x, weight, bias, geo, groups);
        else
        {
            y = ConvForward(op, x, weight, bias, geo, groups, relu);
            if (pool) y = MaxPool2d(y, 2);
        }
        return batched ? y : y.Squeeze(0);
    }

    private static unsafe Tensor ConvReluPoolForward(Tensor input, Tensor weight, Tensor? bias, ConvGeometry geo, int groups)
    {
        var x = input.Contiguous();
        var w = weight.Contiguous();
        var b = bias?.Contiguous();
        int n = x._shape[0], o = w._shape[0], planes = n * o;
        var y = Tensor.Empty(DType.Float32, [n, o, geo.OH / 2, geo.OW / 2]);
        var code = new int[y.NumEl];
        ConvForwardT<float>(x, w, b, y, geo, groups, relu: true, code);
        if (!(GradMode.IsEnabled && (input.RequiresGrad || weight.RequiresGrad || (bias?.RequiresGrad ?? false)))) return y;
        Tensor[] inputs = bias is null ? [input, weight] : [input, weight, bias];
        var output = y.Detach();
        return y.Record("ConvolutionReluPoolBackward", inputs, g =>
        {
            // The pool's rule (gradient to each window's winner) with ReLU's folded in (only where the pooled output,
            // the winner's ReLU'd value, is > 0), expanded plane by plane into the convolution's scratch: the
            // full-resolution gradient is never stored whole.
            var gc = g.Contiguous();
            Tensor? gx = input.RequiresGrad ? Tensor.Empty(x.DType, x._shape) : null;
            Tensor? gw = weight.RequiresGrad ? Tensor.Empty(x.DType, w._shape, zero: true) : null;
            var sums = bias is { RequiresGrad: true } ? new float[planes] : null;
            fixed (float* pg = gc.Data<float>(), pos = output.Data<float>())
            fixed (int* pc = code)
                ConvBackwardT<float>(x, w, null, gx, gw, geo, groups,
                    new PooledGradient((nint)(pg + gc._offset), (nint)pc, (nint)(pos + output._offset), geo.OH, geo.OW, o, sums));
            if (bias is null) return [gx, gw];
            Tensor? gb = null;
            if (sums is not null)
            {
                // Summed as ChannelSum sums a full-resolution gradient: each plane's float sum, then images in order.
                var total = new double[o];
                for (int c = 0; c < o; c++)
                    for (int i = 0; i < n; i++) total[c] += sums[i * o + c];
                gb = Tensor.FromArray(total).To(DType.Float32);
            }
            return [gx, gw, gb];
        }, [input, weight, y]);
    }

    /// <summary>The full-resolution gradient of a fused convolution, ReLU and 2×2 max pool, produced one (image, channel)
    /// plane at a time from the pooled gradient, the winner codes and the pooled output; optionally records each plane's
    /// sum (the bias gradient's terms).</summary>
    private readonly unsafe struct PooledGradient(nint gradient, nint code, nint positive, int h, int w, int channels, float[]? planeSums)
    {
        public void Plane(int image, int channel, float* dst)
        {
            long at = ((long)image * channels + channel) * (h / 2) * (w / 2);
            MaxPool2x2.ScatterPlane((float*)gradient + at, (int*)code + at, (float*)positive + at, dst, h, w);
            if (planeSums is not null) planeSums[image * channels + channel] = TensorPrimitives.Sum(new ReadOnlySpan<float>(dst, h * w));
        }
    }

    /// <summary>1-D convolution. Shape: input (N, C, L) or (C, L), weight (O, C/groups, k), bias (O) → (N, O, OL).
    /// Runs as a 2-D convolution of height 1.</summary>
    public static Tensor Conv1d(Tensor input, Tensor weight, Tensor? bias = null, int stride = 1, Padding? padding = null,
        int dilation = 1, int groups = 1)
    {
        const string op = "Conv1d";
        bool batched = input.Dim == 3;
        if (input.Dim is not (2 or 3))
            throw new ArgumentException($"{op}: input must be (N, C, L) or (C, L), got {ShapeUtil.Str(input._shape)}.");
        if (weight.Dim != 3)
            throw new ArgumentException($"{op}: weight must be (out_channels, in_channels/groups, k), got {ShapeUtil.Str(weight._shape)}.");
        var x = (batched ? input : input.Unsqueeze(0)).Unsqueeze(2);
        var p = padding ?? 0;
        var p2 = p.IsSame ? Padding.Same : new Padding(0, p.W);
        var w2 = weight.Unsqueeze(2);
        var geo = Geometry(op, x._shape[1], 1, x._shape[3], 1, weight._shape[2], (1, stride), p2, (1, dilation));
        CheckConvChannels(op, x, w2, bias, groups);
        var y = ConvForward(op, x, w2, bias, geo, groups).Squeeze(2);
        return batched ? y : y.Squeeze(0);
    }

    /// <summary>2-D transposed convolution (the gradient of <see cref="Conv2d"/> with respect to its input; PyTorch's
    /// <c>conv_transpose2d</c>). Shape: input (N, Cin, H, W) or unbatched, weight (Cin, Cout/groups, kH, kW), bias (Cout)
    /// → (N, Cout, OH, OW) with OH = (H − 1)·stride − 2·pad + dil·(kH − 1) + output_padding + 1.</summary>
    public static Tensor ConvTranspose2d(Tensor input, Tensor weight, Tensor? bias = null, Size2? stride = null, Size2? padding = null,
        Size2? outputPadding = null, int groups = 1, Size2? dilation = null)
    {
        const string op = "ConvTranspose2d";
        bool batched = input.Dim == 4;
        if (input.Dim is not (3 or 4))
            throw new ArgumentException($"{op}: input must be (N, C, H, W) or (C, H, W), got {ShapeUtil.Str(input._shape)}.");
        if (weight.Dim != 4)
            throw new ArgumentException($"{op}: weight must be (in_channels, out_channels/groups, kH, kW), got {ShapeUtil.Str(weight._shape)}.");
        var x = batched ? input : input.Unsqueeze(0);
        var s = stride ?? 1; var p = padding ?? 0; var op2 = outputPadding ?? 0; var d = dilation ?? 1;
        if (s.H < 1 || s.W < 1 || d.H < 1 || d.W < 1 || p.H < 0 || p.W < 0)
            throw new ArgumentException($"{op}: stride and dilation must be positive and padding non-negative, got stride {s}, dilation {d}, padding {p}.");
        if (op2.H < 0 || op2.W < 0 || (op2.H >= s.H && op2.H >= d.H) || (op2.W >= s.W && op2.W >= d.W))
            throw new ArgumentException($"{op}: output_padding {op2} must be smaller than either stride {s} or dilation {d}.");
        if (groups < 1 || x._shape[1] != weight._shape[0] || weight._shape[0] % groups != 0)
            throw new ArgumentException($"{op}: input {ShapeUtil.Str(x._shape)} has {x._shape[1]} channels but weight {ShapeUtil.Str(weight._shape)} " +
                $"expects in_channels={weight._shape[0]} divisible by groups={groups}.");
        int kh = weight._shape[2], kw = weight._shape[3], h = x._shape[2], w = x._shape[3];
        int oh = (h - 1) * s.H - 2 * p.H + d.H * (kh - 1) + op2.H + 1;
        int ow = (w - 1) * s.W - 2 * p.W + d.W * (kw - 1) + op2.W + 1;
        if (oh <= 0 || ow <= 0)
            throw new ArgumentException($"{op}: input {ShapeUtil.Str(x._shape)} with kernel ({kh}, {kw}), stride {s}, padding {p} gives an empty output ({oh}×{ow}).");
        int cout = weight._shape[1] * groups;
        if (bias is not null && (bias.Dim != 1 || bias._shape[0] != cout))
            throw new ArgumentException($"{op}: bias shape {ShapeUtil.Str(bias._shape)} does not match out_channels={cout}.");
        Tensor.CheckSameDType(op, x, weight);
        if (bias is not null) Tensor.CheckSameDType(op, x, bias);
        // The equivalent convolution maps the (Cout, OH, OW) output back to the (H, W) input.
        var geo = new ConvGeometry(cout, oh, ow, kh, kw, s.H, s.W, p.H, p.W, d.H, d.W, h, w);
        var y = ConvTransposeForward(op, x, weight, bias, geo, groups);
        return batched ? y : y.Squeeze(0);
    }

    /// <summary>1-D transposed convolution: input (N, Cin, L), weight (Cin, Cout/groups, k) → (N, Cout, OL).</summary>
    public static Tensor ConvTranspose1d(Tensor input, Tensor weight, Tensor? bias = null, int stride = 1, int padding = 0,
        int outputPadding = 0, int groups = 1, int dilation = 1)
    {
        if (input.Dim is not (2 or 3) || weight.Dim != 3)
            throw new ArgumentException($"ConvTranspose1d: input must be (N, C, L) or (C, L) and weight (in, out/groups, k), got {ShapeUtil.Str(input._shape)} and {ShapeUtil.Str(weight._shape)}.");
        return ConvTranspose2d(input.Unsqueeze(-2), weight.Unsqueeze(2), bias, (1, stride), (0, padding), (0, outputPadding), groups, (1, dilation)).Squeeze(-2);
    }

    private static ConvGeometry Geometry(string op, int c, int h, int w, int kh, int kw, Size2 s, Padding p, Size2 d)
    {
        if (s.H < 1 || s.W < 1 || d.H < 1 || d.W < 1 || p.H < 0 || p.W < 0)
            throw new ArgumentException($"{op}: stride and dilation must be positive and padding non-negative, got stride {s}, dilation {d}, padding {p}.");
        if (kh < 1 || kw < 1) throw new ArgumentException($"{op}: kernel size must be positive, got ({kh}, {kw}).");
        int top, left, totalH, totalW;
        if (p.IsSame)
        {
            if (s.H != 1 || s.W != 1)
                throw new ArgumentException($"{op}: padding=\"same\" needs stride 1 (got stride {s}), as in PyTorch.");
            totalH = d.H * (kh - 1); totalW = d.W * (kw - 1);
            top = totalH / 2; left = totalW / 2;
        }
        else
        {
            top = p.H; left = p.W; totalH = 2 * p.H; totalW = 2 * p.W;
        }
        int oh = ConvGeometry.OutSize(h, kh, s.H, totalH, d.H), ow = ConvGeometry.OutSize(w, kw, s.W, totalW, d.W);
        if (h + totalH - d.H * (kh - 1) - 1 < 0 || w + totalW - d.W * (kw - 1) - 1 < 0 || oh <= 0 || ow <= 0)
            throw new ArgumentException($"{op}: input of spatial size ({h}, {w}) padded by {p} is smaller than the dilated kernel " +
                $"({d.H * (kh - 1) + 1}, {d.W * (kw - 1) + 1}).");
        return new ConvGeometry(c, h, w, kh, kw, s.H, s.W, top, left, d.H, d.W, oh, ow);
    }

    private static void CheckConvChannels(string op, Tensor x, Tensor weight, Tensor? bias, int groups)
    {
        int c = x._shape[1], o = weight._shape[0];
        if (groups < 1 || c % groups != 0 || o % groups != 0)
            throw new ArgumentException($"{op}: groups={groups} must divide in_channels={c} and out_channels={o}.");
        if (weight._shape[1] * groups != c)
            throw new ArgumentException($"{op}: input {ShapeUtil.Str(x._shape)} has {c} channels but weight {ShapeUtil.Str(weight._shape)} " +
                $"with groups={groups} expects {weight._shape[1] * groups}.");
        if (bias is not null && (bias.Dim != 1 || bias._shape[0] != o))
            throw new ArgumentException($"{op}: bias shape {ShapeUtil.Str(bias._shape)} does not match out_channels={o}.");
        Tensor.CheckSameDType(op, x, weight);
        if (bias is not null) Tensor.CheckSameDType(op, x, bias);
        if (x.DType is not (DType.Float32 or DType.Float64))
            throw new NotSupportedException($"{op}: needs float32 or float64 tensors, got {x.DType.Name()} (input {ShapeUtil.Str(x._shape)}).");
    }

    private static Tensor ConvForward(string op, Tensor input, Tensor weight, Tensor? bias, ConvGeometry geo, int groups, bool relu = false)
    {
        var x = input.Contiguous();
        var w = weight.Contiguous();
        var b = bias?.Contiguous();
        int n = x._shape[0], o = w._shape[0];
        var y = Tensor.Empty(x.DType, [n, o, geo.OH, geo.OW]);
        if (x.DType == DType.Float32) ConvForwardT<float>(x, w, b, y, geo, groups, relu);
        else ConvForwardT<double>(x, w, b, y, geo, groups, relu);
        if (!(GradMode.IsEnabled && (input.RequiresGrad || weight.RequiresGrad || (bias?.RequiresGrad ?? false)))) return y;
        Tensor[] inputs = bias is null ? [input, weight] : [input, weight, bias];
        var output = y.Detach();
        return y.Record(relu ? "ConvolutionReluBackward" : "ConvolutionBackward", inputs, g =>
        {
            // ReLU's rule from the output: relu(c) > 0 exactly where c > 0 (NaN stays NaN, fails both).
            if (relu) g = Elementwise.BackwardF("ReluBackward", g, output, new ReluBackwardOp<float>(), new ReluBackwardOp<double>());
            var gy = g.Contiguous();
            Tensor? gx = input.RequiresGrad ? Tensor.Empty(x.DType, x._shape) : null;   // every image cleared by the kernel
            Tensor? gw = weight.RequiresGrad ? Tensor.Empty(x.DType, w._shape, zero: true) : null;
            if (x.DType == DType.Float32) ConvBackwardT<float>(x, w, gy, gx, gw, geo, groups);
            else ConvBackwardT<double>(x, w, gy, gx, gw, geo, groups);
            if (bias is null) return [gx, gw];
            return [gx, gw, bias.RequiresGrad ? NormKernels.ChannelSum(gy) : null];
        }, relu ? [input, weight, y] : [input, weight]);
    }

    /// <summary>ReLU over one written output span while it is in cache (the same kernel as <see cref="Tensor.Relu"/>).</summary>
    private static unsafe void ReluInPlace<T>(T* p, long count) where T : unmanaged, INumberBase<T>
    {
        if (typeof(T) == typeof(float)) { var sp = new Span<float>(p, checked((int)count)); new ReluOp<float>().Vec(sp, sp); }
        else { var sp = new Span<double>(p, checked((int)count)); new ReluOp<double>().Vec(sp, sp); }
    }

    // Convolution runs on chunks of nb images: their unfolded matrices sit side by side as column blocks of one
    // (C·KH·KW) × (nb·OH·OW) matrix, so each product is wide enough to amortize packing; the chunk's outputs are
    // then scattered to (N, O, OH, OW). A chunk of one image multiplies straight into the output.
    private static readonly int s_convCols = int.TryParse(Environment.GetEnvironmentVariable("EMBER_CONV_COLS"), out var c) ? c : 3072;
    private static readonly int s_convScratch = int.TryParse(Environment.GetEnvironmentVariable("EMBER_CONV_SCRATCH"), out var c) ? c : 1 << 20;
    private static int ChunkImages(in ConvGeometry geo)
    {
        int byWidth = Math.Max(1, s_convCols / Math.Max(1, geo.OutPlane));
        int byScratch = Math.Max(1, s_convScratch / Math.Max(1, geo.ColRows * geo.OutPlane));
        return Math.Min(byWidth, byScratch);
    }

    /// <summary>With <paramref name="poolCode"/> (float32, ReLU, even output size), y is the 2×2 max pool of the ReLU'd
    /// output, (N, O, OH/2, OW/2), and poolCode receives the winners: each image's output planes are pooled from
    /// scratch while in cache instead of being written out.</summary>
    private static unsafe void ConvForwardT<T>(Tensor x, Tensor w, Tensor? b, Tensor y, ConvGeometry geo, int groups, bool relu, int[]? poolCode = null)
        where T : unmanaged, INumberBase<T>
    {
        int n = x._shape[0], o = w._shape[0], og = o / groups, rows = geo.ColRows / groups, ohw = geo.OutPlane;
        bool pooled = poolCode is not null;
        if (rows <= SmallKRows)
        {
            SmallKForward<T>(x, w, b, y, geo, groups, relu, poolCode);
            return;
        }
        long xStride = (long)geo.C * geo.Plane, yStride = (long)o * ohw;
        int chunk = Math.Min(ChunkImages(geo), Math.Max(1, (n + Parallelism.NumThreads - 1) / Parallelism.NumThreads));
        T[]? bias = b?.Data<T>();
        int bOff = b?._offset ?? 0;
        fixed (T* px0 = x.Data<T>(), pw0 = w.Data<T>(), py0 = y.Data<T>())
        fixed (int* pcode0 = poolCode)
        {
            nint px = (nint)(px0 + x._offset), pw = (nint)(pw0 + w._offset), py = (nint)py0, pcode = (nint)pcode0;
            ConvKernels.ForBatch(n, (start, end, parallel) =>
            {
                int nb = Math.Min(chunk, end - start);
                long ld = (long)nb * ohw;
                T[] colArr = ConvKernels.Rent<T>((int)(geo.ColRows * ld));
                T[]? outArr = nb > 1 || pooled ? ConvKernels.Rent<T>((int)(o * ld)) : null;
                float[]? poolArr = pooled ? ConvKernels.Rent<float>(ohw) : null;
                int[]? selArr = pooled ? ConvKernels.Rent<int>(ohw) : null;
                fixed (T* col = colArr, tmp = outArr)
                fixed (float* pm = poolArr)
                fixed (int* psel = selArr)
                {
                    for (int i0 = start; i0 < end; i0 += nb)
                    {
                        int cnt = Math.Min(nb, end - i0);
                        long l = (long)cnt * ohw;
                        for (int j = 0; j < cnt; j++) ConvKernels.Im2Col(geo, (T*)px + (i0 + j) * xStride, col + j * ohw, l);
                        bool direct = cnt == 1;
                        T* dst = direct && !pooled ? (T*)py + i0 * yStride : tmp;
                        if (direct && bias is not null)
                            for (int c = 0; c < o; c++) new Span<T>(dst + (long)c * ohw, ohw).Fill(bias[bOff + c]);
                        for (int gi = 0; gi < groups; gi++)
                            ConvKernels.Gemm(og, (int)l, rows, (T*)pw + (long)gi * og * rows, rows, 1, col + gi * rows * l, (int)l, 1,
                                dst + gi * og * l, (int)l, accumulate: direct && bias is not null, parallel);
                        if (pooled)
                        {
                            for (int j = 0; j < cnt; j++)
                            {
                                for (int c = 0; c < o; c++)
                                {
                                    float* plane = (float*)tmp + c * l + j * ohw;
                                    var span = new Span<float>(plane, ohw);
                                    if (!direct && bias is not null) TensorPrimitives.Add(span, float.CreateTruncating(bias[bOff + c]), span);
                                    ReluInPlace(plane, ohw);
                                }
                                PoolImage((float*)tmp + j * ohw, l, o, geo, pm, psel, (float*)py, (int*)pcode, i0 + j);
                            }
                            continue;
                        }
                        if (direct)
                        {
                            if (relu) ReluInPlace(dst, yStride);
                            continue;
                        }
                        for (int j = 0; j < cnt; j++)
                        for (int c = 0; c < o; c++)
                        {
                            var from = new ReadOnlySpan<T>(tmp + c * l + j * ohw, ohw);
                            T* toPtr = (T*)py + (i0 + j) * yStride + (long)c * ohw;
                            var to = new Span<T>(toPtr, ohw);
                            if (bias is null) from.CopyTo(to);
                            else TensorPrimitives.Add(from, bias[bOff + c], to);
                            if (relu) ReluInPlace(toPtr, ohw);
                        }
                    }
                }
                ConvKernels.Return(colArr);
                if (outArr is not null) ConvKernels.Return(outArr);
                if (poolArr is not null) ConvKernels.Return(poolArr);
                if (selArr is not null) ConvKernels.Return(selArr);
            });
        }
    }

    /// <summary>2×2 max pool of one image's o ReLU'd output planes (each dense, planeStride apart) into y and code at image i.</summary>
    private static unsafe void PoolImage(float* img, long planeStride, int o, in ConvGeometry geo, float* m, int* sel, float* y, int* code, int i)
    {
        int q = geo.OutPlane / 4;
        for (int c = 0; c < o; c++)
        {
            long at = ((long)i * o + c) * q;
            MaxPool2x2.PoolPlane(img + c * planeStride, geo.OH, geo.OW, m, sel, y + at, code + at);
        }
    }

    /// <summary>Input and weight gradients of a convolution from its output gradient: gy, or (float32) the planes that
    /// <paramref name="pooled"/> expands. gx need not be zeroed (each image is cleared before its gradient is folded in,
    /// a write that also spares fresh pages the read-then-write fault); gw is accumulated into.</summary>
    private static unsafe void ConvBackwardT<T>(Tensor x, Tensor w, Tensor? gy, Tensor? gx, Tensor? gw, ConvGeometry geo, int groups,
        PooledGradient? pooled = null)
        where T : unmanaged, INumberBase<T>
    {
        int n = x._shape[0], o = w._shape[0], og = o / groups, rows = geo.ColRows / groups, ohw = geo.OutPlane;
        if (rows <= SmallKRows)
        {
            SmallKBackward<T>(x, w, gy, gx, gw, geo, groups, pooled);
            return;
        }
        long xStride = (long)geo.C * geo.Plane, yStride = (long)o * ohw;
        int chunk = Math.Min(ChunkImages(geo), Math.Max(1, (n + Parallelism.NumThreads - 1) / Parallelism.NumThreads));
        var gate = new object();
        fixed (T* px0 = x.Data<T>(), pw0 = w.Data<T>(), pg0 = gy is null ? null : gy.Data<T>(), pgx0 = gx is null ? null : gx.Data<T>(), pgw0 = gw is null ? null : gw.Data<T>())
        {
            nint px = (nint)(px0 + x._offset), pw = (nint)(pw0 + w._offset), pg = (nint)(pg0 + (gy?._offset ?? 0)), pgx = (nint)pgx0, pgw = (nint)pgw0;
            ConvKernels.ForBatch(n, (start, end, parallel) =>
            {
                int nb = Math.Min(chunk, end - start);
                long ld = (long)nb * ohw;
                T[] colArr = ConvKernels.Rent<T>((int)(geo.ColRows * ld));
                T[]? gyArr = nb > 1 || pooled is not null ? ConvKernels.Rent<T>((int)(o * ld)) : null;
                // Threads accumulate the weight gradient privately and add it in once; a lone body writes in place.
                T[]? local = gw is not null && !(start == 0 && end == n) ? new T[o * rows] : null;
                fixed (T* col = colArr, gyc0 = gyArr, plocal = local)
                {
                    T* acc = plocal != null ? plocal : (T*)pgw;
                    for (int i0 = start; i0 < end; i0 += nb)
                    {
                        int cnt = Math.Min(nb, end - i0);
                        long l = (long)cnt * ohw;
                        T* gyc = (T*)pg + i0 * yStride;
                        if (pooled is { } pgr)
                        {
                            gyc = gyc0;
                            for (int j = 0; j < cnt; j++)
                            for (int c = 0; c < o; c++) pgr.Plane(i0 + j, c, (float*)gyc + c * l + j * ohw);
                        }
                        else if (cnt > 1)
                        {
                            gyc = gyc0;
                            for (int j = 0; j < cnt; j++)
                            for (int c = 0; c < o; c++)
                                new ReadOnlySpan<T>((T*)pg + (i0 + j) * yStride + (long)c * ohw, ohw).CopyTo(new Span<T>(gyc + c * l + j * ohw, ohw));
                        }
                        if (gw is not null)
                        {
                            for (int j = 0; j < cnt; j++) ConvKernels.Im2Col(geo, (T*)px + (i0 + j) * xStride, col + j * ohw, l);
                            for (int gi = 0; gi < groups; gi++)
                                ConvKernels.Gemm(og, rows, (int)l, gyc + gi * og * l, (int)l, 1, col + gi * rows * l, 1, (int)l,
                                    acc + (long)gi * og * rows, rows, accumulate: true, parallel);
                        }
                        if (gx is not null)
                        {
                            // The column buffer is free again: reuse it for the unfolded input gradient.
                            for (int gi = 0; gi < groups; gi++)
                                ConvKernels.Gemm(rows, (int)l, og, (T*)pw + (long)gi * og * rows, 1, rows, gyc + gi * og * l, (int)l, 1,
                                    col + gi * rows * l, (int)l, accumulate: false, parallel);
                            for (int j = 0; j < cnt; j++)
                            {
                                T* gxi = (T*)pgx + (i0 + j) * xStride;
                                new Span<T>(gxi, (int)xStride).Clear();
                                ConvKernels.Col2Im(geo, col + j * ohw, gxi, l);
                            }
                        }
                    }
                    if (local is not null)
                        lock (gate)
                        {
                            var total = new Span<T>((T*)pgw, o * rows);
                            TensorPrimitives.Add<T>(total, local, total);
                        }
                }
                ConvKernels.Return(colArr);
                if (gyArr is not null) ConvKernels.Return(gyArr);
            });
        }
    }

    // With few taps per group (a first layer on 1–3 channels, a depthwise 3×3) the packed product has too short a
    // reduction to pay for packing: each output row is instead a sum of a handful of scaled unfolded rows (and the
    // weight gradient a handful of dot products), vectorized along the row, one image at a time.
    private const int SmallKRows = 16;

    private static unsafe void SmallKForward<T>(Tensor x, Tensor w, Tensor? b, Tensor y, ConvGeometry geo, int groups, bool relu, int[]? poolCode)
        where T : unmanaged, INumberBase<T>
    {
        bool pooled = poolCode is not null;
        int n = x._shape[0], o = w._shape[0], og = o / groups, rows = geo.ColRows / groups, ohw = geo.OutPlane;
        long xStride = (long)geo.C * geo.Plane, yStride = (long)o * ohw;
        var wv = w.Data<T>();
        int wOff = w._offset;
        T[]? bias = b?.Data<T>();
        int bOff = b?._offset ?? 0;
        fixed (T* px0 = x.Data<T>(), py0 = y.Data<T>())
        fixed (int* pcode0 = poolCode)
        {
            nint px = (nint)(px0 + x._offset), py = (nint)py0, pcode = (nint)pcode0;
            Parallelism.For(n, 1, (start, end) =>
            {
                T[] colArr = ConvKernels.Rent<T>(geo.ColRows * ohw);
                // Pooled: each image's full-resolution output lives in this scratch only.
                T[]? imgArr = pooled ? ConvKernels.Rent<T>((int)yStride) : null;
                float[]? poolArr = pooled ? ConvKernels.Rent<float>(ohw) : null;
                int[]? selArr = pooled ? ConvKernels.Rent<int>(ohw) : null;
                fixed (T* col = colArr, img = imgArr)
                fixed (float* pm = poolArr)
                fixed (int* psel = selArr)
                {
                    for (int i = start; i < end; i++)
                    {
                        ConvKernels.Im2Col(geo, (T*)px + i * xStride, col);
                        T* dst = pooled ? img : (T*)py + i * yStride;
                        if (typeof(T) == typeof(float) && Vector512.IsHardwareAccelerated)
                        {
                            fixed (T* pw = wv, pb = bias)
                                for (int gi = 0; gi < groups; gi++)
                                    SmallK512.Forward((float*)col + (long)gi * rows * ohw, rows, og, (float*)pw + wOff + gi * og * rows,
                                        pb == null ? null : (float*)pb + bOff + gi * og, (float*)dst + (long)gi * og * ohw, ohw);
                        }
                        else
                            for (int c = 0; c < o; c++)
                            {
                                var row = new Span<T>(dst + (long)c * ohw, ohw);
                                row.Fill(bias is null ? T.Zero : bias[bOff + c]);
                                T* colg = col + (long)(c / og) * rows * ohw;
                                for (int r = 0; r < rows; r++)
                                    TensorPrimitives.MultiplyAdd<T>(new ReadOnlySpan<T>(colg + (long)r * ohw, ohw), wv[wOff + c * rows + r], row, row);
                            }
                        if (relu) ReluInPlace(dst, yStride);
                        if (pooled) PoolImage((float*)dst, ohw, o, geo, pm, psel, (float*)py, (int*)pcode, i);
                    }
                }
                ConvKernels.Return(colArr);
                if (imgArr is not null) ConvKernels.Return(imgArr);
                if (poolArr is not null) ConvKernels.Return(poolArr);
                if (selArr is not null) ConvKernels.Return(selArr);
            });
        }
    }

    private static unsafe void SmallKBackward<T>(Tensor x, Tensor w, Tensor? gy, Tensor? gx, Tensor? gw, ConvGeometry geo, int groups,
        PooledGradient? pooled)
        where T : unmanaged, INumberBase<T>
    {
        int n = x._shape[0], o = w._shape[0], og = o / groups, rows = geo.ColRows / groups, ohw = geo.OutPlane;
        long xStride = (long)geo.C * geo.Plane, yStride = (long)o * ohw;
        var wc = w.Contiguous();
        var wv = wc.ToArrayDouble();
        var gate = new object();
        var total = new double[o * rows];
        // float32 with AVX-512: register-blocked passes (SmallK512) instead of one vector call per (channel, tap).
        bool fast = typeof(T) == typeof(float) && Vector512.IsHardwareAccelerated;
        fixed (T* px0 = x.Data<T>(), pg0 = gy is null ? null : gy.Data<T>(), pgx0 = gx is null ? null : gx.Data<T>(), pw0 = wc.Data<T>())
        {
            nint px = (nint)(px0 + x._offset), pg = (nint)(pg0 + (gy?._offset ?? 0)), pgx = (nint)pgx0, pw32 = (nint)(pw0 + wc._offset);
            Parallelism.ForPerThread(n, 1, (start, end) =>
            {
                T[] colArr = ConvKernels.Rent<T>(geo.ColRows * ohw);
                T[]? gyArr = pooled is not null ? ConvKernels.Rent<T>((int)yStride) : null;
                var local = gw is not null ? new double[o * rows] : null;
                var partialArr = fast && local is not null ? new float[o * rows] : null;
                fixed (T* col = colArr, gyScratch = gyArr)
                fixed (float* partial = partialArr)
                {
                    for (int i = start; i < end; i++)
                    {
                        T* gyi = (T*)pg + i * yStride;
                        if (pooled is { } pgr)
                        {
                            gyi = gyScratch;
                            for (int c = 0; c < o; c++) pgr.Plane(i, c, (float*)gyi + (long)c * ohw);
                        }
                        T* gxi = (T*)pgx + i * xStride;
                        if (pgx != 0) new Span<T>(gxi, (int)xStride).Clear();
                        if (fast)
                        {
                            if (local is not null)
                            {
                                ConvKernels.Im2Col(geo, (T*)px + i * xStride, col);
                                for (int gi = 0; gi < groups; gi++)
                                    SmallK512.WeightGrad((float*)col + (long)gi * rows * ohw, rows, og, (float*)gyi + (long)gi * og * ohw, ohw, partial + gi * og * rows);
                                for (int k = 0; k < local.Length; k++) local[k] += partial[k];
                            }
                            if (pgx != 0)
                            {
                                for (int gi = 0; gi < groups; gi++)
                                    SmallK512.InputGrad((float*)gyi + (long)gi * og * ohw, rows, og, (float*)pw32 + gi * og * rows, (float*)col + (long)gi * rows * ohw, ohw);
                                ConvKernels.Col2Im(geo, col, gxi);
                            }
                            continue;
                        }
                        if (local is not null)
                        {
                            ConvKernels.Im2Col(geo, (T*)px + i * xStride, col);
                            for (int c = 0; c < o; c++)
                            {
                                var g = new ReadOnlySpan<T>(gyi + (long)c * ohw, ohw);
                                T* colg = col + (long)(c / og) * rows * ohw;
                                for (int r = 0; r < rows; r++)
                                    local[c * rows + r] += double.CreateTruncating(TensorPrimitives.Dot<T>(g, new ReadOnlySpan<T>(colg + (long)r * ohw, ohw)));
                            }
                        }
                        if (pgx != 0)
                        {
                            // dcol[g·rows + r] = Σ_c∈g W[c, r]·gy[c], then folded back into the image.
                            new Span<T>(col, geo.ColRows * ohw).Clear();
                            for (int c = 0; c < o; c++)
                            {
                                var g = new ReadOnlySpan<T>(gyi + (long)c * ohw, ohw);
                                T* colg = col + (long)(c / og) * rows * ohw;
                                for (int r = 0; r < rows; r++)
                                {
                                    var d = new Span<T>(colg + (long)r * ohw, ohw);
                                    TensorPrimitives.MultiplyAdd<T>(g, T.CreateTruncating(wv[c * rows + r]), d, d);
                                }
                            }
                            ConvKernels.Col2Im(geo, col, gxi);
                        }
                    }
                }
                ConvKernels.Return(colArr);
                if (gyArr is not null) ConvKernels.Return(gyArr);
                if (local is not null)
                    lock (gate)
                        for (int k = 0; k < total.Length; k++) total[k] += local[k];
            });
        }
        if (gw is not null)
        {
            var dst = gw.Data<T>();
            for (int k = 0; k < total.Length; k++) dst[k] = T.CreateTruncating(total[k]);
        }
    }

    private static Tensor ConvTransposeForward(string op, Tensor input, Tensor weight, Tensor? bias, ConvGeometry geo, int groups)
    {
        var x = input.Contiguous();
        var w = weight.Contiguous();
        var b = bias?.Contiguous();
        int n = x._shape[0];
        var y = Tensor.Empty(x.DType, [n, geo.C, geo.H, geo.W], zero: true);
        if (x.DType == DType.Float32) ConvTransposeForwardT<float>(x, w, b, y, geo, groups);
        else if (x.DType == DType.Float64) ConvTransposeForwardT<double>(x, w, b, y, geo, groups);
        else throw new ArgumentException($"{op}: dtype {x.DType.Name()} is not supported (float32 or float64).");
        if (!(GradMode.IsEnabled && (input.RequiresGrad || weight.RequiresGrad || (bias?.RequiresGrad ?? false)))) return y;
        Tensor[] inputs = bias is null ? [input, weight] : [input, weight, bias];
        return y.Record("ConvolutionTransposeBackward", inputs, g =>
        {
            var gy = g.Contiguous();
            Tensor? gx = input.RequiresGrad ? Tensor.Empty(x.DType, x._shape) : null;
            Tensor? gw = weight.RequiresGrad ? Tensor.Empty(x.DType, w._shape, zero: true) : null;
            if (x.DType == DType.Float32) ConvTransposeBackwardT<float>(x, w, gy, gx, gw, geo, groups);
            else ConvTransposeBackwardT<double>(x, w, gy, gx, gw, geo, groups);
            if (bias is null) return [gx, gw];
            return [gx, gw, bias.RequiresGrad ? NormKernels.ChannelSum(gy) : null];
        }, input, weight);
    }

    // Transposed convolution with geometry geo of the equivalent convolution (its "input" is our output):
    // per group, col = W_gᵀ·x_g ((Cout/G·K) × HW) and the output is col2im(col).
    private static unsafe void ConvTransposeForwardT<T>(Tensor x, Tensor w, Tensor? b, Tensor y, ConvGeometry geo, int groups)
        where T : unmanaged, INumberBase<T>
    {
        int n = x._shape[0], cin = x._shape[1], cing = cin / groups, rows = geo.ColRows / groups, hw = geo.OutPlane;
        long xStride = (long)cin * hw, yStride = (long)geo.C * geo.Plane;
        bool pointwise = geo.IsPointwise;
        T[]? bias = b?.Data<T>();
        int bOff = b?._offset ?? 0;
        fixed (T* px0 = x.Data<T>(), pw0 = w.Data<T>(), py0 = y.Data<T>())
        {
            nint px = (nint)(px0 + x._offset), pw = (nint)(pw0 + w._offset), py = (nint)py0;
            ConvKernels.ForBatch(n, (start, end, parallel) =>
            {
                T[]? colArr = pointwise ? null : ConvKernels.Rent<T>(geo.ColRows * hw);
                fixed (T* col = colArr)
                {
                    for (int i = start; i < end; i++)
                    {
                        T* xi = (T*)px + i * xStride, yi = (T*)py + i * yStride;
                        T* dst = pointwise ? yi : col;
                        for (int gi = 0; gi < groups; gi++)
                            ConvKernels.Gemm(rows, hw, cing, (T*)pw + (long)gi * cing * rows, 1, rows, xi + (long)gi * cing * hw, hw, 1,
                                dst + (long)gi * rows * hw, hw, accumulate: false, parallel);
                        if (!pointwise) ConvKernels.Col2Im(geo, col, yi);
                        if (bias is not null)
                            for (int c = 0; c < geo.C; c++)
                            {
                                var plane = new Span<T>(yi + (long)c * geo.Plane, geo.Plane);
                                TensorPrimitives.Add<T>(plane, bias[bOff + c], plane);
                            }
                    }
                }
                if (colArr is not null) ConvKernels.Return(colArr);
            });
        }
    }

    private static unsafe void ConvTransposeBackwardT<T>(Tensor x, Tensor w, Tensor gy, Tensor? gx, Tensor? gw, ConvGeometry geo, int groups)
        where T : unmanaged, INumberBase<T>
    {
        int n = x._shape[0], cin = x._shape[1], cing = cin / groups, rows = geo.ColRows / groups, hw = geo.OutPlane;
        long xStride = (long)cin * hw, yStride = (long)geo.C * geo.Plane;
        bool pointwise = geo.IsPointwise;
        var gate = new object();
        fixed (T* px0 = x.Data<T>(), pw0 = w.Data<T>(), pg0 = gy.Data<T>(), pgx0 = gx is null ? null : gx.Data<T>(), pgw0 = gw is null ? null : gw.Data<T>())
        {
            nint px = (nint)(px0 + x._offset), pw = (nint)(pw0 + w._offset), pg = (nint)(pg0 + gy._offset), pgx = (nint)pgx0, pgw = (nint)pgw0;
            ConvKernels.ForBatch(n, (start, end, parallel) =>
            {
                T[]? colArr = pointwise ? null : ConvKernels.Rent<T>(geo.ColRows * hw);
                T[]? local = gw is not null && !(start == 0 && end == n) ? new T[cin * rows] : null;
                fixed (T* col = colArr, plocal = local)
                {
                    T* acc = plocal != null ? plocal : (T*)pgw;
                    for (int i = start; i < end; i++)
                    {
                        T* xi = (T*)px + i * xStride, gyi = (T*)pg + i * yStride;
                        T* src = pointwise ? gyi : col;
                        if (!pointwise) ConvKernels.Im2Col(geo, gyi, col);
                        for (int gi = 0; gi < groups; gi++)
                        {
                            T* colg = src + (long)gi * rows * hw;
                            if (gx is not null)
                                ConvKernels.Gemm(cing, hw, rows, (T*)pw + (long)gi * cing * rows, rows, 1, colg, hw, 1,
                                    (T*)pgx + i * xStride + (long)gi * cing * hw, hw, accumulate: false, parallel);
                            if (gw is not null)
                                ConvKernels.Gemm(cing, rows, hw, xi + (long)gi * cing * hw, hw, 1, colg, 1, hw,
                                    acc + (long)gi * cing * rows, rows, accumulate: true, parallel);
                        }
                    }
                    if (local is not null)
                        lock (gate)
                        {
                            var total = new Span<T>((T*)pgw, cin * rows);
                            TensorPrimitives.Add<T>(total, local, total);
                        }
                }
                if (colArr is not null) ConvKernels.Return(colArr);
            });
        }
    }
}
