namespace Ember;

public sealed partial class Tensor
{
    private Tensor ViewOf(int[] shape, int[] strides, int offset) => new(_storage, shape, strides, offset);

    /// <summary>Backward of any view that selects part of its input: scatter the gradient into zeros of the
    /// input's shape through the same view.</summary>
    private static Func<Tensor, Tensor> PartialViewBackward(Tensor input, Func<Tensor, Tensor> sameView)
    {
        var shape = input._shape;
        return g =>
        {
            var z = Zeros(shape, g.DType);
            CopyRaw(g, sameView(z));
            return z;
        };
    }

    /// <summary>Records a partial view's backward, and marks the node so that the engine can scatter its gradient
    /// straight into the input's gradient buffer.</summary>
    private Tensor RecordPartialView(string name, Tensor input, Func<Tensor, Tensor> sameView)
    {
        Record(name, input, PartialViewBackward(input, sameView));
        GradFn!.ScatterView = sameView;
        return this;
    }

    private int[] InferShape(string op, int[] shape)
    {
        var r = (int[])shape.Clone();
        int infer = -1;
        for (int i = 0; i < r.Length; i++)
        {
            if (r[i] == -1)
            {
                if (infer >= 0) throw new ArgumentException($"{op}: only one dimension can be inferred (-1) in {ShapeUtil.Str(shape)}.");
                infer = i;
            }
            else if (r[i] < 0) throw new ArgumentException($"{op}: invalid dimension {r[i]} in shape {ShapeUtil.Str(shape)}.");
        }
        // The given dims' product, overflow-safe (it saturates above 2^62 and then never equals an element count).
        long known = ShapeUtil.Product(infer < 0 ? r : [.. r[..infer], .. r[(infer + 1)..]]);
        if (infer >= 0)
        {
            if (known == 0 || NumEl % known != 0)
                throw new ArgumentException($"{op}: shape {ShapeUtil.Str(shape)} is invalid for input of shape {ShapeUtil.Str(_shape)} ({NumEl} elements).");
            r[infer] = (int)(NumEl / known);
        }
        else if (known != NumEl)
            throw new ArgumentException($"{op}: shape {ShapeUtil.Str(shape)} is invalid for input of shape {ShapeUtil.Str(_shape)} ({NumEl} elements).");
        return r;
    }

    /// <summary>Strides that let the existing memory be read in <paramref name="newShape"/>, or null if no such view
    /// exists (the algorithm of PyTorch's <c>computeStride</c>: dims are grouped into contiguous chunks that the
    /// new shape must subdivide).</summary>
    private int[]? ViewStrides(int[] newShape)
    {
        var newStrides = new int[newShape.Length];
        if (NumEl == 0) return ShapeUtil.ContiguousStrides(newShape);
        int viewD = newShape.Length - 1;
        if (_shape.Length == 0)
        {
            for (int i = 0; i < newShape.Length; i++) newStrides[i] = 1;
            return newStrides;
        }
        long chunkBaseStride = _strides[^1], tensorNumel = 1, viewNumel = 1;
        for (int td = _shape.Length - 1; td >= 0; td--)
        {
            tensorNumel *= _shape[td];
            if (td == 0 || (_shape[td - 1] != 1 && _strides[td - 1] != tensorNumel * chunkBaseStride))
            {
                while (viewD >= 0 && (viewNumel < tensorNumel || newShape[viewD] == 1))
                {
                    newStrides[viewD] = (int)(viewNumel * chunkBaseStride);
                    viewNumel *= newShape[viewD];
                    viewD--;
                }
                if (viewNumel != tensorNumel) return null;
                if (td > 0)
                {
                    chunkBaseStride = _strides[td - 1];
                    tensorNumel = 1;
                    viewNumel = 1;
                }
            }
        }
        return viewD == -1 ? newStrides : null;
    }

