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

    [Fact]
    public async Task ServesATabularHybridReadingItsTextColumn()
    {
        var dir = Directory.CreateTempSubdirectory("ember-serve-tabular").FullName;
        var csv = Path.Combine(dir, "data.csv");
        File.WriteAllText(csv, Ember.Tests.Training.TabularTests.SyntheticCsv(160, 7));
        var (code, _, err) = Ember.Tests.Cli.CliTests.Run("tabular", "train", csv, "--target", "label", "--cv", "2", "--epochs", "2", "--d-model", "16",
            "--layers", "1", "--fusion", "gated", "--out", dir, "--quiet");
        Assert.True(code == 0, err);
        var model = Path.Combine(dir, "model.safetensors");
        // The reference: the CLI's batch predictions for the first rows of the CSV (the label column dropped).
        var table = Ember.IO.CsvTable.Read(csv);
        int label = table.ColumnIndex("label");
        var columns = table.Columns.Where((_, k) => k != label).ToArray();
        var rows = table.Rows.Take(6).Select(r => r.Where((_, k) => k != label).ToArray()).ToArray();
        var unlabeled = Path.Combine(dir, "rows.csv");
        File.WriteAllLines(unlabeled, [string.Join(',', columns), .. rows.Select(r => string.Join(',', r.Select(v => v.Contains(' ') ? $"\"{v}\"" : v)))]);
        var (pcode, _, perr) = Ember.Tests.Cli.CliTests.Run("tabular", "predict", model, unlabeled, "--out", Path.Combine(dir, "p.csv"));
        Assert.True(pcode == 0, perr);
        var expected = File.ReadAllLines(Path.Combine(dir, "p.csv"));
        var classes = expected[0].Split(',').Skip(2).Select(c => c["p_".Length..]).ToArray();

        var cli = Path.Combine(AppContext.BaseDirectory, "Ember.Cli.dll");
        using var process = Process.Start(new ProcessStartInfo("dotnet", $"exec \"{cli}\" serve \"{model}\" --port 0")
        {
            RedirectStandardOutput = true, RedirectStandardError = true,
        })!;
        try
        {
            var first = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
            if (first is null) Assert.Fail(await process.StandardError.ReadToEndAsync());
            using var client = new HttpClient { BaseAddress = new Uri(first!.Split(" at ")[^1].Trim()) };
            var schema = (await client.GetFromJsonAsync<JsonObject>("/v1/model"))!;
            Assert.StartsWith("tabular-", schema["kind"]!.GetValue<string>());
            Assert.Equal(columns, schema["columns"]!.AsArray().Select(c => c!.GetValue<string>()));
            Assert.Equal(classes, schema["labels"]!.AsArray().Select(c => c!.GetValue<string>()));
            // Rows by column name, each cell as the CSV's text (the note column is free text): the served probabilities
            // equal the batch predictions, in one request and one row at a time.
            string Row(string[] r) => new JsonObject(columns.Select((c, k) => KeyValuePair.Create(c, (JsonNode?)r[k]))).ToJsonString();
            async Task<JsonArray> Predict(IEnumerable<string[]> some)
            {
                var r = await client.PostAsync("/v1/predict", new StringContent($"{{\"instances\": [{string.Join(",", some.Select(Row))}]}}", Encoding.UTF8, "application/json"));
                var body = await r.Content.ReadAsStringAsync();
                Assert.True(r.StatusCode == HttpStatusCode.OK, body);
                return JsonNode.Parse(body)!["predictions"]!.AsArray();
            }
            var together = await Predict(rows);
            for (int i = 0; i < rows.Length; i++)
            {
                var want = expected[i + 1].Split(',');
                foreach (var prediction in new[] { together[i]!, (await Predict([rows[i]]))[0]! })
                {
                    Assert.Equal(want[1], prediction["label"]!.GetValue<string>());
                    var p = prediction["probabilities"]!.AsArray().Select(v => v!.GetValue<double>()).ToArray();
                    for (int k = 0; k < classes.Length; k++)
                    {
                        double w = double.Parse(want[2 + k], System.Globalization.CultureInfo.InvariantCulture);
                        Assert.True(Math.Abs(p[k] - w) <= 2e-6 + 1e-5 * w, $"row {i}, {classes[k]}: served {p[k]}, tabular predict {w}");
                    }
                }
            }
            // A value of the wrong kind names the column; a missing column is named.
            var bad = await client.PostAsync("/v1/predict", new StringContent("{\"instances\": [{\"amount\": 1, \"region\": \"A\"}]}", Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
            Assert.Contains("lacks the column", await bad.Content.ReadAsStringAsync());
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
    }
}
