namespace Ember.Distributions;

/// <summary>Normal (Gaussian) N(loc, scale²) (<c>torch.distributions.Normal</c>), reparameterized: loc + scale·ε.</summary>
public sealed class Normal : Distribution
{
    private const double HalfLog2Pi = 0.91893853320467274178;

    /// <summary>Mean μ, broadcast to the batch shape.</summary>
    public Tensor Loc { get; }

    /// <summary>Standard deviation σ &gt; 0, broadcast to the batch shape.</summary>
    public Tensor Scale { get; }

    /// <summary>N(loc, scale²), the parameters broadcast against each other.</summary>
    public Normal(Tensor loc, Tensor scale, bool validateArgs = true)
        : this(Distribution.Broadcast("Normal", ("loc", loc), ("scale", scale)), validateArgs) { }

    /// <summary>Scalar parameters (float32).</summary>
    public Normal(double loc, double scale, bool validateArgs = true) : this(Tensor.Scalar(loc), Tensor.Scalar(scale), validateArgs) { }

    private Normal((Tensor[] P, int[] Shape) b, bool validateArgs) : base(b.Shape, [], b.P[0].DType, validateArgs)
    {
        Loc = b.P[0];
        Scale = b.P[1];
        Require(validateArgs, "Normal", "loc", Loc, double.IsFinite, "finite");
        Require(validateArgs, "Normal", "scale", Scale, v => v > 0 && double.IsFinite(v), "positive and finite");
    }

    /// <inheritdoc/>
    public override bool HasRSample => true;
    /// <inheritdoc/>
    public override Tensor Mean => Loc;
    /// <inheritdoc/>
    public override Tensor Variance => Scale.Square();

    /// <inheritdoc/>
    protected override Tensor SampleCore(int[] shape, Generator generator) =>
        Tensor.Randn(shape, DType, generator).Mul(Scale).Add(Loc);

    /// <summary>log N(x; μ, σ²) = −(x − μ)²/(2σ²) − ln σ − ½ ln 2π.</summary>
    public override Tensor LogProb(Tensor value)
    {
        Require(ValidateArgs, "Normal.LogProb", "value", value, v => !double.IsNaN(v), "a number");
        return value.Sub(Loc).Square().Div(Scale.Square().Mul(2)).Neg().Sub(Scale.Log()).Sub(HalfLog2Pi);
    }

    /// <summary>½ + ½ ln 2π + ln σ.</summary>
    public override Tensor Entropy() => Scale.Log().Add(0.5 + HalfLog2Pi);

    /// <summary>Φ((x − μ)/σ) = ½(1 + erf((x − μ)/(σ√2))).</summary>
    public Tensor Cdf(Tensor value) => value.Sub(Loc).Div(Scale.Mul(Math.Sqrt(2))).Erf().Add(1).Mul(0.5);
}

/// <summary>Uniform on [low, high) (<c>torch.distributions.Uniform</c>), reparameterized: low + (high − low)·u.</summary>
public sealed class Uniform : Distribution
{
    /// <summary>Lower bound (inclusive).</summary>
    public Tensor Low { get; }
    /// <summary>Upper bound (exclusive), greater than <see cref="Low"/>.</summary>
    public Tensor High { get; }

    /// <summary>Uniform on [low, high), the bounds broadcast against each other.</summary>
    public Uniform(Tensor low, Tensor high, bool validateArgs = true)
        : this(Distribution.Broadcast("Uniform", ("low", low), ("high", high)), validateArgs) { }

    /// <summary>Scalar bounds (float32).</summary>
    public Uniform(double low, double high, bool validateArgs = true) : this(Tensor.Scalar(low), Tensor.Scalar(high), validateArgs) { }

    private Uniform((Tensor[] P, int[] Shape) b, bool validateArgs) : base(b.Shape, [], b.P[0].DType, validateArgs)
    {
        Low = b.P[0];
        High = b.P[1];
        Require(validateArgs, "Uniform", "low", Low, double.IsFinite, "finite");
        Require(validateArgs, "Uniform", "high", High, double.IsFinite, "finite");
        Require(validateArgs, "Uniform", "high - low", High.Sub(Low), v => v > 0, "positive (high > low)");
    }

