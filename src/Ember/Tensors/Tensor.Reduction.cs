using Ember.Kernels;

namespace Ember;

public sealed partial class Tensor
{
    private Tensor ReduceF(string op, int[] dims, bool keepDim, RowReduction kind)
    {
        var outShape = Reduce.OutputShape(_shape, dims, keepDim);
        var r = Empty(DType, outShape);
        switch (DType)
        {
            case DType.Float32: Reduce.RowsInto(this, dims, kind, r.Data<float>()); break;
            case DType.Float64: Reduce.RowsInto(this, dims, kind, r.Data<double>()); break;
            case DType.Int64: Reduce.RowsInto(this, dims, kind, r.Data<long>()); break;
            case DType.Bool: return To(DType.Int64).ReduceF(op, dims, keepDim, kind);
            default: throw new NotSupportedException($"{op}: dtype {DType.Name()} (shape {ShapeUtil.Str(_shape)}).");
        }
        return r;
    }

    /// <summary>Broadcasts a reduced gradient back over the reduced dims.</summary>
    private static Tensor ExpandReduced(Tensor g, int[] inShape, int[] dims, bool keepDim)
    {
        if (!keepDim)
            foreach (int d in dims) g = g.Unsqueeze(d);   // dims are ascending, so each insert lands in place
        return g.Expand(inShape);
    }

    /// <summary>Sum over <paramref name="dims"/> (all dims when null or empty).</summary>
    public Tensor Sum(int[]? dims, bool keepDim = false)
    {
        var rd = ShapeUtil.ReduceDims("Sum", dims, Dim);
        if (IsComplex) return ComplexSum(rd, keepDim, 1);
        var r = ReduceF("Sum", rd, keepDim, RowReduction.Sum);
        if (!AnyRequiresGrad(this)) return r;
        var inShape = _shape;
        return r.Record("SumBackward", this, g => ExpandReduced(g, inShape, rd, keepDim));
    }

    /// <summary>The sum of all elements (a 0-d tensor).</summary>
    public Tensor Sum() => Sum(null);
    /// <summary>Sums over <paramref name="dim"/> (kept as size 1 with <paramref name="keepDim"/>).</summary>
    public Tensor Sum(int dim, bool keepDim = false) => Sum([dim], keepDim);

    /// <summary>Mean over <paramref name="dims"/> (all dims when null or empty).</summary>
    public Tensor Mean(int[]? dims, bool keepDim = false)
    {
        var rd = ShapeUtil.ReduceDims("Mean", dims, Dim);
        int count = 1;
        foreach (int d in rd) count *= _shape[d];
        if (IsComplex) return ComplexSum(rd, keepDim, 1.0 / count);
        CheckFloating("Mean");
        var r = ReduceF("Mean", rd, keepDim, RowReduction.Sum);
        using (NoGrad()) r.MulInPlace(1.0 / count);
        if (!AnyRequiresGrad(this)) return r;
        var inShape = _shape;
        return r.Record("MeanBackward", this, g => ExpandReduced(g.Mul(1.0 / count), inShape, rd, keepDim));
    }

    /// <summary>The mean of all elements (a 0-d tensor).</summary>
    public Tensor Mean() => Mean(null);
    /// <summary>Means over <paramref name="dim"/> (kept as size 1 with <paramref name="keepDim"/>).</summary>
    public Tensor Mean(int dim, bool keepDim = false) => Mean([dim], keepDim);

    /// <summary>Product over dims. The gradient of each element is the product of the others (computed without
    /// dividing, so zeros are handled exactly).</summary>
    public Tensor Prod(int[]? dims, bool keepDim = false)
    {
        var rd = ShapeUtil.ReduceDims("Prod", dims, Dim);
        var r = ReduceF("Prod", rd, keepDim, RowReduction.Prod);
        if (!AnyRequiresGrad(this)) return r;
        var x = this;
        return r.Record("ProdBackward", this, g => ExpandReduced(g, x._shape, rd, keepDim).Mul(ProdOthers(x, rd)), x);
    }

    /// <summary>The product of all elements (a 0-d tensor).</summary>
    public Tensor Prod() => Prod(null);
    /// <summary>Products over <paramref name="dim"/>.</summary>
    public Tensor Prod(int dim, bool keepDim = false) => Prod([dim], keepDim);

