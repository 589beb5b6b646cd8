using System.Buffers.Binary;
using System.IO.Compression;
using System.Runtime.InteropServices;
using System.Text;
using NComplex = System.Numerics.Complex;

namespace Ember.IO;

/// <summary>
/// NumPy's <c>.npy</c> array files (format versions 1.0–3.0) and <c>.npz</c> archives of them (<c>np.savez</c>,
/// <c>np.savez_compressed</c>). Reads float16/32/64, complex64/128, signed and unsigned integers and bool, in either
/// byte order and in C or Fortran order; writes float32/64, complex64/128, int64 and bool in C order, version 1.0.
/// </summary>
public static class Npy
{
    private static readonly byte[] s_magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    /// <summary>Reads one <c>.npy</c> file.</summary>
    public static Tensor Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Npy.Load: no file at '{path}'.", path);
        using var s = File.OpenRead(path);
        return Read(s, path);
    }

    /// <summary>Writes one <c>.npy</c> file atomically.</summary>
    public static void Save(string path, Tensor t) => AtomicFile.Write(path, s => Write(s, t));

    /// <summary>Reads every array of a <c>.npz</c> archive, keyed by name (without the <c>.npy</c> suffix).</summary>
    public static Dictionary<string, Tensor> LoadNpz(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Npy.LoadNpz: no file at '{path}'.", path);
        var r = new Dictionary<string, Tensor>();
        try
        {
            using var zip = ZipFile.OpenRead(path);
            foreach (var e in zip.Entries)
            {
                if (!e.FullName.EndsWith(".npy", StringComparison.Ordinal)) continue;
                using var es = e.Open();
                using var ms = new MemoryStream();
                es.CopyTo(ms);
                ms.Position = 0;
                r[e.FullName[..^4]] = Read(ms, $"{path}:{e.FullName}");
            }
        }
        catch (InvalidDataException e) when (!e.Message.StartsWith("Npy", StringComparison.Ordinal))
        {
            throw new InvalidDataException($"Npy.LoadNpz: '{path}' is not a readable zip archive ({e.Message}).", e);
        }
        return r;
    }

    /// <summary>Writes arrays into a <c>.npz</c> archive atomically (deflate-compressed like <c>np.savez_compressed</c>
    /// when <paramref name="compress"/>, stored like <c>np.savez</c> otherwise).</summary>
    public static void SaveNpz(string path, IReadOnlyDictionary<string, Tensor> arrays, bool compress = true)
    {
        foreach (var (name, t) in arrays)
        {
            if (string.IsNullOrEmpty(name)) throw new ArgumentException("Npy.SaveNpz: array names must be non-empty.");
            CheckWritable(name, t);
        }
        AtomicFile.Write(path, s =>
        {
            using var zip = new ZipArchive(s, ZipArchiveMode.Create, leaveOpen: true);
            foreach (var (name, t) in arrays)
            {
                var e = zip.CreateEntry(name + ".npy", compress ? CompressionLevel.Optimal : CompressionLevel.NoCompression);
                using var es = e.Open();
                Write(es, t);
            }
        });
    }

    private static void CheckWritable(string name, Tensor t)
    {
        if (t.DType is not (DType.Float32 or DType.Float64 or DType.Complex64 or DType.Complex128 or DType.Int64 or DType.Bool))
            throw new ArgumentException($"Npy: cannot write '{name}' of dtype {t.DType.Name()}.");
    }

    private static string Descr(DType d) => d switch
    {
        DType.Float32 => "<f4",
        DType.Float64 => "<f8",
        DType.Complex64 => "<c8",
        DType.Complex128 => "<c16",
        DType.Int64 => "<i8",
        _ => "|b1",
    };

    /// <summary>Writes the .npy bytes of a tensor to a stream (version 1.0, C order, header padded to 64 bytes).</summary>
    public static void Write(Stream s, Tensor t)
    {
        CheckWritable("array", t);
        var shape = t.Shape;
        string shapeText = shape.Length == 1 ? $"({shape[0]},)" : "(" + string.Join(", ", shape) + ")";
        var dict = $"{{'descr': '{Descr(t.DType)}', 'fortran_order': False, 'shape': {shapeText}, }}";
        int total = s_magic.Length + 2 + 2 + dict.Length + 1;
        int pad = (64 - total % 64) % 64;
        var header = dict + new string(' ', pad) + "\n";
        s.Write(s_magic);
        s.WriteByte(1);
        s.WriteByte(0);
        Span<byte> len = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(len, (ushort)header.Length);
        s.Write(len);
        s.Write(Encoding.ASCII.GetBytes(header));
        var c = t.Contiguous();
        switch (t.DType)
        {
            case DType.Float32: s.Write(MemoryMarshal.AsBytes(c.ToArray<float>().AsSpan())); break;
            case DType.Float64: s.Write(MemoryMarshal.AsBytes(c.ToArray<double>().AsSpan())); break;
            case DType.Complex64: s.Write(MemoryMarshal.AsBytes(c.ToArray<Complex64>().AsSpan())); break;
            case DType.Complex128: s.Write(MemoryMarshal.AsBytes(c.ToArray<NComplex>().AsSpan())); break;
            case DType.Int64: s.Write(MemoryMarshal.AsBytes(c.ToArray<long>().AsSpan())); break;
            default: s.Write(Array.ConvertAll(c.ToArray<bool>(), b => b ? (byte)1 : (byte)0)); break;
        }
    }

    /// <summary>Reads .npy bytes from a stream; <paramref name="what"/> names the source in errors.</summary>
    public static Tensor Read(Stream s, string what = "stream")
    {
        var head = ReadExactly(s, 8, what, "magic");
        if (!head.AsSpan(0, 6).SequenceEqual(s_magic))
            throw new InvalidDataException($"Npy: {what} does not start with the .npy magic string \\x93NUMPY.");
        int major = head[6];
        int headerLen = major switch
        {
            1 => BinaryPrimitives.ReadUInt16LittleEndian(ReadExactly(s, 2, what, "header length")),
            2 or 3 => (int)BinaryPrimitives.ReadUInt32LittleEndian(ReadExactly(s, 4, what, "header length")),
            _ => throw new InvalidDataException($"Npy: {what} has format version {major}.{head[7]}; Ember reads 1.0-3.0."),
        };
        var header = (major == 3 ? Encoding.UTF8 : Encoding.Latin1).GetString(ReadExactly(s, headerLen, what, "header"));
        string descr = Field(header, "descr", what);
        bool fortran = Field(header, "fortran_order", what) == "True";
        var shape = ParseShape(Field(header, "shape", what), what);
        int n = 1;
        foreach (int d in shape) n = checked(n * d);
        char order = descr[0];
        bool swap = order == '>' && BitConverter.IsLittleEndian;
        string code = descr.TrimStart('<', '>', '|', '=');
        int size = int.Parse(code[1..]);
        var raw = ReadExactly(s, checked(n * size), what, $"data ({n} values of {descr})");
        if (swap)
        {
            int unit = code[0] == 'c' ? size / 2 : size;
            for (int i = 0; i < raw.Length; i += unit) Array.Reverse(raw, i, unit);
        }
        var dims = fortran ? shape.Reverse().ToArray() : shape;
        Tensor t = code switch
        {
            "f4" => Tensor.FromSpan(MemoryMarshal.Cast<byte, float>(raw), dims),
            "f8" => Tensor.FromSpan(MemoryMarshal.Cast<byte, double>(raw), dims),
            "f2" => Tensor.FromSpan<float>(MemoryMarshal.Cast<byte, Half>(raw).ToArray().Select(h => (float)h).ToArray(), dims),
            "c8" => Tensor.FromSpan(MemoryMarshal.Cast<byte, Complex64>(raw), dims),
            "c16" => Tensor.FromSpan(MemoryMarshal.Cast<byte, NComplex>(raw), dims),
            "i8" => Tensor.FromSpan(MemoryMarshal.Cast<byte, long>(raw), dims),
            "i4" => Tensor.FromSpan<long>(MemoryMarshal.Cast<byte, int>(raw).ToArray().Select(v => (long)v).ToArray(), dims),
            "i2" => Tensor.FromSpan<long>(MemoryMarshal.Cast<byte, short>(raw).ToArray().Select(v => (long)v).ToArray(), dims),
            "i1" => Tensor.FromSpan<long>(raw.Select(v => (long)(sbyte)v).ToArray(), dims),
            "u1" => Tensor.FromSpan<long>(raw.Select(v => (long)v).ToArray(), dims),
            "u2" => Tensor.FromSpan<long>(MemoryMarshal.Cast<byte, ushort>(raw).ToArray().Select(v => (long)v).ToArray(), dims),
            "u4" => Tensor.FromSpan<long>(MemoryMarshal.Cast<byte, uint>(raw).ToArray().Select(v => (long)v).ToArray(), dims),
            "b1" => Tensor.FromSpan<bool>(raw.Select(v => v != 0).ToArray(), dims),
            _ => throw new NotSupportedException($"Npy: {what} holds dtype '{descr}', which Ember does not read (float, complex, integer and bool arrays only)."),
        };
        return fortran && dims.Length > 1 ? t.Permute(Enumerable.Range(0, dims.Length).Reverse().ToArray()).Contiguous() : t;
    }

    private static byte[] ReadExactly(Stream s, int count, string what, string part)
    {
        var b = new byte[count];
        int got = 0;
        while (got < count)
        {
            int r = s.Read(b, got, count - got);
            if (r == 0) throw new InvalidDataException($"Npy: {what} ends after {got} of the {count} bytes of its {part}; the file is truncated.");
            got += r;
        }
        return b;
    }

    /// <summary>The value text of one key of the header dict, e.g. <c>'&lt;f4'</c> → <c>&lt;f4</c>, <c>(3, 4)</c>.</summary>
    private static string Field(string header, string key, string what)
    {
        int k = header.IndexOf($"'{key}'", StringComparison.Ordinal);
        if (k < 0) k = header.IndexOf($"\"{key}\"", StringComparison.Ordinal);
        if (k < 0) throw new InvalidDataException($"Npy: the header of {what} has no '{key}' entry: {header.Trim()}");
        int colon = header.IndexOf(':', k);
        int i = colon + 1;
        while (i < header.Length && header[i] == ' ') i++;
        if (header[i] == '(')
            return header[i..(header.IndexOf(')', i) + 1)];
        if (header[i] is '\'' or '"')
        {
            int end = header.IndexOf(header[i], i + 1);
            return header[(i + 1)..end];
        }
        int stop = header.IndexOfAny([',', '}'], i);
        return header[i..stop].Trim();
    }

    private static int[] ParseShape(string text, string what)
    {
        var inner = text.Trim('(', ')').Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        try { return inner.Select(int.Parse).ToArray(); }
        catch (FormatException) { throw new InvalidDataException($"Npy: {what} has an unreadable shape {text}."); }
    }
}
