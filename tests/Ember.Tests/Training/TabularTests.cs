using System.Globalization;
using System.Text;
using Ember.Data;
using Ember.IO;
using Ember.Models;
using Ember.Text;
using Ember.Training;
using Xunit;
using Ember.Recipes;
using Ember.Recipes.Tabular;

namespace Ember.Tests.Training;

/// <summary>Tables with text columns: column typing, text and TF-IDF features, ROC AUC, the tabular models and fusions,
/// cross-validated comparison and the `ember tabular` command.</summary>
[Collection("console")]
public class TabularTests
{
    private static readonly string[] Filler = ["the", "box", "arrived", "today", "and", "it", "was", "my", "order", "of", "tea", "coffee", "snack", "for", "kids"];

    /// <summary>A synthetic table: label "great" when the note says "excellent" and the amount is positive, or the note
    /// says "fine" and the region is A; needs both the text and the structured columns.</summary>
    internal static string SyntheticCsv(int rows, int seed)
    {
        var g = new Generator((ulong)seed);
        var sb = new StringBuilder("amount,region,day,note,label\n");
        var start = new DateOnly(2020, 1, 1);
        for (int i = 0; i < rows; i++)
        {
            double amount = Math.Round(g.NextNormal(), 3);
            string region = "ABC"[(int)g.NextInt64(0, 3)].ToString();
            string key = g.NextDouble() < 0.5 ? "excellent" : "fine";
            var words = Enumerable.Range(0, 6 + (int)g.NextInt64(0, 6)).Select(_ => Filler[g.NextInt64(0, Filler.Length)]).ToList();
            words.Insert((int)g.NextInt64(0, words.Count), key);
            bool great = key == "excellent" ? amount > 0 : region == "A";
            sb.Append(FormattableString.Invariant($"{(i % 17 == 5 ? "NA" : amount.ToString(CultureInfo.InvariantCulture))},{region},{start.AddDays(i):yyyy-MM-dd},\"{string.Join(' ', words)}\",{(great ? "great" : "other")}\n"));
        }
        return sb.ToString();
    }

    private static CsvTable Table(int rows = 240, int seed = 1) => CsvTable.Parse(new StringReader(SyntheticCsv(rows, seed)), "synthetic.csv");

    [Fact]
    public void EncoderInfersTextAndDateColumnsAndBucketsRareCategories()
    {
        var t = Table();
        var rows = Enumerable.Range(0, 200).ToArray();
        var enc = TabularEncoder.Fit(t, "label", rows, minCategoryCount: 2);
        Assert.Equal([ColumnKind.Numeric, ColumnKind.Categorical, ColumnKind.Date, ColumnKind.Text], enc.Features.Select(f => f.Kind));
        Assert.Equal(["note"], enc.TextColumns);
        Assert.Equal(["A", "B", "C"], enc.Features[1].Vocabulary);
        Assert.True(enc.Features[0].HasMissing);
        Assert.Equal(2 + 4 + 5, enc.Width);                 // amount + missing flag, A/B/C/unknown, 5 date parts; text adds none
        Assert.Equal(2 + 5, enc.NumericWidth);
        Assert.Equal([4], enc.Cardinalities);
        var (num, cat) = enc.TransformColumns(t, [0, 1, 2]);
        Assert.Equal(new[] { 3, 7 }, num.Shape);
        Assert.Equal(new[] { 3, 1 }, cat.Shape);
        // The date parts of row 0 (2020-01-01, a Wednesday): day of year 0 → sin 0, cos 1; weekday 3.
        var d = num.ToArrayDouble();
        Assert.Equal(0.0, d[2 + 1], 6);
        Assert.Equal(1.0, d[2 + 2], 6);
        Assert.Equal(Math.Sin(2 * Math.PI * 3 / 7), d[2 + 3], 6);
        // An identifier-like column: each value once, so with a minimum count of 2 every value is unknown.
        var ids = CsvTable.Parse(new StringReader("id,y\na1,1\na2,0\na3,1\na3,0\n"), "ids.csv");
        var e2 = TabularEncoder.Fit(ids, "y", [0, 1, 2, 3], overrides: new Dictionary<string, ColumnKind> { ["y"] = ColumnKind.Categorical }, minCategoryCount: 2);
        Assert.Equal(["a3"], e2.Features[0].Vocabulary);
        Assert.Equal(new long[] { 1, 1, 0, 0 }, e2.TransformColumns(ids, [0, 1, 2, 3]).Categorical.ToArray<long>());
        var back = TabularEncoder.FromJson(enc.ToJson(), "json");
        Assert.Equal(enc.Transform(t, rows).X.ToArray<float>(), back.Transform(t, rows).X.ToArray<float>());
        var bad = CsvTable.Parse(new StringReader("amount,region,day,note,label\n1,A,not-a-date,\"a b c d e\",great\n"), "bad.csv");
        var ex = Assert.Throws<InvalidDataException>(() => enc.Transform(bad, [0]));
        Assert.Contains("line 2", ex.Message);
        Assert.Contains("day", ex.Message);
    }

