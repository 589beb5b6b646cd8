using System.Diagnostics;
using System.Globalization;
using Ember.Data;
using Ember.Diagnostics;
using Ember.IO;
using Ember.NN;
using Ember.Optim;

namespace Ember.Training;

/// <summary>Settings of <see cref="Trainer.Fit"/>.</summary>
public sealed record TrainerOptions
{
    /// <summary>Training epochs.</summary>
    public int Epochs { get; init; } = 10;
    /// <summary>Stop when the validation metric has not improved for this many epochs (null: never).</summary>
    public int? EarlyStoppingPatience { get; init; }
    /// <summary>Clip the global gradient norm to this value each step (null: no clipping).</summary>
    public double? ClipGradNorm { get; init; }
    /// <summary>Where best.safetensors and last.safetensors go (null: no checkpoints).</summary>
    public string? CheckpointDir { get; init; }
    /// <summary>One CSV row per epoch (null: no log).</summary>
    public string? MetricsCsv { get; init; }
    /// <summary>Resume from this checkpoint (model, optimizer and epoch).</summary>
    public string? ResumeFrom { get; init; }
    /// <summary>Report progress (to <see cref="ProgressReporter"/>, or one line per epoch on stderr by default).</summary>
    public bool Progress { get; init; } = true;
    /// <summary>Where progress goes when <see cref="Progress"/> is on (null: <see cref="ConsoleTrainingProgress"/>).</summary>
    public ITrainingProgress? ProgressReporter { get; init; }
    /// <summary>Classification (accuracy is computed and drives model selection) or regression (loss does).</summary>
    public bool Classification { get; init; } = true;
    /// <summary>Architecture description stored in checkpoint metadata so a checkpoint can rebuild its model.</summary>
    public IReadOnlyDictionary<string, string>? Metadata { get; init; }
    /// <summary>Where TensorBoard logs go (null: none): every <see cref="TensorBoardEvery"/> steps the batch loss,
    /// learning rate and samples/s ("train/…"); each epoch the epoch's metrics ("epoch/…"), histograms of the weights
    /// and gradients, and for classification the validation confusion matrix; at the end the run's hyperparameters
    /// (<see cref="Metadata"/>, optimizer, epochs) with its best and final metrics. The caller owns the writer.</summary>
    public SummaryWriter? TensorBoard { get; init; }
    /// <summary>Hyperparameters for TensorBoard's HParams dashboard beyond <see cref="Metadata"/> (batch size, seed,
    /// schedule …): numbers, booleans or strings.</summary>
    public IReadOnlyDictionary<string, object>? Hparams { get; init; }
    /// <summary>The shape (C, H, W) of one input image when the inputs are flattened images (an MLP on MNIST's 784
    /// pixels), so that TensorBoard gets a grid of the first training batch (after augmentation); (N, C, H, W)
    /// inputs with 1, 3 or 4 channels are drawn without it.</summary>
    public int[]? InputImageShape { get; init; }
    /// <summary>Data-parallel training across processes (null: this process alone). Each rank trains on its rows of
    /// every batch and the gradients are summed across ranks before each step (see <see cref="IDataParallel"/>); every
    /// rank must run the same loaders with the same seeds. Only rank 0 writes checkpoints, the metrics CSV,
    /// TensorBoard logs and progress; every rank resumes from <see cref="ResumeFrom"/> and evaluates the whole
    /// validation set.</summary>
    public IDataParallel? DataParallel { get; init; }
    /// <summary>Mixed precision (null: float32): the forward pass and loss run under <see cref="Autocast"/> with this
    /// type (bfloat16 or float16); with float16 a <see cref="GradScaler"/> scales the loss, skips steps whose
    /// gradients overflow and adapts its scale.</summary>
    public DType? Precision { get; init; }
    /// <summary>Steps between the per-step TensorBoard scalars.</summary>
    public int TensorBoardEvery { get; init; } = 10;
}

