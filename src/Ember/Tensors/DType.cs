namespace Ember;

/// <summary>Element type of a <see cref="Tensor"/>. Mirrors <c>torch.dtype</c>.</summary>
public enum DType
{
    /// <summary>32-bit IEEE float: the training type.</summary>
    Float32,
    /// <summary>64-bit IEEE float: gradient checks and numerics.</summary>
    Float64,
    /// <summary>Complex number of two float32 (real, imaginary), interleaved in storage (<c>torch.complex64</c>).</summary>
    Complex64,
    /// <summary>64-bit signed integer: indices (argmax, gather, class labels).</summary>
    Int64,
    /// <summary>Boolean: comparison results and masks.</summary>
    Bool,
    /// <summary>Complex number of two float64 (<see cref="System.Numerics.Complex"/>, <c>torch.complex128</c>): gradient
    /// checks and numerics of complex code.</summary>
    Complex128,
    /// <summary>8-bit signed integer: quantized weights (<c>torch.int8</c>). Storage, copies, conversions and
    /// serialization only; arithmetic runs on the quantized kernels, not on int8 tensors.</summary>
    Int8,
    /// <summary>bfloat16 (<see cref="Ember.BFloat16"/>, <c>torch.bfloat16</c>): float32's range, 8 bits of precision.
    /// Storage, conversions, serialization and the products of <see cref="Autocast"/>; not a training type itself.</summary>
    BFloat16,
    /// <summary>IEEE half precision (<see cref="System.Half"/>, <c>torch.float16</c>): 11 bits of precision, range to
    /// 65504. Storage, conversions, serialization and the products of <see cref="Autocast"/>.</summary>
    Float16,
}

/// <summary>Facts about <see cref="DType"/> values.</summary>
public static class DTypeExtensions
{
    /// <summary>Bytes per element.</summary>
    public static int ElementSize(this DType dtype) => dtype switch
    {
        DType.Float32 => 4,
        DType.Float64 => 8,
        DType.Complex64 => 8,
        DType.Int64 => 8,
        DType.Bool => 1,
        DType.Complex128 => 16,
        DType.Int8 => 1,
        DType.BFloat16 or DType.Float16 => 2,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
    };

    /// <summary>True for the real floating types that autograd differentiates.</summary>
    public static bool IsFloatingPoint(this DType dtype) => dtype is DType.Float32 or DType.Float64;

    /// <summary>True for types that can carry gradients (floating and complex).</summary>
    public static bool IsDifferentiable(this DType dtype) => dtype is DType.Float32 or DType.Float64 or DType.Complex64 or DType.Complex128;

    /// <summary>True for the 16-bit floating types (bfloat16, float16).</summary>
    public static bool IsLowPrecision(this DType dtype) => dtype is DType.BFloat16 or DType.Float16;

    /// <summary>True for complex64 and complex128.</summary>
    public static bool IsComplex(this DType dtype) => dtype is DType.Complex64 or DType.Complex128;

    /// <summary>The real type of a complex type's parts (complex64 → float32, complex128 → float64); real types map to themselves.</summary>
    public static DType ToReal(this DType dtype) => dtype switch
    {
        DType.Complex64 => DType.Float32,
        DType.Complex128 => DType.Float64,
        _ => dtype,
    };

    /// <summary>The complex type with parts of this real type (float32 → complex64, float64 → complex128).</summary>
    public static DType ToComplex(this DType dtype) => dtype switch
    {
        DType.Float32 or DType.Complex64 => DType.Complex64,
        DType.Float64 or DType.Complex128 => DType.Complex128,
        _ => throw new NotSupportedException($"there is no complex dtype with {dtype.Name()} parts."),
    };

    /// <summary>The lower-case name PyTorch prints (<c>float32</c>, <c>int64</c> …).</summary>
    public static string Name(this DType dtype) => dtype switch
    {
        DType.Float32 => "float32",
        DType.Float64 => "float64",
        DType.Complex64 => "complex64",
        DType.Int64 => "int64",
        DType.Bool => "bool",
        DType.Complex128 => "complex128",
        DType.Int8 => "int8",
        DType.BFloat16 => "bfloat16",
        DType.Float16 => "float16",
        _ => dtype.ToString(),
    };

    internal static DType Of<T>() where T : unmanaged
    {
        if (typeof(T) == typeof(float)) return DType.Float32;
        if (typeof(T) == typeof(double)) return DType.Float64;
        if (typeof(T) == typeof(Complex64)) return DType.Complex64;
        if (typeof(T) == typeof(long)) return DType.Int64;
        if (typeof(T) == typeof(bool)) return DType.Bool;
        if (typeof(T) == typeof(sbyte)) return DType.Int8;
        if (typeof(T) == typeof(BFloat16)) return DType.BFloat16;
        if (typeof(T) == typeof(Half)) return DType.Float16;
        if (typeof(T) == typeof(System.Numerics.Complex)) return DType.Complex128;
        throw new NotSupportedException($"Ember has no dtype for element type {typeof(T).Name}.");
    }
}

/// <summary>A complex number of two float32, laid out (real, imaginary) like C's <c>float _Complex</c>
/// and PyTorch's complex64.</summary>
public readonly record struct Complex64(float Real, float Imaginary)
{
    /// <inheritdoc/>
    public override string ToString() => Imaginary >= 0 ? $"{Real}+{Imaginary}j" : $"{Real}{Imaginary}j";

    /// <summary>Widens to .NET's double-precision complex.</summary>
    public static implicit operator System.Numerics.Complex(Complex64 z) => new(z.Real, z.Imaginary);
    /// <summary>Narrows a double-precision complex to single precision.</summary>
    public static explicit operator Complex64(System.Numerics.Complex z) => new((float)z.Real, (float)z.Imaginary);
}
