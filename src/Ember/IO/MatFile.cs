using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using NComplex = System.Numerics.Complex;

namespace Ember.IO;

/// <summary>What a MAT-file says about one variable (<see cref="MatFile.List"/>).</summary>
/// <param name="Name">The variable's name.</param>
/// <param name="Class">MATLAB class: double, single, int8 … uint64, logical, char, cell, struct, sparse, object.</param>
/// <param name="Dims">MATLAB dimensions (at least two; column-major in the file).</param>
/// <param name="IsComplex">True for complex arrays.</param>
/// <param name="IsSupported">True when <see cref="MatFile.Load(string, string[])"/> can return it as a tensor (numeric and logical arrays).</param>
public sealed record MatVariable(string Name, string Class, int[] Dims, bool IsComplex, bool IsSupported)
{
    /// <inheritdoc/>
    public override string ToString() => $"{Name}: {string.Join("x", Dims)} {(IsComplex ? "complex " : "")}{Class}";
}

/// <summary>
/// MATLAB Level 5 MAT-files (what <c>save</c> writes by default: <c>-v6</c> uncompressed and <c>-v7</c> zlib-compressed),
/// after MathWorks' "MAT-File Format" document. Numeric arrays of any rank, real or complex, double, single or integer,
/// and logical arrays are read into tensors; MATLAB's column-major order is mapped so that element (i, j, k) of the
/// MATLAB array is element [i, j, k] of the tensor (as <c>scipy.io.loadmat</c> does). Both byte orders are read.
/// Version 7.3 files are HDF5 containers and get an error that says how to re-save them.
/// </summary>
public static class MatFile
{
    private const int MiInt8 = 1, MiUInt8 = 2, MiInt16 = 3, MiUInt16 = 4, MiInt32 = 5, MiUInt32 = 6, MiSingle = 7, MiDouble = 9,
        MiInt64 = 12, MiUInt64 = 13, MiMatrix = 14, MiCompressed = 15, MiUtf8 = 16, MiUtf16 = 17, MiUtf32 = 18;