/// <summary>One epoch's numbers.</summary>
public sealed record EpochMetrics(int Epoch, double TrainLoss, double TrainAccuracy, double? ValLoss, double? ValAccuracy, double LearningRate, double Seconds);

/// <summary>Loss and accuracy of a model on a data set.</summary>
public sealed record Evaluation(double Loss, double Accuracy, int Count, Tensor Predictions, Tensor Targets);

/// <summary>
/// The fit loop: for each epoch, batches from the loader → forward → loss → backward → (clip) → step, with a
/// progress line (epoch, step, loss, samples/s, ETA); then validation, the metrics log, the best and last
/// checkpoints, an optional per-epoch scheduler step and early stopping. Everything random (initialization,
/// shuffling, dropout) comes from seeded generators, so a run with the same seed repeats exactly.
/// </summary>
public sealed class Trainer
{
    private readonly Module _model;
    private readonly Optimizer _optimizer;
    private readonly Func<Tensor, Tensor, Tensor> _loss;

    /// <summary>A trainer of <paramref name="model"/> with <paramref name="optimizer"/>, minimizing <paramref name="loss"/>(output, target).</summary>
    public Trainer(Module model, Optimizer optimizer, Func<Tensor, Tensor, Tensor> loss)
    {
        _model = model;
        _optimizer = optimizer;
        _loss = loss;
    }

    /// <summary>Called after each optimizer step.</summary>
    public Action? OnBatchEnd { get; set; }

    /// <summary>A learning-rate schedule stepped after every optimizer step. The trainer owns its state: checkpoints
    /// store its step ("scheduler_step") and <see cref="TrainerOptions.ResumeFrom"/> restores it before training
    /// continues, so warm-up and one-cycle schedules resume where they stopped (they restarted from step 0 when the
    /// caller restored the step after <see cref="Fit"/>).</summary>
    public LRScheduler? Scheduler { get; set; }

    /// <summary>Called after each epoch with the history so far (plots, epoch-level schedulers).</summary>
    public Action<IReadOnlyList<EpochMetrics>>? OnEpochEnd { get; set; }

    /// <summary>The metrics of every epoch so far.</summary>
    public List<EpochMetrics> History { get; } = new();

    private DataLoader? _train;   // the loader Fit is training on (its shuffle state goes into checkpoints)

    /// <summary>Trains for <see cref="TrainerOptions.Epochs"/> epochs on <paramref name="train"/>, validating on <paramref name="validation"/> after each; returns <see cref="History"/>.</summary>
    public List<EpochMetrics> Fit(DataLoader train, DataLoader? validation, TrainerOptions options)
    {
        _train = train;
        if (options.DataParallel is { Rank: > 0 })
            options = options with { CheckpointDir = null, MetricsCsv = null, TensorBoard = null, Progress = false };
        int startEpoch = 1;
        double best = double.NaN;
        if (options.ResumeFrom is not null) (startEpoch, best) = Resume(options.ResumeFrom);
        _globalStep = (long)(startEpoch - 1) * train.Count;
        int sinceBest = 0;
        if (options.MetricsCsv is not null && startEpoch == 1)
            WriteCsvLine(options.MetricsCsv, "epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr,seconds", append: false);
        for (int epoch = startEpoch; epoch <= options.Epochs; epoch++)
        {
            var sw = Stopwatch.StartNew();
            var (trainLoss, trainAcc) = TrainEpoch(train, epoch, options);
            Evaluation? val = validation is null ? null : Evaluate(validation);
            var m = new EpochMetrics(epoch, trainLoss, trainAcc, val?.Loss, val?.Accuracy, _optimizer.LearningRate, sw.Elapsed.TotalSeconds);
            History.Add(m);
            Reporter(options)?.EpochCompleted(m, options.Epochs, options.Classification);
            if (options.MetricsCsv is not null)
                WriteCsvLine(options.MetricsCsv, string.Join(",", epoch, F(trainLoss), F(trainAcc), F(val?.Loss), F(val?.Accuracy), F(m.LearningRate), F(m.Seconds)), append: true);

            // Model selection: validation accuracy for classification, validation (or training) loss otherwise.
            double score = options.Classification ? (val?.Accuracy ?? trainAcc) : -(val?.Loss ?? trainLoss);
            bool improved = double.IsNaN(best) || score > best;
            if (improved) { best = score; sinceBest = 0; }
            else sinceBest++;
            if (options.CheckpointDir is not null)
            {
                if (improved) SaveCheckpoint(Path.Combine(options.CheckpointDir, "best.safetensors"), epoch, best, options.Metadata);
                SaveCheckpoint(Path.Combine(options.CheckpointDir, "last.safetensors"), epoch, best, options.Metadata);
            }
            if (options.TensorBoard is { } tb) LogEpoch(tb, m, val, epoch, options);
            OnEpochEnd?.Invoke(History);
            if (options.EarlyStoppingPatience is int patience && sinceBest >= patience)
            {
                Reporter(options)?.Note($"early stopping: no improvement for {patience} epoch(s)");
                break;
            }
        }
        if (options.TensorBoard is { } writer && History.Count > 0) LogRun(writer, options);
        return History;
    }