    /// <inheritdoc/>
    public override bool HasRSample => true;
    /// <inheritdoc/>
    public override Tensor Mean => Low.Add(High).Mul(0.5);
    /// <inheritdoc/>
    public override Tensor Variance => High.Sub(Low).Square().Div(12);

    /// <inheritdoc/>
    protected override Tensor SampleCore(int[] shape, Generator generator) =>
        Tensor.Rand(shape, DType, generator).Mul(High.Sub(Low)).Add(Low);

    /// <summary>−ln(high − low) on the support; outside it the value is refused (validating) or −∞.</summary>
    public override Tensor LogProb(Tensor value)
    {
        var inside = value.Ge(Low).LogicalAnd(value.Lt(High));
        if (ValidateArgs)
        {
            int bad = Array.IndexOf(inside.Detach().Contiguous().ToArray<bool>(), false);
            if (bad >= 0)
                throw new ArgumentException($"Uniform.LogProb: value must lie in [low, high); element {bad} of the broadcast value " +
                    $"({value.Detach().Expand(inside.Shape).Contiguous().ToArrayDouble()[bad]}) does not.");
        }
        var lp = High.Sub(Low).Log().Neg();
        return Tensor.Where(inside, lp.Expand(inside.Shape), double.NegativeInfinity);
    }

    /// <summary>ln(high − low).</summary>
    public override Tensor Entropy() => High.Sub(Low).Log();

    /// <summary>(x − low)/(high − low), clamped to [0, 1].</summary>
    public Tensor Cdf(Tensor value) => value.Sub(Low).Div(High.Sub(Low)).Clamp(0, 1);
}

/// <summary>Gamma(concentration α, rate β) (<c>torch.distributions.Gamma</c>), density βᵅ xᵅ⁻¹ e^(−βx) / Γ(α) on x &gt; 0.
/// Sampled by Marsaglia and Tsang's method; no reparameterized sampler here (PyTorch's uses implicit
/// reparameterization gradients, not implemented).</summary>
public sealed class Gamma : Distribution
{
    /// <summary>Shape α &gt; 0.</summary>
    public Tensor Concentration { get; }
    /// <summary>Rate β &gt; 0 (1/scale).</summary>
    public Tensor Rate { get; }

    /// <summary>Gamma(α, β), the parameters broadcast against each other.</summary>
    public Gamma(Tensor concentration, Tensor rate, bool validateArgs = true)
        : this(Distribution.Broadcast("Gamma", ("concentration", concentration), ("rate", rate)), validateArgs) { }

    /// <summary>Scalar parameters (float32).</summary>
    public Gamma(double concentration, double rate, bool validateArgs = true) : this(Tensor.Scalar(concentration), Tensor.Scalar(rate), validateArgs) { }

    private Gamma((Tensor[] P, int[] Shape) b, bool validateArgs) : base(b.Shape, [], b.P[0].DType, validateArgs)
    {
        Concentration = b.P[0];
        Rate = b.P[1];
        Require(validateArgs, "Gamma", "concentration", Concentration, v => v > 0 && double.IsFinite(v), "positive and finite");
        Require(validateArgs, "Gamma", "rate", Rate, v => v > 0 && double.IsFinite(v), "positive and finite");
    }

    /// <inheritdoc/>
    public override Tensor Mean => Concentration.Div(Rate);
    /// <inheritdoc/>
    public override Tensor Variance => Concentration.Div(Rate.Square());

    /// <inheritdoc/>
    protected override Tensor SampleCore(int[] shape, Generator generator)
    {
        var a = Concentration.Detach().Expand(shape).Contiguous().ToArrayDouble();
        var r = Rate.Detach().Expand(shape).Contiguous().ToArrayDouble();
        return Fill(shape, DType, i => generator.NextGamma(a[i]) / r[i]);
    }

