
namespace Ember.Recipes.Tabular;

/// <summary>Explanations of tabular models: permutation importance of each column and integrated gradients over the
/// text tokens of one row.</summary>
public static class TabularExplain
{
    /// <summary>A token and its attribution toward the explained output (positive pushed it up).</summary>
    public sealed record TokenAttribution(int Position, string Token, double Attribution);

    /// <summary>Integrated gradients (Sundararajan et al., 2017) of the output <paramref name="target"/> (default: the
    /// predicted class, or the value for regression) for row <paramref name="row"/>: the token embeddings go from the
    /// all-zero baseline (the padding embedding) to their values in <paramref name="steps"/> steps (midpoint rule); each
    /// token's attribution is (e − 0)·mean gradient summed over the embedding. The attributions add up to
    /// output(row) − output(baseline) up to the integration error, which is returned (<c>Delta</c> and the sum).</summary>
    public static (TokenAttribution[] Tokens, int Target, double OutputDelta, double AttributionSum) IntegratedGradients(TabularModel model,
        TabularPreprocessor prep, CsvTable table, int row, int steps = 32, int? target = null)
    {
        if (prep.Text is null || !model.Config.UsesText) throw new ArgumentException("IntegratedGradients: the model has no text branch to explain.");
        if (row < 0 || row >= table.Rows.Count) throw new ArgumentException($"IntegratedGradients: row {row} is outside the table's {table.Rows.Count} rows.");
        if (steps < 1) throw new ArgumentException($"IntegratedGradients: steps must be positive, got {steps}.");
        bool was = model.Training;
        model.Eval();
        try
        {
            var x = prep.Transform(table, [row]);
            Tensor e;
            int t;
            using (Tensor.NoGrad())
            {
                e = model.TokenEmbeddings(x.Text!);                                               // (1, L, d)
                var y = model.Forward(x);
                t = target ?? (model.Config.Outputs > 1 ? (int)y.ArgMax(-1).Item<long>() : 0);
                if (t < 0 || t >= model.Config.Outputs) throw new ArgumentException($"IntegratedGradients: target {t} is outside the {model.Config.Outputs} outputs.");
            }
            var alphas = Enumerable.Range(0, steps).Select(k => (k + 0.5) / steps).ToArray();
            var scaled = Tensor.FromArray(alphas.Select(a => (float)a).ToArray(), steps, 1, 1).Mul(e).Detach().RequiresGrad_();   // (m, L, d)
            var index = Tensor.Zeros([steps], DType.Int64);
            var batch = x.Rows(index);
            var outputs = model.ForwardWithTokenEmbeddings(batch, scaled);
            outputs.Select(1, t).Sum().Backward();
            var meanGrad = scaled.Grad!.Mean(0);                                                   // (L, d)
            var attributions = meanGrad.Mul(e.Select(0, 0)).Sum(-1).ToArrayDouble();              // (L)
            double full, zero;
            using (Tensor.NoGrad())
            {
                full = model.ForwardWithTokenEmbeddings(x, e).Select(1, t).Item();
                zero = model.ForwardWithTokenEmbeddings(x, e.Mul(0)).Select(1, t).Item();
            }
            var tokens = prep.Text.TokenStrings(prep.Texts(table, [row])[0]);
            var result = tokens.Select((tok, i) => new TokenAttribution(i, tok, attributions[i])).ToArray();
            return (result, t, full - zero, attributions.Sum());
        }
        finally { model.Train(was); }
    }

