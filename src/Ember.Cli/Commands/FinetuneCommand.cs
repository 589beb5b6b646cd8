using System.Globalization;
using System.CommandLine;
using Ember.Cli.Infrastructure;
using Ember.IO;
using Ember.NN;
using Ember.Recipes;

namespace Ember.Cli.Commands;

/// <summary><c>ember finetune GPT --data reviews.csv --column review [--lora 8]</c>: a character GPT trained further on
/// new text, every weight or LoRA adapters only.</summary>
internal static class FinetuneCommand
{
    public static Command Create()
    {
        var checkpoint = new Argument<string>("MODEL.safetensors") { Description = "a GPT written by 'ember milestone gpt' (chars.json beside it)" };
        var data = Opt.ExistingPath("--data", "the new text: a .txt or .txt.gz file, or a CSV (.csv, .csv.gz) with --column", required: true);
        var column = Opt.Text("--column", "the CSV column holding the text", "NAME");
        var lora = Opt.OptionalInt("--lora", "train LoRA adapters of this rank only (the base frozen) instead of every weight", min: 1);
        var alpha = Opt.Double("--alpha", 0, "LoRA α [default: 2·rank]", min: 0);
        var targets = Opt.NameList("--targets", "layers that get adapters [default: c_attn, PEFT's choice for GPT-2]");
        var steps = Opt.Int("--steps", 300, "optimizer steps", min: 1);
        var batch = Opt.Int("--batch", 16, "windows per step", min: 1);
        var lr = Opt.Double("--lr", 0, "peak learning rate [default: 3e-4, or 1e-2 with --lora]", min: 0);
        var limit = Opt.OptionalInt("--limit", "use only the first N characters of the text", min: 1000);
        var seed = Opt.OptionalInt("--seed", "random seed [default: 1]");
        var outDir = Opt.Text("--out", Path.Combine("runs", "finetune"), "output folder", "FOLDER");
        var quiet = Opt.Flag("--quiet", "no progress output");
        var tensorboard = Opt.TensorBoard();
        var command = new Command("finetune",
            "Fine-tunes a character-level GPT on new text and reports the validation loss (the text's last 10%) before and " +
            "after. Characters outside the model's alphabet become spaces. With --lora R only rank-R adapters train (the " +
            "base is frozen) and the adapters are saved alone in PEFT's layout (adapter_model.safetensors, " +
            "adapter_config.json) next to a merged model.safetensors; without it every weight trains.")
        {
            checkpoint, data, column, lora, alpha, targets, steps, batch, lr, limit, seed, outDir, quiet, tensorboard,
        };
        command.SetAction(p =>
        {
            var ui = new Terminal(p.GetValue(quiet));
            string path = p.GetValue(checkpoint)!;
            var (model, tok, meta) = Checkpoints.LoadGptWithTokenizer(path);
            if (meta.ContainsKey("quantized") && p.GetValue(lora) is null)
                throw new UsageException($"finetune: {path} is int8; fine-tune the float checkpoint, or train LoRA adapters on it (--lora)");
            string dataPath = p.GetValue(data)!;
            bool csv = dataPath.EndsWith(".csv", StringComparison.OrdinalIgnoreCase) || dataPath.EndsWith(".csv.gz", StringComparison.OrdinalIgnoreCase);
            if (csv && p.GetValue(column) is null) throw new UsageException("--column is required with a CSV file (the column holding the text)");
            string raw = csv ? Milestones.ReadTextColumn(dataPath, p.GetValue(column)!, p.GetValue(limit)) : Milestones.ReadText(dataPath);
            if (p.GetValue(limit) is int lim && raw.Length > lim) raw = raw[..lim];
            var text = Milestones.FitAlphabet(raw, tok, out double replaced);
            ui.Log(FormattableString.Invariant($"{text.Length:N0} characters; {replaced * 100:F2}% outside the model's alphabet replaced"));
            int? rank = p.GetValue(lora);
            var recipe = new Milestones.FineTuneRecipe
            {
                Steps = p.GetValue(steps),
                BatchSize = p.GetValue(batch),
                LearningRate = p.GetValue(lr) > 0 ? p.GetValue(lr) : null,
                LoraRank = rank,
                LoraAlpha = p.GetValue(alpha) > 0 ? p.GetValue(alpha) : null,
                LoraTargets = p.GetValue(targets) is { Length: > 0 } t ? t : ["c_attn"],
                Seed = (ulong)(p.GetValue(seed) ?? 1),
            };
            using var tb = Opt.OpenTensorBoard(p.GetValue(tensorboard));
            var run = Milestones.FineTuneGpt(model, tok, text, recipe, ui.Logger, tb);
            if (tb is not null) ui.Line($"TensorBoard logs in {tb.LogDir} (tensorboard --logdir {tb.LogDir})");
            string dir = p.GetValue(outDir)!;
            Directory.CreateDirectory(dir);
            if (run.Lora is LoraConfig config)
            {
                Lora.SaveAdapters(model, config, dir);
                long adapterBytes = new FileInfo(Path.Combine(dir, "adapter_model.safetensors")).Length, baseBytes = new FileInfo(path).Length;
                ui.Line(FormattableString.Invariant($"saved {Path.Combine(dir, "adapter_model.safetensors")} ({adapterBytes:N0} bytes, {100.0 * adapterBytes / baseBytes:F2}% of the base checkpoint) and adapter_config.json"));
                if (model.NamedModules().Any(m => m.Module is Linear { Int8: not null }))
                    ui.Line("the base is int8: the adapters stay apart (no merged model)");
                else Lora.Unload(model);
            }
            if (run.Lora is null || model.NamedModules().All(m => m.Module is not Linear { Lora: not null }))
            {
                var modelPath = Path.Combine(dir, "model.safetensors");
                Safetensors.Save(modelPath, model.StateDict(), meta);
                tok.Save(Path.Combine(dir, "chars.json"));
                ui.Line($"saved {modelPath}{(run.Lora is null ? "" : " (adapters merged)")} and chars.json");
            }
            ui.Line(FormattableString.Invariant($"trained {run.Trainable:N0} of {run.Total:N0} parameters ({100.0 * run.Trainable / run.Total:F2}%) for {recipe.Steps} steps in {run.Seconds:F1}s"));
            ui.Line(FormattableString.Invariant($"val_loss_before={run.LossBefore:F4}"));
            ui.Line(FormattableString.Invariant($"val_loss={run.LossAfter:F4}"));
            return 0;
        });
        return command;
    }
}
