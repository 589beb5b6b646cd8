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
    private Tensor? _weight;

    /// <summary>(out_features, in_features). For a layer quantized to int8 (<see cref="Int8"/>), the float32 weight its
    /// int8 values stand for, computed on each read.</summary>
    public Tensor Weight => _weight ?? Int8!.Dequantize();

    /// <summary>The int8 weight when the layer is quantized (<see cref="QuantizeInt8"/>), else null.</summary>
    public Quantization.Int8Weight? Int8 { get; private set; }
    /// <summary>(out_features), or null when created with <c>bias: false</c>.</summary>
    public Tensor? Bias { get; }

    /// <summary>A linear layer <paramref name="inFeatures"/> → <paramref name="outFeatures"/>, initialized as PyTorch's (<see cref="ResetParameters"/>).</summary>
    public Linear(int inFeatures, int outFeatures, bool bias = true, DType dtype = DType.Float32, Generator? generator = null)
    {
        if (inFeatures <= 0 || outFeatures <= 0)
            throw new ArgumentException($"Linear: in_features and out_features must be positive, got {inFeatures} and {outFeatures}.");
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        _weight = RegisterParameter("weight", Tensor.Empty(dtype, [outFeatures, inFeatures], zero: true))!;
        Bias = RegisterParameter("bias", bias ? Tensor.Empty(dtype, [outFeatures], zero: true) : null);
        ResetParameters(generator);
    }

    /// <summary>PyTorch's default: W ~ U(±1/√in) (Kaiming uniform with a = √5), b ~ U(±1/√in).</summary>
    public void ResetParameters(Generator? generator = null)
    {
        if (_weight is null) throw new InvalidOperationException("Linear: ResetParameters on an int8-quantized layer; build a new float layer instead.");
        Init.KaimingUniform(Weight, a: Math.Sqrt(5), g: generator);
        if (Bias is not null)
        {
            double bound = 1 / Math.Sqrt(InFeatures);
            Init.Uniform(Bias, -bound, bound, generator);
        }
    }

    /// <summary>Quantizes the weight to int8 per output channel (dynamic quantization: inputs are quantized per row on
    /// each call). The float weight leaves the state dict; <c>weight</c> (int8) and <c>weight_scale</c> (float32) take
    /// its place, so a checkpoint of the layer is about a quarter of the size. The bias stays float32. Idempotent.</summary>
    public void QuantizeInt8()
    {
        if (Int8 is not null) return;
        if (_weight!.DType != DType.Float32)
            throw new NotSupportedException($"Linear.QuantizeInt8: the weight is {_weight.DType.Name()}; int8 quantization starts from float32.");
        var q = Quantization.Int8Weight.Quantize(_weight);
        RemoveParameter("weight");
        RegisterBuffer("weight", q.Values);
        RegisterBuffer("weight_scale", q.Scales);
        Int8 = q;
        _weight = null;
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Int8 is null ? Functional.Linear(input, Weight, Bias) : Quantization.QuantizedOps.Linear(input, Int8, Bias, relu: false);

    /// <summary>A following <see cref="ReLU"/> (1).</summary>
    public int FusibleFollowers(IReadOnlyList<Module> layers, int next, EmberSettings settings) =>
        next < layers.Count && layers[next] is ReLU ? 1 : 0;

    /// <summary>ReLU(Forward(input)) as one op.</summary>
    public Tensor ForwardFused(Tensor input, IReadOnlyList<Module> layers, int next, int followers) => followers == 1
        ? Int8 is null ? Functional.LinearRelu(input, Weight, Bias) : Quantization.QuantizedOps.Linear(input, Int8, Bias, relu: true)
        : throw new ArgumentOutOfRangeException(nameof(followers), $"Linear: fuses 1 following layer, asked for {followers}.");

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"in_features={InFeatures}, out_features={OutFeatures}, bias={(Bias is not null ? "True" : "False")}{(Int8 is not null ? ", dtype=qint8" : "")}";
}
