namespace Ember.Classical;

/// <summary>Settings of <see cref="HistGradientBoosting"/>; the defaults are scikit-learn's
/// <c>HistGradientBoostingClassifier</c>/<c>Regressor</c> defaults.</summary>
public sealed record GradientBoostingOptions
{
    /// <summary>Boosting iterations (one tree per iteration, one per class for more than two classes).</summary>
    public int MaxIterations { get; init; } = 100;
    /// <summary>Shrinkage of every leaf value.</summary>
    public double LearningRate { get; init; } = 0.1;
    /// <summary>Leaves per tree (trees grow best-first: the leaf whose split gains most is split next).</summary>
    public int MaxLeafNodes { get; init; } = 31;
    /// <summary>Maximum tree depth (null: unlimited, leaves bounded by the leaf count).</summary>
    public int? MaxDepth { get; init; }
    /// <summary>Fewest training rows in a leaf.</summary>
    public int MinSamplesLeaf { get; init; } = 20;
    /// <summary>L2 penalty λ on leaf values (gain and values use H + λ).</summary>
    public double L2Regularization { get; init; }
    /// <summary>Bins per feature for non-missing values (missing values get a bin of their own).</summary>
    public int MaxBins { get; init; } = 255;
    /// <summary>With validation data: stop after this many iterations without a lower validation loss and keep the
    /// best iteration's trees (scikit-learn's n_iter_no_change).</summary>
    public int EarlyStoppingRounds { get; init; } = 10;
}

/// <summary>Histogram-based gradient-boosted decision trees (Ke et al., 2017, LightGBM; scikit-learn's
/// HistGradientBoosting): features are binned once into at most 255 quantile bins (missing values in a bin of their
/// own, sent to whichever side gains more at each split), each tree is grown best-first on per-bin sums of the loss's
/// gradients and Hessians (a child's histogram is its parent's minus its sibling's), and leaves take Newton steps
/// −G/(H + λ), shrunk by the learning rate. Losses: binary log loss, multinomial log loss (a tree per class per
/// iteration), squared error. Inputs are rows of numbers with NaN for missing.</summary>
public sealed class HistGradientBoosting
{
    private sealed class Node
    {
        public int Feature = -1, Bin, Left = -1, Right = -1;
        public bool MissingLeft;
        public double Value;
    }

    private readonly double[][] _thresholds;          // per feature: the upper bound of each non-missing bin but the last
    private readonly List<Node[]> _trees = new();     // iteration-major: K trees per iteration for K > 2 classes
    private readonly double[] _baseline;
    private readonly int _k;
    private readonly GradientBoostingOptions _o;

    /// <summary>Classes of a classifier (0 for a regressor).</summary>
    public int Classes { get; }
    /// <summary>Number of features the bins were fitted on.</summary>
    public int Features => _thresholds.Length;
    /// <summary>Iterations kept (after early stopping).</summary>
    public int Iterations => _trees.Count / _k;

    private HistGradientBoosting(double[][] thresholds, double[] baseline, int k, int classes, GradientBoostingOptions o)
        => (_thresholds, _baseline, _k, Classes, _o) = (thresholds, baseline, k, classes, o);

    /// <summary>A classifier on rows <paramref name="x"/> (N × F, NaN = missing) with classes <paramref name="y"/> in
    /// [0, <paramref name="classes"/>); with validation rows, early stopping on their log loss.</summary>
    public static HistGradientBoosting FitClassifier(double[][] x, ReadOnlySpan<long> y, int classes, GradientBoostingOptions? options = null,
        double[][]? xValidation = null, long[]? yValidation = null)
    {
        if (classes < 2) throw new ArgumentException($"HistGradientBoosting: needs at least 2 classes, got {classes}.");
        var labels = y.ToArray();
        foreach (var v in labels)
            if (v < 0 || v >= classes) throw new ArgumentException($"HistGradientBoosting: label {v} is outside [0, {classes}).");
        return Fit(x, labels.Select(v => (double)v).ToArray(), classes, options ?? new(), xValidation, yValidation?.Select(v => (double)v).ToArray());
    }

