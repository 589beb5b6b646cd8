
namespace Ember.Recipes.Tabular;

/// <summary>Settings of a tabular comparison (<c>ember tabular train</c>).</summary>
public sealed record TabularCompareOptions
{
    public required string Target { get; init; }
    public IReadOnlyDictionary<string, ColumnKind>? Overrides { get; init; }
    public IReadOnlyList<string>? Ignore { get; init; }
    /// <summary>The model to train beside the baselines (majority / mean, the TF-IDF linear model with C chosen on
    /// validation, gradient boosting on the structured columns).</summary>
    public TabularModelKind Kind { get; init; } = TabularModelKind.Hybrid;
    public FusionKind Fusion { get; init; } = FusionKind.Concat;
    public bool Wide { get; init; }
    /// <summary>Also compare the ablations: the MLP alone (no text branch), the text Transformer alone (no structured
    /// branch), the FT-Transformer and every fusion type.</summary>
    public bool Ablations { get; init; }
    /// <summary>Folds of cross-validation over the non-test rows; 1 means a single split with <see cref="ValidationFraction"/>.</summary>
    public int Folds { get; init; } = 5;
    public double ValidationFraction { get; init; } = 0.2;
    /// <summary>Rows held out for the final test, when no separate test table is given.</summary>
    public double TestFraction { get; init; } = 0.2;
    public int TextVocab { get; init; } = 2000;
    public int MaxTokens { get; init; } = 128;
    public int DModel { get; init; } = 64;
    public int Layers { get; init; } = 2;
    public int Hidden { get; init; } = 128;
    public double Dropout { get; init; } = 0.1;
    public TabularFitOptions Fit { get; init; } = new();
    public ulong Seed { get; init; } = 1;
    /// <summary>The seed of the test split and the folds (default: <see cref="Seed"/>); fixed across <c>--seeds</c>.</summary>
    public ulong? SplitSeed { get; init; }
}

/// <summary>One model's line of the comparison: the validation score per fold and the test score of the best fold's
/// model. Classification scores are ROC AUC (and accuracy); regression scores RMSE (and MAE).</summary>
public sealed record TabularComparisonRow(string Model, double[] FoldScores, double[] FoldAccuracyOrMae, TabularScores Test)
{
    public double Mean => FoldScores.Average();
    public double Std => FoldScores.Length < 2 ? 0 : Math.Sqrt(FoldScores.Sum(v => (v - Mean) * (v - Mean)) / (FoldScores.Length - 1));
}

/// <summary>The comparison and the best neural model (with its preprocessing) for saving.</summary>
public sealed record TabularComparison(IReadOnlyList<TabularComparisonRow> Rows, bool Classification, TabularModel Best, string BestName,
    TabularPreprocessor Preprocessor, int TestRows);

/// <summary>k-fold cross-validation of the tabular models and baselines, with a held-out test split.</summary>
public static class TabularExperiment
{
    /// <summary>The linear baseline's name in reports.</summary>
    public static string LinearName(TabularPreprocessor prep) => prep.Classification
        ? (prep.Tfidf is null ? "logistic regression" : "tf-idf logistic")
        : (prep.Tfidf is null ? "ridge regression" : "tf-idf ridge");

    /// <summary>The gradient-boosting baseline's name in reports.</summary>
    public const string BoostingName = "gradient boosting (structured)";

