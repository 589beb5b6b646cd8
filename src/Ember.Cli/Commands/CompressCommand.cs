using System.Globalization;
using System.CommandLine;
using Ember.Cli.Infrastructure;
using Ember.IO;
using Ember.Models;
using Ember.NN;
using Ember.Data;
using Ember.Quantization;

namespace Ember.Cli.Commands;

/// <summary><c>ember compress MODEL --quantize int8 --prune 0.5 [--structured]</c>: a smaller checkpoint of an MLP, a
/// GPT or a Fashion-MNIST CNN, which every other command loads as it loads the original.</summary>
internal static class CompressCommand
{
    public static Command Create()
    {
        var checkpoint = new Argument<string>("MODEL.safetensors")
        {
            Description = "a checkpoint written by 'ember quickstart', 'ember train', 'ember milestone gpt' or 'ember milestone fashion'",
        };
        var quantize = Opt.Choice("--quantize", "int8", "weight quantization: int8 (dynamic: weights per output channel, inputs per row at run time) or none", "int8", "none");
        var prune = Opt.Double("--prune", 0, "fraction of weights (or, with --structured, of hidden neurons and channels) to remove, by smallest magnitude", min: 0, max: 0.99);
        var structured = Opt.Flag("--structured", "remove whole neurons and channels (smaller dense layers) instead of zeroing single weights");
        var perLayer = Opt.Flag("--per-layer", "unstructured pruning: the same fraction in every layer instead of one global threshold");
        var fineTune = Opt.ExistingPath("--fine-tune", "after pruning an MLP, train it again on this data (an MNIST-format folder) with the original model as the distillation teacher");
        var epochs = Opt.Int("--epochs", 3, "fine-tuning epochs (with --fine-tune)", min: 1);
        var qat = Opt.Flag("--qat", "with --quantize int8 and --fine-tune: quantization-aware fine-tuning (fake-quantized weights and inputs, straight-through gradients) before converting");
        var calibrate = Opt.Int("--calibrate", 0, "static quantization: calibrate the input ranges on N batches of 64 training images from --data (0: dynamic)", min: 0);
        var method = Opt.Choice("--calibration", "percentile", "how calibration picks each input range (percentile: 99.99th)", "minmax", "percentile", "entropy");
        var data = Opt.ExistingPath("--data", "calibration images: an MNIST-format folder (MLP) or the Fashion-MNIST folder (CNN)");
        var outPath = Opt.Text("--out", "output file [default: MODEL.int8.safetensors, MODEL.pruned.safetensors …]", "FILE");
        var command = new Command("compress",
            "Writes a compressed copy of a checkpoint: pruned (unstructured: the smallest weights zeroed, reported per layer; " +
            "--structured: hidden neurons and channels removed, layers physically smaller) and then quantized to int8 " +
            "(Linear and, for CNNs, Conv2d weights per output channel; about a quarter of the size). 'ember evaluate', " +
            "'predict', 'serve', 'generate', 'profile' and 'export' load the result as they load the original. Fine-tuning " +
            "after pruning recovers accuracy: prune, train again, then quantize.")
        {
            checkpoint, quantize, prune, structured, perLayer, fineTune, epochs, qat, calibrate, method, data, outPath,
        };
        command.SetAction(p =>
        {
            var ui = new Terminal(quiet: false);
            string path = p.GetValue(checkpoint)!;
            if (!File.Exists(path)) throw new UsageException($"no such checkpoint: {path}");
            var tensors = Safetensors.Load(path, out var meta);
            meta.TryGetValue("model", out var kind);
            meta.TryGetValue("arch", out var arch);
            Module model = (kind, arch) switch
            {
                ("gpt", _) => Checkpoints.LoadGpt(path, tensors, meta),
                ("fashion-cnn", _) => Checkpoints.LoadFashionCnn(path, tensors, meta),
                (_, "mlp") => Checkpoints.LoadMlp(path).Model,
                _ => throw new UsageException($"compress: {path} holds a{(kind ?? arch) switch { null => "", var a => $" '{a}'" }} model that 'ember compress' does not know; " +
                    "it compresses the checkpoints of quickstart, train, milestone gpt and milestone fashion (library models: Ember.Quantization.Quantize, Ember.NN.Pruning)"),
            };
            model.Eval();
            double amount = p.GetValue(prune);
            bool int8 = p.GetValue(quantize) == "int8", isStructured = p.GetValue(structured);
            if (amount == 0 && !int8) throw new UsageException("compress: nothing to do (--quantize none and no --prune)");
            if (meta.TryGetValue("quantized", out var already) && int8)
                throw new UsageException($"compress: {path} is already quantized ({already})");
            var outMeta = new Dictionary<string, string>(meta);
            long floatBytes = Ember.Recipes.Milestones.StateBytes(model);
            string? tuneData = p.GetValue(fineTune);
            bool useQat = p.GetValue(qat);
            if (useQat && (!int8 || tuneData is null || p.GetValue(calibrate) > 0))
                throw new UsageException("compress: --qat needs --quantize int8 (dynamic, no --calibrate) and --fine-tune DATA");
            if (tuneData is not null && (model is not Mlp || (amount == 0 && !useQat)))
                throw new UsageException("compress: --fine-tune retrains a pruned or quantization-aware MLP (quickstart/train checkpoints with --prune or --qat)");
            Mlp? teacher = null;
            if (tuneData is not null)
            {
                // The model as loaded, before pruning, teaches the pruned one.
                teacher = new Mlp(((Mlp)model).Config);
                Ember.Training.Trainer.LoadModelState(teacher, model.StateDict(), path);
                teacher.Eval();
            }
            PruningMasks? masks = null;
            if (amount > 0 && isStructured)
            {
                var shrunk = Pruning.Structured(model, amount);
                if (shrunk.Count == 0) throw new UsageException("compress: no layer of this model can be pruned by neurons or channels");
                ui.Table(["layer", "kept", "before"], shrunk.Select(r => (IReadOnlyList<string>)[r.Name, r.Kept.ToString(CultureInfo.InvariantCulture), r.Before.ToString(CultureInfo.InvariantCulture)]),
                    $"structured pruning, {Percent(amount)} of the hidden neurons and channels removed");
                outMeta["pruned"] = FormattableString.Invariant($"structured:{amount}");
                if (model is Mlp mlp) outMeta["hidden"] = string.Join(",", mlp.Network.Layers.OfType<Linear>().SkipLast(1).Select(l => l.OutFeatures));
            }
            else if (amount > 0)
            {
                masks = Pruning.Magnitude(model, amount, global: !p.GetValue(perLayer));
                var (layers, overall) = Pruning.Sparsity(model);
                ui.Table(["layer", "zeros", "weights", "sparsity"], layers.Select(r => (IReadOnlyList<string>)[r.Name, r.Zeros.ToString("N0", CultureInfo.InvariantCulture),
                    r.Total.ToString("N0", CultureInfo.InvariantCulture), Percent((double)r.Zeros / r.Total)]),
                    $"unstructured pruning: {Percent(overall)} of the weights are zero");
                outMeta["pruned"] = FormattableString.Invariant($"unstructured:{amount}");
            }
            if (teacher is not null && model is Mlp student)
            {
                if (useQat) ui.Line($"quantization-aware fine-tuning of {Quantize.PrepareQat(student).Count} layers");
                var (xtr, ytr) = Checkpoints.LoadSplit(tuneData!, train: true);
                var (xva, yva) = Checkpoints.LoadSplit(tuneData!, train: false);
                var run = Ember.Recipes.Milestones.DistillInto(teacher, student, xtr, ytr, xva, yva,
                    new Ember.Recipes.Milestones.DistillRecipe { Epochs = p.GetValue(epochs), LearningRate = useQat && amount == 0 ? 1e-4 : 5e-4 }, ui.Logger, masks is null ? null : masks.Apply);
                ui.Line(FormattableString.Invariant($"fine-tuned {p.GetValue(epochs)} epochs with the original as teacher: accuracy {run.StudentAccuracy:F4}{(useQat ? " (fake-quantized)" : "")} (original {run.TeacherAccuracy:F4})"));
            }
            if (kind == "fashion-cnn")
            {
                // An inference checkpoint: BatchNorm folded into the convolutions first (smaller, and conv+ReLU+pool fuse).
                var folded = Folding.FoldBatchNorm(model);
                if (folded.Count > 0) outMeta["folded"] = "batchnorm";
                ui.Line($"folded {folded.Count} BatchNorm layers into the convolutions before them");
            }
            int batches = p.GetValue(calibrate);
            if (int8 && batches > 0)
            {
                if (kind == "gpt") throw new UsageException("compress: --calibrate applies to MLP and CNN checkpoints; a GPT is quantized dynamically");
                string folder = p.GetValue(data) ?? throw new UsageException("compress: --calibrate needs --data (the images to calibrate on)");
                var (images, _) = kind == "fashion-cnn" ? ImageFolders.FashionMnist(folder, train: true) : Checkpoints.LoadSplit(folder, train: true);
                int count = Math.Min(batches, images.Size(0) / 64);
                if (count == 0) throw new UsageException($"compress: {folder} has fewer than 64 training images");
                var calibration = Method(p.GetValue(method)!);
                var ranges = Quantize.Static(model, Enumerable.Range(0, count).Select(i => images.Narrow(0, i * 64, 64)), calibration);
                outMeta["quantized"] = "static-int8";
                ui.Table(["layer", "input from", "to", "zero point"], ranges.Select(r => (IReadOnlyList<string>)[r.Key,
                    r.Value.Range.Lo.ToString("G4", CultureInfo.InvariantCulture), r.Value.Range.Hi.ToString("G4", CultureInfo.InvariantCulture),
                    r.Value.ZeroPoint.ToString(CultureInfo.InvariantCulture)]), $"static int8, {p.GetValue(method)} calibration on {count} batches of 64");
            }
            else if (int8)
            {
                var names = useQat ? Quantize.ConvertQat(model) : Quantize.Dynamic(model, convolutions: kind == "fashion-cnn");
                outMeta["quantized"] = "dynamic-int8";
                ui.Line($"quantized {names.Count} layers to int8: {string.Join(", ", names)}");
            }
            string suffix = (amount > 0 ? isStructured ? ".pruned-structured" : ".pruned" : "") + (int8 ? ".int8" : "");
            string output = p.GetValue(outPath) ?? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, Path.GetFileNameWithoutExtension(path) + suffix + ".safetensors");
            Safetensors.Save(output, model.StateDict(), outMeta);
            long inBytes = new FileInfo(path).Length, outBytes = new FileInfo(output).Length;
            ui.Line(FormattableString.Invariant($"wrote {output}: {outBytes:N0} bytes ({path}: {inBytes:N0} bytes, {(double)inBytes / outBytes:F2}x; the float model's tensors: {floatBytes:N0} bytes, {(double)floatBytes / outBytes:F2}x)"));
            return 0;
        });
        return command;
    }

    private static CalibrationMethod Method(string name) => name switch
    {
        "minmax" => CalibrationMethod.MinMax,
        "entropy" => CalibrationMethod.Entropy,
        _ => CalibrationMethod.Percentile,
    };

    private static string Percent(double fraction) => (fraction * 100).ToString("F1", CultureInfo.InvariantCulture) + "%";
}
