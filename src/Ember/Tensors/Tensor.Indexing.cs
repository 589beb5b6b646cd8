using Ember.Kernels;

namespace Ember;

public sealed partial class Tensor
{
    private void CheckIndexShape(string op, int d, Tensor index, Tensor? src)
    {
        index.CheckDType(op, DType.Int64);
        if (index.Dim != Dim && !(Dim == 0 && index.Dim <= 1))
            throw new ArgumentException($"{op}: index has {index.Dim} dims but the tensor has {Dim} (shapes {ShapeUtil.Str(index._shape)} and {ShapeUtil.Str(_shape)}).");
        for (int i = 0; i < index.Dim; i++)
        {
            if (i != d && index._shape[i] > _shape[i])
                throw new ArgumentException($"{op}: index shape {ShapeUtil.Str(index._shape)} exceeds the tensor shape {ShapeUtil.Str(_shape)} in dim {i}.");
            if (src is not null && index._shape[i] > src._shape[i])
                throw new ArgumentException($"{op}: index shape {ShapeUtil.Str(index._shape)} exceeds the source shape {ShapeUtil.Str(src._shape)} in dim {i}.");
        }
    }

    private static int[] ZeroDim(int[] strides, int d)
    {
        var s = (int[])strides.Clone();
        s[d] = 0;
        return s;
    }

    /// <summary>Operand 0: the index-shaped output/source, 1: the index, 2: the indexed tensor with dim d's stride
    /// removed (the index supplies it).</summary>
    private struct GatherRun<T> : IRun where T : unmanaged
    {
        public T[] Out, X; public long[] Index; public int StrideD, SizeD; public bool Scatter, Accumulate; public string Op;
        public void Run(int len, ReadOnlySpan<int> off, ReadOnlySpan<int> inner)
        {
            int oo = off[0], oi = off[1], ox = off[2];
            for (int i = 0; i < len; i++, oo += inner[0], oi += inner[1], ox += inner[2])
            {
                long ix = Index[oi];
                if (ix < 0) ix += SizeD;
                if ((ulong)ix >= (ulong)SizeD)
                    throw new IndexOutOfRangeException($"{Op}: index {Index[oi]} is out of bounds for dim of size {SizeD}.");
                int at = ox + (int)ix * StrideD;
                if (!Scatter) Out[oo] = X[at];
                else if (Accumulate) X[at] = Add(X[at], Out[oo]);
                else X[at] = Out[oo];
            }
        }

        private static T Add(T a, T b)
        {
            if (typeof(T) == typeof(float)) return (T)(object)((float)(object)a + (float)(object)b);
            if (typeof(T) == typeof(double)) return (T)(object)((double)(object)a + (double)(object)b);
            if (typeof(T) == typeof(long)) return (T)(object)((long)(object)a + (long)(object)b);
            throw new NotSupportedException("ScatterAdd: dtype.");
        }
    }

    private static void GatherScatter<T>(string op, Tensor x, int d, Tensor index, Tensor other, bool scatter, bool accumulate) where T : unmanaged
    {
        var plan = new StridedPlan(index._shape,
            [other._strides, index._strides, ZeroDim(x._strides, d)],
            [other._offset, index._offset, x._offset]);
        var run = new GatherRun<T>
        {
            Out = other.Data<T>(), X = x.Data<T>(), Index = index.Data<long>(), StrideD = x._strides[d], SizeD = x._shape[d],
            Scatter = scatter, Accumulate = accumulate, Op = op,
        };
        // Scatters may write one element from several positions: run them on one thread.
        if (scatter) plan.Execute(ref run, 0, plan.Total);
        else plan.ExecuteParallel(run);
    }