    public static TabularComparison Compare(CsvTable table, TabularCompareOptions o, CsvTable? testTable = null, Action<string>? log = null)
    {
        if (o.Folds < 1) throw new ArgumentException($"Tabular: --cv must be at least 1, got {o.Folds}.");
        int n = table.Rows.Count;
        var perm = Tensor.RandPerm(n, new Generator((o.SplitSeed ?? o.Seed) + 3)).ToArray<long>().Select(i => (int)i).ToArray();
        int nTest = testTable is null ? (int)(n * o.TestFraction) : 0;
        var testRows = testTable is null ? perm[..nTest] : Enumerable.Range(0, testTable.Rows.Count).ToArray();
        var test = testTable ?? table;
        var pool = perm[nTest..];
        if (pool.Length < 10 * Math.Max(2, o.Folds))
            throw new InvalidDataException($"Tabular: {pool.Length} rows left for training are too few for {o.Folds} folds.");
        var folds = new List<(int[] Train, int[] Val)>();
        if (o.Folds == 1)
        {
            int nVal = Math.Max(1, (int)(pool.Length * o.ValidationFraction));
            folds.Add((pool[nVal..], pool[..nVal]));
        }
        else
            for (int f = 0; f < o.Folds; f++)
            {
                int lo = pool.Length * f / o.Folds, hi = pool.Length * (f + 1) / o.Folds;
                folds.Add((pool[..lo].Concat(pool[hi..]).ToArray(), pool[lo..hi]));
            }

        var names = new List<string>();
        var scores = new Dictionary<string, List<(double Sel, double Other)>>();
        var tests = new Dictionary<string, TabularScores>();
        var bestVal = new Dictionary<string, double>();
        TabularModel? best = null;
        TabularPreprocessor? bestPrep = null;
        string bestName = "";
        double bestScore = double.NegativeInfinity;
        void Record(string name, TabularScores val, Func<TabularScores> testScore)
        {
            if (!scores.ContainsKey(name)) { names.Add(name); scores[name] = new(); }
            scores[name].Add((Primary(val), double.IsNaN(val.Auc) ? val.Mae : val.Accuracy));
            // Each model's test score is that of its best fold (by validation).
            if (!bestVal.TryGetValue(name, out var b) || val.Selection > b)
            {
                bestVal[name] = val.Selection;
                tests[name] = testScore();
            }
        }

        for (int f = 0; f < folds.Count; f++)
        {
            var (trainRows, valRows) = folds[f];
            var prep = TabularPreprocessor.Fit(table, o.Target, trainRows, o.Overrides, o.Ignore, o.TextVocab, o.MaxTokens);
            var tr = prep.TransformWithTarget(table, trainRows);
            var va = prep.TransformWithTarget(table, valRows);
            var te = prep.TransformWithTarget(test, testRows);
            log?.Invoke($"fold {f + 1}/{folds.Count}: {trainRows.Length} training, {valRows.Length} validation, {testRows.Length} test rows");
            Record(prep.Classification ? "majority class" : "training mean", TabularTraining.Score(TabularTraining.MajorityPredict(tr.Y, va.Count, prep.Outputs), va.Y),
                () => TabularTraining.Score(TabularTraining.MajorityPredict(tr.Y, te.Count, prep.Outputs), te.Y));
            var (linear, c, linVal) = TabularBaselines.FitLinear(tr, va, prep.Outputs);
            Record(LinearName(prep), linVal, () => TabularTraining.Score(linear(te.X), te.Y));
            log?.Invoke($"  {LinearName(prep)} (C = {c:G3}): validation {TabularTraining.Describe(linVal)}");
            if (TabularBaselines.FitBoosting(tr, va, prep.Outputs) is var (boost, iterations, boostVal))
            {
                Record(BoostingName, boostVal, () => TabularTraining.Score(boost(te.X), te.Y));
                log?.Invoke($"  {BoostingName} ({iterations} iterations): validation {TabularTraining.Describe(boostVal)}");
            }
            var kinds = new List<(TabularModelKind, FusionKind, bool)>();
            if (o.Ablations)
            {
                // Each branch alone (no text branch, no structured branch), the FT-Transformer and every fusion.
                if (prep.Encoder.Width > 0) kinds.Add((TabularModelKind.Mlp, FusionKind.Concat, false));
                if (prep.Text is not null) kinds.Add((TabularModelKind.Text, FusionKind.Concat, false));
                if (prep.Encoder.NumericWidth + prep.Encoder.Cardinalities.Length > 0) kinds.Add((TabularModelKind.FtTransformer, FusionKind.Concat, false));
                if (prep.Text is not null && prep.Encoder.Width > 0)
                    foreach (var fu in new[] { FusionKind.Concat, FusionKind.Cross, FusionKind.Gated })
                        if (fu != FusionKind.Cross || prep.Encoder.NumericWidth + prep.Encoder.Cardinalities.Length > 0)
                            kinds.Add((TabularModelKind.Hybrid, fu, o.Wide));
            }
            if (!kinds.Contains((o.Kind, o.Fusion, o.Wide))) kinds.Add((o.Kind, o.Fusion, o.Wide));
            foreach (var (kind, fusion, wide) in kinds)
            {
                if (kind == TabularModelKind.Hybrid && (prep.Text is null || prep.Encoder.Width == 0))
                    throw new InvalidDataException($"Tabular: a hybrid needs a text column and structured columns; this table has {(prep.Text is null ? "no text column" : "no structured column")} (use --text / --categorical / --numeric to set column kinds).");
                var config = prep.ModelConfig(kind, fusion, o.DModel, o.Layers, o.Hidden, o.Dropout, wide);
                string name = Milestones.ModelName(kind, fusion, wide);
                var run = $"{RunName(name)}/seed{o.Seed}-fold{f + 1}";
                var (model, _, val) = TabularTraining.Fit(config, tr, va, o.Fit with { Seed = o.Seed + (ulong)f, TensorBoardRun = run }, log);
                Record(name, val, () => TabularTraining.Score(TabularTraining.Predict(model, te.X), te.Y));
                log?.Invoke($"  {name}: validation {TabularTraining.Describe(val)}");
                if ((kind, fusion, wide) == (o.Kind, o.Fusion, o.Wide) && val.Selection > bestScore)
                    (bestScore, best, bestPrep, bestName) = (val.Selection, model, prep, name);
            }
        }
        bool classification = bestPrep!.Classification;
        var rows = names.Select(nm => new TabularComparisonRow(nm, scores[nm].Select(s => s.Sel).ToArray(), scores[nm].Select(s => s.Other).ToArray(), tests[nm])).ToList();
        return new TabularComparison(rows, classification, best!, bestName, bestPrep, testRows.Length);
    }

