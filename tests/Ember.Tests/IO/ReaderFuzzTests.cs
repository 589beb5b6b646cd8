using System.Buffers.Binary;
using System.IO.Compression;
using Ember;
using Ember.IO;
using Xunit;

namespace Ember.Tests.IO;

/// <summary>A fuzzer over every file reader: valid files (written by NumPy and SciPy where there is such a writer:
/// Fixtures/gen_io_fixtures.py; real MNIST digits for IDX) are truncated, extended, and overwritten at random and at
/// header fields with boundary values, with fixed seeds. For every variant: the only exception is
/// <see cref="FileFormatException"/>; the reader allocates at most a bound derived from the file's size; and a
/// variant that is structurally corrupt for certain (cut short, or with bytes after the end the format defines) is
/// refused, not read.</summary>
public class ReaderFuzzTests
{
    private const int VariantsPerFile = 300;

    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "io", name);

    private sealed record Format(string Name, Func<string, object> Read, bool TrailingBytesAreCorrupt, Func<byte[], int, bool> CutIsCorrupt);

    private static readonly Format IdxFormat = new("idx", p => Idx.Read(p), true, (_, _) => true);
    private static readonly Format NpyFormat = new("npy", p => Npy.Load(p), true, (_, _) => true);
    private static readonly Format NpzFormat = new("npz", p => Npy.LoadNpz(p), false, (_, _) => true);   // zip allows a trailing comment
    // PNG: bytes after IEND are ignored (as browsers and Pillow do); a cut always loses IEND.
    private static readonly Format PngFormat = new("png", p => Png.Read(p), false, (_, _) => true);
    private static readonly Format SafetensorsFormat = new("safetensors", p => Safetensors.Load(p), true, (_, _) => true);
    // A MAT-file cut exactly at a top-level element boundary is a valid file with fewer variables.
    private static readonly Format MatFormat = new("mat", p => MatFile.Load(p), true, (bytes, cut) => !MatBoundaries(bytes).Contains(cut));

    private static HashSet<int> MatBoundaries(byte[] bytes)
    {
        var b = new HashSet<int>();
        int pos = 128;
        while (pos + 8 <= bytes.Length)
        {
            b.Add(pos);
            int type = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(pos)), len = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(pos + 4));
            pos += 8 + (type == 15 ? len : (len + 7) & ~7);
        }
        b.Add(pos);
        return b;
    }

    private static readonly uint[] Boundaries = [0, 1, 2, 7, 8, 255, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFFE];

    /// <summary>Fuzzes <paramref name="valid"/> (which must read).</summary>
    private static void Fuzz(Format format, byte[] valid, int seed, long uncompressedSize)
    {
        var dir = Directory.CreateTempSubdirectory("ember-fuzz-" + format.Name).FullName;
        var path = Path.Combine(dir, "f." + format.Name);
        File.WriteAllBytes(path, valid);
        format.Read(path);
        var rng = new Random(seed);
        // Bound: what the intact file's contents can occupy as tensors (64 bytes per byte of data covers int8 → int64
        // plus the intermediate copies) and a fixed allowance for headers, names and zip/deflate state.
        long bound = 64 * Math.Max(uncompressedSize, valid.Length) + (8 << 20);
        for (int v = 0; v < VariantsPerFile; v++)
        {
            byte[] bytes = (byte[])valid.Clone();
            bool mustRefuse = false;
            string what;
            switch (v % 5)
            {
                case 0:
                {
                    int cut = rng.Next(valid.Length);
                    bytes = valid[..cut];
                    mustRefuse = format.CutIsCorrupt(valid, cut);
                    what = $"cut at {cut}";
                    break;
                }
                case 1:
                {
                    int extra = rng.Next(1, 17);
                    var tail = new byte[extra];
                    if (format == MatFormat) Array.Fill(tail, (byte)0xFF); else rng.NextBytes(tail);
                    bytes = [.. valid, .. tail];
                    mustRefuse = format.TrailingBytesAreCorrupt;
                    what = $"{extra} bytes appended";
                    break;
                }
                case 2:
                {
                    int n = rng.Next(1, 5);
                    for (int i = 0; i < n; i++) bytes[rng.Next(bytes.Length)] = (byte)rng.Next(256);
                    what = $"{n} random bytes";
                    break;
                }
                default:
                {
                    // A boundary value over a 4-byte field in the header region (where sizes, types and lengths live),
                    // in either byte order.
                    int at = rng.Next(Math.Max(1, Math.Min(bytes.Length, 256) - 4));
                    uint value = Boundaries[rng.Next(Boundaries.Length)];
                    if (rng.Next(2) == 0) BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(at), value);
                    else BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(at), value);
                    what = $"0x{value:X} at byte {at}";
                    break;
                }
            }
            File.WriteAllBytes(path, bytes);
            long before = GC.GetAllocatedBytesForCurrentThread();
            Exception? error = null;
            try { format.Read(path); }
            catch (Exception e) { error = e; }
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            string label = $"{format.Name} seed {seed} variant {v} ({what})";
            if (error is not null && error is not FileFormatException)
                Assert.Fail($"{label}: {error.GetType().Name}: {error.Message}\n{error.StackTrace}");
            if (error is FileFormatException ffe) Assert.Contains(path, ffe.Message);
            Assert.True(allocated <= bound, $"{label}: allocated {allocated:N0} bytes (bound {bound:N0})");
            if (mustRefuse) Assert.True(error is not null, $"{label}: a structurally corrupt file was accepted");
        }
        Directory.Delete(dir, recursive: true);
    }

    private static byte[] MnistIdx(bool gzip, bool labels)
    {
        var name = labels ? "t10k-labels-idx1-ubyte.gz" : "t10k-images-idx3-ubyte.gz";
        var all = Idx.Read(Path.Combine(Ember.Tests.Data.DataTests.RepoData("mnist-10k"), name));
        var first = labels ? all.Narrow(0, 0, 12) : all.Narrow(0, 0, 3);
        var path = Path.Combine(Directory.CreateTempSubdirectory("ember-fuzz-src").FullName, gzip ? "x.idx.gz" : "x.idx");
        Idx.WriteBytes(path, first.Contiguous().ToArray<long>().Select(v => (byte)v).ToArray(), first.Shape);
        return File.ReadAllBytes(path);
    }

    [Fact]
    public void IdxReaderSurvivesFuzzing()
    {
        foreach (var (gzip, labels, seed) in new[] { (false, false, 1), (true, false, 2), (false, true, 3), (true, true, 4) })
        {
            var bytes = MnistIdx(gzip, labels);
            Fuzz(IdxFormat, bytes, seed, uncompressedSize: labels ? 8 + 12 : 16 + 3 * 784);
        }
        // A float32 IDX (type 0x0D), written by hand: header, 2x3 big-endian floats.
        var f = new byte[4 + 8 + 24];
        f[2] = 0x0D; f[3] = 2;
        BinaryPrimitives.WriteInt32BigEndian(f.AsSpan(4), 2);
        BinaryPrimitives.WriteInt32BigEndian(f.AsSpan(8), 3);
        for (int i = 0; i < 6; i++) BinaryPrimitives.WriteSingleBigEndian(f.AsSpan(12 + 4 * i), i + 0.5f);
        Fuzz(IdxFormat, f, 5, f.Length);
    }

    [Fact]
    public void NpyReaderSurvivesFuzzing()
    {
        int seed = 10;
        foreach (var name in new[] { "int32.npy", "big_endian.npy", "complex_fortran.npy" })
            Fuzz(NpyFormat, File.ReadAllBytes(Fixture(name)), seed++, new FileInfo(Fixture(name)).Length);
        var npz = File.ReadAllBytes(Fixture("arrays.npz"));
        long inflated;
        using (var zip = ZipFile.OpenRead(Fixture("arrays.npz"))) inflated = zip.Entries.Sum(e => e.Length);
        Fuzz(NpzFormat, npz, seed, inflated);
    }

    [Fact]
    public void PngReaderSurvivesFuzzing()
    {
        int seed = 40;
        foreach (var name in new[] { "rgb8.png", "palette_trns.png", "gray1_adam7.png", "rgba16.png", "palette4_adam7.png" })
        {
            var path = Path.Combine(AppContext.BaseDirectory, "Fixtures", "png", name);
            var image = Png.Read(path);
            Fuzz(PngFormat, File.ReadAllBytes(path), seed++, 2L * image.NumEl);
        }
    }

    [Fact]
    public void SafetensorsReaderSurvivesFuzzing()
    {
        var path = Path.Combine(Directory.CreateTempSubdirectory("ember-fuzz-src").FullName, "m.safetensors");
        Safetensors.Save(path, new Dictionary<string, Tensor>
        {
            ["layer.weight"] = Tensor.Arange(0, 12).Reshape(3, 4).To(DType.Float32),
            ["layer.bias"] = Tensor.FromArray(new double[] { 1, -2 }),
            ["steps"] = Tensor.FromArray(new long[] { 7 }),
            ["mask"] = Tensor.FromArray(new[] { true, false, true }),
        }, new Dictionary<string, string> { ["format"] = "pt", ["note"] = "fuzz" });
        var bytes = File.ReadAllBytes(path);
        Fuzz(SafetensorsFormat, bytes, 20, bytes.Length);
    }

    [Fact]
    public void MatReaderSurvivesFuzzing()
    {
        int seed = 30;
        foreach (var name in new[] { "scipy_v6.mat", "scipy_v7.mat" })
        {
            var bytes = File.ReadAllBytes(Fixture(name));
            long inflated = bytes.Length;
            if (name.Contains("v7"))
            {
                // Sum of the compressed variables' inflated sizes, from their zlib streams.
                inflated = 128;
                int pos = 128;
                while (pos + 8 <= bytes.Length)
                {
                    int type = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(pos)), len = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(pos + 4));
                    if (type == 15)
                    {
                        using var z = new ZLibStream(new MemoryStream(bytes, pos + 8, len), CompressionMode.Decompress);
                        using var ms = new MemoryStream();
                        z.CopyTo(ms);
                        inflated += ms.Length + 8;
                        pos += 8 + len;
                    }
                    else { inflated += 8 + len; pos += 8 + ((len + 7) & ~7); }
                }
            }
            Fuzz(MatFormat, bytes, seed++, inflated);
        }
    }
}
