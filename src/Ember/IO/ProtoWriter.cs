using System.Buffers.Binary;
using System.Text;

namespace Ember.IO;

/// <summary>A minimal Protocol Buffers encoder (the wire format of protobuf.dev/programming-guides/encoding): varints,
/// 64- and 32-bit fixed fields, length-delimited strings, bytes, packed doubles and nested messages. Enough to write
/// TensorBoard's Event/Summary messages without a dependency in the core library; fields are written in the order
/// the caller gives (parsers accept any order).</summary>
internal sealed class ProtoWriter
{
    private byte[] _buf = new byte[256];
    private int _len;

    public int Length => _len;

    public ReadOnlySpan<byte> Span => _buf.AsSpan(0, _len);

    public byte[] ToArray() => _buf.AsSpan(0, _len).ToArray();

    private Span<byte> Grow(int n)
    {
        if (_len + n > _buf.Length) Array.Resize(ref _buf, Math.Max(_buf.Length * 2, _len + n));
        var s = _buf.AsSpan(_len, n);
        _len += n;
        return s;
    }

    private void Varint(ulong v)
    {
        while (v >= 0x80)
        {
            Grow(1)[0] = (byte)(v | 0x80);
            v >>= 7;
        }
        Grow(1)[0] = (byte)v;
    }

    private void Tag(int field, int wireType) => Varint((ulong)((field << 3) | wireType));

    /// <summary>An int32/int64/enum/bool field (wire type 0; negative values take ten bytes, as protobuf's int64).</summary>
    public ProtoWriter Int(int field, long value)
    {
        Tag(field, 0);
        Varint(unchecked((ulong)value));
        return this;
    }

    /// <summary>A double field (wire type 1).</summary>
    public ProtoWriter Double(int field, double value)
    {
        Tag(field, 1);
        BinaryPrimitives.WriteDoubleLittleEndian(Grow(8), value);
        return this;
    }

    /// <summary>A float field (wire type 5).</summary>
    public ProtoWriter Float(int field, float value)
    {
        Tag(field, 5);
        BinaryPrimitives.WriteSingleLittleEndian(Grow(4), value);
        return this;
    }

    /// <summary>A bytes field (wire type 2).</summary>
    public ProtoWriter Bytes(int field, ReadOnlySpan<byte> value)
    {
        Tag(field, 2);
        Varint((ulong)value.Length);
        value.CopyTo(Grow(value.Length));
        return this;
    }

    /// <summary>A string field, UTF-8.</summary>
    public ProtoWriter String(int field, string value) => Bytes(field, Encoding.UTF8.GetBytes(value));

    /// <summary>A nested message field.</summary>
    public ProtoWriter Message(int field, ProtoWriter message) => Bytes(field, message.Span);

    /// <summary>A packed repeated double field.</summary>
    public ProtoWriter PackedDoubles(int field, ReadOnlySpan<double> values)
    {
        Tag(field, 2);
        Varint((ulong)values.Length * 8);
        var dst = Grow(values.Length * 8);
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteDoubleLittleEndian(dst[(i * 8)..], values[i]);
        return this;
    }
}
