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
        // 16-bit operands are widened (exactly); the convolution runs in float32.
        if (input.DType.IsLowPrecision()) input = input.To(DType.Float32);
        if (weight.DType.IsLowPrecision()) weight = weight.To(DType.Float32);
        if (Autocast.Type is DType low && input.DType == DType.Float32 && weight.DType == DType.Float32)
        {
            // Products of 16-bit operands with float32 accumulation, a 16-bit result (the numerics of a 16-bit
            // convolution; the convolution's saved input stays float32-sized, so no activation memory is saved here).
            var (xr, wr, br) = (Autocast.Rounded(input, low), Autocast.Rounded(weight, low), bias is null ? null : Autocast.Rounded(bias, low));
            Tensor conv;
            using (Autocast.Disable()) conv = Conv2dCore(xr, wr, br, stride, padding, dilation, groups, relu, pool: false);
            conv = Autocast.Rounded(conv, low);
            return pool ? MaxPool2d(conv, 2) : conv;
        }
        bool batched = input.Dim == 4;
        if (input.Dim is not (3 or 4))
            throw new ArgumentException($"{op}: input must be (N, C, H, W) or (C, H, W), got {ShapeUtil.Str(input.Shape)}.");
        if (weight.Dim != 4)
            throw new ArgumentException($"{op}: weight must be (out_channels, in_channels/groups, kH, kW), got {ShapeUtil.Str(weight.Shape)}.");
        var x = batched ? input : input.Unsqueeze(0);
        var s = stride ?? 1; var d = dilation ?? 1; var p = padding ?? 0;
        var geo = Geometry(op, x.Size(1), x.Size(2), x.Size(3), weight.Size(2), weight.Size(3), s, p, d);
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

    private static Tensor ConvReluPoolForward(Tensor input, Tensor weight, Tensor? bias, ConvGeometry geo, int groups)
    {
        var x = input.Contiguous();
        var w = weight.Contiguous();
        var b = bias?.Contiguous();
        int n = x.Size(0), o = w.Size(0), planes = n * o;
        Diagnostics.Profiler.AddFlops(2L * n * o * geo.OutPlane * (geo.C / groups) * geo.KH * geo.KW);
        var y = Tensor.Empty(DType.Float32, [n, o, geo.OH / 2, geo.OW / 2]);
        var code = new int[y.NumEl];
        ConvDrivers.Forward<float>(x, w, b, y, geo, groups, relu: true, code);
        if (!(GradMode.IsEnabled && (input.RequiresGrad || weight.RequiresGrad || (bias?.RequiresGrad ?? false)))) return y;
        Tensor[] inputs = bias is null ? [input, weight] : [input, weight, bias];
        var output = y.Detach();
        return y.Record("ConvolutionReluPoolBackward", inputs, g =>
        {
            Tensor.RefuseHigherOrder("ConvolutionReluPoolBackward");
            // The pool's rule (gradient to each window's winner) with ReLU's folded in (only where the pooled output,
            // the winner's ReLU'd value, is > 0), expanded plane by plane into the convolution's scratch: the
            // full-resolution gradient is never stored whole.
            var gc = g.Contiguous();
            Tensor? gx = input.RequiresGrad ? Tensor.Empty(x.DType, x.Shape) : null;
            Tensor? gw = weight.RequiresGrad ? Tensor.Empty(x.DType, w.Shape, zero: true) : null;
            var sums = bias is { RequiresGrad: true } ? new float[planes] : null;
            Diagnostics.Profiler.AddFlops(((gx is null ? 0 : 1) + (gw is null ? 0 : 1)) * 2L * n * o * geo.OutPlane * (geo.C / groups) * geo.KH * geo.KW);
            ConvDrivers.BackwardPooled(x, w, gx, gw, geo, groups, gc, code, output, sums);
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

    /// <summary>1-D convolution. Shape: input (N, C, L) or (C, L), weight (O, C/groups, k), bias (O) → (N, O, OL).
    /// Runs as a 2-D convolution of height 1.</summary>
    public static Tensor Conv1d(Tensor input, Tensor weight, Tensor? bias = null, int stride = 1, Padding? padding = null,
        int dilation = 1, int groups = 1)
    {
        const string op = "Conv1d";
        bool batched = input.Dim == 3;
        if (input.Dim is not (2 or 3))
            throw new ArgumentException($"{op}: input must be (N, C, L) or (C, L), got {ShapeUtil.Str(input.Shape)}.");
        if (weight.Dim != 3)
            throw new ArgumentException($"{op}: weight must be (out_channels, in_channels/groups, k), got {ShapeUtil.Str(weight.Shape)}.");
        var x = (batched ? input : input.Unsqueeze(0)).Unsqueeze(2);
        var p = padding ?? 0;
        var p2 = p.IsSame ? Padding.Same : new Padding(0, p.W);
        var w2 = weight.Unsqueeze(2);
        var geo = Geometry(op, x.Size(1), 1, x.Size(3), 1, weight.Size(2), (1, stride), p2, (1, dilation));
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
            throw new ArgumentException($"{op}: input must be (N, C, H, W) or (C, H, W), got {ShapeUtil.Str(input.Shape)}.");
        if (weight.Dim != 4)
            throw new ArgumentException($"{op}: weight must be (in_channels, out_channels/groups, kH, kW), got {ShapeUtil.Str(weight.Shape)}.");
        var x = batched ? input : input.Unsqueeze(0);
        var s = stride ?? 1; var p = padding ?? 0; var op2 = outputPadding ?? 0; var d = dilation ?? 1;
        if (s.H < 1 || s.W < 1 || d.H < 1 || d.W < 1 || p.H < 0 || p.W < 0)
            throw new ArgumentException($"{op}: stride and dilation must be positive and padding non-negative, got stride {s}, dilation {d}, padding {p}.");
        if (op2.H < 0 || op2.W < 0 || (op2.H >= s.H && op2.H >= d.H) || (op2.W >= s.W && op2.W >= d.W))
            throw new ArgumentException($"{op}: output_padding {op2} must be smaller than either stride {s} or dilation {d}.");
        if (groups < 1 || x.Size(1) != weight.Size(0) || weight.Size(0) % groups != 0)
            throw new ArgumentException($"{op}: input {ShapeUtil.Str(x.Shape)} has {x.Size(1)} channels but weight {ShapeUtil.Str(weight.Shape)} " +
                $"expects in_channels={weight.Size(0)} divisible by groups={groups}.");
        int kh = weight.Size(2), kw = weight.Size(3), h = x.Size(2), w = x.Size(3);
        int oh = (h - 1) * s.H - 2 * p.H + d.H * (kh - 1) + op2.H + 1;
        int ow = (w - 1) * s.W - 2 * p.W + d.W * (kw - 1) + op2.W + 1;
        if (oh <= 0 || ow <= 0)
            throw new ArgumentException($"{op}: input {ShapeUtil.Str(x.Shape)} with kernel ({kh}, {kw}), stride {s}, padding {p} gives an empty output ({oh}×{ow}).");
        int cout = weight.Size(1) * groups;
        if (bias is not null && (bias.Dim != 1 || bias.Size(0) != cout))
            throw new ArgumentException($"{op}: bias shape {ShapeUtil.Str(bias.Shape)} does not match out_channels={cout}.");
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
            throw new ArgumentException($"ConvTranspose1d: input must be (N, C, L) or (C, L) and weight (in, out/groups, k), got {ShapeUtil.Str(input.Shape)} and {ShapeUtil.Str(weight.Shape)}.");
        return ConvTranspose2d(input.Unsqueeze(-2), weight.Unsqueeze(2), bias, (1, stride), (0, padding), (0, outputPadding), groups, (1, dilation)).Squeeze(-2);
    }

    internal static ConvGeometry Geometry(string op, int c, int h, int w, int kh, int kw, Size2 s, Padding p, Size2 d)
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
        int c = x.Size(1), o = weight.Size(0);
        if (groups < 1 || c % groups != 0 || o % groups != 0)
            throw new ArgumentException($"{op}: groups={groups} must divide in_channels={c} and out_channels={o}.");
        if (weight.Size(1) * groups != c)
            throw new ArgumentException($"{op}: input {ShapeUtil.Str(x.Shape)} has {c} channels but weight {ShapeUtil.Str(weight.Shape)} " +
                $"with groups={groups} expects {weight.Size(1) * groups}.");
        if (bias is not null && (bias.Dim != 1 || bias.Size(0) != o))
            throw new ArgumentException($"{op}: bias shape {ShapeUtil.Str(bias.Shape)} does not match out_channels={o}.");
        Tensor.CheckSameDType(op, x, weight);
        if (bias is not null) Tensor.CheckSameDType(op, x, bias);
        if (x.DType is not (DType.Float32 or DType.Float64))
            throw new NotSupportedException($"{op}: needs float32 or float64 tensors, got {x.DType.Name()} (input {ShapeUtil.Str(x.Shape)}).");
    }

    private static Tensor ConvForward(string op, Tensor input, Tensor weight, Tensor? bias, ConvGeometry geo, int groups, bool relu = false)
    {
        var x = input.Contiguous();
        var w = weight.Contiguous();
        var b = bias?.Contiguous();
        int n = x.Size(0), o = w.Size(0);
        Diagnostics.Profiler.AddFlops(2L * n * o * geo.OutPlane * (geo.C / groups) * geo.KH * geo.KW);
        var y = Tensor.Empty(x.DType, [n, o, geo.OH, geo.OW]);
        if (x.DType == DType.Float32) ConvDrivers.Forward<float>(x, w, b, y, geo, groups, relu);
        else ConvDrivers.Forward<double>(x, w, b, y, geo, groups, relu);
        if (!(GradMode.IsEnabled && (input.RequiresGrad || weight.RequiresGrad || (bias?.RequiresGrad ?? false)))) return y;
        Tensor[] inputs = bias is null ? [input, weight] : [input, weight, bias];
        var output = y.Detach();
        return y.Record(relu ? "ConvolutionReluBackward" : "ConvolutionBackward", inputs, g =>
        {
            if (GradMode.IsEnabled) return ConvBackwardRecorded(g, input, weight, bias, geo, groups, relu ? output : null);
            // ReLU's rule from the output: relu(c) > 0 exactly where c > 0 (NaN stays NaN, fails both).
            if (relu) g = Elementwise.BackwardF("ReluBackward", g, output, new ReluBackwardOp<float>(), new ReluBackwardOp<double>());
            var gy = g.Contiguous();
            Tensor? gx = input.RequiresGrad ? Tensor.Empty(x.DType, x.Shape) : null;   // every image cleared by the kernel
            Tensor? gw = weight.RequiresGrad ? Tensor.Empty(x.DType, w.Shape, zero: true) : null;
            Diagnostics.Profiler.AddFlops(((gx is null ? 0 : 1) + (gw is null ? 0 : 1)) * 2L * n * o * geo.OutPlane * (geo.C / groups) * geo.KH * geo.KW);
            if (x.DType == DType.Float32) ConvDrivers.Backward<float>(x, w, gy, gx, gw, geo, groups);
            else ConvDrivers.Backward<double>(x, w, gy, gx, gw, geo, groups);
            if (bias is null) return [gx, gw];
            return [gx, gw, bias.RequiresGrad ? NormKernels.ChannelSum(gy) : null];
        }, relu ? [input, weight, y] : [input, weight]);
    }

    /// <summary>Conv2d's backward as recorded ops (createGraph), so that the gradients can be differentiated again
    /// (gradient penalties, Hessian-vector products). The padding is made explicit (the input padded, or cropped, to
    /// the extent the kernel reads), then: input gradient = the transposed convolution of g with the weight, cropped
    /// back; weight gradient = per group, the convolution of the input (batch and channels swapped) with g as the
    /// kernel, stride and dilation exchanged; bias gradient = Σ g over batch and space. A fused ReLU masks g by its
    /// output (a constant: ReLU's second derivative is zero).</summary>
    private static Tensor?[] ConvBackwardRecorded(Tensor g, Tensor x, Tensor weight, Tensor? bias, ConvGeometry geo, int groups, Tensor? reluOutput)
    {
        if (reluOutput is not null) g = g.Mul(reluOutput.Gt(0).To(g.DType));
        int h = x.Size(2), w = x.Size(3);
        int extentH = (geo.OH - 1) * geo.SH + geo.DH * (geo.KH - 1) + 1, extentW = (geo.OW - 1) * geo.SW + geo.DW * (geo.KW - 1) + 1;
        int[] toExtent = [geo.PadLeft, extentW - geo.PadLeft - w, geo.PadTop, extentH - geo.PadTop - h];
        Tensor? gx = null, gw = null;
        if (x.RequiresGrad)
        {
            var gxp = ConvTranspose2d(g, weight, null, (geo.SH, geo.SW), 0, 0, groups, (geo.DH, geo.DW));   // (N, C, extentH, extentW)
            gx = Pad(gxp, [-toExtent[0], -toExtent[1], -toExtent[2], -toExtent[3]]);
        }
        if (weight.RequiresGrad)
        {
            var xp = Pad(x, toExtent);
            int cg = x.Size(1) / groups, og = weight.Size(0) / groups;
            var parts = new Tensor[groups];
            for (int gi = 0; gi < groups; gi++)
            {
                var xg = (groups == 1 ? xp : xp.Narrow(1, gi * cg, cg)).Transpose(0, 1);        // (Cg, N, extentH, extentW)
                var gg = (groups == 1 ? g : g.Narrow(1, gi * og, og)).Transpose(0, 1);           // (Og, N, OH, OW)
                parts[gi] = Conv2d(xg, gg, null, (geo.DH, geo.DW), 0, (geo.SH, geo.SW)).Transpose(0, 1);   // (Og, Cg, KH, KW)
            }
            gw = groups == 1 ? parts[0] : Tensor.Cat(parts, 0);
        }
        if (bias is null) return [gx, gw];
        return [gx, gw, bias.RequiresGrad ? g.Sum([0, 2, 3]) : null];
    }

    private static Tensor ConvTransposeForward(string op, Tensor input, Tensor weight, Tensor? bias, ConvGeometry geo, int groups)
    {
        var x = input.Contiguous();
        var w = weight.Contiguous();
        var b = bias?.Contiguous();
        int n = x.Size(0);
        Diagnostics.Profiler.AddFlops(2L * n * x.Size(1) * geo.OutPlane * (geo.C / groups) * geo.KH * geo.KW);
        var y = Tensor.Empty(x.DType, [n, geo.C, geo.H, geo.W], zero: true);
        if (x.DType == DType.Float32) ConvDrivers.TransposeForward<float>(x, w, b, y, geo, groups);
        else if (x.DType == DType.Float64) ConvDrivers.TransposeForward<double>(x, w, b, y, geo, groups);
        else throw new ArgumentException($"{op}: dtype {x.DType.Name()} is not supported (float32 or float64).");
        if (!(GradMode.IsEnabled && (input.RequiresGrad || weight.RequiresGrad || (bias?.RequiresGrad ?? false)))) return y;
        Tensor[] inputs = bias is null ? [input, weight] : [input, weight, bias];
        return y.Record("ConvolutionTransposeBackward", inputs, g =>
        {
            Tensor.RefuseHigherOrder("ConvolutionTransposeBackward");
            var gy = g.Contiguous();
            Tensor? gx = input.RequiresGrad ? Tensor.Empty(x.DType, x.Shape) : null;
            Tensor? gw = weight.RequiresGrad ? Tensor.Empty(x.DType, w.Shape, zero: true) : null;
            Diagnostics.Profiler.AddFlops(((gx is null ? 0 : 1) + (gw is null ? 0 : 1)) * 2L * n * x.Size(1) * geo.OutPlane * (geo.C / groups) * geo.KH * geo.KW);
            if (x.DType == DType.Float32) ConvDrivers.TransposeBackward<float>(x, w, gy, gx, gw, geo, groups);
            else ConvDrivers.TransposeBackward<double>(x, w, gy, gx, gw, geo, groups);
            if (bias is null) return [gx, gw];
            return [gx, gw, bias.RequiresGrad ? NormKernels.ChannelSum(gy) : null];
        }, input, weight);
    }
}
