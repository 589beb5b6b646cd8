namespace Ember.Classical;

/// <summary>L2-regularized logistic regression, as scikit-learn's <c>LogisticRegression(C)</c> with the lbfgs solver:
/// minimizes ½‖W‖² + C·Σᵢ lossᵢ (the intercept unpenalized) by <see cref="Lbfgs"/>, with the binary logistic loss for
/// two classes (one weight row) and the multinomial (softmax) loss for more. Inputs are sparse rows (TF-IDF, with any
/// dense features appended: <see cref="CsrMatrix.AppendColumns"/>). Coefficients equal scikit-learn's to the solver's
/// tolerance (tested).</summary>
public sealed class LogisticRegression
{
    /// <summary>(rows, features): one row for a binary model (the positive class's score), one per class otherwise.</summary>
    public double[][] Coefficients { get; }
    /// <summary>Intercept per class (one for binary).</summary>
    public double[] Intercepts { get; }
    /// <summary>Number of classes.</summary>
    public int Classes { get; }
    /// <summary>Inverse regularization strength.</summary>
    public double C { get; }
    /// <summary>L-BFGS iterations the fit took.</summary>
    public int Iterations { get; }

    private LogisticRegression(double[][] coef, double[] intercepts, int classes, double c, int iterations)
        => (Coefficients, Intercepts, Classes, C, Iterations) = (coef, intercepts, classes, c, iterations);

    /// <summary>Fits on rows <paramref name="x"/> with class indices <paramref name="y"/> in [0, <paramref name="classes"/>).
    /// <paramref name="warmStart"/>, a model fitted on the same rows with another C, starts the solver at its solution
    /// (a regularization path: neighbouring C values have nearby optima, so each fit takes a fraction of the iterations).</summary>
    public static LogisticRegression Fit(CsrMatrix x, ReadOnlySpan<long> y, int classes, double c = 1.0, double tolerance = 1e-8, int maxIterations = 2000,
        LogisticRegression? warmStart = null)
    {
        if (classes < 2) throw new ArgumentException($"LogisticRegression: needs at least 2 classes, got {classes}.");
        if (c <= 0 || !double.IsFinite(c)) throw new ArgumentException($"LogisticRegression: C must be positive, got {c}.");
        if (y.Length != x.Rows) throw new ArgumentException($"LogisticRegression: {x.Rows} rows but {y.Length} labels.");
        var labels = y.ToArray();
        foreach (var v in labels)
            if (v < 0 || v >= classes) throw new ArgumentException($"LogisticRegression: label {v} is outside [0, {classes}).");
        int k = classes == 2 ? 1 : classes;
        var core = new LinearCore(x, k, c);
        var start = warmStart is not null && warmStart.Classes == classes && warmStart.Coefficients[0].Length == x.Columns
            ? core.Join(warmStart.Coefficients, warmStart.Intercepts) : new double[core.Size];
        var r = Lbfgs.Minimize((p, grad) => core.Evaluate(p, grad, (z, dz) =>
        {
            // Per-row loss and its derivative with respect to the row's scores z (length k).
            double loss = 0;
            for (int i = 0; i < x.Rows; i++)
            {
                var zi = z.AsSpan(i * k, k);
                var di = dz.AsSpan(i * k, k);
                if (k == 1)
                {
                    double sign = labels[i] == 1 ? 1 : -1, m = sign * zi[0];
                    loss += m > 0 ? Math.Log(1 + Math.Exp(-m)) : -m + Math.Log(1 + Math.Exp(m));
                    di[0] = -sign / (1 + Math.Exp(m));   // d/dz log(1 + e^(−yz)) = −y·σ(−yz)
                }
                else
                {
                    double max = double.NegativeInfinity;
                    foreach (var v in zi) max = Math.Max(max, v);
                    double sum = 0;
                    for (int j = 0; j < k; j++) { di[j] = Math.Exp(zi[j] - max); sum += di[j]; }
                    loss += Math.Log(sum) + max - zi[(int)labels[i]];
                    for (int j = 0; j < k; j++) di[j] /= sum;
                    di[(int)labels[i]] -= 1;
                }
            }
            return loss;
        }), start, tolerance, maxIterations);
        var (coef, b) = core.Split(r.X);
        return new LogisticRegression(coef, b, classes, c, r.Iterations);
    }

