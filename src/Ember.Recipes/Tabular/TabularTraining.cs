using System.Diagnostics;

namespace Ember.Recipes.Tabular;

/// <summary>Rows of a table ready for a <see cref="TabularModel"/>: the inputs and the target.</summary>
public sealed record TabularData(TabularBatch X, Tensor Y)
{
    public int Count => X.Count;
    public TabularData Rows(Tensor index) => new(X.Rows(index), Y.IndexSelect(0, index));
}

/// <summary>The whole preprocessing of a table, fitted on training rows and saved inside checkpoints: the column
/// encoder (types, standardization, vocabularies) and, when the table has text columns, the text featurizer (its BPE
/// tokenizer, trained on the training texts). Several text columns are joined, one per line.</summary>
public sealed class TabularPreprocessor
{
    public TabularEncoder Encoder { get; }
    public TextFeaturizer? Text { get; }
    /// <summary>TF-IDF of the text (for the linear baseline and the wide part of wide-and-deep models).</summary>
    public TfidfVectorizer? Tfidf { get; }

    private TabularPreprocessor(TabularEncoder encoder, TextFeaturizer? text, TfidfVectorizer? tfidf) => (Encoder, Text, Tfidf) = (encoder, text, tfidf);

    public bool Classification => Encoder.TargetKind == ColumnKind.Categorical;
    public int Outputs => Classification ? Encoder.Classes.Length : 1;

    public static TabularPreprocessor Fit(CsvTable table, string target, IReadOnlyList<int> rows, IReadOnlyDictionary<string, ColumnKind>? overrides = null,
        IEnumerable<string>? ignore = null, int textVocab = 2000, int maxTokens = 128, int minCategoryCount = 2)
    {
        var enc = TabularEncoder.Fit(table, target, rows, overrides, ignore, minCategoryCount);
        if (enc.TargetKind == ColumnKind.Categorical && enc.Classes.Length < 2)
            throw new InvalidDataException($"Tabular: the target '{target}' has {enc.Classes.Length} class; classification needs at least 2.");
        TextFeaturizer? text = null;
        TfidfVectorizer? tfidf = null;
        if (enc.TextColumns.Length > 0)
        {
            var texts = Texts(enc, table, rows);
            text = TextFeaturizer.Fit(texts, textVocab, maxTokens);
            tfidf = TfidfVectorizer.Fit(texts);
        }
        return new TabularPreprocessor(enc, text, tfidf);
    }

    private static string[] Texts(TabularEncoder enc, CsvTable table, IReadOnlyList<int> rows)
    {
        var columns = enc.TextColumns.Select(c => TabularEncoder.TextCells(table, c, rows)).ToArray();
        return Enumerable.Range(0, rows.Count).Select(i => string.Join("\n", columns.Select(c => c[i]))).ToArray();
    }

    /// <summary>The joined text of each row (what the text branch reads).</summary>
    public string[] Texts(CsvTable table, IReadOnlyList<int> rows) => Texts(Encoder, table, rows);

    public TabularBatch Transform(CsvTable table, IReadOnlyList<int> rows)
    {
        var (dense, _) = Encoder.Transform(table, rows, withTarget: false);
        var (numeric, categorical) = Encoder.TransformColumns(table, rows);
        var texts = Text is null ? null : Texts(table, rows);
        return new TabularBatch(dense, numeric, categorical, texts is null ? null : Text!.Transform(texts), texts is null ? null : Tfidf!.Transform(texts));
    }

    public TabularData TransformWithTarget(CsvTable table, IReadOnlyList<int> rows) => new(Transform(table, rows), Encoder.TransformTarget(table, rows));

    /// <summary>A model configuration that fits this preprocessing.</summary>
    public TabularModelConfig ModelConfig(TabularModelKind kind, FusionKind fusion = FusionKind.Concat, int dModel = 64, int layers = 2, int hidden = 128,
        double dropout = 0.1, bool wide = false)
    {
        if (wide && Tfidf is null) throw new ArgumentException("Tabular: a wide (TF-IDF) part needs a text column.");
        return new(kind, Outputs, Encoder.Width, Encoder.NumericWidth, Encoder.Cardinalities, Text?.VocabSize ?? 0,
            Text?.MaxTokens ?? 0, Text?.PadId ?? 0, fusion, dModel, 4, layers, hidden, 2, dropout, wide ? Tfidf!.Vocabulary.Length : 0);
    }

    /// <summary>Adds the preprocessing to checkpoint metadata (keys "preprocessing", "tokenizer_*", "tfidf_*"), beside a
    /// model configuration's keys.</summary>
    public void WriteMetadata(IDictionary<string, string> meta)
    {
        meta["preprocessing"] = Encoder.ToJson();
        Text?.WriteMetadata(meta, "tokenizer_");
        Tfidf?.WriteMetadata(meta, "tfidf_");
    }