    private long _globalStep;   // optimizer steps since the run began (TensorBoard's x axis)
    private GradScaler? _scaler;  // float16 training's loss scale, kept across epochs

    /// <summary>The loss scaler of float16 training (null otherwise): its scale and skipped steps.</summary>
    public GradScaler? Scaler => _scaler;

    private bool _imagesLogged;

    /// <summary>The first 32 inputs of the run as an image grid, each scaled to [0, 1] by the batch's range.</summary>
    private bool LogInputs(SummaryWriter tb, Tensor x, int[]? imageShape)
    {
        int n = Math.Min(32, x.Size(0));
        if (n == 0 || !x.DType.IsFloatingPoint()) return false;
        Tensor images;
        if (imageShape is { Length: 3 } s && (long)s[0] * s[1] * s[2] == x.NumEl / x.Size(0)) images = x.Narrow(0, 0, n).Reshape(n, s[0], s[1], s[2]);
        else if (x.Dim == 4 && x.Size(1) is 1 or 3 or 4) images = x.Narrow(0, 0, n);
        else return true;   // not images: nothing to draw, and no need to look again
        using (Tensor.NoGrad())
        {
            double lo = images.Min().Item(), hi = images.Max().Item();
            if (!double.IsFinite(lo) || !double.IsFinite(hi)) return true;
            images = ((images - lo) / Math.Max(hi - lo, 1e-12)).Clamp(0, 1);
            tb.AddImages("inputs/train", images, _globalStep);
        }
        return true;
    }

    private void LogEpoch(SummaryWriter tb, EpochMetrics m, Evaluation? val, int epoch, TrainerOptions options)
    {
        long step = _globalStep;
        tb.AddScalar("epoch/train_loss", m.TrainLoss, step);
        if (options.Classification && !double.IsNaN(m.TrainAccuracy)) tb.AddScalar("epoch/train_accuracy", m.TrainAccuracy, step);
        if (m.ValLoss is double vl) tb.AddScalar("epoch/val_loss", vl, step);
        if (options.Classification && m.ValAccuracy is double va && !double.IsNaN(va)) tb.AddScalar("epoch/val_accuracy", va, step);
        tb.AddScalar("epoch/seconds", m.Seconds, step);
        tb.AddScalar("epoch/epoch", epoch, step);
        TensorBoardLog.Parameters(tb, _model, step);
        if (options.Classification && val is { Count: > 0 } v && v.Predictions.NumEl > 0)
        {
            int classes = (int)Math.Max(v.Predictions.Max().Item(), v.Targets.Max().Item()) + 1;
            if (classes <= 100) TensorBoardLog.ConfusionMatrix(tb, "val/confusion_matrix", v.Predictions, v.Targets, classes, step);
        }
        tb.Flush();
    }

