using Ember;
using Ember.NN;
using Ember.Optim;
using Xunit;
using NComplex = System.Numerics.Complex;

namespace Ember.Tests.Complex;

public class ComplexLayerTests
{
    private static Tensor C(int seed, params int[] shape) => Tensor.Randn(shape, DType.Complex128, new Generator((ulong)seed));

    [Fact]
    public void ComplexConvolutionsEqualTheirFourRealConvolutionsAndGradCheck()
    {
        var x = C(1, 2, 3, 5, 5);
        var w = C(2, 4, 3, 3, 3);
        var b = C(3, 4);
        var y = Functional.ComplexConv2d(x, w, b, stride: 2, padding: 1);
        var (xr, xi, wr, wi) = (x.Real(), x.Imag(), w.Real(), w.Imag());
        var yr = Functional.Conv2d(xr, wr, b.Real(), 2, 1).Sub(Functional.Conv2d(xi, wi, null, 2, 1));
        var yi = Functional.Conv2d(xr, wi, b.Imag(), 2, 1).Add(Functional.Conv2d(xi, wr, null, 2, 1));
        Assert.True(y.Real().Sub(yr).Abs().Max().Item() < 1e-12 && y.Imag().Sub(yi).Abs().Max().Item() < 1e-12);
        GradCheck.CheckComplex(v => Functional.ComplexConv2d(v[0], v[1], v[2], padding: 1), [C(4, 1, 2, 4, 4), C(5, 2, 2, 3, 3), C(6, 2)]);
        // Groups: depthwise (groups = channels) equals each channel convolved with its own filter.
        var xd = C(14, 1, 3, 5, 5);
        var wd = C(15, 3, 1, 3, 3);
        var yd = Functional.ComplexConv2d(xd, wd, null, padding: 1, groups: 3);
        for (int c = 0; c < 3; c++)
        {
            var one = Functional.ComplexConv2d(xd.Narrow(1, c, 1), wd.Narrow(0, c, 1), null, padding: 1);
            Assert.True(yd.Narrow(1, c, 1).Sub(one).Abs().Max().Item() < 1e-12);
        }
        GradCheck.CheckComplex(v => Functional.ComplexConv2d(v[0], v[1], v[2], groups: 2), [C(16, 1, 4, 3, 3), C(17, 2, 2, 2, 2), C(18, 2)]);
        Assert.Throws<ArgumentException>(() => Functional.ComplexConv2d(xd, wd, groups: 2));

        var wt = C(7, 3, 2, 2, 2);
        var yt = Functional.ComplexConvTranspose2d(x, wt, null, stride: 2);
        var tr = Functional.ConvTranspose2d(xr, wt.Real(), null, 2).Sub(Functional.ConvTranspose2d(xi, wt.Imag(), null, 2));
        var ti = Functional.ConvTranspose2d(xr, wt.Imag(), null, 2).Add(Functional.ConvTranspose2d(xi, wt.Real(), null, 2));
        Assert.True(yt.Real().Sub(tr).Abs().Max().Item() < 1e-12 && yt.Imag().Sub(ti).Abs().Max().Item() < 1e-12);
        GradCheck.CheckComplex(v => Functional.ComplexConvTranspose2d(v[0], v[1], v[2], stride: 2), [C(8, 1, 2, 3, 3), C(9, 2, 2, 2, 2), C(10, 2)]);
        GradCheck.CheckComplex(v => Functional.ComplexLinear(v[0], v[1], v[2]), [C(11, 3, 4), C(12, 5, 4), C(13, 5)]);
    }

