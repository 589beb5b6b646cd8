using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace Ember.IO;

/// <summary>
/// The safetensors format (Hugging Face; what PyTorch and the Hub share): an 8-byte little-endian header length
/// N, N bytes of UTF-8 JSON mapping each name to {dtype, shape, data_offsets: [begin, end]} (plus an optional
/// "__metadata__" string map), then the raw little-endian, row-major tensor bytes. Offsets are relative to the
/// end of the header; the data must be covered exactly, without holes or overlaps. A dtype swapped for another of
/// the same width (F32 for I32) cannot be told from a genuine file: the header decides how the bytes are read.
/// </summary>
public static class Safetensors
{
    private const long MaxHeader = 100_000_000;

    /// <summary>Writes tensors (and optional string metadata) to <paramref name="path"/> atomically: a temporary file
    /// in the same folder is written, flushed and then moved over the target, so a failure never leaves a partial file.</summary>
    public static void Save(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var names = tensors.Keys.OrderBy(k => k, StringComparer.Ordinal).ToList();
        var header = new Dictionary<string, object>();
        if (metadata is not null && metadata.Count > 0) header["__metadata__"] = metadata;
        long offset = 0;
        var contiguous = new List<Tensor>();
        foreach (var name in names)
        {
            var t = tensors[name].Detach().Contiguous();
            long bytes = (long)t.NumEl * t.DType.ElementSize();
            header[name] = new Dictionary<string, object>
            {
                ["dtype"] = DTypeName(t.DType),
                ["shape"] = t.Shape,
                ["data_offsets"] = new[] { offset, offset + bytes },
            };
            offset += bytes;
            contiguous.Add(t);
        }
        var json = JsonSerializer.SerializeToUtf8Bytes(header);
        int pad = (8 - json.Length % 8) % 8;   // keep the data 8-byte aligned: trailing spaces are valid JSON padding
        AtomicFile.Write(path, fs =>
        {
            Span<byte> len = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)(json.Length + pad));
            fs.Write(len);
            fs.Write(json);
            for (int i = 0; i < pad; i++) fs.WriteByte((byte)' ');
            foreach (var t in contiguous) WriteData(fs, t);
        });
    }

    private static void WriteData(Stream s, Tensor t)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("Safetensors: big-endian hosts are not supported.");
        switch (t.DType)
        {
            case DType.Float32: s.Write(MemoryMarshal.AsBytes(t.Span<float>())); break;
            case DType.Float64: s.Write(MemoryMarshal.AsBytes(t.Span<double>())); break;
            case DType.Int64: s.Write(MemoryMarshal.AsBytes(t.Span<long>())); break;
            case DType.Bool: s.Write(MemoryMarshal.AsBytes(t.Span<bool>())); break;
            case DType.Int8: s.Write(MemoryMarshal.AsBytes(t.Span<sbyte>())); break;
            case DType.BFloat16: s.Write(MemoryMarshal.AsBytes(t.Span<BFloat16>())); break;
            case DType.Float16: s.Write(MemoryMarshal.AsBytes(t.Span<Half>())); break;
            case DType.Complex64: s.Write(MemoryMarshal.AsBytes(t.Span<Complex64>())); break;
            case DType.Complex128: s.Write(MemoryMarshal.AsBytes(t.Span<System.Numerics.Complex>())); break;
        }
    }

    private static string DTypeName(DType d) => d switch
    {
        DType.Float32 => "F32",
        DType.Float64 => "F64",
        DType.Int64 => "I64",
        DType.Bool => "BOOL",
        DType.Int8 => "I8",
        DType.BFloat16 => "BF16",
        DType.Float16 => "F16",
        DType.Complex64 => "C64",
        // Not in the safetensors specification (neither is C64): Ember's own extension, interleaved (re, im) float64.
        DType.Complex128 => "C128",
        _ => throw new NotSupportedException($"Safetensors: dtype {d.Name()}."),
    };

    /// <summary>Reads every tensor of a safetensors file. F16, BF16 are widened to float32; U8, I16, I32 to int64; I8 stays int8.
    /// A damaged file (header not a JSON object of well-typed entries, offsets that leave holes, overlap or run past
    /// the data, sizes that do not match the shapes) is a <see cref="FileFormatException"/> naming the tensor. Leftover
    /// temporary files of writes to this path that were killed midway (<see cref="AtomicFile"/>) are removed.</summary>
    public static Dictionary<string, Tensor> Load(string path) => Load(path, out _);

    /// <summary>Loads every tensor of a safetensors file and returns its string metadata in <paramref name="metadata"/>.</summary>
    public static Dictionary<string, Tensor> Load(string path, out Dictionary<string, string> metadata)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Safetensors: no such file: {path}", path);
        AtomicFile.RemoveStaleTemporaries(path);
        var bytes = File.ReadAllBytes(path);
        return Parse(bytes, path, out metadata);
    }

    private static FileFormatException Bad(string source, string problem, string? tensor = null) => new("Safetensors", source, problem, tensor, "tensor");

    /// <summary>Parses safetensors bytes; <paramref name="source"/> names them in error messages. Every entry is checked
    /// before any tensor is built.</summary>
    public static Dictionary<string, Tensor> Parse(byte[] bytes, string source, out Dictionary<string, string> metadata)
    {
        if (bytes.Length < 8) throw Bad(source, $"is {bytes.Length} bytes, too short for the 8-byte header length.");
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        if (n > MaxHeader || 8 + (long)n > bytes.Length)
            throw Bad(source, $"declares a header of {n} bytes but the file has {bytes.Length - 8} after the length{(n > MaxHeader ? $" (and headers are limited to {MaxHeader})" : "")}.");
        if (n == 0 || bytes[8] != (byte)'{') throw Bad(source, "has a header that does not start with '{' (not a safetensors file).");
        if (!System.Text.Unicode.Utf8.IsValid(bytes.AsSpan(8, (int)n))) throw Bad(source, "has a header that is not valid UTF-8.");
        JsonDocument doc;
        try { doc = JsonDocument.Parse(bytes.AsMemory(8, (int)n)); }
        catch (JsonException e) { throw new FileFormatException("Safetensors", source, $"has an invalid JSON header: {e.Message}", inner: e); }
        long dataStart = 8 + (long)n, dataLen = bytes.Length - dataStart;
        metadata = new Dictionary<string, string>();
        var entries = new List<(string Name, string DType, int[] Shape, long Begin, long End)>();
        var seen = new HashSet<string>();
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw Bad(source, "has a header that is not a JSON object.");
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (!seen.Add(prop.Name)) throw Bad(source, "appears twice in the header.", prop.Name);
                if (prop.Name == "__metadata__")
                {
                    if (prop.Value.ValueKind != JsonValueKind.Object) throw Bad(source, $"has a __metadata__ that is a JSON {Kind(prop.Value)}, not an object of strings.");
                    foreach (var m in prop.Value.EnumerateObject())
                        metadata[m.Name] = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()!
                            : throw Bad(source, $"has __metadata__ entry '{m.Name}' that is a JSON {Kind(m.Value)}, not a string.");
                    continue;
                }
                entries.Add(Entry(prop, source, dataLen));
            }
        }
        // The data section must be covered exactly: sorted by offset, each tensor starts where the previous ended.
        var ordered = entries.OrderBy(e => e.Begin).ThenBy(e => e.End).ToList();
        long at = 0;
        foreach (var e in ordered)
        {
            if (e.Begin != at)
                throw Bad(source, $"starts at data byte {e.Begin}, but the previous tensor ends at {at} (the data has a {(e.Begin > at ? "hole" : "overlap")}).", e.Name);
            at = e.End;
        }
        if (at != dataLen) throw Bad(source, $"has {dataLen - at} trailing data bytes that belong to no tensor.");
        var result = new Dictionary<string, Tensor>();
        foreach (var e in entries)
            result[e.Name] = Decode(bytes.AsSpan((int)(dataStart + e.Begin), (int)(e.End - e.Begin)), e.DType, e.Shape);
        return result;
    }

    private static string Kind(JsonElement e) => e.ValueKind.ToString().ToLowerInvariant();

    private static (string Name, string DType, int[] Shape, long Begin, long End) Entry(JsonProperty prop, string source, long dataLen)
    {
        string name = prop.Name;
        var e = prop.Value;
        if (e.ValueKind != JsonValueKind.Object) throw Bad(source, $"is a JSON {Kind(e)}, not an object with dtype, shape and data_offsets.", name);
        if (!e.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String) throw Bad(source, "has no dtype string.", name);
        string dtype = dt.GetString()!;
        int elem = ElementBytes(dtype) ?? throw Bad(source, $"has dtype '{dtype}', which Ember does not read (F16, BF16, F32, F64, I8, U8, I16, I32, I64, BOOL, C64, C128).", name);
        if (!e.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array) throw Bad(source, "has no shape array.", name);
        var shape = new int[sh.GetArrayLength()];
        for (int i = 0; i < shape.Length; i++)
        {
            var x = sh[i];
            shape[i] = x.ValueKind == JsonValueKind.Number && x.TryGetInt32(out int v) && v >= 0 ? v
                : throw Bad(source, $"has shape entry {i} = {x.GetRawText()}, not a size in [0, {int.MaxValue}].", name);
        }
        if (!e.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
            throw Bad(source, "has no data_offsets pair [begin, end].", name);
        long Offset(JsonElement x) => x.ValueKind == JsonValueKind.Number && x.TryGetInt64(out long v) && v >= 0 ? v
            : throw Bad(source, $"has data offset {x.GetRawText()}, not a non-negative integer.", name);
        long begin = Offset(off[0]), end = Offset(off[1]);
        if (end < begin || end > dataLen)
            throw Bad(source, $"has data_offsets [{begin}, {end}] outside the {dataLen}-byte data section.", name);
        long numel = ShapeUtil.Product(shape);
        long? bytes = ShapeUtil.CheckedBytes(numel, elem);
        if (bytes != end - begin)
            throw Bad(source, $"spans {end - begin} bytes but {dtype} {ShapeUtil.Str(shape)} needs {(bytes is long b ? b.ToString() : "more than 2^62")}.", name);
        if (numel > int.MaxValue) throw Bad(source, $"has {numel} elements, more than a tensor holds.", name);
        return (name, dtype, shape, begin, end);
    }

    private static int? ElementBytes(string dtype) => dtype switch
    {
        "F32" or "I32" => 4,
        "F64" or "I64" or "C64" => 8,
        "C128" => 16,
        "F16" or "BF16" or "I16" => 2,
        "BOOL" or "U8" or "I8" => 1,
        _ => null,
    };

    private static Tensor Decode(ReadOnlySpan<byte> data, string dtype, int[] shape)
    {
        switch (dtype)
        {
            case "F32": return Tensor.FromSpan(MemoryMarshal.Cast<byte, float>(data), shape);
            case "F64": return Tensor.FromSpan(MemoryMarshal.Cast<byte, double>(data), shape);
            case "I64": return Tensor.FromSpan(MemoryMarshal.Cast<byte, long>(data), shape);
            case "I8": return Tensor.FromSpan(MemoryMarshal.Cast<byte, sbyte>(data), shape);
            case "C64": return Tensor.FromSpan(MemoryMarshal.Cast<byte, Complex64>(data), shape);
            case "C128": return Tensor.FromSpan(MemoryMarshal.Cast<byte, System.Numerics.Complex>(data), shape);
            case "BOOL":
            {
                var b = new bool[data.Length];
                for (int i = 0; i < b.Length; i++) b[i] = data[i] != 0;
                return Tensor.FromArray(b, shape);
            }
            case "F16":
            {
                var h = MemoryMarshal.Cast<byte, Half>(data);
                var f = new float[h.Length];
                for (int i = 0; i < f.Length; i++) f[i] = (float)h[i];
                return Tensor.FromArray(f, shape);
            }
            case "BF16":
            {
                var u = MemoryMarshal.Cast<byte, ushort>(data);
                var f = new float[u.Length];
                for (int i = 0; i < f.Length; i++) f[i] = BitConverter.Int32BitsToSingle(u[i] << 16);
                return Tensor.FromArray(f, shape);
            }
            default:
            {
                var l = new long[data.Length / ElementBytes(dtype)!.Value];
                for (int i = 0; i < l.Length; i++)
                    l[i] = dtype switch
                    {
                        "I32" => BinaryPrimitives.ReadInt32LittleEndian(data[(i * 4)..]),
                        "I16" => BinaryPrimitives.ReadInt16LittleEndian(data[(i * 2)..]),
                        _ => data[i],
                    };
                return Tensor.FromArray(l, shape);
            }
        }
    }
}
