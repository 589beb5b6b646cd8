using Ember.NN;

namespace Ember.Quantization;

/// <summary>Model-level quantization (PyTorch's <c>torch.ao.quantization.quantize_dynamic</c>), in place.</summary>
public static class Quantize
{
    /// <summary>Dynamic int8 quantization: every <see cref="Linear"/> and recurrent layer (RNN, LSTM, GRU) of <paramref name="model"/> (or those whose dotted
    /// name <paramref name="include"/> accepts) gets int8 weights per output channel; inputs are quantized per row at
    /// run time. With <paramref name="convolutions"/>, every ungrouped <see cref="Conv2d"/> too (inputs quantized per
    /// output pixel). Returns the names of the layers quantized. The model is put in eval mode.</summary>
    public static IReadOnlyList<string> Dynamic(Module model, Func<string, bool>? include = null, bool convolutions = false)
    {
        var done = Apply(model, include, convolutions);
        model.Eval();
        return done;
    }

    /// <summary>Quantization-aware training, step 1: every float <see cref="Linear"/> (or those <paramref name="include"/>
    /// accepts) computes with fake-quantized weights and inputs (<see cref="FakeQuant"/>), so that fine-tuning adapts
    /// the model to int8 arithmetic. Returns the names of the layers. Train as usual, then <see cref="ConvertQat"/>.</summary>
    public static IReadOnlyList<string> PrepareQat(Module model, Func<string, bool>? include = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        var done = new List<string>();
        foreach (var (name, m) in model.NamedModules())
            if (m is Linear { Int8: null } linear && !name.Contains("lora_") && (include?.Invoke(name) ?? true))
            {
                linear.FakeQuantize = true;
                done.Add(name);
            }
        if (done.Count == 0) throw new ArgumentException($"Quantize.PrepareQat: {model.GetType().Name} has no float Linear layer to train for int8.");
        return done;
    }

    /// <summary>Quantization-aware training, step 2: the layers <see cref="PrepareQat"/> marked become int8 layers
    /// (<see cref="Dynamic"/>), computing what their fake-quantized forward computed. Returns their names; eval mode.</summary>
    public static IReadOnlyList<string> ConvertQat(Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var marked = model.NamedModules().Where(x => x.Module is Linear { FakeQuantize: true }).Select(x => x.Name).ToHashSet();
        if (marked.Count == 0) throw new ArgumentException("Quantize.ConvertQat: no layer was prepared with PrepareQat.");
        foreach (var (_, m) in model.NamedModules())
            if (m is Linear l) l.FakeQuantize = false;
        return Dynamic(model, marked.Contains);
    }

    private static List<string> Apply(Module model, Func<string, bool>? include, bool convolutions, Func<string, bool>? staticInput = null)
    {
        // A placeholder range for layers whose checkpoint holds one: loading the state overwrites it.
        ActivationRange? Range(string name) => staticInput?.Invoke(name) == true ? new ActivationRange(1, 0) : null;
        var done = new List<string>();
        foreach (var (name, m) in model.NamedModules())
        {
            if (name.Contains("lora_") || !(include?.Invoke(name) ?? true)) continue;
            if (m is Linear linear) linear.QuantizeInt8(Range(name));
            else if (convolutions && m is Conv2d { Groups: 1 } conv) conv.QuantizeInt8(Range(name));
            else if (m is RecurrentBase rnn) rnn.QuantizeInt8();
            else continue;
            done.Add(name);
        }
        return done;
    }

    /// <summary>Static int8 quantization (post-training, calibrated): the targeted Linear layers (and, with
    /// <paramref name="convolutions"/>, ungrouped Conv2d layers) watch their inputs while <paramref name="model"/> runs
    /// the <paramref name="calibration"/> batches in eval mode; each then gets int8 weights per output channel and one
    /// input range by <paramref name="method"/>, used for every later input (no per-call range search). Returns each
    /// layer's range. The model is left in eval mode.</summary>
    public static IReadOnlyDictionary<string, ActivationRange> Static(Module model, IEnumerable<Tensor> calibration,
        CalibrationMethod method = CalibrationMethod.MinMax, double percentile = 99.99, bool convolutions = true, Func<string, bool>? include = null)
    {
        var targets = model.NamedModules()
            .Where(x => !x.Name.Contains("lora_") && (include?.Invoke(x.Name) ?? true)
                        && (x.Module is Linear { Int8: null } || convolutions && x.Module is Conv2d { Int8: null, Groups: 1 }))
            .Select(x => (x.Name, x.Module, Observer: new ActivationObserver()))
            .ToList();
        if (targets.Count == 0) throw new ArgumentException($"Quantize.Static: {model.GetType().Name} has no float Linear{(convolutions ? " or Conv2d" : "")} layer to quantize.");
        try
        {
            foreach (var (_, m, o) in targets) SetObserver(m, o);
            model.Eval();
            int batches = 0;
            foreach (var batch in calibration)
            {
                model.Infer(batch);
                batches++;
            }
            if (batches == 0) throw new ArgumentException("Quantize.Static: no calibration batches.");
        }
        finally
        {
            foreach (var (_, m, _) in targets) SetObserver(m, null);
        }
        var ranges = new Dictionary<string, ActivationRange>();
        foreach (var (name, m, o) in targets)
        {
            if (o.Count == 0) continue;   // a layer the calibration never reached stays float
            var range = o.Range(method, percentile);
            if (m is Linear l) l.QuantizeInt8(range); else ((Conv2d)m).QuantizeInt8(range);
            ranges[name] = range;
        }
        return ranges;
    }

    private static void SetObserver(Module m, ActivationObserver? o)
    {
        if (m is Linear l) l.Observer = o; else ((Conv2d)m).Observer = o;
    }

    /// <summary>Quantizes the layers of a freshly built <paramref name="model"/> that are int8 in <paramref name="state"/>
    /// (a state dict saved after quantization: <c>name.weight</c> int8 with <c>name.weight_scale</c>), so that
    /// <see cref="Module.LoadStateDict"/> can load it. Returns the names of the layers quantized.</summary>
    public static IReadOnlyList<string> ToMatch(Module model, IReadOnlyDictionary<string, Tensor> state) =>
        Apply(model, name => state.TryGetValue(Prefix(name) + "weight", out var w) && w.DType == DType.Int8
                                && state.ContainsKey(Prefix(name) + "weight_scale")
                             || state.TryGetValue(Prefix(name) + "weight_ih_l0", out var r) && r.DType == DType.Int8, convolutions: true,
              staticInput: name => state.ContainsKey(Prefix(name) + "input_scale"));

    private static string Prefix(string name) => name.Length == 0 ? "" : name + ".";

    /// <summary>The names of the int8 layers of <paramref name="model"/>, in order.</summary>
    public static IReadOnlyList<string> QuantizedLayers(Module model) =>
        model.NamedModules().Where(x => x.Module is Linear { Int8: not null } or Conv2d { Int8: not null } or RecurrentBase { IsQuantized: true }).Select(x => x.Name).ToList();
}
