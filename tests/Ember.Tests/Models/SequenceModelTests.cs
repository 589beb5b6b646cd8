using Ember.Models;
using Ember.NN;
using Ember.Optim;
using Ember.Training;
using Xunit;
using Ember.Recipes;
using Ember.Recipes.Tabular;

namespace Ember.Tests.Models;

/// <summary>The encoder–decoder Transformer, the BERT-style classifier and the forecasters: shapes, masks, overfitting a
/// fixed batch, decoding, checkpoint metadata and errors.</summary>
public class SequenceModelTests
{
    private static Seq2SeqTransformer SmallSeq2Seq(double dropout = 0) =>
        new(new Seq2SeqConfig(13, 13, DModel: 32, NHead: 4, EncoderLayers: 2, DecoderLayers: 2, DimFeedforward: 64, Dropout: dropout, MaxLength: 16), new Generator(3));

    [Fact]
    public void Seq2SeqShapesAndParameterNamesFollowPyTorch()
    {
        var m = SmallSeq2Seq();
        var (src, tin, _) = Milestones.ReverseBatch([[1, 2, 3], [4, 5, 6, 7, 8]]);
        Assert.Equal(new[] { 2, 5 }, src.Shape);
        Assert.Equal(new[] { 2, 6 }, tin.Shape);
        Assert.Equal(new[] { 2, 6, 13 }, m.Forward(src, tin).Shape);
        var names = m.NamedParameters().Select(p => p.Name).ToHashSet();
        Assert.Contains("transformer.encoder.layers.1.self_attn.in_proj_weight", names);
        Assert.Contains("transformer.decoder.layers.0.multihead_attn.out_proj.weight", names);
        Assert.Contains("transformer.encoder.norm.weight", names);
        Assert.Contains("transformer.decoder.norm.bias", names);
        Assert.Throws<ArgumentException>(() => m.Forward(src.To(DType.Float32), tin));
        Assert.Throws<ArgumentException>(() => m.Forward(Tensor.Zeros([1, 17], DType.Int64), tin.Narrow(0, 0, 1)));   // > max_length 16
        Assert.Throws<InvalidOperationException>(() => m.Call(src));
    }

    [Fact]
    public void Seq2SeqPaddingDoesNotChangeTheRealPositions()
    {
        var m = SmallSeq2Seq();
        m.Eval();
        using var _ = Tensor.NoGrad();
        var (src1, tin1, _) = Milestones.ReverseBatch([[1, 2, 3]]);
        var (src2, tin2, _) = Milestones.ReverseBatch([[1, 2, 3], [4, 5, 6, 7, 8, 9]]);   // row 0 now padded to 6 / 7
        var a = m.Forward(src1, tin1);                                                   // (1, 4, 13)
        var b = m.Forward(src2, tin2).Narrow(0, 0, 1).Narrow(1, 0, 4);
        Assert.True(a.Sub(b).Abs().Max().Item() < 1e-5, "padding in the source or after the target changed the logits");
    }

