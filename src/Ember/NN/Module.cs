using System.Text;

namespace Ember.NN;

/// <summary>
/// Base class of layers and models (PyTorch's <c>nn.Module</c>): named parameters, buffers and submodules
/// registered in order, <see cref="Train"/>/<see cref="Eval"/> mode, <see cref="StateDict"/> and
/// <see cref="LoadStateDict"/>. Subclasses register what they own in the constructor and implement
/// <see cref="Forward(Tensor)"/>; callers use <see cref="Call(Tensor)"/>, which also feeds <see cref="Summary"/>.
/// </summary>
public abstract class Module
{
    private readonly OrderedDictionary<string, Tensor?> _parameters = new();
    private readonly OrderedDictionary<string, Tensor?> _buffers = new();
    private readonly OrderedDictionary<string, Module> _modules = new();

    /// <summary>True in training mode (dropout active, batch statistics updated).</summary>
    public bool Training { get; private set; } = true;

    /// <summary>False when the module keeps no reference to any tensor its forward makes (other than what it returns)
    /// beyond the autograd graph: then <see cref="Call(Tensor)"/> lets the buffers of its intermediates go back to the
    /// pool once their ops have run backward (see <see cref="EmberSettings.RecycleActivations"/>). True by default,
    /// which is always safe; built-in layers and models that store nothing return false.</summary>
    public virtual bool HoldsActivations => true;

    /// <summary>Computes the module's output. Multi-input modules define their own overloads.</summary>
    public virtual Tensor Forward(Tensor input)
        => throw new NotSupportedException($"{GetType().Name} does not take a single tensor input.");

    /// <summary>Runs <see cref="Forward(Tensor)"/> (PyTorch's <c>module(x)</c>), recording the output shape when a
    /// <see cref="Summary"/> trace is active.</summary>
    public Tensor Call(Tensor input)
    {
        var t0 = Diagnostics.Profiler.Begin();
        var frame = Autograd.ActivationFrame.Open(this, input);
        Tensor output;
        try { output = Forward(input); }
        catch
        {
            frame?.Abandon();
            throw;
        }
        frame?.Close(output);
        Diagnostics.Profiler.End("forward", GetType().Name, t0);
        s_trace?.Record(this, output);
        return output;
    }

    /// <summary>Inference: <see cref="Call(Tensor)"/> without gradients. For a module that keeps nothing its forward
    /// makes (<see cref="HoldsActivations"/> false, as Ember's layers and models), the buffers of the intermediates go
    /// back to Ember's buffer pool when the call returns and the next call takes them again, so steady-state inference
    /// allocates no large buffers; the returned tensor keeps its own. The module's mode is left as it is: call
    /// <see cref="Eval"/> first for dropout off and running statistics, as for <c>model(x)</c> under
    /// <c>torch.no_grad()</c>.</summary>
    public Tensor Infer(Tensor input)
    {
        using var noGrad = Tensor.NoGrad();
        if (HoldsActivations || !EmberSettings.Current.BufferPool) return Call(input);
        using var scope = BufferPool.ReturnAfter();
        var output = Call(input);
        scope.Keep(output);
        return output;
    }

    // ------------------------------------------------------------------ registration

    /// <summary>Registers a parameter (null is allowed and recorded as absent, like PyTorch's optional bias).</summary>
    protected Tensor? RegisterParameter(string name, Tensor? value)
    {
        CheckName(name);
        if (value is not null && !value.IsLeaf)
            throw new ArgumentException($"{GetType().Name}: parameter '{name}' must be a leaf tensor (use Detach()).");
        if (value is not null && !value.RequiresGrad) value.RequiresGrad = true;
        _parameters[name] = value;
        return value;
    }

    /// <summary>Registers a buffer: state saved in the state dict but not trained (running statistics).</summary>
    protected Tensor? RegisterBuffer(string name, Tensor? value)
    {
        CheckName(name);
        _buffers[name] = value;
        return value;
    }

    /// <summary>Registers a submodule under <paramref name="name"/>.</summary>
    protected T RegisterModule<T>(string name, T module) where T : Module
    {
        CheckName(name);
        _modules[name] = module ?? throw new ArgumentNullException(nameof(module));
        return module;
    }