    /// <summary>For each element, the product of the other elements of its reduction group (prefix × suffix).</summary>
    private static Tensor ProdOthers(Tensor x, int[] dims)
    {
        var xd = x.Detach().To(DType.Float64);
        var rows = Reduce.AsRows<double>(xd, dims);
        var o = new double[rows.Count * rows.Length];
        for (int r = 0; r < rows.Count; r++)
        {
            int b = rows.Offset + r * rows.Length, ob = r * rows.Length;
            double acc = 1;
            for (int i = 0; i < rows.Length; i++) { o[ob + i] = acc; acc *= rows.Data[b + i]; }
            acc = 1;
            for (int i = rows.Length - 1; i >= 0; i--) { o[ob + i] *= acc; acc *= rows.Data[b + i]; }
        }
        // Rows are laid out (kept dims, reduced dims): view back to the input's dim order.
        int nd = x.Dim;
        var perm = new List<int>();
        for (int i = 0; i < nd; i++) if (Array.IndexOf(dims, i) < 0) perm.Add(i);
        perm.AddRange(dims);
        var permShape = perm.Select(p => x._shape[p]).ToArray();
        var inv = new int[nd];
        for (int i = 0; i < nd; i++) inv[perm[i]] = i;
        return FromArray(o, permShape).Permute(inv).To(x.DType);
    }

    /// <summary>Maximum of all elements; the gradient is shared evenly among ties (as in PyTorch).</summary>
    public Tensor Max() => AllExtremum("Max", RowReduction.Max);

    /// <summary>Minimum of all elements.</summary>
    public Tensor Min() => AllExtremum("Min", RowReduction.Min);

    private Tensor AllExtremum(string op, RowReduction kind)
    {
        var rd = ShapeUtil.ReduceDims(op, null, Dim);
        var r = ReduceF(op, rd, false, kind);
        if (!AnyRequiresGrad(this)) return r;
        var x = this;
        return r.Record(op + "Backward", this, g =>
        {
            var mask = x.Detach().Eq(r.Detach()).To(g.DType);
            return mask.Mul(g.Div(mask.Sum()));
        }, x, r);
    }

    /// <summary>Max over dims (values only; <c>amax</c>). Ties share the gradient evenly.</summary>
    public Tensor Amax(int[]? dims, bool keepDim = false) => Extremum("Amax", dims, keepDim, RowReduction.Max);

    /// <summary>Min over dims (values only; <c>amin</c>).</summary>
    public Tensor Amin(int[]? dims, bool keepDim = false) => Extremum("Amin", dims, keepDim, RowReduction.Min);

    private Tensor Extremum(string op, int[]? dims, bool keepDim, RowReduction kind)
    {
        var rd = ShapeUtil.ReduceDims(op, dims, Dim);
        var r = ReduceF(op, rd, keepDim, kind);
        if (!AnyRequiresGrad(this)) return r;
        var x = this;
        return r.Record(op + "Backward", this, g =>
        {
            var mask = x.Detach().Eq(ExpandReduced(r.Detach(), x._shape, rd, keepDim)).To(g.DType);
            var count = mask.Sum(rd, keepDim: true);
            return mask.Mul(ExpandReduced(g, x._shape, rd, keepDim)).Div(count);
        }, x, r);
    }

    /// <summary>Max along one dim with the index of the first maximum (<c>torch.max(x, dim)</c>).</summary>
    public (Tensor Values, Tensor Indices) Max(int dim, bool keepDim = false) => ExtremumWithIndex("Max", dim, keepDim, true);

    /// <summary>Min along one dim with the index of the first minimum.</summary>
    public (Tensor Values, Tensor Indices) Min(int dim, bool keepDim = false) => ExtremumWithIndex("Min", dim, keepDim, false);

    private (Tensor, Tensor) ExtremumWithIndex(string op, int dim, bool keepDim, bool max)
    {
        int d = ShapeUtil.Dim(op, dim, Dim);
        var idx = ArgExtremum(op, d, true, max);
        var values = Detach().Gather(d, idx);
        var indices = keepDim ? idx : idx.Squeeze(d);
        if (!keepDim) values = values.Squeeze(d);
        if (AnyRequiresGrad(this))
        {
            var inShape = _shape;
            var dt = DType;
            values = values.Detach().Record(op + "Backward", this, g =>
                Zeros(inShape, dt).ScatterAdd(d, idx, keepDim ? g : g.Unsqueeze(d)));
        }
        return (values, indices);
    }

    /// <summary>Index of the maximum along <paramref name="dim"/>, or of the flattened tensor when null (int64).</summary>
    public Tensor ArgMax(int? dim = null, bool keepDim = false)
        => dim is int d ? ArgExtremum("ArgMax", ShapeUtil.Dim("ArgMax", d, Dim), keepDim, true) : Reshape(-1).ArgExtremum("ArgMax", 0, false, true);