    [Fact]
    public void TfidfMatchesTheFormula()
    {
        string[] docs = ["good tea good", "bad tea", "good coffee"];
        var v = TfidfVectorizer.Fit(docs, minDf: 1, ngrams: 1);
        Assert.Equal(["bad", "coffee", "good", "tea"], v.Vocabulary);
        double Idf(int df) => Math.Log(4.0 / (1 + df)) + 1;
        var x = v.Transform(["good tea good"]).ToDense().ToArrayDouble();
        double good = (1 + Math.Log(2)) * Idf(2), tea = Idf(2), norm = Math.Sqrt(good * good + tea * tea);
        TorchReference.Close([0, 0, good / norm, tea / norm], x, 1e-6, "tf-idf row");
        var meta = new Dictionary<string, string>();
        v.WriteMetadata(meta, "t_");
        Assert.Equal(x, TfidfVectorizer.FromMetadata(meta, "t_", "meta").Transform(["good tea good"]).ToDense().ToArrayDouble());
        var bi = TfidfVectorizer.Fit(docs, minDf: 1, ngrams: 2);
        Assert.Contains("good tea", bi.Vocabulary);
    }

    [Fact]
    public void TextFeaturizerStartsWithClsPadsTruncatesAndRoundTrips()
    {
        var texts = Enumerable.Range(0, 50).Select(i => $"Great tea<br />number {i} with lots of flavour and aroma").ToArray();
        var f = TextFeaturizer.Fit(texts, vocabSize: 300, maxTokens: 8);
        var ids = f.Transform(["great tea", "", texts[3]]).ToArray<long>();
        Assert.Equal(f.ClsId, ids[0]);
        Assert.Equal(f.PadId, ids[7]);                                  // a short text is padded
        Assert.Equal(f.ClsId, ids[8]);
        Assert.All(ids[9..16], id => Assert.Equal(f.PadId, id));        // an empty text is [CLS] and padding
        Assert.DoesNotContain((long)f.PadId, ids[16..24]);              // a long text fills all 8 positions
        Assert.DoesNotContain("<br", string.Concat(f.TokenStrings(texts[0])));
        var meta = new Dictionary<string, string>();
        f.WriteMetadata(meta, "text_");
        var back = TextFeaturizer.FromMetadata(meta, "text_", "meta");
        Assert.Equal(ids, back.Transform(["great tea", "", texts[3]]).ToArray<long>());
    }

    [Fact]
    public void RocAucCountsPairsAndTies()
    {
        Assert.Equal(0.75, Metrics.RocAuc([0.1, 0.4, 0.35, 0.8], [false, false, true, true]), 12);
        Assert.Equal(0.5, Metrics.RocAuc([1, 1, 1, 1], [false, true, false, true]), 12);
        Assert.Equal(1.0, Metrics.RocAuc([0.2, 0.9], [false, true]), 12);
        Assert.Equal(0.875, Metrics.RocAuc([0.5, 0.5, 0.1, 0.9], [true, false, false, true]), 12);   // one tied pair counts ½
        Assert.Throws<ArgumentException>(() => Metrics.RocAuc([0.1, 0.2], [true, true]));
        Assert.Throws<ArgumentException>(() => Metrics.RocAuc([double.NaN, 0.2], [true, false]));
        var probs = Tensor.FromArray(new[] { 0.9, 0.1, 0.2, 0.8, 0.6, 0.4 }, 3, 2);
        Assert.Equal(1.0, Metrics.RocAuc(probs, Tensor.FromArray(new long[] { 0, 1, 0 })), 12);
    }

