using System.Globalization;
using Xunit;
using static Ember.Tests.Cli.CliTests;

namespace Ember.Tests.Cli;

/// <summary><c>ember tune</c>: outputs, resumption of the study file, worker processes sharing it, bad input.</summary>
[Collection("console")]
public class TuneCommandTests
{
    private static string[] Rows(string dir) => File.ReadAllLines(Path.Combine(dir, "trials.csv")).Skip(1).ToArray();

    [Fact]
    public void TuneWritesItsReportAndResumesTheStudy()
    {
        var dir = Directory.CreateTempSubdirectory("ember-tune-cli").FullName;
        var (code, output, err) = Run("tune", "--objective", "hartmann6", "--trials", "15", "--out", dir, "--quiet");
        Assert.True(code == 0, err);
        Assert.Matches(@"best_value=-\d\.\d+", output.TrimEnd().Split('\n')[^1]);
        Assert.Equal(15, Rows(dir).Length);
        foreach (var png in new[] { "history.png", "importance.png" })
            Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, File.ReadAllBytes(Path.Combine(dir, png))[..4]);
        // The same command with a larger budget goes on from the 15 trials in the study file.
        (code, _, err) = Run("tune", "--objective", "hartmann6", "--trials", "25", "--out", dir);
        Assert.Equal(0, code);
        Assert.Contains("resuming study 'default'", err);
        var rows = Rows(dir);
        Assert.Equal(25, rows.Length);
        Assert.Equal(Enumerable.Range(0, 25).Select(i => i.ToString(CultureInfo.InvariantCulture)), rows.Select(r => r.Split(',')[0]));
    }

    [Fact]
    public void WorkersShareOneStudyOnATabularObjective()
    {
        var dir = Directory.CreateTempSubdirectory("ember-tune-workers").FullName;
        var csv = Path.Combine(dir, "t.csv");
        var rng = new Random(2);
        File.WriteAllLines(csv, new[] { "a,b,color,y" }.Concat(Enumerable.Range(0, 400).Select(_ =>
        {
            double a = rng.NextDouble(), b = rng.NextDouble();
            string c = rng.Next(3) switch { 0 => "red", 1 => "green", _ => "blue" };
            return FormattableString.Invariant($"{a:F4},{b:F4},{c},{3 * a - 2 * b + (c == "red" ? 1 : 0) + 0.1 * rng.NextDouble():F4}");
        })));
        var (code, output, err) = Run("tune", "--data", csv, "--target", "y", "--epochs", "4", "--trials", "10", "--workers", "2", "--pruner", "none", "--out", dir);
        Assert.True(code == 0, err);
        Assert.Contains("2 workers on", err);
        Assert.Contains("validation RMSE, minimized", err);
        var rows = Rows(dir);
        Assert.Equal(10, rows.Count(r => r.Split(',')[1] == "complete"));
        Assert.Equal(rows.Length, rows.Select(r => r.Split(',')[0]).Distinct().Count());
        Assert.Matches(@"best_params: dropout=\S+ lr=\S+ weight_decay=\S+ width=\d+", output);
        // Both processes ran trials of the study.
        using var db = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(dir, "study.db")};Pooling=False");
        db.Open();
        using var cmd = db.CreateCommand();
        cmd.CommandText = "SELECT COUNT(DISTINCT pid) FROM trials WHERE state = 'Complete'";
        Assert.Equal(2L, (long)cmd.ExecuteScalar()!);
    }

    [Fact]
    public void MissingTabularSettingsAreUsageErrors()
    {
        var (code, _, err) = Run("tune", "--trials", "3", "--out", Directory.CreateTempSubdirectory("ember-tune-bad").FullName);
        Assert.Equal(2, code);
        Assert.Contains("needs --data", err);
    }
}
