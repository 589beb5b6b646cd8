using System.Text;
using Ember.Data;
using Ember.Diagnostics;
using Ember.IO;
using Ember.NN;
using Ember.Optim;
using Ember.Training;
using Xunit;

namespace Ember.Tests.Diagnostics;

/// <summary>TensorBoard event files: CRC-32C against RFC 3720's test vectors, TFRecord framing against the bytes every
/// TensorFlow event file begins with, and each summary kind read back by <see cref="EventFileReader"/> (written from
/// the formats' definitions, decoding with Google.Protobuf).</summary>
public class TensorBoardTests
{
    private static string TempDir(string name) => Directory.CreateTempSubdirectory("ember-tb-" + name).FullName;

    [Fact]
    public void Crc32CMatchesRfc3720Vectors()
    {
        // RFC 3720 appendix B.4 (iSCSI CRC32C examples) and the usual check value of "123456789".
        var zeros = new byte[32];
        var ones = Enumerable.Repeat((byte)0xFF, 32).ToArray();
        var up = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();
        var down = Enumerable.Range(0, 32).Select(i => (byte)(31 - i)).ToArray();
        foreach (Func<byte[], uint> crc in new Func<byte[], uint>[] { b => Crc32C.Compute(b), b => Crc32C.ComputeReference(b) })
        {
            Assert.Equal(0x8A9136AAu, crc(zeros));
            Assert.Equal(0x62A8AB43u, crc(ones));
            Assert.Equal(0x46DD794Eu, crc(up));
            Assert.Equal(0x113FDB5Cu, crc(down));
            Assert.Equal(0xE3069283u, crc(Encoding.ASCII.GetBytes("123456789")));
            Assert.Equal(0u, crc([]));
        }
        // The instruction path (SSE4.2 / ARMv8 where present) equals the table at every length and alignment.
        var rng = new Random(5);
        for (int n = 0; n < 200; n++)
        {
            var b = new byte[n + 3];
            rng.NextBytes(b);
            for (int off = 0; off < 3; off++)
                Assert.Equal(Crc32C.ComputeReference(b.AsSpan(off, n)), Crc32C.Compute(b.AsSpan(off, n)));
        }
    }

    [Fact]
    public void EventFileBeginsAsEveryTensorFlowEventFileDoes()
    {
        string dir = TempDir("head");
        using (var w = new SummaryWriter(dir)) { }
        var file = Assert.Single(Directory.GetFiles(dir));
        Assert.Matches(@"events\.out\.tfevents\.\d{10}\.[A-Za-z0-9_-]+\.\d+\.\d+$", Path.GetFileName(file));
        var bytes = File.ReadAllBytes(file);
        // A 24-byte first record (wall_time, file_version "brain.Event:2") and its length's masked CRC: the 12 bytes
        // 18 00 00 00 00 00 00 00 a3 7f 4b 22 that start the event files TensorFlow and PyTorch write.
        Assert.Equal(new byte[] { 0x18, 0, 0, 0, 0, 0, 0, 0, 0xa3, 0x7f, 0x4b, 0x22 }, bytes[..12]);
        var ev = Assert.Single(EventFileReader.Read(file));
        Assert.Equal("brain.Event:2", ev.FileVersion);
        Assert.InRange(ev.WallTime, DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 60, DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 1);
    }

