using System.CommandLine;
using Ember.Cli.Infrastructure;
using Ember.Data;
using Ember.IO;
using Ember.Models;
using Ember.NN;
using Ember.Optim;
using Ember.Recipes.Tabular;
using Ember.Training;

namespace Ember.Cli.Commands;

/// <summary><c>ember train</c>: an MLP from the zoo on an MNIST-format folder or a CSV file.</summary>
internal static class TrainCommand
{
    public static Command Create()
    {
        var data = Opt.Required("--data", "an MNIST-format folder (train-*/t10k-* IDX files) or a CSV file", "FOLDER|FILE.csv");
        var download = Opt.OptionalChoice("--download", "fetch missing IDX files into FOLDER first", "mnist", "fashion-mnist");
        var target = Opt.Text("--target", "the CSV column to predict (categorical: classification, numeric: regression)", "COLUMN");
        var valFraction = Opt.Double("--val-fraction", 0.2, "CSV rows held out for validation", 0, 1, exclusiveMin: true, exclusiveMax: true);
        var ignore = Opt.NameList("--ignore", "CSV columns to leave out");
        var model = Opt.Choice("--model", "mlp", "architecture", "mlp");
        var hidden = Opt.IntList("--hidden", "512,256", "hidden layer widths", min: 1, max: 1 << 16);
        var dropout = Opt.Double("--dropout", 0.2, "dropout after each hidden layer", 0, 1, exclusiveMax: true);
        var activation = Opt.Choice("--activation", "relu", "hidden activation", "relu", "gelu", "tanh", "silu");
        var epochs = Opt.Int("--epochs", 10, "training epochs", min: 1);
        var batch = Opt.Int("--batch-size", 128, "minibatch size", min: 1);
        var optimizer = Opt.Choice("--optimizer", "adamw", "optimizer", "adamw", "adam", "sgd", "rmsprop");
        var lr = Opt.Double("--lr", 1e-3, "learning rate", 0, 10, exclusiveMin: true);
        var weightDecay = Opt.Double("--weight-decay", 0, "weight decay", 0, 10);
        var schedule = Opt.Choice("--schedule", "none", "learning-rate schedule", "none", "cosine", "onecycle", "step");
        var seed = Opt.Int("--seed", 0, "random seed");
        var outDir = Opt.Text("--out", Path.Combine("runs", "train"), "output folder", "FOLDER");
        var patience = Opt.Int("--patience", 0, "stop after N epochs without improvement (0: never)");
        var resume = Opt.ExistingPath("--resume", "continue from a checkpoint (model, optimizer, schedule, random state)");
        var quiet = Opt.Flag("--quiet", "no progress output");
        var tensorboard = Opt.TensorBoard();
        var precision = Opt.Precision();
        var command = new Command("train",
            "Trains on the train-* IDX files of FOLDER and validates on t10k-* each epoch, or on a CSV file with a seeded random " +
            "validation split (numeric columns standardized, categorical ones one-hot with an unknown bucket, fitted on the " +
            "training rows). Saves best.safetensors and last.safetensors (architecture and preprocessing included) plus " +
            "metrics.csv and curves.png in --out.")
        {
            data, download, target, valFraction, ignore, model, hidden, dropout, activation, epochs, batch, optimizer, lr, weightDecay,
            schedule, seed, outDir, patience, resume, quiet, tensorboard, precision,
        };
        command.SetAction(p =>
        {
            var ui = new Terminal(p.GetValue(quiet));
            string path = p.GetValue(data)!;
            string? fetch = p.GetValue(download);
            if (fetch is null && !File.Exists(path) && !Directory.Exists(path)) throw new UsageException($"--data '{path}': no such file or folder");
            if (fetch is not null) Downloads.EnsureFiles(path, ImageFolders.UrlFor(fetch), ImageFolders.IdxFiles);
            int seedValue = p.GetValue(seed);
            var (xtr, ytr, xva, yva, encoder) = LoadTraining(ui, path, p.GetValue(target), p.GetValue(valFraction), (ulong)seedValue, p.GetValue(ignore)!);
            bool classification = ytr.DType == DType.Int64;
            int outputs = classification ? (int)Math.Max(ytr.Max().Item(), yva.Max().Item()) + 1 : 1;
            if (encoder is not null && classification) outputs = encoder.Classes.Length;
            var config = new MlpConfig
            {
                InFeatures = xtr.NumEl / xtr.Size(0), Hidden = p.GetValue(hidden)!, OutFeatures = outputs, Dropout = p.GetValue(dropout),
                Activation = p.GetValue(activation)!,
            };
            var metadata = config.ToMetadata();
            metadata["task"] = classification ? "classification" : "regression";
            if (encoder is not null) metadata["tabular"] = encoder.ToJson();
            var net = new Mlp(config, new Generator((ulong)seedValue));
            double rate = p.GetValue(lr), wd = p.GetValue(weightDecay);
            Optimizer opt = p.GetValue(optimizer) switch
            {
                "adamw" => new AdamW(net.Parameters(), lr: rate, weightDecay: wd),
                "adam" => new Adam(net.Parameters(), lr: rate, weightDecay: wd),
                "sgd" => new SGD(net.Parameters(), rate, momentum: 0.9, weightDecay: wd, nesterov: true),
                _ => new RMSprop(net.Parameters(), rate, weightDecay: wd),
            };
            var trainLoader = new DataLoader(new TensorDataset(xtr, ytr), p.GetValue(batch), shuffle: true, seed: (ulong)seedValue);
            var valLoader = new DataLoader(new TensorDataset(xva, yva), 512);
            var trainer = new Trainer(net, opt, classification ? (o, y) => Functional.CrossEntropy(o, y) : (o, y) => Functional.MseLoss(o, y));
            int n = p.GetValue(epochs), total = n * trainLoader.Count;
            trainer.Scheduler = p.GetValue(schedule) switch
            {
                "none" => null,
                "cosine" => new CosineWithWarmup(opt, Math.Min(total / 20, 500), total),
                "onecycle" => new OneCycleLR(opt, rate, total),
                _ => new StepLR(opt, Math.Max(1, total / 3), 0.1),
            };
            ui.Line(net.Summary([1, config.InFeatures]));
            string dir = p.GetValue(outDir)!;
            var plot = Path.Combine(dir, "curves.png");
            bool primary = MpiJob.Rank == 0;
            if (primary) trainer.OnEpochEnd = h => Plots.LearningCurves(h, plot, "training");
            int wait = p.GetValue(patience);
            using var tb = primary ? Opt.OpenTensorBoard(p.GetValue(tensorboard)) : null;
            using var ddp = MpiJob.Attach(net);
            ui.Training(reporter => trainer.Fit(trainLoader, valLoader, new TrainerOptions
            {
                Epochs = n,
                CheckpointDir = dir,
                MetricsCsv = Path.Combine(dir, "metrics.csv"),
                Progress = reporter is not null,
                ProgressReporter = reporter,
                EarlyStoppingPatience = wait > 0 ? wait : null,
                ResumeFrom = p.GetValue(resume),
                Metadata = metadata,
                Classification = classification,
                TensorBoard = tb,
                DataParallel = MpiJob.WithFaultInjection(ddp),
                Precision = Opt.PrecisionType(p.GetValue(precision)!),
                Hparams = new Dictionary<string, object>
                {
                    ["batch_size"] = p.GetValue(batch), ["weight_decay"] = wd, ["schedule"] = p.GetValue(schedule)!, ["seed"] = seedValue,
                },
            }));
            var best = classification ? trainer.History.MaxBy(h => h.ValAccuracy ?? 0)! : trainer.History.MinBy(h => h.ValLoss ?? double.MaxValue)!;
            ui.Line($"saved {Path.Combine(dir, "best.safetensors")} (epoch {best.Epoch}), {Path.Combine(dir, "last.safetensors")}, metrics.csv, curves.png");
            if (tb is not null) ui.Line($"TensorBoard logs in {tb.LogDir} (tensorboard --logdir {tb.LogDir})");
            if (ddp is not null)
                ui.Line(FormattableString.Invariant($"data parallel: {ddp.WorldSize} ranks, {ddp.Steps} steps, {1000 * ddp.CommunicationSeconds / Math.Max(1, ddp.Steps):F2} ms per step waiting for gradient all-reduce ({ddp.OverlappedBuckets} of {ddp.Steps * ddp.BucketSizes.Count} buckets started during backward)"));
            ui.Line(classification ? $"val_accuracy={best.ValAccuracy:F4}" : $"val_rmse={Math.Sqrt(best.ValLoss ?? double.NaN):G5}");
            return 0;
        });
        return command;
    }

