namespace Ember.NN;

/// <summary>Fully connected layer y = x·Wᵀ + b (PyTorch's <c>nn.Linear</c>).
/// Shape: input (…, in_features) → output (…, out_features).</summary>
public sealed class Linear : Module
{
    public int InFeatures { get; }
    public int OutFeatures { get; }
    /// <summary>(out_features, in_features).</summary>
    public Tensor Weight { get; }
    /// <summary>(out_features), or null when created with <c>bias: false</c>.</summary>
    public Tensor? Bias { get; }

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

    public override Tensor Forward(Tensor input) => Functional.Linear(input, Weight, Bias);

    /// <summary>ReLU(Forward(input)) as one fused op (<see cref="Sequential"/> uses it).</summary>
    internal Tensor ForwardRelu(Tensor input) => Functional.LinearRelu(input, Weight, Bias);

    protected override string ExtraRepr() => $"in_features={InFeatures}, out_features={OutFeatures}, bias={(Bias is not null ? "True" : "False")}";
}

/// <summary>Applies modules in order.</summary>
public sealed class Sequential : Module
{
    private readonly List<Module> _layers = new();

    /// <summary>Off: every layer runs on its own (tests and measurements compare both ways).</summary>
    internal static bool FuseConvRelu = Environment.GetEnvironmentVariable("EMBER_FUSE") != "0";

    /// <summary>Off: a Conv2d, ReLU, MaxPool2d(2) run as the fused Conv2d+ReLU and then the pool (measurements compare).</summary>
    internal static bool FuseConvReluPool = Environment.GetEnvironmentVariable("EMBER_FUSE_POOL") != "0";

    public Sequential(params Module[] layers)
    {
        foreach (var l in layers) Append(l);
    }

    public Sequential Append(Module layer)
    {
        RegisterModule(_layers.Count.ToString(), layer);
        _layers.Add(layer);
        return this;
    }

    public int Count => _layers.Count;
    public Module this[int index] => _layers[index];

    /// <summary>Runs the layers in order. A <see cref="Conv2d"/> or <see cref="Linear"/> directly followed by a <see cref="ReLU"/>
    /// runs as one fused op (same values and gradients, one activation instead of two; the graph shows one
    /// ConvolutionReluBackward or LinearReluBackward node), and a Conv2d, ReLU, 2×2 <see cref="MaxPool2d"/> as one op that never
    /// materializes the full-resolution activation (ConvolutionReluPoolBackward),
    /// except while a <see cref="Diagnostics.Profiler"/> or a <see cref="Module.Summary"/> trace records each layer.</summary>
    public override Tensor Forward(Tensor input)
    {
        var x = input;
        bool observed = Diagnostics.Profiler.Enabled || Tracing;   // each layer's output is looked at
        bool fuse = FuseConvRelu && !observed;
        // Intermediates between built-in layers are seen only by the next layers' ops: their buffers can go back to the
        // pool as soon as the op that made them has run backward (Engine.RecycleAfterBackward).
        List<Tensor>? inner = !observed && Engine.RecycleEnabled && GradMode.IsEnabled && _layers.TrueForAll(IsBuiltIn) ? new() : null;
        for (int i = 0; i < _layers.Count; i++)
        {
            if (inner is not null && i > 0) inner.Add(x);
            if (fuse && FuseConvReluPool && i + 2 < _layers.Count && _layers[i] is Conv2d c && _layers[i + 1] is ReLU && _layers[i + 2] is MaxPool2d { IsHalving: true })
            {
                x = c.ForwardReluPool(x);
                i += 2;
                continue;
            }
            if (fuse && i + 1 < _layers.Count && _layers[i + 1] is ReLU && _layers[i] is Conv2d or Linear)
            {
                x = _layers[i] is Conv2d conv ? conv.ForwardRelu(x) : ((Linear)_layers[i]).ForwardRelu(x);
                i++;
                continue;
            }
            x = _layers[i].Call(x);
        }
        if (inner is not null)
            foreach (var t in inner)
                if (!ReferenceEquals(t._storage, input._storage) && !ReferenceEquals(t._storage, x._storage)) Engine.RecycleAfterBackward(t);
        return x;
    }