    /// <summary>A view with a new shape (one dim may be -1). Fails when the memory layout does not allow a view;
    /// use <see cref="Reshape"/> then.</summary>
    public Tensor View(params int[] shape)
    {
        var s = InferShape("View", shape);
        var strides = ViewStrides(s) ?? throw new InvalidOperationException(
            $"View: a tensor of shape {ShapeUtil.Str(_shape)} and strides {ShapeUtil.Str(_strides)} cannot be viewed as {ShapeUtil.Str(s)}; use Reshape (which copies) or call Contiguous() first.");
        var r = ViewOf(s, strides, _offset);
        if (AnyRequiresGrad(this))
        {
            var inShape = _shape;
            r.Record("ViewBackward", this, g => g.Reshape(inShape));
        }
        return r;
    }

    /// <summary>A tensor with a new shape: a view when possible, otherwise a copy.</summary>
    public Tensor Reshape(params int[] shape)
    {
        var s = InferShape("Reshape", shape);
        return ViewStrides(s) is not null ? View(s) : Contiguous().View(s);
    }

    /// <summary>Flattens dims start..end into one.</summary>
    public Tensor Flatten(int startDim = 0, int endDim = -1)
    {
        if (Dim == 0) return Reshape(1);
        int s = ShapeUtil.Dim("Flatten", startDim, Dim), e = ShapeUtil.Dim("Flatten", endDim, Dim);
        if (s > e) throw new ArgumentException($"Flatten: startDim {startDim} comes after endDim {endDim}.");
        var shape = new List<int>();
        for (int i = 0; i < s; i++) shape.Add(_shape[i]);
        int m = 1;
        for (int i = s; i <= e; i++) m *= _shape[i];
        shape.Add(m);
        for (int i = e + 1; i < Dim; i++) shape.Add(_shape[i]);
        return Reshape(shape.ToArray());
    }

    /// <summary>Splits one dim into several (<c>unflatten</c>).</summary>
    public Tensor Unflatten(int dim, params int[] sizes)
    {
        int d = ShapeUtil.Dim("Unflatten", dim, Dim);
        var shape = new List<int>(_shape[..d]);
        shape.AddRange(sizes);
        shape.AddRange(_shape[(d + 1)..]);
        return Reshape(shape.ToArray());
    }

    /// <summary>Reorders dimensions (a view).</summary>
    public Tensor Permute(params int[] dims)
    {
        if (dims.Length != Dim)
            throw new ArgumentException($"Permute: got {dims.Length} dims for a tensor of {Dim} dimension(s) (shape {ShapeUtil.Str(_shape)}).");
        var shape = new int[Dim];
        var strides = new int[Dim];
        var seen = new bool[Dim];
        var inverse = new int[Dim];
        for (int i = 0; i < Dim; i++)
        {
            int d = ShapeUtil.Dim("Permute", dims[i], Dim);
            if (seen[d]) throw new ArgumentException($"Permute: dim {dims[i]} repeats in {ShapeUtil.Str(dims)}.");
            seen[d] = true;
            shape[i] = _shape[d];
            strides[i] = _strides[d];
            inverse[d] = i;
        }
        var r = ViewOf(shape, strides, _offset);
        return AnyRequiresGrad(this) ? r.Record("PermuteBackward", this, g => g.Permute(inverse)) : r;
    }

    /// <summary>Swaps two dimensions (a view).</summary>
    public Tensor Transpose(int dim0, int dim1)
    {
        int a = ShapeUtil.Dim("Transpose", dim0, Dim), b = ShapeUtil.Dim("Transpose", dim1, Dim);
        var perm = new int[Dim];
        for (int i = 0; i < Dim; i++) perm[i] = i;
        (perm[a], perm[b]) = (perm[b], perm[a]);
        return Permute(perm);
    }

    /// <summary>Transpose of a matrix (dims ≤ 2), like PyTorch's <c>.T</c> on 2-D tensors.</summary>
    public Tensor T
    {
        get
        {
            if (Dim > 2) throw new InvalidOperationException($"T: expects a tensor of at most 2 dims, got shape {ShapeUtil.Str(_shape)}; use Transpose or MT.");
            return Dim < 2 ? this : Transpose(0, 1);
        }
    }

    /// <summary>Transpose of the last two dims (<c>.mT</c>).</summary>
    public Tensor MT => Transpose(-2, -1);

