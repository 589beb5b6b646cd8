using System.Runtime.CompilerServices;

namespace Ember;

/// <summary>
/// An n-dimensional strided view over a typed <see cref="Storage"/>, with reverse-mode autograd.
/// Semantics follow <c>torch.Tensor</c>: views share storage, ops broadcast like NumPy, and
/// floating-point tensors may record the operations applied to them for <see cref="Backward"/>.
/// </summary>
public sealed partial class Tensor
{
    internal readonly Storage _storage;
    internal readonly int[] _shape;
    internal readonly int[] _strides;
    internal readonly int _offset;
    private readonly int _numel;

    internal Tensor(Storage storage, int[] shape, int[] strides, int offset)
    {
        _storage = storage;
        _shape = shape;
        _strides = strides;
        _offset = offset;
        _numel = ShapeUtil.NumEl(shape);
    }

    internal Tensor(Storage storage, int[] shape) : this(storage, shape, ShapeUtil.ContiguousStrides(shape), 0) { }

    /// <summary>Allocates an uninitialized contiguous tensor (every element must be written by the caller).</summary>
    internal static Tensor Empty(DType dtype, int[] shape, bool zero = false)
        => new(Storage.Allocate(dtype, ShapeUtil.NumEl(shape), zero), shape);

    /// <summary>Element type.</summary>
    public DType DType => _storage.DType;

    /// <summary>Number of dimensions (PyTorch's <c>dim()</c>).</summary>
    public int Dim => _shape.Length;

    /// <summary>Total number of elements (PyTorch's <c>numel()</c>).</summary>
    public int NumEl => _numel;

    /// <summary>The shape, as a new array.</summary>
    public int[] Shape => (int[])_shape.Clone();

    /// <summary>The strides in elements, as a new array.</summary>
    public int[] Strides => (int[])_strides.Clone();

    /// <summary>Offset of the first element in the underlying storage.</summary>
    public int StorageOffset => _offset;

    /// <summary>Size of one dimension; negative dims count from the end.</summary>
    public int Size(int dim) => _shape[ShapeUtil.Dim("Size", dim, Dim)];

    /// <summary>True when the elements are laid out densely in row-major order.</summary>
    public bool IsContiguous
    {
        get
        {
            int expected = 1;
            for (int i = _shape.Length - 1; i >= 0; i--)
            {
                if (_shape[i] == 1) continue;
                if (_strides[i] != expected) return false;
                expected *= _shape[i];
            }
            return true;
        }
    }

    /// <summary>True when this tensor and <paramref name="other"/> share storage.</summary>
    public bool SharesStorageWith(Tensor other) => ReferenceEquals(_storage, other._storage);

    internal T[] Data<T>() where T : unmanaged => ((Storage<T>)_storage).Data;

    /// <summary>The contiguous element span of a contiguous tensor.</summary>
    internal Span<T> Span<T>() where T : unmanaged
    {
        Debug.Assert(IsContiguous);
        return new Span<T>(Data<T>(), _offset, _numel);
    }

    internal void CheckDType(string op, DType expected)
    {
        if (DType != expected)
            throw new ArgumentException($"{op}: expected a tensor of dtype {expected.Name()}, got {DType.Name()} (shape {ShapeUtil.Str(_shape)}).");
    }

    internal void CheckFloating(string op)
    {
        if (!DType.IsFloatingPoint())
            throw new NotSupportedException($"{op}: needs a float32 or float64 tensor, got {DType.Name()} (shape {ShapeUtil.Str(_shape)}).");
    }

    internal static void CheckSameDType(string op, Tensor a, Tensor b)
    {
        if (a.DType != b.DType)
            throw new ArgumentException($"{op}: dtype mismatch: {a.DType.Name()} {ShapeUtil.Str(a._shape)} vs {b.DType.Name()} {ShapeUtil.Str(b._shape)}. Convert one with .To(DType).");
    }

    /// <summary>Counts in-place writes to the storage (caches derived from the values, such as packed weights, compare it).</summary>
    internal int StorageVersion => _storage.Version;

    internal void MarkModified()
    {
        _storage.Version++;
    }

    /// <summary>Guards in-place ops: autograd does not track in-place writes to tensors that are part of a graph.</summary>
    internal void CheckInPlace(string op)
    {
        if (GradMode.IsEnabled && (RequiresGrad))
            throw new InvalidOperationException(
                $"{op}: in-place operation on a tensor that requires grad (shape {ShapeUtil.Str(_shape)}). " +
                "Wrap the update in 'using (Tensor.NoGrad())' or work on a copy.");
    }
}

internal static class Debug
{
    [System.Diagnostics.Conditional("DEBUG")]
    public static void Assert(bool condition, [CallerArgumentExpression(nameof(condition))] string? expr = null)
    {
        if (!condition) throw new InvalidOperationException("Internal assertion failed: " + expr);
    }
}