    private static (TabularPreprocessor Prep, TabularData Train) Prepared()
    {
        var t = Table();
        var rows = Enumerable.Range(0, t.Rows.Count).ToArray();
        var prep = TabularPreprocessor.Fit(t, "label", rows, textVocab: 300, maxTokens: 16);
        return (prep, prep.TransformWithTarget(t, rows));
    }

    [Theory]
    [InlineData(TabularModelKind.Mlp, FusionKind.Concat, false)]
    [InlineData(TabularModelKind.Text, FusionKind.Concat, false)]
    [InlineData(TabularModelKind.FtTransformer, FusionKind.Concat, false)]
    [InlineData(TabularModelKind.Hybrid, FusionKind.Concat, false)]
    [InlineData(TabularModelKind.Hybrid, FusionKind.Cross, false)]
    [InlineData(TabularModelKind.Hybrid, FusionKind.Gated, false)]
    [InlineData(TabularModelKind.Hybrid, FusionKind.Concat, true)]
    public void ModelsHaveTheRightShapesAndRoundTripTheirConfig(TabularModelKind kind, FusionKind fusion, bool wide)
    {
        var (prep, data) = Prepared();
        var config = prep.ModelConfig(kind, fusion, dModel: 16, layers: 1, hidden: 32, wide: wide);
        var m = new TabularModel(config, new Generator(2));
        var batch = data.X.Slice(0, 5);
        Assert.Equal(new[] { 5, 2 }, m.Forward(batch).Shape);
        Assert.Equal(config.ToMetadata(), TabularModelConfig.FromMetadata(config.ToMetadata(), "meta").ToMetadata());
        if (config.UsesText)
            Assert.Throws<ArgumentException>(() => m.Forward(batch with { Text = null }));
        if (wide)
            Assert.Throws<ArgumentException>(() => m.Forward(batch with { Wide = null }));
        Assert.Throws<InvalidOperationException>(() => m.Call(batch.Dense));
    }

    /// <summary>The label needs both the text ("excellent"/"fine") and the structured columns (amount, region): the hybrid
    /// fits the training rows, the MLP alone and the text model alone cannot.</summary>
    [Fact]
    public void HybridLearnsWhatNeedsBothBranches()
    {
        var (prep, data) = Prepared();
        double Fit(TabularModelKind kind, FusionKind fusion)
        {
            var config = prep.ModelConfig(kind, fusion, dModel: 32, layers: 1, hidden: 64, dropout: 0);
            var (model, _, _) = TabularTraining.Fit(config, data, data, new TabularFitOptions { Epochs = 30, BatchSize = 32, LearningRate = 3e-3, Patience = 30 });
            return TabularTraining.Score(TabularTraining.Predict(model, data.X), data.Y).Accuracy;
        }
        double hybrid = Fit(TabularModelKind.Hybrid, FusionKind.Concat);
        double mlp = Fit(TabularModelKind.Mlp, FusionKind.Concat);
        Assert.True(hybrid >= 0.95, $"hybrid training accuracy {hybrid:F3}");
        Assert.True(mlp <= 0.9, $"the MLP alone should not fit the text-dependent label, got {mlp:F3}");
        Assert.True(hybrid > mlp + 0.05);
    }

