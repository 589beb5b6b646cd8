using Ember.Training;

namespace Ember.Cli;

/// <summary>PNG plots with ScottPlot.</summary>
public static class Plots
{
    /// <summary>Loss (left axis) and accuracy (right axis) per epoch, train and validation; written atomically.</summary>
    public static void LearningCurves(IReadOnlyList<EpochMetrics> history, string path, string title)
    {
        if (history.Count == 0) return;
        var epochs = history.Select(h => (double)h.Epoch).ToArray();
        var plt = new ScottPlot.Plot();
        void Series(double[] ys, string label, bool right, ScottPlot.LinePattern pattern)
        {
            var s = plt.Add.Scatter(epochs, ys);
            s.LegendText = label;
            s.LinePattern = pattern;
            if (right) s.Axes.YAxis = plt.Axes.Right;
        }
        Series(history.Select(h => h.TrainLoss).ToArray(), "train loss", false, ScottPlot.LinePattern.Solid);
        if (history.All(h => h.ValLoss is not null)) Series(history.Select(h => h.ValLoss!.Value).ToArray(), "validation loss", false, ScottPlot.LinePattern.Dashed);
        if (history.All(h => double.IsFinite(h.TrainAccuracy))) Series(history.Select(h => h.TrainAccuracy).ToArray(), "train accuracy", true, ScottPlot.LinePattern.Solid);
        if (history.All(h => h.ValAccuracy is not null)) Series(history.Select(h => h.ValAccuracy!.Value).ToArray(), "validation accuracy", true, ScottPlot.LinePattern.Dashed);
        plt.Title(title);
        plt.XLabel("epoch");
        plt.Axes.Left.Label.Text = "loss";
        plt.Axes.Right.Label.Text = "accuracy";
        plt.ShowLegend(ScottPlot.Alignment.MiddleRight);
        Save(plt, path, 900, 500);
    }

    /// <summary>Return per training episode, its 20-episode moving mean, the evaluations and the gate.</summary>
    public static void Returns(IReadOnlyList<double> returns, IReadOnlyList<(int Episode, double Mean)> evaluations, double gate, string path, string title)
    {
        if (returns.Count == 0) return;
        var plt = new ScottPlot.Plot();
        var xs = Enumerable.Range(1, returns.Count).Select(i => (double)i).ToArray();
        var raw = plt.Add.Scatter(xs, returns.ToArray());
        raw.LegendText = "episode return";
        raw.MarkerSize = 0;
        raw.LineWidth = 1;
        raw.Color = ScottPlot.Colors.LightGray;
        var mean = new double[returns.Count];
        for (int i = 0; i < mean.Length; i++) mean[i] = returns.Skip(Math.Max(0, i - 19)).Take(Math.Min(20, i + 1)).Average();
        var m = plt.Add.Scatter(xs, mean);
        m.LegendText = "mean of the last 20";
        m.MarkerSize = 0;
        m.LineWidth = 2;
        if (evaluations.Count > 0)
        {
            var ev = plt.Add.Scatter(evaluations.Select(e => (double)e.Episode).ToArray(), evaluations.Select(e => e.Mean).ToArray());
            ev.LegendText = "greedy evaluation (100 episodes)";
            ev.LineWidth = 0;
            ev.MarkerSize = 8;
        }
        var line = plt.Add.HorizontalLine(gate);
        line.LegendText = $"gate {gate}";
        line.LinePattern = ScottPlot.LinePattern.Dashed;
        plt.Title(title);
        plt.XLabel("training episode");
        plt.YLabel("return");
        plt.ShowLegend(ScottPlot.Alignment.UpperLeft);
        Save(plt, path, 900, 500);
    }

