using System.CommandLine;
using System.Globalization;
using Ember.Cli.Infrastructure;
using Ember.Data;
using Ember.IO;

namespace Ember.Cli.Commands;

/// <summary><c>ember predict CHECKPOINT</c>: a checkpoint's predictions as CSV.</summary>
internal static class PredictCommand
{
    public static Command Create()
    {
        var command = new Command("predict", "Writes a checkpoint's predictions (index,prediction,confidence rows) to CSV.");
        var inputs = new Checkpoints.MlpDataArguments(command);
        var outPath = Opt.Text("--out", "predictions.csv", "output CSV", "FILE");
        command.Add(outPath);
        command.SetAction(p =>
        {
            var ui = new Terminal(quiet: false);
            string output = p.GetValue(outPath)!;
            var (model, meta, x, _, enc) = inputs.Load(p, withTarget: false);
            bool regression = meta.TryGetValue("task", out var task) && task == "regression";
            var lines = new List<string> { regression ? "index,prediction" : "index,prediction,confidence" };
            using (Tensor.NoGrad())
            {
                int i = 0;
                foreach (var batch in new DataLoader(new TensorDataset(x), 512))
                {
                    var y = model.Call(batch[0]);
                    if (regression)
                    {
                        foreach (var v in y.Reshape(-1).ToArray<float>()) lines.Add($"{i++},{v.ToString("G7", CultureInfo.InvariantCulture)}");
                        continue;
                    }
                    var (conf, pred) = y.Softmax(-1).Max(-1);
                    var c = conf.ToArray<float>();
                    var k = pred.ToArray<long>();
                    for (int j = 0; j < k.Length; j++, i++)
                        lines.Add($"{i},{(enc is not null ? Quote(enc.Classes[k[j]]) : k[j].ToString(CultureInfo.InvariantCulture))},{c[j].ToString("F4", CultureInfo.InvariantCulture)}");
                }
            }
            AtomicFile.WriteAllText(output, string.Join("\n", lines) + "\n");
            ui.Line($"wrote {lines.Count - 1} predictions to {output}");
            return 0;
        });
        return command;
    }

    private static string Quote(string s) => s.Contains(',') || s.Contains('"') ? "\"" + s.Replace("\"", "\"\"") + "\"" : s;
}