    /// <summary>Broadcasts to a larger shape without copying (stride 0 on the new dims); -1 keeps a dim.</summary>
    public Tensor Expand(params int[] shape)
    {
        if (shape.Length < Dim)
            throw new ArgumentException($"Expand: the target shape {ShapeUtil.Str(shape)} has fewer dims than the tensor {ShapeUtil.Str(_shape)}.");
        int off = shape.Length - Dim;
        var ns = new int[shape.Length];
        var st = new int[shape.Length];
        for (int i = 0; i < shape.Length; i++)
        {
            int src = i - off;
            int want = shape[i];
            if (src < 0)
            {
                if (want < 0) throw new ArgumentException($"Expand: -1 is not allowed for the new leading dim {i} in {ShapeUtil.Str(shape)}.");
                ns[i] = want; st[i] = 0;
                continue;
            }
            if (want == -1) want = _shape[src];
            if (_shape[src] == want) { ns[i] = want; st[i] = _strides[src]; }
            else if (_shape[src] == 1) { ns[i] = want; st[i] = 0; }
            else throw new ArgumentException($"Expand: the size {_shape[src]} of dim {src} (shape {ShapeUtil.Str(_shape)}) cannot expand to {want} (target {ShapeUtil.Str(shape)}); only size-1 dims expand.");
        }
        var r = ViewOf(ns, st, _offset);
        if (AnyRequiresGrad(this))
        {
            var inShape = _shape;
            r.Record("ExpandBackward", this, g => g.SumTo(inShape));
        }
        return r;
    }

    /// <summary>A view broadcast to <paramref name="other"/>'s shape (<c>expand_as</c>).</summary>
    public Tensor ExpandAs(Tensor other) => Expand(other._shape);

    /// <summary>Inserts a dim of size 1 at <paramref name="dim"/>.</summary>
    public Tensor Unsqueeze(int dim)
    {
        int d = ShapeUtil.Dim("Unsqueeze", dim, Dim + 1);
        var shape = new List<int>(_shape);
        var strides = new List<int>(_strides);
        int stride = d < Dim ? _shape[d] * _strides[d] : 1;
        shape.Insert(d, 1);
        strides.Insert(d, stride);
        var r = ViewOf(shape.ToArray(), strides.ToArray(), _offset);
        return AnyRequiresGrad(this) ? r.Record("UnsqueezeBackward", this, g => g.Squeeze(d)) : r;
    }

    /// <summary>Removes all dims of size 1, or only <paramref name="dim"/> if it has size 1.</summary>
    public Tensor Squeeze(int? dim = null)
    {
        var shape = new List<int>();
        var strides = new List<int>();
        int only = dim is int dd ? ShapeUtil.Dim("Squeeze", dd, Dim) : -1;
        for (int i = 0; i < Dim; i++)
        {
            bool drop = _shape[i] == 1 && (only < 0 || only == i);
            if (!drop) { shape.Add(_shape[i]); strides.Add(_strides[i]); }
        }
        var r = ViewOf(shape.ToArray(), strides.ToArray(), _offset);
        if (AnyRequiresGrad(this))
        {
            var inShape = _shape;
            r.Record("SqueezeBackward", this, g => g.Reshape(inShape));
        }
        return r;
    }

    /// <summary>Elements start..start+length along one dim (a view).</summary>
    public Tensor Narrow(int dim, int start, int length)
    {
        int d = ShapeUtil.Dim("Narrow", dim, Dim);
        if (start < 0) start += _shape[d];
        if (start < 0 || length < 0 || start + length > _shape[d])
            throw new ArgumentOutOfRangeException(nameof(start), $"Narrow: start {start} and length {length} exceed dim {d} of size {_shape[d]} (shape {ShapeUtil.Str(_shape)}).");
        var shape = (int[])_shape.Clone();
        shape[d] = length;
        var r = ViewOf(shape, _strides, _offset + (length == 0 ? 0 : start * _strides[d]));
        return AnyRequiresGrad(this) ? r.RecordPartialView("NarrowBackward", this, z => z.Narrow(d, start, length)) : r;
    }

