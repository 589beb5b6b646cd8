using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Ember.Kernels;

/// <summary>
/// Conversions between float32 and the 16-bit types (bfloat16, IEEE half), vectorized: float → bfloat16 rounds to
/// nearest even on the integer bits in 512/256/128-bit lanes (the same arithmetic as <see cref="BFloat16.Round"/>,
/// which handles the tail and NaNs); bfloat16 → float widens each 16-bit value into the upper half of a 32-bit lane;
/// half ↔ float use <see cref="TensorPrimitives"/> (F16C / AVX-512 FP16 conversions where the CPU has them). Each
/// lane equals the scalar conversion bit for bit (tests).
/// </summary>
internal static class LowPrecision
{
    /// <summary>Float32 bits rounded to nearest even at bit 16 (upper halves: the bfloat16 values), as <see cref="BFloat16.Round"/>.</summary>
    private static Vector256<uint> RoundedBits(Vector256<uint> a) => a + Vector256.Create(0x7FFFu) + ((a >> 16) & Vector256<uint>.One);

    private static bool HasNaN(Vector256<uint> a) => Vector256.GreaterThanAny(a & Vector256.Create(0x7FFF_FFFFu), Vector256.Create(0x7F80_0000u));

    public static void ToBFloat16(ReadOnlySpan<float> src, Span<BFloat16> dst)
    {
        var s = MemoryMarshal.Cast<float, uint>(src);
        var d = MemoryMarshal.Cast<BFloat16, ushort>(dst);
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 16 <= s.Length; i += 16)
            {
                var a = Vector256.Create(s.Slice(i, 8));
                var b = Vector256.Create(s.Slice(i + 8, 8));
                if (HasNaN(a) || HasNaN(b)) break;   // NaNs: the scalar tail
                Vector256.Narrow(RoundedBits(a) >> 16, RoundedBits(b) >> 16).CopyTo(d.Slice(i, 16));
            }
        }
        for (; i < s.Length; i++) d[i] = BFloat16.Round(s[i]);
    }

    public static void FromBFloat16(ReadOnlySpan<BFloat16> src, Span<float> dst)
    {
        var s = MemoryMarshal.Cast<BFloat16, ushort>(src);
        var d = MemoryMarshal.Cast<float, uint>(dst);
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 16 <= s.Length; i += 16)
            {
                var (lo, hi) = Vector256.Widen(Vector256.Create(s.Slice(i, 16)));
                (lo << 16).CopyTo(d.Slice(i, 8));
                (hi << 16).CopyTo(d.Slice(i + 8, 8));
            }
        }
        for (; i < s.Length; i++) d[i] = (uint)s[i] << 16;
    }

    public static void ToHalf(ReadOnlySpan<float> src, Span<Half> dst) => TensorPrimitives.ConvertToHalf(src, dst);

    public static void FromHalf(ReadOnlySpan<Half> src, Span<float> dst) => TensorPrimitives.ConvertToSingle(src, dst);

    /// <summary>Each value replaced by the float32 equal to its bfloat16 rounding (to nearest even; NaN kept).</summary>
    public static void RoundToBFloat16(Span<float> values)
    {
        var v = MemoryMarshal.Cast<float, uint>(values);
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 8 <= v.Length; i += 8)
            {
                var a = Vector256.Create(v.Slice(i, 8));
                if (HasNaN(a)) break;   // NaN: the scalar tail keeps it a NaN
                (RoundedBits(a) & Vector256.Create(0xFFFF_0000u)).CopyTo(v.Slice(i, 8));
            }
        }
        for (; i < v.Length; i++) v[i] = (uint)BFloat16.Round(v[i]) << 16;
    }

    /// <summary>Each value replaced by the float32 equal to its IEEE half rounding (overflow to ±infinity, as a cast does).</summary>
    public static void RoundToHalf(Span<float> values)
    {
        Span<Half> tmp = stackalloc Half[1024];
        for (int i = 0; i < values.Length; i += tmp.Length)
        {
            int n = Math.Min(tmp.Length, values.Length - i);
            var part = values.Slice(i, n);
            TensorPrimitives.ConvertToHalf(part, tmp[..n]);
            TensorPrimitives.ConvertToSingle(tmp[..n], part);
        }
    }
}
