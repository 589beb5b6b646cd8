namespace Ember.NN;

/// <summary>How a fan is chosen for Kaiming initialization.</summary>
public enum FanMode
{
    /// <summary>Scale by the number of inputs of a unit (preserves the forward variance).</summary>
    FanIn,
    /// <summary>Scale by the number of outputs (preserves the backward variance).</summary>
    FanOut,
}

/// <summary>Nonlinearities known to <see cref="Init.CalculateGain"/>.</summary>
public enum Nonlinearity
{
    /// <summary>Gain 1.</summary>
    Linear,
    /// <summary>Gain 1.</summary>
    Sigmoid,
    /// <summary>Gain 5/3.</summary>
    Tanh,
    /// <summary>Gain √2.</summary>
    Relu,
    /// <summary>Gain √(2/(1 + a²)) for negative slope a.</summary>
    LeakyRelu,
    /// <summary>Gain 3/4.</summary>
    Selu,
}

/// <summary>Weight initializers (PyTorch's <c>nn.init</c>): fill a tensor in place from a seeded generator.</summary>
public static class Init
{
    /// <summary>The recommended gain for a nonlinearity (PyTorch's values).</summary>
    public static double CalculateGain(Nonlinearity nonlinearity, double param = 0.01) => nonlinearity switch
    {
        Nonlinearity.Linear or Nonlinearity.Sigmoid => 1,
        Nonlinearity.Tanh => 5.0 / 3,
        Nonlinearity.Relu => Math.Sqrt(2),
        Nonlinearity.LeakyRelu => Math.Sqrt(2 / (1 + param * param)),
        Nonlinearity.Selu => 3.0 / 4,
        _ => throw new ArgumentOutOfRangeException(nameof(nonlinearity)),
    };

    /// <summary>(fan_in, fan_out) of a weight: dim 1 and dim 0 times the receptive field (dims 2…).</summary>
    public static (int FanIn, int FanOut) Fans(Tensor t)
    {
        if (t.Dim < 2) throw new ArgumentException($"Init: fan in/out need a tensor of at least 2 dims, got shape {ShapeUtil.Str(t.Shape)}.");
        int receptive = 1;
        for (int i = 2; i < t.Dim; i++) receptive *= t.Size(i);
        return (t.Size(1) * receptive, t.Size(0) * receptive);
    }

    private static Tensor Fill(Tensor t, Tensor values)
    {
        using (Tensor.NoGrad()) t.CopyFrom(values);
        return t;
    }

    /// <summary>U(low, high).</summary>
    public static Tensor Uniform(Tensor t, double low = 0, double high = 1, Generator? g = null)
        => Fill(t, Tensor.Rand(t.Shape, DType.Float64, g).Mul(high - low).Add(low));

    /// <summary>N(mean, std²).</summary>
    public static Tensor Normal(Tensor t, double mean = 0, double std = 1, Generator? g = null)
        => Fill(t, Tensor.Randn(t.Shape, DType.Float64, g).Mul(std).Add(mean));

    /// <summary>Fills <paramref name="t"/> with <paramref name="value"/> in place (no gradient recorded); returns it.</summary>
    public static Tensor Constant(Tensor t, double value)
    {
        using (Tensor.NoGrad()) t.Fill(value);
        return t;
    }

    /// <summary>Fills <paramref name="t"/> with zeros in place; returns it.</summary>
    public static Tensor Zeros(Tensor t) => Constant(t, 0);
    /// <summary>Fills <paramref name="t"/> with ones in place; returns it.</summary>
    public static Tensor Ones(Tensor t) => Constant(t, 1);

    /// <summary>Glorot &amp; Bengio (2010): U(−a, a), a = gain·√(6/(fan_in + fan_out)).</summary>
    public static Tensor XavierUniform(Tensor t, double gain = 1, Generator? g = null)
    {
        var (fi, fo) = Fans(t);
        double a = gain * Math.Sqrt(6.0 / (fi + fo));
        return Uniform(t, -a, a, g);
    }

    /// <summary>Glorot &amp; Bengio (2010): N(0, std²), std = gain·√(2/(fan_in + fan_out)).</summary>
    public static Tensor XavierNormal(Tensor t, double gain = 1, Generator? g = null)
    {
        var (fi, fo) = Fans(t);
        return Normal(t, 0, gain * Math.Sqrt(2.0 / (fi + fo)), g);
    }

    /// <summary>He et al. (2015): U(−b, b), b = gain·√(3/fan), gain from the nonlinearity (a = leaky slope).</summary>
    public static Tensor KaimingUniform(Tensor t, double a = 0, FanMode mode = FanMode.FanIn, Nonlinearity nonlinearity = Nonlinearity.LeakyRelu, Generator? g = null)
    {
        var (fi, fo) = Fans(t);
        double std = CalculateGain(nonlinearity, a) / Math.Sqrt(mode == FanMode.FanIn ? fi : fo);
        double bound = Math.Sqrt(3.0) * std;
        return Uniform(t, -bound, bound, g);
    }

    /// <summary>He et al. (2015): N(0, std²), std = gain/√fan.</summary>
    public static Tensor KaimingNormal(Tensor t, double a = 0, FanMode mode = FanMode.FanIn, Nonlinearity nonlinearity = Nonlinearity.LeakyRelu, Generator? g = null)
    {
        var (fi, fo) = Fans(t);
        return Normal(t, 0, CalculateGain(nonlinearity, a) / Math.Sqrt(mode == FanMode.FanIn ? fi : fo), g);
    }
}
