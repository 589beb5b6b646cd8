using Ember;
using Xunit;

namespace Ember.Tests;

/// <summary>Central-difference gradient check in float64 (after minitorch's grad_check): the objective is
/// Σ f(x)·w with fixed random weights w, so every output element's gradient path is exercised.</summary>
public static class GradCheck
{
    public static void Check(Func<Tensor[], Tensor> f, Tensor[] inputs, double eps = 1e-6, double atol = 1e-6, double rtol = 1e-5)
    {
        foreach (var x in inputs)
        {
            Assert.Equal(DType.Float64, x.DType);
            x.ZeroGrad();
        }
        var output = f(inputs);
        Assert.True(output.RequiresGrad, "the output does not require grad: the op recorded no backward");
        var w = Tensor.Randn(output.Shape, DType.Float64, new Generator(99));
        output.Mul(w).Sum().Backward();

        double Objective()
        {
            using var _ = Tensor.NoGrad();
            return f(inputs).Mul(w).Sum().Item();
        }

        for (int i = 0; i < inputs.Length; i++)
        {
            var x = inputs[i];
            if (!x.RequiresGrad) continue;
            var analytic = x.Grad?.ToArray<double>() ?? new double[x.NumEl];
            Assert.Equal(x.NumEl, analytic.Length);
            var index = new int[x.Dim];
            for (int flat = 0; flat < x.NumEl; flat++)
            {
                for (int d = x.Dim - 1, r = flat; d >= 0; d--) { index[d] = r % x.Size(d); r /= x.Size(d); }
                double orig = x.GetItem(index);
                x.SetItem(orig + eps, index);
                double plus = Objective();
                x.SetItem(orig - eps, index);
                double minus = Objective();
                x.SetItem(orig, index);
                double numeric = (plus - minus) / (2 * eps);
                double diff = Math.Abs(numeric - analytic[flat]);
                Assert.True(diff <= atol + rtol * Math.Abs(numeric),
                    $"input {i} {Shape(x)} element {flat} [{string.Join(", ", index)}]: analytic {analytic[flat]:G10} vs numeric {numeric:G10} (diff {diff:G3})");
            }
        }
    }

    /// <summary>Complex gradient check: inputs are complex128 (or float64) tensors; the objective is Σ Re(conj(w)·f(x))
    /// (Σ w·f(x) for a real output). Each element's real and imaginary parts are perturbed separately; the analytic
    /// gradient must equal ∂L/∂x + i·∂L/∂y (PyTorch's convention).</summary>
    public static void CheckComplex(Func<Tensor[], Tensor> f, Tensor[] values, double eps = 1e-6, double atol = 1e-6, double rtol = 1e-5)
    {
        var inputs = values.Select(v => v.Detach().Clone().RequiresGrad_()).ToArray();
        var output = f(inputs);
        Assert.True(output.RequiresGrad, "the output does not require grad: the op recorded no backward");
        var w = Tensor.Randn(output.Shape, output.DType, new Generator(99));
        Tensor Loss(Tensor y) => y.IsComplex ? y.Mul(w.Conj()).Real().Sum() : y.Mul(w).Sum();
        Loss(output).Backward();
        for (int i = 0; i < inputs.Length; i++)
        {
            var x = inputs[i];
            bool complex = x.IsComplex;
            var analytic = complex ? x.Grad!.ToComplexArray() : x.Grad!.ToArrayDouble().Select(v => new System.Numerics.Complex(v, 0)).ToArray();
            for (int flat = 0; flat < x.NumEl; flat++)
                for (int part = 0; part < (complex ? 2 : 1); part++)
                {
                    double Eval(double delta)
                    {
                        var probe = inputs.Select(t => t.Detach().Clone()).ToArray();
                        if (complex)
                        {
                            var d = probe[i].Data<System.Numerics.Complex>();
                            d[flat] += part == 0 ? new System.Numerics.Complex(delta, 0) : new System.Numerics.Complex(0, delta);
                        }
                        else probe[i].Data<double>()[flat] += delta;
                        using var _ = Tensor.NoGrad();
                        return Loss(f(probe)).Item();
                    }
                    double numeric = (Eval(eps) - Eval(-eps)) / (2 * eps);
                    double a = part == 0 ? analytic[flat].Real : analytic[flat].Imaginary;
                    double diff = Math.Abs(numeric - a);
                    Assert.True(diff <= atol + rtol * Math.Abs(numeric),
                        $"input {i} {Shape(x)} element {flat} {(part == 0 ? "real" : "imaginary")} part: analytic {a:G10} vs numeric {numeric:G10} (diff {diff:G3})");
                }
        }
    }

    public static string Shape(Tensor t) => "[" + string.Join(", ", t.Shape) + "]";

    /// <summary>A float64 leaf requiring grad with standard-normal values.</summary>
    public static Tensor Leaf(int seed, params int[] shape) => Tensor.Randn(shape, DType.Float64, new Generator((ulong)seed), requiresGrad: true);

    /// <summary>A float64 leaf with values in [lo, hi).</summary>
    public static Tensor LeafIn(int seed, double lo, double hi, params int[] shape)
    {
        var t = Tensor.Rand(shape, DType.Float64, new Generator((ulong)seed)).Mul(hi - lo).Add(lo);
        return t.Detach().RequiresGrad_();
    }
}
