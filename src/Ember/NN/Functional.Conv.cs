using System.Numerics;
using System.Numerics.Tensors;
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
        var y = ConvForward(op, x, weight, bias, geo, groups);
        return batched ? y : y.Squeeze(0);
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

    private static Tensor ConvForward(string op, Tensor input, Tensor weight, Tensor? bias, ConvGeometry geo, int groups)
    {
        var x = input.Contiguous();
        var w = weight.Contiguous();
        var b = bias?.Contiguous();
        int n = x._shape[0], o = w._shape[0];
        var y = Tensor.Empty(x.DType, [n, o, geo.OH, geo.OW]);
        if (x.DType == DType.Float32) ConvForwardT<float>(x, w, b, y, geo, groups);
        else ConvForwardT<double>(x, w, b, y, geo, groups);
        if (!(GradMode.IsEnabled && (input.RequiresGrad || weight.RequiresGrad || (bias?.RequiresGrad ?? false)))) return y;
        Tensor[] inputs = bias is null ? [input, weight] : [input, weight, bias];
        return y.Record("ConvolutionBackward", inputs, g =>
        {
            var gy = g.Contiguous();
            Tensor? gx = input.RequiresGrad ? Tensor.Empty(x.DType, x._shape, zero: true) : null;
            Tensor? gw = weight.RequiresGrad ? Tensor.Empty(x.DType, w._shape, zero: true) : null;
            if (x.DType == DType.Float32) ConvBackwardT<float>(x, w, gy, gx, gw, geo, groups);
            else ConvBackwardT<double>(x, w, gy, gx, gw, geo, groups);
            if (bias is null) return [gx, gw];
            return [gx, gw, bias.RequiresGrad ? g.Sum([0, 2, 3]) : null];
        }, input, weight);
    }

    private static unsafe void ConvForwardT<T>(Tensor x, Tensor w, Tensor? b, Tensor y, ConvGeometry geo, int groups)
        where T : unmanaged, INumberBase<T>
    {
        int n = x._shape[0], o = w._shape[0], og = o / groups, rows = geo.ColRows / groups, ohw = geo.OutPlane;
        long xStride = (long)geo.C * geo.Plane, yStride = (long)o * ohw;
        bool pointwise = geo.IsPointwise;
        T[]? bias = b?.Data<T>();
        int bOff = b?._offset ?? 0;
        fixed (T* px0 = x.Data<T>(), pw0 = w.Data<T>(), py0 = y.Data<T>())
        {
            nint px = (nint)(px0 + x._offset), pw = (nint)(pw0 + w._offset), py = (nint)py0;
            ConvKernels.ForBatch(n, (start, end, parallel) =>
            {
                T[]? colArr = pointwise ? null : ConvKernels.Rent<T>(geo.ColRows * ohw);
                fixed (T* col = colArr)
                {
                    for (int i = start; i < end; i++)
                    {
                        T* xi = (T*)px + i * xStride, yi = (T*)py + i * yStride;
                        T* src = pointwise ? xi : col;
                        if (!pointwise) ConvKernels.Im2Col(geo, xi, col);
                        if (bias is not null)
                            for (int c = 0; c < o; c++) new Span<T>(yi + (long)c * ohw, ohw).Fill(bias[bOff + c]);
                        for (int gi = 0; gi < groups; gi++)
                            ConvKernels.Gemm(og, ohw, rows, (T*)pw + (long)gi * og * rows, rows, 1, src + (long)gi * rows * ohw, ohw, 1,
                                yi + (long)gi * og * ohw, ohw, accumulate: bias is not null, parallel);
                    }
                }
                if (colArr is not null) ConvKernels.Return(colArr);
            });
        }
    }

    private static unsafe void ConvBackwardT<T>(Tensor x, Tensor w, Tensor gy, Tensor? gx, Tensor? gw, ConvGeometry geo, int groups)
        where T : unmanaged, INumberBase<T>
    {
        int n = x._shape[0], o = w._shape[0], og = o / groups, rows = geo.ColRows / groups, ohw = geo.OutPlane;
        long xStride = (long)geo.C * geo.Plane, yStride = (long)o * ohw;
        bool pointwise = geo.IsPointwise;
        var gate = new object();
        fixed (T* px0 = x.Data<T>(), pw0 = w.Data<T>(), pg0 = gy.Data<T>(), pgx0 = gx is null ? null : gx.Data<T>(), pgw0 = gw is null ? null : gw.Data<T>())
        {
            nint px = (nint)(px0 + x._offset), pw = (nint)(pw0 + w._offset), pg = (nint)(pg0 + gy._offset), pgx = (nint)pgx0, pgw = (nint)pgw0;
            ConvKernels.ForBatch(n, (start, end, parallel) =>
            {
                T[]? colArr = gw is not null && !pointwise ? ConvKernels.Rent<T>(geo.ColRows * ohw) : null;
                T[]? dcolArr = gx is not null && !pointwise ? ConvKernels.Rent<T>(geo.ColRows * ohw) : null;
                // Threads accumulate the weight gradient privately and add it in once; a lone body writes in place.
                T[]? local = gw is not null && !(start == 0 && end == n) ? new T[o * rows] : null;
                fixed (T* col = colArr, dcol = dcolArr, plocal = local)
                {
                    T* acc = plocal != null ? plocal : (T*)pgw;
                    for (int i = start; i < end; i++)
                    {
                        T* xi = (T*)px + i * xStride, gyi = (T*)pg + i * yStride;
                        if (gw is not null)
                        {
                            T* src = pointwise ? xi : col;
                            if (!pointwise) ConvKernels.Im2Col(geo, xi, col);
                            for (int gi = 0; gi < groups; gi++)
                                ConvKernels.Gemm(og, rows, ohw, gyi + (long)gi * og * ohw, ohw, 1, src + (long)gi * rows * ohw, 1, ohw,
                                    acc + (long)gi * og * rows, rows, accumulate: true, parallel);
                        }
                        if (gx is not null)
                        {
                            T* gxi = (T*)pgx + i * xStride;
                            T* dst = pointwise ? gxi : dcol;
                            for (int gi = 0; gi < groups; gi++)
                                ConvKernels.Gemm(rows, ohw, og, (T*)pw + (long)gi * og * rows, 1, rows, gyi + (long)gi * og * ohw, ohw, 1,
                                    dst + (long)gi * rows * ohw, ohw, accumulate: false, parallel);
                            if (!pointwise) ConvKernels.Col2Im(geo, dcol, gxi);
                        }
                    }
                    if (local is not null)
                        lock (gate)
                        {
                            var total = new Span<T>((T*)pgw, o * rows);
                            TensorPrimitives.Add<T>(total, local, total);
                        }
                }
                if (colArr is not null) ConvKernels.Return(colArr);
                if (dcolArr is not null) ConvKernels.Return(dcolArr);
            });
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
            return [gx, gw, bias.RequiresGrad ? g.Sum([0, 2, 3]) : null];
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