    /// <summary>A SHAP waterfall: from the base value E[f] at the bottom, each feature's contribution (largest |φ| on
    /// top, at most <paramref name="top"/>, the rest summed into one bar) as a bar from the running total, red up,
    /// blue down, ending at f(x).</summary>
    public static void ShapWaterfall(IReadOnlyList<string> features, IReadOnlyList<double> values, double baseValue, string path, string title, int top = 12)
    {
        var order = Enumerable.Range(0, values.Count).OrderBy(i => Math.Abs(values[i])).ToList();
        var items = new List<(string Name, double Value)>();
        int rest = Math.Max(0, order.Count - top);
        if (rest > 0) items.Add(($"{rest} other features", order.Take(rest).Sum(i => values[i])));
        items.AddRange(order.Skip(rest).Select(i => (features[i], values[i])));
        var plt = new ScottPlot.Plot();
        double running = baseValue;
        var bars = new List<ScottPlot.Bar>();
        for (int k = 0; k < items.Count; k++)
        {
            double from = running, to = running + items[k].Value;
            bars.Add(new ScottPlot.Bar
            {
                Position = k, ValueBase = from, Value = to, Orientation = ScottPlot.Orientation.Horizontal,
                FillColor = items[k].Value >= 0 ? ScottPlot.Color.FromHex("#d62728") : ScottPlot.Color.FromHex("#1f77b4"),
            });
            running = to;
        }
        plt.Add.Bars(bars);
        var basis = plt.Add.VerticalLine(baseValue);
        basis.LegendText = $"E[f] = {baseValue:G4}";
        basis.LinePattern = ScottPlot.LinePattern.Dashed;
        var final = plt.Add.VerticalLine(running);
        final.LegendText = $"f(x) = {running:G4}";
        plt.Axes.Left.SetTicks(Enumerable.Range(0, items.Count).Select(i => (double)i).ToArray(),
            items.Select(i => $"{i.Name} ({i.Value:+0.###;-0.###})").ToArray());
        plt.Title(title);
        plt.XLabel("model output");
        plt.ShowLegend(ScottPlot.Alignment.LowerRight);
        Save(plt, path, 1000, 120 + 40 * items.Count);
    }