    /// <summary>Integrated gradients satisfy completeness (the attributions add up to output − baseline output, up to the
    /// integration error), and on a hybrid trained on the synthetic rule the keyword carries the largest attribution;
    /// permutation importance ranks the note and the amount above the date, which the label ignores.</summary>
    [Fact]
    public void ExplanationsFindTheColumnsAndTokensThatMatter()
    {
        var t = Table();
        var rows = Enumerable.Range(0, t.Rows.Count).ToArray();
        var prep = TabularPreprocessor.Fit(t, "label", rows, textVocab: 400, maxTokens: 16);   // 400: "excellent" is one token
        var data = prep.TransformWithTarget(t, rows);
        var config = prep.ModelConfig(TabularModelKind.Hybrid, FusionKind.Concat, dModel: 32, layers: 1, hidden: 64, dropout: 0);
        var (model, _, _) = TabularTraining.Fit(config, data, data, new TabularFitOptions { Epochs = 30, LearningRate = 3e-3, Patience = 30 });
        var (tokens, target, delta, sum) = TabularExplain.IntegratedGradients(model, prep, t, 3, steps: 64);
        Assert.Equal(tokens.Length, prep.Text!.TokenStrings(prep.Texts(t, [3])[0]).Length);
        Assert.True(Math.Abs(sum - delta) <= 0.05 * Math.Abs(delta) + 0.02, $"completeness: Σ attributions {sum:F4} vs Δ output {delta:F4}");
        // A text-only rule (great iff the note says "excellent"): the keyword carries the largest attribution.
        var sb = new StringBuilder("note,label\n");
        foreach (var r in t.Rows) sb.Append($"\"{r[3]}\",{(r[3].Contains("excellent") ? "great" : "other")}\n");
        var textTable = CsvTable.Parse(new StringReader(sb.ToString()), "text.csv");
        var textPrep = TabularPreprocessor.Fit(textTable, "label", rows, textVocab: 400, maxTokens: 16);
        var textData = textPrep.TransformWithTarget(textTable, rows);
        var (textModel, _, _) = TabularTraining.Fit(textPrep.ModelConfig(TabularModelKind.Text, dModel: 32, layers: 1, hidden: 64, dropout: 0),
            textData, textData, new TabularFitOptions { Epochs = 15, LearningRate = 3e-3, Patience = 15 });
        int keywordTop = 0;
        for (int r = 0; r < 10; r++)
        {
            var (tk, _, d, s) = TabularExplain.IntegratedGradients(textModel, textPrep, textTable, r, steps: 64);
            Assert.True(Math.Abs(s - d) <= 0.05 * Math.Abs(d) + 0.02, $"row {r}: Σ attributions {s:F4} vs Δ output {d:F4}");
            if (tk.MaxBy(a => Math.Abs(a.Attribution))!.Token.Trim() is "excellent" or "fine") keywordTop++;
        }
        Assert.True(keywordTop >= 8, $"the keyword had the largest attribution in {keywordTop} of 10 rows");
        var importance = TabularExplain.PermutationImportance(model, prep, t, rows).ToDictionary(p => p.Column, p => p.Importance);
        Assert.True(importance["note"] > importance["day"] + 0.05, string.Join(", ", importance));
        Assert.True(importance["amount"] > importance["day"] + 0.02, string.Join(", ", importance));
        Assert.Throws<ArgumentException>(() => TabularExplain.IntegratedGradients(model, prep, t, t.Rows.Count));
    }

    [Fact]
    public void CrossFusionKeepsItsAttentionOverTextTokens()
    {
        var (prep, data) = Prepared();
        var m = new TabularModel(prep.ModelConfig(TabularModelKind.Hybrid, FusionKind.Cross, dModel: 16, layers: 1, hidden: 32), new Generator(1));
        m.KeepFusionAttention = true;
        m.Eval();
        using var _ = Tensor.NoGrad();
        var batch = data.X.Slice(0, 3);
        m.Forward(batch);
        var w = m.FusionAttention!;
        Assert.Equal(new[] { 3, 4, prep.Encoder.NumericWidth + prep.Encoder.Cardinalities.Length, 16 }, w.Shape);   // (N, heads, structured tokens, text tokens)
        var pad = batch.Text!.Eq(prep.Text!.PadId).Unsqueeze(1).Unsqueeze(1).Expand(w.Shape);
        Assert.Equal(0.0, w.MaskedFill(pad.LogicalNot(), 0).Abs().Max().Item());   // padding never attended
    }

    [Fact]
    public void ComparisonCrossValidatesModelsAndBaselines()
    {
        var t = Table(200, 4);
        var cmp = TabularExperiment.Compare(t, new TabularCompareOptions
        {
            Target = "label", Folds = 2, TextVocab = 300, MaxTokens = 16, DModel = 16, Layers = 1, Hidden = 32,
            Fit = new TabularFitOptions { Epochs = 3 },
        });
        Assert.Equal(["majority class", "tf-idf logistic", "gradient boosting (structured)", "hybrid (concat)"], cmp.Rows.Select(r => r.Model));
        Assert.All(cmp.Rows, r => Assert.Equal(2, r.FoldScores.Length));
        Assert.Equal(0.5, cmp.Rows[0].Mean, 12);   // a constant predictor has AUC 0.5
        Assert.Equal(40, cmp.TestRows);
        Assert.True(cmp.Classification);
        Assert.Equal("hybrid (concat)", cmp.BestName);
    }

