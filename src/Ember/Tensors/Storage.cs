namespace Ember;

/// <summary>A flat, typed buffer shared by a tensor and all of its views.</summary>
internal abstract class Storage
{
    public abstract DType DType { get; }
    public abstract int Length { get; }
    /// <summary>Bumped by every in-place write; autograd uses it to detect saved tensors modified in place.</summary>
    public int Version;
    public abstract Array RawArray { get; }

    public static Storage Allocate(DType dtype, int length, bool zero = true) => dtype switch
    {
        DType.Float32 => new Storage<float>(length, zero),
        DType.Float64 => new Storage<double>(length, zero),
        DType.Complex64 => new Storage<Complex64>(length, zero),
        DType.Int64 => new Storage<long>(length, zero),
        DType.Bool => new Storage<bool>(length, zero),
        DType.Complex128 => new Storage<System.Numerics.Complex>(length, zero),
        _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
    };
}

internal sealed class Storage<T> : Storage where T : unmanaged
{
    public readonly T[] Data;
    private static readonly DType s_dtype = DTypeExtensions.Of<T>();

    public Storage(int length, bool zero)
    {
        // Uninitialized allocation skips the zeroing pass for buffers a kernel overwrites entirely.
        Data = zero ? new T[length] : GC.AllocateUninitializedArray<T>(length);
    }

    public Storage(T[] data) => Data = data;

    public override DType DType => s_dtype;
    public override int Length => Data.Length;
    public override Array RawArray => Data;
}