    public static TabularPreprocessor FromMetadata(IReadOnlyDictionary<string, string> meta, string source)
    {
        if (!meta.TryGetValue("preprocessing", out var json)) throw new InvalidDataException($"{source}: checkpoint metadata lacks the preprocessing record.");
        var enc = TabularEncoder.FromJson(json, source);
        bool hasText = enc.TextColumns.Length > 0;
        return new TabularPreprocessor(enc, hasText ? TextFeaturizer.FromMetadata(meta, "tokenizer_", source) : null,
            hasText ? TfidfVectorizer.FromMetadata(meta, "tfidf_", source) : null);
    }
}

/// <summary>Scores of a model on a split: accuracy and ROC AUC (classification) or RMSE and MAE (regression).</summary>
public sealed record TabularScores(double Accuracy, double Auc, double Rmse, double Mae)
{
    /// <summary>The number model selection maximizes: AUC for classification, −RMSE for regression.</summary>
    public double Selection => double.IsNaN(Auc) ? -Rmse : Auc;
}

/// <summary>Settings of a tabular training run.</summary>
public sealed record TabularFitOptions
{
    public int Epochs { get; init; } = 15;
    public int BatchSize { get; init; } = 32;
    public double LearningRate { get; init; } = 1e-3;
    public double WeightDecay { get; init; } = 0.01;
    /// <summary>Stop after this many epochs without a better validation score.</summary>
    public int Patience { get; init; } = 4;
    public ulong Seed { get; init; } = 1;
    /// <summary>A folder for TensorBoard logs (null: none); each fit writes a run in its own subfolder,
    /// <see cref="TensorBoardRun"/>, so that TensorBoard overlays the models and folds of an experiment.</summary>
    public string? TensorBoardDir { get; init; }
    /// <summary>The run's subfolder under <see cref="TensorBoardDir"/> ("hybrid-concat/fold1").</summary>
    public string TensorBoardRun { get; init; } = "run";
    /// <summary>Called after each epoch with its validation scores (a tuning trial reports them, and may stop the fit
    /// by throwing).</summary>
    public Action<int, TabularScores>? OnEpoch { get; init; }
}

/// <summary>Training, prediction, scoring and the baselines of the tabular models.</summary>
public static class TabularTraining
{
    /// <summary>Trains with AdamW (cosine schedule after a short warm-up), evaluates on <paramref name="validation"/> after
    /// every epoch, stops early after <see cref="TabularFitOptions.Patience"/> epochs without improvement, and returns the
    /// model with its best epoch's weights.</summary>
    public static (TabularModel Model, int BestEpoch, TabularScores Validation) Fit(TabularModelConfig config, TabularData train, TabularData validation,
        TabularFitOptions options, Action<string>? log = null)
    {
        var model = new TabularModel(config, new Generator(options.Seed));
        bool classification = train.Y.DType == DType.Int64;
        var opt = new AdamW(model.Parameters(), lr: options.LearningRate, weightDecay: options.WeightDecay);
        int steps = EpochLoop.Steps(train.Count, options.BatchSize);
        var schedule = new CosineWithWarmup(opt, Math.Max(1, steps / 2), options.Epochs * steps);
        var order = new Generator(options.Seed + 1);
        TabularScores? best = null;
        int bestEpoch = 0;
        Dictionary<string, Tensor>? bestState = null;
        // Text models train on batches of similar length (each padded to its own longest row, see TabularModel).
        int[]? lengths = config.UsesText && train.X.Text is { } ids ? TabularModel.TextLengths(ids, config.TextPadId) : null;
        using var tb = options.TensorBoardDir is null ? null : new Diagnostics.SummaryWriter(Path.Combine(options.TensorBoardDir, options.TensorBoardRun));
        long step = 0;
        Tensor Loss(Tensor idx)
        {
            var batch = train.Rows(idx);
            var output = model.Forward(batch.X);
            var loss = classification ? Functional.CrossEntropy(output, batch.Y) : Functional.MseLoss(output, batch.Y);
            if (tb is not null && ++step % 10 == 0) TensorBoardLog.Step(tb, step, loss.Item(), opt.LearningRate, double.NaN);
            return loss;
        }
        for (int epoch = 1; epoch <= options.Epochs; epoch++)
        {
            double trainLoss = lengths is null
                ? EpochLoop.Run(model, opt, train.Count, options.BatchSize, order, Loss, schedule.Step)
                : EpochLoop.Run(model, opt, EpochLoop.LengthGroupedBatches(lengths, options.BatchSize, order), Loss, schedule.Step);
            var scores = Score(Predict(model, validation.X), validation.Y);
            log?.Invoke($"  {config.Kind}{(config.Kind == TabularModelKind.Hybrid ? "/" + config.Fusion : "")} epoch {epoch}: train loss {trainLoss:F4}, validation {Describe(scores)}");
            options.OnEpoch?.Invoke(epoch, scores);
            if (tb is not null)
            {
                tb.AddScalar("epoch/train_loss", trainLoss, step);
                if (double.IsNaN(scores.Auc))
                {
                    tb.AddScalar("epoch/val_rmse", scores.Rmse, step);
                    tb.AddScalar("epoch/val_mae", scores.Mae, step);
                }
                else
                {
                    tb.AddScalar("epoch/val_accuracy", scores.Accuracy, step);
                    tb.AddScalar("epoch/val_auc", scores.Auc, step);
                }
                TensorBoardLog.Parameters(tb, model, step);
                tb.Flush();
            }
            if (best is null || scores.Selection > best.Selection)
            {
                (best, bestEpoch) = (scores, epoch);
                bestState = EpochLoop.CopyState(model);
            }
            else if (epoch - bestEpoch >= options.Patience) break;
        }
        model.LoadStateDict(bestState!);
        model.Eval();
        if (tb is not null)
        {
            var hp = new Dictionary<string, object>
            {
                ["kind"] = config.Kind.ToString(), ["fusion"] = config.Fusion.ToString(), ["d_model"] = config.DModel, ["dropout"] = config.Dropout,
                ["lr"] = options.LearningRate, ["batch_size"] = options.BatchSize, ["weight_decay"] = options.WeightDecay, ["seed"] = (double)options.Seed,
            };
            var metrics = new Dictionary<string, double> { ["hparam/best_epoch"] = bestEpoch, ["hparam/selection"] = best!.Selection };
            tb.AddHparams(hp, metrics, step);
        }
        return (model, bestEpoch, best!);
    }

