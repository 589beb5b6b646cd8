namespace Ember.Optim;

/// <summary>A set of parameters sharing hyperparameters (PyTorch's param_groups entry).</summary>
public sealed class ParamGroup
{
    /// <summary>A group of <paramref name="parameters"/> sharing learning rate <paramref name="lr"/>.</summary>
    public ParamGroup(IEnumerable<Tensor> parameters, double lr)
    {
        Parameters = parameters.ToList();
        LearningRate = lr;
        InitialLearningRate = lr;
    }

    /// <summary>The parameters this group updates.</summary>
    public IReadOnlyList<Tensor> Parameters { get; }
    /// <summary>Current learning rate (schedulers change it).</summary>
    public double LearningRate { get; set; }
    /// <summary>The learning rate the group was created with (schedulers start from it).</summary>
    public double InitialLearningRate { get; set; }
}

/// <summary>
/// Base of the optimizers: parameter groups, per-parameter state tensors and a step counter, saved and
/// restored with <see cref="StateDict"/>/<see cref="LoadStateDict"/> (keys <c>state.{group}.{param}.{name}</c>).
/// Updates run under <see cref="Tensor.NoGrad"/> and in place.
/// </summary>
public abstract class Optimizer
{
    private readonly Dictionary<Tensor, Dictionary<string, Tensor>> _state = new(ReferenceEqualityComparer.Instance);

    /// <summary>An optimizer over <paramref name="parameters"/> with learning rate <paramref name="lr"/>.</summary>
    protected Optimizer(IEnumerable<Tensor> parameters, double lr)
    {
        if (!(lr >= 0)) throw new ArgumentException($"{GetType().Name}: learning rate must be non-negative, got {lr}.");
        var list = parameters.ToList();
        if (list.Count == 0) throw new ArgumentException($"{GetType().Name}: got an empty parameter list.");
        foreach (var p in list)
            if (!p.IsLeaf || !(p.DType.IsFloatingPoint() || p.IsComplex))
                throw new ArgumentException($"{GetType().Name}: parameters must be floating-point or complex leaf tensors (got {p.DType.Name()} {ShapeUtil.Str(p._shape)}).");
        ParamGroups.Add(new ParamGroup(list, lr));
    }

    /// <summary>The parameter groups (one unless added).</summary>
    public List<ParamGroup> ParamGroups { get; } = new();

    /// <summary>Number of <see cref="Step"/> calls so far.</summary>
    public long StepCount { get; private set; }

    /// <summary>Learning rate of the first group.</summary>
    public double LearningRate
    {
        get => ParamGroups[0].LearningRate;
        set { foreach (var g in ParamGroups) g.LearningRate = value; }
    }

    /// <summary>Adds a group with its own learning rate (e.g. no weight decay for biases).</summary>
    public void AddParamGroup(IEnumerable<Tensor> parameters, double lr) => ParamGroups.Add(new ParamGroup(parameters, lr));

    /// <summary>Clears all gradients. By default existing gradient buffers are zeroed in place and reused, which
    /// avoids reallocating (and page-faulting) them every step; <paramref name="setToNone"/> drops them instead
    /// (PyTorch's default).</summary>
    public void ZeroGrad(bool setToNone = false)
    {
        foreach (var g in ParamGroups)
            foreach (var p in g.Parameters)
            {
                if (setToNone || p.Grad is null) p.ZeroGrad();
                else using (Tensor.NoGrad()) p.Grad.Zero();
            }
    }

    /// <summary>Applies one update to every parameter that has a gradient.</summary>
    public void Step()
    {
        StepCount++;
        using (Tensor.NoGrad())
            foreach (var g in ParamGroups)
                foreach (var p in g.Parameters)
                {
                    if (p.Grad is null) continue;
                    if (!ShapeUtil.SameShape(p.Grad._shape, p._shape))
                        throw new InvalidOperationException($"{GetType().Name}: gradient shape {ShapeUtil.Str(p.Grad._shape)} does not match parameter shape {ShapeUtil.Str(p._shape)}.");
                    if (p.IsComplex) UpdateComplex(p, g.LearningRate);
                    else Update(p, p.Grad.DType == p.DType ? p.Grad : p.Grad.To(p.DType), g.LearningRate, State(p));
                }
    }

    /// <summary>Complex parameters are updated as their (real, imaginary) pairs, as torch.optim does through
    /// <c>view_as_real</c>: every rule then acts on real and imaginary parts independently (Adam's second moment is per
    /// part, not |g|²). The pairs are copied out and back, since Ember's complex tensors have no real views.</summary>
    private void UpdateComplex(Tensor p, double lr)
    {
        var pairs = p.ViewAsReal().Contiguous();
        var grad = p.Grad!.To(p.DType).ViewAsReal().Contiguous();
        Update(pairs, grad, lr, State(p));
        var back = Tensor.ViewAsComplex(pairs);
        Tensor.CopyRaw(back, p);
        p.MarkModified();
    }

