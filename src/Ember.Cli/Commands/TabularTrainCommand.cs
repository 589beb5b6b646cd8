using System.CommandLine;
using System.Globalization;
using Ember.Cli.Infrastructure;
using Ember.IO;
using Ember.Recipes.Tabular;

namespace Ember.Cli.Commands;

/// <summary><c>ember tabular train DATA.csv --target COLUMN</c>.</summary>
internal static class TabularTrainCommand
{
    public static Command Create()
    {
        var data = new Argument<string>("DATA.csv") { Description = "the training table" };
        var target = Opt.Required("--target", "the column to predict", "COLUMN");
        var text = Opt.NameList("--text", "columns to read as text");
        var numeric = Opt.NameList("--numeric", "columns to read as numbers");
        var categorical = Opt.NameList("--categorical", "columns to read as categories");
        var date = Opt.NameList("--date", "columns to read as dates");
        var ignore = Opt.NameList("--ignore", "columns to leave out");
        var model = Opt.Choice("--model", "hybrid", "model", "hybrid", "mlp", "text", "ft-transformer");
        var fusion = Opt.Choice("--fusion", "concat", "how the hybrid fuses text and structured features", "concat", "cross", "gated");
        var wide = Opt.Flag("--wide", "add a linear TF-IDF part trained jointly (wide & deep)");
        var ablations = Opt.Flag("--ablations", "add every fusion type, the MLP alone, the text Transformer alone and the FT-Transformer");
        var cv = Opt.Int("--cv", 5, "cross-validation folds", min: 1, max: 100);
        var test = Opt.ExistingPath("--test", "a held-out test table with the same columns");
        var testFraction = Opt.Double("--test-fraction", 0.2, "rows held out for testing when there is no --test", 0, 0.9, exclusiveMax: true);
        var epochs = Opt.Int("--epochs", 15, "training epochs", min: 1);
        var batch = Opt.Int("--batch-size", 32, "minibatch size", min: 1);
        var lr = Opt.Double("--lr", 1e-3, "learning rate", 0, 10, exclusiveMin: true);
        var dropout = Opt.Double("--dropout", 0.1, "dropout", 0, 1, exclusiveMax: true);
        var dModel = Opt.Int("--d-model", 64, "Transformer width (a multiple of the 4 heads)", min: 4, max: 4096);
        var layers = Opt.Int("--layers", 2, "Transformer layers", min: 1, max: 64);
        var search = Opt.Int("--search", 0, "random-search trials before the comparison (0: none)");
        var seed = Opt.Int("--seed", 1, "random seed");
        var seeds = Opt.Int("--seeds", 1, "repeat the comparison with this many seeds on the same folds", min: 1, max: 100);
        var outDir = Opt.Text("--out", Path.Combine("runs", "tabular"), "output folder", "FOLDER");
        var quiet = Opt.Flag("--quiet", "no progress output");
        var tensorboard = Opt.TensorBoard();
        var command = new Command("train",
            "Column kinds are inferred (numeric, date, text: long mostly-distinct strings with spaces, categorical) and the options " +
            "override them. Every model and baseline (majority / mean, TF-IDF linear model, gradient boosting) is cross-validated " +
            "(early stopping on each validation fold); the table gives mean ± std across folds and the test score of each model's " +
            "best fold. Saves the best fold's model with its preprocessing to --out/model.safetensors, the table to --out/report.csv " +
            "and a bar chart of the cross-validated scores to --out/comparison.png.")
        {
            data, target, text, numeric, categorical, date, ignore, model, fusion, wide, ablations, cv, test, testFraction, epochs, batch,
            lr, dropout, dModel, layers, search, seed, seeds, outDir, quiet, tensorboard,
        };
        command.SetAction(p =>
        {
            var ui = new Terminal(p.GetValue(quiet));
            var overrides = new Dictionary<string, ColumnKind>();
            foreach (var (option, kind) in new[] { (numeric, ColumnKind.Numeric), (categorical, ColumnKind.Categorical), (text, ColumnKind.Text), (date, ColumnKind.Date) })
                foreach (var col in p.GetValue(option)!) overrides[col] = kind;
            string? testPath = p.GetValue(test);
            string targetName = p.GetValue(target)!, dataPath = p.GetValue(data)!;
            var options = new TabularCompareOptions
            {
                Target = targetName, Overrides = overrides, Ignore = p.GetValue(ignore)!,
                Kind = p.GetValue(model) switch
                {
                    "hybrid" => TabularModelKind.Hybrid, "mlp" => TabularModelKind.Mlp, "text" => TabularModelKind.Text, _ => TabularModelKind.FtTransformer,
                },
                Fusion = p.GetValue(fusion) switch { "concat" => FusionKind.Concat, "cross" => FusionKind.Cross, _ => FusionKind.Gated },
                Wide = p.GetValue(wide), Ablations = p.GetValue(ablations),
                Folds = p.GetValue(cv), TestFraction = testPath is null ? p.GetValue(testFraction) : 0,
                Dropout = p.GetValue(dropout), DModel = p.GetValue(dModel), Layers = p.GetValue(layers),
                Fit = new TabularFitOptions
                {
                    Epochs = p.GetValue(epochs), BatchSize = p.GetValue(batch), LearningRate = p.GetValue(lr), TensorBoardDir = p.GetValue(tensorboard),
                },
                Seed = (ulong)p.GetValue(seed),
            };
            if (options.DModel % 4 != 0) throw new UsageException($"--d-model {options.DModel}: must be a multiple of the 4 attention heads");
            if (!File.Exists(dataPath)) throw new UsageException($"{dataPath}: no such file");
            var table = CsvTable.Read(dataPath);
            table.ColumnIndex(targetName);
            var testTable = testPath is null ? null : CsvTable.Read(testPath);
            if (testTable is not null && !testTable.Columns.SequenceEqual(table.Columns))
                throw new UsageException($"{testPath} has different columns from {dataPath}");
            int trials = p.GetValue(search), repeats = p.GetValue(seeds);
            if (trials > 0)
            {
                var found = TabularExperiment.Search(table, options, trials, ui.Logger);
                ui.Table(["trial", "lr", "d_model", "layers", "dropout", "score", "epoch", "seconds"],
                    found.Select(t => (IReadOnlyList<string>)[I(t.Trial), t.LearningRate.ToString("G3", CultureInfo.InvariantCulture), I(t.DModel), I(t.Layers),
                        t.Dropout.ToString("F2", CultureInfo.InvariantCulture), F4(t.Score), I(t.BestEpoch), t.Seconds.ToString("F0", CultureInfo.InvariantCulture)]),
                    title: $"random search, {trials} trials (validation ROC AUC, or RMSE for regression), best first");
                var best = found[0];
                options = options with { DModel = best.DModel, Layers = best.Layers, Dropout = best.Dropout, Fit = options.Fit with { LearningRate = best.LearningRate } };
                ui.Line($"comparing with the best trial's settings (trial {best.Trial})");
            }
            var cmp = TabularExperiment.CompareSeeds(table, options, repeats, testTable, ui.Logger);
            string metric = cmp.Classification ? "ROC AUC" : "RMSE", other = cmp.Classification ? "accuracy" : "MAE";
            var report = new System.Text.StringBuilder("model,cv_mean,cv_std,cv_other_mean,test_primary,test_other\n");
            var rows = new List<IReadOnlyList<string>>();
            foreach (var r in cmp.Rows)
            {
                double testPrimary = TabularExperiment.Primary(r.Test), testOther = cmp.Classification ? r.Test.Accuracy : r.Test.Mae;
                rows.Add([r.Model, $"{F4(r.Mean)} ± {F4(r.Std)}", F4(r.FoldAccuracyOrMae.Average()), F4(testPrimary), F4(testOther)]);
                report.AppendLine(FormattableString.Invariant($"\"{r.Model}\",{r.Mean:R},{r.Std:R},{r.FoldAccuracyOrMae.Average():R},{testPrimary:R},{testOther:R}"));
            }
            ui.Table(["model", $"{metric} (cv)", $"{other} (cv)", $"test {metric}", $"test {other}"], rows);
            string dir = p.GetValue(outDir)!;
            Directory.CreateDirectory(dir);
            var modelPath = Path.Combine(dir, "model.safetensors");
            var meta = cmp.Best.Config.ToMetadata();
            cmp.Preprocessor.WriteMetadata(meta);
            Safetensors.Save(modelPath, cmp.Best.StateDict(), meta);
            AtomicFile.WriteAllText(Path.Combine(dir, "report.csv"), report.ToString());
            var plotPath = Path.Combine(dir, "comparison.png");
            Plots.ModelComparison(cmp.Rows.Select(r => r.Model).ToArray(), cmp.Rows.Select(r => r.Mean).ToArray(), cmp.Rows.Select(r => r.Std).ToArray(),
                plotPath, $"{options.Folds}-fold cross-validation ({targetName})", metric);
            ui.Line($"({options.Folds} fold{(options.Folds == 1 ? "" : "s")}{(repeats > 1 ? $" × {repeats} seeds" : "")}, {cmp.TestRows} test rows) saved {modelPath} ({cmp.BestName}), {Path.Combine(dir, "report.csv")}, {plotPath}");
            return 0;
        });
        return command;
    }

    private static string F4(double v) => v.ToString("F4", CultureInfo.InvariantCulture);
    private static string I(int v) => v.ToString(CultureInfo.InvariantCulture);
}
