namespace Ember.NN;

/// <summary>
/// A layer that can run together with the layers that follow it as one op (same values and gradients, fewer
/// activations stored). <see cref="Sequential"/> asks each layer, in order, how many of its followers it absorbs;
/// <see cref="LayerFusion"/> is the one place that applies the answer.
/// </summary>
public interface IFusibleLayer
{
    /// <summary>How many of the layers after this one, <paramref name="layers"/>[<paramref name="next"/>..], this layer's
    /// fused op also computes (0: none) under <paramref name="settings"/>.</summary>
    int FusibleFollowers(IReadOnlyList<Module> layers, int next, EmberSettings settings);

    /// <summary>Runs this layer and the <paramref name="followers"/> layers after it (as counted by
    /// <see cref="FusibleFollowers"/>) as one op.</summary>
    Tensor ForwardFused(Tensor input, IReadOnlyList<Module> layers, int next, int followers);
}

/// <summary>Runs a list of layers in order, fusing where a layer declares it can (<see cref="IFusibleLayer"/>), except
/// while a <see cref="Diagnostics.Profiler"/> or a <see cref="Module.Summary"/> trace looks at every layer's output.</summary>
internal static class LayerFusion
{
    public static Tensor Run(IReadOnlyList<Module> layers, Tensor input)
    {
        var settings = EmberSettings.Current;
        bool fuse = settings.FuseLayers && !Diagnostics.Profiler.Enabled && !Module.Tracing;
        var x = input;
        for (int i = 0; i < layers.Count; i++)
        {
            if (fuse && layers[i] is IFusibleLayer f && f.FusibleFollowers(layers, i + 1, settings) is int n and > 0)
            {
                x = f.ForwardFused(x, layers, i + 1, n);
                i += n;
            }
            else x = layers[i].Call(x);
        }
        return x;
    }
}