    [Fact]
    public void ScalarsHistogramsImagesAndTextReadBack()
    {
        string dir = TempDir("kinds");
        string path;
        using (var w = new SummaryWriter(dir))
        {
            path = w.FilePath;
            w.AddScalar("train/loss", 0.0, 0);                 // zero is written (a oneof member has presence)
            w.AddScalar("train/loss", 2.5, 7, wallTime: 1234.5);
            w.AddHistogram("h", Tensor.FromArray(new float[] { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 }), 3, bins: 5);
            w.AddHistogram("edges", Tensor.FromArray(new double[] { 0, 1, 2 }), 4, bins: 2);
            w.AddHistogram("constant", Tensor.Full([3], 4f), 5, bins: 3);
            var img = Tensor.FromArray(new float[] { 0, 1, 0.5f, 0.25f, 1, 0, 0, 1, 0, 0.5f, 0.75f, 1 }, [3, 2, 2]);
            w.AddImage("img", img, 6);
            w.AddText("notes", "**bold** ünïcode", 8);
            w.AddText("notes", "second", 9);
        }
        var events = EventFileReader.Read(path);
        Assert.Equal("brain.Event:2", events[0].FileVersion);
        var values = events.Skip(1).Select(e => (e.Step, e.WallTime, V: Assert.Single(e.Values))).ToList();

        Assert.Equal(("train/loss", 0L, 0f), (values[0].V.Tag, values[0].Step, values[0].V.Simple!.Value));
        Assert.Equal((7L, 1234.5, 2.5f), (values[1].Step, values[1].WallTime, values[1].V.Simple!.Value));

        var h = values[2].V.Histo!;
        Assert.Equal((0.0, 9.0, 10.0, 45.0, 285.0), (h.Min, h.Max, h.Num, h.Sum, h.SumSquares));
        Assert.Equal(new[] { 1.8, 3.6, 5.4, 7.2, 9.0 }, h.Limits.Select(x => Math.Round(x, 12)));
        Assert.Equal(new double[] { 2, 2, 2, 2, 2 }, h.Counts);
        // Buckets are (limit[i-1], limit[i]]: a value on a limit counts in the bucket below it.
        var e2 = values[3].V.Histo!;
        Assert.Equal(new[] { 1.0, 2.0 }, e2.Limits);
        Assert.Equal(new double[] { 2, 1 }, e2.Counts);
        var c = values[4].V.Histo!;
        Assert.Equal(3, c.Counts.Sum());
        Assert.Equal((4.0, 4.0), (c.Min, c.Max));

        var im = values[5].V.Image!;
        Assert.Equal((2, 2, 3), (im.Height, im.Width, im.Colorspace));
        var back = Png.Decode(im.Png);
        Assert.Equal(new long[] { 3, 2, 2 }, back.Shape.Select(x => (long)x));

        Assert.Equal("text", values[6].V.PluginName);
        Assert.Equal(7, values[6].V.TensorDType);          // DT_STRING
        Assert.Equal(new[] { "**bold** ünïcode" }, values[6].V.TensorStrings);
        Assert.Null(values[7].V.PluginName);                // metadata only with a tag's first value
        Assert.Equal(new[] { "second" }, values[7].V.TensorStrings);
    }

    [Fact]
    public void HparamsAreWrittenAsThePluginReadsThem()
    {
        string dir = TempDir("hp");
        string path;
        using (var w = new SummaryWriter(dir))
        {
            path = w.FilePath;
            w.AddHparams(new Dictionary<string, object> { ["lr"] = 0.01, ["layers"] = 3, ["optimizer"] = "AdamW", ["bias"] = true },
                new Dictionary<string, double> { ["hparam/accuracy"] = 0.9 });
        }
        var values = EventFileReader.Read(path).Skip(1).Select(e => Assert.Single(e.Values)).ToList();
        Assert.Equal(new[] { "_hparams_/experiment", "_hparams_/session_start_info", "_hparams_/session_end_info", "hparam/accuracy" },
            values.Select(v => v.Tag));
        Assert.All(values.Take(3), v => Assert.Equal("hparams", v.PluginName));
        var exp = EventFileReader.ParseHparams(values[0].PluginContent!);
        Assert.Equal(2, exp.Kind);
        Assert.Equal(new Dictionary<string, int> { ["lr"] = 3, ["layers"] = 3, ["optimizer"] = 1, ["bias"] = 2 }, exp.Types);
        Assert.Equal(new[] { "hparam/accuracy" }, exp.MetricTags);
        var start = EventFileReader.ParseHparams(values[1].PluginContent!);
        Assert.Equal(3, start.Kind);
        Assert.Equal(0.01, start.Values["lr"]);
        Assert.Equal(3.0, start.Values["layers"]);
        Assert.Equal("AdamW", start.Values["optimizer"]);
        Assert.Equal(true, start.Values["bias"]);
        var end = EventFileReader.ParseHparams(values[2].PluginContent!);
        Assert.Equal((4, 1), (end.Kind, end.Status!.Value));   // STATUS_SUCCESS
        Assert.Equal(0.9f, values[3].Simple);
    }

    [Fact]
    public void BadInputIsRefusedByName()
    {
        string dir = TempDir("bad");
        using var w = new SummaryWriter(dir);
        var ex = Assert.Throws<ArgumentException>(() => w.AddHistogram("fc.weight", Tensor.FromArray(new[] { 1f, float.NaN, float.PositiveInfinity }), 0));
        Assert.Contains("fc.weight", ex.Message);
        Assert.Contains("2 of 3", ex.Message);
        Assert.Contains("'when'", Assert.Throws<ArgumentException>(() =>
            w.AddHparams(new Dictionary<string, object> { ["when"] = DateTime.Now }, new Dictionary<string, double>())).Message);
        Assert.Contains("img", Assert.Throws<ArgumentException>(() => w.AddImage("img", Tensor.Full([2, 2], 3f), 0)).Message);
        Assert.Throws<ArgumentException>(() => w.AddScalar(" ", 1, 0));
        w.Dispose();
        Assert.Throws<ObjectDisposedException>(() => w.AddScalar("x", 1, 0));
        // The rejected calls wrote nothing: the file is the header record alone.
        Assert.Single(EventFileReader.Records(w.FilePath));
    }

