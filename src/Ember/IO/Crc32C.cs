using System.Buffers.Binary;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace Ember.IO;

/// <summary>CRC-32C (Castagnoli, reflected polynomial 0x82F63B78; RFC 3720 §B.4), the checksum of TFRecord files
/// (TensorBoard event logs). SSE4.2 <c>crc32</c> and ARMv8 <c>crc32c</c> instructions where the CPU has them, a
/// table otherwise; all give the same value.</summary>
public static class Crc32C
{
    private static readonly uint[] s_table = Build();

    /// <summary>The CRC-32C of <paramref name="data"/> (initial value and final XOR 0xFFFFFFFF, as RFC 3720 defines it).</summary>
    public static uint Compute(ReadOnlySpan<byte> data) => ~Update(~0u, data, hardware: true);

    /// <summary>The same by the byte table alone (the reference the instruction paths are tested against).</summary>
    public static uint ComputeReference(ReadOnlySpan<byte> data) => ~Update(~0u, data, hardware: false);

    /// <summary>TFRecord's masked CRC: the CRC rotated right by 15 bits plus 0xA282EAD8 (a checksum stored beside
    /// data that itself holds CRCs is masked so the two are not confused).</summary>
    public static uint Mask(uint crc) => unchecked(((crc >> 15) | (crc << 17)) + 0xA282EAD8u);

    /// <summary>The masked CRC-32C of <paramref name="data"/>.</summary>
    public static uint Masked(ReadOnlySpan<byte> data) => Mask(Compute(data));

    private static uint Update(uint crc, ReadOnlySpan<byte> data, bool hardware)
    {
        int i = 0;
        if (hardware && Sse42.X64.IsSupported)
        {
            ulong c = crc;
            for (; i + 8 <= data.Length; i += 8) c = Sse42.X64.Crc32(c, BinaryPrimitives.ReadUInt64LittleEndian(data[i..]));
            crc = (uint)c;
            for (; i < data.Length; i++) crc = Sse42.Crc32(crc, data[i]);
            return crc;
        }
        if (hardware && Crc32.Arm64.IsSupported)
        {
            for (; i + 8 <= data.Length; i += 8) crc = Crc32.Arm64.ComputeCrc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data[i..]));
            for (; i < data.Length; i++) crc = Crc32.ComputeCrc32C(crc, data[i]);
            return crc;
        }
        for (; i < data.Length; i++) crc = s_table[(crc ^ data[i]) & 0xFF] ^ (crc >> 8);
        return crc;
    }

    private static uint[] Build()
    {
        var t = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0x82F63B78u ^ (c >> 1) : c >> 1;
            t[n] = c;
        }
        return t;
    }
}