    /// <summary>Layers that keep no reference to their input or output beyond the autograd graph.</summary>
    private static bool IsBuiltIn(Module m) => m is Linear or Conv1d or Conv2d or ReLU or Sigmoid or Tanh or SiLU or LeakyReLU or ELU or GELU
        or Dropout or Flatten or Identity or MaxPool2d or MaxPool1d or AvgPool2d or AvgPool1d or AdaptiveAvgPool2d or AdaptiveAvgPool1d
        or BatchNormBase or LayerNorm or GroupNorm or Dropout2d;
}

/// <summary>A list of submodules registered as 0, 1, … (no forward of its own).</summary>
public sealed class ModuleList : Module, IEnumerable<Module>
{
    private readonly List<Module> _items = new();

    public ModuleList(params Module[] modules)
    {
        foreach (var m in modules) Add(m);
    }

    public void Add(Module m)
    {
        RegisterModule(_items.Count.ToString(), m);
        _items.Add(m);
    }

    public int Count => _items.Count;
    public Module this[int index] => _items[index];
    public IEnumerator<Module> GetEnumerator() => _items.GetEnumerator();
    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>Submodules by name (no forward of its own).</summary>
public sealed class ModuleDict : Module
{
    private readonly Dictionary<string, Module> _items = new();

    public void Add(string name, Module m)
    {
        RegisterModule(name, m);
        _items[name] = m;
    }

    public Module this[string name] => _items.TryGetValue(name, out var m) ? m : throw new KeyNotFoundException($"ModuleDict: no module '{name}'.");
    public IEnumerable<string> Keys => _items.Keys;
}

public sealed class Identity : Module
{
    public override Tensor Forward(Tensor input) => input;
}

/// <summary>Flattens dims start..end (default: all but the batch dim).</summary>
public sealed class Flatten(int startDim = 1, int endDim = -1) : Module
{
    public override Tensor Forward(Tensor input) => input.Flatten(startDim, endDim);
    protected override string ExtraRepr() => $"start_dim={startDim}, end_dim={endDim}";
}

/// <summary>Inverted dropout; identity in eval mode.</summary>
public sealed class Dropout : Module
{
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

public sealed class ReLU : Module { public override Tensor Forward(Tensor input) => input.Relu(); }
public sealed class Sigmoid : Module { public override Tensor Forward(Tensor input) => input.Sigmoid(); }
public sealed class Tanh : Module { public override Tensor Forward(Tensor input) => input.Tanh(); }
public sealed class SiLU : Module { public override Tensor Forward(Tensor input) => Functional.Silu(input); }

public sealed class LeakyReLU(double negativeSlope = 0.01) : Module
{
    public override Tensor Forward(Tensor input) => Functional.LeakyRelu(input, negativeSlope);
    protected override string ExtraRepr() => $"negative_slope={negativeSlope}";
}

public sealed class ELU(double alpha = 1) : Module
{
    public override Tensor Forward(Tensor input) => Functional.Elu(input, alpha);
    protected override string ExtraRepr() => $"alpha={alpha}";
}

/// <summary>GELU, exact (erf) or with the tanh approximation.</summary>
public sealed class GELU(bool tanhApproximation = false) : Module
{
    public override Tensor Forward(Tensor input) => Functional.Gelu(input, tanhApproximation);
    protected override string ExtraRepr() => tanhApproximation ? "approximate='tanh'" : "";
}

public sealed class Softmax(int dim) : Module
{
    public override Tensor Forward(Tensor input) => input.Softmax(dim);
    protected override string ExtraRepr() => $"dim={dim}";
}

public sealed class LogSoftmax(int dim) : Module
{
    public override Tensor Forward(Tensor input) => input.LogSoftmax(dim);
    protected override string ExtraRepr() => $"dim={dim}";
}