    /// <summary>A regressor (squared error) on rows <paramref name="x"/> with targets <paramref name="y"/>.</summary>
    public static HistGradientBoosting FitRegressor(double[][] x, ReadOnlySpan<double> y, GradientBoostingOptions? options = null,
        double[][]? xValidation = null, double[]? yValidation = null)
        => Fit(x, y.ToArray(), 0, options ?? new(), xValidation, yValidation);

    private static HistGradientBoosting Fit(double[][] x, double[] y, int classes, GradientBoostingOptions o, double[][]? xv, double[]? yv)
    {
        int n = x.Length;
        if (n == 0 || y.Length != n) throw new ArgumentException($"HistGradientBoosting: {n} rows and {y.Length} targets.");
        int f = x[0].Length;
        if (x.Any(r => r.Length != f)) throw new ArgumentException("HistGradientBoosting: rows of different lengths.");
        if (o.MaxBins is < 2 or > 255 || o.MaxLeafNodes < 2 || o.MinSamplesLeaf < 1 || o.MaxIterations < 1 || o.LearningRate <= 0)
            throw new ArgumentException($"HistGradientBoosting: invalid options {o}.");
        if ((xv is null) != (yv is null) || (xv is not null && xv.Length != yv!.Length))
            throw new ArgumentException("HistGradientBoosting: validation rows and targets must come together and agree in count.");
        foreach (var v in y) if (!double.IsFinite(v)) throw new ArgumentException("HistGradientBoosting: targets must be finite.");

        var thresholds = new double[f][];
        for (int j = 0; j < f; j++) thresholds[j] = Thresholds(x.Select(r => r[j]).Where(v => !double.IsNaN(v)).ToArray(), o.MaxBins);
        int k = classes > 2 ? classes : 1;
        var baseline = new double[k];
        if (classes == 2)
        {
            double p = Math.Clamp(y.Average(), 1e-12, 1 - 1e-12);
            baseline[0] = Math.Log(p / (1 - p));
        }
        else if (classes > 2)
            for (int c = 0; c < k; c++) baseline[c] = Math.Log(Math.Max(y.Count(v => v == c) / (double)n, 1e-12));
        else baseline[0] = y.Average();
        var model = new HistGradientBoosting(thresholds, baseline, k, classes, o);
        var bins = model.Bin(x);                                   // feature-major
        var binsV = xv is null ? null : model.Bin(xv);
        model.Boost(bins, n, y, binsV, yv);
        return model;
    }

    /// <summary>scikit-learn's binning: midpoints between distinct values when there are at most maxBins of them, else
    /// the midpoint-interpolated percentiles at 100·i/maxBins, de-duplicated.</summary>
    private static double[] Thresholds(double[] values, int maxBins)
    {
        if (values.Length == 0) return [];
        Array.Sort(values);
        var distinct = new List<double> { values[0] };
        foreach (var v in values) if (v != distinct[^1]) distinct.Add(v);
        if (distinct.Count <= maxBins)
            return Enumerable.Range(0, distinct.Count - 1).Select(i => (distinct[i] + distinct[i + 1]) / 2).ToArray();
        var t = new List<double>();
        for (int i = 1; i < maxBins; i++)
        {
            double pos = (values.Length - 1) * (double)i / maxBins;
            int lo = (int)Math.Floor(pos), hi = (int)Math.Ceiling(pos);
            double m = (values[lo] + values[hi]) / 2;
            if (t.Count == 0 || m > t[^1]) t.Add(m);
        }
        return t.ToArray();
    }

    private int MissingBin => _o.MaxBins;

