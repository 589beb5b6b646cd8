using System.Text.Json;
using Ember;
using Xunit;
using NComplex = System.Numerics.Complex;

namespace Ember.Tests.Complex;

/// <summary>Complex tensors and linear algebra against PyTorch 1.13 (Fixtures/gen_complex_fixtures.py) and against
/// central finite differences on real and imaginary parts.</summary>
public class ComplexTests
{
    private static readonly Lazy<JsonDocument> s_doc = new(() =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "complex_reference.json"))));

    private static readonly Dictionary<string, Func<Tensor[], Tensor>> s_ops = new()
    {
        ["mul_add_abs"] = x => x[0].Mul(x[1]).Add(x[2]).Abs(),
        ["div_conj"] = x => x[0].Div(x[1].Conj()),
        ["sub_neg_exp"] = x => x[0].Sub(x[1]).Neg().Exp(),
        ["real_times_complex"] = x => x[0].Mul(x[1]).Add(x[0]),
        ["complex_from_parts"] = x => Tensor.Complex(x[0], x[1]).Mul(Tensor.Complex(x[1], x[0])),
        ["polar"] = x => Tensor.Polar(x[0], x[1]),
        ["angle_real_imag"] = x => x[0].Angle().Add(x[0].Real().Mul(x[0].Imag())),
        ["matmul"] = x => x[0].Matmul(x[1]),
        ["matmul_real_complex"] = x => x[0].To(DType.Complex128).Matmul(x[1]),
        ["sum_mean"] = x => x[0].Sum(0).Mul(x[0].Mean(1)),
        ["conj_transpose"] = x => x[0].MH.Matmul(x[0]),
        ["solve"] = x => Linalg.Solve(x[0], x[1]),
        ["solve_real"] = x => Linalg.Solve(x[0], x[1]),
        ["inv"] = x => Linalg.Inv(x[0]),
        ["logdet"] = x => Linalg.LogDet(x[0]),
        ["slogdet_real"] = x => Linalg.SlogDet(x[0]).LogAbsDet,
        ["svdvals"] = x => Linalg.SvdVals(x[0]),
        ["svdvals_wide_real"] = x => Linalg.SvdVals(x[0]),
        ["pinv_tall"] = x => Linalg.Pinv(x[0]),
        ["pinv_wide"] = x => Linalg.Pinv(x[0]),
    };

    public static IEnumerable<object[]> Cases()
        => s_doc.Value.RootElement.GetProperty("cases").EnumerateArray().Select(e => new object[] { e.GetProperty("name").GetString()! });

    internal static Tensor Decode(JsonElement e)
    {
        var v = e.GetProperty("values").EnumerateArray().Select(x => x.GetDouble()).ToArray();
        var shape = e.GetProperty("shape").EnumerateArray().Select(x => x.GetInt32()).ToArray();
        if (!e.GetProperty("complex").GetBoolean()) return Tensor.FromArray(v, shape);
        var z = new NComplex[v.Length / 2];
        for (int i = 0; i < z.Length; i++) z[i] = new NComplex(v[2 * i], v[2 * i + 1]);
        return Tensor.FromArray(z, shape);
    }

    internal static double[] Flat(Tensor t) => t.IsComplex
        ? t.ToComplexArray().SelectMany(z => new[] { z.Real, z.Imaginary }).ToArray()
        : t.ToArrayDouble();

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesPyTorchValuesAndGradients(string name)
    {
        var c = s_doc.Value.RootElement.GetProperty("cases").EnumerateArray().First(e => e.GetProperty("name").GetString() == name);
        var inputs = c.GetProperty("inputs").EnumerateArray().Select(e => Decode(e).RequiresGrad_()).ToArray();
        var y = s_ops[name](inputs);
        var expected = Decode(c.GetProperty("output"));
        Assert.Equal(expected.Shape, y.Shape);
        Assert.Equal(expected.IsComplex, y.IsComplex);
        TorchReference.Close(Flat(expected), Flat(y), 1e-10, name + " output");
        y.Backward(Decode(c.GetProperty("grad_output")));
        var grads = c.GetProperty("grads").EnumerateArray().ToArray();
        for (int i = 0; i < inputs.Length; i++)
        {
            Assert.NotNull(inputs[i].Grad);
            Assert.Equal(inputs[i].DType, inputs[i].Grad!.DType);
            TorchReference.Close(Flat(Decode(grads[i])), Flat(inputs[i].Grad!), 1e-9, $"{name} grad {i}");
        }
    }

    [Fact]
    public void GradientsMatchFiniteDifferencesOnRealAndImaginaryParts()
    {
        Tensor C(int seed, params int[] shape) => Tensor.Randn(shape, DType.Complex128, new Generator((ulong)seed));
        GradCheck.CheckComplex(x => x[0].Mul(x[1]).Sub(x[0].Div(x[1].Add(3.0))).Abs(), [C(1, 3, 2), C(2, 2)]);
        GradCheck.CheckComplex(x => x[0].Sgn().Mul(x[0].Conj()).Exp(), [C(3, 5)]);
        GradCheck.CheckComplex(x => x[0].ViewAsReal().Mul(2).Sum(-1).Add(Tensor.ViewAsComplex(x[0].ViewAsReal()).Angle()), [C(4, 3)]);
        GradCheck.CheckComplex(x => Linalg.LogDet(Tensor.Eye(3, dtype: DType.Float64).To(DType.Complex128).Add(x[0].Matmul(x[0].MH))).Real(), [C(5, 3, 4)]);
        GradCheck.CheckComplex(x => Linalg.Solve(x[0].MH.Matmul(x[0]), x[1]).Abs().Square(), [C(6, 5, 3), C(7, 3)]);
        GradCheck.CheckComplex(x => Linalg.SvdVals(x[0]), [C(8, 4, 6)]);
        GradCheck.CheckComplex(x => Linalg.Pinv(x[0]).Abs(), [C(9, 5, 2)]);
        GradCheck.CheckComplex(x => Linalg.Det(x[0]), [C(10, 2, 3, 3)]);
        GradCheck.CheckComplex(x => Linalg.Det(x[0]), [Tensor.Randn([4, 4], DType.Float64, new Generator(11))]);
        var m = Tensor.FromArray(new double[] { 2, 1, 0, 3 }, 2, 2);
        Assert.Equal(6.0, Linalg.Det(m).Item(), 12);
    }

    /// <summary>SVD gradients (PyTorch's svd_backward) for losses blind to the singular vectors' phases: U·Vh, |U|², |Vh|²
    /// and S, on tall, wide and square, complex and real matrices.</summary>
    [Fact]
    public void SvdGradientsMatchFiniteDifferencesForGaugeInvariantLosses()
    {
        foreach (var (m, n) in new[] { (5, 3), (3, 5), (4, 4) })
        {
            var z = Tensor.Randn([m, n], DType.Complex128, new Generator((ulong)(m * 10 + n)));
            var r = Tensor.Randn([2, m, n], DType.Float64, new Generator((ulong)(m * 10 + n + 1)));
            foreach (var x in new[] { z, r })
            {
                GradCheck.CheckComplex(v => { var (u, _, vh) = Linalg.Svd(v[0]); return u.Matmul(vh); }, [x]);
                GradCheck.CheckComplex(v => { var (u, s, vh) = Linalg.Svd(v[0]); return Tensor.Cat([u.Abs().Square().Flatten(), vh.Abs().Square().Flatten(), s.Flatten()], 0); }, [x]);
            }
        }
    }

    [Fact]
    public void LeafGradientsAccumulateAndOptimizersStepComplexParameters()
    {
        var z = Tensor.FromArray(new NComplex[] { new(1, 2), new(-3, 0.5) }).RequiresGrad_();
        for (int i = 0; i < 2; i++) z.Abs().Square().Sum().Backward();
        // d|z|²/dx + i d|z|²/dy = 2x + 2iy, twice.
        Assert.Equal(new NComplex[] { new(4, 8), new(-12, 2) }, z.Grad!.ToComplexArray());
    }

    [Fact]
    public void SvdReconstructsAndIsOrthonormal()
    {
        foreach (var (m, n) in new[] { (36, 144), (144, 36), (16, 64), (5, 5) })
        {
            var a = Tensor.Randn([2, m, n], DType.Complex128, new Generator(11));
            var (u, s, vh) = Linalg.Svd(a);
            int k = Math.Min(m, n);
            Assert.Equal(new[] { 2, m, k }, u.Shape);
            Assert.Equal(new[] { 2, k }, s.Shape);
            Assert.Equal(new[] { 2, k, n }, vh.Shape);
            var rebuilt = u.Mul(s.To(DType.Complex128).Unsqueeze(-2)).Matmul(vh);
            Assert.True(rebuilt.Sub(a).Abs().Max().Item() < 1e-11, $"{m}x{n}: reconstruction");
            var eye = Tensor.Eye(k, dtype: DType.Float64).To(DType.Complex128);
            Assert.True(u.MH.Matmul(u).Sub(eye).Abs().Max().Item() < 1e-12, $"{m}x{n}: UᴴU");
            Assert.True(vh.Matmul(vh.MH).Sub(eye).Abs().Max().Item() < 1e-12, $"{m}x{n}: VhVhᴴ");
            var sv = s.ToArrayDouble();
            for (int i = 1; i < k; i++) Assert.True(sv[i - 1] >= sv[i]);
        }
        // Rank-deficient and full_matrices: U is completed to a unitary matrix.
        var low = Tensor.Randn([6, 2], DType.Complex128, new Generator(3)).Matmul(Tensor.Randn([2, 4], DType.Complex128, new Generator(4)));
        var (uf, sf, vf) = Linalg.Svd(low, fullMatrices: true);
        Assert.Equal(new[] { 6, 6 }, uf.Shape);
        Assert.Equal(new[] { 4, 4 }, vf.Shape);
        Assert.True(sf.ToArrayDouble()[2] < 1e-12 && sf.ToArrayDouble()[1] > 0.1);
        Assert.True(uf.MH.Matmul(uf).Sub(Tensor.Eye(6, dtype: DType.Float64).To(DType.Complex128)).Abs().Max().Item() < 1e-12);
        var recon = uf.Narrow(1, 0, 4).Mul(sf.To(DType.Complex128).Unsqueeze(0)).Matmul(vf);
        Assert.True(recon.Sub(low).Abs().Max().Item() < 1e-12);
    }

    [Fact]
    public void SingularSolveAndBadShapesAreClearErrors()
    {
        var singular = Tensor.FromArray(new double[] { 1, 2, 2, 4 }, 2, 2);
        var e = Assert.Throws<ArgumentException>(() => Linalg.Solve(singular, Tensor.Ones(2, 1).Double()));
        Assert.Contains("singular", e.Message);
        e = Assert.Throws<ArgumentException>(() => Linalg.Solve(Tensor.Eye(3, dtype: DType.Float64), Tensor.Ones(4, 1).Double()));
        Assert.Contains("[3, 3]", e.Message);
        var z = Tensor.Randn([2], DType.Complex64);
        var ex = Assert.Throws<NotSupportedException>(() => z.To(DType.Float32));
        Assert.Contains("imaginary", ex.Message);
        Assert.Throws<ArgumentException>(() => Tensor.Randn([2], DType.Float32).Imag());
        Assert.Throws<NotSupportedException>(() => Linalg.Svd(Tensor.Randn([3, 3], DType.Complex128, requiresGrad: true), fullMatrices: true));
    }

    [Fact]
    public void Complex64PrintsAndConvertsLikePyTorch()
    {
        var z = Tensor.FromArray(new[] { new Complex64(1, 2), new Complex64(-0.5f, -1) });
        // PyTorch 1.13 prints torch.tensor([1+2j, -0.5-1j], dtype=torch.complex64) the same way (each part its own style).
        Assert.Equal("tensor([ 1.0000+2.j, -0.5000-1.j], shape=[2], dtype=complex64)", z.ToString());
        var w = z.To(DType.Complex128);
        Assert.Equal(DType.Complex128, w.DType);
        Assert.Equal(new NComplex(-0.5, -1), w.ToComplexArray()[1]);
        Assert.Equal(DType.Float32, z.Abs().DType);
        Assert.Equal(Math.Sqrt(5), z.Abs().ToArrayDouble()[0], 6);
        var stats = Tensor.Randn([20000], DType.Complex64, new Generator(1)).Abs().Square().Mean().Item();
        Assert.InRange(stats, 0.97, 1.03);
    }
}
