using Ember.IO;
using Xunit;

namespace Ember.Tests.Cli;

/// <summary>The `ember` command's contracts, run in-process: exit codes, the last lines, the files it writes.</summary>
[Collection("console")]
public class CliTests
{
    /// <summary>Runs the `ember` command in-process with captured output (shared by the command tests).</summary>
    internal static (int Code, string Out, string Err) Run(params string[] args)
    {
        var (o, e) = (Console.Out, Console.Error);
        var so = new StringWriter();
        var se = new StringWriter();
        Console.SetOut(so);
        Console.SetError(se);
        try { return (Ember.Cli.Program.Main(args), so.ToString(), se.ToString()); }
        finally { Console.SetOut(o); Console.SetError(e); }
    }

    [Fact]
    public void GptMilestoneSavesAModelThatGenerateSamplesAndPlots()
    {
        var dir = Directory.CreateTempSubdirectory("ember-gpt").FullName;
        var text = Path.Combine(dir, "verses.txt");
        File.WriteAllText(text, string.Concat(Enumerable.Range(0, 300).Select(i => $"Ge1:{i} In the beginning God created the heaven and the earth.\n")));
        var tbDir = Path.Combine(dir, "tb");
        var (code, output, _) = Run("milestone", "gpt", "--data", text, "--steps", "20", "--out", dir, "--quiet", "--tensorboard", tbDir);
        Assert.Equal(1, code);   // 20 steps cannot reach the 1000-step reference loss: the gate reports FAIL
        Assert.Contains("milestone gpt: FAIL val_loss_margin=", output);
        var tags = Ember.Tests.Diagnostics.EventFileReader.Read(Assert.Single(Directory.GetFiles(tbDir)))
            .SelectMany(e => e.Values.Select(v => (e.Step, v.Tag))).ToList();
        Assert.Equal(new long[] { 10, 20 }, tags.Where(t => t.Tag == "train/loss").Select(t => t.Step));
        Assert.Contains((20L, "train/tokens_per_second"), tags);
        Assert.Contains((20L, "attention/layer0"), tags);
        Assert.Contains((20L, "sample"), tags);
        Assert.Contains((20L, "val/loss"), tags);
        Assert.Contains((20L, "weights/wte.weight"), tags);
        Assert.Contains("sample:", output);
        var model = Path.Combine(dir, "model.safetensors");
        var png = Path.Combine(dir, "attention.png");
        var (gcode, gout, gerr) = Run("generate", model, "--prompt", "In the", "--tokens", "12", "--seed", "3", "--attention-png", png);
        Assert.Equal(0, gcode);
        Assert.StartsWith("In the", gout);
        Assert.Equal("In the".Length + 12, gout.TrimEnd('\n').Length);
        Assert.Contains("tokens/s", gerr);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, File.ReadAllBytes(png)[..4]);
        var (bad, _, berr) = Run("generate", model, "--prompt", "Zebra");   // 'Z' is not in the verses' alphabet
        Assert.Equal(2, bad);
        Assert.Contains("not in the", berr);
    }

    [Fact]
    public void QuickstartWritesModelMetricsAndPlotAndEndsWithAccuracy()
    {
        var dir = Directory.CreateTempSubdirectory("ember-qs").FullName;
        var data = Ember.Tests.Data.DataTests.RepoData("mnist-10k");
        var tbDir = Path.Combine(dir, "tb");
        var (code, output, _) = Run("quickstart", "--data", data, "--out", dir, "--epochs", "2", "--quiet", "--tensorboard", tbDir);
        Assert.Equal(0, code);
        var last = output.TrimEnd().Split('\n')[^1];
        // TensorBoard: the first batch's digits as a 28×28 grid (8 columns of 4 rows, 2 px padding), both epochs' metrics.
        var values = Ember.Tests.Diagnostics.EventFileReader.Read(Assert.Single(Directory.GetFiles(tbDir))).SelectMany(e => e.Values).ToList();
        var grid = values.Single(v => v.Tag == "inputs/train").Image!;
        Assert.Equal((4 * 30 + 2, 8 * 30 + 2, 1), (grid.Height, grid.Width, grid.Colorspace));
        Assert.Equal(2, values.Count(v => v.Tag == "epoch/val_accuracy"));
        Assert.Equal(2, values.Count(v => v.Tag == "val/confusion_matrix"));
        Assert.Matches(@"^test_accuracy=0\.\d{4}$", last);
        Assert.True(double.Parse(last["test_accuracy=".Length..], System.Globalization.CultureInfo.InvariantCulture) > 0.9, last);
        var model = Safetensors.Load(Path.Combine(dir, "model.safetensors"), out var meta);
        Assert.Equal("mlp", meta["arch"]);
        Assert.Equal([1024, 784], model["net.1.weight"].Shape);
        Assert.Equal(3, File.ReadAllLines(Path.Combine(dir, "metrics.csv")).Length);   // header + 2 epochs
        var png = File.ReadAllBytes(Path.Combine(dir, "curves.png"));
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);
        Assert.True(png.Length > 10_000, "the plot has content");
    }

    [Fact]
    public void MilestonesExitZeroOnlyOnPass()
    {
        var (code, output, _) = Run("milestone", "perceptron");
        Assert.Equal(0, code);
        Assert.EndsWith("milestone perceptron: PASS accuracy=1.0000 gate=1.0000", output.TrimEnd());
        var (bad, _, err) = Run("milestone", "nosuch");
        Assert.Equal(2, bad);
        Assert.Contains("unknown milestone 'nosuch'", err);
    }

    [Fact]
    public void TrainEvaluatePredictRoundTripOnCsv()
    {
        var dir = Directory.CreateTempSubdirectory("ember-cli").FullName;
        var csv = Path.Combine(dir, "d.csv");
        var rng = new Random(1);
        var lines = new List<string> { "a,b,color,label" };
        for (int i = 0; i < 300; i++)
        {
            double a = rng.NextDouble() * 2 - 1, b = rng.NextDouble() * 2 - 1;
            string color = rng.Next(2) == 0 ? "red" : "\"dark, blue\"";
            lines.Add($"{a:F4},{b:F4},{color},{(a + b > 0 ? "pos" : "neg")}");
        }
        File.WriteAllLines(csv, lines);
        var (code, output, err) = Run("train", "--data", csv, "--target", "label", "--hidden", "16", "--epochs", "30", "--lr", "0.01", "--out", dir, "--quiet");
        Assert.True(code == 0, err);
        Assert.Matches(@"val_accuracy=0\.9\d{3}|val_accuracy=1\.0000", output);
        // Without --quiet and with stderr not a terminal: one plain line per epoch, no redrawn progress line.
        var (pcode, _, perr) = Run("train", "--data", csv, "--target", "label", "--hidden", "16", "--epochs", "2", "--out", Path.Combine(dir, "plain"));
        Assert.Equal(0, pcode);
        Assert.Matches(@"(?m)^epoch 1/2  train_loss \d\.\d{4}  train_acc", perr);
        Assert.Matches(@"(?m)^epoch 2/2 ", perr);
        Assert.DoesNotContain("\r", perr);
        var (ecode, eout, _) = Run("evaluate", Path.Combine(dir, "best.safetensors"), "--data", csv);
        Assert.Equal(0, ecode);
        Assert.Contains("pos", eout);                                     // class names in the confusion matrix
        var acc = double.Parse(eout.TrimEnd().Split('\n')[^1]["accuracy=".Length..], System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(acc > 0.9, eout);
        var pred = Path.Combine(dir, "p.csv");
        Assert.Equal(0, Run("predict", Path.Combine(dir, "best.safetensors"), "--data", csv, "--out", pred).Code);
        var p = File.ReadAllLines(pred);
        Assert.Equal(301, p.Length);
        Assert.Matches(@"^0,(pos|neg),[01]\.\d{4}$", p[1]);
    }

    [Fact]
    public void BadInputGivesOneClearLine()
    {
        foreach (var args in new[]
        {
            new[] { "train", "--data", "/no/such/folder" },
            new[] { "train", "--data", "x.csv" },
            new[] { "evaluate", "/no/such.safetensors", "--data", "x" },
            new[] { "train", "--data", Ember.Tests.Data.DataTests.RepoData("mnist-10k"), "--epocs", "3" },
            new[] { "frobnicate" },
        })
        {
            var (code, _, err) = Run(args);
            Assert.Equal(2, code);
            Assert.StartsWith("ember: ", err);
            Assert.Single(err.TrimEnd().Split('\n'));
        }
        Assert.Equal(0, Run("train", "--help").Code);
        Assert.Equal(0, Run("--help").Code);
    }
}
