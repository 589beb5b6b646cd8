using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Xunit;

namespace Ember.Tests.Serving;

/// <summary>`ember serve` as a process: it serves a checkpoint `ember train` wrote, answers like the model, and exits 0
/// on SIGTERM after finishing.</summary>
[Collection("console")]
public class ServeCommandTests
{
    [Fact]
    public async Task ServesATrainedCheckpointAndStopsOnSigterm()
    {
        if (!OperatingSystem.IsLinux()) return;   // SIGTERM through kill(1)
        var dir = Directory.CreateTempSubdirectory("ember-serve").FullName;
        var csv = Path.Combine(dir, "d.csv");
        var rng = new Random(3);
        var lines = new List<string> { "a,b,label" };
        for (int i = 0; i < 120; i++) { double a = rng.NextDouble(), b = rng.NextDouble(); lines.Add($"{a:F4},{b:F4},{(a > b ? "up" : "down")}"); }
        File.WriteAllLines(csv, lines);
        var (code, _, err) = Ember.Tests.Cli.CliTests.Run("train", "--data", csv, "--target", "label", "--hidden", "8", "--epochs", "2", "--out", dir, "--quiet");
        Assert.True(code == 0, err);
        var cli = Path.Combine(AppContext.BaseDirectory, "Ember.Cli.dll");
        var psi = new ProcessStartInfo("dotnet", $"exec \"{cli}\" serve \"{Path.Combine(dir, "best.safetensors")}\" --port 0")
        {
            RedirectStandardOutput = true, RedirectStandardError = true,
        };
        using var process = Process.Start(psi)!;
        try
        {
            var first = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
            Assert.NotNull(first);
            var address = first!.Split(" at ")[^1].Trim();
            using var client = new HttpClient { BaseAddress = new Uri(address) };
            var schema = (await client.GetFromJsonAsync<JsonObject>("/v1/model"))!;
            Assert.Equal("classification", schema["task"]!.GetValue<string>());
            Assert.Contains(schema["labels"]!.AsArray().Select(l => l!.GetValue<string>()), l => l is "up" or "down");
            var r = await client.PostAsync("/v1/predict", new StringContent("{\"instances\": [[0.9, 0.1], [0.1, 0.9]]}", Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            var predictions = (await r.Content.ReadFromJsonAsync<JsonObject>())!["predictions"]!.AsArray();
            Assert.Equal(2, predictions.Count);
            using (var kill = Process.Start("kill", $"-TERM {process.Id}")) await kill.WaitForExitAsync();
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(0, process.ExitCode);
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
    }
}