    /// <summary>Bins of every row, feature-major: bin i holds values in (thresholds[i−1], thresholds[i]]; NaN → the missing bin.</summary>
    private byte[][] Bin(double[][] x)
    {
        int f = _thresholds.Length;
        var bins = new byte[f][];
        for (int j = 0; j < f; j++)
        {
            var t = _thresholds[j];
            var b = bins[j] = new byte[x.Length];
            for (int i = 0; i < x.Length; i++)
            {
                if (x[i].Length != f) throw new ArgumentException($"HistGradientBoosting: row {i} has {x[i].Length} features, the model {f}.");
                double v = x[i][j];
                if (double.IsNaN(v)) { b[i] = (byte)MissingBin; continue; }
                int lo = 0, hi = t.Length;                 // first threshold >= v
                while (lo < hi) { int mid = (lo + hi) >> 1; if (t[mid] < v) lo = mid + 1; else hi = mid; }
                b[i] = (byte)lo;
            }
        }
        return bins;
    }

    private void Boost(byte[][] bins, int n, double[] y, byte[][]? binsV, double[]? yv)
    {
        var raw = new double[n * _k];
        for (int i = 0; i < n; i++) for (int c = 0; c < _k; c++) raw[i * _k + c] = _baseline[c];
        int nv = yv?.Length ?? 0;
        var rawV = new double[nv * _k];
        for (int i = 0; i < nv; i++) for (int c = 0; c < _k; c++) rawV[i * _k + c] = _baseline[c];
        var g = new double[n];
        var h = new double[n];
        double bestLoss = double.PositiveInfinity;
        int bestIteration = 0;
        for (int it = 0; it < _o.MaxIterations; it++)
        {
            for (int c = 0; c < _k; c++)
            {
                Gradients(raw, y, c, g, h);
                var (tree, leafOf) = Grow(bins, n, g, h);
                _trees.Add(tree);
                for (int i = 0; i < n; i++) raw[i * _k + c] += tree[leafOf[i]].Value;
                for (int i = 0; i < nv; i++) rawV[i * _k + c] += tree[Leaf(tree, binsV!, i)].Value;
            }
            if (yv is null) continue;
            double loss = Loss(rawV, yv);
            if (it == 0 || loss < bestLoss - 1e-7 * Math.Abs(bestLoss)) (bestLoss, bestIteration) = (loss, it + 1);
            else if (it + 1 - bestIteration >= _o.EarlyStoppingRounds) break;
        }
        if (yv is not null && _trees.Count > bestIteration * _k) _trees.RemoveRange(bestIteration * _k, _trees.Count - bestIteration * _k);
    }

    private void Gradients(double[] raw, double[] y, int c, double[] g, double[] h)
    {
        int n = y.Length;
        for (int i = 0; i < n; i++)
        {
            if (Classes == 0) { g[i] = raw[i] - y[i]; h[i] = 1; continue; }
            double p;
            if (_k == 1) p = 1 / (1 + Math.Exp(-raw[i]));
            else
            {
                double max = double.NegativeInfinity, sum = 0;
                for (int j = 0; j < _k; j++) max = Math.Max(max, raw[i * _k + j]);
                for (int j = 0; j < _k; j++) sum += Math.Exp(raw[i * _k + j] - max);
                p = Math.Exp(raw[i * _k + c] - max) / sum;
            }
            double target = _k == 1 ? y[i] : (y[i] == c ? 1 : 0);
            g[i] = p - target;
            h[i] = Math.Max(p * (1 - p), 1e-16);
        }
    }

    private double Loss(double[] raw, double[] y)
    {
        double loss = 0;
        for (int i = 0; i < y.Length; i++)
        {
            if (Classes == 0) { double e = raw[i] - y[i]; loss += 0.5 * e * e; continue; }
            if (_k == 1)
            {
                double m = (y[i] == 1 ? 1 : -1) * raw[i];
                loss += m > 0 ? Math.Log(1 + Math.Exp(-m)) : -m + Math.Log(1 + Math.Exp(m));
                continue;
            }
            double max = double.NegativeInfinity, sum = 0;
            for (int j = 0; j < _k; j++) max = Math.Max(max, raw[i * _k + j]);
            for (int j = 0; j < _k; j++) sum += Math.Exp(raw[i * _k + j] - max);
            loss += Math.Log(sum) + max - raw[i * _k + (int)y[i]];
        }
        return loss / Math.Max(1, y.Length);
    }

