using System.Runtime.CompilerServices;

namespace Ember;

/// <summary>
/// The bfloat16 number format (Google Brain; <c>torch.bfloat16</c>): the upper 16 bits of an IEEE float32 (1 sign,
/// 8 exponent, 7 mantissa bits), so it has float32's range with about 3 significant decimal digits. Conversion from
/// float32 rounds to nearest, ties to even (as PyTorch and the AVX-512 BF16 instructions do); NaN stays NaN.
/// </summary>
public readonly struct BFloat16 : IEquatable<BFloat16>
{
    /// <summary>The 16 bits.</summary>
    public readonly ushort Bits;

    private BFloat16(ushort bits) => Bits = bits;

    /// <summary>The value with these bits.</summary>
    public static BFloat16 FromBits(ushort bits) => new(bits);

    /// <summary>Rounds a float32 to bfloat16 (to nearest, ties to even).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static explicit operator BFloat16(float value) => new(Round(BitConverter.SingleToUInt32Bits(value)));

    /// <summary>The float32 with the same value (exact).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static explicit operator float(BFloat16 value) => BitConverter.UInt32BitsToSingle((uint)value.Bits << 16);

    /// <summary>Round to nearest even on the raw bits: add 0x7FFF plus the lowest kept bit, keep the upper half; a NaN
    /// keeps a quiet NaN (its payload may otherwise round into infinity).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ushort Round(uint bits)
    {
        if ((bits & 0x7FFF_FFFF) > 0x7F80_0000) return (ushort)((bits >> 16) | 0x0040);
        return (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
    }

    /// <inheritdoc/>
    public bool Equals(BFloat16 other) => ((float)this).Equals((float)other);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is BFloat16 b && Equals(b);

    /// <inheritdoc/>
    public override int GetHashCode() => ((float)this).GetHashCode();

    /// <inheritdoc/>
    public override string ToString() => ((float)this).ToString(System.Globalization.CultureInfo.InvariantCulture);
}
