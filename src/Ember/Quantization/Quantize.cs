using Ember.NN;

namespace Ember.Quantization;

/// <summary>Model-level quantization (PyTorch's <c>torch.ao.quantization.quantize_dynamic</c>), in place.</summary>
public static class Quantize
{
    /// <summary>Dynamic int8 quantization: every <see cref="Linear"/> of <paramref name="model"/> (or those whose dotted
    /// name <paramref name="include"/> accepts) gets int8 weights per output channel; inputs are quantized per row at
    /// run time. Returns the names of the layers quantized. The model is put in eval mode.</summary>
    public static IReadOnlyList<string> Dynamic(Module model, Func<string, bool>? include = null)
    {
        var done = new List<string>();
        foreach (var (name, m) in model.NamedModules())
            if (m is Linear linear && (include?.Invoke(name) ?? true))
            {
                linear.QuantizeInt8();
                done.Add(name);
            }
        model.Eval();
        return done;
    }

    /// <summary>The names of the int8 layers of <paramref name="model"/>, in order.</summary>
    public static IReadOnlyList<string> QuantizedLayers(Module model) =>
        model.NamedModules().Where(x => x.Module is Linear { Int8: not null }).Select(x => x.Name).ToList();
}