    /// <summary>A numeric target: regression heads (MSE), RMSE/MAE scores and the mean baseline; the hybrid beats the
    /// mean predictor. With ablations the table holds every fusion type and the FT-Transformer.</summary>
    [Fact]
    public void RegressionTargetsAndAblations()
    {
        var g = new Generator(3);
        var sb = new StringBuilder("amount,region,note,value\n");
        for (int i = 0; i < 200; i++)
        {
            double amount = Math.Round(g.NextNormal(), 3);
            bool excellent = g.NextDouble() < 0.5;
            var words = Enumerable.Range(0, 6).Select(_ => Filler[g.NextInt64(0, Filler.Length)]).Append(excellent ? "excellent" : "fine");
            sb.Append(FormattableString.Invariant($"{amount},{"AB"[i % 2]},\"{string.Join(' ', words)}\",{2 * amount + (excellent ? 3 : 0):F4}\n"));
        }
        var t = CsvTable.Parse(new StringReader(sb.ToString()), "regression.csv");
        var cmp = TabularExperiment.Compare(t, new TabularCompareOptions
        {
            Target = "value", Folds = 1, Ablations = true, TextVocab = 300, MaxTokens = 12, DModel = 16, Layers = 1, Hidden = 32,
            Fit = new TabularFitOptions { Epochs = 25, LearningRate = 3e-3, Patience = 25 },
        });
        Assert.False(cmp.Classification);
        Assert.Equal(["training mean", "tf-idf ridge", "gradient boosting (structured)", "mlp (structured only)", "text transformer", "ft-transformer (structured)",
            "hybrid (concat)", "hybrid (cross)", "hybrid (gated)"], cmp.Rows.Select(r => r.Model));
        var mean = cmp.Rows[0];
        var hybrid = cmp.Rows.First(r => r.Model == "hybrid (concat)");
        Assert.True(double.IsNaN(hybrid.Test.Auc));
        Assert.True(hybrid.Mean < 0.6 * mean.Mean, $"validation RMSE: hybrid {hybrid.Mean:F3} vs mean {mean.Mean:F3}");
        Assert.True(hybrid.Test.Rmse < 0.6 * mean.Test.Rmse, $"test RMSE: hybrid {hybrid.Test.Rmse:F3} vs mean {mean.Test.Rmse:F3}");
        Assert.Equal(1, cmp.Best.Config.Outputs);
    }

    [Fact]
    public void SeedsRepeatTheComparisonOnTheSameSplit()
    {
        var t = Table(160, 6);
        var o = new TabularCompareOptions { Target = "label", Kind = TabularModelKind.Mlp, Folds = 2, TextVocab = 300, MaxTokens = 16, Hidden = 32,
            Fit = new TabularFitOptions { Epochs = 2 } };
        var one = TabularExperiment.Compare(t, o);
        var three = TabularExperiment.CompareSeeds(t, o, 3);
        Assert.Equal(one.Rows.Select(r => r.Model), three.Rows.Select(r => r.Model));
        Assert.All(three.Rows, r => Assert.Equal(6, r.FoldScores.Length));                        // 2 folds × 3 seeds
        Assert.Equal(one.Rows[1].FoldScores, three.Rows[1].FoldScores[..2]);                      // seed 1 first, same folds
        Assert.Equal(one.Rows[1].FoldScores, three.Rows[1].FoldScores[2..4]);                     // the linear baseline ignores the seed
        Assert.Equal(one.TestRows, three.TestRows);
        Assert.Throws<ArgumentException>(() => TabularExperiment.CompareSeeds(t, o, 0));
    }