    /// <summary>α ln β + (α − 1) ln x − βx − ln Γ(α).</summary>
    public override Tensor LogProb(Tensor value)
    {
        Require(ValidateArgs, "Gamma.LogProb", "value", value, v => v > 0 && !double.IsPositiveInfinity(v), "positive (the support is x > 0)");
        return Concentration.Mul(Rate.Log()).Add(Concentration.Sub(1).Mul(value.Log())).Sub(Rate.Mul(value)).Sub(Concentration.Lgamma());
    }

    /// <summary>α − ln β + ln Γ(α) + (1 − α)ψ(α).</summary>
    public override Tensor Entropy() =>
        Concentration.Sub(Rate.Log()).Add(Concentration.Lgamma()).Add(Concentration.Neg().Add(1).Mul(Concentration.Digamma()));
}

/// <summary>Beta(α = concentration1, β = concentration0) on (0, 1) (<c>torch.distributions.Beta</c>). Sampled as
/// X/(X + Y) with X ~ Gamma(α), Y ~ Gamma(β); no reparameterized sampler here.</summary>
public sealed class Beta : Distribution
{
    /// <summary>α &gt; 0 (the exponent of x).</summary>
    public Tensor Concentration1 { get; }
    /// <summary>β &gt; 0 (the exponent of 1 − x).</summary>
    public Tensor Concentration0 { get; }

    /// <summary>Beta(α, β), the parameters broadcast against each other.</summary>
    public Beta(Tensor concentration1, Tensor concentration0, bool validateArgs = true)
        : this(Distribution.Broadcast("Beta", ("concentration1", concentration1), ("concentration0", concentration0)), validateArgs) { }

    /// <summary>Scalar parameters (float32).</summary>
    public Beta(double concentration1, double concentration0, bool validateArgs = true) : this(Tensor.Scalar(concentration1), Tensor.Scalar(concentration0), validateArgs) { }

    private Beta((Tensor[] P, int[] Shape) b, bool validateArgs) : base(b.Shape, [], b.P[0].DType, validateArgs)
    {
        Concentration1 = b.P[0];
        Concentration0 = b.P[1];
        Require(validateArgs, "Beta", "concentration1", Concentration1, v => v > 0 && double.IsFinite(v), "positive and finite");
        Require(validateArgs, "Beta", "concentration0", Concentration0, v => v > 0 && double.IsFinite(v), "positive and finite");
    }

    /// <inheritdoc/>
    public override Tensor Mean => Concentration1.Div(Concentration1.Add(Concentration0));

    /// <inheritdoc/>
    public override Tensor Variance
    {
        get
        {
            var total = Concentration1.Add(Concentration0);
            return Concentration1.Mul(Concentration0).Div(total.Square().Mul(total.Add(1)));
        }
    }

    /// <inheritdoc/>
    protected override Tensor SampleCore(int[] shape, Generator generator)
    {
        var a = Concentration1.Detach().Expand(shape).Contiguous().ToArrayDouble();
        var b = Concentration0.Detach().Expand(shape).Contiguous().ToArrayDouble();
        return Fill(shape, DType, i => generator.NextBeta(a[i], b[i]));
    }

    /// <summary>(α − 1) ln x + (β − 1) ln(1 − x) − ln B(α, β).</summary>
    public override Tensor LogProb(Tensor value)
    {
        Require(ValidateArgs, "Beta.LogProb", "value", value, v => v > 0 && v < 1, "in (0, 1)");
        return Concentration1.Sub(1).Mul(value.Log()).Add(Concentration0.Sub(1).Mul(value.Neg().Add(1).Log()))
            .Sub(LogBeta(Concentration1, Concentration0));
    }

    /// <summary>ln B(α, β) − (α − 1)ψ(α) − (β − 1)ψ(β) + (α + β − 2)ψ(α + β).</summary>
    public override Tensor Entropy()
    {
        var total = Concentration1.Add(Concentration0);
        return LogBeta(Concentration1, Concentration0)
            .Sub(Concentration1.Sub(1).Mul(Concentration1.Digamma()))
            .Sub(Concentration0.Sub(1).Mul(Concentration0.Digamma()))
            .Add(total.Sub(2).Mul(total.Digamma()));
    }
}

