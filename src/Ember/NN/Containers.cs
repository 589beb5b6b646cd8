namespace Ember.NN;

/// <summary>Applies modules in order.</summary>
public sealed class Sequential : Module
{
    private readonly List<Module> _layers = new();

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

    /// <summary>Runs the layers in order, fused where a layer can absorb its followers (<see cref="IFusibleLayer"/>): a
    /// <see cref="Conv2d"/> or <see cref="Linear"/> directly followed by a <see cref="ReLU"/> runs as one op (same values
    /// and gradients, one activation instead of two; the graph shows one ConvolutionReluBackward or LinearReluBackward
    /// node), and a Conv2d, ReLU, 2×2 <see cref="MaxPool2d"/> as one op that never materializes the full-resolution
    /// activation (ConvolutionReluPoolBackward); except while a <see cref="Diagnostics.Profiler"/> or a
    /// <see cref="Module.Summary"/> trace records each layer, or with <see cref="EmberSettings.FuseLayers"/> off.</summary>
    public override Tensor Forward(Tensor input) => LayerFusion.Run(_layers, input);

    /// <summary>False when no layer holds activations: then the intermediates between them are recycled after backward.</summary>
    public override bool HoldsActivations => _layers.Exists(l => l.HoldsActivations);
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
    /// <inheritdoc/>
    public override bool HoldsActivations => false;

    public override Tensor Forward(Tensor input) => input;
}
/// <summary>Flattens dims start..end (default: all but the batch dim).</summary>
public sealed class Flatten(int startDim = 1, int endDim = -1) : Module
{
    /// <inheritdoc/>
    public override bool HoldsActivations => false;

    public override Tensor Forward(Tensor input) => input.Flatten(startDim, endDim);
    protected override string ExtraRepr() => $"start_dim={startDim}, end_dim={endDim}";
}