    /// <summary>Runs <see cref="Compare"/> once per seed (seed, seed + 1, …) on the same test split and folds: every model
    /// is re-initialized and its batches reshuffled. Each row's scores are all folds of all seeds (so the ± includes seed
    /// variance); its test score and the saved model come from the seed whose validation mean was best.</summary>
    public static TabularComparison CompareSeeds(CsvTable table, TabularCompareOptions o, int seeds, CsvTable? testTable = null, Action<string>? log = null)
    {
        if (seeds < 1) throw new ArgumentException($"Tabular: --seeds must be at least 1, got {seeds}.");
        var runs = new List<TabularComparison>();
        for (int k = 0; k < seeds; k++)
        {
            if (seeds > 1) log?.Invoke($"seed {o.Seed + (ulong)k} ({k + 1} of {seeds})");
            runs.Add(Compare(table, o with { Seed = o.Seed + (ulong)k, SplitSeed = o.SplitSeed ?? o.Seed }, testTable, log));
        }
        if (seeds == 1) return runs[0];
        bool higherBetter = runs[0].Classification;
        double Key(TabularComparisonRow r) => higherBetter ? r.Mean : -r.Mean;
        var rows = runs[0].Rows.Select(r0 =>
        {
            var same = runs.Select(run => run.Rows.First(r => r.Model == r0.Model)).ToList();
            var best = same.MaxBy(Key)!;
            return new TabularComparisonRow(r0.Model, same.SelectMany(r => r.FoldScores).ToArray(), same.SelectMany(r => r.FoldAccuracyOrMae).ToArray(), best.Test);
        }).ToList();
        var bestRun = runs.MaxBy(run => Key(run.Rows.First(r => r.Model == run.BestName)))!;
        return bestRun with { Rows = rows };
    }

