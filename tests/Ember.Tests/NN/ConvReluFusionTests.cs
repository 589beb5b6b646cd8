using Ember.Diagnostics;
using Ember.NN;
using Xunit;

namespace Ember.Tests.NN;

/// <summary>Sequential runs a Conv2d followed by a ReLU (and a 2×2 max pool) as one fused op. It must give the same output and the same
/// gradients, bit for bit, as the two layers called one after the other, on every convolution path: few taps (the
/// AVX-512 small-K kernels), the packed product writing straight into one image's output, the chunked product whose
/// output is scattered, grouped channels, float64.</summary>
[Collection("ProfilerAlone")]
public class ConvReluFusionTests
{
    public static TheoryData<int, int, int, int, string> Cases() => new()
    {
        { 1, 6, 1, 5, "float32" },   // few taps
        { 3, 8, 1, 1, "float32" },   // packed product, one image: written in place
        { 3, 8, 1, 6, "float32" },   // packed product, several images: chunked and scattered
        { 8, 8, 4, 3, "float32" },   // groups of few taps
        { 4, 6, 2, 3, "float64" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void FusedConvReluEqualsConvThenRelu(int cin, int cout, int groups, int batch, string dtypeName)
    {
        var dtype = dtypeName == "float64" ? DType.Float64 : DType.Float32;
        var g = new Generator(7);
        var conv = new Conv2d(cin, cout, 3, padding: 1, groups: groups, dtype: dtype, generator: g);
        var head = new Conv2d(cout, 2, 3, dtype: dtype, generator: g);
        var model = new Sequential(conv, new ReLU(), head);
        var x = Tensor.Randn([batch, cin, 9, 11], dtype, g);

        (double[] Y, double[][] Grads, string Node) Run(bool fused)
        {
            foreach (var p in model.Parameters()) p.Grad = null;
            var xi = x.Clone().RequiresGrad_();
            var mid = fused ? null : new ReLU().Call(conv.Call(xi));
            var y = fused ? model.Call(xi) : head.Call(mid!);
            string node = y.GradFn!.Inputs[0]!.GradFn!.Name;
            y.Backward(Tensor.OnesLike(y));
            return (y.ToArrayDouble(), [xi.Grad!.ToArrayDouble(), conv.Weight.Grad!.ToArrayDouble(), conv.Bias!.Grad!.ToArrayDouble()], node);
        }
        var plain = Run(fused: false);
        var fused = Run(fused: true);
        Assert.Equal("ReluBackward", plain.Node);
        Assert.Equal("ConvolutionReluBackward", fused.Node);
        Assert.Equal(plain.Y, fused.Y);
        for (int i = 0; i < plain.Grads.Length; i++)
        {
            Assert.All(plain.Grads[i], v => Assert.True(double.IsFinite(v)));
            Assert.Equal(plain.Grads[i], fused.Grads[i]);
        }
        Assert.Contains(plain.Grads[1], v => v != 0);

        // NaN propagates through both forms alike (ReLU keeps NaN).
        x[0, 0, 0, 0] = Tensor.Scalar(double.NaN, dtype);
        using (Tensor.NoGrad())
        {
            var a = new ReLU().Call(conv.Call(x)).ToArrayDouble();
            var b = Functional.Conv2dRelu(x, conv.Weight, conv.Bias, padding: 1, groups: groups).ToArrayDouble();
            Assert.Contains(a, double.IsNaN);
            Assert.Equal(a, b);
        }
    }

    public static TheoryData<int, int, int, int, int, int, string> PoolCases() => new()
    {
        { 1, 6, 1, 5, 10, 12, "float32" },   // few taps, vector pooling with an overlapping last block
        { 1, 4, 1, 3, 6, 6, "float32" },     // few taps, scalar pooling tails
        { 3, 8, 1, 1, 10, 12, "float32" },   // packed product, one image
        { 3, 8, 1, 6, 16, 20, "float32" },   // packed product, several images per chunk
        { 8, 8, 4, 3, 10, 12, "float32" },   // groups of few taps
        { 3, 5, 1, 0, 10, 12, "float32" },   // unbatched (C, H, W) input
        { 3, 5, 1, 2, 9, 12, "float32" },    // odd output height: runs the separate ops
        { 4, 6, 2, 3, 10, 12, "float64" },   // float64: runs the separate ops
    };

    /// <summary>Conv2d, ReLU, MaxPool2d(2) fused by Sequential into one op that pools each image's output from scratch:
    /// same output and the same input, weight and bias gradients, bit for bit, as the three layers called in turn; ties
    /// among ReLU'd zeros go to the same window position; NaN passes through the pool alike.</summary>
    [Theory]
    [MemberData(nameof(PoolCases))]
    public void FusedConvReluPoolEqualsThreeLayers(int cin, int cout, int groups, int batch, int h, int w, string dtypeName)
    {
        var dtype = dtypeName == "float64" ? DType.Float64 : DType.Float32;
        var g = new Generator(5);
        var conv = new Conv2d(cin, cout, 3, padding: 1, groups: groups, dtype: dtype, generator: g);
        var pool = new MaxPool2d(2);
        var head = new Conv2d(cout, 2, 2, dtype: dtype, generator: g);
        var model = new Sequential(conv, new ReLU(), pool, head);
        int[] shape = batch == 0 ? [cin, h, w] : [batch, cin, h, w];
        // Shifted down so that about half the outputs are negative: ReLU zeros tie inside many windows.
        var x = Tensor.Randn(shape, dtype, g) - 0.3;
        (double[] Y, double[][] Grads, string Node) Run(bool fused)
        {
            foreach (var p in model.Parameters()) p.Grad = null;
            var xi = x.Clone().RequiresGrad_();
            var y = fused ? model.Call(xi) : head.Call(pool.Call(new ReLU().Call(conv.Call(xi))));
            // The node feeding the head (squeezes sit around the layers for an unbatched input).
            var top = y.GradFn!;
            if (top.Name != "ConvolutionBackward") top = top.Inputs[0]!.GradFn!;
            var feed = top.Inputs[0]!.GradFn!;
            while (feed.Name is "UnsqueezeBackward" or "SqueezeBackward") feed = feed.Inputs[0]!.GradFn!;
            string node = feed.Name;
            y.Backward(Tensor.OnesLike(y));
            return (y.ToArrayDouble(), [xi.Grad!.ToArrayDouble(), conv.Weight.Grad!.ToArrayDouble(), conv.Bias!.Grad!.ToArrayDouble()], node);
        }
        var plain = Run(fused: false);
        var fused = Run(fused: true);
        Assert.Equal("MaxPool2DBackward", plain.Node);
        bool applies = dtype == DType.Float32 && h % 2 == 0 && w % 2 == 0;
        Assert.Equal(applies ? "ConvolutionReluPoolBackward" : "MaxPool2DBackward", fused.Node);
        Assert.Equal(plain.Y, fused.Y);
        for (int i = 0; i < plain.Grads.Length; i++)
        {
            Assert.All(plain.Grads[i], v => Assert.True(double.IsFinite(v)));
            Assert.Equal(plain.Grads[i], fused.Grads[i]);
        }
        Assert.Contains(plain.Grads[1], v => v != 0);

        // Without autograd, and with a NaN in the input: the same pooled values (NaN wins its window in both).
        if (batch == 0) x[0, 4, 4] = Tensor.Scalar(double.NaN, dtype);
        else x[0, 0, 4, 4] = Tensor.Scalar(double.NaN, dtype);
        using (Tensor.NoGrad())
        {
            var a = pool.Call(new ReLU().Call(conv.Call(x))).ToArrayDouble();
            var b = Functional.Conv2dReluPool(x, conv.Weight, conv.Bias, padding: 1, groups: groups).ToArrayDouble();
            Assert.Contains(a, double.IsNaN);
            Assert.Equal(a, b);
        }
    }

    /// <summary>Linear followed by ReLU, fused by Sequential: same output and gradients bit for bit as the two layers
    /// called in turn, for 2-D and 3-D inputs (the packed product and the few-row path) and float64 (composed).</summary>
    [Theory]
    [InlineData(new[] { 37, 20 }, "float32")]
    [InlineData(new[] { 3, 2, 20 }, "float32")]
    [InlineData(new[] { 2, 20 }, "float32")]
    [InlineData(new[] { 5, 20 }, "float64")]
    public void FusedLinearReluEqualsLinearThenRelu(int[] shape, string dtypeName)
    {
        var dtype = dtypeName == "float64" ? DType.Float64 : DType.Float32;
        var g = new Generator(11);
        var lin = new Linear(20, 33, dtype: dtype, generator: g);
        var head = new Linear(33, 4, dtype: dtype, generator: g);
        var model = new Sequential(lin, new ReLU(), head);
        var x = Tensor.Randn(shape, dtype, g);
        (double[] Y, double[][] Grads, string Node) Run(bool fused)
        {
            foreach (var p in model.Parameters()) p.Grad = null;
            var xi = x.Clone().RequiresGrad_();
            var y = fused ? model.Call(xi) : head.Call(new ReLU().Call(lin.Call(xi)));
            // The names of every node in the graph (views and reshapes sit between the layers for 3-D inputs).
            var names = new List<string>();
            var stack = new Stack<Node>([y.GradFn!]);
            while (stack.Count > 0)
            {
                var n = stack.Pop();
                names.Add(n.Name);
                foreach (var t in n.Inputs) if (t?.GradFn is { } next) stack.Push(next);
            }
            string name = string.Join(",", names);
            y.Backward(Tensor.OnesLike(y));
            return (y.ToArrayDouble(), [xi.Grad!.ToArrayDouble(), lin.Weight.Grad!.ToArrayDouble(), lin.Bias!.Grad!.ToArrayDouble()], name);
        }
        var plain = Run(fused: false);
        var fused = Run(fused: true);
        Assert.Contains("ReluBackward", plain.Node);
        Assert.DoesNotContain("LinearReluBackward", plain.Node);
        if (dtype == DType.Float32) Assert.Contains("LinearReluBackward", fused.Node);
        Assert.Equal(plain.Y, fused.Y);
        for (int i = 0; i < plain.Grads.Length; i++) Assert.Equal(plain.Grads[i], fused.Grads[i]);
        Assert.Contains(plain.Grads[1], v => v != 0);
    }

    [Fact]
    public void ProfilerSeesEveryLayer()
    {
        var g = new Generator(1);
        var model = new Sequential(new Conv2d(1, 4, 3, generator: g), new ReLU());
        Profiler.Start();
        try { model.Call(Tensor.Randn([1, 1, 6, 6], DType.Float32, g)); }
        finally { Profiler.Stop(); }
        Assert.Contains(Profiler.Totals(), t => t.Name == "forward ReLU");
        Assert.Contains(Profiler.Totals(), t => t.Name == "forward Conv2d");
    }
}
