using System.Globalization;
using System.Text;
using System.Text.Json;
using Ember.Serving;
using Xunit;

namespace Ember.Tests.Serving;

/// <summary>The predict hot path's reader against System.Text.Json: every number it reads is bit-for-bit the float32
/// of the runtime's JSON double, over numbers written every way JSON allows; every body that is not exactly the common
/// form is left to the general reader (null), never misread.</summary>
public class FastInstancesTests
{
    private static float[] Reference(string json) =>
        JsonDocument.Parse(json).RootElement.GetProperty("instances").EnumerateArray()
            .SelectMany(instance => instance.EnumerateArray().Select(v => (float)v.GetDouble())).ToArray();

    [Fact]
    public void NumbersEqualTheRuntimesJsonParserBitForBit()
    {
        var rng = new Random(12);
        var formats = new Func<double, string>[]
        {
            v => v.ToString("R", CultureInfo.InvariantCulture), v => v.ToString("G9", CultureInfo.InvariantCulture),
            v => v.ToString("F3", CultureInfo.InvariantCulture), v => v.ToString("E5", CultureInfo.InvariantCulture),
            v => v.ToString("e17", CultureInfo.InvariantCulture), v => ((float)v).ToString("R", CultureInfo.InvariantCulture),
            v => v.ToString("F20", CultureInfo.InvariantCulture), v => Math.Round(v * 1e6).ToString("F0", CultureInfo.InvariantCulture),
        };
        for (int trial = 0; trial < 400; trial++)
        {
            const int size = 50;
            var numbers = new string[size];
            for (int j = 0; j < size; j++)
            {
                double scale = Math.Pow(10, rng.Next(-30, 30));
                double v = (rng.NextDouble() - 0.5) * scale;
                numbers[j] = rng.Next(20) switch
                {
                    0 => "0", 1 => "-0", 2 => "0.0", 3 => "1e22", 4 => "123456789012345678901234567890", 5 => "0.000000000000000000000000000001",
                    6 => "3.4028234663852886e38", 7 => "1E-45", 8 => "9007199254740993", 9 => "0.1e1",
                    _ => formats[rng.Next(formats.Length)](v).Replace("E+", rng.Next(2) == 0 ? "E+" : "E"),
                };
            }
            string space = trial % 3 == 0 ? " \n\t" : trial % 3 == 1 ? "" : " ";
            var json = $"{space}{{{space}\"instances\"{space}:{space}[{space}[{space}{string.Join($"{space},{space}", numbers)}{space}]{space},[{string.Join(",", numbers.Reverse())}]]{space}}}{space}";
            var want = Reference(json);
            var got = FastInstances.TryRead(Encoding.UTF8.GetBytes(json), size, 10);
            Assert.NotNull(got);
            var flat = got!.SelectMany(r => r).ToArray();
            for (int j = 0; j < want.Length; j++)
                Assert.True(BitConverter.SingleToInt32Bits(want[j]) == BitConverter.SingleToInt32Bits(flat[j]),
                    $"{(j < size ? numbers[j] : numbers[2 * size - 1 - j])}: System.Text.Json {want[j]:R}, fast reader {flat[j]:R}");
        }
    }

    [Theory]
    [InlineData("{\"instances\": [[1, 2]]")]                          // unterminated
    [InlineData("{\"instances\": [[1, 2]]} x")]                       // trailing text
    [InlineData("{\"instances\": [[1, 2],]}")]                        // trailing comma
    [InlineData("{\"instances\": [[01, 2]]}")]                        // leading zero
    [InlineData("{\"instances\": [[1., 2]]}")]
    [InlineData("{\"instances\": [[.5, 2]]}")]
    [InlineData("{\"instances\": [[+1, 2]]}")]
    [InlineData("{\"instances\": [[NaN, 2]]}")]
    [InlineData("{\"instances\": [[1e400, 2]]}")]                     // not a finite float32
    [InlineData("{\"instances\": [[1e39, 2]]}")]
    [InlineData("{\"instances\": [[\"1\", 2]]}")]
    [InlineData("{\"instances\": [[1, 2, 3]]}")]                      // the wrong count: the general reader names it
    [InlineData("{\"instances\": [[1]]}")]
    [InlineData("{\"instances\": [[[1], [2]]]}")]                     // nested: the general reader flattens it
    [InlineData("{\"instances\": [{\"png\": \"\"}]}")]
    [InlineData("{\"instances\": []}")]
    [InlineData("{\"instances\": [[1, 2]], \"extra\": 1}")]
    [InlineData("{\"other\": [[1, 2]]}")]
    [InlineData("\uFEFF{\"instances\": [[1, 2]]}")]
    [InlineData("{\"instances\": [[1, 2], [3, 4], [5, 6]]}")]          // more instances than allowed (2)
    public void AnythingElseIsLeftToTheGeneralReader(string json) =>
        Assert.Null(FastInstances.TryRead(Encoding.UTF8.GetBytes(json), 2, 2));

    [Fact]
    public void TheCommonFormIsRead()
    {
        var got = FastInstances.TryRead("{\"instances\":[[1,-2.5e-1],[3E2,0]]}"u8, 2, 2)!;
        Assert.Equal([1f, -0.25f], got[0]);
        Assert.Equal([300f, 0f], got[1]);
    }
}
