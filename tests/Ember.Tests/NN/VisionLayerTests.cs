using Ember.NN;
using Xunit;
using F = Ember.NN.Functional;

namespace Ember.Tests.NN;

/// <summary>The layer modules around the functional ops: parameters and buffers, PyTorch-compatible state-dict
/// keys, train/eval behaviour, initialization bounds, printed form and input checks.</summary>
public class VisionLayerTests
{
    [Fact]
    public void Conv2dHasPyTorchShapesInitAndRepr()
    {
        var conv = new Conv2d(4, 6, (3, 5), stride: 2, padding: (1, 2), groups: 2, generator: new Generator(1));
        Assert.Equal(new[] { 6, 2, 3, 5 }, conv.Weight.Shape);
        Assert.Equal(6 * 2 * 15 + 6, conv.ParameterCount);
        // Kaiming uniform with a = √5 gives bound 1/√fan_in; fan_in = 2·3·5 = 30.
        double bound = 1 / Math.Sqrt(30);
        Assert.All(conv.Weight.ToArrayDouble(), v => Assert.InRange(Math.Abs(v), 0, bound));
        Assert.All(conv.Bias!.ToArrayDouble(), v => Assert.InRange(Math.Abs(v), 0, bound));
        Assert.True(conv.Weight.Abs().Max().Item() > 0.8 * bound);
        Assert.Equal("Conv2d(4, 6, kernel_size=(3, 5), stride=2, padding=(1, 2), groups=2)", conv.ToString().Trim());
        Assert.Equal(new[] { 3, 6, 4, 4 }, conv.Call(Tensor.Zeros(3, 4, 8, 7)).Shape);
    }

    [Fact]
    public void ConvErrorsNameTheShapes()
    {
        var conv = new Conv2d(3, 4, 3);
        var e = Assert.Throws<ArgumentException>(() => conv.Call(Tensor.Zeros(2, 5, 8, 8)));
        Assert.Contains("Conv2d", e.Message);
        Assert.Contains("[2, 5, 8, 8]", e.Message);
        e = Assert.Throws<ArgumentException>(() => conv.Call(Tensor.Zeros(2, 3, 2, 2)));
        Assert.Contains("smaller than the dilated kernel", e.Message);
        Assert.Throws<ArgumentException>(() => F.Conv2d(Tensor.Zeros(1, 3, 5, 5), conv.Weight, stride: 2, padding: "same"));
        Assert.Throws<ArgumentException>(() => new Conv2d(3, 4, 3, groups: 2));
        Assert.Throws<ArgumentException>(() => F.ConvTranspose2d(Tensor.Zeros(1, 3, 4, 4), Tensor.Zeros(3, 2, 3, 3), stride: 2, outputPadding: 2));
        Assert.Throws<ArgumentException>(() => F.MaxPool2d(Tensor.Zeros(1, 1, 4, 4), 2, padding: 2));
    }

    [Fact]
    public void BatchNormTracksStatisticsAndMatchesPyTorchKeys()
    {
        var bn = new BatchNorm2d(3);
        Assert.Equal(new[] { "bias", "num_batches_tracked", "running_mean", "running_var", "weight" }, bn.StateDict().Keys.Order().ToArray());
        var x = Tensor.Randn([4, 3, 5, 5], DType.Float32, new Generator(2)).Mul(2).Add(3);
        var y = bn.Call(x);
        // Training output: per-channel mean 0, biased variance 1.
        Assert.All(y.Mean([0, 2, 3]).ToArrayDouble(), m => Assert.InRange(m, -1e-5, 1e-5));
        Assert.All(y.Var([0, 2, 3], unbiased: false).ToArrayDouble(), v => Assert.InRange(v, 0.999, 1.0));
        var batchMean = x.Mean([0, 2, 3]).ToArrayDouble();
        var rm = bn.RunningMean!.ToArrayDouble();
        for (int c = 0; c < 3; c++) Assert.Equal(0.1 * batchMean[c], rm[c], 5);
        Assert.Equal(1L, bn.NumBatchesTracked!.Item<long>());
        bn.Eval();
        var ye = bn.Call(x);
        var expected = x.Sub(bn.RunningMean!.View(1, 3, 1, 1)).Div(bn.RunningVar!.Add(1e-5).Sqrt().View(1, 3, 1, 1));
        Assert.True(ye.Sub(expected).Abs().Max().Item() < 1e-5);
        Assert.Equal(1L, bn.NumBatchesTracked!.Item<long>());
    }

