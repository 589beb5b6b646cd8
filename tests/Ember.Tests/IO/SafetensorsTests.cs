using System.Text;
using Ember;
using Ember.IO;
using Xunit;

namespace Ember.Tests.IO;

public class SafetensorsTests
{
    [Fact]
    public void RoundTripKeepsEveryDtypeShapeAndValue()
    {
        var dir = Directory.CreateTempSubdirectory("ember-st");
        var path = Path.Combine(dir.FullName, "m.safetensors");
        var tensors = new Dictionary<string, Tensor>
        {
            ["w"] = Tensor.Randn([3, 4], DType.Float32, new Generator(1)).T,   // non-contiguous on purpose
            ["d"] = Tensor.FromArray(new double[] { Math.PI, -0.0, double.MaxValue }),
            ["i"] = Tensor.FromArray(new long[] { long.MinValue, 0, 7 }, 3, 1),
            ["b"] = Tensor.FromArray(new[] { true, false }),
            ["s"] = Tensor.Scalar(2.5),
            ["e"] = Tensor.Zeros([0, 3]),
        };
        Safetensors.Save(path, tensors, new Dictionary<string, string> { ["arch"] = "test" });
        var back = Safetensors.Load(path, out var meta);
        Assert.Equal("test", meta["arch"]);
        Assert.Equal(tensors.Keys.Order(), back.Keys.Order());
        foreach (var (k, t) in tensors)
        {
            Assert.Equal(t.Shape, back[k].Shape);
            Assert.Equal(t.DType, back[k].DType);
            Assert.Equal(t.ToArrayDouble(), back[k].ToArrayDouble());
        }
        Assert.Empty(Directory.GetFiles(dir.FullName, "*.tmp"));
    }

    [Fact]
    public void ReadsAFileBuiltFromTheSpecification()
    {
        // Built by hand from the format description: u64 little-endian header size, JSON header, raw data.
        // Two tensors: "a" F32 [2] = {1.0, -2.0} at bytes 0..8, "b" I64 [1] = {258} at 8..16, plus BF16 and F16.
        string json = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[8,16]}," +
                      "\"h\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[16,18]},\"z\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[18,20]}," +
                      "\"__metadata__\":{\"format\":\"pt\"}}";
        var header = Encoding.UTF8.GetBytes(json);
        var bytes = new List<byte>();
        bytes.AddRange(BitConverter.GetBytes((ulong)header.Length));
        bytes.AddRange(header);
        bytes.AddRange([0x00, 0x00, 0x80, 0x3F]);                   // 1.0f
        bytes.AddRange([0x00, 0x00, 0x00, 0xC0]);                   // -2.0f
        bytes.AddRange([0x02, 0x01, 0, 0, 0, 0, 0, 0]);             // 258
        bytes.AddRange([0x00, 0x3C]);                               // F16 1.0
        bytes.AddRange([0xC0, 0x3F]);                               // BF16 1.5 (0x3FC0)
        var t = Safetensors.Parse(bytes.ToArray(), "handmade", out var meta);
        Assert.Equal("pt", meta["format"]);
        Assert.Equal(new float[] { 1, -2 }, t["a"].ToArray<float>());
        Assert.Equal(new long[] { 258 }, t["b"].ToArray<long>());
        Assert.Equal(new float[] { 1 }, t["h"].ToArray<float>());
        Assert.Equal(new float[] { 1.5f }, t["z"].ToArray<float>());
    }

    [Fact]
    public void CorruptFilesGiveClearErrors()
    {
        static byte[] File(string json, int data)
        {
            var h = Encoding.UTF8.GetBytes(json);
            return BitConverter.GetBytes((ulong)h.Length).Concat(h).Concat(new byte[data]).ToArray();
        }
        var e1 = Assert.Throws<FileFormatException>(() => Safetensors.Parse(File("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8), "f", out _));
        Assert.Contains("needs 12", e1.Message);
        var e2 = Assert.Throws<FileFormatException>(() => Safetensors.Parse(File("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4), "f", out _));
        Assert.Contains("outside", e2.Message);
        var e3 = Assert.Throws<FileFormatException>(() => Safetensors.Parse(File("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8), "f", out _));
        Assert.Contains("hole", e3.Message);
        var e4 = Assert.Throws<FileFormatException>(() => Safetensors.Parse(File("{not json", 0), "f", out _));
        Assert.Contains("JSON", e4.Message);
        Assert.Throws<FileFormatException>(() => Safetensors.Parse([1, 2, 3], "f", out _));
        Assert.Throws<FileFormatException>(() => Safetensors.Parse(File("{\"a\":{\"dtype\":\"Q9\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1), "f", out _));
    }

    [Fact]
    public void FailedSaveLeavesNoPartialFile()
    {
        var dir = Directory.CreateTempSubdirectory("ember-st");
        var path = Path.Combine(dir.FullName, "m.safetensors");
        Safetensors.Save(path, new Dictionary<string, Tensor> { ["a"] = Tensor.Ones(2) });
        var original = File.ReadAllBytes(path);
        // A tensor whose dtype has no safetensors name is only discovered mid-header: the save must fail cleanly.
        Assert.ThrowsAny<Exception>(() => Safetensors.Save(path, new Dictionary<string, Tensor> { ["a"] = Tensor.Ones(3), ["z"] = null! }));
        Assert.Equal(original, File.ReadAllBytes(path));
        Assert.Single(Directory.GetFiles(dir.FullName));
    }
}