    private static readonly string[] s_classNames =
        ["", "cell", "struct", "object", "char", "sparse", "double", "single", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64"];

    private const int ClassDouble = 6, ClassSingle = 7, ClassInt64 = 14, ClassUInt8 = 9;

    // ------------------------------------------------------------------ reading

    /// <summary>The variables in a MAT-file, in file order.</summary>
    public static IReadOnlyList<MatVariable> List(string path) => ReadAll(path, wanted: null, infoOnly: true).Infos;

    /// <summary>Loads numeric and logical variables as tensors: double → float64, single → float32, complex double →
    /// complex128, complex single → complex64, integer classes → int64, logical → bool. With no names, every supported
    /// variable (cells, structs, chars and sparse matrices are skipped: see <see cref="List"/>); with names, exactly
    /// those, and a missing one is a <see cref="KeyNotFoundException"/>, an unsupported one a
    /// <see cref="NotSupportedException"/>. A damaged file (truncated anywhere, elements of the wrong type or size,
    /// unknown class codes, corrupt or oversized compressed variables) is a <see cref="FileFormatException"/> naming
    /// the variable; a compressed variable is inflated only up to the size its tag declares.</summary>
    public static Dictionary<string, Tensor> Load(string path, params string[] names)
    {
        var (vars, infos) = ReadAll(path, names.Length == 0 ? null : new HashSet<string>(names), infoOnly: false);
        foreach (var n in names)
        {
            if (vars.ContainsKey(n)) continue;
            var info = infos.FirstOrDefault(v => v.Name == n);
            throw info is null
                ? new KeyNotFoundException($"MatFile.Load: '{path}' has no variable '{n}'; it holds {Describe(infos)}.")
                : new NotSupportedException($"MatFile.Load: variable '{n}' in '{path}' is a {info.Class} array, which Ember cannot read as a tensor (numeric and logical arrays only).");
        }
        return vars;
    }

    /// <summary>Loads one variable.</summary>
    public static Tensor Load(string path, string name) => Load(path, [name])[name];

    private static string Describe(IReadOnlyList<MatVariable> infos) => infos.Count == 0 ? "no variables" : string.Join(", ", infos);

    private static FileFormatException Bad(string path, string problem, string? variable = null, Exception? inner = null) =>
        new("MatFile", path, problem, variable, "variable", inner);

    private static (Dictionary<string, Tensor> Vars, List<MatVariable> Infos) ReadAll(string path, HashSet<string>? wanted, bool infoOnly)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"MatFile: no file at '{path}'.", path);
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length >= 8 && bytes[0] == 0x89 && bytes[1] == (byte)'H' && bytes[2] == (byte)'D' && bytes[3] == (byte)'F')
            throw V73Error(path);
        if (bytes.Length < 128)
            throw Bad(path, $"is {bytes.Length} bytes, shorter than the 128-byte MAT-file header; it is not a MATLAB Level 5 MAT-file.");
        var text = Encoding.ASCII.GetString(bytes, 0, 116);
        bool little = bytes[126] == (byte)'I' && bytes[127] == (byte)'M';
        bool big = bytes[126] == (byte)'M' && bytes[127] == (byte)'I';
        if (!little && !big)
        {
            if (text.StartsWith("MATLAB 7.3", StringComparison.Ordinal)) throw V73Error(path);
            throw Bad(path, "has no Level 5 endian indicator (bytes 126-127); it may be a Level 4 MAT-file or not a MAT-file. Re-save it in MATLAB with save(..., '-v7').");
        }
        int version = little ? BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(124)) : BinaryPrimitives.ReadUInt16BigEndian(bytes.AsSpan(124));
        if (version == 0x0200 || text.StartsWith("MATLAB 7.3", StringComparison.Ordinal)) throw V73Error(path);
        var reader = new Reader(bytes, 128, bytes.Length, !little, path);
        var vars = new Dictionary<string, Tensor>();
        var infos = new List<MatVariable>();
        // Every byte after the header belongs to a top-level element: a cut inside one (even inside a tag or its
        // padding, 1-7 bytes past the last whole variable) is an error, never a shorter list of variables.
        while (reader.Position < reader.End)
        {
            int at = reader.Position;
            var (type, payload) = reader.Element(padded: true);
            if (type == MiCompressed)
            {
                var inflated = Inflate(bytes, payload, path, at);
                var inner = new Reader(inflated, 0, inflated.Length, reader.Swap, path);
                var (innerType, innerPayload) = inner.Element(padded: true);
                if (innerType != MiMatrix) throw Bad(path, $"the compressed element at byte {at} holds data type {innerType}, expected miMATRIX (14).");
                if (inner.Position != inflated.Length)
                    throw Bad(path, $"the compressed element at byte {at} inflates to {inflated.Length - inner.Position} bytes more than its miMATRIX element.");
                ReadMatrix(inner, innerPayload, vars, infos, wanted, infoOnly);
            }
            else if (type == MiMatrix) ReadMatrix(reader, payload, vars, infos, wanted, infoOnly);
            else throw Bad(path, $"the top-level element at byte {at} has data type {type}; a MAT-file holds only miMATRIX (14) and miCOMPRESSED (15) there.");
        }
        return (vars, infos);
    }

    /// <summary>The zlib stream of a miCOMPRESSED element, inflated to exactly the miMATRIX element it declares (its
    /// 8-byte tag, then the length that tag gives): a stream longer than that, or a declared length beyond what the
    /// compressed bytes can produce, is an error before anything large is allocated.</summary>
    private static byte[] Inflate(byte[] bytes, (int Start, int Length) payload, string path, int at)
    {
        using var z = new ZLibStream(new MemoryStream(bytes, payload.Start, payload.Length, writable: false), CompressionMode.Decompress);
        string what = $"the compressed element at byte {at}";
        var tag = new byte[8];
        BoundedRead.ReadExactly(z, tag, "MatFile", path, what);
        uint first = BinaryPrimitives.ReadUInt32LittleEndian(tag), second = BinaryPrimitives.ReadUInt32LittleEndian(tag.AsSpan(4));
        if (bytes.Length >= 128 && bytes[126] == (byte)'M') { first = BinaryPrimitives.ReverseEndianness(first); second = BinaryPrimitives.ReverseEndianness(second); }
        long total = (first >> 16) != 0 ? 8 : 8 + (((long)second + 7) & ~7L);
        BoundedRead.CheckInflatedSize("MatFile", path, total, payload.Length, what);
        var inflated = new byte[total];
        tag.CopyTo(inflated, 0);
        BoundedRead.ReadExactly(z, inflated.AsSpan(8), "MatFile", path, what);
        if (BoundedRead.HasMore(z)) throw Bad(path, $"{what} inflates to more than the {total} bytes its miMATRIX tag declares.");
        return inflated;
    }

    private static Exception V73Error(string path) => new FileFormatException("MatFile", path,
        "is a MATLAB v7.3 MAT-file (an HDF5 container), which Ember does not read. Re-save it in MATLAB with " +
        "save('file.mat', 'H', 'Fopt', 'Wopt', '-v7') (variables under 2 GB), or in Python with scipy.io.savemat.");

    // MATLAB's class codes (mxClassID): 1-15 as named in s_classNames, 16 function handle, 17 opaque (classdef objects).
    private const int MaxClass = 17;

    private static void ReadMatrix(Reader r, (int Start, int Length) payload, Dictionary<string, Tensor> vars, List<MatVariable> infos, HashSet<string>? wanted, bool infoOnly)
    {
        if (payload.Length == 0) return;   // an empty miMATRIX element (allowed by the format)
        var sub = new Reader(r.Bytes, payload.Start, payload.Start + payload.Length, r.Swap, r.Path);
        var (flagsType, flags) = sub.Element(padded: true);
        if (flagsType != MiUInt32 || flags.Length != 8) throw Bad(r.Path, $"the array flags at byte {flags.Start} are malformed (type {flagsType}, {flags.Length} bytes; expected miUINT32, 8 bytes).");
        uint f0 = sub.U32(flags.Start);
        int cls = (int)(f0 & 0xFF);
        bool complex = (f0 & 0x800) != 0, logical = (f0 & 0x200) != 0;
        if (cls < 1 || cls > MaxClass) throw Bad(r.Path, $"the array at byte {payload.Start - 8} has class code {cls}, which is no MATLAB class (1-{MaxClass}).");
        var (dimsType, dimsEl) = sub.Element(padded: true);
        if (dimsType != MiInt32 || dimsEl.Length % 4 != 0 || dimsEl.Length < 8)
            throw Bad(r.Path, $"the dimensions at byte {dimsEl.Start} are malformed (type {dimsType}, {dimsEl.Length} bytes; expected miINT32, two or more dims).");
        var dims = new int[dimsEl.Length / 4];
        for (int i = 0; i < dims.Length; i++)
        {
            dims[i] = (int)sub.U32(dimsEl.Start + 4 * i);
            if (dims[i] < 0) throw Bad(r.Path, $"the array at byte {payload.Start - 8} has a negative dimension {dims[i]}.");
        }
        var (nameType, nameEl) = sub.Element(padded: true);
        if (nameType is not (MiInt8 or MiUInt8 or MiUtf8)) throw Bad(r.Path, $"the array name at byte {nameEl.Start} has data type {nameType}, expected miINT8.");
        var name = Encoding.ASCII.GetString(r.Bytes, nameEl.Start, nameEl.Length);
        string className = cls < s_classNames.Length ? s_classNames[cls] : cls == 16 ? "function" : "opaque";
        bool numeric = cls >= ClassDouble && cls <= 15;
        if (logical) className = "logical";
        infos.Add(new MatVariable(name, className, dims, complex, numeric));
        if (infoOnly || !numeric || (wanted is not null && !wanted.Contains(name))) return;

        long count = ShapeUtil.Product(dims);
        if (count > int.MaxValue) throw Bad(r.Path, $"has {ShapeUtil.Str(dims)} = {(count == long.MaxValue ? "more than 2^62" : count.ToString())} elements, more than a tensor holds.", name);
        var (reType, reEl) = sub.Element(padded: true);
        var re = sub.Numbers(reType, reEl, (int)count, name, "real part");
        double[]? im = null;
        if (complex)
        {
            var (imType, imEl) = sub.Element(padded: true);
            im = sub.Numbers(imType, imEl, (int)count, name, "imaginary part");
        }
        if (sub.Position != sub.End)
            throw Bad(r.Path, $"has {sub.End - sub.Position} bytes after its {(complex ? "imaginary" : "real")} part that belong to no element of a numeric array.", name);
        vars[name] = ToTensor(re, im, dims, cls, logical);
    }

    /// <summary>Column-major MATLAB data of <paramref name="dims"/> → a row-major tensor of the same shape.</summary>
    private static Tensor ToTensor(double[] re, double[]? im, int[] dims, int cls, bool logical)
    {
        var reversed = dims.Reverse().ToArray();   // column-major (d0..dn) = row-major (dn..d0)
        Tensor t;
        if (im is not null)
        {
            var z = new NComplex[re.Length];
            for (int i = 0; i < z.Length; i++) z[i] = new NComplex(re[i], im[i]);
            t = Tensor.FromSpan<NComplex>(z, reversed);
            if (cls == ClassSingle) t = t.To(DType.Complex64);
        }
        else if (logical) t = Tensor.FromSpan<bool>(Array.ConvertAll(re, v => v != 0), reversed);
        else if (cls == ClassDouble) t = Tensor.FromSpan<double>(re, reversed);
        else if (cls == ClassSingle) t = Tensor.FromSpan<float>(Array.ConvertAll(re, v => (float)v), reversed);
        else t = Tensor.FromSpan<long>(Array.ConvertAll(re, v => (long)v), reversed);
        if (dims.Length < 2) return t.Contiguous();
        var perm = Enumerable.Range(0, dims.Length).Reverse().ToArray();
        return t.Permute(perm).Contiguous();
    }

    /// <summary>Walks data elements (tag + payload, 8-byte aligned; the 4-byte "small element" form included).</summary>
    private sealed class Reader(byte[] bytes, int start, int end, bool swap, string path)
    {
        public readonly byte[] Bytes = bytes;
        public int Position = start;
        public readonly int End = end;
        public readonly bool Swap = swap;
        public readonly string Path = path;

        public uint U32(int at) => Swap ? BinaryPrimitives.ReadUInt32BigEndian(Bytes.AsSpan(at)) : BinaryPrimitives.ReadUInt32LittleEndian(Bytes.AsSpan(at));

        /// <summary>The next element's type and payload. Its padding to 8 bytes must be there (MATLAB and scipy
        /// write it) except after a miCOMPRESSED payload, which is not padded.</summary>
        public (int Type, (int Start, int Length) Payload) Element(bool padded)
        {
            if (Position + 8 > End) throw Bad(Path, $"ends inside a data element tag at byte {Position} ({End - Position} of its 8 bytes there); the file is truncated.");
            uint first = U32(Position);
            if ((first >> 16) != 0)
            {
                // Small data element: type and size share the first word; up to 4 bytes of data follow.
                int type = (int)(first & 0xFFFF), size = (int)(first >> 16);
                if (size > 4) throw Bad(Path, $"the small data element at byte {Position} claims {size} bytes (at most 4).");
                var el = (Position + 4, size);
                Position += 8;
                return (type, el);
            }
            int t = (int)first;
            long len = U32(Position + 4);
            long dataStart = Position + 8;
            // miCOMPRESSED payloads are not padded; everything else is padded to 8 bytes.
            long next = t == MiCompressed || !padded ? dataStart + len : dataStart + ((len + 7) & ~7L);
            if (next > End)
                throw Bad(Path, $"the data element at byte {Position} (type {t}) claims {len} bytes{(next > dataStart + len ? " plus padding" : "")}, past the end of its container at byte {End}; the file is truncated or damaged.");
            Position = (int)next;
            return (t, ((int)dataStart, (int)len));
        }

        public double[] Numbers(int type, (int Start, int Length) el, int count, string name, string part)
        {
            int size = type switch
            {
                MiInt8 or MiUInt8 => 1,
                MiInt16 or MiUInt16 => 2,
                MiInt32 or MiUInt32 or MiSingle => 4,
                MiDouble or MiInt64 or MiUInt64 => 8,
                _ => throw Bad(Path, $"its {part} has data type {type}, which is not numeric.", name),
            };
            if (el.Length != (long)count * size)
                throw Bad(Path, $"its {part} holds {el.Length} bytes, but its dimensions need {count} values of {size} bytes.", name);
            var r = new double[count];
            var data = Bytes.AsSpan(el.Start, el.Length).ToArray();
            if (Swap && size > 1)
                for (int i = 0; i < data.Length; i += size) Array.Reverse(data, i, size);
            var span = data.AsSpan();
            for (int i = 0; i < count; i++)
            {
                var src = span.Slice(i * size, size);
                r[i] = type switch
                {
                    MiInt8 => (sbyte)src[0],
                    MiUInt8 => src[0],
                    MiInt16 => BinaryPrimitives.ReadInt16LittleEndian(src),
                    MiUInt16 => BinaryPrimitives.ReadUInt16LittleEndian(src),
                    MiInt32 => BinaryPrimitives.ReadInt32LittleEndian(src),
                    MiUInt32 => BinaryPrimitives.ReadUInt32LittleEndian(src),
                    MiSingle => BinaryPrimitives.ReadSingleLittleEndian(src),
                    MiDouble => BinaryPrimitives.ReadDoubleLittleEndian(src),
                    MiInt64 => BinaryPrimitives.ReadInt64LittleEndian(src),
                    _ => BinaryPrimitives.ReadUInt64LittleEndian(src),
                };
            }
            return r;
        }
    }

    // ------------------------------------------------------------------ writing

    /// <summary>Writes tensors as MATLAB variables in a Level 5 MAT-file (readable by MATLAB's <c>load</c> and
    /// <c>scipy.io.loadmat</c>), atomically (temporary file, then move). float64 → double, float32 → single, complex
    /// types → complex double/single, int64 → int64, bool → logical. Tensor element [i, j, k] becomes MATLAB element
    /// (i, j, k) (column-major in the file); 1-D tensors become 1×n row vectors and scalars 1×1, as scipy writes them.
    /// With <paramref name="compress"/> (MATLAB's v7 default) each variable is zlib-compressed when that makes it smaller.</summary>
    public static void Save(string path, IReadOnlyDictionary<string, Tensor> variables, bool compress = true)
    {
        foreach (var (name, t) in variables)
        {
            if (name.Length == 0 || name.Length > 63 || !char.IsAsciiLetter(name[0]) || !name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_'))
                throw new ArgumentException($"MatFile.Save: '{name}' is not a valid MATLAB variable name (a letter, then letters, digits or underscores; at most 63 characters).");
            if (t.DType is not (DType.Float32 or DType.Float64 or DType.Complex64 or DType.Complex128 or DType.Int64 or DType.Bool))
                throw new ArgumentException($"MatFile.Save: variable '{name}' has dtype {t.DType.Name()}, which has no MATLAB class here.");
        }
        AtomicFile.Write(path, s =>
        {
            var header = new byte[128];
            var text = $"MATLAB 5.0 MAT-file, Platform: {Environment.OSVersion.Platform}, Created on: {DateTime.UtcNow:ddd MMM dd HH:mm:ss yyyy} by Ember";
            var tb = Encoding.ASCII.GetBytes(text.Length > 116 ? text[..116] : text.PadRight(116));
            tb.CopyTo(header, 0);
            // Bytes 116-123: subsystem data offset (unused: spaces or zeros); 124-125 version 0x0100; 126-127 "IM".
            BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(124), 0x0100);
            header[126] = (byte)'I';
            header[127] = (byte)'M';
            s.Write(header);
            foreach (var (name, t) in variables)
            {
                var matrix = MatrixElement(name, t);
                if (!compress) { s.Write(matrix); continue; }
                using var ms = new MemoryStream();
                // zlib level 1; a variable that does not shrink (floating-point noise rarely does: 600 channels of 144x36
                // grew 5% at level 1 and shrank 5% at "optimal", which took 5.5x longer) is stored uncompressed, which the
                // format allows per variable.
                using (var z = new ZLibStream(ms, CompressionLevel.Fastest, leaveOpen: true)) z.Write(matrix);
                var packed = ms.ToArray();
                if (packed.Length >= matrix.Length) { s.Write(matrix); continue; }
                WriteTag(s, MiCompressed, packed.Length);
                s.Write(packed);
            }
        });
    }

    private static void WriteTag(Stream s, int type, int length)
    {
        Span<byte> tag = stackalloc byte[8];
        BinaryPrimitives.WriteInt32LittleEndian(tag, type);
        BinaryPrimitives.WriteInt32LittleEndian(tag[4..], length);
        s.Write(tag);
    }

    private static void WriteElement(Stream s, int type, ReadOnlySpan<byte> data)
    {
        WriteTag(s, type, data.Length);
        s.Write(data);
        int pad = (8 - data.Length % 8) % 8;
        for (int i = 0; i < pad; i++) s.WriteByte(0);
    }

    /// <summary>One miMATRIX element (tag included) for a tensor.</summary>
    private static byte[] MatrixElement(string name, Tensor t)
    {
        var dims = t.Dim switch { 0 => [1, 1], 1 => [1, t.Size(0)], _ => t.Shape };
        // Column-major data = the row-major data of the tensor with its dims reversed.
        var data = t.Dim >= 2 ? t.Permute(Enumerable.Range(0, t.Dim).Reverse().ToArray()).Contiguous() : t.Contiguous();
        using var body = new MemoryStream();
        int cls = t.DType switch
        {
            DType.Float64 or DType.Complex128 => ClassDouble,
            DType.Float32 or DType.Complex64 => ClassSingle,
            DType.Int64 => ClassInt64,
            _ => ClassUInt8,
        };
        uint flags = (uint)cls | (t.IsComplex ? 0x800u : 0) | (t.DType == DType.Bool ? 0x200u : 0);
        var fl = new byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(fl, flags);
        WriteElement(body, MiUInt32, fl);
        var db = new byte[4 * dims.Length];
        for (int i = 0; i < dims.Length; i++) BinaryPrimitives.WriteInt32LittleEndian(db.AsSpan(4 * i), dims[i]);
        WriteElement(body, MiInt32, db);
        WriteElement(body, MiInt8, Encoding.ASCII.GetBytes(name));
        switch (t.DType)
        {
            case DType.Float64: WriteElement(body, MiDouble, System.Runtime.InteropServices.MemoryMarshal.AsBytes(data.ToArray<double>().AsSpan())); break;
            case DType.Float32: WriteElement(body, MiSingle, System.Runtime.InteropServices.MemoryMarshal.AsBytes(data.ToArray<float>().AsSpan())); break;
            case DType.Int64: WriteElement(body, MiInt64, System.Runtime.InteropServices.MemoryMarshal.AsBytes(data.ToArray<long>().AsSpan())); break;
            case DType.Bool: WriteElement(body, MiUInt8, Array.ConvertAll(data.ToArray<bool>(), b => b ? (byte)1 : (byte)0)); break;
            case DType.Complex128:
            {
                var z = data.ToArray<NComplex>();
                WriteElement(body, MiDouble, System.Runtime.InteropServices.MemoryMarshal.AsBytes(Array.ConvertAll(z, v => v.Real).AsSpan()));
                WriteElement(body, MiDouble, System.Runtime.InteropServices.MemoryMarshal.AsBytes(Array.ConvertAll(z, v => v.Imaginary).AsSpan()));
                break;
            }
            default:
            {
                var z = data.ToArray<Complex64>();
                WriteElement(body, MiSingle, System.Runtime.InteropServices.MemoryMarshal.AsBytes(Array.ConvertAll(z, v => v.Real).AsSpan()));
                WriteElement(body, MiSingle, System.Runtime.InteropServices.MemoryMarshal.AsBytes(Array.ConvertAll(z, v => v.Imaginary).AsSpan()));
                break;
            }
        }
        var payload = body.ToArray();
        using var outer = new MemoryStream();
        WriteTag(outer, MiMatrix, payload.Length);
        outer.Write(payload);
        return outer.ToArray();
    }
}
