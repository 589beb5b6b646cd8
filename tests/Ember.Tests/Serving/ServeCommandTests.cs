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
            StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");
            var r = await client.PostAsync("/v1/predict", Json("{\"instances\": [[0.9, 0.1], [0.1, 0.9]]}"));
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            var predictions = (await r.Content.ReadFromJsonAsync<JsonObject>())!["predictions"]!.AsArray();
            Assert.Equal(2, predictions.Count);
            // Rows by column name go through the checkpoint's own preprocessing (standardization): the same answer as the
            // encoded arrays the CLI's predict writes for the same rows.
            Assert.Equal(["a", "b"], schema["columns"]!.AsArray().Select(c => c!.GetValue<string>()));
            var byName = await client.PostAsync("/v1/predict", Json("{\"instances\": [{\"a\": 0.95, \"b\": \"0.05\"}, {\"a\": 0.02, \"b\": 0.97}]}"));
            Assert.Equal(HttpStatusCode.OK, byName.StatusCode);
            var labels = (await byName.Content.ReadFromJsonAsync<JsonObject>())!["predictions"]!.AsArray().Select(p => p!["label"]!.GetValue<string>()).ToArray();
            var rows = Path.Combine(dir, "rows.csv");
            File.WriteAllLines(rows, ["a,b", "0.95,0.05", "0.02,0.97"]);
            var (pcode, _, perr) = Ember.Tests.Cli.CliTests.Run("predict", Path.Combine(dir, "best.safetensors"), "--data", rows, "--out", Path.Combine(dir, "p.csv"));
            Assert.True(pcode == 0, perr);
            var fromCli = File.ReadAllLines(Path.Combine(dir, "p.csv")).Skip(1).Select(l => l.Split(',')[1]).ToArray();
            Assert.Equal(fromCli, labels);
            foreach (var (body, needle) in new[]
            {
                ("{\"instances\": [{\"a\": 0.5}]}", "lacks the column \"b\""),
                ("{\"instances\": [{\"a\": 0.5, \"b\": 0.5, \"c\": 1}]}", "unknown column \"c\""),
                ("{\"instances\": [{\"a\": \"high\", \"b\": 0.5}]}", "high"),
                ("{\"instances\": [{\"a\": [1], \"b\": 0.5}]}", "instances[0].a"),
            })
            {
                var bad = await client.PostAsync("/v1/predict", Json(body));
                Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
                Assert.Contains(needle, JsonNode.Parse(await bad.Content.ReadAsStringAsync())!["error"]!.GetValue<string>());
            }
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
