namespace Ember.NN;

/// <summary>Fully connected layer y = x·Wᵀ + b (PyTorch's <c>nn.Linear</c>).
/// Shape: input (…, in_features) → output (…, out_features).</summary>
public sealed class Linear : Module, IFusibleLayer
{
    /// <inheritdoc/>
    public override bool HoldsActivations => false;

    /// <summary>Features per input row.</summary>
    public int InFeatures { get; private set; }
    /// <summary>Features per output row.</summary>
    public int OutFeatures { get; private set; }
    private Tensor? _weight;

    /// <summary>(out_features, in_features). For a layer quantized to int8 (<see cref="Int8"/>), the float32 weight its
    /// int8 values stand for, computed on each read.</summary>
    public Tensor Weight => _weight ?? Int8!.Dequantize();

    /// <summary>The int8 weight when the layer is quantized (<see cref="QuantizeInt8"/>), else null.</summary>
    public Quantization.Int8Weight? Int8 { get; private set; }

    /// <summary>The calibrated input range of a statically quantized layer (<see cref="QuantizeInt8"/> with a range),
    /// else null (dynamic: each input row gets its own range).</summary>
    public Quantization.ActivationRange? InputRange => RegisteredInputRange;

    /// <summary>While set, every input of the layer is shown to it (calibration for static quantization).</summary>
    internal Quantization.ActivationObserver? Observer { get; set; }

    /// <summary>The low-rank adapter when one is attached (<see cref="AddLora"/>), else null.</summary>
    public LoraAdapter? Lora { get; private set; }
    /// <summary>(out_features), or null when created with <c>bias: false</c>.</summary>
    public Tensor? Bias { get; private set; }

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

    /// <summary>Quantizes the weight to int8 per output channel. Without <paramref name="inputRange"/>, dynamic
    /// quantization: inputs are quantized per row on each call; with it, static: every input with that calibrated
    /// scale and zero point (saved as <c>input_scale</c> and <c>input_zero_point</c>), values outside saturating. The
    /// float weight leaves the state dict; <c>weight</c> (int8) and <c>weight_scale</c> (float32) take its place, so a
    /// checkpoint of the layer is about a quarter of the size. The bias stays float32. Idempotent.</summary>
    public void QuantizeInt8(Quantization.ActivationRange? inputRange = null)
    {
        if (Int8 is not null) return;
        if (_weight!.DType != DType.Float32)
            throw new NotSupportedException($"Linear.QuantizeInt8: the weight is {_weight.DType.Name()}; int8 quantization starts from float32.");
        var q = Quantization.Int8Weight.Quantize(_weight);
        RegisterInt8Weight(q.Values, q.Scales, inputRange);
        Int8 = q;
        _weight = null;
    }

    /// <summary>Output j becomes scale_j·(output j) + shift_j: rows of the weight scaled, the bias (created when absent)
    /// scaled and shifted (BatchNorm folding).</summary>
    internal void ScaleOutputs(Tensor scale, Tensor shift)
    {
        CheckPlain("ScaleOutputs");
        Bias = ScaleOutputRows(_weight!, Bias, scale, shift);
    }

    /// <summary>Keeps only the outputs <paramref name="keep"/> (int64 indices): rows of the weight and bias.</summary>
    internal void SelectOutputs(Tensor keep)
    {
        CheckPlain("SelectOutputs");
        _weight = SelectAlong("weight", 0, keep);
        if (Bias is not null) Bias = SelectAlong("bias", 0, keep);
        OutFeatures = keep.Size(0);
    }

    /// <summary>Keeps only the inputs <paramref name="keep"/> (int64 indices): columns of the weight.</summary>
    internal void SelectInputs(Tensor keep)
    {
        CheckPlain("SelectInputs");
        _weight = SelectAlong("weight", 1, keep);
        InFeatures = keep.Size(0);
    }

    private void CheckPlain(string op)
    {
        if (_weight is null || Lora is not null)
            throw new InvalidOperationException($"Linear.{op}: the layer is {(_weight is null ? "int8" : "LoRA-adapted")}; prune it before quantizing or adapting.");
    }

    /// <summary>Attaches a LoRA adapter (Hu et al., 2021): y = x·Wᵀ + b + (α/r)·B·A·dropout(x), with A (r, in)
    /// initialized as PyTorch's Linear (Kaiming uniform) and B (out, r) zero, so the layer starts unchanged. Registered
    /// as submodules <c>lora_A</c> and <c>lora_B</c> (PEFT's names). The base weight may be int8 (QLoRA-style).</summary>
    public LoraAdapter AddLora(int rank, double alpha, double dropout = 0, Generator? generator = null)
    {
        if (Lora is not null) throw new InvalidOperationException($"Linear.AddLora: the layer already has a rank-{Lora.Rank} adapter.");
        if (rank < 1 || rank > Math.Min(InFeatures, OutFeatures))
            throw new ArgumentException($"Linear.AddLora: rank must be in 1…{Math.Min(InFeatures, OutFeatures)} for a {InFeatures}→{OutFeatures} layer, got {rank}.");
        if (!(alpha > 0) || !double.IsFinite(alpha)) throw new ArgumentException($"Linear.AddLora: alpha must be positive, got {alpha}.");
        var a = RegisterModule("lora_A", new Linear(InFeatures, rank, bias: false, generator: generator));
        var b = RegisterModule("lora_B", new Linear(rank, OutFeatures, bias: false, generator: generator));
        Init.Zeros(b.Weight);
        var drop = RegisterModule("lora_dropout", new Dropout(dropout, generator));
        drop.Train(Training);
        a.Train(Training);
        b.Train(Training);
        Lora = new LoraAdapter(a, b, drop, rank, alpha);
        return Lora;
    }

