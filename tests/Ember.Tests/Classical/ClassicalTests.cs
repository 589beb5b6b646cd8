using System.Text.Json;
using Ember;
using Ember.Classical;
using Ember.Text;
using Ember.NN;
using Xunit;

namespace Ember.Tests.Classical;

/// <summary>TF-IDF, logistic regression and gradient boosting against scikit-learn 1.2 (Fixtures/gen_classical_fixtures.py).</summary>
public class ClassicalTests
{
    private static JsonElement Fixture(string name) =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "classical", name))).RootElement;

    private static readonly Lazy<JsonElement> s_tfidf = new(() => Fixture("tfidf.json"));

    private static string[] Texts => s_tfidf.Value.GetProperty("texts").EnumerateArray().Select(e => e.GetString()!).ToArray();

    [Fact]
    public void TfidfEqualsScikitLearn()
    {
        var f = s_tfidf.Value;
        var vec = TfidfVectorizer.Fit(Texts, minDf: 2, ngrams: 2);
        var vocab = f.GetProperty("vocabulary").EnumerateArray().Select(e => e.GetString()!).ToArray();
        Assert.Equal(vocab.Length, vec.Vocabulary.Length);
        Assert.Equal(vocab, vec.Vocabulary);
        var idf = f.GetProperty("idf").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        for (int i = 0; i < idf.Length; i++) Assert.Equal(idf[i], vec.Idf[i], 1e-12);
        var probe = f.GetProperty("probe").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var x = vec.Transform(probe.Select(i => Texts[i]).ToArray());
        var indptr = f.GetProperty("indptr").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var indices = f.GetProperty("indices").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var data = f.GetProperty("data").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        Assert.Equal(indptr, x.RowPtr);
        // scikit-learn leaves each row's columns in order of first occurrence; Ember sorts them: compare as maps.
        for (int r = 0; r < probe.Length; r++)
        {
            var expected = Enumerable.Range(indptr[r], indptr[r + 1] - indptr[r]).ToDictionary(p => indices[p], p => data[p]);
            for (int p = x.RowPtr[r]; p < x.RowPtr[r + 1]; p++)
                Assert.True(expected.TryGetValue(x.ColumnIndices[p], out double v) && Math.Abs(v - x.Values[p]) < 1e-6,
                    $"row {probe[r]} column {x.ColumnIndices[p]} ({vec.Vocabulary[x.ColumnIndices[p]]}): Ember {x.Values[p]}");
        }
    }

    [Fact]
    public void TokensFollowScikitLearnsPattern()
    {
        Assert.Equal(new[] { "crème", "brûlée", "at", "café", "zoë", "naïve", "éclairs" }, TfidfVectorizer.Tokens("Crème brûlée at café Zoë: naïve ÉCLAIRS!"));
        Assert.Equal(new[] { "x_1", "y_22", "__init__", "14", "42", "2024", "12", "07" }, TfidfVectorizer.Tokens("x_1 y_22 __init__ a b c 3.14 42 2024-12-07"));
        Assert.Equal(new[] { "don", "can", "won", "it", "isn" }, TfidfVectorizer.Tokens("don't can't won't it's isn't"));
        Assert.Equal(new[] { "𝔘𝔫" }, TfidfVectorizer.Tokens("𝔘𝔫 𝔦"));   // letters beyond the BMP count once each
    }

    [Fact]
    public void LogisticRegressionMatchesScikitLearnBinaryAndMultinomial()
    {
        var f = Fixture("logistic.json");
        var vec = TfidfVectorizer.Fit(Texts, minDf: 2, ngrams: 2);
        var x = vec.Transform(Texts);
        var y = s_tfidf.Value.GetProperty("labels").EnumerateArray().Select(e => (long)e.GetInt32()).ToArray();
        var probe = s_tfidf.Value.GetProperty("probe").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        foreach (var b in f.GetProperty("binary").EnumerateArray())
        {
            double c = b.GetProperty("C").GetDouble();
            var m = LogisticRegression.Fit(x, y, 2, c, tolerance: 1e-10);
            var coef = b.GetProperty("coef").EnumerateArray().Select(e => e.GetDouble()).ToArray();
            double scale = coef.Max(Math.Abs);
            double worst = Enumerable.Range(0, coef.Length).Max(i => Math.Abs(coef[i] - m.Coefficients[0][i]));
            Assert.True(worst <= 1e-5 * scale, $"C={c}: largest coefficient difference {worst:G3} (scale {scale:G3})");
            Assert.Equal(b.GetProperty("intercept").GetDouble(), m.Intercepts[0], 1e-5);
            var p = m.PredictProbabilities(x.SelectRows(probe)).ToArray<float>();
            var expected = b.GetProperty("proba").EnumerateArray().Select(e => e.GetDouble()).ToArray();
            for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], p[2 * i + 1], 1e-5);
        }
        var iris = f.GetProperty("iris");
        var rows = iris.GetProperty("x").EnumerateArray().Select(r => r.EnumerateArray().Select(v => (float)v.GetDouble()).ToArray()).ToArray();
        var xi = CsrMatrix.FromDense(Tensor.FromArray(rows.SelectMany(r => r).ToArray(), rows.Length, 4));
        var yi = iris.GetProperty("y").EnumerateArray().Select(e => (long)e.GetInt32()).ToArray();
        var mi = LogisticRegression.Fit(xi, yi, 3, 1.0, tolerance: 1e-10);
        var ci = iris.GetProperty("coef").EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetDouble()).ToArray()).ToArray();
        for (int k = 0; k < 3; k++)
            for (int j = 0; j < 4; j++) Assert.Equal(ci[k][j], mi.Coefficients[k][j], 1e-4);
        var pi = mi.PredictProbabilities(xi).ToArray<float>();
        var ei = iris.GetProperty("proba").EnumerateArray().SelectMany(r => r.EnumerateArray().Select(v => v.GetDouble())).ToArray();
        for (int i = 0; i < ei.Length; i++) Assert.Equal(ei[i], pi[i], 1e-4);
    }

    [Fact]
    public void RidgeRegressionSolvesTheNormalEquations()
    {
        // Ridge with α = 1/C has the closed form (XᵀX + αI)w = Xᵀ(y − b) with the intercept unpenalized: check it on
        // centred data (then b = mean y), solved independently by Gaussian elimination in float64.
        var rng = new Random(3);
        int n = 200, f = 5;
        var x = new double[n, f];
        var y = new double[n];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < f; j++) x[i, j] = rng.NextDouble() * 2 - 1;
            y[i] = 3 * x[i, 0] - 2 * x[i, 3] + 0.5 + 0.1 * (rng.NextDouble() - 0.5);
        }
        for (int j = 0; j < f; j++)
        {
            double mean = 0;
            for (int i = 0; i < n; i++) mean += x[i, j];
            for (int i = 0; i < n; i++) x[i, j] -= mean / n;
        }
        double c = 0.05, alpha = 1 / c;
        var a = new double[f, f + 1];
        double ym = y.Average();
        for (int p = 0; p < f; p++)
        {
            for (int q = 0; q < f; q++) { for (int i = 0; i < n; i++) a[p, q] += x[i, p] * x[i, q]; }
            a[p, p] += alpha;
            for (int i = 0; i < n; i++) a[p, f] += x[i, p] * (y[i] - ym);
        }
        for (int p = 0; p < f; p++)
            for (int r = p + 1; r < f; r++)
            {
                double m = a[r, p] / a[p, p];
                for (int q = p; q <= f; q++) a[r, q] -= m * a[p, q];
            }
        var w = new double[f];
        for (int p = f - 1; p >= 0; p--)
        {
            double s = a[p, f];
            for (int q = p + 1; q < f; q++) s -= a[p, q] * w[q];
            w[p] = s / a[p, p];
        }
        var flat = new float[n * f];
        for (int i = 0; i < n; i++) for (int j = 0; j < f; j++) flat[i * f + j] = (float)x[i, j];
        // (float32 storage of x: compare to 1e-5 of the weights' scale)
        var model = RidgeRegression.Fit(CsrMatrix.FromDense(Tensor.FromArray(flat, n, f)), y, c, tolerance: 1e-12);
        for (int j = 0; j < f; j++) Assert.Equal(w[j], model.Coefficients[j], 1e-4);
        Assert.Equal(ym, model.Intercept, 1e-4);
    }

    private static (double[][] X, long[] Y, double[] Target, int Train, double Auc, double Rmse) HgbData()
    {
        var f = Fixture("hgb.json");
        var x = f.GetProperty("x").EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.ValueKind == JsonValueKind.Null ? double.NaN : v.GetDouble()).ToArray()).ToArray();
        return (x, f.GetProperty("y").EnumerateArray().Select(e => (long)e.GetInt32()).ToArray(),
            f.GetProperty("target").EnumerateArray().Select(e => e.GetDouble()).ToArray(), f.GetProperty("train").GetInt32(),
            f.GetProperty("classifier_auc").GetDouble(), f.GetProperty("regressor_rmse").GetDouble());
    }

    [Fact]
    public void GradientBoostingScoresLikeScikitLearnsOnHeldOutRows()
    {
        var (x, y, target, n, sklearnAuc, sklearnRmse) = HgbData();
        var clf = HistGradientBoosting.FitClassifier(x[..n], y[..n], 2);
        Assert.Equal(100, clf.Iterations);
        var p = clf.PredictProbabilities(x[n..]);
        double auc = Ember.Training.Metrics.RocAuc(p, Tensor.FromArray(y[n..]));
        // Same defaults, same data: the two implementations differ in binning details and tie-breaking only.
        Assert.InRange(auc, sklearnAuc - 0.015, sklearnAuc + 0.015);
        var reg = HistGradientBoosting.FitRegressor(x[..n], target[..n]);
        var pr = reg.Predict(x[n..]).ToArray<float>();
        double rmse = Math.Sqrt(pr.Select((v, i) => (v - target[n + i]) * (v - target[n + i])).Average());
        Assert.InRange(rmse, sklearnRmse * 0.95, sklearnRmse * 1.05);
        // A constant predictor's RMSE, for scale: boosting must be far below it.
        double mean = target[..n].Average();
        Assert.True(rmse < 0.5 * Math.Sqrt(target[n..].Select(v => (v - mean) * (v - mean)).Average()));
    }

    [Fact]
    public void GradientBoostingEarlyStopsOnValidationAndHandlesThreeClasses()
    {
        var (x, y, _, n, _, _) = HgbData();
        var stopped = HistGradientBoosting.FitClassifier(x[..1500], y[..1500], 2, new GradientBoostingOptions { MaxIterations = 500 }, x[1500..n], y[1500..n]);
        Assert.InRange(stopped.Iterations, 5, 490);
        // Three classes from the first feature's terciles (NaN → class 0): a tree per class per iteration.
        var y3 = x.Select(r => double.IsNaN(r[0]) ? 0L : r[0] < -0.43 ? 0L : r[0] < 0.43 ? 1L : 2L).ToArray();
        var m = HistGradientBoosting.FitClassifier(x[..n], y3[..n], 3, new GradientBoostingOptions { MaxIterations = 30 });
        var p = m.PredictProbabilities(x[n..]);
        Assert.Equal(new[] { x.Length - n, 3 }, p.Shape);
        double acc = p.ArgMax(-1).Eq(Tensor.FromArray(y3[n..])).To(DType.Float64).Mean().Item();
        Assert.True(acc > 0.97, $"accuracy {acc}");   // a threshold rule on one feature: trees find it
        var sums = p.Sum(1).ToArray<float>();
        Assert.All(sums, s => Assert.Equal(1, s, 1e-5));
    }

    [Fact]
    public void SparseLinearGradientsMatchTheDenseLayer()
    {
        var rng = new Generator(5);
        var dense = Tensor.Randn([7, 11], generator: rng).Relu();   // about half zeros
        var x = CsrMatrix.FromDense(dense);
        Assert.Equal(dense.ToArray<float>(), x.ToDense().ToArray<float>());
        var w = Tensor.Randn([3, 11], generator: rng).RequiresGrad_();
        var b = Tensor.Randn([3], generator: rng).RequiresGrad_();
        var g = Tensor.Randn([7, 3], generator: rng);
        x.Linear(w, b, scale: 2).Mul(g).Sum().Backward();
        var (gw, gb) = (w.Grad!.ToArray<float>(), b.Grad!.ToArray<float>());
        w.Grad = null; b.Grad = null;
        Functional.Linear(dense.Mul(2), w, b).Mul(g).Sum().Backward();
        Assert.Equal(w.Grad!.ToArray<float>(), gw, new FloatTolerance(1e-5f));
        Assert.Equal(b.Grad!.ToArray<float>(), gb, new FloatTolerance(1e-5f));
        var rows = x.SelectRows([6, 0, 6]);
        Assert.Equal(dense.IndexSelect(0, Tensor.FromArray(new long[] { 6, 0, 6 })).ToArray<float>(), rows.ToDense().ToArray<float>());
        Assert.Equal(dense.Narrow(0, 2, 3).ToArray<float>(), x.Slice(2, 3).ToDense().ToArray<float>());
    }

    private sealed class FloatTolerance(float tol) : IEqualityComparer<float>
    {
        public bool Equals(float a, float b) => Math.Abs(a - b) <= tol * Math.Max(1, Math.Abs(a));
        public int GetHashCode(float v) => 0;
    }
}