    public static string Describe(TabularScores s) => double.IsNaN(s.Auc)
        ? $"RMSE {s.Rmse:F4} MAE {s.Mae:F4}"
        : $"accuracy {s.Accuracy:F4} AUC {s.Auc:F4}";

    /// <summary>Class probabilities (N, C) or predictions (N, 1), in eval mode without gradients, in chunks (rows with
    /// text go by length, so that each chunk is cut to its own longest row; the results come back in row order).</summary>
    public static Tensor Predict(TabularModel model, TabularBatch x, int chunk = 128)
    {
        bool was = model.Training;
        model.Eval();
        try
        {
            using var _ = Tensor.NoGrad();
            Tensor? order = null;
            if (model.Config.UsesText && x.Text is { } ids && x.Count > chunk)
            {
                var lengths = TabularModel.TextLengths(ids, model.Config.TextPadId);
                order = Tensor.FromArray(Enumerable.Range(0, x.Count).OrderBy(i => lengths[i]).Select(i => (long)i).ToArray());
                x = x.Rows(order);
            }
            var parts = new List<Tensor>();
            for (int start = 0; start < x.Count; start += chunk)
            {
                var y = model.Forward(x.Slice(start, Math.Min(chunk, x.Count - start)));
                parts.Add(model.Config.Outputs > 1 ? y.Softmax(-1) : y);   // classifiers have at least 2 outputs
            }
            var all = Tensor.Cat(parts, 0);
            if (order is null) return all;
            var inverse = new long[x.Count];
            var o = order.ToArray<long>();
            for (int i = 0; i < o.Length; i++) inverse[o[i]] = i;
            return all.IndexSelect(0, Tensor.FromArray(inverse));
        }
        finally { model.Train(was); }
    }

    /// <summary>Scores predictions: probabilities (N, C) against int64 classes, or values (N, 1) against float targets.</summary>
    public static TabularScores Score(Tensor predictions, Tensor target)
    {
        if (target.DType == DType.Int64)
        {
            double acc = predictions.ArgMax(-1).Eq(target).To(DType.Float64).Mean().Item();
            return new TabularScores(acc, Metrics.RocAuc(predictions, target), double.NaN, double.NaN);
        }
        var err = predictions.To(DType.Float64).Sub(target.To(DType.Float64));
        return new TabularScores(double.NaN, double.NaN, Math.Sqrt(err.Pow(2).Mean().Item()), err.Abs().Mean().Item());
    }

    /// <summary>The majority class (classification: its one-hot "probabilities") or the training mean (regression).</summary>
    public static Tensor MajorityPredict(Tensor trainTarget, int count, int classes)
    {
        if (trainTarget.DType == DType.Int64)
        {
            var counts = new long[classes];
            foreach (var y in trainTarget.ToArray<long>()) counts[y]++;
            int major = Array.IndexOf(counts, counts.Max());
            var p = new float[count * classes];
            for (int i = 0; i < count; i++) p[i * classes + major] = 1;
            return Tensor.FromArray(p, count, classes);
        }
        return Tensor.Full([count, 1], trainTarget.To(DType.Float64).Mean().Item(), DType.Float32);
    }
}
