using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using Ember;
using Ember.IO;
using Xunit;

namespace Ember.Tests.IO;

/// <summary>Files built to hurt a reader (each case a defect found by an outside fuzzing run): element counts that
/// overflow, decompression bombs, headers that declare more than the file holds, JSON of the wrong types, truncated
/// MAT-files, and a writer killed midway. Every failure must be a <see cref="FileFormatException"/> naming the file
/// (and the entry), before anything large is allocated.</summary>
public class HostileFileTests
{
    private static string Temp(string name) => Path.Combine(Directory.CreateTempSubdirectory("ember-hostile").FullName, name);

    /// <summary>Runs <paramref name="read"/>, expecting a <see cref="FileFormatException"/>; returns it, and asserts
    /// the calling thread allocated at most <paramref name="maxBytes"/> meanwhile.</summary>
    internal static FileFormatException Rejects(Action read, long maxBytes, string why)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<FileFormatException>(read);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated <= maxBytes, $"{why}: allocated {allocated:N0} bytes before failing (bound {maxBytes:N0}): {e.Message}");
        return e;
    }

    // ------------------------------------------------------------------ element counts

    [Fact]
    public void ShapeProductsThatOverflowAreErrors()
    {
        // 65536^4 = 2^64 wraps a 64-bit product to 0: Zeros used to return an empty tensor.
        int[] huge = [65536, 65536, 65536, 65536];
        Assert.Contains("elements", Assert.Throws<ArgumentException>(() => Tensor.Zeros(huge)).Message);
        Assert.Throws<ArgumentException>(() => Tensor.Zeros([65536, 65536]));
        Assert.Empty(Tensor.Zeros([65536, 65536, 0]).ToArray<float>());   // a zero dim is a genuine empty tensor
        var x = Tensor.Zeros(4);
        Assert.Throws<ArgumentException>(() => x.Reshape(65536, 65536, 65536, 65536, -1));
        Assert.Throws<ArgumentException>(() => x.Reshape(65536, 65536, 65536, 65536));
        Assert.Throws<ArgumentException>(() => x.View(65536, 65536, 65536, 65536));

        // The same shape in an IDX header with no data bytes.
        var idx = new byte[4 + 16];
        idx[2] = 0x08;
        idx[3] = 4;
        for (int i = 0; i < 4; i++) BinaryPrimitives.WriteInt32BigEndian(idx.AsSpan(4 + 4 * i), 65536);
        var path = Temp("huge.idx");
        File.WriteAllBytes(path, idx);
        var e = Rejects(() => Idx.Read(path), 1 << 20, "IDX 65536^4");
        Assert.Contains(path, e.Message);

        // And in a safetensors header whose offsets claim 0 bytes for it.
        var st = Temp("huge.safetensors");
        File.WriteAllBytes(st, SafetensorsBytes("{\"w\":{\"dtype\":\"F32\",\"shape\":[65536,65536,65536,65536],\"data_offsets\":[0,0]}}", 0));
        e = Rejects(() => Safetensors.Load(st), 1 << 20, "safetensors 65536^4");
        Assert.Equal("w", e.Entry);
    }

    [Fact]
    public void ZeroDimIdxIsAScalar()
    {
        var path = Temp("scalar.idx");
        File.WriteAllBytes(path, [0, 0, 0x08, 0, 42]);
        var t = Idx.Read(path);
        Assert.Empty(t.Shape);
        Assert.Equal(42L, t.Item<long>());
    }

    [Fact]
    public void MaxOverAnEmptyDimNamesMax()
    {
        var e = Assert.Throws<ArgumentException>(() => Tensor.Zeros(0, 3).Max(0));
        Assert.StartsWith("Max:", e.Message);
        Assert.StartsWith("Min:", Assert.Throws<ArgumentException>(() => Tensor.Zeros(0, 3).Min(0)).Message);
        Assert.StartsWith("ArgMax:", Assert.Throws<ArgumentException>(() => Tensor.Zeros(0, 3).ArgMax(0)).Message);
    }

    // ------------------------------------------------------------------ decompression bombs

    /// <summary>gzip of <paramref name="head"/> followed by <paramref name="zeros"/> zero bytes (deflate packs zeros
    /// about 1000:1).</summary>
    private static byte[] GzipWithZeros(byte[] head, long zeros, bool zlib = false)
    {
        using var ms = new MemoryStream();
        using (Stream z = zlib ? new ZLibStream(ms, CompressionLevel.Optimal, leaveOpen: true) : new GZipStream(ms, CompressionLevel.Optimal, leaveOpen: true))
        {
            z.Write(head);
            var block = new byte[1 << 20];
            for (long left = zeros; left > 0; left -= block.Length) z.Write(block, 0, (int)Math.Min(block.Length, left));
        }
        return ms.ToArray();
    }

    private static byte[] IdxHeader(params int[] dims)
    {
        var h = new byte[4 + 4 * dims.Length];
        h[2] = 0x08;
        h[3] = (byte)dims.Length;
        for (int i = 0; i < dims.Length; i++) BinaryPrimitives.WriteInt32BigEndian(h.AsSpan(4 + 4 * i), dims[i]);
        return h;
    }

    [Fact]
    public void GzipIdxInflatesOnlyWhatItsHeaderDeclares()
    {
        // A 10-byte IDX whose gzip stream goes on with 256 MB of zeros: inflating it all took ~5 GB before the fix.
        var path = Temp("bomb.idx.gz");
        File.WriteAllBytes(path, GzipWithZeros([.. IdxHeader(10), .. new byte[10]], 256L << 20));
        var sw = Stopwatch.StartNew();
        var e = Rejects(() => Idx.Read(path), 4 << 20, "IDX bomb");
        Assert.True(sw.Elapsed.TotalSeconds < 5, $"took {sw.Elapsed.TotalSeconds:F1} s");
        Assert.Contains("more than", e.Message);

        // A header that declares 1.5 GB in a file that cannot inflate to it: refused before allocating.
        var liar = Temp("liar.idx.gz");
        File.WriteAllBytes(liar, GzipWithZeros(IdxHeader(1_500_000_000), 1 << 20));
        e = Rejects(() => Idx.Read(liar), 1 << 20, "IDX declaring 1.5 GB");
        Assert.Contains("decompression bomb", e.Message);

        // The same file honest about its size reads.
        var ok = Temp("ok.idx.gz");
        File.WriteAllBytes(ok, GzipWithZeros([.. IdxHeader(2, 5), .. Enumerable.Range(1, 10).Select(i => (byte)i)], 0));
        Assert.Equal(Enumerable.Range(1, 10).Select(i => (long)i), Idx.Read(ok).ToArray<long>());
    }

    /// <summary>A little-endian Level 5 MAT-file header followed by <paramref name="elements"/>.</summary>
    private static byte[] MatFileBytes(params byte[][] elements)
    {
        var header = new byte[128];
        Encoding.ASCII.GetBytes("MATLAB 5.0 MAT-file, hostile test".PadRight(116)).CopyTo(header, 0);
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(124), 0x0100);
        header[126] = (byte)'I';
        header[127] = (byte)'M';
        return [.. header, .. elements.SelectMany(e => e)];
    }

    private static byte[] Tag(int type, int length)
    {
        var t = new byte[8];
        BinaryPrimitives.WriteInt32LittleEndian(t, type);
        BinaryPrimitives.WriteInt32LittleEndian(t.AsSpan(4), length);
        return t;
    }

    [Fact]
    public void MatCompressedVariableInflatesOnlyWhatItsTagDeclares()
    {
        // A real variable, then zlib streams that lie: one runs 256 MB past its miMATRIX tag, one's tag declares 1.5 GB.
        var real = Temp("real.mat");
        MatFile.Save(real, new Dictionary<string, Tensor> { ["x"] = Tensor.FromArray(new double[] { 1, 2, 3 }) }, compress: false);
        var matrix = File.ReadAllBytes(real)[128..];   // the miMATRIX element, tag included
        byte[] Compressed(byte[] inflated) { var z = GzipWithZeros(inflated, 0, zlib: true); return [.. Tag(15, z.Length), .. z]; }
        var bomb = GzipWithZeros(matrix, 256L << 20, zlib: true);
        var path = Temp("bomb.mat");
        File.WriteAllBytes(path, MatFileBytes([.. Tag(15, bomb.Length), .. bomb]));
        var e = Rejects(() => MatFile.Load(path), 4 << 20, "MAT bomb");
        Assert.Contains("more than", e.Message);

        var liar = (byte[])matrix.Clone();
        BinaryPrimitives.WriteInt32LittleEndian(liar.AsSpan(4), 1_500_000_000);
        File.WriteAllBytes(path, MatFileBytes(Compressed(liar)));
        e = Rejects(() => MatFile.Load(path), 1 << 20, "MAT declaring 1.5 GB");
        Assert.Contains("decompression bomb", e.Message);

        File.WriteAllBytes(path, MatFileBytes(Compressed(matrix)));
        Assert.Equal(new double[] { 1, 2, 3 }, MatFile.Load(path, "x").ToArray<double>());
    }

    // ------------------------------------------------------------------ NPY headers

    private static byte[] NpyBytes(string dict, int dataBytes, int version = 1, uint? headerLength = null)
    {
        var header = dict + "\n";
        var prefix = new List<byte> { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', (byte)version, 0 };
        if (version == 1) prefix.AddRange(BitConverter.GetBytes((ushort)(headerLength ?? (uint)header.Length)));
        else prefix.AddRange(BitConverter.GetBytes(headerLength ?? (uint)header.Length));
        return [.. prefix, .. Encoding.ASCII.GetBytes(header), .. new byte[dataBytes]];
    }

    [Fact]
    public void NpyChecksSizesAgainstTheFileBeforeAllocating()
    {
        var path = Temp("a.npy");
        // 144 bytes declaring 2 GB (250M doubles): no 2 GB allocation, a FileFormatException.
        File.WriteAllBytes(path, NpyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (250000000,), }", 16));
        var e = Rejects(() => Npy.Load(path), 1 << 20, "NPY declaring 2 GB");
        Assert.Contains("truncated", e.Message);
        // A v2 header length of 0x7FFFFFFF: was an OutOfMemoryException.
        File.WriteAllBytes(path, NpyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", 16, version: 2, headerLength: 0x7FFFFFFF));
        Rejects(() => Npy.Load(path), 1 << 20, "NPY header length 2^31-1");
        // Data past what the header declares.
        File.WriteAllBytes(path, NpyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", 17));
        Assert.Contains("1 bytes after", Rejects(() => Npy.Load(path), 1 << 20, "NPY trailing byte").Message);
        File.WriteAllBytes(path, NpyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", 16));
        Assert.Equal(new double[2], Npy.Load(path).ToArray<double>());
    }

    [Theory]
    [InlineData("{'descr': '<f8', 'fortran_order': False, 'shape': 3, 4, }", "")]          // not a tuple (was read as (3, 4))
    [InlineData("{'descr': '<f8', 'fortran_order': False, 'shape': (,), }", "")]          // not Python (was read as ())
    [InlineData("{'descr': '<f8', 'fortran_order': False, 'shape': (3), }", "not a tuple")]   // (3) is the integer 3
    [InlineData("{'descr': '<f8', 'fortran_order': False, 'shape': (-1,), }", "shape entry 0")]
    [InlineData("{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999,), }", "shape entry 0")]
    [InlineData("{'descr': '<f8', 'fortran_order': False, 'shape': (2.5,), }", "")]
    [InlineData("{'descr': '', 'fortran_order': False, 'shape': (3,), }", "dtype ''")]     // was IndexOutOfRange
    [InlineData("{'descr': '<f', 'fortran_order': False, 'shape': (3,), }", "dtype '<f'")] // was FormatException
    [InlineData("{'descr': '<f99999999999', 'fortran_order': False, 'shape': (3,), }", "dtype")] // was OverflowException
    [InlineData("{'descr': '<U8', 'fortran_order': False, 'shape': (3,), }", "dtype '<U8'")]
    [InlineData("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (3,), }", "structured")]
    [InlineData("{'descr': '<f8', 'fortran_order': 1, 'shape': (3,), }", "fortran_order")]
    [InlineData("{'descr': '<f8', 'shape': (3,), }", "exactly")]
    [InlineData("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), 'extra': 1, }", "exactly")]
    [InlineData("{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", "twice")]
    [InlineData("{'descr': '<f8', 'fortran_order': False, 'shape': (3,)", "")]              // unterminated
    [InlineData("{'descr': '<f8, 'fortran_order': False, 'shape': (3,), }", "")]
    [InlineData("'descr'", "")]
    public void NpyHeaderIsParsedStrictly(string dict, string expected)
    {
        var path = Temp("h.npy");
        File.WriteAllBytes(path, NpyBytes(dict, 24));
        var e = Rejects(() => Npy.Load(path), 1 << 20, dict);
        Assert.Contains(path, e.Message);
        Assert.Contains(expected, e.Message);
    }

    // ------------------------------------------------------------------ safetensors JSON of the wrong types

    private static byte[] SafetensorsBytes(string json, int dataBytes)
    {
        var j = Encoding.UTF8.GetBytes(json);
        return [.. BitConverter.GetBytes((ulong)j.Length), .. j, .. new byte[dataBytes]];
    }

    [Theory]
    [InlineData("{\"w\":{\"dtype\":5,\"shape\":[2],\"data_offsets\":[0,8]}}", "dtype")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":\"2\",\"data_offsets\":[0,8]}}", "shape")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", "shape entry 0")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", "shape entry 0")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", "shape entry 0")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,\"8\"]}}", "data offset \"8\"")]   // was InvalidOperationException
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8.5]}}", "data offset 8.5")]     // was FormatException
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":{\"a\":1}}}", "data_offsets")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,8]}}", "data_offsets")]
    [InlineData("{\"w\":[1,2]}", "not an object")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", "twice")]
    [InlineData("{\"__metadata__\":[1],\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", "__metadata__")]
    [InlineData("{\"__metadata__\":{\"a\":1},\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", "'a'")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"v\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", "overlap")]
    [InlineData("[1,2]", "does not start with '{'")]
    public void SafetensorsHeaderTypesAreChecked(string json, string expected)
    {
        var path = Temp("h.safetensors");
        File.WriteAllBytes(path, SafetensorsBytes(json, 8));
        var e = Rejects(() => Safetensors.Load(path), 1 << 20, json);
        Assert.Contains(path, e.Message);
        Assert.Contains(expected, e.Message);
    }

    // ------------------------------------------------------------------ MAT structure

    [Fact]
    public void MatTruncatedOrMalformedElementsAreErrors()
    {
        var src = Temp("two.mat");
        MatFile.Save(src, new Dictionary<string, Tensor> { ["a"] = Tensor.FromArray(new double[] { 1, 2 }), ["b"] = Tensor.FromArray(new float[] { 3 }) }, compress: false);
        var bytes = File.ReadAllBytes(src);
        int firstEnd = 128 + 8 + BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(128 + 4));
        var path = Temp("cut.mat");
        // 1-7 bytes of the second variable's tag after the first whole variable: 'b' used to vanish without a word.
        for (int extra = 1; extra <= 7; extra++)
        {
            File.WriteAllBytes(path, bytes[..(firstEnd + extra)]);
            Assert.Contains("truncated", Rejects(() => MatFile.Load(path), 1 << 20, $"cut {extra} bytes past a boundary").Message);
        }
        // Cut inside the last variable's padding.
        File.WriteAllBytes(path, bytes[..^3]);
        Rejects(() => MatFile.Load(path), 1 << 20, "cut padding");
        // At a boundary the file is a valid file of one variable.
        File.WriteAllBytes(path, bytes[..firstEnd]);
        Assert.Equal(["a"], MatFile.Load(path).Keys);

        // An unknown top-level element type (was skipped).
        File.WriteAllBytes(path, [.. bytes, .. Tag(7, 8), .. new byte[8]]);
        Assert.Contains("data type 7", Rejects(() => MatFile.Load(path), 1 << 20, "unknown element").Message);
        // An invalid class code (was skipped as "class 99").
        var badClass = (byte[])bytes.Clone();
        badClass[128 + 8 + 8] = 99;   // the low byte of the first variable's array flags
        File.WriteAllBytes(path, badClass);
        Assert.Contains("class code 99", Rejects(() => MatFile.Load(path), 1 << 20, "class 99").Message);
        Assert.Throws<FileFormatException>(() => MatFile.List(path));
    }

    // ------------------------------------------------------------------ a writer killed midway

    /// <summary>Child process: starts writing <paramref name="path"/> atomically, writes 4 MB, says so, and waits to
    /// be killed.</summary>
    public static int WriteAndHang(string path)
    {
        AtomicFile.Write(path, s =>
        {
            s.Write(new byte[4 << 20]);
            s.Flush();
            Console.WriteLine("writing");
            Console.Out.Flush();
            Thread.Sleep(Timeout.Infinite);
        });
        return 0;
    }

    [Fact]
    public void KilledWriterLeavesNothingAfterTheNextWrite()
    {
        var path = Temp("model.safetensors");
        var dir = Path.GetDirectoryName(path)!;
        string Pattern() => "." + Path.GetFileName(path) + ".*.tmp";
        for (int kill = 0; kill < 2; kill++)
        {
            var psi = new ProcessStartInfo("dotnet", [typeof(HostileFileTests).Assembly.Location, "atomic-write-hang", path]) { RedirectStandardOutput = true };
            using var p = Process.Start(psi)!;
            Assert.Equal("writing", p.StandardOutput.ReadLine());
            // While the writer lives, its temporary is locked: another writer's clean-up leaves it alone.
            Assert.Equal(0, AtomicFile.RemoveStaleTemporaries(path));
            p.Kill();
            p.WaitForExit();
        }
        // The second writer removed the first one's leftover when it started; its own is left.
        Assert.Single(Directory.GetFiles(dir, Pattern()));
        Assert.False(File.Exists(path));
        Safetensors.Save(path, new Dictionary<string, Tensor> { ["w"] = Tensor.Ones(3) });
        Assert.Empty(Directory.GetFiles(dir, Pattern()));
        Assert.Equal(new float[] { 1, 1, 1 }, Safetensors.Load(path)["w"].ToArray<float>());

        // A leftover found at load time goes too.
        File.WriteAllBytes(Path.Combine(dir, "." + Path.GetFileName(path) + ".deadbeef.tmp"), new byte[100]);
        Safetensors.Load(path);
        Assert.Empty(Directory.GetFiles(dir, Pattern()));
    }
}
