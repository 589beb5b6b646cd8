using Ember.Models;
using Ember.NN;
using Ember.Optim;
using Xunit;
using F = Ember.NN.Functional;

namespace Ember.Tests.NN;

/// <summary>Each vision block and model: output shape, and a tiny overfit run (the loss on one fixed batch must
/// fall well below its starting value), which fails if any layer's backward is broken or disconnected.</summary>
public class VisionModelTests
{
    private static (double First, double Last) Overfit(Module model, Tensor x, Func<Tensor, Tensor> loss, int steps, double lr = 1e-2)
    {
        var opt = new Adam(model.Parameters(), lr: lr);
        double first = 0, last = 0;
        for (int i = 0; i < steps; i++)
        {
            var l = loss(model.Call(x));
            if (i == 0) first = l.Item();
            last = l.Item();
            opt.ZeroGrad();
            l.Backward();
            opt.Step();
        }
        return (first, last);
    }

    private static Tensor Images(int n, int c, int h, int w, int seed) => Tensor.Rand([n, c, h, w], DType.Float32, new Generator((ulong)seed));

    [Fact]
    public void SqueezeExcitationKeepsShapeAndScalesChannels()
    {
        var se = new SqueezeExcitation(8, reduction: 4, generator: new Generator(1));
        var x = Images(2, 8, 5, 5, 2);
        var y = se.Call(x);
        Assert.Equal(new[] { 2, 8, 5, 5 }, y.Shape);
        // Each channel is the input times one sigmoid gate in (0, 1).
        var ratio = y.Div(x.Add(1e-6)).Mean([2, 3]).ToArrayDouble();
        Assert.All(ratio, r => Assert.InRange(r, 0.0, 1.0));
        Assert.Equal(8 * 2 + 2 + 2 * 8 + 8, se.ParameterCount);
    }

    [Theory]
    [InlineData(false, false, 8, 8, 1)]
    [InlineData(false, true, 8, 16, 2)]
    [InlineData(true, false, 16, 4, 1)]
    [InlineData(true, false, 8, 4, 2)]
    public void ResidualBlocksShapeAndOverfit(bool bottleneck, bool se, int inPlanes, int planes, int stride)
    {
        var g = new Generator(3);
        Module block = bottleneck ? new Bottleneck(inPlanes, planes, stride, se, g) : new BasicBlock(inPlanes, planes, stride, se, g);
        var x = Images(4, inPlanes, 8, 8, 4);
        int outPlanes = planes * (bottleneck ? Bottleneck.Expansion : BasicBlock.Expansion);
        Assert.Equal(new[] { 4, outPlanes, 8 / stride, 8 / stride }, block.Call(x).Shape);
        var target = Tensor.Rand([4, outPlanes, 8 / stride, 8 / stride], DType.Float32, new Generator(5));
        var (first, last) = Overfit(block, x, y => F.MseLoss(y, target), 30);
        Assert.True(last < 0.5 * first, $"loss {first} -> {last}");
    }

    [Fact]
    public void ResNetClassifiesAFixedBatch()
    {
        var model = new ResNet(new ResNetConfig(InChannels: 1, NumClasses: 4, Layers: [1, 1], BaseWidth: 8), new Generator(6));
        var x = Images(8, 1, 12, 12, 7);
        var labels = Tensor.FromArray(new long[] { 0, 1, 2, 3, 0, 1, 2, 3 });
        Assert.Equal(new[] { 8, 4 }, model.Call(x).Shape);
        var (first, last) = Overfit(model, x, y => F.CrossEntropy(y, labels), 40);
        Assert.True(last < 0.2 * first, $"loss {first} -> {last}");
        model.Eval();
        using (Tensor.NoGrad()) Assert.Equal(labels.ToArray<long>(), model.Call(x).ArgMax(1).ToArray<long>());
    }

    [Fact]
    public void ResNetPresetsHaveThePublishedSizes()
    {
        // ResNet-20 for CIFAR-10: 0.27 M parameters (He et al. 2016, Table 6).
        var r20 = new ResNet(ResNetConfig.ResNet20());
        Assert.InRange(r20.ParameterCount, 269_000, 275_000);
        var r18 = new ResNet(ResNetConfig.ResNet18());
        Assert.InRange(r18.ParameterCount, 11_100_000, 11_200_000);
    }

    [Theory]
    [InlineData(16, 16)]
    [InlineData(13, 10)]
    public void UNetSegmentsAFixedBatch(int h, int w)
    {
        var model = new UNet(1, 2, baseWidth: 4, depth: 2, generator: new Generator(8));
        var x = Images(2, 1, h, w, 9);
        var y = model.Call(x);
        Assert.Equal(new[] { 2, 2, h, w }, y.Shape);
        // Per-pixel target: class 1 where the input is bright.
        var target = x.Gt(0.5).To(DType.Int64).Squeeze(1);
        var (first, last) = Overfit(model, x, o => F.CrossEntropy(o, target), 40);
        Assert.True(last < 0.5 * first, $"loss {first} -> {last}");
    }

    [Fact]
    public void ConvAutoencoderReconstructsAFixedBatch()
    {
        var model = new ConvAutoencoder(1, baseWidth: 8, latentChannels: 4, levels: 2, generator: new Generator(10));
        var x = Images(4, 1, 16, 16, 11);
        Assert.Equal(new[] { 4, 4, 4, 4 }, model.Encode(x).Shape);
        Assert.Equal(x.Shape, model.Call(x).Shape);
        var (first, last) = Overfit(model, x, y => F.MseLoss(y, x), 60);
        Assert.True(last < 0.5 * first, $"loss {first} -> {last}");
        Assert.Throws<ArgumentException>(() => model.Call(Images(1, 1, 10, 10, 1)));
    }

    [Fact]
    public void UNetRejectsTooSmallInput()
    {
        var model = new UNet(1, 1, baseWidth: 2, depth: 3);
        var e = Assert.Throws<ArgumentException>(() => model.Call(Images(1, 1, 4, 4, 1)));
        Assert.Contains("2^depth", e.Message);
    }
}