    private int Leaf(Node[] tree, byte[][] bins, int i)
    {
        int node = 0;
        while (tree[node].Feature >= 0)
        {
            var nd = tree[node];
            node = GoesLeft(bins[nd.Feature][i], nd.Bin, nd.MissingLeft) ? nd.Left : nd.Right;
        }
        return node;
    }

    private bool GoesLeft(int bin, int splitBin, bool missingLeft) => bin == MissingBin ? missingLeft : bin <= splitBin;

    /// <summary>A candidate split of a leaf: its rows are order[Start..End).</summary>
    private sealed record Candidate(int Node, int Start, int End, int Depth, double[] Hist, double Gain, int Feature, int Bin, bool MissingLeft,
        double G, double H);

    // Histograms: per feature (MaxBins + 1 bins), per bin (G, H, count).
    private double[] Histogram(byte[][] bins, int[] order, int start, int end, double[] g, double[] h)
    {
        int nb = _o.MaxBins + 1, f = bins.Length;
        var hist = new double[f * nb * 3];
        for (int j = 0; j < f; j++)
        {
            var b = bins[j];
            int baseIdx = j * nb * 3;
            for (int p = start; p < end; p++)
            {
                int i = order[p], at = baseIdx + b[i] * 3;
                hist[at] += g[i];
                hist[at + 1] += h[i];
                hist[at + 2] += 1;
            }
        }
        return hist;
    }

    private Candidate Evaluate(int node, int start, int end, int depth, double[] hist, double gSum, double hSum)
    {
        int nb = _o.MaxBins + 1, count = end - start;
        double lambda = _o.L2Regularization, parent = gSum * gSum / (hSum + lambda);
        double bestGain = 0;
        int bestF = -1, bestBin = 0;
        bool bestMissingLeft = false;
        bool depthOk = _o.MaxDepth is not int md || depth < md;
        if (depthOk && count >= 2 * _o.MinSamplesLeaf)
            for (int j = 0; j < _thresholds.Length; j++)
            {
                int at = j * nb * 3, nonMissing = _thresholds[j].Length + 1;
                double mg = hist[at + (nb - 1) * 3], mh = hist[at + (nb - 1) * 3 + 1], mc = hist[at + (nb - 1) * 3 + 2];
                double lg = 0, lh = 0, lc = 0;
                for (int b = 0; b < nonMissing; b++)
                {
                    lg += hist[at + b * 3]; lh += hist[at + b * 3 + 1]; lc += hist[at + b * 3 + 2];
                    for (int dir = 0; dir < (mc > 0 ? 2 : 1); dir++)
                    {
                        bool missingLeft = dir == 1;
                        double gl = lg + (missingLeft ? mg : 0), hl = lh + (missingLeft ? mh : 0), cl = lc + (missingLeft ? mc : 0);
                        double gr = gSum - gl, hr = hSum - hl, cr = count - cl;
                        if (cl < _o.MinSamplesLeaf || cr < _o.MinSamplesLeaf || hl < 1e-3 || hr < 1e-3) continue;
                        double gain = gl * gl / (hl + lambda) + gr * gr / (hr + lambda) - parent;
                        if (gain > bestGain + 1e-12) (bestGain, bestF, bestBin, bestMissingLeft) = (gain, j, b, missingLeft);
                    }
                }
            }
        return new Candidate(node, start, end, depth, hist, bestF >= 0 ? bestGain : double.NegativeInfinity, bestF, bestBin, bestMissingLeft, gSum, hSum);
    }

