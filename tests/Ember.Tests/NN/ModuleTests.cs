using Ember;
using Ember.NN;
using Xunit;

namespace Ember.Tests.NN;

public class ModuleTests
{
    private static Sequential Net() => new(new Linear(4, 3, generator: new Generator(1)), new ReLU(), new Dropout(0.5), new Linear(3, 2, bias: false, generator: new Generator(2)));

    [Fact]
    public void ParametersAreNamedAndCounted()
    {
        var net = Net();
        Assert.Equal(["0.weight", "0.bias", "3.weight"], net.NamedParameters().Select(p => p.Name));
        Assert.Equal(4 * 3 + 3 + 3 * 2, net.ParameterCount);
        Assert.All(net.Parameters(), p => Assert.True(p.RequiresGrad));
        Assert.Contains("Linear(in_features=4, out_features=3, bias=True)", net.ToString());
        Assert.Contains("(3): Linear(in_features=3, out_features=2, bias=False)", net.ToString());
    }

    [Fact]
    public void SummaryListsLayersWithShapes()
    {
        var s = Net().Summary([5, 4]);
        Assert.Contains("0 (Linear)", s);
        Assert.Contains("[5, 3]", s);
        Assert.Contains("[5, 2]", s);
        Assert.Contains("Total parameters: 21", s);
    }

    [Fact]
    public void TrainEvalTogglesDropout()
    {
        var net = Net();
        var x = Tensor.Ones(64, 4);
        net.Eval();
        Assert.False(net[2].Training);
        Assert.Equal(net.Call(x).ToArray<float>(), net.Call(x).ToArray<float>());
        net.Train();
        Assert.True(net[2].Training);
        var d = new Dropout(0.25, new Generator(5));
        var y = d.Call(Tensor.Ones(10_000)).ToArray<float>();
        Assert.All(y, v => Assert.True(v == 0 || Math.Abs(v - 1 / 0.75f) < 1e-6));
        Assert.InRange(y.Count(v => v == 0), 2_300, 2_700);
    }

    [Fact]
    public void StateDictRoundTripAndErrors()
    {
        var a = Net();
        var b = new Sequential(new Linear(4, 3, generator: new Generator(9)), new ReLU(), new Dropout(0.5), new Linear(3, 2, bias: false, generator: new Generator(8)));
        b.LoadStateDict(a.StateDict());
        var x = Tensor.Randn(2, 4);
        a.Eval(); b.Eval();
        Assert.Equal(a.Call(x).ToArray<float>(), b.Call(x).ToArray<float>());

        var missing = new Dictionary<string, Tensor>(a.StateDict());
        missing.Remove("0.bias");
        var e1 = Assert.Throws<ArgumentException>(() => b.LoadStateDict(missing));
        Assert.Contains("missing keys: 0.bias", e1.Message);
        var extra = new Dictionary<string, Tensor>(a.StateDict()) { ["9.weight"] = Tensor.Ones(1) };
        var e2 = Assert.Throws<ArgumentException>(() => b.LoadStateDict(extra));
        Assert.Contains("unexpected keys: 9.weight", e2.Message);
        var wrong = new Dictionary<string, Tensor>(a.StateDict()) { ["0.weight"] = Tensor.Ones(3, 5) };
        var before = b.StateDict()["0.bias"].ToArray<float>();
        var e3 = Assert.Throws<ArgumentException>(() => b.LoadStateDict(wrong));
        Assert.Contains("'0.weight': checkpoint shape [3, 5] vs model shape [3, 4]", e3.Message);
        Assert.Equal(before, b.StateDict()["0.bias"].ToArray<float>());   // nothing was half-loaded
        b.LoadStateDict(missing, strict: false);
    }