    private static void DispatchGatherScatter(string op, Tensor x, int d, Tensor index, Tensor other, bool scatter, bool accumulate)
    {
        switch (x.DType)
        {
            case DType.Float32: GatherScatter<float>(op, x, d, index, other, scatter, accumulate); break;
            case DType.Float64: GatherScatter<double>(op, x, d, index, other, scatter, accumulate); break;
            case DType.Int64: GatherScatter<long>(op, x, d, index, other, scatter, accumulate); break;
            default: throw new NotSupportedException($"{op}: dtype {x.DType.Name()}.");
        }
    }

    /// <summary>out[i][j] = x[index[i][j]][j] for dim 0 (and likewise for other dims); out has the index's shape.</summary>
    public Tensor Gather(int dim, Tensor index)
    {
        int d = ShapeUtil.Dim("Gather", dim, Dim);
        CheckIndexShape("Gather", d, index, null);
        var r = Empty(DType, index._shape);
        DispatchGatherScatter("Gather", this, d, index, r, scatter: false, accumulate: false);
        if (!AnyRequiresGrad(this)) return r;
        var inShape = _shape;
        return r.Record("GatherBackward", this, g => Zeros(inShape, g.DType).ScatterAdd(d, index, g), index);
    }

    private Tensor ScatterCore(string op, int d, Tensor index, Tensor src, bool accumulate)
    {
        CheckSameDType(op, this, src);
        CheckIndexShape(op, d, index, src);
        var r = Empty(DType, _shape);
        CopyRaw(this, r);
        DispatchGatherScatter(op, r, d, index, src, scatter: true, accumulate);
        return r;
    }

    /// <summary>Out-of-place scatter: a copy of this tensor with out[index[i][j]][j] = src[i][j] (dim 0).</summary>
    public Tensor Scatter(int dim, Tensor index, Tensor src)
    {
        int d = ShapeUtil.Dim("Scatter", dim, Dim);
        var r = ScatterCore("Scatter", d, index, src, accumulate: false);
        if (!AnyRequiresGrad(this, src)) return r;
        var (self, s) = (this, src);
        return r.Record("ScatterBackward", [self, s], g => [
            self.RequiresGrad ? g.Scatter(d, index, ZerosLike(s)) : null,
            s.RequiresGrad ? g.Gather(d, index) : null], index);
    }

    /// <summary>Scatter of a single value.</summary>
    public Tensor Scatter(int dim, Tensor index, double value) => Scatter(dim, index, Full(index._shape, value, DType));

    /// <summary>Out-of-place scatter-add: a copy of this tensor with out[index[i][j]][j] += src[i][j] (dim 0).</summary>
    public Tensor ScatterAdd(int dim, Tensor index, Tensor src)
    {
        int d = ShapeUtil.Dim("ScatterAdd", dim, Dim);
        var r = ScatterCore("ScatterAdd", d, index, src, accumulate: true);
        if (!AnyRequiresGrad(this, src)) return r;
        var (self, s) = (this, src);
        return r.Record("ScatterAddBackward", [self, s], g => [self.RequiresGrad ? g : null, s.RequiresGrad ? g.Gather(d, index) : null], index);
    }

    /// <summary>Selects entries along <paramref name="dim"/> by a 1-D int64 index (rows of an embedding table).</summary>
    public Tensor IndexSelect(int dim, Tensor index)
    {
        int d = ShapeUtil.Dim("IndexSelect", dim, Dim);
        index.CheckDType("IndexSelect", DType.Int64);
        if (index.Dim > 1) throw new ArgumentException($"IndexSelect: index must be 1-D, got shape {ShapeUtil.Str(index._shape)}.");
        var idx = index.Contiguous().ToArray<long>();
        int n = _shape[d];
        var shape = (int[])_shape.Clone();
        shape[d] = idx.Length;
        var r = Empty(DType, shape);
        var src = Detach();
        if (d == 0 && IsContiguous && DType.ElementSize() > 0)
        {
            int row = n == 0 ? 0 : NumEl / n;
            var srcArr = _storage.RawArray;
            var dstArr = r._storage.RawArray;
            for (int i = 0; i < idx.Length; i++)
            {
                long k = CheckIndex("IndexSelect", idx[i], n);
                Array.Copy(srcArr, _offset + k * row, dstArr, (long)i * row, row);
            }
        }
        else
        {
            for (int i = 0; i < idx.Length; i++)
                CopyRaw(src.Select(d, (int)CheckIndex("IndexSelect", idx[i], n)), r.Select(d, i));
        }
        if (!AnyRequiresGrad(this)) return r;
        var inShape = _shape;
        return r.Record("IndexSelectBackward", this, g => Zeros(inShape, g.DType).IndexAddInPlace(d, index, g), index);
    }