    /// <summary>Permutation importance (Breiman, 2001): for each column, the drop of the model's score (ROC AUC, or −RMSE
    /// for regression) when that column's cells are shuffled across <paramref name="rows"/>, averaged over
    /// <paramref name="repeats"/> shuffles. The table must hold the target.</summary>
    public static IReadOnlyList<(string Column, double Importance)> PermutationImportance(TabularModel model, TabularPreprocessor prep, CsvTable table,
        IReadOnlyList<int> rows, int repeats = 3, ulong seed = 1)
    {
        if (repeats < 1) throw new ArgumentException($"PermutationImportance: repeats must be positive, got {repeats}.");
        var data = prep.TransformWithTarget(table, rows);
        double baseline = TabularTraining.Score(TabularTraining.Predict(model, data.X), data.Y).Selection;
        var g = new Generator(seed);
        var result = new List<(string, double)>();
        foreach (var feature in prep.Encoder.Features)
        {
            int col = table.ColumnIndex(feature.Name);
            double drop = 0;
            for (int r = 0; r < repeats; r++)
            {
                var perm = Tensor.RandPerm(rows.Count, g).ToArray<long>();
                var shuffled = new List<string[]>(rows.Count);
                for (int i = 0; i < rows.Count; i++)
                {
                    var copy = (string[])table.Rows[rows[i]].Clone();
                    copy[col] = table.Rows[rows[(int)perm[i]]][col];
                    shuffled.Add(copy);
                }
                var t = new CsvTable(table.Columns, shuffled, rows.Select(i => table.RowLines[i]).ToList());
                var x = prep.Transform(t, Enumerable.Range(0, rows.Count).ToArray());
                drop += baseline - TabularTraining.Score(TabularTraining.Predict(model, x), data.Y).Selection;
            }
            result.Add((feature.Name, drop / repeats));
        }
        return result.OrderByDescending(p => p.Item2).ToList();
    }

    /// <summary>SHAP values of one row's prediction over the table's feature columns (numeric, categorical, date and text
    /// columns alike, each one player): a column left out of a coalition takes its value from a background row, the
    /// coalition's value is the mean prediction (the target class's probability, or the regression value) over the
    /// background rows. Exact enumeration up to 10 columns, KernelSHAP with <paramref name="samples"/> coalitions above.
    /// Additive: Σφ = prediction(row) − mean prediction over the background.</summary>
    public static (string[] Columns, Ember.Explain.ShapExplanation Shap) ColumnShap(TabularModel model, TabularPreprocessor prep, CsvTable table,
        int row, IReadOnlyList<int> background, int target, int samples = 512, ulong seed = 1)
    {
        if (row < 0 || row >= table.Rows.Count) throw new ArgumentException($"ColumnShap: row {row} is outside the table's {table.Rows.Count} rows.");
        if (background.Count < 1) throw new ArgumentException("ColumnShap: needs at least one background row.");
        var names = prep.Encoder.Features.Select(f => f.Name).ToArray();
        var cols = names.Select(table.ColumnIndex).ToArray();
        var explained = table.Rows[row];
        double[] Value(IReadOnlyList<bool[]> masks)
        {
            var result = new double[masks.Count];
            int perChunk = Math.Max(1, 2048 / background.Count);
            for (int c0 = 0; c0 < masks.Count; c0 += perChunk)
            {
                int cn = Math.Min(perChunk, masks.Count - c0);
                var rows = new List<string[]>(cn * background.Count);
                for (int c = 0; c < cn; c++)
                    foreach (int b in background)
                    {
                        var copy = (string[])table.Rows[b].Clone();
                        for (int j = 0; j < cols.Length; j++)
                            if (masks[c0 + c][j]) copy[cols[j]] = explained[cols[j]];
                        rows.Add(copy);
                    }
                var t = new CsvTable(table.Columns, rows, Enumerable.Repeat(0, rows.Count).ToList());
                var pred = TabularTraining.Predict(model, prep.Transform(t, Enumerable.Range(0, rows.Count).ToArray()));
                var p = (prep.Classification ? pred.Select(1, target) : pred.Reshape(-1)).ToArrayDouble();
                for (int c = 0; c < cn; c++)
                {
                    double sum = 0;
                    for (int r = 0; r < background.Count; r++) sum += p[c * background.Count + r];
                    result[c0 + c] = sum / background.Count;
                }
            }
            return result;
        }
        var shap = names.Length <= 10 ? Ember.Explain.Shap.Exact(names.Length, Value)
            : Ember.Explain.Shap.Kernel(names.Length, Value, samples, new Generator(seed));
        return (names, shap);
    }
}