    [Fact]
    public void BatchNormWithoutMomentumAveragesCumulatively()
    {
        var bn = new BatchNorm1d(2, momentum: null);
        var a = Tensor.FromArray(new float[] { 1, 10, 3, 30 }, 2, 2);
        var b = Tensor.FromArray(new float[] { 5, 50, 7, 70 }, 2, 2);
        bn.Call(a);
        bn.Call(b);
        // Cumulative moving average of the two batch means: (2 + 6)/2 and (20 + 60)/2.
        Assert.Equal(new[] { 4.0, 40.0 }, bn.RunningMean!.ToArrayDouble().Select(v => Math.Round(v, 4)));
        Assert.Throws<ArgumentException>(() => bn.Call(Tensor.Zeros(1, 2)));   // one value per channel in training
        Assert.Throws<ArgumentException>(() => bn.Call(Tensor.Zeros(4, 3)));
    }

    [Fact]
    public void NormAndDropoutLayers()
    {
        var ln = new LayerNorm(6);
        var x = Tensor.Randn([3, 6], DType.Float32, new Generator(3)).Mul(4).Add(2);
        var y = ln.Call(x);
        Assert.All(y.Mean(1).ToArrayDouble(), m => Assert.InRange(m, -1e-5, 1e-5));
        Assert.Equal(12, ln.ParameterCount);
        var gn = new GroupNorm(2, 4);
        Assert.Equal(new[] { 2, 4, 3, 3 }, gn.Call(Tensor.Randn([2, 4, 3, 3])).Shape);
        Assert.Throws<ArgumentException>(() => new GroupNorm(3, 4));

        var d = new Dropout2d(0.5, new Generator(4));
        var ones = Tensor.Ones([8, 16, 2, 2]);
        var z = d.Call(ones);
        // Whole channels are either 0 or 2 (scaled by 1/(1 − p)).
        var perChannel = z.Amax([2, 3]).ToArrayDouble().Zip(z.Amin([2, 3]).ToArrayDouble()).ToArray();
        Assert.All(perChannel, p => { Assert.Equal(p.First, p.Second); Assert.Contains(p.First, new[] { 0.0, 2.0 }); });
        Assert.InRange(perChannel.Count(p => p.First == 0), 40, 88);
        d.Eval();
        Assert.Same(ones, d.Call(ones));
    }

    [Fact]
    public void UpsampleAndAdaptivePooling()
    {
        var x = Tensor.Arange(4).View(1, 1, 2, 2);
        var up = new Upsample(scaleFactor: 2).Call(x);
        Assert.Equal(new float[] { 0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 3, 3, 2, 2, 3, 3 }, up.ToArray<float>());
        var bil = new Upsample(size: (3, 3), mode: InterpolationMode.Bilinear, alignCorners: true).Call(x);
        Assert.Equal(new float[] { 0, 0.5f, 1, 1, 1.5f, 2, 2, 2.5f, 3 }, bil.ToArray<float>());
        var pooled = new AdaptiveAvgPool2d(1).Call(Tensor.Arange(8).View(1, 2, 2, 2));
        Assert.Equal(new float[] { 1.5f, 5.5f }, pooled.ToArray<float>());
        var p1 = new MaxPool1d(2).Call(Tensor.FromArray(new float[] { 1, 3, 2, 5, 4 }).View(1, 1, 5));
        Assert.Equal(new float[] { 3, 5 }, p1.ToArray<float>());
    }

    [Fact]
    public void MaxPoolWithIndicesReturnsPlaneOffsets()
    {
        var x = Tensor.FromArray(new float[] { 1, 5, 2, 0, 7, 3, 4, 6, 9, 8, 1, 2, 3, 4, 5, 6 }, 1, 1, 4, 4);
        var (values, indices) = F.MaxPool2dWithIndices(x, 2);
        Assert.Equal(new float[] { 7, 6, 9, 6 }, values.ToArray<float>());
        Assert.Equal(new long[] { 4, 7, 8, 15 }, indices.ToArray<long>());
    }

    [Fact]
    public void Conv1dLayerMatchesConv2dOfHeightOne()
    {
        var g = new Generator(5);
        var c1 = new Conv1d(3, 4, 5, stride: 2, padding: 2, generator: g);
        var x = Tensor.Randn([2, 3, 11], DType.Float32, g);
        var y1 = c1.Call(x);
        var y2 = F.Conv2d(x.Unsqueeze(2), c1.Weight.Unsqueeze(2), c1.Bias, stride: (1, 2), padding: (0, 2)).Squeeze(2);
        Assert.Equal(new[] { 2, 4, 6 }, y1.Shape);
        Assert.True(y1.Sub(y2).Abs().Max().Item() < 1e-6);
    }
}