    private static long CheckIndex(string op, long i, int n)
    {
        long k = i < 0 ? i + n : i;
        if ((ulong)k >= (ulong)n) throw new IndexOutOfRangeException($"{op}: index {i} is out of range for a dimension of size {n}.");
        return k;
    }

    /// <summary>In place: this.Select(dim, index[i]) += src.Select(dim, i) (<c>index_add_</c>); repeated indices accumulate.</summary>
    public Tensor IndexAddInPlace(int dim, Tensor index, Tensor src)
    {
        CheckInPlace("IndexAddInPlace");
        int d = ShapeUtil.Dim("IndexAddInPlace", dim, Dim);
        var idx = index.Contiguous().ToArray<long>();
        if (src._shape[d] != idx.Length)
            throw new ArgumentException($"IndexAddInPlace: source has {src._shape[d]} entries in dim {d} but the index has {idx.Length}.");
        int n = _shape[d];
        foreach (long i in idx) CheckIndex("IndexAddInPlace", i, n);   // all indices before any write
        if (d == 0 && IsContiguous && src.DType == DType && DType is DType.Float32 or DType.Float64
            && ShapeUtil.SameShape(_shape[1..], src._shape[1..]))
        {
            // Dense rows (an embedding's gradient): one vector add per index instead of two views and a strided plan each.
            var s = src.Contiguous();
            int row = n == 0 ? 0 : NumEl / n;
            for (int i = 0; i < idx.Length; i++)
            {
                long k = idx[i] < 0 ? idx[i] + n : idx[i];
                if (DType == DType.Float32)
                {
                    var to = new Span<float>(Data<float>(), _offset + (int)k * row, row);
                    System.Numerics.Tensors.TensorPrimitives.Add(to, new ReadOnlySpan<float>(s.Data<float>(), s._offset + i * row, row), to);
                }
                else
                {
                    var to = new Span<double>(Data<double>(), _offset + (int)k * row, row);
                    System.Numerics.Tensors.TensorPrimitives.Add(to, new ReadOnlySpan<double>(s.Data<double>(), s._offset + i * row, row), to);
                }
            }
            MarkModified();
            return this;
        }
        using (NoGrad())
        {
            for (int i = 0; i < idx.Length; i++)
                Select(d, (int)CheckIndex("IndexAddInPlace", idx[i], n)).AddInPlace(src.Select(d, i));
        }
        MarkModified();
        return this;
    }

    /// <summary>One-hot encoding of an int64 tensor of class indices: shape (…, numClasses), int64.</summary>
    public Tensor OneHot(int numClasses = -1)
    {
        CheckDType("OneHot", DType.Int64);
        var v = Contiguous().ToArray<long>();
        if (numClasses < 0) numClasses = v.Length == 0 ? 0 : (int)v.Max() + 1;
        var shape = _shape.Append(numClasses).ToArray();
        var r = Zeros(shape, DType.Int64);
        var d = r.Data<long>();
        for (int i = 0; i < v.Length; i++)
        {
            if (v[i] < 0 || v[i] >= numClasses)
                throw new ArgumentException($"OneHot: class index {v[i]} at flat position {i} is outside [0, {numClasses}).");
            d[(long)i * numClasses + v[i]] = 1;
        }
        return r;
    }
}