    [Fact]
    public void LinearDefaultInitBounds()
    {
        var l = new Linear(400, 300, generator: new Generator(3));
        double bound = 1 / Math.Sqrt(400);
        var w = l.Weight.ToArray<float>();
        Assert.All(w, v => Assert.InRange(v, -bound, bound));
        Assert.InRange(w.Max(), 0.95 * bound, bound);
        Assert.All(l.Bias!.ToArray<float>(), v => Assert.InRange(v, -bound, bound));
        var k = Tensor.Empty(DType.Float64, [512, 256]);
        Init.KaimingNormal(k, nonlinearity: Nonlinearity.Relu, g: new Generator(4));
        Assert.InRange(k.Std().Item(), Math.Sqrt(2.0 / 256) * 0.97, Math.Sqrt(2.0 / 256) * 1.03);
        var xu = Tensor.Empty(DType.Float64, [300, 200]);
        Init.XavierUniform(xu, g: new Generator(5));
        Assert.InRange(xu.Abs().Max().Item(), 0.97 * Math.Sqrt(6.0 / 500), Math.Sqrt(6.0 / 500));
    }

    [Fact]
    public void FusedLinearMatchesComposedAndHasCorrectGradients()
    {
        var x = Tensor.Randn([7, 5], DType.Float32, new Generator(1)).RequiresGrad_();
        var w = Tensor.Randn([3, 5], DType.Float32, new Generator(2)).RequiresGrad_();
        var b = Tensor.Randn([3], DType.Float32, new Generator(3)).RequiresGrad_();
        var fused = Functional.Linear(x, w, b);
        var composed = x.Double().Matmul(w.Double().T).Add(b.Double());
        TorchReference.Close(composed.ToArray<double>(), fused.ToArrayDouble(), 1e-5, "linear");
        fused.Sum().Backward();
        TorchReference.Close(Tensor.Ones(7, 3).Matmul(w.Detach()).ToArrayDouble(), x.Grad!.ToArrayDouble(), 1e-5, "dx");
        TorchReference.Close(Tensor.Ones(3, 7).Matmul(x.Detach()).ToArrayDouble(), w.Grad!.ToArrayDouble(), 1e-5, "dw");
        Assert.All(b.Grad!.ToArray<float>(), v => Assert.Equal(7f, v));
        GradCheck.Check(t => Functional.Linear(t[0], t[1], t[2]), [GradCheck.Leaf(1, 4, 5), GradCheck.Leaf(2, 3, 5), GradCheck.Leaf(3, 3)]);
        var e = Assert.Throws<ArgumentException>(() => Functional.Linear(Tensor.Ones(2, 4), Tensor.Ones(3, 5)));
        Assert.Contains("in_features=5", e.Message);
    }

    [Fact]
    public void LinearWeightGradientsAccumulateInPlace()
    {
        // Written straight into .Grad: a second backward adds, a tied weight gets both contributions.
        var x = Tensor.Randn([6, 4], DType.Float32, new Generator(1));
        var w = Tensor.Randn([3, 4], DType.Float32, new Generator(2)).RequiresGrad_();
        var y = Functional.Linear(x, w).Sum();
        y.Backward(retainGraph: true);
        var once = w.Grad!.ToArray<float>();
        var buffer = w.Grad;
        y.Backward();
        Assert.Same(buffer, w.Grad);
        TorchReference.Close(once.Select(v => 2.0 * v).ToArray(), w.Grad!.ToArrayDouble(), 1e-6, "twice");
        var expected = Tensor.Ones(3, 6).Matmul(x).ToArrayDouble();
        TorchReference.Close(expected, once.Select(v => (double)v).ToArray(), 1e-5, "gᵀx");
        w.ZeroGrad();
        Functional.Linear(Functional.Linear(x, w).Narrow(1, 0, 3).Matmul(Tensor.Eye(3, 4)), w).Sum().Backward();   // w used twice
        var w64 = w.Detach().Double().RequiresGrad_();
        Functional.Linear(Functional.Linear(x.Double(), w64).Narrow(1, 0, 3).Matmul(Tensor.Eye(3, 4, DType.Float64)), w64).Sum().Backward();
        TorchReference.Close(w64.Grad!.ToArray<double>(), w.Grad!.ToArrayDouble(), 1e-4, "tied");
    }

    public static TheoryData<string> Activations() => new() { "gelu", "gelu_tanh", "silu", "elu", "leaky_relu" };