    private void LogRun(SummaryWriter tb, TrainerOptions options)
    {
        var hp = TensorBoardLog.Hparams(options.Metadata ?? new Dictionary<string, string>());
        hp["optimizer"] = _optimizer.GetType().Name;
        hp["lr"] = History[0].LearningRate;
        hp["epochs"] = History.Count;
        foreach (var (k, v) in options.Hparams ?? new Dictionary<string, object>()) hp[k] = v;
        var metrics = new Dictionary<string, double> { ["hparam/final_train_loss"] = History[^1].TrainLoss };
        if (History[^1].ValLoss is double vl) metrics["hparam/final_val_loss"] = vl;
        if (options.Classification && History.Where(h => h.ValAccuracy is double a && !double.IsNaN(a)).Select(h => h.ValAccuracy!.Value).DefaultIfEmpty(double.NaN).Max() is double best && !double.IsNaN(best))
            metrics["hparam/best_val_accuracy"] = best;
        tb.AddHparams(hp, metrics, _globalStep);
        tb.Flush();
    }

    private static ITrainingProgress? Reporter(TrainerOptions options) =>
        options.Progress ? options.ProgressReporter ?? ConsoleTrainingProgress.Instance : null;

    private static string F(double? v) => v is double d ? d.ToString("G6", CultureInfo.InvariantCulture) : "";