    /// <summary>Class probabilities (N, classes), float32.</summary>
    public Tensor PredictProbabilities(CsrMatrix x) => Probabilities(LinearCore.Scores(x, Coefficients, Intercepts), x.Rows, Classes);

    /// <summary>Probabilities (N, classes) from raw scores: one log-odds per row for two classes (the positive class's),
    /// else one logit per class (softmax).</summary>
    internal static Tensor Probabilities(double[] raw, int rows, int classes)
    {
        int k = classes == 2 ? 1 : classes;
        var p = new float[rows * classes];
        for (int i = 0; i < rows; i++)
        {
            if (k == 1)
            {
                double q = 1 / (1 + Math.Exp(-raw[i]));
                (p[i * 2], p[i * 2 + 1]) = ((float)(1 - q), (float)q);
                continue;
            }
            double max = double.NegativeInfinity, sum = 0;
            for (int j = 0; j < k; j++) max = Math.Max(max, raw[i * k + j]);
            for (int j = 0; j < k; j++) sum += Math.Exp(raw[i * k + j] - max);
            for (int j = 0; j < k; j++) p[i * k + j] = (float)(Math.Exp(raw[i * k + j] - max) / sum);
        }
        return Tensor.FromArray(p, rows, classes);
    }
}

/// <summary>Ridge regression: minimizes ½‖w‖² + C·Σᵢ ½(yᵢ − xᵢ·w − b)², i.e. scikit-learn's <c>Ridge(alpha = 1/C)</c>,
/// by <see cref="Lbfgs"/> on sparse rows.</summary>
public sealed class RidgeRegression
{
    /// <summary>Coefficient per feature.</summary>
    public double[] Coefficients { get; }
    /// <summary>The intercept.</summary>
    public double Intercept { get; }
    /// <summary>Inverse regularization strength (scikit-learn's C; alpha = 1/(2C)).</summary>
    public double C { get; }

    private RidgeRegression(double[] coef, double intercept, double c) => (Coefficients, Intercept, C) = (coef, intercept, c);

    /// <summary>Fits ridge regression on sparse rows <paramref name="x"/> by L-BFGS, optionally from <paramref name="warmStart"/>.</summary>
    public static RidgeRegression Fit(CsrMatrix x, ReadOnlySpan<double> y, double c = 1.0, double tolerance = 1e-8, int maxIterations = 2000,
        RidgeRegression? warmStart = null)
    {
        if (c <= 0 || !double.IsFinite(c)) throw new ArgumentException($"RidgeRegression: C must be positive, got {c}.");
        if (y.Length != x.Rows) throw new ArgumentException($"RidgeRegression: {x.Rows} rows but {y.Length} targets.");
        var target = y.ToArray();
        var core = new LinearCore(x, 1, c);
        var start = warmStart is not null && warmStart.Coefficients.Length == x.Columns ? core.Join([warmStart.Coefficients], [warmStart.Intercept]) : new double[core.Size];
        var r = Lbfgs.Minimize((p, grad) => core.Evaluate(p, grad, (z, dz) =>
        {
            double loss = 0;
            for (int i = 0; i < x.Rows; i++)
            {
                double e = z[i] - target[i];
                loss += 0.5 * e * e;
                dz[i] = e;
            }
            return loss;
        }), start, tolerance, maxIterations);
        var (coef, b) = core.Split(r.X);
        return new RidgeRegression(coef[0], b[0], c);
    }

    /// <summary>Predictions (N, 1), float32.</summary>
    public Tensor Predict(CsrMatrix x)
    {
        var z = LinearCore.Scores(x, [Coefficients], [Intercept]);
        return Tensor.FromArray(z.Select(v => (float)v).ToArray(), x.Rows, 1);
    }
}

