namespace Ember.Autograd;

/// <summary>Gradients of outputs with respect to chosen tensors, returned instead of accumulated
/// (PyTorch's <c>torch.autograd.grad</c>): no leaf's <c>.Grad</c> is touched. With <c>createGraph</c> the
/// gradients are themselves recorded, so a function of them (a gradient penalty, a Hessian-vector product) can be
/// differentiated again.</summary>
public static class Grad
{
    /// <summary>∑ᵢ ∂(outputs[i]·gradOutputs[i])/∂inputs[j] for each input (leaves or intermediate tensors). A scalar
    /// output needs no gradient (1 is used); for others pass one of the same shape. An input the outputs do not depend
    /// on is an error unless <paramref name="allowUnused"/>, which gives null for it. The graph is freed afterwards
    /// unless <paramref name="retainGraph"/> (or <paramref name="createGraph"/>, which retains it).</summary>
    public static Tensor?[] Of(IReadOnlyList<Tensor> outputs, IReadOnlyList<Tensor> inputs, IReadOnlyList<Tensor?>? gradOutputs = null,
        bool retainGraph = false, bool createGraph = false, bool allowUnused = false)
    {
        ArgumentNullException.ThrowIfNull(outputs);
        ArgumentNullException.ThrowIfNull(inputs);
        if (outputs.Count == 0) throw new ArgumentException("Grad.Of: no outputs to differentiate.", nameof(outputs));
        if (inputs.Count == 0) throw new ArgumentException("Grad.Of: no inputs to differentiate with respect to.", nameof(inputs));
        if (gradOutputs is not null && gradOutputs.Count != outputs.Count)
            throw new ArgumentException($"Grad.Of: {gradOutputs.Count} output gradients for {outputs.Count} outputs.", nameof(gradOutputs));
        for (int j = 0; j < inputs.Count; j++)
            if (!inputs[j].RequiresGrad)
                throw new ArgumentException($"Grad.Of: input {j} (shape {ShapeUtil.Str(inputs[j].Shape)}) does not require grad; nothing can be differentiated with respect to it.", nameof(inputs));
        var capture = new Dictionary<Tensor, Tensor?>(ReferenceEqualityComparer.Instance);
        foreach (var t in inputs) capture[t] = null;
        for (int i = 0; i < outputs.Count; i++)
        {
            if (!outputs[i].RequiresGrad)
                throw new ArgumentException($"Grad.Of: output {i} (shape {ShapeUtil.Str(outputs[i].Shape)}) does not require grad (computed without autograd, or from no input that does).", nameof(outputs));
            bool keep = retainGraph || createGraph || i < outputs.Count - 1;
            Engine.Backward(outputs[i], gradOutputs?[i], keep, createGraph, capture);
        }
        var result = new Tensor?[inputs.Count];
        for (int j = 0; j < inputs.Count; j++)
        {
            result[j] = capture[inputs[j]];
            if (result[j] is null && !allowUnused)
                throw new InvalidOperationException($"Grad.Of: input {j} (shape {ShapeUtil.Str(inputs[j].Shape)}) was not used to compute the outputs; pass allowUnused: true to get null for it.");
        }
        return result;
    }

    /// <summary>∂output/∂input for one scalar output and one input (see the general overload).</summary>
    public static Tensor Of(Tensor output, Tensor input, bool retainGraph = false, bool createGraph = false)
        => Of([output], [input], null, retainGraph, createGraph)[0]!;
}
