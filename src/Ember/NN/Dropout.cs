namespace Ember.NN;

/// <summary>Channel dropout layer; identity in eval mode.</summary>
public sealed class Dropout2d : Module
{
    /// <inheritdoc/>
    public override bool HoldsActivations => false;

    public double P { get; }
    private readonly Generator? _generator;
    internal override Generator? RandomSource => P > 0 ? _generator ?? Generator.Default : null;

    public Dropout2d(double p = 0.5, Generator? generator = null)
    {
        if (p < 0 || p > 1) throw new ArgumentException($"Dropout2d: probability must be in [0, 1], got {p}.");
        P = p;
        _generator = generator;
    }

    public override Tensor Forward(Tensor input) => Functional.Dropout2d(input, P, Training, _generator);
    protected override string ExtraRepr() => $"p={P}";
}

/// <summary>Inverted dropout; identity in eval mode.</summary>
public sealed class Dropout : Module
{
    /// <inheritdoc/>
    public override bool HoldsActivations => false;

    public double P { get; }
    private readonly Generator? _generator;
    internal override Generator? RandomSource => P > 0 ? _generator ?? Generator.Default : null;

    public Dropout(double p = 0.5, Generator? generator = null)
    {
        if (p < 0 || p > 1) throw new ArgumentException($"Dropout: probability must be in [0, 1], got {p}.");
        P = p;
        _generator = generator;
    }

    public override Tensor Forward(Tensor input) => Functional.Dropout(input, P, Training, _generator);
    protected override string ExtraRepr() => $"p={P}";
}
