namespace Ember.NN;

/// <summary>How <see cref="Functional.Interpolate"/> resamples.</summary>
public enum InterpolationMode
{
    /// <summary>Each output pixel copies the nearest input pixel.</summary>
    Nearest,
    /// <summary>Linear interpolation along height and width.</summary>
    Bilinear,
}

public static partial class Functional
{
    /// <summary>Resizes (N, C, H, W) images to <paramref name="size"/> or by <paramref name="scaleFactor"/> (PyTorch's
    /// <c>F.interpolate</c> for 4-D input). Nearest picks source ⌊dst·in/out⌋; bilinear follows PyTorch's
    /// half-pixel rule (<paramref name="alignCorners"/> false) or maps corner to corner. Both are separable
    /// row/column gathers, so the backward pass is the matching scatter.</summary>
    public static Tensor Interpolate(Tensor input, Size2? size = null, (double H, double W)? scaleFactor = null,
        InterpolationMode mode = InterpolationMode.Nearest, bool alignCorners = false)
    {
        const string op = "Interpolate";
        if (input.Dim != 4)
            throw new ArgumentException($"{op}: input must be (N, C, H, W), got {ShapeUtil.Str(input.Shape)}.");
        if ((size is null) == (scaleFactor is null))
            throw new ArgumentException($"{op}: give exactly one of size and scale_factor.");
        if (mode == InterpolationMode.Nearest && alignCorners)
            throw new ArgumentException($"{op}: align_corners only applies to bilinear mode.");
        int h = input.Size(2), w = input.Size(3);
        int oh, ow;
        double? sh = null, sw = null;
        if (size is Size2 sz) { oh = sz.H; ow = sz.W; }
        else
        {
            var (fh, fw) = scaleFactor!.Value;
            if (!(fh > 0) || !(fw > 0)) throw new ArgumentException($"{op}: scale_factor must be positive, got ({fh}, {fw}).");
            oh = (int)Math.Floor(h * fh); ow = (int)Math.Floor(w * fw);
            sh = 1 / fh; sw = 1 / fw;
        }
        if (oh < 1 || ow < 1) throw new ArgumentException($"{op}: output size ({oh}, {ow}) must be positive (input {ShapeUtil.Str(input.Shape)}).");
        if (mode == InterpolationMode.Nearest)
            return input.IndexSelect(2, NearestIndex(h, oh, sh)).IndexSelect(3, NearestIndex(w, ow, sw));
        var y = LinearAlong(input, 2, h, oh, sh, alignCorners);
        return LinearAlong(y, 3, w, ow, sw, alignCorners);
    }

    private static Tensor NearestIndex(int n, int outN, double? scale)
    {
        double s = scale ?? (double)n / outN;
        var idx = new long[outN];
        for (int i = 0; i < outN; i++) idx[i] = Math.Min((long)Math.Floor(i * s), n - 1);
        return Tensor.FromArray(idx);
    }

    private static Tensor LinearAlong(Tensor x, int dim, int n, int outN, double? scale, bool alignCorners)
    {
        var i0 = new long[outN];
        var i1 = new long[outN];
        var lam = new double[outN];
        for (int i = 0; i < outN; i++)
        {
            double src;
            if (alignCorners) src = outN > 1 ? i * (double)(n - 1) / (outN - 1) : 0;
            else src = Math.Max(0, (i + 0.5) * (scale ?? (double)n / outN) - 0.5);
            long lo = Math.Min((long)Math.Floor(src), n - 1);
            i0[i] = lo;
            i1[i] = Math.Min(lo + 1, n - 1);
            lam[i] = src - lo;
        }
        var shape = new int[x.Dim];
        Array.Fill(shape, 1);
        shape[dim] = outN;
        var l1 = Tensor.FromArray(lam).To(x.DType).View(shape);
        var a = x.IndexSelect(dim, Tensor.FromArray(i0));
        var b = x.IndexSelect(dim, Tensor.FromArray(i1));
        return a.Add(b.Sub(a).Mul(l1));
    }

    /// <summary>Channel dropout: zeroes whole channels of (N, C, H, W) or (C, H, W) input with probability p and
    /// scales the kept ones by 1/(1 − p) in training (PyTorch's <c>F.dropout2d</c>).</summary>
    public static Tensor Dropout2d(Tensor x, double p = 0.5, bool training = true, Generator? generator = null)
    {
        if (p < 0 || p > 1) throw new ArgumentException($"Dropout2d: probability must be in [0, 1], got {p}.");
        if (x.Dim is not (3 or 4)) throw new ArgumentException($"Dropout2d: input must be (N, C, H, W) or (C, H, W), got {ShapeUtil.Str(x.Shape)}.");
        if (!training || p == 0) return x;
        if (p == 1) return x.Mul(0.0);
        var shape = x.Shape;
        for (int i = x.Dim - 2; i < x.Dim; i++) shape[i] = 1;
        var mask = Tensor.Bernoulli(shape, 1 - p, x.DType, generator);
        return x.Mul(mask.Mul(1 / (1 - p)));
    }
}

public static partial class Functional
{
    /// <summary>Pads the trailing dims with a constant (PyTorch's <c>F.pad</c>, constant mode): <paramref name="pad"/> lists
    /// (before, after) pairs starting from the last dim, e.g. (left, right, top, bottom) for images. Negative
    /// amounts crop. Backward takes the matching slice of the gradient.</summary>
    public static Tensor Pad(Tensor input, int[] pad, double value = 0)
    {
        if (pad.Length % 2 != 0 || pad.Length / 2 > input.Dim)
            throw new ArgumentException($"Pad: padding {ShapeUtil.Str(pad)} must hold (before, after) pairs for at most {input.Dim} trailing dims of input {ShapeUtil.Str(input.Shape)}.");
        var shape = input.Shape;
        var src = input;
        var starts = new int[input.Dim];
        for (int i = 0; i < pad.Length / 2; i++)
        {
            int d = input.Dim - 1 - i, before = pad[2 * i], after = pad[2 * i + 1];
            int size = shape[d] + before + after;
            if (size < 0 || (size == 0 && shape[d] > 0 && before + after < -shape[d]))
                throw new ArgumentException($"Pad: padding ({before}, {after}) of dim {d} (size {shape[d]}) gives a negative size.");
            // Negative amounts crop the input first; what remains is padded by the positive amounts.
            int cropBefore = Math.Max(0, -before), cropAfter = Math.Max(0, -after);
            src = src.Narrow(d, cropBefore, Math.Max(0, shape[d] - cropBefore - cropAfter));
            starts[d] = Math.Max(0, before);
            shape[d] = size;
        }
        Tensor y;
        using (Tensor.NoGrad())
        {
            y = Tensor.Full(shape, value, input.DType);
            var window = y;
            for (int d = 0; d < input.Dim; d++) window = window.Narrow(d, starts[d], src.Size(d));
            window.CopyFrom(src);
        }
        if (!(GradMode.IsEnabled && src.RequiresGrad)) return y;
        var srcShape = src.Shape;
        return y.Record("ConstantPadNdBackward", src, g =>
        {
            var gs = g;
            for (int d = 0; d < g.Dim; d++) gs = gs.Narrow(d, starts[d], srcShape[d]);
            return gs.Contiguous();
        });
    }
}
