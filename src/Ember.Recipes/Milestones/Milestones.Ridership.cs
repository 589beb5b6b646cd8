using System.Diagnostics;
using System.Globalization;

namespace Ember.Recipes;

public static partial class Milestones
{
    /// <summary>A daily series: dates (consecutive days), the target values and the table's other columns.</summary>
    public sealed record DailySeries(DateOnly[] Dates, double[] Values, string Target, CsvTable Table, int[] TableRows);

    /// <summary>The covariates of the Chicago table known for the forecast day: weather and the home/away games.</summary>
    public static readonly string[] ChicagoCovariates =
    [
        "temp_min", "temp", "temp_max", "temp_change", "dew", "humidity", "pressure", "pressure_change", "wind", "wind_max", "gust", "gust_max",
        "percip", "percip_max", "weather_rain", "weather_snow", "weather_cloud", "weather_storm", "Blackhawks_Away", "Blackhawks_Home",
        "Bulls_Away", "Bulls_Home", "Bears_Away", "Bears_Home", "WhiteSox_Away", "WhiteSox_Home", "Cubs_Away", "Cubs_Home",
    ];

    /// <summary>US federal holidays (observed: a Saturday holiday on the Friday before, a Sunday one on the Monday after).</summary>
    public static bool IsUsHoliday(DateOnly d)
    {
        static DateOnly Nth(int year, int month, DayOfWeek dow, int n)
        {
            var first = new DateOnly(year, month, 1);
            return first.AddDays(((int)dow - (int)first.DayOfWeek + 7) % 7 + 7 * (n - 1));
        }
        static DateOnly Last(int year, int month, DayOfWeek dow)
        {
            var last = new DateOnly(year, month, DateTime.DaysInMonth(year, month));
            return last.AddDays(-(((int)last.DayOfWeek - (int)dow + 7) % 7));
        }
        static DateOnly Observed(DateOnly h) => h.DayOfWeek switch { DayOfWeek.Saturday => h.AddDays(-1), DayOfWeek.Sunday => h.AddDays(1), _ => h };
        foreach (int y in new[] { d.Year, d.Year + 1 })
        {
            DateOnly[] days =
            [
                Observed(new DateOnly(y, 1, 1)), Nth(y, 1, DayOfWeek.Monday, 3), Nth(y, 2, DayOfWeek.Monday, 3), Last(y, 5, DayOfWeek.Monday),
                Observed(new DateOnly(y, 7, 4)), Nth(y, 9, DayOfWeek.Monday, 1), Nth(y, 10, DayOfWeek.Monday, 2), Observed(new DateOnly(y, 11, 11)),
                Nth(y, 11, DayOfWeek.Thursday, 4), Observed(new DateOnly(y, 12, 25)),
            ];
            if (days.Contains(d)) return true;
        }
        return false;
    }

    /// <summary>Covariates of each forecast day: the listed columns of the table (standardized with
    /// <paramref name="mean"/>/<paramref name="std"/>), then the calendar: weekday one-hot, sine and cosine of the day of
    /// the year, a US-holiday flag, the day after Thanksgiving and the Christmas–New Year week.</summary>
    public static Tensor ForecastCovariates(DailySeries s, int[] targets, string[] columns, double[] mean, double[] std)
    {
        int c = columns.Length, width = c + 12;
        var idx = columns.Select(s.Table.ColumnIndex).ToArray();
        var x = new float[targets.Length * width];
        for (int i = 0; i < targets.Length; i++)
        {
            int t = targets[i], o = i * width, row = s.TableRows[t];
            for (int j = 0; j < c; j++)
            {
                var cell = s.Table.Rows[row][idx[j]];
                double v = CsvTable.IsMissing(cell) ? mean[j] : CsvTable.TryNumber(cell, out double p) ? p
                    : throw new InvalidDataException($"ForecastCovariates: line {s.Table.RowLines[row]}: '{cell}' in column '{columns[j]}' is not a number.");
                x[o + j] = (float)((v - mean[j]) / std[j]);
            }
            var d = s.Dates[t];
            x[o + c + (int)d.DayOfWeek] = 1;
            double doy = 2 * Math.PI * (d.DayOfYear - 1) / 366.0;
            x[o + c + 7] = (float)Math.Sin(doy);
            x[o + c + 8] = (float)Math.Cos(doy);
            x[o + c + 9] = IsUsHoliday(d) ? 1 : 0;
            x[o + c + 10] = d.Month == 11 && d.DayOfWeek == DayOfWeek.Friday && IsUsHoliday(d.AddDays(-1)) ? 1 : 0;
            x[o + c + 11] = d.Month == 12 && d.Day >= 24 || d.Month == 1 && d.Day == 1 ? 1 : 0;
        }
        return Tensor.FromArray(x, targets.Length, width);
    }