    [Fact]
    public void GridAndHeatmapLayOutPixels()
    {
        var imgs = Tensor.Arange(2 * 1 * 2 * 2, DType.Float32).Reshape(2, 1, 2, 2) / 8f;
        var grid = Images.Grid(imgs, columns: 2, padding: 1);
        Assert.Equal(new[] { 1, 4, 7 }, grid.Shape.ToArray());
        var g = grid.ToArray<float>();
        // Row 1, column 1 is image 0's (0, 0); column 4 is image 1's (0, 0); padding is 0.
        Assert.Equal(0f, g[0 * 7 + 1]);
        Assert.Equal(4f / 8, g[1 * 7 + 4]);
        Assert.Equal(3f / 8, g[2 * 7 + 2]);
        Assert.Equal(7f / 8, g[2 * 7 + 5]);
        Assert.Equal(0f, g[1 * 7 + 3]);
        var heat = Images.Heatmap(Tensor.FromArray(new float[] { 0, 1 }, [1, 2]), cell: 2);
        Assert.Equal(new[] { 3, 2, 4 }, heat.Shape.ToArray());
        var hv = heat.ToArray<float>();
        // Low end viridis dark purple (0.267, 0.005, 0.329), high end yellow (0.993, 0.906, 0.144).
        Assert.Equal(0.267f, hv[0], 3);
        Assert.Equal(0.993f, hv[3], 3);
        Assert.Equal(0.144f, hv[2 * 8 + 3], 3);
        Assert.Throws<ArgumentException>(() => Images.Heatmap(Tensor.FromArray(new[] { float.NaN }, [1, 1])));
    }

    [Fact]
    public void TrainerLogsStepsEpochsHistogramsConfusionAndHparams()
    {
        var g = new Generator(11);
        var x = Tensor.Randn([96, 4], DType.Float32, g);
        var y = x.Select(1, 0).Gt(0).To(DType.Int64);
        var loader = new DataLoader(new TensorDataset(x, y), 16, shuffle: true, seed: 3);
        var model = new Sequential(new Linear(4, 8, generator: g), new ReLU(), new Linear(8, 2, generator: g));
        var trainer = new Trainer(model, new SGD(model.Parameters(), 0.1), (o, t) => Functional.CrossEntropy(o, t));
        string dir = TempDir("trainer");
        string path;
        using (var tb = new SummaryWriter(dir))
        {
            path = tb.FilePath;
            trainer.Fit(loader, loader, new TrainerOptions
            {
                Epochs = 2, Progress = false, TensorBoard = tb, TensorBoardEvery = 4,
                Metadata = new Dictionary<string, string> { ["hidden"] = "8", ["kind"] = "mlp" },
            });
        }
        var events = EventFileReader.Read(path).Skip(1).ToList();
        var byTag = events.SelectMany(e => e.Values.Select(v => (e.Step, V: v))).GroupBy(p => p.V.Tag).ToDictionary(g => g.Key, g => g.ToList());
        // 6 steps per epoch: the loss at steps 4, 6 (epoch end), 8, 12.
        Assert.Equal(new long[] { 4, 6, 8, 12 }, byTag["train/loss"].Select(p => p.Step));
        Assert.Equal(new long[] { 6, 12 }, byTag["epoch/val_accuracy"].Select(p => p.Step));
        Assert.Equal(trainer.History.Select(h => (float)h.ValAccuracy!.Value), byTag["epoch/val_accuracy"].Select(p => p.V.Simple!.Value));
        Assert.Equal(trainer.History.Select(h => (float)h.TrainLoss), byTag["epoch/train_loss"].Select(p => p.V.Simple!.Value));
        Assert.Equal(0.1f, byTag["train/learning_rate"][0].V.Simple);
        // Histograms of each parameter and its gradient, counting every element.
        Assert.Equal(32.0, byTag["weights/0.weight"][0].V.Histo!.Num);
        Assert.Equal(32.0, byTag["gradients/0.weight"][1].V.Histo!.Num);
        Assert.Equal(2, byTag["val/confusion_matrix"].Count);
        Assert.Equal(3, byTag["val/confusion_matrix"][0].V.Image!.Colorspace);
        Assert.Contains("true\\pred", byTag["val/confusion_matrix/counts"][0].V.TensorStrings[0]);
        var start = EventFileReader.ParseHparams(byTag["_hparams_/session_start_info"][0].V.PluginContent!);
        Assert.Equal(8.0, start.Values["hidden"]);
        Assert.Equal("mlp", start.Values["kind"]);
        Assert.Equal("SGD", start.Values["optimizer"]);
        Assert.Equal((float)trainer.History.Max(h => h.ValAccuracy!.Value), byTag["hparam/best_val_accuracy"][0].V.Simple);
    }
}
