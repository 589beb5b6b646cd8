using Ember;
using Ember.Data;
using Ember.IO;
using Xunit;
using Ember.Recipes;
using Ember.Recipes.Tabular;

namespace Ember.Tests.IO;

public class CsvTests
{
    [Fact]
    public void ParsesQuotingEscapesAndNewlines()
    {
        var text = "name,size,note\r\n\"Smith, J\",3,\"said \"\"hi\"\"\"\nplain,4.5,\"two\nlines\"\n\nlast,,x";
        var t = CsvTable.Parse(new StringReader(text), "inline");
        Assert.Equal(["name", "size", "note"], t.Columns);
        Assert.Equal(3, t.Rows.Count);
        Assert.Equal(["Smith, J", "3", "said \"hi\""], t.Rows[0]);
        Assert.Equal("two\nlines", t.Rows[1][2]);
        Assert.Equal(["last", "", "x"], t.Rows[2]);
        Assert.Equal([2, 3, 6], t.RowLines);
    }

    [Fact]
    public void BadRowsAreReportedWithLineNumbers()
    {
        var e = Assert.Throws<FileFormatException>(() => CsvTable.Parse(new StringReader("a,b\n1,2\n3\n4,5,6\n7,8"), "f.csv"));
        Assert.Contains("line 3: 1 fields", e.Message);
        Assert.Contains("line 4: 3 fields", e.Message);
        var q = Assert.Throws<FileFormatException>(() => CsvTable.Parse(new StringReader("a\n\"open"), "f.csv"));
        Assert.Contains("line 2", q.Message);
        Assert.Throws<FileFormatException>(() => CsvTable.Parse(new StringReader("a,a\n1,2"), "f.csv"));
    }

    [Fact]
    public void EncoderStandardizesOneHotsAndRoundTrips()
    {
        var text = "x,color,y\n1,red,yes\n3,blue,no\nNA,red,yes\n5,green,no\n";
        var t = CsvTable.Parse(new StringReader(text), "inline");
        var enc = TabularEncoder.Fit(t, "y", [0, 1, 2]);   // fitted on the first three rows only
        Assert.Equal(ColumnKind.Numeric, enc.Features[0].Kind);
        Assert.True(enc.Features[0].HasMissing);
        Assert.Equal(2.0, enc.Features[0].Mean);
        Assert.Equal(["blue", "red"], enc.Features[1].Vocabulary);
        Assert.Equal(["no", "yes"], enc.Classes);
        Assert.Equal(2 + 3, enc.Width);                      // value + missing flag, blue/red/unknown
        var (x, y) = enc.Transform(t, [0, 1, 2, 3]);
        double s = Math.Sqrt(2);                             // std of {1, 3}
        TorchReference.Close([-1 / s, 0, 0, 1, 0, 1 / s, 0, 1, 0, 0, 0, 1, 0, 1, 0, 3 / s, 0, 0, 0, 1], x.ToArrayDouble(), 1e-6, "encoded");
        Assert.Equal(new long[] { 1, 0, 1, 0 }, y!.ToArray<long>());
        var back = TabularEncoder.FromJson(enc.ToJson(), "json");
        Assert.Equal(x.ToArray<float>(), back.Transform(t, [0, 1, 2, 3]).X.ToArray<float>());
        var bad = CsvTable.Parse(new StringReader("x,color,y\nabc,red,yes\n"), "bad");
        var e = Assert.Throws<InvalidDataException>(() => enc.Transform(bad, [0]));
        Assert.Contains("line 2", e.Message);
    }

    [Fact]
    public void ReadsTheRealFineFoodsFile()
    {
        var path = Path.Combine(Ember.Tests.Data.DataTests.RepoData("mnist-10k"), "..", "..", "..", "shared", "data", "fine-foods", "train.csv.gz");
        if (!File.Exists(path)) return;   // ../shared is present in this environment and in CI; users may not have it
        var t = CsvTable.Read(path);
        Assert.Equal(["product", "review", "score"], t.Columns);
        Assert.Equal(4000, t.Rows.Count);
        Assert.All(t.Rows, r => Assert.Contains(r[2], new[] { "great", "other" }));
    }
}