    /// <summary>Reads a daily series from a CSV with a <c>date</c> column (yyyy-MM-dd) and a numeric target column; rows
    /// are sorted by date and must be consecutive days (a gap or duplicate is an error naming the dates), and every target
    /// cell must parse (an error names its line).</summary>
    public static DailySeries ReadDailySeries(string path, string target = "ridership", string dateColumn = "date")
    {
        var table = CsvTable.Read(path);
        int di = table.ColumnIndex(dateColumn), ti = table.ColumnIndex(target);
        int n = table.Rows.Count;
        var rows = new (DateOnly Date, double Value, int Row)[n];
        for (int i = 0; i < n; i++)
        {
            var r = table.Rows[i];
            if (!DateOnly.TryParseExact(r[di], "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var d))
                throw new InvalidDataException($"{path}: line {table.RowLines[i]}: '{r[di]}' in column '{dateColumn}' is not a yyyy-MM-dd date.");
            if (!double.TryParse(r[ti], NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !double.IsFinite(v))
                throw new InvalidDataException($"{path}: line {table.RowLines[i]}: '{r[ti]}' in column '{target}' is not a number.");
            rows[i] = (d, v, i);
        }
        Array.Sort(rows, (a, b) => a.Date.CompareTo(b.Date));
        for (int i = 1; i < n; i++)
            if (rows[i].Date.DayNumber != rows[i - 1].Date.DayNumber + 1)
                throw new InvalidDataException($"{path}: the series is not daily without gaps: {rows[i - 1].Date:yyyy-MM-dd} is followed by {rows[i].Date:yyyy-MM-dd}.");
        return new DailySeries(rows.Select(r => r.Date).ToArray(), rows.Select(r => r.Value).ToArray(), target, table, rows.Select(r => r.Row).ToArray());
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
        /// <summary>When set, each model is also trained as a hybrid that reads these columns of the forecast day (and its
        /// calendar) through an MLP branch, and the report shows whether the covariates help.</summary>
        public string[]? Covariates { get; init; }
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
        Tensor? ctr = null, cva = null, cte = null;
        if (recipe.Covariates is { Length: > 0 } cols)
        {
            var ci = cols.Select(series.Table.ColumnIndex).ToArray();
            double[] Column(int j) => trainT.Select(t => series.Table.Rows[series.TableRows[t]][ci[j]]).Select(c => CsvTable.TryNumber(c, out var v) ? v : double.NaN)
                .Where(double.IsFinite).ToArray();
            var cm = new double[cols.Length];
            var cs = new double[cols.Length];
            for (int j = 0; j < cols.Length; j++)
            {
                var v = Column(j);
                cm[j] = v.Length > 0 ? v.Average() : 0;
                double sd = v.Length > 1 ? Math.Sqrt(v.Sum(a => (a - cm[j]) * (a - cm[j])) / (v.Length - 1)) : 1;
                cs[j] = sd > 1e-12 ? sd : 1;
            }
            (ctr, cva, cte) = (ForecastCovariates(series, trainT, cols, cm, cs), ForecastCovariates(series, valT, cols, cm, cs), ForecastCovariates(series, testT, cols, cm, cs));
        }
        double Mae(int[] targets, Func<int, double> predict) => targets.Average(t => Math.Abs(predict(t) - series.Values[t]));
        double baseline = Mae(testT, t => series.Values[t - 7]);
        double persistence = Mae(testT, t => series.Values[t - 1]);
        log?.Invoke($"{trainT.Length} training, {valT.Length} validation, {testT.Length} test days ({series.Dates[testStart]:yyyy-MM-dd} … {series.Dates[^1]:yyyy-MM-dd}); " +
            $"seasonal-naive test MAE {baseline:F4}, persistence {persistence:F4}");

        double[] Predict(Forecaster m, Tensor x, Tensor? cov)
        {
            m.Eval();
            using var _ = Tensor.NoGrad();
            var p = new List<double>();
            for (int start = 0; start < x.Size(0); start += 512)
            {
                int len = Math.Min(512, x.Size(0) - start);
                p.AddRange(m.Forward(x.Narrow(0, start, len), cov?.Narrow(0, start, len)).ToArrayDouble().Select(v => v * std + mean));
            }
            return p.ToArray();
        }
        double ModelMae(int[] targets, double[] predictions) => targets.Select((t, i) => Math.Abs(predictions[i] - series.Values[t])).Average();

        var reports = new List<ForecastReport>();
        var predictions = new Dictionary<string, double[]> { ["seasonal naive"] = testT.Select(t => series.Values[t - 7]).ToArray() };
        bool moved = true;
        var variants = recipe.Models.Select(k => (Kind: k, Covariates: false)).ToList();
        if (ctr is not null) variants.AddRange(recipe.Models.Select(k => (Kind: k, Covariates: true)));
        foreach (var (kind, withCov) in variants)
        {
            var start = sw.Elapsed;
            var g = new Generator(recipe.Seed);
            string name = kind + (withCov ? " + covariates" : "");
            var model = new Forecaster(kind, w, 8, recipe.Hidden, layers: kind == ForecasterKind.Transformer ? 2 : 1, generator: g,
                covariates: withCov ? ctr!.Size(1) : 0);
            Tensor? trCov = withCov ? ctr : null, vaCov = withCov ? cva : null, teCov = withCov ? cte : null;
            var initial = Snapshot(model);
            var opt = new AdamW(model.Parameters(), lr: recipe.LearningRate, weightDecay: 1e-4);
            int steps = EpochLoop.Steps(trainT.Length, recipe.BatchSize);
            var schedule = new OneCycleLR(opt, recipe.LearningRate, recipe.Epochs * steps);
            var order = new Generator(recipe.Seed + 17);
            double bestVal = double.PositiveInfinity;
            int bestEpoch = 0;
            Dictionary<string, Tensor>? best = null;
            for (int epoch = 1; epoch <= recipe.Epochs; epoch++)
            {
                double trainLoss = EpochLoop.Run(model, opt, trainT.Length, recipe.BatchSize, order,
                    idx => Functional.L1Loss(model.Forward(xtr.IndexSelect(0, idx), trCov?.IndexSelect(0, idx)), ytr.IndexSelect(0, idx)), schedule.Step);
                double val = ModelMae(valT, Predict(model, xva, vaCov));
                if (val < bestVal)
                {
                    (bestVal, bestEpoch) = (val, epoch);
                    best = EpochLoop.CopyState(model);
                }
                if (log is not null && (epoch % 5 == 0 || epoch == 1))
                    log($"{name} epoch {epoch}/{recipe.Epochs}: train L1 {trainLoss:F4} (standardized), validation MAE {val:F4}");
            }
            moved &= Snapshot(model).Zip(initial).Any(p => Math.Abs(p.First - p.Second) > 1e-6);
            model.LoadStateDict(best!);
            var testPredictions = Predict(model, xte, teCov);
            predictions[name] = testPredictions;
            double test = ModelMae(testT, testPredictions);
            var report = new ForecastReport(name, bestVal, test, bestEpoch, (int)model.ParameterCount, (sw.Elapsed - start).TotalSeconds);
            log?.Invoke($"{name}: test MAE {test:F4} (best epoch {bestEpoch}, validation MAE {bestVal:F4}), {report.Seconds:F0}s");
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