    [Fact]
    public void ActivationsFollowTheirDefinitionsAndGradCheck()
    {
        var z = Tensor.FromArray(new NComplex[] { new(1, 2), new(-1, 2), new(1, -2), new(-1, -2), new(0, 0) }, 5);
        Assert.Equal(new NComplex[] { new(1, 2), new(0, 2), new(1, 0), new(0, 0), new(0, 0) }, Functional.CRelu(z).ToComplexArray());
        Assert.Equal(new NComplex[] { new(1, 2), 0, 0, 0, 0 }, Functional.ZRelu(z).ToComplexArray());
        var card = Functional.Cardioid(z).ToComplexArray();
        double cos = 1 / Math.Sqrt(5);
        Assert.Equal(0.5 * (1 + cos), (card[0] / new NComplex(1, 2)).Real, 9);
        Assert.Equal(0.5 * (1 - cos), (card[1] / new NComplex(-1, 2)).Real, 9);
        // modReLU with bias −√5 + 1: |z| = √5 → scale (|z| + b)/|z| = 1/√5; the zero stays zero.
        var mod = Functional.ModRelu(z, Tensor.Scalar(1 - Math.Sqrt(5), DType.Float64)).ToComplexArray();
        Assert.Equal(1 / Math.Sqrt(5), (mod[0] / new NComplex(1, 2)).Real, 5);
        Assert.Equal(NComplex.Zero, mod[4]);
        var x = C(3, 2, 6);
        GradCheck.CheckComplex(v => Functional.CRelu(v[0]), [x]);
        GradCheck.CheckComplex(v => Functional.Cardioid(v[0]), [x]);
        GradCheck.CheckComplex(v => Functional.ZRelu(v[0]), [x]);
        GradCheck.CheckComplex(v => Functional.ModRelu(v[0], v[1]), [x, Tensor.FromArray(new[] { 0.3, -0.2, 0.1, 0.4, -0.1, 0.2 })]);
    }

    [Fact]
    public void BatchNormWhitensTheRealImaginaryCovariance()
    {
        // Strongly correlated parts: imag = 0.8·real + noise, large mean.
        var g = new Generator(4);
        var re = Tensor.Randn([64, 3, 4, 4], DType.Float64, g).Mul(3).Add(5);
        var im = re.Mul(0.8).Add(Tensor.Randn([64, 3, 4, 4], DType.Float64, g).Mul(0.5)).Sub(2);
        var z = Tensor.Complex(re, im);
        var bn = new ComplexBatchNorm2d(3, dtype: DType.Complex128);
        using (Tensor.NoGrad()) { bn.GammaRr.Fill(1); bn.GammaIi.Fill(1); }
        var y = bn.Call(z);
        var (yr, yi) = (y.Real(), y.Imag());
        int[] dims = [0, 2, 3];
        foreach (var v in yr.Mean(dims).ToArrayDouble().Concat(yi.Mean(dims).ToArrayDouble())) Assert.Equal(0, v, 9);
        foreach (var v in yr.Square().Mean(dims).ToArrayDouble().Concat(yi.Square().Mean(dims).ToArrayDouble())) Assert.Equal(1, v, 3);
        foreach (var v in yr.Mul(yi).Mean(dims).ToArrayDouble()) Assert.Equal(0, v, 3);
        // The naive variant standardizes each part but leaves them correlated.
        var naive = new NaiveComplexBatchNorm2d(3, dtype: DType.Complex128).Call(z);
        Assert.True(naive.Real().Mul(naive.Imag()).Mean(dims).ToArrayDouble().All(v => v > 0.8));
        // Running statistics moved toward the batch's; eval mode uses them.
        Assert.Equal(0.1 * 5, bn.RunningMean.ToComplexArray()[0].Real, 1);
        bn.Eval();
        Assert.Equal(z.Shape, bn.Call(z).Shape);
        bn.Train();
        var small = new ComplexBatchNorm2d(2, dtype: DType.Complex128);
        GradCheck.CheckComplex(v => small.Call(v[0]), [C(5, 4, 2, 2, 2)], atol: 1e-5);
    }

