using Ember;
using Ember.IO;
using Xunit;

namespace Ember.Tests.IO;

/// <summary>PNG decoding against files written by Pillow 9.4 and by a specification-based encoder cross-checked with
/// Pillow (Fixtures/png/gen_png_fixtures.py): every color type, bit depths 1–16, palettes with and without
/// transparency, color-key transparency, all five filters and Adam7 interlacing; conversions to L/RGBA equal Pillow's.</summary>
public class PngTests
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "png", name);

    public static TheoryData<string, int> Files => new()
    {
        { "gray1", 1 }, { "gray2", 1 }, { "gray4", 1 }, { "gray8", 1 }, { "gray16", 1 }, { "gray1_adam7", 1 },
        { "la8", 2 }, { "rgb8", 3 }, { "rgb16", 3 }, { "rgb8_filters", 3 }, { "rgb8_adam7", 3 }, { "rgb_key", 3 },
        { "rgba8", 4 }, { "rgba16", 4 }, { "rgba8_1x1_adam7", 4 },
        { "palette2", 3 }, { "palette4", 3 }, { "palette8", 3 }, { "palette4_adam7", 3 }, { "palette_trns", 4 },
    };

    [Theory]
    [MemberData(nameof(Files))]
    public void DecodesEveryVariantExactly(string name, int channels)
    {
        var got = Png.Read(Fixture(name + ".png"));
        var want = Npy.Load(Fixture(name + ".npy"));
        Assert.Equal(want.Shape, got.Shape);
        Assert.Equal(channels, got.Size(0));
        Assert.Equal(want.ToArray<float>(), got.ToArray<float>());
    }

    [Theory]
    [InlineData("rgb8")]
    [InlineData("palette2")]
    [InlineData("palette4")]
    [InlineData("palette8")]
    public void LumaEqualsPillowsConvertL(string name)
    {
        var got = Png.Read(Fixture(name + ".png"), channels: 1);
        Assert.Equal(Npy.Load(Fixture(name + ".L.npy")).ToArray<float>(), got.ToArray<float>());
    }

    [Fact]
    public void ConversionsBetweenChannelCounts()
    {
        // A color key becomes alpha 0 in RGBA, as Pillow's convert("RGBA").
        Assert.Equal(Npy.Load(Fixture("rgb_key.RGBA.npy")).ToArray<float>(), Png.Read(Fixture("rgb_key.png"), 4).ToArray<float>());
        // Gray to RGB replicates; alpha dropped or added.
        var gray = Png.Read(Fixture("gray8.png"));
        var rgb = Png.Read(Fixture("gray8.png"), 3);
        for (int c = 0; c < 3; c++) Assert.Equal(gray.ToArray<float>(), rgb.Narrow(0, c, 1).Contiguous().ToArray<float>());
        var rgba = Png.Read(Fixture("rgba8.png"));
        Assert.Equal(rgba.Narrow(0, 0, 3).Contiguous().ToArray<float>(), Png.Read(Fixture("rgba8.png"), 3).ToArray<float>());
        var opaque = Png.Read(Fixture("rgb8.png"), 4);
        Assert.All(opaque.Narrow(0, 3, 1).Contiguous().ToArray<float>(), v => Assert.Equal(1f, v));
        Assert.Throws<ArgumentOutOfRangeException>(() => Png.Read(Fixture("rgb8.png"), 2));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void WrittenImagesDecodeToTheirEightBitLevels(int channels)
    {
        // The decoder is checked against Pillow above; the encoder through it, on smooth and noisy content (all filters).
        var g = new Generator((ulong)channels);
        var noise = Tensor.Rand([channels, 45, 61], DType.Float32, g);
        var ramp = Tensor.Arange(0, 61, 1).To(DType.Float32).Div(60).Reshape(1, 1, 61).Expand(channels, 45, 61);
        var image = Tensor.Cat([noise.Narrow(1, 0, 20), ramp.Narrow(1, 20, 25).Contiguous()], 1);
        var path = Path.Combine(Directory.CreateTempSubdirectory("ember-png").FullName, "x.png");
        Png.Write(path, image);
        var back = Png.Read(path);
        var want = image.ToArray<float>().Select(v => MathF.Round(v * 255f) / 255f).ToArray();
        Assert.Equal(want, back.ToArray<float>());
        if (channels == 1)
        {
            Png.Write(path, image.Reshape(45, 61));   // (H, W) is one gray channel
            Assert.Equal(want, Png.Read(path).ToArray<float>());
        }
    }

    [Fact]
    public void RefusesValuesOutsideTheUnitRangeAndWritesNothing()
    {
        var path = Path.Combine(Directory.CreateTempSubdirectory("ember-png").FullName, "bad.png");
        var e = Assert.Throws<ArgumentException>(() => Png.Write(path, Tensor.FromArray(new[] { 0f, 0.5f, float.NaN, 1f }, 1, 2, 2)));
        Assert.Contains("row 1, column 0", e.Message);
        Assert.Contains("NaN", e.Message);
        Assert.False(File.Exists(path));
        Assert.Throws<ArgumentException>(() => Png.Encode(Tensor.Zeros([5, 2, 2])));
    }

    private static byte[] Chunk(string type, byte[] data)
    {
        var body = System.Text.Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
        var len = new byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(len, data.Length);
        return [.. len, .. body, .. Crc(body)];
    }

    private static byte[] Crc(byte[] body)
    {
        uint c = 0xFFFFFFFF;
        foreach (byte b in body)
        {
            c ^= b;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
        }
        var o = new byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(o, c ^ 0xFFFFFFFF);
        return o;
    }

    [Fact]
    public void DamagedFilesNameTheChunkAndTheProblem()
    {
        var valid = File.ReadAllBytes(Fixture("rgb8.png"));
        var dir = Directory.CreateTempSubdirectory("ember-png").FullName;
        void Refused(byte[] bytes, params string[] needles)
        {
            var path = Path.Combine(dir, "f.png");
            File.WriteAllBytes(path, bytes);
            var e = Assert.Throws<FileFormatException>(() => Png.Read(path));
            Assert.Contains(path, e.Message);
            foreach (var n in needles) Assert.Contains(n, e.Message);
        }
        Refused(System.Text.Encoding.ASCII.GetBytes("GIF89a......"), "not a PNG file");
        Refused(valid[..(valid.Length - 20)], "truncated");
        var crc = (byte[])valid.Clone();
        crc[20] ^= 1;   // inside IHDR's data
        Refused(crc, "IHDR", "CRC");
        byte[] sig = valid[..8];
        byte[] Ihdr(int w, int h, byte depth, byte type, byte interlace = 0)
        {
            var d = new byte[13];
            System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(d, w);
            System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(d.AsSpan(4), h);
            d[8] = depth; d[9] = type; d[12] = interlace;
            return Chunk("IHDR", d);
        }
        byte[] Idat(byte[] raw)
        {
            using var m = new MemoryStream();
            using (var z = new System.IO.Compression.ZLibStream(m, System.IO.Compression.CompressionLevel.Optimal, true)) z.Write(raw);
            return Chunk("IDAT", m.ToArray());
        }
        var end = Chunk("IEND", []);
        Refused([.. sig, .. Ihdr(2, 2, 16, 3), .. end], "color type 3 with bit depth 16");
        Refused([.. sig, .. Ihdr(2, 2, 8, 0, 2), .. end], "interlace method 2");
        Refused([.. sig, .. Ihdr(0, 2, 8, 0), .. end], "0×2");
        Refused([.. sig, .. Ihdr(2, 2, 8, 0), .. Idat([0, 1, 2, 0, 3, 4]), .. Chunk("ABCD", [1]), .. end], "ABCD", "critical");
        Refused([.. sig, .. Ihdr(2, 2, 8, 0), .. Idat([0, 1, 2, 0, 3, 4])], "no IEND");
        Refused([.. sig, .. Ihdr(2, 2, 8, 0), .. Idat([0, 1, 2, 7, 3, 4]), .. end], "filter type 7", "row 1");
        Refused([.. sig, .. Ihdr(2, 2, 8, 0), .. Idat([0, 1, 2, 0, 3, 4, 9, 9]), .. end], "inflates to more");
        Refused([.. sig, .. Ihdr(2, 2, 8, 0), .. Idat([0, 1, 2, 0]), .. end], "IDAT", "truncated");
        Refused([.. sig, .. Ihdr(2, 2, 8, 3), .. Idat([0, 1, 2, 0, 3, 4]), .. end], "without a palette");
        Refused([.. sig, .. Ihdr(2, 1, 8, 3), .. Chunk("PLTE", [1, 2, 3, 4, 5, 6]), .. Idat([0, 1, 2]), .. end], "palette index 2", "x 1, y 0");
        Refused([.. sig, .. Ihdr(10000, 10000, 8, 0), .. Idat([0, 0]), .. end], "decompression bomb");
        Refused([.. sig, .. Ihdr(30000, 30000, 8, 0), .. Idat([0, 0]), .. end], "30000×30000", "more than Png reads");
        Refused([.. sig, .. Chunk("IDAT", [1]), .. end], "first chunk must be IHDR");
        // Ancillary chunks are skipped and bytes after IEND are ignored, as browsers do.
        var path = Path.Combine(dir, "ok.png");
        File.WriteAllBytes(path, [.. sig, .. Ihdr(2, 2, 8, 0), .. Chunk("tIME", new byte[7]), .. Idat([0, 0, 255, 1, 51, 0]), .. end, 1, 2, 3]);
        Assert.Equal(new[] { 0f, 1f, 51f / 255f, 51f / 255f }, Png.Read(path).ToArray<float>());
    }
}
