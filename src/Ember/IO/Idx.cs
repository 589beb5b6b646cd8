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
    /// with <paramref name="asFloat"/>), float/double become float32/float64. A damaged file (bad magic, a size that
    /// does not match the data, corrupt gzip, data past the declared size) is a <see cref="FileFormatException"/>;
    /// a gzip file is inflated only up to the size its header declares.</summary>
    public static Tensor Read(string path, bool asFloat = false)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Idx: no such file: {path}", path);
        using var fs = File.OpenRead(path);
        long fileLength = fs.Length;
        int b0 = fs.ReadByte(), b1 = fs.ReadByte();
        fs.Position = 0;
        if (b0 != 0x1f || b1 != 0x8b)
        {
            if (fileLength > Array.MaxLength) throw Bad(path, $"is {fileLength} bytes, more than one array holds.");
            var raw = new byte[fileLength];
            fs.ReadExactly(raw);
            return Parse(raw, path, asFloat);
        }
        // gzip: the header first (4 bytes, then 4 per dim), then exactly the bytes it declares, then nothing.
        using var gz = new GZipStream(fs, CompressionMode.Decompress);
        Span<byte> magic = stackalloc byte[4];
        BoundedRead.ReadExactly(gz, magic, "Idx", path, "the gzip-compressed header");
        var (_, elem, _) = Header(magic, path);
        int dims = magic[3];
        var dimBytes = new byte[4 * dims];
        BoundedRead.ReadExactly(gz, dimBytes, "Idx", path, "the gzip-compressed header");
        var shape = ReadDims(dimBytes, dims, path);
        long count = ShapeUtil.Product(shape);
        long total = ShapeUtil.CheckedBytes(count, elem) is long body ? 4 + 4L * dims + body : long.MaxValue;
        BoundedRead.CheckInflatedSize("Idx", path, total, fileLength, "the gzip-compressed header");
        var all = new byte[total];
        magic.CopyTo(all);
        dimBytes.CopyTo(all, 4);
        BoundedRead.ReadExactly(gz, all.AsSpan(4 + 4 * dims), "Idx", path, $"the data of shape {ShapeUtil.Str(shape)}");
        if (BoundedRead.HasMore(gz)) throw Bad(path, $"inflates to more than the {total} bytes its header declares.");
        // zlib checks each gzip member's CRC and size, but .NET ignores bytes after the last member that do not start
        // another one: the file's last 4 bytes must be that member's size (ISIZE, mod 2^32), which garbage appended
        // after the stream is not. (A file of several gzip members is refused by this; gzip and MNIST write one.)
        fs.Position = fileLength - 4;
        Span<byte> isize = stackalloc byte[4];
        fs.ReadExactly(isize);
        if (BinaryPrimitives.ReadUInt32LittleEndian(isize) != (uint)total)
            throw Bad(path, $"does not end with its gzip trailer (the last 4 bytes give size {BinaryPrimitives.ReadUInt32LittleEndian(isize)}, the data inflated to {total}); bytes follow the compressed stream, or it has several gzip members.");
        return Parse(all, path, asFloat);
    }

    private static FileFormatException Bad(string source, string problem) => new("Idx", source, problem);

    private static (byte Type, int Elem, int Dims) Header(ReadOnlySpan<byte> data, string source)
    {
        if (data.Length < 4 || data[0] != 0 || data[1] != 0)
            throw Bad(source, "does not start with an IDX magic number (00 00 type dims).");
        byte type = data[2];
        int elem = type switch { 0x08 or 0x09 => 1, 0x0B => 2, 0x0C or 0x0D => 4, 0x0E => 8, _ => throw Bad(source, $"has unknown element type 0x{type:X2}.") };
        return (type, elem, data[3]);
    }

    private static int[] ReadDims(ReadOnlySpan<byte> dimBytes, int dims, string source)
    {
        var shape = new int[dims];
        for (int i = 0; i < dims; i++)
        {
            shape[i] = BinaryPrimitives.ReadInt32BigEndian(dimBytes[(4 * i)..]);
            if (shape[i] < 0) throw Bad(source, $"has a negative size {shape[i]} in dim {i}.");
        }
        return shape;
    }

    /// <summary>Parses IDX bytes; <paramref name="source"/> names them in errors (<see cref="FileFormatException"/>).</summary>
    public static Tensor Parse(ReadOnlySpan<byte> data, string source, bool asFloat = false)
    {
        var (type, elem, dims) = Header(data, source);
        if (data.Length < 4 + 4 * dims) throw Bad(source, $"is truncated inside its header ({data.Length} bytes, {dims} dims need {4 + 4 * dims}).");
        var shape = ReadDims(data[4..], dims, source);
        long count = ShapeUtil.Product(shape);
        int header = 4 + 4 * dims;
        long? bytes = ShapeUtil.CheckedBytes(count, elem);
        if (bytes != data.Length - header)
            throw Bad(source, $"declares shape {ShapeUtil.Str(shape)} ({(bytes is long b ? $"{b} data bytes" : "an element count beyond 2^62")}) but holds {data.Length - header}.");
        if (count > int.MaxValue) throw Bad(source, $"declares shape {ShapeUtil.Str(shape)}, {count} elements, more than a tensor holds ({int.MaxValue}).");
        var body = data[header..];
        // Straight into the tensor's storage (one allocation); Empty, not FromArray: a 0-dim IDX is a scalar, not [1].
        switch (type)
        {
            case 0x0D:
            {
                var t = Tensor.Empty(DType.Float32, shape);
                var f = t.Data<float>();
                for (int i = 0; i < f.Length; i++) f[i] = BinaryPrimitives.ReadSingleBigEndian(body[(4 * i)..]);
                return t;
            }
            case 0x0E:
            {
                var t = Tensor.Empty(DType.Float64, shape);
                var d = t.Data<double>();
                for (int i = 0; i < d.Length; i++) d[i] = BinaryPrimitives.ReadDoubleBigEndian(body[(8 * i)..]);
                return t;
            }
        }
        if (asFloat)
        {
            var t = Tensor.Empty(DType.Float32, shape);
            var f = t.Data<float>();
            for (int i = 0; i < f.Length; i++) f[i] = ReadInt(body, type, i);
            return t;
        }
        var r = Tensor.Empty(DType.Int64, shape);
        var l = r.Data<long>();
        for (int i = 0; i < l.Length; i++) l[i] = ReadInt(body, type, i);
        return r;
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
