namespace Ember.IO;

/// <summary>Reading helpers that keep a damaged or hostile file from costing more memory than its size justifies.</summary>
internal static class BoundedRead
{
    /// <summary>Deflate cannot expand data by more than 1032:1 (258-byte matches coded in 2 bits at best); a
    /// compressed member whose header declares more than this many bytes per compressed byte cannot be genuine.</summary>
    internal const long MaxInflationRatio = 1032;

    /// <summary>Throws when <paramref name="declared"/> uncompressed bytes cannot come from <paramref name="compressed"/>
    /// deflate bytes or exceed what one array holds.</summary>
    internal static void CheckInflatedSize(string format, string path, long declared, long compressed, string what, string? entry = null, string entryKind = "entry")
    {
        if (declared < 0 || declared > MaxInflationRatio * compressed + 1024)
            throw new FileFormatException(format, path, $"{what} declares {declared} bytes, more than {compressed} compressed bytes can inflate to (deflate expands at most {MaxInflationRatio}:1); the file is damaged or a decompression bomb.", entry, entryKind);
        if (declared > Array.MaxLength)
            throw new FileFormatException(format, path, $"{what} declares {declared} bytes, more than one array holds ({Array.MaxLength}).", entry, entryKind);
    }

    /// <summary>Reads exactly <paramref name="buffer"/>.Length bytes from a (decompressing) stream; a short read, or a
    /// stream that fails to decode, is a <see cref="FileFormatException"/>.</summary>
    internal static void ReadExactly(Stream s, Span<byte> buffer, string format, string path, string what, string? entry = null, string entryKind = "entry")
    {
        int got = 0;
        while (got < buffer.Length)
        {
            int r;
            try { r = s.Read(buffer[got..]); }
            catch (InvalidDataException e) { throw new FileFormatException(format, path, $"{what} does not decompress ({e.Message}).", entry, entryKind, e); }
            if (r == 0) throw new FileFormatException(format, path, $"ends after {got} of the {buffer.Length} bytes of {what}; it is truncated.", entry, entryKind);
            got += r;
        }
    }

    /// <summary>True when a (decompressing) stream has data left; decoding errors count as data left.</summary>
    internal static bool HasMore(Stream s)
    {
        Span<byte> one = stackalloc byte[1];
        try { return s.Read(one) > 0; }
        catch (InvalidDataException) { return true; }
    }
}