    /// <summary>Index of the minimum along <paramref name="dim"/>, or of the flattened tensor when null (int64).</summary>
    public Tensor ArgMin(int? dim = null, bool keepDim = false)
        => dim is int d ? ArgExtremum("ArgMin", ShapeUtil.Dim("ArgMin", d, Dim), keepDim, false) : Reshape(-1).ArgExtremum("ArgMin", 0, false, false);

    private Tensor ArgExtremum(string op, int d, bool keepDim, bool max)
    {
        if (Dim == 0) return Zeros([], DType.Int64);
        var r = Empty(DType.Int64, Reduce.OutputShape(_shape, [d], keepDim));
        var dst = r.Data<long>();
        switch (DType)
        {
            case DType.Float32: Reduce.ArgRowsInto<float>(op, this, d, max, dst); break;
            case DType.Float64: Reduce.ArgRowsInto<double>(op, this, d, max, dst); break;
            case DType.Int64: Reduce.ArgRowsInto<long>(op, this, d, max, dst); break;
            default: throw new NotSupportedException($"{op}: dtype {DType.Name()}.");
        }
        return r;
    }

    /// <summary>Variance over dims; <paramref name="unbiased"/> divides by N − 1 (Bessel's correction).</summary>
    public Tensor Var(int[]? dims = null, bool unbiased = true, bool keepDim = false)
    {
        CheckFloating("Var");
        var rd = ShapeUtil.ReduceDims("Var", dims, Dim);
        int n = 1;
        foreach (int d in rd) n *= _shape[d];
        var centered = Sub(Mean(rd, keepDim: true));
        return centered.Square().Sum(rd, keepDim).Div(Math.Max(n - (unbiased ? 1 : 0), 0));
    }

    /// <summary>Variance over <paramref name="dim"/> (Bessel-corrected when <paramref name="unbiased"/>).</summary>
    public Tensor Var(int dim, bool unbiased = true, bool keepDim = false) => Var([dim], unbiased, keepDim);

    /// <summary>Standard deviation over dims.</summary>
    public Tensor Std(int[]? dims = null, bool unbiased = true, bool keepDim = false) => Var(dims, unbiased, keepDim).Sqrt();

    /// <summary>Standard deviation over <paramref name="dim"/> (Bessel-corrected when <paramref name="unbiased"/>).</summary>
    public Tensor Std(int dim, bool unbiased = true, bool keepDim = false) => Std([dim], unbiased, keepDim);

    /// <summary>log Σ exp(x) over dims, computed as m + log Σ exp(x − m) with m the (detached) max, so it neither
    /// overflows nor underflows; the gradient is softmax(x).</summary>
    public Tensor LogSumExp(int[] dims, bool keepDim = false)
    {
        CheckFloating("LogSumExp");
        var rd = ShapeUtil.ReduceDims("LogSumExp", dims, Dim);
        Tensor m;
        using (NoGrad())
        {
            m = Amax(rd, keepDim: true);
            m = Where(m.Abs().Eq(double.PositiveInfinity), ZerosLike(m), m);
        }
        var lse = Sub(m).Exp().Sum(rd, keepDim: true).Log().Add(m);
        return keepDim ? lse : lse.SqueezeDims(rd);
    }

    /// <summary>log Σ eˣ over <paramref name="dim"/>, computed stably.</summary>
    public Tensor LogSumExp(int dim, bool keepDim = false) => LogSumExp([dim], keepDim);

    private Tensor SqueezeDims(int[] ascendingDims)
    {
        var t = this;
        for (int i = ascendingDims.Length - 1; i >= 0; i--) t = t.Squeeze(ascendingDims[i]);
        return t;
    }

    /// <summary>Softmax along <paramref name="dim"/>.</summary>
    public Tensor Softmax(int dim)
    {
        var (y, _) = SoftmaxCore("Softmax", dim, log: false);
        if (!AnyRequiresGrad(this)) return y;
        int d = ShapeUtil.Dim("Softmax", dim, Dim);
        // dx = y ⊙ (g − Σ_d g ⊙ y)
        return y.Record("SoftmaxBackward", this, g => SoftmaxBackwardFused(y, g, d, log: false)
            ?? y.Saved().Mul(g.Sub(g.Mul(y.Saved()).Sum(d, keepDim: true))), y);
    }