    /// <summary>Detaches the adapter (its contribution is lost unless merged first).</summary>
    public void RemoveLora()
    {
        if (Lora is null) return;
        RemoveModule("lora_A");
        RemoveModule("lora_B");
        RemoveModule("lora_dropout");
        Lora = null;
    }

    /// <summary>Adds (α/r)·B·A into the weight; the adapter then adds nothing until <see cref="UnmergeLora"/>.</summary>
    public void MergeLora()
    {
        if (Lora is null || Lora.Merged) return;
        if (_weight is null) throw new InvalidOperationException("Linear.MergeLora: the base weight is int8; merge before quantizing, or keep the adapter apart.");
        using (Tensor.NoGrad()) _weight.CopyFrom(_weight.Add(Lora.Delta()));
        Lora.Merged = true;
    }

    /// <summary>Subtracts the merged update again (up to float rounding).</summary>
    public void UnmergeLora()
    {
        if (Lora is null || !Lora.Merged) return;
        using (Tensor.NoGrad()) _weight!.CopyFrom(_weight.Sub(Lora.Delta()));
        Lora.Merged = false;
    }

    /// <summary>Quantization-aware training: the forward pass uses the int8 values of the weight and input
    /// (<see cref="Quantization.FakeQuant"/>; set by <see cref="Quantization.Quantize.PrepareQat"/>).</summary>
    public bool FakeQuantize { get; set; }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        Observer?.Observe(input);
        var y = Int8 is not null ? Quantization.QuantizedOps.Linear(input, Int8, Bias, relu: false, InputRange)
            : FakeQuantize ? Functional.Linear(Quantization.FakeQuant.ActivationPerRow(input), Quantization.FakeQuant.WeightPerChannel(Weight), Bias)
            : Functional.Linear(input, Weight, Bias);
        return Lora is { Merged: false } lora ? y.Add(lora.Forward(input)) : y;
    }

    /// <summary>A following <see cref="ReLU"/> (1), unless an unmerged adapter must be added before it.</summary>
    public int FusibleFollowers(IReadOnlyList<Module> layers, int next, EmberSettings settings) =>
        Lora is { Merged: false } || FakeQuantize ? 0 : next < layers.Count && layers[next] is ReLU ? 1 : 0;

    /// <summary>ReLU(Forward(input)) as one op.</summary>
    public Tensor ForwardFused(Tensor input, IReadOnlyList<Module> layers, int next, int followers)
    {
        if (followers != 1) throw new ArgumentOutOfRangeException(nameof(followers), $"Linear: fuses 1 following layer, asked for {followers}.");
        Observer?.Observe(input);
        return Int8 is null ? Functional.LinearRelu(input, Weight, Bias) : Quantization.QuantizedOps.Linear(input, Int8, Bias, relu: true, InputRange);
    }

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"in_features={InFeatures}, out_features={OutFeatures}, bias={(Bias is not null ? "True" : "False")}{(Int8 is not null ? ", dtype=qint8" : "")}";
}

/// <summary>The low-rank update of a <see cref="Linear"/>: its two factors, the dropout on their input, the scaling
/// α/r, and whether it is merged into the base weight.</summary>
public sealed class LoraAdapter
{
    internal LoraAdapter(Linear a, Linear b, Dropout dropout, int rank, double alpha) => (A, B, Dropout, Rank, Alpha) = (a, b, dropout, rank, alpha);

    /// <summary>Down-projection (rank, in): PEFT's <c>lora_A</c>.</summary>
    public Linear A { get; }
    /// <summary>Up-projection (out, rank): PEFT's <c>lora_B</c>.</summary>
    public Linear B { get; }
    /// <summary>Dropout on the adapter's input.</summary>
    public Dropout Dropout { get; }
    /// <summary>The rank r.</summary>
    public int Rank { get; }
    /// <summary>α: the update is scaled by α/r.</summary>
    public double Alpha { get; }
    /// <summary>α/r.</summary>
    public double Scaling => Alpha / Rank;
    /// <summary>True while (α/r)·B·A is added into the base weight.</summary>
    public bool Merged { get; internal set; }

    /// <summary>(α/r)·B(A(dropout(x))).</summary>
    internal Tensor Forward(Tensor x) => B.Call(A.Call(Dropout.Call(x))).Mul(Scaling);

    /// <summary>(α/r)·B·A (out, in), no gradient.</summary>
    public Tensor Delta()
    {
        using var noGrad = Tensor.NoGrad();
        return B.Weight.Matmul(A.Weight).Mul(Scaling);
    }
}
