using Ember.NN;
using Xunit;
using static Ember.Tests.GradCheck;
using F = Ember.NN.Functional;

namespace Ember.Tests.NN;

/// <summary>Convolution, pooling, normalization, resize, embedding and attention against central finite differences in float64,
/// including non-contiguous inputs and every optional argument.</summary>
public class LayerGradientTests
{
    public record Case(Func<Tensor[]> Inputs, Func<Tensor[], Tensor> F);

    // Max pooling is checked on inputs with distinct, well-separated values so no perturbation changes the argmax.
    private static Tensor Spread(int seed, params int[] shape)
    {
        int n = shape.Aggregate(1, (a, b) => a * b);
        var rng = new Random(seed);
        var values = Enumerable.Range(0, n).OrderBy(_ => rng.Next()).Select(p => p * 0.1).ToArray();
        return Tensor.FromArray(values, shape).RequiresGrad_();
    }

    private static readonly Dictionary<string, Case> Cases = new()
    {
        ["Conv2d"] = new(() => [Leaf(1, 2, 3, 5, 4), Leaf(2, 4, 3, 3, 3), Leaf(3, 4)], x => F.Conv2d(x[0], x[1], x[2], padding: 1)),
        ["Conv2dStrideDilation"] = new(() => [Leaf(1, 1, 2, 7, 6), Leaf(2, 3, 2, 2, 3)], x => F.Conv2d(x[0], x[1], stride: (2, 1), padding: (0, 2), dilation: (2, 1))),
        ["Conv2dGroupsTransposedInput"] = new(() => [Leaf(1, 2, 4, 5, 5), Leaf(2, 4, 2, 3, 3)], x => F.Conv2d(x[0].Transpose(2, 3), x[1], groups: 2, padding: "same")),
        ["Conv2dDepthwise"] = new(() => [Leaf(1, 1, 3, 4, 5), Leaf(2, 6, 1, 3, 2)], x => F.Conv2d(x[0], x[1], groups: 3, stride: 2)),
        ["Conv2dPointwise"] = new(() => [Leaf(1, 2, 3, 3, 2), Leaf(2, 2, 3, 1, 1), Leaf(3, 2)], x => F.Conv2d(x[0], x[1], x[2])),
        ["Conv2dUnbatched"] = new(() => [Leaf(1, 2, 4, 4), Leaf(2, 3, 2, 2, 2)], x => F.Conv2d(x[0], x[1], stride: 2)),
        ["Conv1d"] = new(() => [Leaf(1, 2, 3, 9), Leaf(2, 4, 3, 3), Leaf(3, 4)], x => F.Conv1d(x[0], x[1], x[2], stride: 2, padding: 2, dilation: 2)),
        ["ConvTranspose2d"] = new(() => [Leaf(1, 2, 3, 3, 4), Leaf(2, 3, 2, 3, 3), Leaf(3, 2)], x => F.ConvTranspose2d(x[0], x[1], x[2], stride: 2, padding: 1, outputPadding: 1)),
        ["ConvTranspose2dGroups"] = new(() => [Leaf(1, 1, 4, 3, 3), Leaf(2, 4, 1, 2, 3)], x => F.ConvTranspose2d(x[0], x[1], stride: (2, 1), groups: 2, dilation: (1, 2))),
        ["ConvTranspose1d"] = new(() => [Leaf(1, 2, 2, 4), Leaf(2, 2, 3, 3)], x => F.ConvTranspose1d(x[0], x[1], stride: 2, padding: 1)),
        ["MaxPool2d"] = new(() => [Spread(1, 2, 2, 5, 6)], x => F.MaxPool2d(x[0], 2)),
        ["MaxPool2dOverlapCeil"] = new(() => [Spread(2, 1, 2, 7, 6)], x => F.MaxPool2d(x[0], 3, stride: 2, padding: 1, ceilMode: true)),
        ["MaxPool1d"] = new(() => [Spread(3, 2, 2, 8)], x => F.MaxPool1d(x[0], 3, stride: 2)),
        ["AvgPool2d"] = new(() => [Leaf(1, 2, 2, 5, 6)], x => F.AvgPool2d(x[0], 3, stride: 2, padding: 1, countIncludePad: false, ceilMode: true)),
        ["AvgPool1d"] = new(() => [Leaf(1, 2, 2, 7)], x => F.AvgPool1d(x[0], 3, stride: 2, padding: 1)),
        ["AdaptiveAvgPool2d"] = new(() => [Leaf(1, 2, 2, 7, 5)], x => F.AdaptiveAvgPool2d(x[0], (3, 2))),
        ["BatchNormTrain"] = new(() => [Leaf(1, 3, 4, 3, 2), Leaf(2, 4), Leaf(3, 4)], x => F.BatchNorm(x[0], null, null, x[1], x[2], training: true)),
        ["BatchNorm1dNoAffine"] = new(() => [Leaf(1, 5, 3)], x => F.BatchNorm(x[0].Mul(3).Add(1), null, null, training: true)),
        ["BatchNormEval"] = new(() => [Leaf(1, 2, 3, 2, 2), Leaf(2, 3), Leaf(3, 3)],
            x => F.BatchNorm(x[0], Tensor.FromArray(new[] { 0.1, -0.2, 0.3 }), Tensor.FromArray(new[] { 1.5, 0.7, 2.0 }), x[1], x[2])),
        ["LayerNorm"] = new(() => [Leaf(1, 3, 2, 4), Leaf(2, 2, 4), Leaf(3, 2, 4)], x => F.LayerNorm(x[0].Mul(2).Add(1), [2, 4], x[1], x[2])),
        ["LayerNormTransposed"] = new(() => [Leaf(1, 5, 3)], x => F.LayerNorm(x[0].T, [5])),
        ["GroupNorm"] = new(() => [Leaf(1, 2, 6, 2, 2), Leaf(2, 6), Leaf(3, 6)], x => F.GroupNorm(x[0], 3, x[1], x[2])),
        ["UpsampleNearest"] = new(() => [Leaf(1, 1, 2, 3, 2)], x => F.Interpolate(x[0], size: (5, 4))),
        ["UpsampleBilinear"] = new(() => [Leaf(1, 1, 2, 3, 3)], x => F.Interpolate(x[0], scaleFactor: (2, 1.5), mode: InterpolationMode.Bilinear)),
        ["UpsampleBilinearAligned"] = new(() => [Leaf(1, 1, 1, 3, 4)], x => F.Interpolate(x[0], size: (4, 6), mode: InterpolationMode.Bilinear, alignCorners: true)),
        ["Pad"] = new(() => [Leaf(1, 2, 3, 4)], x => F.Pad(x[0], [1, 2, 0, 1], value: 0.5)),
        ["PadCrop"] = new(() => [Leaf(1, 2, 5, 4)], x => F.Pad(x[0], [-1, 2, 1, -2])),
        ["Embedding"] = new(() => [Leaf(1, 6, 3)], x => F.Embedding(Tensor.FromArray(new long[] { 0, 5, 2, 5, 1, 2 }, 2, 3), x[0])),
        ["RmsNorm"] = new(() => [Leaf(1, 3, 5), LeafIn(2, 0.5, 1.5, 5)], x => F.RmsNorm(x[0], x[1])),
        ["AttentionCausal"] = new(() => [Leaf(1, 2, 4, 3), Leaf(2, 2, 4, 3), Leaf(3, 2, 4, 2)], x => F.ScaledDotProductAttention(x[0], x[1], x[2], isCausal: true)),
        ["AttentionBoolMaskCross"] = new(() => [Leaf(1, 3, 3), Leaf(2, 5, 3), Leaf(3, 5, 4)],
            x => F.ScaledDotProductAttention(x[0], x[1], x[2], Tensor.FromArray(new[] { true, true, false, true, false }))),
        ["AttentionBlocked"] = new(() => [Leaf(1, 1, 300, 2), Leaf(2, 1, 6, 2), Leaf(3, 1, 6, 2)], x => F.ScaledDotProductAttention(x[0], x[1], x[2])),
        ["Rotary"] = new(() => [Leaf(1, 2, 3, 4)], x => Rotary.Apply(x[0], offset: 2)),
        ["LstmThroughTime"] = new(() => [Leaf(1, 3, 2, 2), Leaf(2, 2, 2, 3)], x => LstmOut(x[0], x[1])),
        ["GruThroughTime"] = new(() => [Leaf(1, 4, 1, 2)], x => new GRU(2, 3, dtype: DType.Float64, generator: new Generator(3)).Call(x[0])),
        ["Dropout2d"] = new(() => [Leaf(1, 2, 4, 3, 3)], x => F.Dropout2d(x[0], 0.5, generator: new Generator(7))),
    };

    // The LSTM's input and initial hidden state both get gradients through all time steps.
    private static Tensor LstmOut(Tensor x, Tensor h0)
    {
        var lstm = new LSTM(2, 3, dtype: DType.Float64, generator: new Generator(2));
        return lstm.Forward(x, h0.Narrow(0, 0, 1), h0.Narrow(0, 1, 1)).Output;
    }

    public static IEnumerable<object[]> Names() => Cases.Keys.Select(k => new object[] { k });

    [Theory]
    [MemberData(nameof(Names))]
    public void MatchesFiniteDifferences(string name)
    {
        var c = Cases[name];
        Check(c.F, c.Inputs());
    }
}