    /// <summary>One trial of a hyperparameter search and its validation score (ROC AUC, or RMSE for regression).</summary>
    public sealed record SearchTrial(int Trial, double LearningRate, int DModel, int Layers, double Dropout, double Score, int BestEpoch, double Seconds);

    /// <summary>Random search (Bergstra &amp; Bengio, 2012) over learning rate (log-uniform 3e-4…3e-3), width (d_model 32,
    /// 64 or 128), depth (1–3 layers) and dropout (0–0.3) for the model of <paramref name="o"/>: each of
    /// <paramref name="trials"/> trials trains on one split of the non-test rows and is scored on its validation rows.
    /// Returns the trials best first; the test rows (chosen as in <see cref="Compare"/>) are never touched.</summary>
    public static IReadOnlyList<SearchTrial> Search(CsvTable table, TabularCompareOptions o, int trials, Action<string>? log = null)
    {
        if (trials < 1) throw new ArgumentException($"Tabular search: the trial budget must be positive, got {trials}.");
        var (prep, tr, va) = SearchSplit(table, o);
        var g = new Generator(o.Seed + 99);
        var results = new List<SearchTrial>();
        for (int t = 0; t < trials; t++)
        {
            double lr = Math.Exp(Math.Log(3e-4) + g.NextDouble() * (Math.Log(3e-3) - Math.Log(3e-4)));
            int d = new[] { 32, 64, 128 }[g.NextInt64(0, 3)];
            int layers = (int)g.NextInt64(1, 4);
            double dropout = 0.3 * g.NextDouble();
            var sw = System.Diagnostics.Stopwatch.StartNew();
            var config = prep.ModelConfig(o.Kind, o.Fusion, d, layers, o.Hidden, dropout, o.Wide);
            var (_, epoch, val) = TabularTraining.Fit(config, tr, va, o.Fit with { LearningRate = lr, Seed = o.Seed + (ulong)t, TensorBoardRun = $"search/trial{t + 1}" });
            var trial = new SearchTrial(t + 1, lr, d, layers, dropout, Primary(val), epoch, sw.Elapsed.TotalSeconds);
            results.Add(trial);
            log?.Invoke($"trial {trial.Trial}/{trials}: lr {lr:G3}, d_model {d}, layers {layers}, dropout {dropout:F2} → {TabularTraining.Describe(val)} (epoch {epoch}, {trial.Seconds:F0}s)");
        }
        bool higherBetter = prep.Classification;
        return (higherBetter ? results.OrderByDescending(r => r.Score) : results.OrderBy(r => r.Score)).ToList();
    }

    /// <summary>The split a search tunes on: a seeded permutation, the test fraction held out (never touched), a
    /// validation part of the rest; preprocessing fitted on the training rows.</summary>
    internal static (TabularPreprocessor Prep, TabularData Train, TabularData Valid) SearchSplit(CsvTable table, TabularCompareOptions o)
    {
        int n = table.Rows.Count;
        var perm = Tensor.RandPerm(n, new Generator(o.Seed + 3)).ToArray<long>().Select(i => (int)i).ToArray();
        var pool = perm[(int)(n * o.TestFraction)..];
        int nVal = Math.Max(1, (int)(pool.Length * o.ValidationFraction));
        var (trainRows, valRows) = (pool[nVal..], pool[..nVal]);
        var prep = TabularPreprocessor.Fit(table, o.Target, trainRows, o.Overrides, o.Ignore, o.TextVocab, o.MaxTokens);
        return (prep, prep.TransformWithTarget(table, trainRows), prep.TransformWithTarget(table, valRows));
    }

    /// <summary>A model's name as a folder name ("hybrid (concat)" → "hybrid_concat").</summary>
    private static string RunName(string name) =>
        string.Join("_", name.Split([' ', '(', ')', '+', '/', ','], StringSplitOptions.RemoveEmptyEntries)).ToLowerInvariant();

    /// <summary>The reported metric: ROC AUC for classification, RMSE for regression.</summary>
    public static double Primary(TabularScores s) => double.IsNaN(s.Auc) ? s.Rmse : s.Auc;
}