    private static void WriteCsvLine(string path, string line, bool append)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        if (append) File.AppendAllText(path, line + "\n");
        else File.WriteAllText(path, line + "\n");
    }

    private (double Loss, double Accuracy) TrainEpoch(DataLoader loader, int epoch, TrainerOptions options)
    {
        _model.Train();
        double lossSum = 0, correct = 0;
        long seen = 0;
        int steps = loader.Count, step = 0;
        var sw = Stopwatch.StartNew();
        var progress = Reporter(options);
        progress?.EpochStarted(epoch, options.Epochs, steps);
        var dp = options.DataParallel;
        if (options.Precision is DType low && !low.IsLowPrecision())
            throw new ArgumentException($"Trainer: Precision must be bfloat16 or float16 (or null for float32), got {low.Name()}");
        if (options.Precision == DType.Float16) _scaler ??= new GradScaler();
        Tensor Forward(Tensor input, Tensor target, out Tensor output)
        {
            using var cast = options.Precision is DType t ? Autocast.Enable(t) : null;
            output = _model.Call(input);
            return _loss(output, target);
        }
        void Backward(Tensor loss)
        {
            if (_scaler is not null && options.Precision == DType.Float16) _scaler.ScaleLoss(loss).Backward();
            else loss.Backward();
        }
        foreach (var batch in loader)
        {
            var (x, y) = (batch[0], batch[^1]);
            if (step == 0 && options.TensorBoard is { } tbImages && !_imagesLogged) _imagesLogged = LogInputs(tbImages, x, options.InputImageShape);
            int n = x.Size(0);
            double lv, batchCorrect = 0;
            _optimizer.ZeroGrad();
            if (dp is null)
            {
                var loss = Forward(x, y, out var output);
                lv = loss.Item();
                if (!double.IsFinite(lv))
                    throw new InvalidOperationException($"Trainer: the loss became {lv} at epoch {epoch}, step {step + 1}. Lower the learning rate or clip gradients.");
                Backward(loss);
                if (options.Classification && y.DType == DType.Int64 && output.Dim == 2)
                    using (Tensor.NoGrad()) batchCorrect = Metrics.Accuracy(output, y) * n;
            }
            else
            {
                // This rank's rows of the global batch; the loss is a mean over them, so the gradient is weighted by
                // their share when summed across ranks: the sum is the gradient of the mean over the whole batch.
                var (start, count) = IDataParallel.Shard(n, dp.Rank, dp.WorldSize);
                double localLoss = 0, localCorrect = 0;
                dp.BeginStep((double)count / n);
                if (count > 0)
                {
                    var (xs, ys) = (x.Narrow(0, start, count), y.Narrow(0, start, count));
                    var loss = Forward(xs, ys, out var output);
                    double l = loss.Item();
                    localLoss = l * count;
                    if (double.IsFinite(l)) Backward(loss);   // a NaN is reported below, on every rank at once
                    if (options.Classification && ys.DType == DType.Int64 && output.Dim == 2)
                        using (Tensor.NoGrad()) localCorrect = Metrics.Accuracy(output, ys) * count;
                }
                dp.EndStep();
                var sums = dp.AllReduceSum([localLoss, localCorrect]);
                (lv, batchCorrect) = (sums[0] / n, sums[1]);
                if (!double.IsFinite(lv))
                    throw new InvalidOperationException($"Trainer: the loss became {lv} at epoch {epoch}, step {step + 1} (summed over {dp.WorldSize} ranks). Lower the learning rate or clip gradients.");
            }
            if (_scaler is not null && options.Precision == DType.Float16)
            {
                _scaler.Unscale(_optimizer);
                if (options.ClipGradNorm is double max16) Optimizer.ClipGradNorm(_model.Parameters(), max16);
                _scaler.Step(_optimizer);
                _scaler.Update();
            }
            else
            {
                if (options.ClipGradNorm is double max) Optimizer.ClipGradNorm(_model.Parameters(), max);
                _optimizer.Step();
            }
            Scheduler?.Step();
            OnBatchEnd?.Invoke();
            _globalStep++;
            lossSum += lv * n;
            seen += n;
            correct += batchCorrect;
            step++;
            if (options.TensorBoard is { } tb && (_globalStep % Math.Max(1, options.TensorBoardEvery) == 0 || step == steps))
                TensorBoardLog.Step(tb, _globalStep, lv, _optimizer.LearningRate, seen / sw.Elapsed.TotalSeconds);
            progress?.StepCompleted(epoch, step, steps, lossSum / seen, seen / sw.Elapsed.TotalSeconds);
        }
        return (seen == 0 ? double.NaN : lossSum / seen, seen == 0 ? double.NaN : correct / seen);
    }

    /// <summary>Average loss, accuracy and predictions over a loader, in eval mode without gradients.</summary>
    public Evaluation Evaluate(DataLoader loader)
    {
        bool wasTraining = _model.Training;
        _model.Eval();
        double lossSum = 0, correct = 0;
        int count = 0;
        var preds = new List<Tensor>();
        var targets = new List<Tensor>();
        using (Tensor.NoGrad())
        {
            foreach (var batch in loader)
            {
                var (x, y) = (batch[0], batch[^1]);
                var output = _model.Call(x);
                int n = x.Size(0);
                lossSum += _loss(output, y).Item() * n;
                if (y.DType == DType.Int64 && output.Dim == 2)
                {
                    correct += Metrics.Accuracy(output, y) * n;
                    preds.Add(output.ArgMax(-1));
                    targets.Add(y);
                }
                count += n;
            }
        }
        _model.Train(wasTraining);
        var p = preds.Count > 0 ? Tensor.Cat(preds) : Tensor.Zeros([0], DType.Int64);
        var t = targets.Count > 0 ? Tensor.Cat(targets) : Tensor.Zeros([0], DType.Int64);
        return new Evaluation(count == 0 ? double.NaN : lossSum / count, count == 0 ? double.NaN : correct / count, count, p, t);
    }

    /// <summary>Model (model.*) and optimizer (optim.*) state plus epoch/best in the metadata, in one safetensors file.</summary>
    public void SaveCheckpoint(string path, int epoch, double best, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var tensors = new Dictionary<string, Tensor>();
        foreach (var (k, v) in _model.StateDict()) tensors["model." + k] = v;
        foreach (var (k, v) in _optimizer.StateDict()) tensors["optim." + k] = v;
        var meta = metadata?.ToDictionary(kv => kv.Key, kv => kv.Value) ?? new Dictionary<string, string>();
        meta["epoch"] = epoch.ToString(CultureInfo.InvariantCulture);
        meta["best"] = best.ToString("R", CultureInfo.InvariantCulture);
        meta["format"] = "ember-checkpoint-1";
        if (Scheduler is not null) meta["scheduler_step"] = Scheduler.LastStep.ToString(CultureInfo.InvariantCulture);
        meta["rng"] = string.Join(";", RandomSources().Select(g => string.Join(",", g.GetState().Select(w => w.ToString("x", CultureInfo.InvariantCulture)))));
        Safetensors.Save(path, tensors, meta);
    }

    private (int StartEpoch, double Best) Resume(string path)
    {
        var tensors = Safetensors.Load(path, out var meta);
        LoadModelState(_model, tensors, path);
        _optimizer.LoadStateDict(tensors.Where(kv => kv.Key.StartsWith("optim.")).ToDictionary(kv => kv.Key["optim.".Length..], kv => kv.Value));
        int epoch = meta.TryGetValue("epoch", out var e) ? int.Parse(e, CultureInfo.InvariantCulture) : 0;
        double best = meta.TryGetValue("best", out var b) ? double.Parse(b, CultureInfo.InvariantCulture) : double.NaN;
        if (meta.TryGetValue("rng", out var rng))
        {
            // The generators' states at the checkpoint: the next epoch's shuffle and dropout masks are those the
            // uninterrupted run drew (checkpoints written before this have none, and resume with fresh generators).
            var sources = RandomSources();
            var states = rng.Split(';');
            if (states.Length != sources.Count)
                throw new InvalidDataException($"Trainer: {path} holds {states.Length} random generator states, this model and loader have {sources.Count}; it was saved from another setup.");
            for (int i = 0; i < states.Length; i++)
            {
                try { sources[i].SetState(states[i].Split(',').Select(w => ulong.Parse(w, NumberStyles.HexNumber, CultureInfo.InvariantCulture)).ToArray()); }
                catch (Exception ex) when (ex is FormatException or OverflowException or ArgumentException)
                {
                    throw new InvalidDataException($"Trainer: {path} has an unreadable generator state {i} ('{states[i]}').", ex);
                }
            }
        }
        if (Scheduler is not null)
        {
            if (!meta.TryGetValue("scheduler_step", out var st) || !int.TryParse(st, NumberStyles.Integer, CultureInfo.InvariantCulture, out int step) || step < 0)
                throw new InvalidDataException($"Trainer: {path} holds no scheduler step ('scheduler_step'); it was saved without a schedule, so resuming one from it would restart the schedule.");
            Scheduler.Restore(step);
        }
        return (epoch + 1, best);
    }

    /// <summary>Every generator a training step draws from, in a fixed order: the training loader's shuffle, then each
    /// module's (by module order, each once; <see cref="Generator.Default"/> only when a module draws from it).</summary>
    private List<Generator> RandomSources()
    {
        var list = new List<Generator>();
        if (_train is not null) list.Add(_train.ShuffleGenerator);
        foreach (var (_, m) in _model.NamedModules())
            if (m.RandomSource is { } g && !list.Any(x => ReferenceEquals(x, g))) list.Add(g);
        return list;
    }

    /// <summary>Loads the model.* entries of a checkpoint (or a plain state dict) into <paramref name="model"/>.</summary>
    public static void LoadModelState(Module model, IReadOnlyDictionary<string, Tensor> tensors, string source)
    {
        var modelState = tensors.Keys.Any(k => k.StartsWith("model."))
            ? tensors.Where(kv => kv.Key.StartsWith("model.")).ToDictionary(kv => kv.Key["model.".Length..], kv => kv.Value)
            : tensors.ToDictionary(kv => kv.Key, kv => kv.Value);
        // A checkpoint saved after int8 quantization holds int8 weights with their scales: quantize those layers first.
        if (modelState.Values.Any(t => t.DType == DType.Int8)) Quantization.Quantize.ToMatch(model, modelState);
        try { model.LoadStateDict(modelState); }
        catch (ArgumentException ex) { throw new ArgumentException($"{source} does not fit this model: {ex.Message}", ex); }
    }
}
