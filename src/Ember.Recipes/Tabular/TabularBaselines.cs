
namespace Ember.Recipes.Tabular;

/// <summary>The classical baselines a practitioner would run on a table before any neural model, as strong as their
/// scikit-learn counterparts: a regularized linear model on the TF-IDF of the text (word 1-2-grams) and the
/// structured features, its C chosen on validation rows (scikit-learn's LogisticRegression / Ridge), and histogram
/// gradient boosting on the structured columns (scikit-learn's HistGradientBoosting).</summary>
public static class TabularBaselines
{
    /// <summary>The C values tried (C = 1/α: larger is less regularized).</summary>
    public static readonly double[] CGrid = [0.1, 0.3, 1, 3, 10, 30, 100];

    /// <summary>Sparse rows for the linear model: the TF-IDF terms (when the table has text), then the dense structured
    /// features (standardized numbers, one-hot categories, date parts).</summary>
    public static CsrMatrix LinearFeatures(TabularBatch x) => x.Wide is null ? CsrMatrix.FromDense(x.Dense) : x.Wide.AppendColumns(x.Dense);

    /// <summary>A linear model (logistic for classes, ridge for values) with C chosen by the validation score.
    /// Returns the predictor (probabilities (N, C) or values (N, 1)), C and the validation scores.</summary>
    public static (Func<TabularBatch, Tensor> Predict, double C, TabularScores Validation) FitLinear(TabularData train, TabularData validation, int outputs,
        double[]? grid = null)
    {
        var xt = LinearFeatures(train.X);
        var xv = LinearFeatures(validation.X);
        bool classification = train.Y.DType == DType.Int64;
        (Func<TabularBatch, Tensor> Predict, double C, TabularScores Val)? best = null;
        LogisticRegression? lastLogistic = null;
        RidgeRegression? lastRidge = null;
        // Increasing C, each fit starting from the previous optimum (a regularization path), to a gradient tolerance of
        // 1e-6 of the objective's scale (model selection needs no more).
        foreach (double c in (grid ?? CGrid).Order())
        {
            Func<CsrMatrix, Tensor> predict;
            if (classification)
            {
                var m = lastLogistic = LogisticRegression.Fit(xt, train.Y.ToArray<long>(), outputs, c, tolerance: 1e-6, warmStart: lastLogistic);
                predict = m.PredictProbabilities;
            }
            else
            {
                var m = lastRidge = RidgeRegression.Fit(xt, train.Y.To(DType.Float64).Reshape(-1).ToArray<double>(), c, tolerance: 1e-6, warmStart: lastRidge);
                predict = m.Predict;
            }
            var scores = TabularTraining.Score(predict(xv), validation.Y);
            if (best is null || scores.Selection > best.Value.Val.Selection) best = (x => predict(LinearFeatures(x)), c, scores);
        }
        return best!.Value;
    }

    /// <summary>The structured columns as rows of numbers for trees: the scalar features (numbers, missing flags, date
    /// parts) and each categorical column's category index.</summary>
    public static double[][] StructuredRows(TabularBatch x)
    {
        int n = x.Count, kn = x.Numeric.Size(1), kc = x.Categorical.Size(1);
        var num = x.Numeric.Contiguous().ToArray<float>();
        var cat = x.Categorical.Contiguous().ToArray<long>();
        var rows = new double[n][];
        for (int i = 0; i < n; i++)
        {
            var r = rows[i] = new double[kn + kc];
            for (int j = 0; j < kn; j++) r[j] = num[i * kn + j];
            for (int j = 0; j < kc; j++) r[kn + j] = cat[i * kc + j];
        }
        return rows;
    }

    /// <summary>Histogram gradient boosting on the structured columns, early-stopped on the validation rows. Null when
    /// the table has no structured column.</summary>
    public static (Func<TabularBatch, Tensor> Predict, int Iterations, TabularScores Validation)? FitBoosting(TabularData train, TabularData validation, int outputs,
        GradientBoostingOptions? options = null)
    {
        if (train.X.Numeric.Size(1) + train.X.Categorical.Size(1) == 0) return null;
        var xt = StructuredRows(train.X);
        var xv = StructuredRows(validation.X);
        HistGradientBoosting model = train.Y.DType == DType.Int64
            ? HistGradientBoosting.FitClassifier(xt, train.Y.ToArray<long>(), outputs, options, xv, validation.Y.ToArray<long>())
            : HistGradientBoosting.FitRegressor(xt, train.Y.To(DType.Float64).Reshape(-1).ToArray<double>(), options, xv, validation.Y.To(DType.Float64).Reshape(-1).ToArray<double>());
        Tensor Predict(TabularBatch x) => model.Classes > 0 ? model.PredictProbabilities(StructuredRows(x)) : model.Predict(StructuredRows(x));
        return (Predict, model.Iterations, TabularTraining.Score(Predict(validation.X), validation.Y));
    }
}