    [Fact]
    public void RandomSearchReportsTrialsBestFirst()
    {
        var t = Table(160, 5);
        var o = new TabularCompareOptions { Target = "label", Kind = TabularModelKind.Hybrid, TextVocab = 300, MaxTokens = 16, Hidden = 32, Fit = new TabularFitOptions { Epochs = 2 } };
        var trials = TabularExperiment.Search(t, o, 3);
        Assert.Equal(3, trials.Count);
        Assert.Equal([1, 2, 3], trials.Select(x => x.Trial).Order());
        Assert.True(trials.Zip(trials.Skip(1)).All(p => p.First.Score >= p.Second.Score));
        Assert.All(trials, x =>
        {
            Assert.InRange(x.LearningRate, 3e-4, 3e-3);
            Assert.Contains(x.DModel, new[] { 32, 64, 128 });
            Assert.InRange(x.Layers, 1, 3);
            Assert.InRange(x.Dropout, 0, 0.3);
            Assert.InRange(x.Score, 0, 1);
        });
        Assert.Equal(trials.Select(x => x.Score), TabularExperiment.Search(t, o, 3).Select(x => x.Score));   // same seed, same trials
        Assert.Throws<ArgumentException>(() => TabularExperiment.Search(t, o, 0));
    }

    private static (int Code, string Out, string Err) Run(params string[] args) => Ember.Tests.Cli.CliTests.Run(args);

    [Fact]
    public void TabularCommandTrainsSavesAndPredicts()
    {
        var dir = Directory.CreateTempSubdirectory("ember-tabular").FullName;
        var csv = Path.Combine(dir, "data.csv");
        File.WriteAllText(csv, SyntheticCsv(160, 7));
        var (code, output, err) = Run("tabular", "train", csv, "--target", "label", "--cv", "2", "--epochs", "2", "--d-model", "16", "--layers", "1",
            "--fusion", "gated", "--out", dir, "--quiet");
        Assert.True(code == 0, err);
        Assert.Contains("hybrid (gated)", output);
        Assert.Contains("±", output);
        var model = Path.Combine(dir, "model.safetensors");
        Assert.True(File.Exists(model));
        Assert.True(File.Exists(Path.Combine(dir, "report.csv")));
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, File.ReadAllBytes(Path.Combine(dir, "comparison.png"))[..4]);
        var unlabeled = Path.Combine(dir, "new.csv");
        File.WriteAllLines(unlabeled, File.ReadAllLines(csv).Take(11).Select(l => l[..l.LastIndexOf(',')]));   // no label column
        var preds = Path.Combine(dir, "predictions.csv");
        var (pcode, pout, perr) = Run("tabular", "predict", model, unlabeled, "--out", preds);
        Assert.True(pcode == 0, perr);
        var lines = File.ReadAllLines(preds);
        Assert.Equal("row,prediction,p_great,p_other", lines[0]);
        Assert.Equal(11, lines.Length);
        var (ecode, eout, eerr) = Run("tabular", "explain", model, csv, "--row", "2", "--out", dir);
        Assert.True(ecode == 0, eerr);
        Assert.Contains("integrated gradients toward", eout);
        Assert.Contains("permutation importance", eout);
        Assert.True(File.Exists(Path.Combine(dir, "tokens.png")));
        // SHAP over the row's columns: additive (base + Σφ = the output), and the output is the predicted class's probability.
        var shapLine = System.Text.RegularExpressions.Regex.Match(eout, @"SHAP values of P\('(\w+)'\) for row 2 \(exact, 20 background rows\): base (-?[\d.]+) \+ (-?[\d.]+) = ([\d.]+)");
        Assert.True(shapLine.Success, eout);
        double baseValue = double.Parse(shapLine.Groups[2].Value, CultureInfo.InvariantCulture), sum = double.Parse(shapLine.Groups[3].Value, CultureInfo.InvariantCulture);
        double shapOutput = double.Parse(shapLine.Groups[4].Value, CultureInfo.InvariantCulture);
        Assert.Equal(shapOutput, baseValue + sum, 3);
        var predicted = System.Text.RegularExpressions.Regex.Match(eout, $@"{shapLine.Groups[1].Value} ([\d.]+)");
        Assert.Equal(double.Parse(predicted.Groups[1].Value, CultureInfo.InvariantCulture), shapOutput, 3);
        Assert.True(File.Exists(Path.Combine(dir, "shap_waterfall.png")));
        var (bad, _, berr) = Run("tabular", "train", csv, "--target", "nope", "--out", dir);
        Assert.Equal(2, bad);
        Assert.Contains("no column 'nope'", berr);
        var (bad2, _, berr2) = Run("tabular", "train", csv, "--target", "label", "--fusion", "sum");
        Assert.Equal(2, bad2);
        Assert.Contains("--fusion", berr2);
    }
}