    /// <summary>Updates one parameter in place. <paramref name="state"/> persists across steps.</summary>
    protected abstract void Update(Tensor p, Tensor grad, double lr, Dictionary<string, Tensor> state);

    /// <summary>The state tensors kept for parameter <paramref name="p"/> (moments, momentum buffers), created empty on first use.</summary>
    protected Dictionary<string, Tensor> State(Tensor p)
    {
        if (!_state.TryGetValue(p, out var s)) _state[p] = s = new Dictionary<string, Tensor>();
        return s;
    }

    /// <summary>The state tensor <paramref name="name"/> of <paramref name="p"/>, created as zeros on first use.</summary>
    protected static Tensor Buffer(Dictionary<string, Tensor> state, string name, Tensor p)
    {
        if (!state.TryGetValue(name, out var t)) state[name] = t = Tensor.ZerosLike(p);
        return t;
    }

    /// <summary>Optimizer state as named tensors (for checkpoints): step count, learning rates and per-parameter buffers.</summary>
    public Dictionary<string, Tensor> StateDict()
    {
        var d = new Dictionary<string, Tensor> { ["step"] = Tensor.Scalar(StepCount, DType.Int64) };
        for (int gi = 0; gi < ParamGroups.Count; gi++)
        {
            var g = ParamGroups[gi];
            d[$"param_groups.{gi}.lr"] = Tensor.Scalar(g.LearningRate, DType.Float64);
            d[$"param_groups.{gi}.initial_lr"] = Tensor.Scalar(g.InitialLearningRate, DType.Float64);
            for (int pi = 0; pi < g.Parameters.Count; pi++)
                if (_state.TryGetValue(g.Parameters[pi], out var s))
                    foreach (var (name, t) in s) d[$"state.{gi}.{pi}.{name}"] = t;
        }
        return d;
    }

    /// <summary>Restores what <see cref="StateDict"/> saved; the groups and parameter shapes must match.</summary>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state)
    {
        if (!state.TryGetValue("step", out var step))
            throw new ArgumentException($"{GetType().Name}.LoadStateDict: no 'step' entry; is this an optimizer state?");
        var pending = new List<(Tensor P, string Name, Tensor Value)>();
        foreach (var (key, value) in state)
        {
            if (!key.StartsWith("state.")) continue;
            var parts = key.Split('.', 4);
            if (parts.Length != 4 || !int.TryParse(parts[1], out int gi) || !int.TryParse(parts[2], out int pi) || gi >= ParamGroups.Count || pi >= ParamGroups[gi].Parameters.Count)
                throw new ArgumentException($"{GetType().Name}.LoadStateDict: entry '{key}' does not match the optimizer's {ParamGroups.Count} parameter group(s).");
            var p = ParamGroups[gi].Parameters[pi];
            if (value.Dim != 0 && !ShapeUtil.SameShape(value._shape, p._shape))
                throw new ArgumentException($"{GetType().Name}.LoadStateDict: '{key}' has shape {ShapeUtil.Str(value._shape)}, the parameter {ShapeUtil.Str(p._shape)}.");
            pending.Add((p, parts[3], value));
        }
        StepCount = (long)step.Item();
        for (int gi = 0; gi < ParamGroups.Count; gi++)
        {
            if (state.TryGetValue($"param_groups.{gi}.lr", out var lr)) ParamGroups[gi].LearningRate = lr.Item();
            if (state.TryGetValue($"param_groups.{gi}.initial_lr", out var ilr)) ParamGroups[gi].InitialLearningRate = ilr.Item();
        }
        _state.Clear();
        foreach (var (p, name, value) in pending) State(p)[name] = value.Dim == 0 ? value.Clone() : value.To(p.DType.ToReal()).Clone();
    }

    /// <summary>Scales all gradients so their global L2 norm is at most <paramref name="maxNorm"/>
    /// (<c>clip_grad_norm_</c>); returns the norm before clipping. A non-finite norm is an error, not a silent NaN step.</summary>
    public static double ClipGradNorm(IEnumerable<Tensor> parameters, double maxNorm, bool errorIfNonFinite = true)
    {
        var grads = parameters.Where(p => p.Grad is not null).Select(p => p.Grad!).ToList();
        double total = 0;
        using (Tensor.NoGrad())
        {
            foreach (var g in grads) total += (g.IsComplex ? g.Abs() : g).To(DType.Float64).Square().Sum().Item();
            total = Math.Sqrt(total);
            if (errorIfNonFinite && !double.IsFinite(total))
                throw new InvalidOperationException($"ClipGradNorm: the total gradient norm is {total}; a gradient contains NaN or infinity.");
            double coef = maxNorm / (total + 1e-6);
            if (coef < 1)
                foreach (var g in grads) g.MulInPlace(coef);
        }
        return total;
    }
}