    [Fact]
    public void Seq2SeqOverfitsAFixedBatchAndDecodesIt()
    {
        var m = SmallSeq2Seq();
        var batch = new[] { new[] { 1, 2, 3, 4 }, new[] { 9, 8, 7 }, new[] { 5, 5, 0, 1, 2 }, new[] { 6 } };
        var (src, tin, tout) = Milestones.ReverseBatch(batch);
        var opt = new Adam(m.Parameters(), lr: 3e-3);
        double first = 0, last = 0;
        for (int step = 0; step < 150; step++)
        {
            var loss = Functional.CrossEntropy(m.Forward(src, tin).Reshape(-1, 13), tout.Reshape(-1), ignoreIndex: Milestones.ReversePad);
            if (step == 0) first = loss.Item();
            last = loss.Item();
            opt.ZeroGrad();
            loss.Backward();
            opt.Step();
        }
        Assert.True(last < 0.05 * first, $"loss {first:F3} → {last:F3}");
        var decoded = m.GreedyDecode(src, 8);
        for (int i = 0; i < batch.Length; i++)
            Assert.Equal(batch[i].Reverse().Select(d => (long)(Milestones.ReverseDigit0 + d)), decoded[i]);
        var (exact, tokens) = Milestones.ReverseAccuracy(m, batch);
        Assert.Equal(1.0, exact);
        Assert.Equal(1.0, tokens);
        Assert.True(m.Training);   // decoding restores the mode it found
        var maps = m.CrossAttentionMaps(src, tin);
        Assert.Equal(2, maps.Count);
        Assert.Equal(new[] { 4, 4, 6, 5 }, maps[0].Shape);   // (N, H, T, S)
        var rowSums = maps[1].Sum(-1).ToArrayDouble();
        Assert.All(rowSums, s => Assert.Equal(1.0, s, 5));
        Assert.Equal(0.0, maps[0].Select(0, 3).Narrow(2, 1, 4).Abs().Max().Item());   // "6" is one digit: the padded source is never attended
    }

    [Fact]
    public void Seq2SeqConfigRoundTripsThroughMetadataAndRejectsBadValues()
    {
        var c = new Seq2SeqConfig(20, 30, 64, 8, 3, 2, 128, 0.2, 100, 0, 1, 2, true);
        Assert.Equal(c, Seq2SeqConfig.FromMetadata(c.ToMetadata(), "test"));
        Assert.Throws<ArgumentException>(() => new Seq2SeqConfig(20, 30, DModel: 30, NHead: 4).Validate());
        Assert.Throws<ArgumentException>(() => new Seq2SeqConfig(20, 3, EosId: 5).Validate());
        var meta = c.ToMetadata();
        meta["model"] = "gpt";
        Assert.Throws<InvalidDataException>(() => Seq2SeqConfig.FromMetadata(meta, "test"));
    }

    private static BertForSequenceClassification SmallBert(int labels = 3) =>
        new(new BertConfig(VocabSize: 20, NumLabels: labels, Hidden: 32, Layers: 2, Heads: 4, Intermediate: 64, MaxPositions: 16, Dropout: 0.1), new Generator(5));

    [Fact]
    public void BertClassifierShapesMasksAndPadding()
    {
        var m = SmallBert();
        Assert.Equal(new[] { 2, 3 }, m.Call(Tensor.FromArray(new long[] { 1, 5, 6, 7, 1, 8, 0, 0 }, 2, 4)).Shape);
        m.Eval();
        using var _ = Tensor.NoGrad();
        var shortIds = Tensor.FromArray(new long[] { 1, 5, 6 }, 1, 3);
        var padded = Tensor.FromArray(new long[] { 1, 5, 6, 0, 0, 0 }, 1, 6);
        var a = m.Call(shortIds);
        var b = m.Call(padded);
        Assert.True(a.Sub(b).Abs().Max().Item() < 1e-5, "padding changed the [CLS] logits");
        // An explicit attention mask (1 = token) that hides the last two tokens equals cutting them off.
        var ids = Tensor.FromArray(new long[] { 1, 5, 6, 9, 9 }, 1, 5);
        var mask = Tensor.FromArray(new long[] { 1, 1, 1, 0, 0 }, 1, 5);
        Assert.True(m.Forward(ids, mask).Sub(a).Abs().Max().Item() < 1e-5);
        // Token types matter.
        var types = Tensor.FromArray(new long[] { 0, 0, 1 }, 1, 3);
        var plain = m.Bert.Encode(shortIds).Hidden;
        Assert.True(m.Bert.Encode(shortIds, null, types).Hidden.Sub(plain).Abs().Max().Item() > 1e-2);
        var maps = m.AttentionMaps(padded);
        Assert.Equal(2, maps.Count);
        Assert.Equal(new[] { 1, 4, 6, 6 }, maps[0].Shape);
        Assert.Equal(0.0, maps[1].Narrow(3, 3, 3).Abs().Max().Item());   // padding is never attended
        Assert.Throws<ArgumentException>(() => m.Forward(ids, Tensor.Ones([1, 4], DType.Int64)));
        Assert.Throws<ArgumentException>(() => m.Call(Tensor.Zeros([1, 17], DType.Int64)));
        Assert.Contains("bert.encoder.layers.1.linear2.weight", m.NamedParameters().Select(p => p.Name));
    }

