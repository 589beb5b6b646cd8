namespace Ember.Tuning;

/// <summary>
/// Hyperparameter importance as Optuna's <c>MeanDecreaseImpurityImportanceEvaluator</c> computes it: a random forest
/// of regression trees (64 trees on bootstrap samples, depth ≤ 64, every parameter tried at each split: scikit-learn's
/// RandomForestRegressor defaults, which Optuna uses)
/// is fitted to the completed trials' values from their parameters (internal form: log scale for log parameters,
/// choice index for categories), and each parameter's importance is the impurity (variance) decrease of the splits on
/// it, summed over the forest and normalized to sum to 1. Parameters missing from a trial (conditional ones) are
/// filled with the middle of their range.
/// </summary>
public static class Importance
{
    /// <summary>Importance of each parameter of the study's completed trials, largest first.</summary>
    public static IReadOnlyList<(string Param, double Importance)> MeanDecreaseImpurity(Study study, int trees = 64, int seed = 0)
    {
        var done = study.Trials.Where(t => t.State == TrialState.Complete && t.Value is double v && double.IsFinite(v)).ToList();
        var names = done.SelectMany(t => t.Params.Keys).Distinct().Order().ToList();
        if (done.Count < 2 || names.Count == 0) return names.Select(n => (n, names.Count == 1 ? 1.0 : 0.0)).ToList();
        var dists = names.ToDictionary(n => n, n => done.First(t => t.Distributions.ContainsKey(n)).Distributions[n]);
        double Feature(FrozenTrial t, string n)
        {
            var d = dists[n];
            double v = t.Params.TryGetValue(n, out var x) ? x : d switch
            {
                FloatDistribution f => f.Log ? Math.Sqrt(f.Low * f.High) : 0.5 * (f.Low + f.High),
                IntDistribution i => i.Log ? Math.Sqrt((double)i.Low * i.High) : 0.5 * (i.Low + i.High),
                CategoricalDistribution c => (c.Choices.Count - 1) / 2.0,
                _ => 0,
            };
            return d is FloatDistribution { Log: true } or IntDistribution { Log: true } ? Math.Log(v) : v;
        }
        var x = done.Select(t => names.Select(n => Feature(t, n)).ToArray()).ToArray();
        var y = done.Select(t => t.Value!.Value).ToArray();
        var total = new double[names.Count];
        var rng = new Random(seed);
        int mtry = names.Count;
        for (int k = 0; k < trees; k++)
        {
            var rows = Enumerable.Range(0, x.Length).Select(_ => rng.Next(x.Length)).ToArray();
            Grow(x, y, rows, 0, total, rng, mtry);
        }
        double sum = total.Sum();
        return names.Select((n, i) => (n, sum > 0 ? total[i] / sum : 1.0 / names.Count)).OrderByDescending(p => p.Item2).ToList();
    }

    // One CART node: the best variance-reducing split over a random subset of the features; its decrease (weighted by
    // the rows it holds) goes to the feature's total.
    private static void Grow(double[][] x, double[] y, int[] rows, int depth, double[] total, Random rng, int mtry)
    {
        if (rows.Length < 2 || depth >= 64) return;
        double mean = rows.Average(r => y[r]);
        double sse = rows.Sum(r => (y[r] - mean) * (y[r] - mean));
        if (sse <= 1e-300) return;
        int p = x[0].Length;
        var features = Enumerable.Range(0, p).OrderBy(_ => rng.Next()).Take(mtry).ToArray();
        double bestGain = 0;
        int bestF = -1;
        double bestT = 0;
        foreach (int f in features)
        {
            var sorted = rows.OrderBy(r => x[r][f]).ToArray();
            double ls = 0, lss = 0, rs = sorted.Sum(r => y[r]), rss = sorted.Sum(r => y[r] * y[r]);
            for (int i = 0; i < sorted.Length - 1; i++)
            {
                double v = y[sorted[i]];
                ls += v; lss += v * v; rs -= v; rss -= v * v;
                if (x[sorted[i]][f] == x[sorted[i + 1]][f]) continue;
                int nl = i + 1, nr = sorted.Length - nl;
                double child = (lss - ls * ls / nl) + (rss - rs * rs / nr);
                double gain = sse - child;
                if (gain > bestGain) (bestGain, bestF, bestT) = (gain, f, 0.5 * (x[sorted[i]][f] + x[sorted[i + 1]][f]));
            }
        }
        if (bestF < 0) return;
        total[bestF] += bestGain;
        Grow(x, y, rows.Where(r => x[r][bestF] <= bestT).ToArray(), depth + 1, total, rng, mtry);
        Grow(x, y, rows.Where(r => x[r][bestF] > bestT).ToArray(), depth + 1, total, rng, mtry);
    }
}