    [Fact]
    public void PoolingDropoutAndInitBehave()
    {
        var z = Tensor.FromArray(new NComplex[] { new(1, 0), new(0, -3), new(2, 2), new(0.5, 0.5) }, 1, 1, 2, 2);
        Assert.Equal(new NComplex(0, -3), Functional.ComplexMaxPool2d(z, 2).ToComplexArray()[0]);
        Assert.Equal(new NComplex(0.875, -0.125), Functional.ComplexAvgPool2d(z, 2).ToComplexArray()[0]);
        GradCheck.CheckComplex(v => Functional.ComplexMaxPool2d(v[0], 2), [C(6, 1, 2, 4, 4)]);

        var ones = Tensor.Complex(Tensor.Ones([10000], DType.Float32), Tensor.Ones([10000], DType.Float32));
        var d = Functional.ComplexDropout(ones, 0.25, true, new Generator(1)).ToComplexArray();
        Assert.All(d, v => Assert.True(v == NComplex.Zero || Math.Abs(v.Real - 4.0 / 3) < 1e-6 && Math.Abs(v.Imaginary - 4.0 / 3) < 1e-6));
        Assert.InRange(d.Count(v => v == NComplex.Zero) / 10000.0, 0.23, 0.27);

        var w = Tensor.Zeros([64, 128], DType.Complex128);
        ComplexInit.Rayleigh(w, g: new Generator(2));
        Assert.InRange(w.Abs().Square().Mean().Item() * 128 / 2, 0.95, 1.05);   // E|w|² = 2σ², σ² = 1/fan_in
        var angles = w.Angle().ToArrayDouble();
        Assert.InRange(angles.Average(), -0.05, 0.05);
    }

    [Fact]
    public void ComplexModulesRoundTripThroughSafetensors()
    {
        var dir = Directory.CreateTempSubdirectory("ember-cplx").FullName;
        foreach (var dtype in new[] { DType.Complex64, DType.Complex128 })
        {
            var a = new Sequential(new ComplexConv2d(2, 3, 3, padding: 1, dtype: dtype, generator: new Generator(1)), new ComplexBatchNorm2d(3, dtype: dtype));
            var b = new Sequential(new ComplexConv2d(2, 3, 3, padding: 1, dtype: dtype, generator: new Generator(2)), new ComplexBatchNorm2d(3, dtype: dtype));
            var path = Path.Combine(dir, $"{dtype}.safetensors");
            Ember.IO.Safetensors.Save(path, a.StateDict());
            b.LoadStateDict(Ember.IO.Safetensors.Load(path));
            var x = Tensor.Randn([2, 2, 4, 4], dtype, new Generator(3));
            a.Eval(); b.Eval();
            Assert.Equal(a.Call(x).ToComplexArray(), b.Call(x).ToComplexArray());
        }
    }

    [Fact]
    public void OptimizersStepComplexParametersAsRealPairs()
    {
        var z = Tensor.FromArray(new NComplex[] { new(1, 2), new(-3, 0.5) }).RequiresGrad_();
        var pr = Tensor.FromArray(new double[] { 1, 2, -3, 0.5 }, 2, 2).RequiresGrad_();
        var oz = new Adam([z], lr: 0.1);
        var or = new Adam([pr], lr: 0.1);
        for (int step = 0; step < 3; step++)
        {
            oz.ZeroGrad(); or.ZeroGrad();
            z.Abs().Pow(3).Sum().Backward();
            pr.Square().Sum(-1).Pow(1.5).Sum().Backward();
            oz.Step(); or.Step();
        }
        var flat = z.ToComplexArray().SelectMany(v => new[] { v.Real, v.Imaginary }).ToArray();
        var expected = pr.ToArrayDouble();
        for (int i = 0; i < 4; i++) Assert.Equal(expected[i], flat[i], 12);
        Assert.True(Optimizer.ClipGradNorm([z], 1e9) > 0);

        var layer = new ComplexLinear(4, 3, dtype: DType.Complex64, generator: new Generator(1));
        var sgd = new SGD(layer.Parameters(), lr: 0.05, momentum: 0.9);
        var x = Tensor.Randn([16, 4], DType.Complex64, new Generator(2));
        var target = Tensor.Randn([16, 3], DType.Complex64, new Generator(3));
        double first = 0, last = 0;
        for (int i = 0; i < 60; i++)
        {
            sgd.ZeroGrad();
            var loss = layer.Call(x).Sub(target).Abs().Square().Mean();
            loss.Backward();
            sgd.Step();
            if (i == 0) first = loss.Item();
            last = loss.Item();
        }
        Assert.True(last < 0.7 * first, $"complex least squares did not fit: {first} -> {last}");
    }
}
