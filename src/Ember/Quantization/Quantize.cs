using Ember.NN;

namespace Ember.Quantization;

/// <summary>Model-level quantization (PyTorch's <c>torch.ao.quantization.quantize_dynamic</c>), in place.</summary>
public static class Quantize
{
    /// <summary>Dynamic int8 quantization: every <see cref="Linear"/> of <paramref name="model"/> (or those whose dotted
    /// name <paramref name="include"/> accepts) gets int8 weights per output channel; inputs are quantized per row at
    /// run time. With <paramref name="convolutions"/>, every ungrouped <see cref="Conv2d"/> too (inputs quantized per
    /// output pixel). Returns the names of the layers quantized. The model is put in eval mode.</summary>
    public static IReadOnlyList<string> Dynamic(Module model, Func<string, bool>? include = null, bool convolutions = false)
    {
        var done = Apply(model, include, convolutions);
        model.Eval();
        return done;
    }

    private static List<string> Apply(Module model, Func<string, bool>? include, bool convolutions)
    {
        var done = new List<string>();
        foreach (var (name, m) in model.NamedModules())
        {
            if (name.Contains("lora_") || !(include?.Invoke(name) ?? true)) continue;
            if (m is Linear linear) linear.QuantizeInt8();
            else if (convolutions && m is Conv2d { Groups: 1 } conv) conv.QuantizeInt8();
            else continue;
            done.Add(name);
        }
        return done;
    }

    /// <summary>Quantizes the layers of a freshly built <paramref name="model"/> that are int8 in <paramref name="state"/>
    /// (a state dict saved after quantization: <c>name.weight</c> int8 with <c>name.weight_scale</c>), so that
    /// <see cref="Module.LoadStateDict"/> can load it. Returns the names of the layers quantized.</summary>
    public static IReadOnlyList<string> ToMatch(Module model, IReadOnlyDictionary<string, Tensor> state) =>
        Apply(model, name => state.TryGetValue(Prefix(name) + "weight", out var w) && w.DType == DType.Int8
                                && state.ContainsKey(Prefix(name) + "weight_scale"), convolutions: true);

    private static string Prefix(string name) => name.Length == 0 ? "" : name + ".";

    /// <summary>The names of the int8 layers of <paramref name="model"/>, in order.</summary>
    public static IReadOnlyList<string> QuantizedLayers(Module model) =>
        model.NamedModules().Where(x => x.Module is Linear { Int8: not null } or Conv2d { Int8: not null }).Select(x => x.Name).ToList();
}
