using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Ember;
using Ember.IO;
using Xunit;
using NComplex = System.Numerics.Complex;

namespace Ember.Tests.IO;

/// <summary>MAT-files and NumPy files written by SciPy/NumPy (Fixtures/gen_io_fixtures.py), a MAT-file built byte by
/// byte from MathWorks' format document, and round trips through Ember's writers.</summary>
public class MatFileTests
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "io", name);

    private static readonly Lazy<JsonElement> s_expected = new(() => JsonDocument.Parse(File.ReadAllText(Fixture("expected.json"))).RootElement);

    private static void AssertMatches(string name, Tensor t)
    {
        var e = s_expected.Value.GetProperty(name);
        var shape = e.GetProperty("shape").EnumerateArray().Select(x => x.GetInt32()).ToArray();
        var re = e.GetProperty("re").EnumerateArray().Select(x => x.GetDouble()).ToArray();
        // scipy keeps 1-D arrays as 1×n rows and n×1 stays n×1: compare against MATLAB's ≥2-D shape.
        if (shape.Length == 1) shape = [1, shape[0]];
        Assert.Equal(shape, t.Shape);
        if (e.TryGetProperty("im", out var imEl))
        {
            Assert.True(t.IsComplex, $"{name} should be complex");
            var im = imEl.EnumerateArray().Select(x => x.GetDouble()).ToArray();
            var z = t.ToComplexArray();
            for (int i = 0; i < z.Length; i++) Assert.Equal(new NComplex(re[i], im[i]), z[i]);
        }
        else Assert.Equal(re, t.To(t.DType == DType.Bool ? DType.Float64 : t.DType == DType.Int64 ? DType.Float64 : DType.Float64).ToArrayDouble());
    }

    [Theory]
    [InlineData("scipy_v6.mat")]
    [InlineData("scipy_v7.mat")]
    public void ReadsScipyFilesCompressedOrNot(string file)
    {
        var path = Fixture(file);
        var infos = MatFile.List(path);
        Assert.Equal(["A", "Fs", "H", "S", "big", "cells", "label", "mask", "n", "v"], infos.Select(v => v.Name).OrderBy(x => x, StringComparer.Ordinal));
        var h = infos.Single(v => v.Name == "H");
        Assert.Equal(("double", true), (h.Class, h.IsComplex));
        Assert.Equal(new[] { 3, 4, 2 }, h.Dims);
        Assert.False(infos.Single(v => v.Name == "cells").IsSupported);
        Assert.Equal("char", infos.Single(v => v.Name == "label").Class);

        var vars = MatFile.Load(path);
        Assert.Equal(["A", "Fs", "H", "S", "big", "mask", "n", "v"], vars.Keys.OrderBy(x => x, StringComparer.Ordinal));
        Assert.Equal(DType.Complex128, vars["H"].DType);
        Assert.Equal(DType.Complex64, vars["Fs"].DType);
        Assert.Equal(DType.Float32, vars["S"].DType);
        Assert.Equal(DType.Int64, vars["n"].DType);
        Assert.Equal(DType.Bool, vars["mask"].DType);
        foreach (var name in new[] { "H", "Fs", "A", "S", "v", "n", "mask", "big" }) AssertMatches(name, vars[name]);
        // Element (i, j, k) of the MATLAB array is [i, j, k]: H(2, 3, 1) in MATLAB's 1-based terms is
        // grid[1, 2, 0] + 0.5j·grid[3 − 1 − 1, 2, 0] = 21 + 10.5j.
        Assert.Equal(new NComplex(21, 10.5), vars["H"].Select(0, 1).Select(0, 2).Select(0, 0).ToComplexArray()[0]);

        var e = Assert.Throws<NotSupportedException>(() => MatFile.Load(path, "cells"));
        Assert.Contains("cell", e.Message);
        var k = Assert.Throws<KeyNotFoundException>(() => MatFile.Load(path, "Wopt"));
        Assert.Contains("H: 3x4x2 complex double", k.Message);
    }

    [Fact]
    public void RoundTripsEveryDTypeAndRank()
    {
        var dir = Directory.CreateTempSubdirectory("ember-mat").FullName;
        var vars = new Dictionary<string, Tensor>
        {
            ["H"] = Tensor.Randn([36, 144, 3], DType.Complex128, new Generator(1)),
            ["F"] = Tensor.Randn([144, 2, 3], DType.Complex64, new Generator(2)),
            ["x"] = Tensor.Randn([2, 3, 4, 5], DType.Float64, new Generator(3)),
            ["y"] = Tensor.Randn([7], DType.Float32, new Generator(4)),
            ["s"] = Tensor.Scalar(2.5, DType.Float64),
            ["k"] = Tensor.FromArray(new long[] { 1, -2, 3, 4 }, 2, 2),
            ["m"] = Tensor.FromArray(new[] { true, false, true }),
            ["z"] = Tensor.Zeros([100, 100], DType.Float64),   // compresses; the random ones are stored raw
        };
        foreach (bool compress in new[] { false, true })
        {
            var path = Path.Combine(dir, $"rt{compress}.mat");
            MatFile.Save(path, vars, compress);
            var back = MatFile.Load(path);
            foreach (var (name, t) in vars)
            {
                var expected = t.Dim switch { 0 => t.Reshape(1, 1), 1 => t.Unsqueeze(0), _ => t };
                Assert.Equal(expected.Shape, back[name].Shape);
                Assert.Equal(t.DType, back[name].DType);
                Assert.Equal(TestFlat(expected), TestFlat(back[name]));
            }
        }
        Assert.True(new FileInfo(Path.Combine(dir, "rtTrue.mat")).Length < new FileInfo(Path.Combine(dir, "rtFalse.mat")).Length - 70_000);
        Assert.Empty(Directory.GetFiles(dir, "*.tmp"));
        Assert.Throws<ArgumentException>(() => MatFile.Save(Path.Combine(dir, "bad.mat"), new Dictionary<string, Tensor> { ["1x"] = Tensor.Ones(2) }));
        Assert.False(File.Exists(Path.Combine(dir, "bad.mat")));
    }

    private static double[] TestFlat(Tensor t) => t.IsComplex
        ? t.ToComplexArray().SelectMany(z => new[] { z.Real, z.Imaginary }).ToArray()
        : t.ToArrayDouble();

    /// <summary>A file as MATLAB writes it, built from the format document: big-endian ("MI"), a double array whose data
    /// MATLAB stored as miUINT8 (lossless type compression), a small-element name and an int16 imaginary part.</summary>
    [Fact]
    public void ReadsHandBuiltBigEndianFileWithTypeCompressedData()
    {
        var file = new List<byte>();
        var header = Encoding.ASCII.GetBytes("MATLAB 5.0 MAT-file, written by hand".PadRight(116));
        file.AddRange(header);
        file.AddRange(new byte[8]);
        file.AddRange(new byte[] { 0x01, 0x00, (byte)'M', (byte)'I' });   // version 0x0100 big-endian, then "MI"
        var body = new List<byte>();
        void U32(List<byte> b, uint v) { var x = new byte[4]; BinaryPrimitives.WriteUInt32BigEndian(x, v); b.AddRange(x); }
        void Pad(List<byte> b) { while (b.Count % 8 != 0) b.Add(0); }
        U32(body, 6); U32(body, 8); U32(body, 0x0800 | 6); U32(body, 0);            // flags: complex double
        U32(body, 5); U32(body, 8); U32(body, 2); U32(body, 3);                     // dims 2x3
        U32(body, (1u << 16) | 1); body.AddRange("Z"u8.ToArray()); body.AddRange(new byte[3]);   // small element name "Z"
        U32(body, 2); U32(body, 6); body.AddRange(new byte[] { 1, 2, 3, 4, 5, 6 }); Pad(body);  // real part as miUINT8
        U32(body, 3); U32(body, 12);                                                // imaginary part as miINT16
        foreach (short v in new short[] { -1, 0, 1, 2, 3, -300 }) { var x = new byte[2]; BinaryPrimitives.WriteInt16BigEndian(x, v); body.AddRange(x); }
        Pad(body);
        U32(file, 14); U32(file, (uint)body.Count);
        file.AddRange(body);
        var path = Path.Combine(Directory.CreateTempSubdirectory("ember-mat").FullName, "hand.mat");
        File.WriteAllBytes(path, file.ToArray());
        var z = MatFile.Load(path, "Z");
        Assert.Equal(new[] { 2, 3 }, z.Shape);
        // Column-major data 1..6 → [[1, 3, 5], [2, 4, 6]].
        Assert.Equal(new NComplex[] { new(1, -1), new(3, 1), new(5, 3), new(2, 0), new(4, 2), new(6, -300) }, z.ToComplexArray());
    }

    [Fact]
    public void V73AndDamagedFilesGetClearErrors()
    {
        var dir = Directory.CreateTempSubdirectory("ember-mat").FullName;
        var v73 = new byte[1024];
        Encoding.ASCII.GetBytes("MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 .".PadRight(116)).CopyTo(v73, 0);
        v73[124] = 0x00; v73[125] = 0x02; v73[126] = (byte)'I'; v73[127] = (byte)'M';
        new byte[] { 0x89, (byte)'H', (byte)'D', (byte)'F', 0x0d, 0x0a, 0x1a, 0x0a }.CopyTo(v73, 512);
        File.WriteAllBytes(Path.Combine(dir, "v73.mat"), v73);
        var e = Assert.Throws<FileFormatException>(() => MatFile.Load(Path.Combine(dir, "v73.mat")));
        Assert.Contains("v7.3", e.Message);
        Assert.Contains("-v7", e.Message);

        var good = File.ReadAllBytes(Fixture("scipy_v6.mat"));
        File.WriteAllBytes(Path.Combine(dir, "cut.mat"), good[..(good.Length / 2)]);
        var d = Assert.Throws<FileFormatException>(() => MatFile.Load(Path.Combine(dir, "cut.mat")));
        Assert.Contains("truncated", d.Message);
        File.WriteAllBytes(Path.Combine(dir, "short.mat"), new byte[10]);
        Assert.Throws<FileFormatException>(() => MatFile.Load(Path.Combine(dir, "short.mat")));
    }

    [Fact]
    public void ReadsNumpyFilesAndRoundTripsNpz()
    {
        AssertMatches2D("H", Npy.Load(Fixture("complex_fortran.npy")));
        var be = Npy.Load(Fixture("big_endian.npy"));
        Assert.Equal(new double[] { 0, 10, 1, 11, 2, 12 }, be.ToArrayDouble());
        Assert.Equal(new[] { 3, 2 }, be.Shape);
        var i32 = Npy.Load(Fixture("int32.npy"));
        Assert.Equal(DType.Int64, i32.DType);
        Assert.Equal(new long[] { 0, 10, 20, 1, 11, 21 }, i32.ToArray<long>());
        var npz = Npy.LoadNpz(Fixture("arrays.npz"));
        Assert.Equal(["A", "H", "mask"], npz.Keys.OrderBy(x => x, StringComparer.Ordinal));
        AssertMatches2D("H", npz["H"]);
        Assert.Equal(new[] { true, false, false, true }, npz["mask"].ToArray<bool>());

        var dir = Directory.CreateTempSubdirectory("ember-npy").FullName;
        var arrays = new Dictionary<string, Tensor>
        {
            ["z"] = Tensor.Randn([3, 5], DType.Complex64, new Generator(1)),
            ["w"] = Tensor.Randn([2, 2, 2], DType.Complex128, new Generator(2)),
            ["f"] = Tensor.Randn([4], DType.Float32, new Generator(3)),
            ["s"] = Tensor.Scalar(3, DType.Float64),
        };
        Npy.SaveNpz(Path.Combine(dir, "a.npz"), arrays);
        var back = Npy.LoadNpz(Path.Combine(dir, "a.npz"));
        foreach (var (k, t) in arrays)
        {
            Assert.Equal(t.Shape, back[k].Shape);
            Assert.Equal(t.DType, back[k].DType);
            Assert.Equal(TestFlat(t), TestFlat(back[k]));
        }
        Npy.Save(Path.Combine(dir, "x.npy"), arrays["w"].Permute(2, 0, 1));
        Assert.Equal(TestFlat(arrays["w"].Permute(2, 0, 1)), TestFlat(Npy.Load(Path.Combine(dir, "x.npy"))));
        File.WriteAllBytes(Path.Combine(dir, "bad.npy"), Encoding.ASCII.GetBytes("not numpy"));
        Assert.Contains("magic", Assert.Throws<FileFormatException>(() => Npy.Load(Path.Combine(dir, "bad.npy"))).Message);
    }

    private static void AssertMatches2D(string name, Tensor t)
    {
        var e = s_expected.Value.GetProperty(name);
        Assert.Equal(e.GetProperty("shape").EnumerateArray().Select(x => x.GetInt32()).ToArray(), t.Shape);
        var re = e.GetProperty("re").EnumerateArray().Select(x => x.GetDouble()).ToArray();
        var im = e.GetProperty("im").EnumerateArray().Select(x => x.GetDouble()).ToArray();
        var z = t.ToComplexArray();
        for (int i = 0; i < z.Length; i++) Assert.Equal(new NComplex(re[i], im[i]), z[i]);
    }
}