    private (Node[] Tree, int[] LeafOf) Grow(byte[][] bins, int n, double[] g, double[] h)
    {
        var order = Enumerable.Range(0, n).ToArray();
        var nodes = new List<Node> { new() };
        double gs = 0, hs = 0;
        for (int i = 0; i < n; i++) { gs += g[i]; hs += h[i]; }
        var open = new PriorityQueue<Candidate, double>();
        var leaves = new List<Candidate>();
        var root = Evaluate(0, 0, n, 0, Histogram(bins, order, 0, n, g, h), gs, hs);
        if (root.Feature >= 0) open.Enqueue(root, -root.Gain); else leaves.Add(root);
        int leafCount = 1;
        while (open.Count > 0 && leafCount < _o.MaxLeafNodes)
        {
            var c = open.Dequeue();
            // Partition the rows: left first.
            var b = bins[c.Feature];
            int mid = c.Start;
            for (int p = c.Start; p < c.End; p++)
            {
                if (GoesLeft(b[order[p]], c.Bin, c.MissingLeft))
                {
                    (order[p], order[mid]) = (order[mid], order[p]);
                    mid++;
                }
            }
            var node = nodes[c.Node];
            (node.Feature, node.Bin, node.MissingLeft) = (c.Feature, c.Bin, c.MissingLeft);
            node.Left = nodes.Count; nodes.Add(new Node());
            node.Right = nodes.Count; nodes.Add(new Node());
            // The smaller child's histogram is summed, the larger one's is the parent's minus it.
            bool leftSmaller = mid - c.Start <= c.End - mid;
            var small = leftSmaller ? Histogram(bins, order, c.Start, mid, g, h) : Histogram(bins, order, mid, c.End, g, h);
            var large = new double[small.Length];
            for (int t = 0; t < large.Length; t++) large[t] = c.Hist[t] - small[t];
            var (hl, hr) = leftSmaller ? (small, large) : (large, small);
            double gl = 0, hlSum = 0;
            for (int p = c.Start; p < mid; p++) { gl += g[order[p]]; hlSum += h[order[p]]; }
            var lc = Evaluate(node.Left, c.Start, mid, c.Depth + 1, hl, gl, hlSum);
            var rc = Evaluate(node.Right, mid, c.End, c.Depth + 1, hr, c.G - gl, c.H - hlSum);
            leafCount++;
            foreach (var child in new[] { lc, rc })
                if (child.Feature >= 0) open.Enqueue(child, -child.Gain); else leaves.Add(child);
        }
        while (open.Count > 0) leaves.Add(open.Dequeue());
        var leafOf = new int[n];
        foreach (var leaf in leaves)
        {
            var nd = nodes[leaf.Node];
            nd.Feature = -1;
            nd.Value = -_o.LearningRate * leaf.G / (leaf.H + _o.L2Regularization);
            for (int p = leaf.Start; p < leaf.End; p++) leafOf[order[p]] = leaf.Node;
        }
        return (nodes.ToArray(), leafOf);
    }

    /// <summary>Raw scores (N × K): log-odds for a binary classifier, class logits, or values.</summary>
    private double[] Raw(double[][] x)
    {
        var bins = Bin(x);
        var raw = new double[x.Length * _k];
        for (int i = 0; i < x.Length; i++)
            for (int c = 0; c < _k; c++) raw[i * _k + c] = _baseline[c];
        for (int t = 0; t < _trees.Count; t++)
            for (int i = 0; i < x.Length; i++) raw[i * _k + t % _k] += _trees[t][Leaf(_trees[t], bins, i)].Value;
        return raw;
    }

    /// <summary>Class probabilities (N, classes), float32 (a classifier).</summary>
    public Tensor PredictProbabilities(double[][] x)
    {
        if (Classes == 0) throw new InvalidOperationException("HistGradientBoosting: a regressor has no class probabilities; call Predict.");
        return LogisticRegression.Probabilities(Raw(x), x.Length, Classes);
    }

    /// <summary>Predictions (N, 1), float32 (a regressor).</summary>
    public Tensor Predict(double[][] x)
    {
        if (Classes != 0) throw new InvalidOperationException("HistGradientBoosting: a classifier predicts probabilities; call PredictProbabilities.");
        return Tensor.FromArray(Raw(x).Select(v => (float)v).ToArray(), x.Length, 1);
    }
}
