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

    internal Node(string name, Tensor?[] inputs, BackwardRule rule, Tensor output)
    {
        Name = name;
        Inputs = inputs;
        _rule = rule;
        OutputShape = output._shape;
        OutputDType = output.DType;
    }

    /// <summary>True once a backward pass without <c>retainGraph</c> released the saved tensors.</summary>
    public bool IsFreed => _rule is null;

    internal Tensor?[] Apply(Tensor grad, bool retainGraph)
    {
        var rule = _rule ?? throw new InvalidOperationException(
            $"Backward: trying to backward through the graph a second time (node {Name}), but its saved tensors were " +
            "already freed. Pass retainGraph: true to the first Backward call if you need to backward twice.");
        if (!retainGraph) _rule = null;
        var grads = rule(grad);
        if (grads.Length != Inputs.Length)
            throw new InvalidOperationException($"{Name}: backward rule returned {grads.Length} gradients for {Inputs.Length} inputs.");
        return grads;
    }

    public override string ToString() => $"<{Name}>";
}