    private static void Save(ScottPlot.Plot plt, string path, int width, int height)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, "." + Path.GetFileName(path) + ".tmp.png");
        plt.SavePng(tmp, width, height);
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>The filters of a convolution weight (O, C, kH, kW) as a grayscale grid (channel 0 of each filter,
    /// each normalized to its own range), eight per row.</summary>
    public static void Filters(Ember.Tensor weight, string path, string title)
    {
        if (weight.Dim != 4) throw new ArgumentException($"Plots.Filters: expected a (O, C, kH, kW) weight, got [{string.Join(", ", weight.Shape)}].");
        int o = weight.Size(0), kh = weight.Size(2), kw = weight.Size(3), perRow = Math.Min(8, o), rows = (o + perRow - 1) / perRow;
        var w = weight.Detach().ToArrayDouble();
        int c = weight.Size(1);
        var grid = new double[rows * (kh + 1) - 1, perRow * (kw + 1) - 1];
        for (int i = 0; i < grid.GetLength(0); i++)
            for (int j = 0; j < grid.GetLength(1); j++) grid[i, j] = double.NaN;
        for (int f = 0; f < o; f++)
        {
            var vals = Enumerable.Range(0, kh * kw).Select(k => w[(f * c) * kh * kw + k]).ToArray();
            double lo = vals.Min(), hi = vals.Max(), span = hi > lo ? hi - lo : 1;
            int r0 = (f / perRow) * (kh + 1), c0 = (f % perRow) * (kw + 1);
            for (int y = 0; y < kh; y++)
                for (int x = 0; x < kw; x++) grid[r0 + y, c0 + x] = (vals[y * kw + x] - lo) / span;
        }
        var plt = new ScottPlot.Plot();
        var hm = plt.Add.Heatmap(grid);
        hm.Colormap = new ScottPlot.Colormaps.Grayscale();
        hm.NaNCellColor = ScottPlot.Colors.White;
        plt.HideAxesAndGrid();
        plt.Title(title);                  // after hiding the axes: the title sits on the top axis and was hidden with it
        plt.Axes.Title.IsVisible = true;
        Save(plt, path, 120 * perRow, 120 * rows + 60);
    }

    /// <summary>A confusion matrix (rows: true class, columns: predicted) as a heatmap with the counts written in.</summary>
    public static void ConfusionMatrix(long[,] matrix, IReadOnlyList<string> labels, string path, string title)
    {
        int n = matrix.GetLength(0);
        var values = new double[n, n];
        for (int i = 0; i < n; i++)
        {
            long rowSum = 0;
            for (int j = 0; j < n; j++) rowSum += matrix[i, j];
            for (int j = 0; j < n; j++) values[i, j] = rowSum == 0 ? 0 : (double)matrix[i, j] / rowSum;
        }
        var plt = new ScottPlot.Plot();
        var hm = plt.Add.Heatmap(values);
        hm.Colormap = new ScottPlot.Colormaps.Viridis();
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                // Heatmap row 0 is drawn at the top; cell (i, j) is centred at x = j, y = n - 1 - i.
                var t = plt.Add.Text(matrix[i, j].ToString(), j, n - 1 - i);
                t.LabelFontColor = values[i, j] > 0.5 ? ScottPlot.Colors.Black : ScottPlot.Colors.White;
                t.LabelAlignment = ScottPlot.Alignment.MiddleCenter;
            }
        var ticks = Enumerable.Range(0, n).Select(i => (double)i).ToArray();
        plt.Axes.Bottom.SetTicks(ticks, labels.ToArray());
        plt.Axes.Left.SetTicks(ticks.Select(t => n - 1 - t).ToArray(), labels.ToArray());
        plt.Axes.Bottom.TickLabelStyle.Rotation = 45;
        plt.Axes.Bottom.TickLabelStyle.Alignment = ScottPlot.Alignment.MiddleLeft;
        plt.Axes.Bottom.MinimumSize = 110;   // room for the rotated class names
        plt.XLabel("predicted");
        plt.YLabel("true");
        plt.Title(title);
        Save(plt, path, 900, 820);
    }

    /// <summary>An attention map (query rows × key columns) as a heatmap with the tokens on both axes.</summary>
    public static void Attention(Ember.Tensor weights, IReadOnlyList<string> tokens, string path, string title) =>
        Attention(weights, tokens, tokens, path, title, "key position", "query position");

    /// <summary>An attention map with its own labels on each axis (cross-attention: target rows, source columns).</summary>
    public static void Attention(Ember.Tensor weights, IReadOnlyList<string> rowTokens, IReadOnlyList<string> columnTokens, string path, string title,
        string xLabel, string yLabel)
    {
        int t = weights.Size(0), s = weights.Size(1);
        var w = weights.Contiguous().ToArrayDouble();
        var values = new double[t, s];
        for (int i = 0; i < t; i++)
            for (int j = 0; j < s; j++) values[i, j] = w[i * s + j];
        var plt = new ScottPlot.Plot();
        var hm = plt.Add.Heatmap(values);
        hm.Colormap = new ScottPlot.Colormaps.Viridis();
        plt.Add.ColorBar(hm);
        var cols = Enumerable.Range(0, s).Select(i => (double)i).ToArray();
        var rows = Enumerable.Range(0, t).Select(i => (double)(t - 1 - i)).ToArray();
        plt.Axes.Bottom.SetTicks(cols, columnTokens.Take(s).ToArray());
        plt.Axes.Left.SetTicks(rows, rowTokens.Take(t).ToArray());
        plt.XLabel(xLabel);
        plt.YLabel(yLabel);
        plt.Title(title);
        int side = Math.Clamp(24 * Math.Max(t, s) + 200, 500, 1600);
        Save(plt, path, side + 100, side);
    }

    /// <summary>Points (N, 2) coloured by class (a latent space's map): one marker series per class with a legend.</summary>
    public static void LatentMap(Ember.Tensor points, long[] labels, IReadOnlyList<string> classes, string path, string title, string xLabel, string yLabel)
    {
        var p = points.Contiguous().ToArrayDouble();
        var plt = new ScottPlot.Plot();
        var palette = new ScottPlot.Palettes.Category10();
        for (int c = 0; c < classes.Count; c++)
        {
            var idx = Enumerable.Range(0, labels.Length).Where(i => labels[i] == c).ToArray();
            if (idx.Length == 0) continue;
            var s = plt.Add.ScatterPoints(idx.Select(i => p[2 * i]).ToArray(), idx.Select(i => p[2 * i + 1]).ToArray());
            s.MarkerSize = 3;
            s.Color = palette.GetColor(c).WithAlpha(0.7);
            s.LegendText = classes[c];
        }
        plt.XLabel(xLabel);
        plt.YLabel(yLabel);
        plt.Title(title);
        plt.ShowLegend(ScottPlot.Alignment.UpperRight);
        Save(plt, path, 900, 800);
    }

    /// <summary>Actual values and each model's forecasts over time (one line each). A year of daily values with a
    /// weekly cycle is a solid band at any width, so a long series shows its last <paramref name="window"/> days, where
    /// each forecast can be told from the truth (the report's errors cover the whole series).</summary>
    public static void Forecasts(DateOnly[] dates, double[] actual, IReadOnlyDictionary<string, double[]> forecasts, string path, string title, string yLabel,
        int window = 70)
    {
        var plt = new ScottPlot.Plot();
        int from = dates.Length > window + 30 ? dates.Length - window : 0;
        if (from > 0)
        {
            title += $" (last {window} of {dates.Length} days)";
            dates = dates[from..];
            actual = actual[from..];
            forecasts = forecasts.ToDictionary(p => p.Key, p => p.Value[from..]);
        }
        var xs = dates.Select(d => d.ToDateTime(TimeOnly.MinValue).ToOADate()).ToArray();
        var a = plt.Add.Scatter(xs, actual);
        a.LegendText = "actual";
        a.LineWidth = 2;
        a.MarkerSize = 0;
        a.Color = ScottPlot.Colors.Black;
        foreach (var (name, ys) in forecasts)
        {
            var sc = plt.Add.Scatter(xs, ys);
            sc.LegendText = name;
            sc.MarkerSize = 4;
            sc.LineWidth = 1.5f;
        }
        plt.Axes.DateTimeTicksBottom();
        plt.YLabel(yLabel);
        plt.Title(title);
        plt.ShowLegend(ScottPlot.Alignment.LowerLeft);
        Save(plt, path, 1400, 600);
    }

    /// <summary>Spectral efficiency vs SNR, one line with markers per method.</summary>
    public static void SpectralEfficiency(IReadOnlyList<(string Name, double[] Values)> curves, double[] snrDb, string path, string title)
    {
        var plt = new ScottPlot.Plot();
        var markers = new[] { ScottPlot.MarkerShape.FilledCircle, ScottPlot.MarkerShape.FilledSquare, ScottPlot.MarkerShape.FilledTriangleUp,
            ScottPlot.MarkerShape.FilledDiamond, ScottPlot.MarkerShape.OpenCircle, ScottPlot.MarkerShape.OpenSquare, ScottPlot.MarkerShape.Cross, ScottPlot.MarkerShape.Eks };
        for (int i = 0; i < curves.Count; i++)
        {
            var sc = plt.Add.Scatter(snrDb, curves[i].Values);
            sc.LegendText = curves[i].Name;
            sc.MarkerShape = markers[i % markers.Length];
            sc.MarkerSize = 7;
        }
        plt.XLabel("SNR (dB)");
        plt.YLabel("spectral efficiency (bit/s/Hz)");
        plt.Title(title);
        plt.ShowLegend(ScottPlot.Alignment.UpperLeft);
        Save(plt, path, 1000, 650);
    }

    /// <summary>Integrated-gradient attributions as horizontal bars, one per token: the <paramref name="top"/> tokens of
    /// largest |attribution| (each labelled with its position in the text), largest at the top, green pushing the
    /// prediction up and red down. A long text's ~130 tokens on one axis were unreadable; the rest are summed in the
    /// title.</summary>
    public static void TokenAttributions(IReadOnlyList<string> tokens, IReadOnlyList<double> attributions, string path, string title, int top = 20)
    {
        var shown = Enumerable.Range(0, tokens.Count).OrderByDescending(i => Math.Abs(attributions[i])).Take(top).ToList();
        double rest = Enumerable.Range(0, tokens.Count).Except(shown).Sum(i => attributions[i]);
        var plt = new ScottPlot.Plot();
        var bars = shown.Select((t, row) => new ScottPlot.Bar
        {
            Position = shown.Count - 1 - row, Value = attributions[t],
            FillColor = attributions[t] >= 0 ? ScottPlot.Colors.SeaGreen : ScottPlot.Colors.IndianRed,
            Label = attributions[t].ToString("+0.000;-0.000", System.Globalization.CultureInfo.InvariantCulture),
        }).ToList();
        var plot = plt.Add.Bars(bars);
        plot.Horizontal = true;
        string Show(int i) => $"{Shorten(tokens[i].Replace("\n", "\\n").Trim(), 24)}  #{i}";
        plt.Axes.Left.SetTicks(shown.Select((_, row) => (double)(shown.Count - 1 - row)).ToArray(), shown.Select(Show).ToArray());
        plt.Axes.Left.TickLabelStyle.FontSize = 14;
        plt.XLabel("attribution (toward the explained output)");
        plt.Title(shown.Count < tokens.Count
            ? $"{title}: top {shown.Count} of {tokens.Count} tokens (the other {tokens.Count - shown.Count} sum to {rest:+0.000;-0.000})"
            : title);
        double span = shown.Count == 0 ? 1 : shown.Max(i => Math.Abs(attributions[i]));
        plt.Axes.SetLimitsX(Math.Min(0, shown.Select(i => attributions[i]).DefaultIfEmpty(0).Min()) - 0.25 * span,
            Math.Max(0, shown.Select(i => attributions[i]).DefaultIfEmpty(0).Max()) + 0.25 * span);
        Save(plt, path, 1000, Math.Max(420, 32 * shown.Count + 160));
    }

    /// <summary>One horizontal bar per model: the mean score across folds with a ± std error bar; model names and their
    /// values read horizontally on the left (rotated labels under vertical bars were cut off).</summary>
    public static void ModelComparison(IReadOnlyList<string> models, IReadOnlyList<double> means, IReadOnlyList<double> stds, string path, string title, string metric)
    {
        var plt = new ScottPlot.Plot();
        int n = models.Count;
        var bars = means.Select((m, i) => new ScottPlot.Bar { Position = n - 1 - i, Value = m, Error = stds[i] }).ToList();
        var plot = plt.Add.Bars(bars);
        plot.Horizontal = true;
        // The numbers go with the names (a label on the bar would sit on its error bar).
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        plt.Axes.Left.SetTicks(Enumerable.Range(0, n).Select(i => (double)(n - 1 - i)).ToArray(),
            models.Select((m, i) => $"{m}   {means[i].ToString("0.0000", inv)} ± {stds[i].ToString("0.0000", inv)}").ToArray());
        plt.Axes.Left.TickLabelStyle.FontSize = 14;
        double lo = means.Select((m, i) => m - stds[i]).Min(), hi = means.Select((m, i) => m + stds[i]).Max();
        plt.Axes.SetLimitsX(Math.Max(0, lo - 0.15 * (hi - lo + 1e-9)), hi + 0.2 * (hi - lo + 1e-9));
        plt.XLabel(metric);
        plt.Title(title);
        Save(plt, path, 1000, Math.Max(360, 60 * n + 160));
    }

    /// <summary>A study's optimization history: each finished trial's value (complete: filled, pruned: its last
    /// reported value, hollow) and the best value so far as a line.</summary>
    public static void TuneHistory(IReadOnlyList<Ember.Tuning.FrozenTrial> trials, bool minimize, string path, string title, string metric)
    {
        var plt = new ScottPlot.Plot();
        var done = trials.Where(t => t.State == Ember.Tuning.TrialState.Complete && t.Value is double v && double.IsFinite(v)).ToList();
        if (done.Count > 0)
        {
            var s = plt.Add.ScatterPoints(done.Select(t => (double)t.Number).ToArray(), done.Select(t => t.Value!.Value).ToArray());
            s.LegendText = "trial value";
            s.MarkerSize = 7;
            double best = minimize ? double.PositiveInfinity : double.NegativeInfinity;
            var bx = new List<double>(); var by = new List<double>();
            foreach (var t in done)
            {
                best = minimize ? Math.Min(best, t.Value!.Value) : Math.Max(best, t.Value!.Value);
                bx.Add(t.Number); by.Add(best);
            }
            var line = plt.Add.ScatterLine(bx.ToArray(), by.ToArray());
            line.LegendText = "best so far";
            line.LineWidth = 2;
            line.ConnectStyle = ScottPlot.ConnectStyle.StepHorizontal;
        }
        var pruned = trials.Where(t => t.State == Ember.Tuning.TrialState.Pruned && t.Intermediate.Count > 0).ToList();
        if (pruned.Count > 0)
        {
            var s = plt.Add.ScatterPoints(pruned.Select(t => (double)t.Number).ToArray(), pruned.Select(t => t.Intermediate.MaxBy(kv => kv.Key).Value).ToArray());
            s.LegendText = "pruned (last reported)";
            s.MarkerShape = ScottPlot.MarkerShape.OpenCircle;
            s.MarkerSize = 7;
        }
        plt.ShowLegend();
        plt.XLabel("trial");
        plt.YLabel(metric);
        plt.Title(title);
        Save(plt, path, 900, 520);
    }

    /// <summary>Hyperparameter importances as horizontal bars, largest on top.</summary>
    public static void Importances(IReadOnlyList<(string Param, double Importance)> importances, string path, string title)
    {
        var plt = new ScottPlot.Plot();
        int n = importances.Count;
        plt.Add.Bars(importances.Select((p, i) => new ScottPlot.Bar { Position = n - 1 - i, Value = p.Importance }).ToList()).Horizontal = true;
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        plt.Axes.Left.SetTicks(Enumerable.Range(0, n).Select(i => (double)(n - 1 - i)).ToArray(),
            importances.Select(p => $"{p.Param}   {p.Importance.ToString("0.000", inv)}").ToArray());
        plt.Axes.Left.TickLabelStyle.FontSize = 14;
        plt.Axes.SetLimitsX(0, 1.05);
        plt.XLabel("importance (mean decrease in impurity, sums to 1)");
        plt.Title(title);
        Save(plt, path, 900, Math.Max(300, 60 * n + 140));
    }

    private static string Shorten(string s, int max) => s.Length <= max ? s : s[..(max - 1)] + "…";
}