    private void CheckName(string name)
    {
        if (string.IsNullOrEmpty(name) || name.Contains('.'))
            throw new ArgumentException($"{GetType().Name}: invalid name '{name}' (non-empty, no dots).");
        if (_parameters.ContainsKey(name) || _buffers.ContainsKey(name) || _modules.ContainsKey(name))
            throw new ArgumentException($"{GetType().Name}: '{name}' is already registered.");
    }

    /// <summary>Removes a registered parameter (and its state-dict entry), so the name can be registered again, for
    /// example as a buffer of another type when a layer is quantized. Returns the tensor it held.</summary>
    protected Tensor? RemoveParameter(string name)
    {
        if (!_parameters.Remove(name, out var value)) throw new ArgumentException($"{GetType().Name}: no parameter '{name}'.");
        return value;
    }

    /// <summary>Puts <paramref name="module"/> in the place of the registered submodule <paramref name="name"/> (same
    /// name, same position in the state dict order).</summary>
    protected void ReplaceModule(string name, Module module)
    {
        if (!_modules.ContainsKey(name)) throw new ArgumentException($"{GetType().Name}: no submodule '{name}'.");
        _modules[name] = module ?? throw new ArgumentNullException(nameof(module));
    }

    /// <summary>Removes a registered submodule, so the name can be registered again. Returns it.</summary>
    protected Module RemoveModule(string name)
    {
        if (!_modules.Remove(name, out var value)) throw new ArgumentException($"{GetType().Name}: no submodule '{name}'.");
        return value;
    }

    /// <summary>Replaces a registered parameter or buffer with a tensor of another shape (structured pruning shrinks
    /// layers in place this way). A parameter keeps requiring gradients as before.</summary>
    internal void ReplaceTensor(string name, Tensor value)
    {
        if (_parameters.TryGetValue(name, out var old))
        {
            var leaf = value.Detach();
            leaf.RequiresGrad = old?.RequiresGrad ?? true;
            _parameters[name] = leaf;
        }
        else if (_buffers.ContainsKey(name)) _buffers[name] = value.Detach();
        else throw new ArgumentException($"{GetType().Name}: no parameter or buffer '{name}'.");
    }

    /// <summary>Keeps the entries <paramref name="keep"/> (int64 indices) of the registered tensor <paramref name="name"/>
    /// along <paramref name="dim"/> (<see cref="ReplaceTensor"/>) and returns the new tensor.</summary>
    internal Tensor SelectAlong(string name, int dim, Tensor keep)
    {
        var t = Registered(name) ?? throw new ArgumentException($"{GetType().Name}: no parameter or buffer '{name}'.");
        ReplaceTensor(name, t.Detach().IndexSelect(dim, keep));
        return Registered(name)!;
    }

    /// <summary>Output row o of <paramref name="weight"/> (a layer's dimension 0) scaled by scale_o in place, and the
    /// registered <c>bias</c> replaced by bias·scale + shift (shift alone when there was none); returns the new bias.</summary>
    internal Tensor ScaleOutputRows(Tensor weight, Tensor? bias, Tensor scale, Tensor shift)
    {
        using var noGrad = Tensor.NoGrad();
        var shape = Enumerable.Repeat(1, weight.Dim).ToArray();
        shape[0] = -1;
        weight.CopyFrom(weight.Mul(scale.View(shape)));
        ReplaceTensor("bias", (bias is null ? shift : bias.Mul(scale).Add(shift)).Contiguous().Clone());
        return Registered("bias")!;
    }

    /// <summary>Quantization of a layer's <c>weight</c>: the float parameter gives way to the buffers <c>weight</c>
    /// (<paramref name="values"/>, int8) and <c>weight_scale</c>, plus <c>input_scale</c> and <c>input_zero_point</c> for
    /// a calibrated (static) input range, so checkpoints carry what the int8 layer needs.</summary>
    internal void RegisterInt8Weight(Tensor values, Tensor scales, Quantization.ActivationRange? inputRange)
    {
        RemoveParameter("weight");
        RegisterBuffer("weight", values);
        RegisterBuffer("weight_scale", scales);
        if (inputRange is null) return;
        RegisterBuffer("input_scale", Tensor.Scalar(inputRange.Scale));
        RegisterBuffer("input_zero_point", Tensor.Scalar(inputRange.ZeroPoint, DType.Int64));
    }

