namespace Ember;

/// <summary>
/// One recorded operation in the autograd graph (PyTorch's <c>grad_fn</c>). It keeps the inputs that need
/// gradients and the backward rule, written next to the forward op that created it. The rule maps the
/// gradient of the op's output to the gradients of its inputs (null where an input needs none).
/// </summary>
public sealed class Node
{
    internal delegate Tensor?[] BackwardRule(Tensor gradOutput);

    /// <summary>The op's name, e.g. <c>MatmulBackward</c>.</summary>
    public string Name { get; }

    internal readonly Tensor?[] Inputs;
    private BackwardRule? _rule;
    internal readonly int[] OutputShape;
    internal readonly DType OutputDType;

    private readonly Tensor[]? _saved;
    private readonly int[]? _savedVersions;

    internal Node(string name, Tensor?[] inputs, BackwardRule rule, Tensor output, Tensor[]? saved = null)
    {
        Name = name;
        Inputs = inputs;
        _rule = rule;
        OutputShape = output._shape;
        OutputDType = output.DType;
        if (saved is { Length: > 0 })
        {
            _saved = saved;
            _savedVersions = saved.Select(t => t._storage.Version).ToArray();
        }
    }

    /// <summary>For a view that selects part of its single input (Narrow, Select, Slice): applies the same view to an
    /// input-shaped tensor. The engine then adds the gradient straight into the input's gradient buffer through this
    /// view instead of materializing an input-sized tensor of zeros per view.</summary>
    internal Func<Tensor, Tensor>? ScatterView;

    /// <summary>True for a node whose leaves receive their gradients from a backward pass of its own (a checkpointed
    /// segment): their post-accumulate hooks run in that pass, not again in this one.</summary>
    internal bool AccumulatesLeavesElsewhere;

    /// <summary>The buffer this op allocated for its output, to go back to <see cref="BufferPool"/> as soon as this node has
    /// run backward without retainGraph (set through <see cref="Engine.RecycleAfterBackward"/> by code that owns every
    /// reader of that output). By then every node that read it has run: the engine runs an op only after all of its
    /// consumers.</summary>
    internal Storage? RecycleOutput;

    /// <summary><see cref="RecycleOutput"/> held weakly (under <see cref="Autocast"/>, where the graph may not keep the
    /// output's values alive: they are then left to the GC rather than pinned until backward by the recycling).</summary>
    internal WeakReference<Storage>? RecycleOutputWeak;

    /// <summary>The freed-graph check and release of <see cref="Apply"/>, for the engine's direct paths.</summary>
    internal void MarkApplied(bool retainGraph)
    {
        if (_rule is null)
            throw new InvalidOperationException(
                $"Backward: trying to backward through the graph a second time (node {Name}), but its saved tensors were " +
                "already freed. Pass retainGraph: true to the first Backward call if you need to backward twice.");
        if (!retainGraph) _rule = null;
    }

    /// <summary>True once a backward pass without <c>retainGraph</c> released the saved tensors.</summary>
    public bool IsFreed => _rule is null;

    internal Tensor?[] Apply(Tensor grad, bool retainGraph)
    {
        var rule = _rule ?? throw new InvalidOperationException(
            $"Backward: trying to backward through the graph a second time (node {Name}), but its saved tensors were " +
            "already freed. Pass retainGraph: true to the first Backward call if you need to backward twice.");
        if (_saved is not null)
            for (int i = 0; i < _saved.Length; i++)
                if (_saved[i]._storage.Version != _savedVersions![i])
                    throw new InvalidOperationException(
                        $"{Name}: a tensor its gradient needs (shape {ShapeUtil.Str(_saved[i]._shape)}, dtype {_saved[i].DType.Name()}) was modified " +
                        $"in place after the forward pass (version {_savedVersions[i]} -> {_saved[i]._storage.Version}); the gradient would be wrong. " +
                        "Clone the tensor before modifying it, or modify it only after Backward.");
        if (!retainGraph) _rule = null;
        var grads = rule(grad);
        if (grads.Length != Inputs.Length)
            throw new InvalidOperationException($"{Name}: backward rule returned {grads.Length} gradients for {Inputs.Length} inputs.");
        return grads;
    }

    /// <inheritdoc/>
    public override string ToString() => $"<{Name}>";
}
