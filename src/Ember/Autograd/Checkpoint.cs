using Ember.NN;

namespace Ember.Autograd;

/// <summary>
/// Gradient checkpointing (<c>torch.utils.checkpoint</c>; Chen et al., 2016, "Training deep nets with sublinear
/// memory cost"): a segment runs forward without recording, so none of its intermediate activations are kept; only
/// its inputs are. When backward reaches the segment, it is run again with recording on, from the same inputs and
/// with the random generators set back to their states at the first run (so dropout draws the same masks), and the
/// gradient is propagated through the recomputed graph. Memory for activations falls from every layer's to the
/// segment boundaries plus one segment's; the price is a second forward of each segment.
/// <para>The gradients equal the plain run's bit for bit (the same kernels on the same values in the same order).
/// Parameters inside the segment receive their gradients when the segment runs backward (as the reentrant variant
/// of PyTorch does); they take part even when no input requires a gradient (an image batch into the first block).
/// BatchNorm layers do not update their running statistics a second time during the recomputation. Higher-order
/// gradients (<c>createGraph</c>) through a checkpointed segment are refused with a clear error.</para>
/// </summary>
public static class Checkpoint
{
    [ThreadStatic] private static int t_recomputing;

    /// <summary>True while a segment's forward is being recomputed during backward on this thread (BatchNorm leaves its
    /// running statistics alone then).</summary>
    public static bool IsRecomputing => t_recomputing > 0;