    /// <summary>The calibrated input range <see cref="RegisterInt8Weight"/> registered (as loaded since), or null.</summary>
    internal Quantization.ActivationRange? RegisteredInputRange =>
        Registered("input_scale") is { } scale ? new((float)scale.Item(), (int)Registered("input_zero_point")!.Item()) : null;

    /// <summary>The current value of a registered parameter or buffer.</summary>
    internal Tensor? Registered(string name) => _parameters.TryGetValue(name, out var p) ? p : _buffers.TryGetValue(name, out var b) ? b : null;

    /// <summary>Replaces the value of a registered parameter (e.g. after re-initialization or loading).</summary>
    protected void SetParameter(string name, Tensor value)
    {
        if (!_parameters.ContainsKey(name)) throw new ArgumentException($"{GetType().Name}: no parameter '{name}'.");
        if (!value.RequiresGrad) value.RequiresGrad = true;
        _parameters[name] = value;
    }

    // ------------------------------------------------------------------ traversal

    /// <summary>Direct children, in registration order.</summary>
    public IEnumerable<(string Name, Module Module)> NamedChildren() => _modules.Select(kv => (kv.Key, kv.Value));

    /// <summary>This module and all descendants with dotted names ("" for this one).</summary>
    /// <summary>The generator this module draws from while training (dropout masks), or null when it draws from none
    /// of its own (dropout without a generator draws from <see cref="Generator.Default"/>). The trainer saves and
    /// restores these states with its checkpoints, so a resumed run draws what the uninterrupted run would have.</summary>
    internal virtual Generator? RandomSource => null;

    /// <summary>Every module in the tree, this one first (name ""), with dotted names ("encoder.layers.0").</summary>
    public IEnumerable<(string Name, Module Module)> NamedModules(string prefix = "")
    {
        yield return (prefix, this);
        foreach (var (name, m) in _modules)
            foreach (var x in m.NamedModules(prefix.Length == 0 ? name : prefix + "." + name))
                yield return x;
    }

    /// <summary>Parameters with dotted names (<c>layers.0.weight</c>), in registration order.</summary>
    public IEnumerable<(string Name, Tensor Parameter)> NamedParameters()
    {
        foreach (var (prefix, m) in NamedModules())
            foreach (var (name, p) in m._parameters)
                if (p is not null) yield return (prefix.Length == 0 ? name : prefix + "." + name, p);
    }

    /// <summary>Every parameter of the tree, in registration order (what optimizers take).</summary>
    public IEnumerable<Tensor> Parameters() => NamedParameters().Select(x => x.Parameter);

    /// <summary>Every buffer of the tree (running statistics) with its dotted name.</summary>
    public IEnumerable<(string Name, Tensor Buffer)> NamedBuffers()
    {
        foreach (var (prefix, m) in NamedModules())
            foreach (var (name, b) in m._buffers)
                if (b is not null) yield return (prefix.Length == 0 ? name : prefix + "." + name, b);
    }

    /// <summary>Total number of parameter elements.</summary>
    public long ParameterCount => Parameters().Sum(p => (long)p.NumEl);

    /// <summary>Sets training mode on this module and all descendants.</summary>
    public Module Train(bool mode = true)
    {
        foreach (var (_, m) in NamedModules()) m.Training = mode;
        return this;
    }

    /// <summary>Sets evaluation mode (<c>Train(false)</c>).</summary>
    public Module Eval() => Train(false);

    /// <summary>Clears the gradients of all parameters.</summary>
    public void ZeroGrad()
    {
        foreach (var p in Parameters()) p.ZeroGrad();
    }

    // ------------------------------------------------------------------ state

    /// <summary>Parameters and buffers by dotted name (the tensors themselves, not copies).</summary>
    public Dictionary<string, Tensor> StateDict()
    {
        var d = new Dictionary<string, Tensor>();
        foreach (var (n, p) in NamedParameters()) d[n] = p;
        foreach (var (n, b) in NamedBuffers()) d[n] = b;
        return d;
    }