    [Theory]
    [MemberData(nameof(Activations))]
    public void ActivationGradients(string name)
    {
        Func<Tensor, Tensor> f = name switch
        {
            "gelu" => x => Functional.Gelu(x),
            "gelu_tanh" => x => Functional.Gelu(x, tanhApproximation: true),
            "silu" => Functional.Silu,
            "elu" => x => Functional.Elu(x, 1.3),
            _ => x => Functional.LeakyRelu(x, 0.1),
        };
        GradCheck.Check(v => f(v[0]), [GradCheck.Leaf(4, 3, 5)]);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void FusedFloat32GeluMatchesFloat64Definition(bool tanh)
    {
        // Sizes with SIMD tails; values spanning the series/erfc switch at |x/√2| = 0.5 and the saturated tails.
        var values = Tensor.Cat([Tensor.Linspace(-9, 9, 1001, DType.Float64), Tensor.Randn([77], DType.Float64, new Generator(4))]);
        var x64 = values.Detach().RequiresGrad_();
        var x32 = values.To(DType.Float32).Detach().RequiresGrad_();
        var w = Tensor.Randn(values.Shape, DType.Float64, new Generator(5));
        var y64 = Functional.Gelu(x64, tanh);
        var y32 = Functional.Gelu(x32, tanh);
        TorchReference.Close(y64.ToArray<double>(), y32.ToArrayDouble(), 2e-6, "gelu forward");
        y64.Mul(w).Sum().Backward();
        y32.Mul(w.To(DType.Float32)).Sum().Backward();
        TorchReference.Close(x64.Grad!.ToArray<double>(), x32.Grad!.ToArrayDouble(), 2e-6, "gelu backward");
        Assert.Equal("GeluBackward", y32.GradFn!.Name);
    }

    /// <summary>float32 layer norm over rows of whole 16-float vectors (the AVX-512 kernels; other lengths take the
    /// general path) against float64: output, input, weight and bias gradients, with and without an affine part, on
    /// rows with a large common offset (the centred second pass keeps the variance exact).</summary>
    [Theory]
    [InlineData(32, true)]
    [InlineData(48, false)]
    [InlineData(20, true)]
    public void Float32LayerNormMatchesFloat64(int len, bool affine)
    {
        var g = new Generator((ulong)len);
        var x64 = Tensor.Randn([7, 3, len], DType.Float64, g).Mul(3).Add(100);
        var w64 = affine ? Tensor.Randn([len], DType.Float64, g) : null;
        var b64 = affine ? Tensor.Randn([len], DType.Float64, g) : null;
        var up = Tensor.Randn([7, 3, len], DType.Float64, g);
        Tensor?[] Leaves(DType dt) => [x64.To(dt).Detach().RequiresGrad_(), w64?.To(dt).Detach().RequiresGrad_(), b64?.To(dt).Detach().RequiresGrad_()];
        var l64 = Leaves(DType.Float64);
        var l32 = Leaves(DType.Float32);
        var y64 = Functional.LayerNorm(l64[0]!, [len], l64[1], l64[2]);
        var y32 = Functional.LayerNorm(l32[0]!, [len], l32[1], l32[2]);
        TorchReference.Close(y64.ToArrayDouble(), y32.ToArrayDouble(), 2e-5, "layer norm forward");
        y64.Mul(up).Sum().Backward();
        y32.Mul(up.To(DType.Float32)).Sum().Backward();
        for (int i = 0; i < 3; i++)
            if (l64[i] is { } a) TorchReference.Close(a.Grad!.ToArrayDouble(), l32[i]!.Grad!.ToArrayDouble(), 2e-4, $"layer norm grad {i}");
    }

    [Fact]
    public void ActivationValues()
    {
        var x = Tensor.FromArray(new double[] { -1, 0.5 });
        // Values printed by PyTorch 1.13 (float64): F.gelu, F.gelu(approximate='tanh'), F.silu, F.elu at [-1, 0.5].
        TorchReference.Close([-0.15865525393145702, 0.34573123063700656], Functional.Gelu(x).ToArray<double>(), 1e-12, "gelu");
        TorchReference.Close([-0.15880800939172324, 0.34571400982514394], Functional.Gelu(x, true).ToArray<double>(), 1e-12, "gelu tanh");
        TorchReference.Close([-0.2689414213699951, 0.3112296656009273], Functional.Silu(x).ToArray<double>(), 1e-12, "silu");
        TorchReference.Close([-0.6321205588285577, 0.5], Functional.Elu(x).ToArray<double>(), 1e-12, "elu");
    }
}