/// <summary>Dirichlet(α) over the probability simplex of the last dimension (<c>torch.distributions.Dirichlet</c>):
/// event shape [K]. Sampled as normalized Gamma(αₖ, 1) draws; no reparameterized sampler here.</summary>
public sealed class Dirichlet : Distribution
{
    /// <summary>α, shape BatchShape ++ [K], every element &gt; 0.</summary>
    public Tensor Concentration { get; }

    /// <summary>Dirichlet(α) with the categories on the last dimension of <paramref name="concentration"/>.</summary>
    public Dirichlet(Tensor concentration, bool validateArgs = true)
        : base(concentration.Dim >= 1 ? concentration.Shape[..^1] : throw new ArgumentException($"Dirichlet: concentration needs at least one dimension (the categories), got shape [{string.Join(", ", concentration.Shape)}]."),
            [concentration.Shape[^1]], concentration.DType, validateArgs)
    {
        if (concentration.DType != DType.Float32 && concentration.DType != DType.Float64)
            throw new ArgumentException($"Dirichlet: concentration must be float32 or float64, got {concentration.DType.Name()}.");
        if (concentration.Shape[^1] < 1) throw new ArgumentException("Dirichlet: concentration has no categories (last dimension 0).");
        Concentration = concentration;
        Require(validateArgs, "Dirichlet", "concentration", concentration, v => v > 0 && double.IsFinite(v), "positive and finite");
    }

    private Tensor Total => Concentration.Sum(-1, keepDim: true);

    /// <inheritdoc/>
    public override Tensor Mean => Concentration.Div(Total);

    /// <inheritdoc/>
    public override Tensor Variance
    {
        get
        {
            var total = Total;
            return Concentration.Mul(total.Sub(Concentration)).Div(total.Square().Mul(total.Add(1)));
        }
    }

    /// <inheritdoc/>
    protected override Tensor SampleCore(int[] shape, Generator generator)
    {
        var a = Concentration.Detach().Expand(shape).Contiguous().ToArrayDouble();
        var g = Fill(shape, DType.Float64, i => generator.NextGamma(a[i]));
        var x = g.Div(g.Sum(-1, keepDim: true));
        return DType == DType.Float64 ? x : x.To(DType);
    }

    /// <summary>Σₖ (αₖ − 1) ln xₖ + ln Γ(Σα) − Σₖ ln Γ(αₖ).</summary>
    public override Tensor LogProb(Tensor value)
    {
        if (ValidateArgs)
        {
            if (value.Dim < 1 || value.Shape[^1] != EventShape[0])
                throw new ArgumentException($"Dirichlet.LogProb: value's last dimension must be {EventShape[0]} (the categories), got shape [{string.Join(", ", value.Shape)}].");
            Require(true, "Dirichlet.LogProb", "value", value, v => v > 0 && v <= 1, "in (0, 1]");
            var sums = value.Detach().Sum(-1).Contiguous().ToArrayDouble();
            for (int i = 0; i < sums.Length; i++)
                if (Math.Abs(sums[i] - 1) > (value.DType == DType.Float32 ? 1e-5 : 1e-12) * EventShape[0])
                    throw new ArgumentException($"Dirichlet.LogProb: each value must sum to 1 over the last dimension; row {i} sums to {sums[i]}.");
        }
        return Concentration.Sub(1).Mul(value.Log()).Sum(-1).Add(Concentration.Sum(-1).Lgamma()).Sub(Concentration.Lgamma().Sum(-1));
    }

    /// <summary>Σ ln Γ(αₖ) − ln Γ(α₀) + (α₀ − K)ψ(α₀) − Σ (αₖ − 1)ψ(αₖ), α₀ = Σα.</summary>
    public override Tensor Entropy()
    {
        var a0 = Concentration.Sum(-1);
        int k = EventShape[0];
        return Concentration.Lgamma().Sum(-1).Sub(a0.Lgamma()).Add(a0.Sub(k).Mul(a0.Digamma()))
            .Sub(Concentration.Sub(1).Mul(Concentration.Digamma()).Sum(-1));
    }
}