    /// <summary>Elements start, start+step, … below end along one dim (a view); negative start/end count from the end.</summary>
    public Tensor Slice(int dim, int start, int end, int step = 1)
    {
        int d = ShapeUtil.Dim("Slice", dim, Dim);
        if (step <= 0) throw new ArgumentException($"Slice: step must be positive, got {step}.");
        int n = _shape[d];
        if (start < 0) start += n;
        if (end < 0) end += n;
        start = Math.Clamp(start, 0, n);
        end = Math.Clamp(end, start, n);
        int len = (end - start + step - 1) / step;
        var shape = (int[])_shape.Clone();
        var strides = (int[])_strides.Clone();
        shape[d] = len;
        strides[d] = _strides[d] * step;
        var r = ViewOf(shape, strides, _offset + (len == 0 ? 0 : start * _strides[d]));
        return AnyRequiresGrad(this) ? r.RecordPartialView("SliceBackward", this, z => z.Slice(d, start, end, step)) : r;
    }

    /// <summary>The sub-tensor at <paramref name="index"/> along <paramref name="dim"/>, which is removed (a view).</summary>
    public Tensor Select(int dim, int index)
    {
        int d = ShapeUtil.Dim("Select", dim, Dim);
        int i = index < 0 ? index + _shape[d] : index;
        if ((uint)i >= (uint)_shape[d])
            throw new IndexOutOfRangeException($"Select: index {index} is out of bounds for dim {d} of size {_shape[d]} (shape {ShapeUtil.Str(_shape)}).");
        var shape = new List<int>(_shape);
        var strides = new List<int>(_strides);
        shape.RemoveAt(d);
        strides.RemoveAt(d);
        var r = ViewOf(shape.ToArray(), strides.ToArray(), _offset + i * _strides[d]);
        return AnyRequiresGrad(this) ? r.RecordPartialView("SelectBackward", this, z => z.Select(d, i)) : r;
    }

    /// <summary>Indexing with integers, ranges, <see cref="TensorIndex.NewAxis"/> and <see cref="TensorIndex.Ellipsis"/>
    /// (basic indexing: always a view). The setter copies a value into the view, in place.</summary>
    [System.Runtime.CompilerServices.IndexerName("At")]
    public Tensor this[params TensorIndex[] indices]
    {
        get => Index(indices);
        set => Index(indices).CopyFrom(value);
    }

    private Tensor Index(TensorIndex[] indices)
    {
        int consumed = 0, ellipses = 0;
        foreach (var ix in indices)
        {
            if (ix.IndexKind is TensorIndex.Kind.Single or TensorIndex.Kind.Slice) consumed++;
            if (ix.IndexKind == TensorIndex.Kind.Ellipsis) ellipses++;
        }
        if (ellipses > 1) throw new ArgumentException("Index: at most one Ellipsis is allowed.");
        if (consumed > Dim) throw new ArgumentException($"Index: too many indices ({consumed}) for a tensor of {Dim} dimension(s) (shape {ShapeUtil.Str(_shape)}).");
        var t = this;
        int dim = 0;
        foreach (var ix in indices)
        {
            switch (ix.IndexKind)
            {
                case TensorIndex.Kind.Single:
                    t = t.Select(dim, ix.Value);
                    break;
                case TensorIndex.Kind.Slice:
                {
                    int n = t._shape[dim];
                    int s = ix.Start.GetOffset(n), e = ix.End.GetOffset(n);
                    t = t.Slice(dim, Math.Clamp(s, 0, n), Math.Clamp(e, 0, n), ix.Step);
                    dim++;
                    break;
                }
                case TensorIndex.Kind.NewAxis:
                    t = t.Unsqueeze(dim);
                    dim++;
                    break;
                case TensorIndex.Kind.Ellipsis:
                    dim += Dim - consumed;
                    break;
            }
        }
        return t;
    }