    /// <summary>Copies values from <paramref name="state"/> into this module's parameters and buffers. With
    /// <paramref name="strict"/>, missing and unexpected keys are errors; a shape or dtype mismatch always is.
    /// Nothing is modified unless every check passes.</summary>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state, bool strict = true)
    {
        var own = StateDict();
        var missing = own.Keys.Where(k => !state.ContainsKey(k)).ToList();
        var unexpected = state.Keys.Where(k => !own.ContainsKey(k)).ToList();
        var problems = new List<string>();
        if (strict && missing.Count > 0) problems.Add("missing keys: " + string.Join(", ", missing));
        if (strict && unexpected.Count > 0) problems.Add("unexpected keys: " + string.Join(", ", unexpected));
        foreach (var (k, t) in own)
        {
            if (!state.TryGetValue(k, out var src)) continue;
            if (!ShapeUtil.SameShape(src.Shape, t.Shape))
                problems.Add($"'{k}': checkpoint shape {ShapeUtil.Str(src.Shape)} vs model shape {ShapeUtil.Str(t.Shape)}");
            else if (src.DType != t.DType && !(src.DType.IsFloatingPoint() && t.DType.IsFloatingPoint()))
                problems.Add($"'{k}': checkpoint dtype {src.DType.Name()} vs model dtype {t.DType.Name()}");
        }
        if (problems.Count > 0)
            throw new ArgumentException($"LoadStateDict into {GetType().Name}: " + string.Join("; ", problems) + ".");
        using (Tensor.NoGrad())
            foreach (var (k, t) in own)
                if (state.TryGetValue(k, out var src)) t.CopyFrom(src);
    }

    // ------------------------------------------------------------------ printing

    /// <summary>One line per module in PyTorch's <c>repr</c> style.</summary>
    public override string ToString()
    {
        var sb = new StringBuilder();
        Print(sb, 0);
        return sb.ToString();
    }

    /// <summary>Arguments shown inside the parentheses, e.g. <c>in_features=784, out_features=10, bias=True</c>.</summary>
    protected virtual string ExtraRepr() => "";

    private void Print(StringBuilder sb, int indent)
    {
        sb.Append(GetType().Name).Append('(');
        if (_modules.Count == 0)
        {
            sb.Append(ExtraRepr()).Append(')');
            return;
        }
        var extra = ExtraRepr();
        if (extra.Length > 0) sb.Append(extra);
        sb.Append('\n');
        foreach (var (name, m) in _modules)
        {
            sb.Append(' ', indent + 2).Append('(').Append(name).Append("): ");
            m.Print(sb, indent + 2);
            sb.Append('\n');
        }
        sb.Append(' ', indent).Append(')');
    }

    [ThreadStatic] private static SummaryTrace? s_trace;

    /// <summary>True while a <see cref="Summary"/> trace records every module's output on this thread.</summary>
    internal static bool Tracing => s_trace is not null;

    private sealed class SummaryTrace
    {
        public readonly List<(Module Module, int[] Shape)> Rows = new();
        public void Record(Module m, Tensor output) => Rows.Add((m, output.Shape));
    }

    /// <summary>A table of every leaf layer with its output shape and parameter count, from a forward pass on a
    /// zero input of <paramref name="inputShape"/> (e.g. <c>[1, 784]</c>).</summary>
    public string Summary(int[] inputShape, DType dtype = DType.Float32)
    {
        var trace = new SummaryTrace();
        var saved = s_trace;
        bool wasTraining = Training;
        s_trace = trace;
        try
        {
            Eval();
            using (Tensor.NoGrad()) Call(Tensor.Zeros(inputShape, dtype));
        }
        finally
        {
            s_trace = saved;
            Train(wasTraining);
        }
        var names = new Dictionary<Module, string>(ReferenceEqualityComparer.Instance);
        foreach (var (n, m) in NamedModules()) names.TryAdd(m, n);
        var rows = trace.Rows.Where(r => !r.Module._modules.Any() || ReferenceEquals(r.Module, this) && trace.Rows.Count == 1).ToList();
        var sb = new StringBuilder();
        string header = $"{"Layer",-36} {"Output shape",-20} {"Params",12}";
        sb.AppendLine(header).AppendLine(new string('-', header.Length));
        foreach (var (m, shape) in rows)
        {
            string name = names.TryGetValue(m, out var n) && n.Length > 0 ? $"{n} ({m.GetType().Name})" : m.GetType().Name;
            long own = m._parameters.Values.Where(p => p is not null).Sum(p => (long)p!.NumEl);
            sb.AppendLine($"{name,-36} {ShapeUtil.Str(shape),-20} {own,12:N0}");
        }
        sb.AppendLine(new string('-', header.Length));
        sb.AppendLine($"Total parameters: {ParameterCount:N0}");
        return sb.ToString();
    }
}
