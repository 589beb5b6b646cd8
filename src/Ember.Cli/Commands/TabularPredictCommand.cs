using System.CommandLine;
using System.Globalization;
using Ember.Cli.Infrastructure;
using Ember.IO;
using Ember.Recipes.Tabular;

namespace Ember.Cli.Commands;

/// <summary><c>ember tabular predict CHECKPOINT DATA.csv</c>.</summary>
internal static class TabularPredictCommand
{
    public static Command Create()
    {
        var checkpoint = new Argument<string>("CHECKPOINT") { Description = "model.safetensors written by 'ember tabular train'" };
        var data = new Argument<string>("DATA.csv") { Description = "the rows to predict (the target column may be absent)" };
        var outPath = Opt.Text("--out", "predictions.csv", "output CSV", "FILE");
        var command = new Command("predict",
            "Applies the checkpoint's saved preprocessing to DATA.csv and writes one prediction per row: the class and its " +
            "probabilities (classification) or the value (regression).")
        {
            checkpoint, data, outPath,
        };
        command.SetAction(p =>
        {
            var ui = new Terminal(quiet: false);
            string dataPath = p.GetValue(data)!, output = p.GetValue(outPath)!;
            var (model, prep) = Checkpoints.LoadTabular(p.GetValue(checkpoint)!);
            if (!File.Exists(dataPath)) throw new UsageException($"{dataPath}: no such file");
            var table = CsvTable.Read(dataPath);
            var rows = Enumerable.Range(0, table.Rows.Count).ToArray();
            var pred = TabularTraining.Predict(model, prep.Transform(table, rows)).Contiguous().ToArrayDouble();
            var sb = new System.Text.StringBuilder();
            if (prep.Classification)
            {
                var classes = prep.Encoder.Classes;
                sb.AppendLine("row,prediction," + string.Join(",", classes.Select(c => "p_" + c)));
                for (int i = 0; i < rows.Length; i++)
                {
                    var probs = pred.AsSpan(i * classes.Length, classes.Length).ToArray();
                    int k = Array.IndexOf(probs, probs.Max());
                    sb.AppendLine(FormattableString.Invariant($"{i},{classes[k]},") + string.Join(",", probs.Select(v => v.ToString("G6", CultureInfo.InvariantCulture))));
                }
            }
            else
            {
                sb.AppendLine("row,prediction");
                for (int i = 0; i < rows.Length; i++) sb.AppendLine(FormattableString.Invariant($"{i},{pred[i]:G8}"));
            }
            AtomicFile.WriteAllText(output, sb.ToString());
            ui.Line($"wrote {rows.Length} predictions to {output}");
            return 0;
        });
        return command;
    }
}
