using System.Buffers.Binary;
using System.IO.Compression;

namespace Ember.IO;

/// <summary>
/// The IDX format of MNIST and Fashion-MNIST (LeCun et al.): a big-endian magic 0x0000TTDD (TT = element type,
/// DD = number of dims), DD big-endian int32 sizes, then the elements in row-major order. Files may be gzip
/// compressed (detected from the 0x1f8b signature, not the file name).
/// </summary>
public static class Idx
{
    /// <summary>Reads an IDX file into a tensor: unsigned/signed bytes, shorts and ints become int64 (or float32
    /// with <paramref name="asFloat"/>), float/double become float32/float64.</summary>
    public static Tensor Read(string path, bool asFloat = false)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Idx: no such file: {path}", path);
        byte[] raw = File.ReadAllBytes(path);
        if (raw.Length >= 2 && raw[0] == 0x1f && raw[1] == 0x8b)
        {
            using var gz = new GZipStream(new MemoryStream(raw), CompressionMode.Decompress);
            using var ms = new MemoryStream();
            try { gz.CopyTo(ms); }
            catch (InvalidDataException e) { throw new InvalidDataException($"Idx: {path} looks gzip-compressed but is corrupt: {e.Message}", e); }
            raw = ms.ToArray();
        }
        return Parse(raw, path, asFloat);
    }

    public static Tensor Parse(ReadOnlySpan<byte> data, string source, bool asFloat = false)
    {
        if (data.Length < 4 || data[0] != 0 || data[1] != 0)
            throw new InvalidDataException($"Idx: {source} does not start with an IDX magic number (00 00 type dims).");
        byte type = data[2];
        int dims = data[3];
        int elem = type switch { 0x08 or 0x09 => 1, 0x0B => 2, 0x0C or 0x0D => 4, 0x0E => 8, _ => throw new InvalidDataException($"Idx: {source} has unknown element type 0x{type:X2}.") };
        if (data.Length < 4 + 4 * dims) throw new InvalidDataException($"Idx: {source} is truncated inside its header.");
        var shape = new int[dims];
        long count = 1;
        for (int i = 0; i < dims; i++)
        {
            shape[i] = BinaryPrimitives.ReadInt32BigEndian(data[(4 + 4 * i)..]);
            if (shape[i] < 0) throw new InvalidDataException($"Idx: {source} has a negative size in dim {i}.");
            count *= shape[i];
        }
        int header = 4 + 4 * dims;
        if (data.Length - header != count * elem)
            throw new InvalidDataException($"Idx: {source} declares shape {ShapeUtil.Str(shape)} ({count * elem} data bytes) but holds {data.Length - header}.");
        var body = data[header..];
        switch (type)
        {
            case 0x0D:
            {
                var f = new float[count];
                for (int i = 0; i < f.Length; i++) f[i] = BinaryPrimitives.ReadSingleBigEndian(body[(4 * i)..]);
                return Tensor.FromArray(f, shape);
            }
            case 0x0E:
            {
                var d = new double[count];
                for (int i = 0; i < d.Length; i++) d[i] = BinaryPrimitives.ReadDoubleBigEndian(body[(8 * i)..]);
                return Tensor.FromArray(d, shape);
            }
        }
        if (asFloat)
        {
            var f = new float[count];
            for (int i = 0; i < f.Length; i++) f[i] = ReadInt(body, type, i);
            return Tensor.FromArray(f, shape);
        }
        var l = new long[count];
        for (int i = 0; i < l.Length; i++) l[i] = ReadInt(body, type, i);
        return Tensor.FromArray(l, shape);
    }

    private static int ReadInt(ReadOnlySpan<byte> body, byte type, int i) => type switch
    {
        0x08 => body[i],
        0x09 => (sbyte)body[i],
        0x0B => BinaryPrimitives.ReadInt16BigEndian(body[(2 * i)..]),
        _ => BinaryPrimitives.ReadInt32BigEndian(body[(4 * i)..]),
    };

    /// <summary>Writes an unsigned-byte IDX file (images or labels), gzip-compressed when the name ends in .gz.</summary>
    public static void WriteBytes(string path, byte[] data, params int[] shape)
    {
        if (ShapeUtil.NumEl(shape) != data.Length) throw new ArgumentException($"Idx.WriteBytes: {data.Length} bytes do not fill shape {ShapeUtil.Str(shape)}.");
        using var ms = new MemoryStream();
        ms.Write([0, 0, 0x08, (byte)shape.Length]);
        Span<byte> b = stackalloc byte[4];
        foreach (int s in shape)
        {
            BinaryPrimitives.WriteInt32BigEndian(b, s);
            ms.Write(b);
        }
        ms.Write(data);
        var tmp = path + ".tmp";
        using (var fs = File.Create(tmp))
        {
            if (path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase))
            {
                using var gz = new GZipStream(fs, CompressionLevel.Optimal);
                ms.Position = 0;
                ms.CopyTo(gz);
            }
            else
            {
                ms.Position = 0;
                ms.CopyTo(fs);
            }
        }
        File.Move(tmp, path, overwrite: true);
    }
}
