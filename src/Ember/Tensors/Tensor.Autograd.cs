namespace Ember;

public sealed partial class Tensor
{
    private bool _requiresGrad;
    private bool _retainsGrad;

    /// <summary>The operation that produced this tensor, or null for a leaf.</summary>
    public Node? GradFn { get; private set; }

    /// <summary>Accumulated gradient of a leaf (or of a non-leaf after <see cref="RetainGrad"/>).</summary>
    public Tensor? Grad { get; set; }

    /// <summary>True for tensors created by the user rather than by a recorded operation.</summary>
    public bool IsLeaf => GradFn is null;

    internal bool RetainsGrad => _retainsGrad;

    /// <summary>Whether gradients flow to this tensor. Settable on leaves only, like PyTorch.</summary>
    public bool RequiresGrad
    {
        get => _requiresGrad || GradFn is not null;
        set
        {
            if (!IsLeaf)
                throw new InvalidOperationException($"RequiresGrad: can only be changed on leaf tensors; this one was produced by {GradFn!.Name}. Use Detach() to get a leaf.");
            if (value && !DType.IsDifferentiable())
                throw new ArgumentException($"RequiresGrad: only floating-point and complex tensors can require gradients, not {DType.Name()}.");
            _requiresGrad = value;
        }
    }

    /// <summary>Sets <see cref="RequiresGrad"/> and returns this tensor (PyTorch's <c>requires_grad_()</c>).</summary>
    public Tensor RequiresGrad_(bool requiresGrad = true)
    {
        RequiresGrad = requiresGrad;
        return this;
    }

    /// <summary>Keeps <see cref="Grad"/> for a non-leaf tensor during backward.</summary>
    public Tensor RetainGrad()
    {
        if (!RequiresGrad) throw new InvalidOperationException("RetainGrad: the tensor does not require grad.");
        _retainsGrad = true;
        return this;
    }

    private List<Action<Tensor>>? _postAccumulateGradHooks;
    private static int s_hookedLeaves;

    /// <summary>Leaves with hooks, process-wide (the engine counts edges into them only when there are any).</summary>
    internal static int HookedLeaves => Volatile.Read(ref s_hookedLeaves);

    internal bool HasPostAccumulateGradHooks => _postAccumulateGradHooks is { Count: > 0 };

    /// <summary>Runs <paramref name="hook"/>(this) in each backward pass once this leaf's <see cref="Grad"/> holds every
    /// contribution of the pass (PyTorch's <c>register_post_accumulate_grad_hook</c>): data-parallel training starts
    /// reducing a gradient while backward goes on. The hook runs on the thread running backward. Dispose the result
    /// to remove it.</summary>
    public IDisposable RegisterPostAccumulateGradHook(Action<Tensor> hook)
    {
        ArgumentNullException.ThrowIfNull(hook);
        if (!IsLeaf) throw new InvalidOperationException($"RegisterPostAccumulateGradHook: only leaves accumulate gradients; this tensor was produced by {GradFn!.Name}.");
        lock (this)
        {
            _postAccumulateGradHooks ??= [];
            if (_postAccumulateGradHooks.Count == 0) Interlocked.Increment(ref s_hookedLeaves);
            _postAccumulateGradHooks.Add(hook);
        }
        return new HookHandle(this, hook);
    }

    private sealed class HookHandle(Tensor owner, Action<Tensor> hook) : IDisposable
    {
        private bool _done;

        public void Dispose()
        {
            lock (owner)
            {
                if (_done || owner._postAccumulateGradHooks is not { } list) return;
                _done = true;
                if (list.Remove(hook) && list.Count == 0) Interlocked.Decrement(ref s_hookedLeaves);
            }
        }
    }

    internal void RunPostAccumulateGradHooks()
    {
        if (_postAccumulateGradHooks is not { Count: > 0 } hooks) return;
        foreach (var h in hooks.ToArray()) h(this);
    }

    /// <summary>Clears the accumulated gradient.</summary>
    public void ZeroGrad() => Grad = null;

    /// <summary>A tensor sharing this one's storage, cut from the graph.</summary>
    public Tensor Detach() => new(_storage, _shape, _strides, _offset);

    /// <summary>Computes gradients of this tensor with respect to the graph's leaves and accumulates them into
    /// their <see cref="Grad"/>. <paramref name="gradient"/> is required unless this is a one-element tensor.</summary>
    /// <param name="gradient">d(objective)/d(this), same shape as this tensor.</param>
    /// <param name="retainGraph">Keep saved tensors so a second backward through the same graph is possible.</param>
    /// <param name="createGraph">Record the backward pass itself, for higher-order derivatives.</param>
    public void Backward(Tensor? gradient = null, bool retainGraph = false, bool createGraph = false)
        => Engine.Backward(this, gradient, retainGraph || createGraph, createGraph);