    /// <summary>Concatenates tensors along an existing dim.</summary>
    public static Tensor Cat(IReadOnlyList<Tensor> tensors, int dim = 0)
    {
        if (tensors.Count == 0) throw new ArgumentException("Cat: expected a non-empty list of tensors.");
        var first = tensors[0];
        int d = ShapeUtil.Dim("Cat", dim, first.Dim);
        int total = 0;
        foreach (var t in tensors)
        {
            CheckSameDType("Cat", first, t);
            if (t.Dim != first.Dim)
                throw new ArgumentException($"Cat: all tensors need the same number of dims; got {ShapeUtil.Str(first._shape)} and {ShapeUtil.Str(t._shape)}.");
            for (int i = 0; i < t.Dim; i++)
                if (i != d && t._shape[i] != first._shape[i])
                    throw new ArgumentException($"Cat: sizes must match except in dim {d}; got {ShapeUtil.Str(first._shape)} and {ShapeUtil.Str(t._shape)}.");
            total += t._shape[d];
        }
        var shape = (int[])first._shape.Clone();
        shape[d] = total;
        var r = Empty(first.DType, shape);
        var sizes = new int[tensors.Count];
        int at = 0;
        var rd = r.Detach();
        for (int k = 0; k < tensors.Count; k++)
        {
            sizes[k] = tensors[k]._shape[d];
            CopyRaw(tensors[k], rd.Narrow(d, at, sizes[k]));
            at += sizes[k];
        }
        var inputs = tensors.ToArray();
        if (AnyRequiresGrad(inputs))
        {
            r.Record("CatBackward", inputs, g =>
            {
                var gs = new Tensor?[sizes.Length];
                int o = 0;
                for (int k = 0; k < sizes.Length; k++)
                {
                    if (inputs[k].RequiresGrad) gs[k] = g.Narrow(d, o, sizes[k]);
                    o += sizes[k];
                }
                return gs;
            });
        }
        return r;
    }

    /// <summary>Stacks same-shaped tensors along a new dim.</summary>
    public static Tensor Stack(IReadOnlyList<Tensor> tensors, int dim = 0)
    {
        if (tensors.Count == 0) throw new ArgumentException("Stack: expected a non-empty list of tensors.");
        int d = ShapeUtil.Dim("Stack", dim, tensors[0].Dim + 1);
        foreach (var t in tensors)
            if (!ShapeUtil.SameShape(t._shape, tensors[0]._shape))
                throw new ArgumentException($"Stack: all tensors must have the same shape; got {ShapeUtil.Str(tensors[0]._shape)} and {ShapeUtil.Str(t._shape)}.");
        return Cat(tensors.Select(t => t.Unsqueeze(d)).ToArray(), d);
    }

    /// <summary>Splits into pieces of <paramref name="splitSize"/> along a dim (the last may be smaller); views.</summary>
    public Tensor[] Split(int splitSize, int dim = 0)
    {
        int d = ShapeUtil.Dim("Split", dim, Dim);
        if (splitSize <= 0) throw new ArgumentException($"Split: split size must be positive, got {splitSize}.");
        int n = _shape[d];
        var parts = new List<Tensor>();
        for (int s = 0; s < n; s += splitSize) parts.Add(Narrow(d, s, Math.Min(splitSize, n - s)));
        if (n == 0) parts.Add(Narrow(d, 0, 0));
        return parts.ToArray();
    }

    /// <summary>Splits into pieces of the given sizes, which must add up to the dim's size; views.</summary>
    public Tensor[] Split(int[] sizes, int dim = 0)
    {
        int d = ShapeUtil.Dim("Split", dim, Dim);
        if (sizes.Sum() != _shape[d])
            throw new ArgumentException($"Split: sizes {ShapeUtil.Str(sizes)} add up to {sizes.Sum()}, but dim {d} has size {_shape[d]}.");
        var parts = new Tensor[sizes.Length];
        int at = 0;
        for (int i = 0; i < sizes.Length; i++)
        {
            parts[i] = Narrow(d, at, sizes[i]);
            at += sizes[i];
        }
        return parts;
    }

    /// <summary>Splits into <paramref name="chunks"/> nearly equal pieces (PyTorch's rule: size ⌈n/chunks⌉).</summary>
    public Tensor[] Chunk(int chunks, int dim = 0)
    {
        if (chunks <= 0) throw new ArgumentException($"Chunk: chunks must be positive, got {chunks}.");
        int d = ShapeUtil.Dim("Chunk", dim, Dim);
        int size = Math.Max(1, (_shape[d] + chunks - 1) / chunks);
        return Split(size, d);
    }
}