    /// <summary>Runs <paramref name="module"/> on <paramref name="input"/> as a checkpointed segment: its parameters
    /// take part, and the generators of its dropout layers (and <see cref="Generator.Default"/>) are replayed.
    /// Without autograd (eval, NoGrad) it is a plain call.</summary>
    public static Tensor Run(Module module, Tensor input)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(input);
        return Run(xs => module.Call(xs[0]), [input], module.Parameters(), Generators(module), owner: null);
    }

    /// <summary>Runs <paramref name="function"/> on <paramref name="inputs"/> as a checkpointed segment.
    /// <paramref name="parameters"/> are the leaves it uses besides its inputs (so that the segment is recorded when
    /// only they need gradients); <paramref name="generators"/> are the random generators it draws from, replayed on
    /// recomputation (default: <see cref="Generator.Default"/>). The function must be deterministic given its inputs
    /// and those generators, and must not modify its inputs in place.</summary>
    public static Tensor Run(Func<Tensor[], Tensor> function, Tensor[] inputs, IEnumerable<Tensor>? parameters = null, IEnumerable<Generator>? generators = null)
        => Run(function, inputs, parameters, generators, owner: null);

    /// <summary><see cref="Run(Module, Tensor)"/> for a module's forward that takes more than its input (masks): the
    /// recomputation runs in <paramref name="owner"/>'s activation frame, so its intermediates go back to the buffer
    /// pool as soon as the backward pass is done with them, as they do in a plain <see cref="Module.Call(Tensor)"/>.</summary>
    internal static Tensor Run(Module owner, Func<Tensor, Tensor> forward, Tensor input) =>
        Run(xs => forward(xs[0]), [input], owner.Parameters(), Generators(owner), owner);

    private static Tensor Run(Func<Tensor[], Tensor> function, Tensor[] inputs, IEnumerable<Tensor>? parameters, IEnumerable<Generator>? generators, Module? owner)
    {
        ArgumentNullException.ThrowIfNull(function);
        ArgumentNullException.ThrowIfNull(inputs);
        for (int i = 0; i < inputs.Length; i++)
            if (inputs[i] is null) throw new ArgumentNullException(nameof(inputs), $"Checkpoint.Run: input {i} is null");
        var leaves = (parameters ?? []).Where(p => p.RequiresGrad).ToArray();
        if (!GradMode.IsEnabled || (!inputs.Any(t => t.RequiresGrad) && leaves.Length == 0)) return function(inputs);
        var gens = (generators ?? [Generator.Default]).Distinct(ReferenceEqualityComparer.Instance).Cast<Generator>().ToArray();
        var states = gens.Select(g => g.GetState()).ToArray();
        // The first run records nothing, and every large buffer it allocates but the output goes straight back to the
        // pool: the next segment's forward reuses them (left to the GC, they would pile up on the large-object heap
        // until a full collection, and the memory saved would exist only on paper).
        Tensor output;
        using (Tensor.NoGrad())
        {
            using var scope = BufferPool.ReturnAfter();
            output = function(inputs) ?? throw new InvalidOperationException("Checkpoint.Run: the function returned null");
            scope.Keep(output);
        }
        if (!output.DType.IsDifferentiable()) return output;
        output = output.Detach();   // a fresh tensor object: the function may return one of its inputs
        var nodeInputs = new Tensor?[inputs.Length + leaves.Length];
        inputs.CopyTo(nodeInputs, 0);
        leaves.CopyTo(nodeInputs, inputs.Length);
        output.Record("CheckpointBackward", nodeInputs, grad => Recompute(function, inputs, leaves.Length, gens, states, owner, grad), inputs);
        output.GradFn!.AccumulatesLeavesElsewhere = true;
        return output;
    }

    private static Tensor?[] Recompute(Func<Tensor[], Tensor> function, Tensor[] inputs, int leafCount, Generator[] gens, ulong[][] states, Module? owner, Tensor grad)
    {
        if (GradMode.IsEnabled)
            throw new NotSupportedException("Checkpoint: higher-order gradients (createGraph) through a checkpointed segment are not supported; run that part without checkpointing.");
        if (Engine.Capturing)
            throw new NotSupportedException("Checkpoint: Grad.Of through a checkpointed segment is not supported (the segment's parameters receive their gradients in .Grad); use Backward, or run that part without checkpointing.");
        Engine.Undonate();   // the incoming gradient goes into a backward pass of its own below
        var after = gens.Select(g => g.GetState()).ToArray();
        int epoch = Storage.SuspendBackward();
        bool recomputing = true;
        t_recomputing++;
        try
        {
            for (int i = 0; i < gens.Length; i++) gens[i].SetState(states[i]);
            var detached = new Tensor[inputs.Length];
            for (int i = 0; i < inputs.Length; i++)
            {
                detached[i] = inputs[i].Detach();
                if (inputs[i].RequiresGrad) detached[i].RequiresGrad = true;
            }
            Tensor output;
            using (Tensor.EnableGrad())
            {
                var frame = owner is null ? null : ActivationFrame.Open(owner, detached[0]);
                try { output = function(detached); }
                catch
                {
                    frame?.Abandon();
                    throw;
                }
                frame?.Close(output);
            }
            t_recomputing--;
            recomputing = false;
            for (int i = 0; i < gens.Length; i++) gens[i].SetState(after[i]);
            var grads = new Tensor?[inputs.Length + leafCount];
            if (!output.RequiresGrad) return grads;
            if (!ShapeUtil.SameShape(output.Shape, grad.Shape))
                throw new InvalidOperationException($"Checkpoint: the recomputed output has shape {ShapeUtil.Str(output.Shape)}, the first run's {ShapeUtil.Str(grad.Shape)}; the function is not deterministic.");
            Engine.Backward(output, grad, retainGraph: false, createGraph: false);
            for (int i = 0; i < inputs.Length; i++) grads[i] = inputs[i].RequiresGrad ? detached[i].Grad : null;
            return grads;
        }
        finally
        {
            if (recomputing) t_recomputing--;
            for (int i = 0; i < gens.Length; i++) gens[i].SetState(after[i]);
            Storage.ResumeBackward(epoch);
        }
    }

    /// <summary>The generators <paramref name="module"/>'s layers draw from, and <see cref="Generator.Default"/>.</summary>
    internal static IEnumerable<Generator> Generators(Module module)
    {
        var list = new List<Generator> { Generator.Default };
        foreach (var (_, m) in module.NamedModules())
            if (m.RandomSource is { } g && !list.Any(x => ReferenceEquals(x, g))) list.Add(g);
        return list;
    }
}