    /// <summary>log(softmax(x)) along <paramref name="dim"/>, computed directly (stable).</summary>
    public Tensor LogSoftmax(int dim)
    {
        var (y, _) = SoftmaxCore("LogSoftmax", dim, log: true);
        if (!AnyRequiresGrad(this)) return y;
        int d = ShapeUtil.Dim("LogSoftmax", dim, Dim);
        // dx = g − softmax(x) · Σ_d g
        return y.Record("LogSoftmaxBackward", this, g => SoftmaxBackwardFused(y, g, d, log: true)
            ?? g.Sub(y.Saved().Exp().Mul(g.Sum(d, keepDim: true))), y);
    }

    /// <summary>The one-pass float32 backward of (log-)softmax along the last dim of contiguous tensors; null where
    /// the composed rule applies (other dtypes, other dims, strided gradients, or a graph being built).</summary>
    private static Tensor? SoftmaxBackwardFused(Tensor y, Tensor g, int d, bool log)
    {
        if (y.DType != DType.Float32 || g.DType != DType.Float32 || d != y.Dim - 1 || GradMode.IsEnabled
            || !y.IsContiguous || !g.IsContiguous || !ShapeUtil.SameShape(y._shape, g._shape)) return null;
        int len = y._shape[d];
        var dx = Empty(DType.Float32, y._shape);
        Reduce.SoftmaxBackwardRows(y.Data<float>(), y._offset, g.Data<float>(), g._offset, dx.Data<float>(), len == 0 ? 0 : y._numel / len, len, log);
        return dx;
    }

    private (Tensor, int) SoftmaxCore(string op, int dim, bool log)
    {
        CheckFloating(op);
        if (Dim == 0) return (log ? ZerosLike(this) : OnesLike(this), 0);
        int d = ShapeUtil.Dim(op, dim, Dim);
        // Compute in (others…, d) row layout, then view back to the input's dim order.
        var perm = Enumerable.Range(0, Dim).Where(i => i != d).Append(d).ToArray();
        var permShape = perm.Select(p => _shape[p]).ToArray();
        var outP = Empty(DType, permShape);
        switch (DType)
        {
            case DType.Float32: Reduce.SoftmaxRows(Reduce.AsRows<float>(this, [d]), outP.Data<float>(), log); break;
            default: Reduce.SoftmaxRows(Reduce.AsRows<double>(this, [d]), outP.Data<double>(), log); break;
        }
        if (d == Dim - 1) return (outP, d);
        var inv = new int[Dim];
        for (int i = 0; i < Dim; i++) inv[perm[i]] = i;
        return (outP.Permute(inv), d);
    }

    /// <summary>Vector p-norm over dims (p = 2 by default; 1, ∞ and any p &gt; 0 supported). The 2-norm's
    /// gradient at zero is taken as 0 (a subgradient), not NaN.</summary>
    public Tensor Norm(double p = 2, int[]? dims = null, bool keepDim = false)
    {
        CheckFloating("Norm");
        if (!(p > 0)) throw new ArgumentException($"Norm: p must be positive, got {p}.");
        var rd = ShapeUtil.ReduceDims("Norm", dims, Dim);
        if (p == 1) return Abs().Sum(rd, keepDim);
        if (double.IsPositiveInfinity(p)) return Abs().Amax(rd, keepDim);
        if (p != 2) return Abs().Pow(p).Sum(rd, keepDim).Pow(1 / p);
        Tensor r;
        using (NoGrad()) r = Square().Sum(rd, keepDim).Sqrt();
        if (!AnyRequiresGrad(this)) return r;
        var x = this;
        return r.Record("NormBackward", this, g =>
        {
            var n = ExpandReduced(r.Saved(), x._shape, rd, keepDim);
            var scale = Where(n.Eq(0), ZerosLike(n), ExpandReduced(g, x._shape, rd, keepDim).Div(n));
            return x.Saved().Mul(scale);
        }, x, r);
    }

    /// <summary>Reduces a broadcast gradient back to <paramref name="shape"/> (sums the broadcast dims).</summary>
    internal Tensor SumTo(int[] shape)
    {
        if (ShapeUtil.SameShape(_shape, shape)) return this;
        int lead = Dim - shape.Length;
        var dims = new List<int>();
        for (int i = 0; i < Dim; i++)
            if (i < lead || (shape[i - lead] == 1 && _shape[i] != 1)) dims.Add(i);
        var r = dims.Count > 0 ? Sum(dims.ToArray(), keepDim: true) : this;
        return lead > 0 || dims.Count > 0 ? r.Reshape(shape) : r;
    }
}
