using System.Buffers.Binary;
using System.IO.Compression;

namespace Ember.IO;

/// <summary>
/// PNG images (ISO/IEC 15948, the W3C PNG specification) as tensors: <see cref="Read(string, int)"/> decodes every
/// standard variant (gray, gray+alpha, RGB, RGBA and palette images; bit depths 1, 2, 4, 8 and 16; Adam7 interlacing;
/// <c>tRNS</c> transparency) into a float32 (C, H, W) tensor scaled to [0, 1], as torchvision's <c>read_image</c> followed
/// by <c>ToTensor</c>'s scaling; <see cref="Write"/> encodes (C, H, W) or (H, W) tensors in [0, 1] as 8-bit PNGs.
/// Every chunk's CRC is checked; a damaged or truncated file, an unknown critical chunk or image data that inflates to
/// more or less than the header implies is a <see cref="FileFormatException"/> naming the chunk.
/// </summary>
public static class Png
{
    private static ReadOnlySpan<byte> Signature => [137, 80, 78, 71, 13, 10, 26, 10];

    /// <summary>The largest image decoded: 2^28 samples (1 GB of float32), well past any photograph.</summary>
    public const long MaxSamples = 1L << 28;

    /// <summary>Reads the PNG at <paramref name="path"/>. <paramref name="channels"/>: 0 keeps the stored channels (1 gray,
    /// 2 gray+alpha, 3 RGB, 4 RGBA; a palette image gives 3, or 4 when it has transparency); 1 converts to luma
    /// (ITU-R 601-2, L = 0.299 R + 0.587 G + 0.114 B as Pillow's "L" mode, alpha dropped), 3 to RGB (alpha dropped,
    /// gray replicated), 4 to RGBA (alpha 1 where the file has none, 0 on a <c>tRNS</c> transparent color).</summary>
    /// <returns>float32 (C, H, W) with values in [0, 1] (samples divided by 2^depth − 1).</returns>
    public static Tensor Read(string path, int channels = 0)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Png: no such file: {path}", path);
        return Decode(File.ReadAllBytes(path), channels, path);
    }

    /// <summary>Decodes PNG bytes (<paramref name="source"/> names them in errors). See <see cref="Read(string, int)"/>.</summary>
    public static Tensor Decode(ReadOnlySpan<byte> png, int channels = 0, string source = "<bytes>")
    {
        if (channels is not (0 or 1 or 3 or 4))
            throw new ArgumentOutOfRangeException(nameof(channels), channels, "Png.Decode: channels must be 0 (as stored), 1, 3 or 4.");
        var image = Parse(png, source);
        return image.ToTensor(channels);
    }

    /// <summary>Writes an image as an 8-bit PNG: <paramref name="image"/> is (H, W) or (C, H, W) with C = 1 (gray),
    /// 2 (gray+alpha), 3 (RGB) or 4 (RGBA), values in [0, 1] (rounded to the nearest of 256 levels). The file is written
    /// whole or not at all.</summary>
    public static void Write(string path, Tensor image)
    {
        var bytes = Encode(image);
        AtomicFile.Write(path, s => s.Write(bytes));
    }

    /// <summary>Encodes an image as 8-bit PNG bytes (see <see cref="Write"/>); NaN or values outside [0, 1] are refused.</summary>
    public static byte[] Encode(Tensor image)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (image.Dim is not (2 or 3)) throw new ArgumentException($"Png.Encode: the image must be (H, W) or (C, H, W), got {ShapeUtil.Str(image.Shape)}", nameof(image));
        int c = image.Dim == 2 ? 1 : image.Size(0), h = image.Size(-2), w = image.Size(-1);
        if (c is < 1 or > 4) throw new ArgumentException($"Png.Encode: {c} channels; PNG stores 1 (gray), 2 (gray+alpha), 3 (RGB) or 4 (RGBA)", nameof(image));
        if (h < 1 || w < 1) throw new ArgumentException($"Png.Encode: an image of {h}×{w} pixels has nothing to store", nameof(image));
        var values = image.To(DType.Float32).Contiguous().ToArray<float>();
        int stride = w * c;
        var raw = new byte[(long)h * (stride + 1) > Array.MaxLength ? throw new ArgumentException("Png.Encode: the image is too large for one array", nameof(image)) : h * (stride + 1)];
        var row = new byte[stride];
        var previous = new byte[stride];
        var trial = new byte[stride];
        for (int y = 0; y < h; y++)
        {
            for (int x = 0; x < w; x++)
                for (int k = 0; k < c; k++)
                {
                    float v = values[((long)k * h + y) * w + x];
                    if (!(v >= 0f && v <= 1f))
                        throw new ArgumentException($"Png.Encode: the value at channel {k}, row {y}, column {x} is {v}; pixels must lie in [0, 1]", nameof(image));
                    row[x * c + k] = (byte)MathF.Round(v * 255f);
                }
            // The filter with the smallest sum of absolute residuals (the specification's suggested heuristic).
            int best = 0;
            long bestScore = long.MaxValue;
            for (int f = 0; f < 5; f++)
            {
                Filter(f, row, previous, c, trial);
                long score = 0;
                foreach (byte b in trial) score += b < 128 ? b : 256 - b;
                if (score < bestScore) { bestScore = score; best = f; }
            }
            int at = y * (stride + 1);
            raw[at] = (byte)best;
            Filter(best, row, previous, c, raw.AsSpan(at + 1, stride));
            (row, previous) = (previous, row);
        }
        using var output = new MemoryStream();
        output.Write(Signature);
        Span<byte> header = stackalloc byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, w);
        BinaryPrimitives.WriteInt32BigEndian(header[4..], h);
        header[8] = 8;
        header[9] = c switch { 1 => 0, 2 => 4, 3 => 2, _ => 6 };
        WriteChunk(output, "IHDR", header);
        using (var compressed = new MemoryStream())
        {
            using (var z = new ZLibStream(compressed, CompressionLevel.Optimal, leaveOpen: true)) z.Write(raw);
            WriteChunk(output, "IDAT", compressed.GetBuffer().AsSpan(0, (int)compressed.Length));
        }
        WriteChunk(output, "IEND", []);
        return output.ToArray();
    }

    private static void Filter(int type, ReadOnlySpan<byte> row, ReadOnlySpan<byte> up, int bpp, Span<byte> into)
    {
        for (int i = 0; i < row.Length; i++)
        {
            int a = i >= bpp ? row[i - bpp] : 0, b = up[i], cc = i >= bpp ? up[i - bpp] : 0;
            into[i] = (byte)(row[i] - type switch { 0 => 0, 1 => a, 2 => b, 3 => (a + b) >> 1, _ => Paeth(a, b, cc) });
        }
    }

    private static void WriteChunk(Stream output, string type, ReadOnlySpan<byte> data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, data.Length);
        output.Write(word);
        Span<byte> name = stackalloc byte[4];
        for (int i = 0; i < 4; i++) name[i] = (byte)type[i];
        output.Write(name);
        output.Write(data);
        uint crc = Crc32.Update(Crc32.Update(0xFFFFFFFFu, name), data) ^ 0xFFFFFFFFu;
        BinaryPrimitives.WriteUInt32BigEndian(word, crc);
        output.Write(word);
    }

    private static int Paeth(int a, int b, int c)
    {
        int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }

    private static FileFormatException Bad(string source, string problem, string? chunk = null) => new("Png", source, problem, chunk, "chunk");

    /// <summary>A decoded image: samples as stored (palette indices resolved), row-major, interleaved channels.</summary>
    private sealed class Image
    {
        public int Width, Height, Channels, Depth;
        public ushort[] Samples = [];
        public int[]? TransparentColor;   // tRNS for gray or RGB images, in samples
        public bool IsGray => Channels <= 2;

        public Tensor ToTensor(int want)
        {
            int n = Width * Height, have = Channels;
            if (want == 0) want = have;
            float max = (1 << Depth) - 1;   // samples / max, correctly rounded
            var data = new float[(long)want * n];
            var s = Samples;
            bool alphaFromKey = want == 4 && TransparentColor is not null && (have is 1 or 3);
            for (int p = 0; p < n; p++)
            {
                int o = p * have;
                int r, g, b, a = have is 2 or 4 ? s[o + have - 1] : (1 << Depth) - 1;
                if (have <= 2) r = g = b = s[o];
                else { r = s[o]; g = s[o + 1]; b = s[o + 2]; }
                if (alphaFromKey && (have == 1 ? r == TransparentColor![0] : r == TransparentColor![0] && g == TransparentColor[1] && b == TransparentColor[2])) a = 0;
                switch (want)
                {
                    case 1:
                        data[p] = have <= 2 ? r / max
                            : Depth == 8 ? ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16) / max   // Pillow's L24 rounding
                            : (float)((0.299 * r + 0.587 * g + 0.114 * b) / max);
                        break;
                    case 2: data[p] = r / max; data[n + p] = a / max; break;
                    default:
                        data[p] = r / max; data[n + p] = g / max; data[2 * n + p] = b / max;
                        if (want == 4) data[3 * n + p] = a / max;
                        break;
                }
            }
            return Tensor.FromArray(data, want, Height, Width);
        }
    }

    private static Image Parse(ReadOnlySpan<byte> png, string source)
    {
        if (png.Length < 8 || !png[..8].SequenceEqual(Signature))
            throw Bad(source, "is not a PNG file (it does not start with the PNG signature 89 50 4E 47 0D 0A 1A 0A).");
        int at = 8;
        int width = 0, height = 0, depth = 0, colorType = -1, interlace = 0;
        byte[]? palette = null, paletteAlpha = null;
        int[]? key = null;
        using var idat = new MemoryStream();
        bool seenHeader = false, seenEnd = false, seenData = false;
        while (!seenEnd)
        {
            if (png.Length - at < 12) throw Bad(source, $"ends at byte {png.Length} inside a chunk header (no IEND chunk).");
            uint length = BinaryPrimitives.ReadUInt32BigEndian(png[at..]);
            var typeBytes = png.Slice(at + 4, 4);
            string type = System.Text.Encoding.ASCII.GetString(typeBytes);
            foreach (byte t in typeBytes)
                if (!(t is >= (byte)'A' and <= (byte)'Z' || t is >= (byte)'a' and <= (byte)'z'))
                    throw Bad(source, $"has a chunk with an invalid type (bytes {Convert.ToHexString(typeBytes)}) at byte {at}.");
            if (length > int.MaxValue || length > png.Length - at - 12)
                throw Bad(source, $"declares {length} bytes of data at byte {at}, but only {png.Length - at - 12} follow (truncated file).", type);
            var data = png.Slice(at + 8, (int)length);
            uint crc = BinaryPrimitives.ReadUInt32BigEndian(png[(at + 8 + (int)length)..]);
            uint actual = Crc32.Update(Crc32.Update(0xFFFFFFFFu, typeBytes), data) ^ 0xFFFFFFFFu;
            if (crc != actual) throw Bad(source, $"has a damaged chunk at byte {at}: CRC {crc:X8} stored, {actual:X8} computed.", type);
            if (!seenHeader && type != "IHDR") throw Bad(source, $"starts with a {type} chunk; the first chunk must be IHDR.", type);
            switch (type)
            {
                case "IHDR":
                    if (seenHeader) throw Bad(source, "has a second IHDR chunk.", type);
                    if (length != 13) throw Bad(source, $"has an IHDR chunk of {length} bytes; it must be 13.", type);
                    seenHeader = true;
                    width = BinaryPrimitives.ReadInt32BigEndian(data);
                    height = BinaryPrimitives.ReadInt32BigEndian(data[4..]);
                    depth = data[8];
                    colorType = data[9];
                    interlace = data[12];
                    if (width <= 0 || height <= 0) throw Bad(source, $"declares an image of {(uint)width}×{(uint)height} pixels; both must be 1 to 2^31−1.", type);
                    bool valid = colorType switch
                    {
                        0 => depth is 1 or 2 or 4 or 8 or 16,
                        3 => depth is 1 or 2 or 4 or 8,
                        2 or 4 or 6 => depth is 8 or 16,
                        _ => false,
                    };
                    if (!valid) throw Bad(source, $"declares color type {colorType} with bit depth {depth}, which PNG does not define.", type);
                    if (data[10] != 0 || data[11] != 0) throw Bad(source, $"declares compression method {data[10]} and filter method {data[11]}; PNG defines only 0.", type);
                    if (interlace > 1) throw Bad(source, $"declares interlace method {interlace}; PNG defines 0 (none) and 1 (Adam7).", type);
                    long samples = (long)width * height * (colorType == 3 ? 4 : SamplesPerPixel(colorType));
                    if (samples > MaxSamples) throw Bad(source, $"declares {width}×{height} pixels, more than Png reads ({MaxSamples} samples).", type);
                    break;
                case "PLTE":
                    if (length % 3 != 0 || length == 0 || length > 768) throw Bad(source, $"has a palette of {length} bytes; it must be 3 to 768 and a multiple of 3.", type);
                    if (seenData) throw Bad(source, "has its palette after the image data.", type);
                    palette = data.ToArray();
                    break;
                case "tRNS":
                    if (colorType == 3)
                    {
                        if (palette is null) throw Bad(source, "has transparency (tRNS) before its palette.", type);
                        if (length > palette.Length / 3) throw Bad(source, $"gives {length} palette alphas for {palette.Length / 3} palette entries.", type);
                        paletteAlpha = data.ToArray();
                    }
                    else if (colorType is 0 or 2)
                    {
                        int n = colorType == 0 ? 1 : 3;
                        if (length != 2 * n) throw Bad(source, $"has a tRNS chunk of {length} bytes; a {(n == 1 ? "gray" : "RGB")} image's is {2 * n}.", type);
                        key = new int[n];
                        for (int i = 0; i < n; i++) key[i] = BinaryPrimitives.ReadUInt16BigEndian(data[(2 * i)..]);
                    }
                    else throw Bad(source, $"has a tRNS chunk in an image with an alpha channel (color type {colorType}).", type);
                    break;
                case "IDAT":
                    idat.Write(data);
                    seenData = true;
                    break;
                case "IEND":
                    seenEnd = true;
                    break;
                default:
                    if (char.IsUpper(type[0])) throw Bad(source, $"has the critical chunk {type}, which Png does not know (it cannot be skipped).", type);
                    break;   // ancillary: text, gamma, physical size, … do not change the samples
            }
            at += 12 + (int)length;
        }
        if (!seenData) throw Bad(source, "has no image data (IDAT chunk).");
        if (colorType == 3 && palette is null) throw Bad(source, "is a palette image without a palette (PLTE chunk).");

        int channels = colorType == 3 ? (paletteAlpha is null ? 3 : 4) : SamplesPerPixel(colorType);
        int bitsPerPixel = SamplesPerPixel(colorType) * depth;
        var passes = interlace == 0
            ? new[] { (X0: 0, Y0: 0, Dx: 1, Dy: 1) }
            : [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)];
        long expected = 0;
        foreach (var p in passes)
        {
            long pw = (width - p.X0 + p.Dx - 1) / p.Dx, ph = (height - p.Y0 + p.Dy - 1) / p.Dy;
            if (pw > 0 && ph > 0) expected += ph * (1 + (pw * bitsPerPixel + 7) / 8);
        }
        BoundedRead.CheckInflatedSize("Png", source, expected, idat.Length, $"a {width}×{height} image (color type {colorType}, depth {depth}) in {idat.Length} bytes of image data", "IDAT", "chunk");
        var raw = new byte[expected];
        idat.Position = 0;
        try
        {
            using var z = new ZLibStream(idat, CompressionMode.Decompress);
            BoundedRead.ReadExactly(z, raw, "Png", source, "the image data (IDAT)");
            if (BoundedRead.HasMore(z)) throw Bad(source, $"has image data that inflates to more than the {expected} bytes a {width}×{height} image needs.", "IDAT");
        }
        catch (InvalidDataException e) { throw new FileFormatException("Png", source, $"has corrupt compressed image data: {e.Message}", "IDAT", "chunk", e); }

        var image = new Image { Width = width, Height = height, Channels = channels, Depth = colorType == 3 ? 8 : depth, TransparentColor = key };
        image.Samples = new ushort[(long)width * height * channels];
        int bpp = Math.Max(1, bitsPerPixel / 8), offset = 0;
        foreach (var p in passes)
        {
            int pw = (width - p.X0 + p.Dx - 1) / p.Dx, ph = (height - p.Y0 + p.Dy - 1) / p.Dy;
            if (pw <= 0 || ph <= 0) continue;
            int rowBytes = (int)(((long)pw * bitsPerPixel + 7) / 8);
            var previous = new byte[rowBytes];
            var row = new byte[rowBytes];
            for (int y = 0; y < ph; y++)
            {
                int filter = raw[offset];
                if (filter > 4) throw Bad(source, $"uses filter type {filter} on row {p.Y0 + y * p.Dy}{(interlace == 1 ? " (Adam7 pass)" : "")}; PNG defines 0 to 4.", "IDAT");
                var line = raw.AsSpan(offset + 1, rowBytes);
                for (int i = 0; i < rowBytes; i++)
                {
                    int a = i >= bpp ? row[i - bpp] : 0, b = previous[i], c = i >= bpp ? previous[i - bpp] : 0;
                    row[i] = (byte)(line[i] + filter switch { 0 => 0, 1 => a, 2 => b, 3 => (a + b) >> 1, _ => Paeth(a, b, c) });
                }
                offset += rowBytes + 1;
                Unpack(row, pw, p.Y0 + y * p.Dy, p.X0, p.Dx, colorType, depth, palette, paletteAlpha, image, source);
                (row, previous) = (previous, row);
            }
        }
        return image;
    }

    private static int SamplesPerPixel(int colorType) => colorType switch { 0 => 1, 2 => 3, 3 => 1, 4 => 2, _ => 4 };

    private static void Unpack(byte[] row, int count, int y, int x0, int dx, int colorType, int depth, byte[]? palette, byte[]? paletteAlpha, Image image, string source)
    {
        int spp = SamplesPerPixel(colorType), channels = image.Channels;
        var s = image.Samples;
        for (int i = 0; i < count; i++)
        {
            int x = x0 + i * dx;
            long o = ((long)y * image.Width + x) * channels;
            if (depth < 8)
            {
                int perByte = 8 / depth, shift = 8 - depth * (i % perByte + 1);
                int v = (row[i / perByte] >> shift) & ((1 << depth) - 1);
                if (colorType == 0) { s[o] = (ushort)v; continue; }
                Lookup(v, o, x);
            }
            else if (depth == 8)
            {
                if (colorType == 3) { Lookup(row[i], o, x); continue; }
                for (int k = 0; k < spp; k++) s[o + k] = row[i * spp + k];
            }
            else
                for (int k = 0; k < spp; k++) s[o + k] = BinaryPrimitives.ReadUInt16BigEndian(row.AsSpan(2 * (i * spp + k)));
        }

        void Lookup(int index, long o, int x)
        {
            if (3 * index + 2 >= palette!.Length)
                throw Bad(source, $"has pixel (x {x}, y {y}) with palette index {index}, but the palette has {palette.Length / 3} entries.", "IDAT");
            s[o] = palette[3 * index]; s[o + 1] = palette[3 * index + 1]; s[o + 2] = palette[3 * index + 2];
            if (channels == 4) s[o + 3] = index < paletteAlpha!.Length ? paletteAlpha[index] : (ushort)255;
        }
    }

    /// <summary>CRC-32 (ISO 3309, polynomial 0xEDB88320 reflected) as PNG and zlib's gzip use; table-driven.</summary>
    private static class Crc32
    {
        private static readonly uint[] s_table = Build();

        private static uint[] Build()
        {
            var t = new uint[256];
            for (uint n = 0; n < 256; n++)
            {
                uint c = n;
                for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
                t[n] = c;
            }
            return t;
        }

        public static uint Update(uint crc, ReadOnlySpan<byte> data)
        {
            foreach (byte b in data) crc = s_table[(crc ^ b) & 0xFF] ^ (crc >> 8);
            return crc;
        }
    }
}