/// <summary>The shared arithmetic of the linear models: parameters laid out as k weight rows then k intercepts, the
/// scores Z = X·Wᵀ + b, and the gradient W + C·Xᵀ·dZ (intercepts: C·Σ dZ).</summary>
internal sealed class LinearCore(CsrMatrix x, int k, double c)
{
    public int Size => k * (x.Columns + 1);

    public (double[][] Coef, double[] Intercepts) Split(double[] p)
    {
        var coef = new double[k][];
        for (int j = 0; j < k; j++) coef[j] = p.AsSpan(j * x.Columns, x.Columns).ToArray();
        return (coef, p.AsSpan(k * x.Columns, k).ToArray());
    }

    public double[] Join(double[][] coef, double[] intercepts)
    {
        var p = new double[Size];
        for (int j = 0; j < k; j++) coef[j].CopyTo(p, j * x.Columns);
        intercepts.CopyTo(p, k * x.Columns);
        return p;
    }

    public static double[] Scores(CsrMatrix x, double[][] coef, double[] intercepts)
    {
        int k = coef.Length;
        if (coef[0].Length != x.Columns) throw new ArgumentException($"Linear model: trained on {coef[0].Length} features, the rows have {x.Columns}.");
        var z = new double[x.Rows * k];
        for (int i = 0; i < x.Rows; i++)
            for (int j = 0; j < k; j++)
            {
                double acc = intercepts[j];
                var w = coef[j];
                for (int p = x.RowPtr[i]; p < x.RowPtr[i + 1]; p++) acc += x.Values[p] * w[x.ColumnIndices[p]];
                z[i * k + j] = acc;
            }
        return z;
    }

    // The objective and gradient (Evaluate, below) at parameters p: rowLoss fills dZ from Z and returns the summed loss.
    // Per-thread gradient buffers for Xᵀ·dZ (reused across evaluations): the row ranges of the threads' chunks write
    // scattered columns, so each accumulates privately and the buffers are added in a fixed order (same bits on any
    // schedule).
    private double[][]? _partials;

    public double Evaluate(double[] p, double[] grad, Func<double[], double[], double> rowLoss)
    {
        int f = x.Columns, chunks = Math.Max(1, Math.Min(Parallelism.NumThreads, x.Rows / 256));
        var z = new double[x.Rows * k];
        Parallelism.ForEach(chunks, t =>
        {
            int lo = (int)((long)x.Rows * t / chunks), hi = (int)((long)x.Rows * (t + 1) / chunks);
            for (int i = lo; i < hi; i++)
                for (int j = 0; j < k; j++)
                {
                    double acc = p[k * f + j];
                    int wj = j * f;
                    for (int q = x.RowPtr[i]; q < x.RowPtr[i + 1]; q++) acc += x.Values[q] * p[wj + x.ColumnIndices[q]];
                    z[i * k + j] = acc;
                }
        });
        var dz = new double[z.Length];
        double loss = rowLoss(z, dz);
        if (_partials is null || _partials.Length != chunks) _partials = Enumerable.Range(0, chunks).Select(_ => new double[Size]).ToArray();
        Parallelism.ForEach(chunks, t =>
        {
            var part = _partials[t];
            Array.Clear(part);
            int lo = (int)((long)x.Rows * t / chunks), hi = (int)((long)x.Rows * (t + 1) / chunks);
            for (int i = lo; i < hi; i++)
                for (int j = 0; j < k; j++)
                {
                    double d = c * dz[i * k + j];
                    if (d == 0) continue;
                    int wj = j * f;
                    for (int q = x.RowPtr[i]; q < x.RowPtr[i + 1]; q++) part[wj + x.ColumnIndices[q]] += d * x.Values[q];
                    part[k * f + j] += d;
                }
        });
        double penalty = 0;
        for (int i = 0; i < k * f; i++) penalty += p[i] * p[i];
        for (int i = 0; i < Size; i++)
        {
            double g = i < k * f ? p[i] : 0;
            foreach (var part in _partials) g += part[i];
            grad[i] = g;
        }
        return 0.5 * penalty + c * loss;
    }
}
