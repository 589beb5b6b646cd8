namespace Ember.NN;

/// <summary>Applies modules in order. Shape: what the first layer takes → what the last returns.</summary>
public sealed class Sequential : Module
{
    private readonly List<Module> _layers = new();
    private List<Module>? _running;

    /// <summary>The layers, run in the order given. Shape: whatever the first layer takes → whatever the last returns.</summary>
    public Sequential(params Module[] layers)
    {
        foreach (var l in layers) Append(l);
    }

    /// <summary>Adds <paramref name="layer"/> at the end (registered as the next index); returns this.</summary>
    public Sequential Append(Module layer)
    {
        RegisterModule(_layers.Count.ToString(), layer);
        _layers.Add(layer);
        _running = null;
        return this;
    }

    /// <summary>Number of layers.</summary>
    public int Count => _layers.Count;
    /// <summary>The layer at <paramref name="index"/>.</summary>
    public Module this[int index] => _layers[index];
    /// <summary>The layers in order.</summary>
    public IReadOnlyList<Module> Layers => _layers;

    /// <summary>Puts <paramref name="layer"/> at <paramref name="index"/> under the same name (BatchNorm folding leaves
    /// an <see cref="Identity"/> there, which the forward then skips, so the layers around it fuse).</summary>
    internal void Replace(int index, Module layer)
    {
        ReplaceModule(index.ToString(System.Globalization.CultureInfo.InvariantCulture), layer);
        _layers[index] = layer;
        _running = null;
    }

    /// <summary>Runs the layers in order, fused where a layer can absorb its followers (<see cref="IFusibleLayer"/>): a
    /// <see cref="Conv2d"/> or <see cref="Linear"/> directly followed by a <see cref="ReLU"/> runs as one op (same values
    /// and gradients, one activation instead of two; the graph shows one ConvolutionReluBackward or LinearReluBackward
    /// node), and a Conv2d, ReLU, 2×2 <see cref="MaxPool2d"/> as one op that never materializes the full-resolution
    /// activation (ConvolutionReluPoolBackward); except while a <see cref="Diagnostics.Profiler"/> or a
    /// <see cref="Module.Summary"/> trace records each layer, or with <see cref="EmberSettings.FuseLayers"/> off.</summary>
    public override Tensor Forward(Tensor input) =>
        LayerFusion.Run(_running ??= _layers.Exists(l => l is Identity) ? _layers.Where(l => l is not Identity).ToList() : _layers, input);

    /// <summary>False when no layer holds activations: then the intermediates between them are recycled after backward.</summary>
    public override bool HoldsActivations => _layers.Exists(l => l.HoldsActivations);
}

/// <summary>A list of submodules registered as 0, 1, … (no forward of its own).
/// Shape: none of its own (it has no forward).</summary>
public sealed class ModuleList : Module, IEnumerable<Module>
{
    private readonly List<Module> _items = new();

    /// <summary>A list holding <paramref name="modules"/>.</summary>
    public ModuleList(params Module[] modules)
    {
        foreach (var m in modules) Add(m);
    }

    /// <summary>Appends a module (registered as the next index).</summary>
    public void Add(Module m)
    {
        RegisterModule(_items.Count.ToString(), m);
        _items.Add(m);
    }

    /// <summary>Number of modules.</summary>
    public int Count => _items.Count;
    /// <summary>The module at <paramref name="index"/>.</summary>
    public Module this[int index] => _items[index];
    /// <summary>The modules in order.</summary>
    public IEnumerator<Module> GetEnumerator() => _items.GetEnumerator();
    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}
/// <summary>Submodules by name (no forward of its own). Shape: none of its own (it has no forward).</summary>
public sealed class ModuleDict : Module
{
    private readonly Dictionary<string, Module> _items = new();

    /// <summary>Adds a module under <paramref name="name"/>.</summary>
    public void Add(string name, Module m)
    {
        RegisterModule(name, m);
        _items[name] = m;
    }

    /// <summary>The module registered under <paramref name="name"/>.</summary>
    public Module this[string name] => _items.TryGetValue(name, out var m) ? m : throw new KeyNotFoundException($"ModuleDict: no module '{name}'.");
    /// <summary>The names, in insertion order.</summary>
    public IEnumerable<string> Keys => _items.Keys;
}
/// <summary>Returns its input unchanged (PyTorch's <c>nn.Identity</c>). Shape: (*) → (*).</summary>
public sealed class Identity : Module
{
    /// <inheritdoc/>
    public override bool HoldsActivations => false;

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => input;
}
/// <summary>Flattens dims start..end (default: all but the batch dim).
/// Shape: (N, d₁, …, dₖ) → (N, d₁·…·dₖ) with the defaults; in general dims startDim…endDim become one.</summary>
public sealed class Flatten(int startDim = 1, int endDim = -1) : Module
{
    /// <inheritdoc/>
    public override bool HoldsActivations => false;

    /// <summary>First dimension merged.</summary>
    public int StartDim { get; } = startDim;
    /// <summary>Last dimension merged (−1: the last).</summary>
    public int EndDim { get; } = endDim;

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => input.Flatten(StartDim, EndDim);
    /// <inheritdoc/>
    protected override string ExtraRepr() => $"start_dim={StartDim}, end_dim={EndDim}";
}
