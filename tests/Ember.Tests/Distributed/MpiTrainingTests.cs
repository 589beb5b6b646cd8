using System.Diagnostics;
using Ember.IO;
using Xunit;

namespace Ember.Tests.Distributed;

/// <summary>Data-parallel training under Open MPI's mpirun, against one process: the same weights after training on
/// the same global batches (uneven shards included), and a rank that dies ends the job with a clear error instead of
/// a hang. Without mpirun the tests are skipped, unless <c>EMBER_REQUIRE_MPI=1</c> (set by <c>.ci/run</c>, which
/// installs openmpi-bin).</summary>
[Collection("console")]
public class MpiTrainingTests
{
    private static string Mpirun()
    {
        var path = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, "mpirun")).FirstOrDefault(File.Exists);
        if (path is null)
        {
            const string why = "mpirun not found (Debian: apt-get install openmpi-bin)";
            if (Environment.GetEnvironmentVariable("EMBER_REQUIRE_MPI") == "1") Assert.Fail(why);
            Skip.If(true, why);
        }
        return path!;
    }

    private static string Csv(string dir)
    {
        var rng = new Random(4);
        var lines = new List<string> { "a,b,c,label" };
        for (int i = 0; i < 600; i++)
        {
            double a = rng.NextDouble() * 2 - 1, b = rng.NextDouble() * 2 - 1, c = rng.NextDouble() * 2 - 1;
            lines.Add(FormattableString.Invariant($"{a:F4},{b:F4},{c:F4},{(a + b * b - c > 0.2 ? "pos" : "neg")}"));
        }
        var path = Path.Combine(dir, "d.csv");
        File.WriteAllLines(path, lines);
        return path;
    }

    private static (int Code, string Out, string Err) Launch(string mpirun, int ranks, string[] args, Dictionary<string, string>? env = null, int timeoutSeconds = 120)
    {
        var cli = Path.Combine(AppContext.BaseDirectory, "Ember.Cli.dll");
        var psi = new ProcessStartInfo(mpirun) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-np", ranks.ToString(), "--oversubscribe", "--mca", "btl_vader_single_copy_mechanism", "none" }) psi.ArgumentList.Add(a);
        if (Environment.UserName == "root") psi.ArgumentList.Add("--allow-run-as-root");
        foreach (var (k, v) in env ?? []) { psi.ArgumentList.Add("-x"); psi.ArgumentList.Add($"{k}={v}"); }
        psi.ArgumentList.Add("dotnet");
        psi.ArgumentList.Add("exec");
        psi.ArgumentList.Add(cli);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeoutSeconds * 1000))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"mpirun -np {ranks} did not finish in {timeoutSeconds} s (a hang)\n{stderr.Result}");
        }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    private static Dictionary<string, float[]> Weights(string path) =>
        Safetensors.Load(path).Where(kv => kv.Key.StartsWith("model.")).ToDictionary(kv => kv.Key, kv => kv.Value.ToArray<float>());

    [SkippableFact]
    public void ThreeRanksTrainTheSameWeightsAsOneProcess()
    {
        string mpirun = Mpirun();
        var dir = Directory.CreateTempSubdirectory("ember-mpi").FullName;
        var csv = Csv(dir);
        // 480 training rows in batches of 35: 13 full batches (shards of 12, 12, 11) and one of 25 (9, 8, 8).
        string[] common = ["train", "--data", csv, "--target", "label", "--hidden", "32,16", "--dropout", "0", "--epochs", "3", "--batch-size", "35", "--quiet"];
        var (code1, out1, err1) = Ember.Tests.Cli.CliTests.Run([.. common, "--out", Path.Combine(dir, "one")]);
        Assert.True(code1 == 0, err1);
        var (code3, out3, err3) = Launch(mpirun, 3, [.. common, "--out", Path.Combine(dir, "three")]);
        Assert.True(code3 == 0, $"{out3}\n{err3}");
        Assert.Contains("data parallel: 3 ranks", err3);
        Assert.Matches(@"data parallel: 3 ranks, 42 steps, [\d.]+ ms per step waiting", out3);
        var one = Weights(Path.Combine(dir, "one", "last.safetensors"));
        var three = Weights(Path.Combine(dir, "three", "last.safetensors"));
        Assert.Equal(one.Keys.Order(), three.Keys.Order());
        foreach (var (name, w) in one)
        {
            double scale = w.Max(Math.Abs);
            double diff = w.Zip(three[name], (a, b) => Math.Abs(a - b)).Max();
            Assert.True(diff <= 1e-5 * scale, $"{name}: max difference {diff} (scale {scale})");
        }
        // The same validation accuracy line; rank 0 alone wrote the files.
        Assert.Equal(out1.TrimEnd().Split('\n')[^1], out3.TrimEnd().Split('\n')[^1]);
        Assert.Equal(4, File.ReadAllLines(Path.Combine(dir, "three", "metrics.csv")).Length);
    }

    [SkippableFact]
    public void ARankThatDiesEndsTheJobWithAClearError()
    {
        string mpirun = Mpirun();
        var dir = Directory.CreateTempSubdirectory("ember-mpi-fail").FullName;
        var csv = Csv(dir);
        var sw = Stopwatch.StartNew();
        var (code, _, err) = Launch(mpirun, 2, ["train", "--data", csv, "--target", "label", "--epochs", "50", "--batch-size", "8", "--quiet", "--out", Path.Combine(dir, "out")],
            new() { ["EMBER_TEST_EXIT_RANK"] = "1", ["EMBER_TEST_EXIT_STEP"] = "5" }, timeoutSeconds: 90);
        Assert.NotEqual(0, code);
        Assert.Contains("rank 1: injected failure at step 5", err);
        Assert.Matches("(?i)(exited|non-zero|abort)", err);   // mpirun's own report of the rank that left
        Assert.True(sw.Elapsed.TotalSeconds < 60, $"took {sw.Elapsed.TotalSeconds:F0} s");
    }

    [SkippableFact]
    public void ARankWithABadArgumentAbortsTheOthers()
    {
        string mpirun = Mpirun();
        var (code, _, err) = Launch(mpirun, 2, ["train", "--data", "/nonexistent/d.csv", "--target", "label"], timeoutSeconds: 60);
        Assert.NotEqual(0, code);
        Assert.Contains("ember: --data '/nonexistent/d.csv': no such file or folder", err);
    }
}
