namespace Ember.NN;

/// <summary>Channel dropout layer; identity in eval mode. Shape: (N, C, H, W) or (C, H, W) → the same.</summary>
public sealed class Dropout2d : Module
{
    /// <inheritdoc/>
    public override bool HoldsActivations => false;

    /// <summary>Probability that a whole channel is zeroed.</summary>
    public double P { get; }
    private readonly Generator? _generator;
    internal override Generator? RandomSource => P > 0 ? _generator ?? Generator.Default : null;

    /// <summary>Channel dropout with probability <paramref name="p"/>, drawing from <paramref name="generator"/> (or <see cref="Generator.Default"/>).</summary>
    public Dropout2d(double p = 0.5, Generator? generator = null)
    {
        if (p < 0 || p > 1) throw new ArgumentException($"Dropout2d: probability must be in [0, 1], got {p}.");
        P = p;
        _generator = generator;
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Functional.Dropout2d(input, P, Training, _generator);
    /// <inheritdoc/>
    protected override string ExtraRepr() => $"p={P}";
}

/// <summary>Inverted dropout; identity in eval mode. Shape: (*) → (*).</summary>
public sealed class Dropout : Module
{
    /// <inheritdoc/>
    public override bool HoldsActivations => false;

    /// <summary>Probability that an element is zeroed.</summary>
    public double P { get; }
    private readonly Generator? _generator;
    internal override Generator? RandomSource => P > 0 ? _generator ?? Generator.Default : null;

    /// <summary>Dropout with probability <paramref name="p"/>, drawing from <paramref name="generator"/> (or <see cref="Generator.Default"/>).</summary>
    public Dropout(double p = 0.5, Generator? generator = null)
    {
        if (p < 0 || p > 1) throw new ArgumentException($"Dropout: probability must be in [0, 1], got {p}.");
        P = p;
        _generator = generator;
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Functional.Dropout(input, P, Training, _generator);
    /// <inheritdoc/>
    protected override string ExtraRepr() => $"p={P}";
}
