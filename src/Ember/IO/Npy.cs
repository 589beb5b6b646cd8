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

    /// <summary>Reads one <c>.npy</c> file. A damaged file (bad magic or header, data shorter or longer than the
    /// header declares) is a <see cref="FileFormatException"/>; nothing is allocated beyond what the file's size can
    /// hold.</summary>
    public static Tensor Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Npy.Load: no file at '{path}'.", path);
        using var s = File.OpenRead(path);
        var t = Read(s, path);
        if (s.Position != s.Length) throw new FileFormatException("Npy", path, $"has {s.Length - s.Position} bytes after the data its header declares.");
        return t;
    }

    /// <summary>Writes one <c>.npy</c> file atomically.</summary>
    public static void Save(string path, Tensor t) => AtomicFile.Write(path, s => Write(s, t));

    /// <summary>Reads every array of a <c>.npz</c> archive, keyed by name (without the <c>.npy</c> suffix). Each
    /// member is inflated only up to the size the archive declares for it (<see cref="FileFormatException"/> beyond).</summary>
    public static Dictionary<string, Tensor> LoadNpz(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Npy.LoadNpz: no file at '{path}'.", path);
        var r = new Dictionary<string, Tensor>();
        // System.IO.Compression reads the central directory lazily and reports damage anywhere in it, or in a member's
        // local header, as InvalidDataException (or IOException): each becomes a FileFormatException naming the file.
        try
        {
            using var zip = ZipFile.OpenRead(path);
            foreach (var e in zip.Entries)
            {
                if (!e.FullName.EndsWith(".npy", StringComparison.Ordinal)) continue;
                string member = $"{path}:{e.FullName}", name = e.FullName[..^4];
                if (r.ContainsKey(name)) throw new FileFormatException("Npy", path, "appears twice in the archive.", name, "array");
                BoundedRead.CheckInflatedSize("Npy", member, e.Length, Math.Max(e.CompressedLength, 1), "the archive's directory", name, "array");
                var bytes = new byte[e.Length];
                using (var es = e.Open())
                {
                    BoundedRead.ReadExactly(es, bytes, "Npy", member, "the member");
                    if (BoundedRead.HasMore(es)) throw new FileFormatException("Npy", member, $"inflates to more than the {e.Length} bytes the archive declares.");
                }
                using var ms = new MemoryStream(bytes, writable: false);
                r[name] = Read(ms, member);
                if (ms.Position != ms.Length) throw new FileFormatException("Npy", member, $"has {ms.Length - ms.Position} bytes after the data its header declares.");
            }
        }
        catch (Exception e) when (e is InvalidDataException or (IOException and not FileFormatException and not FileNotFoundException))
        {
            throw new FileFormatException("Npy", path, $"is not a readable zip archive ({e.Message}).", inner: e);
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

    // numpy itself refuses headers over 10,000 bytes unless told otherwise (max_header_size); 1 MiB leaves room.
    private const int MaxHeaderBytes = 1 << 20;

    /// <summary>Reads .npy bytes from a stream; <paramref name="what"/> names the source in errors
    /// (<see cref="FileFormatException"/>). On a seekable stream, sizes are checked against the bytes left before
    /// anything is allocated.</summary>
    public static Tensor Read(Stream s, string what = "stream")
    {
        long? available = s.CanSeek ? s.Length - s.Position : null;
        FileFormatException Bad(string problem) => new("Npy", what, problem);
        var head = ReadExactly(s, 8, what, "magic string and version", available);
        if (!head.AsSpan(0, 6).SequenceEqual(s_magic)) throw Bad("does not start with the .npy magic string \\x93NUMPY.");
        int major = head[6];
        long headerLen = major switch
        {
            1 => BinaryPrimitives.ReadUInt16LittleEndian(ReadExactly(s, 2, what, "header length", available - 8)),
            2 or 3 => BinaryPrimitives.ReadUInt32LittleEndian(ReadExactly(s, 4, what, "header length", available - 8)),
            _ => throw Bad($"has format version {major}.{head[7]}; Ember reads 1.0-3.0."),
        };
        int prefix = major == 1 ? 10 : 12;
        if (headerLen > MaxHeaderBytes) throw Bad($"declares a header of {headerLen} bytes (numpy writes under 10,000; more than {MaxHeaderBytes} is not a .npy header).");
        var headerBytes = ReadExactly(s, (int)headerLen, what, "header", available - prefix);
        string header = major == 3 ? DecodeUtf8(headerBytes, what) : Encoding.Latin1.GetString(headerBytes);
        var (descr, fortran, shape) = ParseHeader(header, what);
        var (code, size, swap) = ParseDescr(descr, what);
        long count = ShapeUtil.Product(shape);
        if (count > int.MaxValue) throw Bad($"declares shape {ShapeText(shape)}, more elements than a tensor holds ({int.MaxValue}).");
        long bytes = count * size;
        if (available is long left && bytes > left - prefix - headerLen)
            throw Bad($"declares {count} values of {descr} ({bytes} bytes) but only {Math.Max(0, left - prefix - headerLen)} bytes follow its header; the file is truncated.");
        if (bytes > Array.MaxLength) throw Bad($"declares {bytes} data bytes, more than one array holds.");
        var raw = ReadExactly(s, (int)bytes, what, $"data ({count} values of {descr})", null);
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
            _ => Tensor.FromSpan<bool>(raw.Select(v => v != 0).ToArray(), dims),   // "b1"
        };
        return fortran && dims.Length > 1 ? t.Permute(Enumerable.Range(0, dims.Length).Reverse().ToArray()).Contiguous() : t;
    }

    private static string ShapeText(int[] shape) => shape.Length == 1 ? $"({shape[0]},)" : "(" + string.Join(", ", shape) + ")";

    private static string DecodeUtf8(byte[] bytes, string what)
    {
        try { return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes); }
        catch (DecoderFallbackException e) { throw new FileFormatException("Npy", what, "has a version 3.0 header that is not valid UTF-8.", inner: e); }
    }

    private static byte[] ReadExactly(Stream s, int count, string what, string part, long? available)
    {
        if (available is long left && count > left)
            throw new FileFormatException("Npy", what, $"ends after {Math.Max(0, left)} of the {count} bytes of its {part}; the file is truncated.");
        var b = new byte[count];
        BoundedRead.ReadExactly(s, b, "Npy", what, $"its {part}");
        return b;
    }

    /// <summary>The (code, size, byte swap) of a dtype string such as <c>&lt;f4</c>, <c>|b1</c>, <c>&gt;c16</c>.</summary>
    private static (string Code, int Size, bool Swap) ParseDescr(string descr, string what)
    {
        int i = descr.Length > 0 && descr[0] is '<' or '>' or '|' or '=' ? 1 : 0;
        string code = descr[i..];
        int size = code switch
        {
            "f2" or "i2" or "u2" => 2,
            "f4" or "i4" or "u4" => 4,
            "f8" or "i8" or "c8" => 8,
            "c16" => 16,
            "i1" or "u1" or "b1" => 1,
            _ => throw new FileFormatException("Npy", what,
                $"holds dtype '{descr}', which Ember does not read (float16/32/64, complex64/128, int8-64, uint8-32 and bool arrays only)."),
        };
        bool swap = descr.Length > 0 && descr[0] == '>' && BitConverter.IsLittleEndian && size > 1;
        return (code, size, swap);
    }

    /// <summary>The header: a Python dict literal with exactly the keys 'descr' (a string), 'fortran_order' (True or
    /// False) and 'shape' (a tuple of non-negative integers), as numpy's <c>format.read_array_header</c> demands.</summary>
    private static (string Descr, bool Fortran, int[] Shape) ParseHeader(string header, string what)
    {
        var p = new PyLiteral(header, what);
        var dict = p.ParseDict();
        p.ExpectEnd();
        if (dict.Count != 3 || !dict.ContainsKey("descr") || !dict.ContainsKey("fortran_order") || !dict.ContainsKey("shape"))
            throw new FileFormatException("Npy", what, $"has header keys {{{string.Join(", ", dict.Keys.Select(k => $"'{k}'"))}}}; a .npy header has exactly 'descr', 'fortran_order' and 'shape': {header.Trim()}");
        if (dict["descr"] is not string descr)
            throw new FileFormatException("Npy", what, $"has a 'descr' that is not a dtype string (structured dtypes are not read): {header.Trim()}");
        if (dict["fortran_order"] is not bool fortran)
            throw new FileFormatException("Npy", what, $"has a 'fortran_order' other than True or False: {header.Trim()}");
        if (dict["shape"] is not PyLiteral.Tuple(var items))
            throw new FileFormatException("Npy", what, $"has a 'shape' that is not a tuple: {header.Trim()}");
        var shape = new int[items.Count];
        for (int i = 0; i < shape.Length; i++)
            shape[i] = items[i] is long v && v >= 0 && v <= int.MaxValue ? (int)v
                : throw new FileFormatException("Npy", what, $"has shape entry {i} = {items[i] ?? "None"}, not a size in [0, {int.MaxValue}]: {header.Trim()}");
        return (descr, fortran, shape);
    }

    /// <summary>A strict reader of the Python literals a .npy header uses: dicts with string keys, strings, integers,
    /// True/False/None, tuples (<see cref="Tuple"/>) and lists.</summary>
    private sealed class PyLiteral(string text, string what)
    {
        public sealed record Tuple(List<object?> Items);

        private int _pos;

        private FileFormatException Bad(string problem) => new("Npy", what, $"has an unreadable header ({problem} at character {_pos}): {text.Trim()}");

        private void SkipSpace() { while (_pos < text.Length && text[_pos] is ' ' or '\t' or '\n' or '\r') _pos++; }

        private char Peek() { SkipSpace(); return _pos < text.Length ? text[_pos] : '\0'; }

        private void Expect(char c) { if (Peek() != c) throw Bad($"expected '{c}'"); _pos++; }

        public void ExpectEnd() { if (Peek() != '\0') throw Bad("unexpected text after the dict"); }

        public Dictionary<string, object?> ParseDict()
        {
            Expect('{');
            var d = new Dictionary<string, object?>();
            while (Peek() != '}')
            {
                if (ParseValue() is not string key) throw Bad("a dict key that is not a string");
                Expect(':');
                if (!d.TryAdd(key, ParseValue())) throw Bad($"key '{key}' twice");
                if (Peek() == ',') _pos++;
                else if (Peek() != '}') throw Bad("expected ',' or '}'");
            }
            _pos++;
            return d;
        }

        private object? ParseValue()
        {
            char c = Peek();
            if (c is '\'' or '"')
            {
                int end = text.IndexOf(c, _pos + 1);
                if (end < 0) throw Bad("an unterminated string");
                var str = text[(_pos + 1)..end];
                _pos = end + 1;
                return str;
            }
            if (c is '(' or '[')
            {
                char close = c == '(' ? ')' : ']';
                _pos++;
                var items = new List<object?>();
                bool comma = false;
                while (Peek() != close)
                {
                    items.Add(ParseValue());
                    comma = false;
                    if (Peek() == ',') { _pos++; comma = true; }
                    else if (Peek() != close) throw Bad($"expected ',' or '{close}'");
                }
                _pos++;
                // Python: "(3)" is the integer 3, not a tuple; "(3,)" and "()" are tuples; "(,)" does not parse (caught above).
                if (c == '(' && items.Count == 1 && !comma) return items[0];
                return c == '(' ? new Tuple(items) : items;
            }
            if (c == '{') return ParseDict();
            int start = _pos;
            if (c is '-' or '+') _pos++;
            while (_pos < text.Length && (char.IsAsciiLetterOrDigit(text[_pos]) || text[_pos] == '_')) _pos++;
            var word = text[start.._pos];
            if (word.Length == 0) throw Bad("expected a value");
            return word switch
            {
                "True" => true,
                "False" => false,
                "None" => null,
                _ => long.TryParse(word.EndsWith('L') ? word[..^1] : word, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out long v)
                    ? v : throw Bad($"'{word}' is not a value a .npy header holds"),
            };
        }
    }
}