    /// <summary>Training data: an MNIST-format folder (train-*/t10k-* splits) or a CSV file (a seeded random
    /// validation split; preprocessing fitted on the training rows only).</summary>
    private static (Tensor Xtr, Tensor Ytr, Tensor Xva, Tensor Yva, TabularEncoder? Encoder) LoadTraining(Terminal ui, string data, string? target,
        double valFraction, ulong seed, string[] ignore)
    {
        if (!DataPaths.IsCsv(data))
        {
            if (target is not null) throw new UsageException("--target applies to CSV data only");
            var (xtr, ytr) = Checkpoints.LoadSplit(data, true);
            var (xva, yva) = Checkpoints.LoadSplit(data, false);
            return (xtr, ytr, xva, yva, null);
        }
        if (!File.Exists(data)) throw new UsageException($"no such file: {data}");
        if (target is null) throw new UsageException("training on a CSV needs --target COLUMN");
        var table = CsvTable.Read(data);
        if (table.Rows.Count < 2) throw new UsageException($"{data} has {table.Rows.Count} data row(s); need at least 2");
        var perm = Tensor.RandPerm(table.Rows.Count, new Generator(seed)).ToArray<long>().Select(v => (int)v).ToArray();
        int nVal = Math.Max(1, (int)Math.Round(table.Rows.Count * valFraction));
        var valRows = perm.Take(nVal).ToArray();
        var trainRows = perm.Skip(nVal).ToArray();
        var enc = TabularEncoder.Fit(table, target, trainRows, ignore: ignore);
        if (enc.TextColumns.Length > 0)
            ui.Log($"note: the MLP does not read text; column(s) {string.Join(", ", enc.TextColumns)} are left out (models that read text: 'ember tabular train')");
        if (enc.Width == 0) throw new UsageException($"{data}: no numeric, categorical or date column besides the target for the MLP to read");
        var (xt, yt) = enc.Transform(table, trainRows);
        var (xv, yv) = enc.Transform(table, valRows);
        return (xt, yt!, xv, yv!, enc);
    }
}
