namespace Ember.NN;

/// <summary>Fully connected layer y = x·Wᵀ + b (PyTorch's <c>nn.Linear</c>).
/// Shape: input (…, in_features) → output (…, out_features).</summary>
public sealed class Linear : Module, IFusibleLayer
{
    /// <inheritdoc/>
    public override bool HoldsActivations => false;

    /// <summary>Features per input row.</summary>
    public int InFeatures { get; }
    /// <summary>Features per output row.</summary>
    public int OutFeatures { get; }
    /// <summary>(out_features, in_features).</summary>
    public Tensor Weight { get; }
    /// <summary>(out_features), or null when created with <c>bias: false</c>.</summary>
    public Tensor? Bias { get; }

    /// <summary>A linear layer <paramref name="inFeatures"/> → <paramref name="outFeatures"/>, initialized as PyTorch's (<see cref="ResetParameters"/>).</summary>
    public Linear(int inFeatures, int outFeatures, bool bias = true, DType dtype = DType.Float32, Generator? generator = null)
    {
        if (inFeatures <= 0 || outFeatures <= 0)
            throw new ArgumentException($"Linear: in_features and out_features must be positive, got {inFeatures} and {outFeatures}.");
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        Weight = RegisterParameter("weight", Tensor.Empty(dtype, [outFeatures, inFeatures], zero: true))!;
        Bias = RegisterParameter("bias", bias ? Tensor.Empty(dtype, [outFeatures], zero: true) : null);
        ResetParameters(generator);
    }

    /// <summary>PyTorch's default: W ~ U(±1/√in) (Kaiming uniform with a = √5), b ~ U(±1/√in).</summary>
    public void ResetParameters(Generator? generator = null)
    {
        Init.KaimingUniform(Weight, a: Math.Sqrt(5), g: generator);
        if (Bias is not null)
        {
            double bound = 1 / Math.Sqrt(InFeatures);
            Init.Uniform(Bias, -bound, bound, generator);
        }
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Functional.Linear(input, Weight, Bias);

    /// <summary>A following <see cref="ReLU"/> (1).</summary>
    public int FusibleFollowers(IReadOnlyList<Module> layers, int next, EmberSettings settings) =>
        next < layers.Count && layers[next] is ReLU ? 1 : 0;

    /// <summary>ReLU(Forward(input)) as one op.</summary>
    public Tensor ForwardFused(Tensor input, IReadOnlyList<Module> layers, int next, int followers) => followers == 1
        ? Functional.LinearRelu(input, Weight, Bias)
        : throw new ArgumentOutOfRangeException(nameof(followers), $"Linear: fuses 1 following layer, asked for {followers}.");

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"in_features={InFeatures}, out_features={OutFeatures}, bias={(Bias is not null ? "True" : "False")}";
}