    [Fact]
    public void BertClassifierLearnsATokenRule()
    {
        // Label = whether token 7 occurs anywhere in the sequence: needs attention across positions.
        var g = new Generator(11);
        int n = 64, l = 8;
        var ids = new long[n * l];
        var labels = new long[n];
        for (int i = 0; i < n; i++)
        {
            ids[i * l] = 1;                                                   // [CLS]
            for (int j = 1; j < l; j++) ids[i * l + j] = g.NextInt64(2, 7);   // tokens 2..6
            if (i % 2 == 0) { ids[i * l + 1 + (int)g.NextInt64(0, l - 1)] = 7; labels[i] = 1; }
        }
        var x = Tensor.FromArray(ids, n, l);
        var y = Tensor.FromArray(labels);
        var m = SmallBert(labels: 2);
        var opt = new AdamW(m.Parameters(), lr: 2e-3);
        for (int step = 0; step < 120; step++)
        {
            var loss = Functional.CrossEntropy(m.Call(x), y);
            opt.ZeroGrad();
            loss.Backward();
            opt.Step();
        }
        m.Eval();
        using var _ = Tensor.NoGrad();
        double acc = m.Call(x).ArgMax(-1).Eq(y).To(DType.Float64).Mean().Item();
        Assert.True(acc >= 0.95, $"training accuracy {acc:F3}");
        var c = m.Config;
        Assert.Equal(c, BertConfig.FromMetadata(c.ToMetadata(), "test"));
    }

    [Theory]
    [InlineData(ForecasterKind.Lstm)]
    [InlineData(ForecasterKind.Gru)]
    [InlineData(ForecasterKind.Cnn)]
    [InlineData(ForecasterKind.Transformer)]
    public void ForecastersFitASeasonalSignal(ForecasterKind kind)
    {
        // A weekly pattern plus noise: predict the next value from 14 days.
        var g = new Generator(2);
        int n = 128, w = 14;
        var x = new float[n * w * 2];
        var y = new float[n];
        for (int i = 0; i < n; i++)
        {
            int phase = (int)g.NextInt64(0, 7);
            for (int k = 0; k <= w; k++)
            {
                float v = MathF.Sin(2 * MathF.PI * (phase + k) / 7) + 0.05f * (float)g.NextNormal();
                if (k < w) { x[(i * w + k) * 2] = v; x[(i * w + k) * 2 + 1] = (phase + k) % 7 / 6f; }
                else y[i] = v;
            }
        }
        var xt = Tensor.FromArray(x, n, w, 2);
        var yt = Tensor.FromArray(y, n, 1);
        var m = new Forecaster(kind, w, 2, hidden: 32, layers: kind == ForecasterKind.Transformer ? 2 : 1, dropout: 0, generator: new Generator(1));
        Assert.Equal(new[] { n, 1 }, m.Call(xt).Shape);
        var opt = new Adam(m.Parameters(), lr: 5e-3);
        double first = 0, last = 0;
        for (int step = 0; step < 150; step++)
        {
            var loss = Functional.MseLoss(m.Call(xt), yt);
            if (step == 0) first = loss.Item();
            last = loss.Item();
            opt.ZeroGrad();
            loss.Backward();
            opt.Step();
        }
        Assert.True(last < 0.05, $"{kind}: MSE {first:F3} → {last:F4}");
        Assert.Throws<ArgumentException>(() => m.Call(Tensor.Zeros([4, w + 1, 2])));
    }
}