    /// <summary>Disables graph recording until the returned scope is disposed (<c>torch.no_grad()</c>).</summary>
    public static GradModeScope NoGrad() => new(false);

    /// <summary>Enables graph recording until the returned scope is disposed (<c>torch.enable_grad()</c>).</summary>
    public static GradModeScope EnableGrad() => new(true);

    /// <summary>This tensor as a backward rule should use it: itself while the rule is being recorded (createGraph,
    /// so that the gradient depends on it in the new graph), detached otherwise.</summary>
    internal Tensor Saved() => GradMode.IsEnabled ? this : Detach();

    /// <summary>For backward rules computed by a kernel outside the graph: under createGraph (the rule being recorded)
    /// their result would silently be a constant, so higher-order gradients through <paramref name="op"/> are refused.</summary>
    internal static void RefuseHigherOrder(string op)
    {
        if (GradMode.IsEnabled)
            throw new NotSupportedException($"{op}: higher-order gradients (createGraph, Grad.Of with createGraph) are not supported through this " +
                "operation yet; supported: Linear, Conv2d, Matmul, the elementwise functions, ReLU/LeakyReLU/tanh/sigmoid/GELU, softmax, sums and views.");
    }

    internal void AccumulateGrad(Tensor g)
    {
        if (Grad is null)
        {
            // Never alias the incoming gradient: it may be a view of another node's buffer (an expanded gradient,
            // say), and optimizers zero and update .Grad in place. Under createGraph, Clone records its own backward.
            Grad = g.Clone();
            Grad._storage.Epoch = 0;   // a leaf's gradient outlives the pass: never recycled by the engine
        }
        else if (GradMode.IsEnabled)
        {
            Grad = Grad.Add(g);
        }
        else
        {
            Grad.AddInPlace(g);
        }
    }

    internal static bool AnyRequiresGrad(Tensor a) => GradMode.IsEnabled && a.RequiresGrad;

    internal static bool AnyRequiresGrad(Tensor a, Tensor b) => GradMode.IsEnabled && (a.RequiresGrad || b.RequiresGrad);

    internal static bool AnyRequiresGrad(Tensor[] ts)
    {
        if (!GradMode.IsEnabled) return false;
        foreach (var t in ts) if (t.RequiresGrad) return true;
        return false;
    }

    /// <summary>Records the op that produced this tensor. Inputs that do not require grad are stored as null, so the
    /// engine never visits them and rules may skip their gradients.</summary>
    /// <param name="name">The op's name in the graph (e.g. "MulBackward").</param>
    /// <param name="inputs">The op's tensor inputs, in the order the rule returns their gradients.</param>
    /// <param name="rule">The backward rule: the gradients of the inputs from the output's gradient.</param>
    /// <param name="saved">Tensors the rule reads besides the incoming gradient (inputs or the output). Their
    /// storage versions are recorded, and backward refuses to run if any was modified in place since.</param>
    internal Tensor Record(string name, Tensor?[] inputs, Node.BackwardRule rule, params Tensor[] saved)
    {
        var kept = new Tensor?[inputs.Length];
        for (int i = 0; i < inputs.Length; i++) kept[i] = inputs[i] is { RequiresGrad: true } t ? t : null;
        GradFn = new Node(name, kept, rule, this, saved);
        Autograd.ActivationFrame.Made(this);
        return this;
    }

    /// <summary>A stand-in for this tensor in a node's inputs when the rule does not read it: the same graph position
    /// (grad_fn, shape, dtype) without the storage, so the graph does not keep the values alive (a 16-bit copy is kept
    /// instead under <see cref="Autocast"/>). Only for a non-leaf that does not retain its gradient (the engine then
    /// needs nothing of it but its node); otherwise the tensor itself.</summary>
    /// <summary>For a <see cref="GraphShell"/>: the tensor it stands for, while someone still holds it (so that
    /// <see cref="RetainGrad"/> called on it after the op still receives the gradient).</summary>
    internal WeakReference<Tensor>? ShellOf { get; private init; }

    private static readonly Storage s_emptyFloat = Storage.Allocate(DType.Float32, 0), s_emptyDouble = Storage.Allocate(DType.Float64, 0);

    internal Tensor GraphShell()
    {
        if (GradFn is null || _retainsGrad || !DType.IsFloatingPoint()) return this;
        var empty = DType == DType.Float32 ? s_emptyFloat : s_emptyDouble;   // shared: a shell's storage is never read
        return new Tensor(empty, _shape, _strides, 0) { GradFn = GradFn, ShellOf = new WeakReference<Tensor>(this) };
    }

    internal Tensor Record(string name, Tensor input, Func<Tensor, Tensor> rule, params Tensor[] saved)
        => Record(name, [input], g => [rule(g)], saved);
}
