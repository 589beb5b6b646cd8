using System.CommandLine;
using System.Globalization;
using Ember.Cli.Infrastructure;
using Ember.IO;
using Ember.Recipes.Tabular;

namespace Ember.Cli.Commands;

/// <summary><c>ember tabular explain CHECKPOINT DATA.csv --row N</c>.</summary>
internal static class TabularExplainCommand
{
    public static Command Create()
    {
        var checkpoint = new Argument<string>("CHECKPOINT") { Description = "model.safetensors written by 'ember tabular train'" };
        var data = new Argument<string>("DATA.csv") { Description = "the table holding the row" };
        var row = new Option<int>("--row")
        {
            Description = "the row to explain, 0-based after the header (required)",
            HelpName = "N",
            Required = true,
            CustomParser = r =>
            {
                string v = r.Tokens.Count > 0 ? r.Tokens[^1].Value : "";
                if (int.TryParse(v, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int x) && x >= 0) return x;
                r.AddError($"--row expects a row number >= 0, got '{v}'");
                return 0;
            },
        };
        var steps = Opt.Int("--steps", 32, "integrated-gradient steps", min: 1, max: 10_000);
        var importanceRows = Opt.Int("--importance-rows", 400, "rows sampled for permutation importance (0 skips it)");
        var seed = Opt.Int("--seed", 1, "random seed of the sample and the shuffles");
        var shapBackground = Opt.Int("--shap-background", 20, "background rows for the SHAP values of the row's columns (0 skips them)", min: 0, max: 1000);
        var shapSamples = Opt.Int("--shap-samples", 512, "coalitions KernelSHAP evaluates when there are more than 10 columns", min: 16, max: 100_000);
        var outDir = Opt.Text("--out", Path.Combine("runs", "explain"), "output folder", "FOLDER");
        var command = new Command("explain",
            "For one row: the prediction, the text tokens that pushed it (integrated gradients from the zero embedding, with the " +
            "completeness check), and, when DATA.csv holds the target, the permutation importance of every column over a random " +
            "sample of rows, and the SHAP value of each column for this row (columns missing from a coalition filled from random " +
            "background rows; exact up to 10 columns, KernelSHAP above). Writes tokens.png, shap_waterfall.png and, for " +
            "cross-attention hybrids, fusion_attention.png to --out.")
        {
            checkpoint, data, row, steps, importanceRows, seed, shapBackground, shapSamples, outDir,
        };
        command.SetAction(p =>
        {
            var ui = new Terminal(quiet: false);
            string dataPath = p.GetValue(data)!, dir = p.GetValue(outDir)!;
            int index = p.GetValue(row), n = p.GetValue(steps), sample = p.GetValue(importanceRows);
            ulong seedValue = (ulong)p.GetValue(seed);
            var (model, prep) = Checkpoints.LoadTabular(p.GetValue(checkpoint)!);
            if (!File.Exists(dataPath)) throw new UsageException($"{dataPath}: no such file");
            var table = CsvTable.Read(dataPath);
            if (index >= table.Rows.Count) throw new UsageException($"tabular explain: --row {index} is outside the {table.Rows.Count} rows of {dataPath}");
            var pred = TabularTraining.Predict(model, prep.Transform(table, [index])).ToArrayDouble();
            ui.Line(prep.Classification
                ? $"row {index}: predicted '{prep.Encoder.Classes[Array.IndexOf(pred, pred.Max())]}' (" + string.Join(", ", prep.Encoder.Classes.Select((c, i) => $"{c} {pred[i]:F3}")) + ")"
                : $"row {index}: predicted {pred[0]:G6}");
            Directory.CreateDirectory(dir);
            if (model.Config.UsesText)
            {
                var (tokens, target, delta, sum) = TabularExplain.IntegratedGradients(model, prep, table, index, n);
                ui.Line($"integrated gradients toward {(prep.Classification ? $"'{prep.Encoder.Classes[target]}'" : "the value")} ({n} steps): " +
                    $"attributions sum to {sum:F4}, output − baseline output = {delta:F4}");
                ui.Table(["token", "attribution"], tokens.OrderByDescending(t => Math.Abs(t.Attribution)).Take(12)
                    .Select(t => (IReadOnlyList<string>)[t.Token.Replace("\n", "\\n"), t.Attribution.ToString("F4", CultureInfo.InvariantCulture)]));
                var png = Path.Combine(dir, "tokens.png");
                Plots.TokenAttributions(tokens.Select(t => t.Token).ToArray(), tokens.Select(t => t.Attribution).ToArray(), png, $"Integrated gradients, row {index}");
                ui.Line($"saved {png}");
                if (model.Config.Kind == TabularModelKind.Hybrid && model.Config.Fusion == FusionKind.Cross)
                {
                    model.KeepFusionAttention = true;
                    TabularTraining.Predict(model, prep.Transform(table, [index]));
                    model.KeepFusionAttention = false;
                    var map = model.FusionAttention!.Select(0, 0).Mean(0).Narrow(1, 0, tokens.Length);   // (structured tokens, text tokens)
                    var fusionPng = Path.Combine(dir, "fusion_attention.png");
                    var rowLabels = Enumerable.Range(0, map.Size(0)).Select(i => $"f{i}").ToArray();
                    Plots.Attention(map, rowLabels, tokens.Select(t => t.Token.Trim()).ToArray(), fusionPng, "Fusion cross-attention (mean over heads)",
                        "text token", "structured feature token");
                    ui.Line($"saved {fusionPng}");
                }
            }
            int nBackground = p.GetValue(shapBackground);
            if (nBackground > 0)
            {
                int target = prep.Classification ? Array.IndexOf(pred, pred.Max()) : 0;
                var others = Enumerable.Range(0, table.Rows.Count).Where(i => i != index).ToArray();
                var perm = Tensor.RandPerm(others.Length, new Generator(seedValue + 1)).ToArray<long>();
                var background = perm.Take(Math.Min(nBackground, others.Length)).Select(i => others[(int)i]).Order().ToArray();
                var (columns, shap) = ui.Status("SHAP values", () =>
                    TabularExplain.ColumnShap(model, prep, table, index, background, target, p.GetValue(shapSamples), seedValue));
                string what = prep.Classification ? $"P('{prep.Encoder.Classes[target]}')" : "the prediction";
                ui.Table(["column", "SHAP value"], columns.Zip(shap.Values).OrderByDescending(c => Math.Abs(c.Second))
                    .Select(c => (IReadOnlyList<string>)[c.First, c.Second.ToString("F4", CultureInfo.InvariantCulture)]),
                    title: $"SHAP values of {what} for row {index} ({(columns.Length <= 10 ? "exact" : "KernelSHAP")}, {background.Length} background rows): " +
                        $"base {shap.BaseValue:F4} + {shap.Values.Sum():F4} = {shap.Output:F4}");
                var waterfall = Path.Combine(dir, "shap_waterfall.png");
                Plots.ShapWaterfall(columns, shap.Values, shap.BaseValue, waterfall, $"SHAP values of {what}, row {index}");
                ui.Line($"saved {waterfall}");
            }
            if (table.Columns.Contains(prep.Encoder.Target) && sample > 0)
            {
                // A seeded sample of rows: the importance is a mean over rows, and its cost grows with them (each column
                // shuffled three times, each time the rows re-encoded and predicted).
                var rows = table.Rows.Count <= sample ? Enumerable.Range(0, table.Rows.Count).ToArray()
                    : Tensor.RandPerm(table.Rows.Count, new Generator(seedValue)).ToArray<long>()[..sample].Select(i => (int)i).Order().ToArray();
                var importance = ui.Status("permutation importance", () => TabularExplain.PermutationImportance(model, prep, table, rows, seed: seedValue));
                ui.Table(["column", prep.Classification ? "drop of ROC AUC" : "rise of RMSE"],
                    importance.Select(c => (IReadOnlyList<string>)[c.Item1, c.Item2.ToString("F4", CultureInfo.InvariantCulture)]),
                    title: $"permutation importance over {rows.Length} of {table.Rows.Count} rows{(rows.Length < table.Rows.Count ? " (a random sample, --importance-rows)" : "")}, 3 shuffles each");
            }
            return 0;
        });
        return command;
    }
}
