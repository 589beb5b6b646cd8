using System.Diagnostics;
using System.Globalization;
using Ember.IO;
using Ember.Models;
using Ember.NN;
using Ember.Optim;

namespace Ember.Training;

public static partial class Milestones
{
    /// <summary>A daily series: dates (consecutive days), the target values and the table's other columns.</summary>
    public sealed record DailySeries(DateOnly[] Dates, double[] Values, string Target, CsvTable Table);

    /// <summary>Reads a daily series from a CSV with a <c>date</c> column (yyyy-MM-dd) and a numeric target column; rows
    /// are sorted by date and must be consecutive days (a gap or duplicate is an error naming the dates), and every target
    /// cell must parse (an error names its line).</summary>
    public static DailySeries ReadDailySeries(string path, string target = "ridership", string dateColumn = "date")
    {
        var table = CsvTable.Read(path);
        int di = table.ColumnIndex(dateColumn), ti = table.ColumnIndex(target);
        int n = table.Rows.Count;
        var rows = new (DateOnly Date, double Value)[n];
        for (int i = 0; i < n; i++)
        {
            var r = table.Rows[i];
            if (!DateOnly.TryParseExact(r[di], "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var d))
                throw new InvalidDataException($"{path}: line {table.RowLines[i]}: '{r[di]}' in column '{dateColumn}' is not a yyyy-MM-dd date.");
            if (!double.TryParse(r[ti], NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !double.IsFinite(v))
                throw new InvalidDataException($"{path}: line {table.RowLines[i]}: '{r[ti]}' in column '{target}' is not a number.");
            rows[i] = (d, v);
        }
        Array.Sort(rows, (a, b) => a.Date.CompareTo(b.Date));
        for (int i = 1; i < n; i++)
            if (rows[i].Date.DayNumber != rows[i - 1].Date.DayNumber + 1)
                throw new InvalidDataException($"{path}: the series is not daily without gaps: {rows[i - 1].Date:yyyy-MM-dd} is followed by {rows[i].Date:yyyy-MM-dd}.");
        return new DailySeries(rows.Select(r => r.Date).ToArray(), rows.Select(r => r.Value).ToArray(), target, table);
    }

    /// <summary>Settings of the next-day forecasting comparison (the sequence milestone).</summary>
    public sealed record ForecastRecipe
    {
        /// <summary>Days of history each forecast reads.</summary>
        public int Window { get; init; } = 28;
        public int Epochs { get; init; } = 30;
        public int BatchSize { get; init; } = 64;
        public double LearningRate { get; init; } = 2e-3;
        public int Hidden { get; init; } = 64;
        /// <summary>The last <see cref="TestDays"/> targets are the test set; the <see cref="ValidationDays"/> before them
        /// choose each model's best epoch; everything earlier trains.</summary>
        public int TestDays { get; init; } = 365;
        public int ValidationDays { get; init; } = 365;
        public ForecasterKind[] Models { get; init; } = [ForecasterKind.Lstm, ForecasterKind.Gru, ForecasterKind.Cnn, ForecasterKind.Transformer];
        public ulong Seed { get; init; } = 1;
    }

    /// <summary>One model's line of the forecasting report (MAE in the series' units).</summary>
    public sealed record ForecastReport(string Model, double ValidationMae, double TestMae, int BestEpoch, int Parameters, double Seconds);

    /// <summary>The outcome of a sequence run: the report, the seasonal-naive baseline and the result.</summary>
    public sealed record ForecastOutcome(MilestoneResult Result, IReadOnlyList<ForecastReport> Reports, double BaselineTestMae, double PersistenceTestMae,
        DateOnly[] TestDates, double[] TestActual, IReadOnlyDictionary<string, double[]> TestPredictions);

    /// <summary>Windows of the series for targets at <paramref name="targets"/>: inputs (N, W, 8) = the standardized value
    /// and the one-hot weekday of each of the W previous days; outputs (N, 1) the standardized target.</summary>
    public static (Tensor X, Tensor Y) ForecastWindows(DailySeries s, int[] targets, int window, double mean, double std)
    {
        const int f = 8;
        var x = new float[targets.Length * window * f];
        var y = new float[targets.Length];
        for (int i = 0; i < targets.Length; i++)
        {
            int t = targets[i];
            if (t < window) throw new ArgumentException($"ForecastWindows: target day {t} has fewer than {window} days of history.");
            for (int k = 0; k < window; k++)
            {
                int day = t - window + k, o = (i * window + k) * f;
                x[o] = (float)((s.Values[day] - mean) / std);
                x[o + 1 + (int)s.Dates[day].DayOfWeek] = 1;
            }
            y[i] = (float)((s.Values[t] - mean) / std);
        }
        return (Tensor.FromArray(x, targets.Length, window, f), Tensor.FromArray(y, targets.Length, 1));
    }

    /// <summary>The sequence milestone: next-day forecasting of a daily series (Chicago "L" ridership at Clark/Lake) with an
    /// LSTM, a GRU, a 1-D CNN and a Transformer, each reading the previous <see cref="ForecastRecipe.Window"/> days,
    /// against the seasonal-naive baseline (the same weekday a week earlier). The last year is held out; each model keeps
    /// its best epoch on the year before. Gate: the best model's test MAE is below the baseline's (the metric is the
    /// baseline's MAE minus the best model's, so it must be above 0).</summary>
    public static ForecastOutcome Forecast(DailySeries series, ForecastRecipe? recipe = null, Action<string>? log = null)
    {
        var sw = Stopwatch.StartNew();
        recipe ??= new ForecastRecipe();
        int n = series.Values.Length, w = recipe.Window;
        int testStart = n - recipe.TestDays, valStart = testStart - recipe.ValidationDays;
        if (w < 7 || valStart - w < 10 * recipe.BatchSize)
            throw new ArgumentException($"Forecast: {n} days leave too little training data for window {w}, {recipe.ValidationDays} validation and {recipe.TestDays} test days (window must be at least 7).");
        int[] Range(int from, int to) => Enumerable.Range(from, to - from).ToArray();
        int[] trainT = Range(w, valStart), valT = Range(valStart, testStart), testT = Range(testStart, n);
        var trainValues = trainT.Select(t => series.Values[t]).ToArray();
        double mean = trainValues.Average(), std = Math.Sqrt(trainValues.Select(v => (v - mean) * (v - mean)).Average());
        var (xtr, ytr) = ForecastWindows(series, trainT, w, mean, std);
        var (xva, _) = ForecastWindows(series, valT, w, mean, std);
        var (xte, _) = ForecastWindows(series, testT, w, mean, std);
        double Mae(int[] targets, Func<int, double> predict) => targets.Average(t => Math.Abs(predict(t) - series.Values[t]));
        double baseline = Mae(testT, t => series.Values[t - 7]);
        double persistence = Mae(testT, t => series.Values[t - 1]);
        log?.Invoke($"{trainT.Length} training, {valT.Length} validation, {testT.Length} test days ({series.Dates[testStart]:yyyy-MM-dd} … {series.Dates[^1]:yyyy-MM-dd}); " +
            $"seasonal-naive test MAE {baseline:F4}, persistence {persistence:F4}");

        double[] Predict(Module m, Tensor x)
        {
            m.Eval();
            using var _ = Tensor.NoGrad();
            var p = new List<double>();
            for (int start = 0; start < x.Size(0); start += 512)
                p.AddRange(m.Call(x.Narrow(0, start, Math.Min(512, x.Size(0) - start))).ToArrayDouble().Select(v => v * std + mean));
            return p.ToArray();
        }
        double ModelMae(int[] targets, double[] predictions) => targets.Select((t, i) => Math.Abs(predictions[i] - series.Values[t])).Average();

        var reports = new List<ForecastReport>();
        var predictions = new Dictionary<string, double[]> { ["seasonal naive"] = testT.Select(t => series.Values[t - 7]).ToArray() };
        bool moved = true;
        foreach (var kind in recipe.Models)
        {
            var start = sw.Elapsed;
            var g = new Generator(recipe.Seed);
            var model = new Forecaster(kind, w, 8, recipe.Hidden, layers: kind == ForecasterKind.Transformer ? 2 : 1, generator: g);
            var initial = Snapshot(model);
            var opt = new AdamW(model.Parameters(), lr: recipe.LearningRate, weightDecay: 1e-4);
            int steps = (trainT.Length + recipe.BatchSize - 1) / recipe.BatchSize;
            var schedule = new OneCycleLR(opt, recipe.LearningRate, recipe.Epochs * steps);
            var order = new Generator(recipe.Seed + 17);
            double bestVal = double.PositiveInfinity;
            int bestEpoch = 0;
            Dictionary<string, Tensor>? best = null;
            for (int epoch = 1; epoch <= recipe.Epochs; epoch++)
            {
                model.Train();
                var perm = Tensor.RandPerm(trainT.Length, order);
                double total = 0;
                for (int b = 0; b < steps; b++)
                {
                    var idx = perm.Narrow(0, b * recipe.BatchSize, Math.Min(recipe.BatchSize, trainT.Length - b * recipe.BatchSize));
                    var loss = Functional.L1Loss(model.Call(xtr.IndexSelect(0, idx)), ytr.IndexSelect(0, idx));
                    opt.ZeroGrad();
                    loss.Backward();
                    Optimizer.ClipGradNorm(model.Parameters(), 1.0);
                    opt.Step();
                    schedule.Step();
                    total += loss.Item();
                }
                double val = ModelMae(valT, Predict(model, xva));
                if (val < bestVal)
                {
                    (bestVal, bestEpoch) = (val, epoch);
                    best = model.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.Clone());
                }
                if (log is not null && (epoch % 5 == 0 || epoch == 1))
                    log($"{kind} epoch {epoch}/{recipe.Epochs}: train L1 {total / steps:F4} (standardized), validation MAE {val:F4}");
            }
            moved &= Snapshot(model).Zip(initial).Any(p => Math.Abs(p.First - p.Second) > 1e-6);
            model.LoadStateDict(best!);
            var testPredictions = Predict(model, xte);
            predictions[kind.ToString()] = testPredictions;
            double test = ModelMae(testT, testPredictions);
            var report = new ForecastReport(kind.ToString(), bestVal, test, bestEpoch, (int)model.ParameterCount, (sw.Elapsed - start).TotalSeconds);
            log?.Invoke($"{kind}: test MAE {test:F4} (best epoch {bestEpoch}, validation MAE {bestVal:F4}), {report.Seconds:F0}s");
            reports.Add(report);
        }
        var winner = reports.MinBy(r => r.TestMae)!;
        var details = $"test MAE over {testT.Length} days: " + string.Join(", ", reports.Select(r => $"{r.Model} {r.TestMae:F4}")) +
            $"; seasonal naive {baseline:F4}; persistence {persistence:F4}; best {winner.Model}; {sw.Elapsed.TotalSeconds:F0}s";
        var result = new MilestoneResult("sequence", "mae_below_baseline", baseline - winner.TestMae, 0, moved, sw.Elapsed.TotalSeconds, details);
        return new ForecastOutcome(result, reports, baseline, persistence, testT.Select(t => series.Dates[t]).ToArray(),
            testT.Select(t => series.Values[t]).ToArray(), predictions);
    }
}
