namespace Ember;

/// <summary>
/// Reverse-mode backward pass. The graph is walked iteratively (an explicit stack, never recursion, so a
/// 100,000-op chain cannot overflow the call stack). Each node runs once, after every consumer of its output
/// has contributed its gradient (Kahn's algorithm over dependency counts).
/// </summary>
internal static class Engine
{
    [ThreadStatic] private static Tensor? t_donated;

    /// <summary>Off: rules never write over their incoming gradient (tests compare both ways).</summary>
    internal static bool ReuseEnabled = true;

    /// <summary>Gradients written over since start (tests check the path was exercised).</summary>
    internal static long Reused;

    /// <summary>True (once) when <paramref name="gradient"/> is the incoming gradient of the rule now running and the
    /// engine owns it outright: a dense float32 buffer allocated during this backward pass (not the caller's gradient,
    /// not a leaf's .Grad), shared by no other pending gradient, and never handed out again after the rule returns
    /// except as what the rule returns. The rule may then write its result into it instead of allocating one.</summary>
    internal static bool TryReuse(Tensor gradient)
    {
        if (t_donated is null || !ReferenceEquals(t_donated, gradient)) return false;
        t_donated = null;
        Interlocked.Increment(ref Reused);
        return true;
    }

    /// <summary>Takes back a donation (<see cref="TryReuse"/>) not used, before a rule runs a backward pass of its own.</summary>
    internal static void Undonate() => t_donated = null;

    /// <summary>Off: activations are never recycled (<see cref="EmberSettings.RecycleActivations"/>).</summary>
    internal static bool RecycleEnabled => EmberSettings.Current.RecycleActivations;

    /// <summary>Activation buffers handed back since start (tests check the path was exercised).</summary>
    internal static long ActivationsRecycled;

    /// <summary>Activation buffers handed back by backward passes run on this thread.</summary>
    [ThreadStatic] internal static long ActivationsRecycledHere;

    /// <summary>Marks <paramref name="activation"/>'s float32 buffer (≥ <see cref="BufferPool.MinLength"/>) to go back to
    /// <see cref="BufferPool"/> once the op that allocated it has run backward (walking down through views and aliases of
    /// it to that op). Only for a tensor the caller keeps from everyone but the ops it feeds: an intermediate of a
    /// <see cref="NN.Sequential"/> of built-in layers, or of a built-in block. A training step then reuses the same
    /// buffers instead of asking the GC for fresh ones (on this class of machine the page faults of fresh large
    /// arrays cost more than the arithmetic done in them). No effect without autograd or under retainGraph.</summary>
    internal static void RecycleAfterBackward(Tensor activation)
    {
        if (!RecycleEnabled || !GradMode.IsEnabled || activation.GradFn is not { } node) return;
        if (activation._storage is not Storage<float> st || st.Length < BufferPool.MinLength || st.Epoch != 0) return;
        while (true)
        {
            Tensor? same = null;
            foreach (var input in node.Inputs)
                if (input is not null && ReferenceEquals(input._storage, st)) { same = input; break; }
            if (same is null) break;
            if (same.GradFn is not { } below) return;   // a view of a leaf's (or untracked) buffer: never
            node = below;
        }
        if (Autocast.Type is null) node.RecycleOutput = st;
        else node.RecycleOutputWeak = new WeakReference<Storage>(st);
    }

    /// <summary>True while a backward pass runs for <see cref="Autograd.Grad"/>: gradients go to the requested
    /// tensors only, so rules must not write into a leaf's .Grad themselves.</summary>
    internal static bool Capturing => t_capturing;
    [ThreadStatic] private static bool t_capturing;

    /// <summary>The backward pass from <paramref name="root"/>. With <paramref name="capture"/>, the gradients reaching
    /// its keys (leaves or intermediate tensors) are summed into it and no leaf's .Grad is touched (torch.autograd.grad).</summary>
    public static void Backward(Tensor root, Tensor? gradient, bool retainGraph, bool createGraph, Dictionary<Tensor, Tensor?>? capture = null)
    {
        bool wasCapturing = t_capturing;
        t_capturing = capture is not null;
        try { BackwardCore(root, gradient, retainGraph, createGraph, capture); }
        finally { t_capturing = wasCapturing; }
    }

    private static void BackwardCore(Tensor root, Tensor? gradient, bool retainGraph, bool createGraph, Dictionary<Tensor, Tensor?>? capture)
    {
        if (!root.RequiresGrad)
            throw new InvalidOperationException(
                $"Backward: the tensor (shape {ShapeUtil.Str(root._shape)}) does not require grad and has no grad_fn. " +
                "Set RequiresGrad on a leaf that feeds it, and make sure it was not computed under NoGrad.");
        if (gradient is null)
        {
            if (root.NumEl != 1)
                throw new ArgumentException(
                    $"Backward: grad can be implicitly created only for scalar outputs, but the output has shape {ShapeUtil.Str(root._shape)}. " +
                    "Pass an explicit gradient of the same shape.");
            gradient = Tensor.OnesLike(root);
        }
        else
        {
            if (!ShapeUtil.SameShape(gradient._shape, root._shape))
                throw new ArgumentException($"Backward: gradient shape {ShapeUtil.Str(gradient._shape)} does not match output shape {ShapeUtil.Str(root._shape)}.");
            Tensor.CheckSameDType("Backward", root, gradient);
        }

        using var mode = new GradModeScope(createGraph);
        if (capture is not null && capture.ContainsKey(root)) Captured(root, gradient);
        if (root.GradFn is null)
        {
            if (capture is not null) return;
            root.AccumulateGrad(gradient);
            root.RunPostAccumulateGradHooks();
            return;
        }
        // Leaves with post-accumulate hooks: how many edges of this graph reach each, so that its hooks run once, when
        // the last of them has been accumulated (PyTorch runs a leaf's AccumulateGrad node once, after summing them).
        Dictionary<Tensor, (int Remaining, bool Got)>? hooked = Tensor.HookedLeaves > 0 && capture is null ? new(ReferenceEqualityComparer.Instance) : null;

        // Pass 1: count, for every node reachable from the root, how many edges point at it.
        var deps = new Dictionary<Node, int>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<Node>();
        stack.Push(root.GradFn);
        deps[root.GradFn] = 0;
        while (stack.Count > 0)
        {
            var node = stack.Pop();
            foreach (var input in node.Inputs)
            {
                var next = input?.GradFn;
                if (next is null)
                {
                    if (hooked is not null && input is { HasPostAccumulateGradHooks: true })
                        hooked[input] = (hooked.TryGetValue(input, out var h) ? h.Remaining + 1 : 1, false);
                    continue;
                }
                if (deps.TryGetValue(next, out int c)) deps[next] = c + 1;
                else
                {
                    deps[next] = 1;
                    stack.Push(next);
                }
            }
        }

        // Pass 2: run nodes whose gradients are complete. Without createGraph, gradient sums the engine allocated itself
        // ("owned": no one else holds them) accumulate in place, and partial views add into their input's buffer.
        var pending = new Dictionary<Node, Tensor>(ReferenceEqualityComparer.Instance) { [root.GradFn] = gradient };
        var owned = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        bool direct = !createGraph && capture is null;
        // Recycling (direct mode only): a float32 gradient buffer allocated during this pass goes back to BufferPool
        // once no pending gradient shares its storage. Gradients reach leaves only as copies (AccumulateGrad clones)
        // and rules keep no reference to the gradient they were given, so pending entries are the only holders.
        var refs = new Dictionary<Storage, int>(ReferenceEqualityComparer.Instance);
        var dead = new List<Tensor>();
        int epoch = direct ? Storage.BeginBackward() : 0;
        try
        {
        Hold(gradient);
        var ready = new Stack<Node>();
        ready.Push(root.GradFn);
        while (ready.Count > 0)
        {
            var node = ready.Pop();
            var grad = pending[node];
            pending.Remove(node);
            owned.Remove(grad);
            Drop(grad);
            // The direct path pays when a view is a small part of its input (a time step of a sequence: the dense rule would
            // build an input-sized gradient per step); for a few large slices (q/k/v thirds) the dense rule measured faster.
            if (direct && node.ScatterView is { } scatter && node.Inputs[0] is { } viewed && !viewed.RetainsGrad && 4L * grad.NumEl <= viewed.NumEl)
            {
                var ts = Diagnostics.Profiler.Begin();
                node.MarkApplied(retainGraph);
                var (replaced, added) = ScatterInto(viewed, scatter, grad, pending, owned);   // a view never owns a recycled buffer
                Diagnostics.Profiler.End("backward", node.Name, ts);
                if (viewed.GradFn is null) LeafArrived(viewed, true);
                if (added is not null) Hold(added);
                if (replaced is not null) Drop(replaced);
                Recycle();
                if (viewed.GradFn is { } after && --deps[after] == 0) ready.Push(after);
                continue;
            }
            var t0 = Diagnostics.Profiler.Begin();
            // A float32 temporary of this pass that no pending gradient shares may be overwritten by the rule
            // (elementwise backward rules write their result over it: see TryReuse).
            if (epoch != 0 && ReuseEnabled && grad._storage is Storage<float> gs && gs.Epoch == epoch && !refs.ContainsKey(gs)
                && grad._offset == 0 && grad.NumEl == gs.Length && grad.IsContiguous)
                t_donated = grad;
            Tensor?[] grads;
            // Rules may add a leaf's gradient straight into its .Grad and return null for it (Linear's weight): for
            // hooked leaves, note the gradient buffers before the rule to see whether it did.
            (Tensor? Grad, int Version)[]? before = null;
            if (hooked is not null && !node.AccumulatesLeavesElsewhere)
                for (int i = 0; i < node.Inputs.Length; i++)
                    if (node.Inputs[i] is { GradFn: null, HasPostAccumulateGradHooks: true } leaf)
                    {
                        before ??= new (Tensor?, int)[node.Inputs.Length];
                        before[i] = (leaf.Grad, leaf.Grad?.StorageVersion ?? -1);
                    }
            try { grads = node.Apply(grad, retainGraph); }
            finally { t_donated = null; }
            ReleaseOutput(node, grad, grads);
            Diagnostics.Profiler.End("backward", node.Name, t0);
            for (int i = 0; i < grads.Length; i++)
            {
                var input = node.Inputs[i];
                var g = grads[i];
                if (input is null) continue;
                if (g is null)
                {
                    if (input.GradFn is null)
                        LeafArrived(input, before is not null && input.Grad is { } now
                            && (!ReferenceEquals(now, before[i].Grad) || now.StorageVersion != before[i].Version));
                    continue;
                }
                if (!ShapeUtil.SameShape(g._shape, input._shape))
                    throw new InvalidOperationException($"{node.Name}: backward produced a gradient of shape {ShapeUtil.Str(g._shape)} for an input of shape {ShapeUtil.Str(input._shape)}.");
                var next = input.GradFn;
                if (capture is not null && capture.ContainsKey(input)) Captured(input, g);
                if (next is null)
                {
                    if (capture is not null) continue;
                    input.AccumulateGrad(g);
                    dead.Add(g);
                    LeafArrived(input, true);
                    continue;
                }
                var retained = input.ShellOf is { } origin && origin.TryGetTarget(out var held) ? held : input;
                if (retained.RetainsGrad && capture is null) retained.AccumulateGrad(g);
                if (!pending.TryGetValue(next, out var acc))
                {
                    pending[next] = g;
                    Hold(g);
                }
                else if (direct && owned.Contains(acc))
                {
                    acc.AddInPlace(g);
                    dead.Add(g);
                }
                else
                {
                    var sum = acc.Add(g);
                    pending[next] = sum;
                    Hold(sum);
                    Drop(acc);
                    dead.Add(g);
                    if (direct) owned.Add(sum);
                }
                if (--deps[next] == 0) ready.Push(next);
            }
            Recycle();
        }
        }
        finally
        {
            if (direct) Storage.EndBackward();
        }

        // A gradient for a requested tensor (Grad.Of): summed over the edges that reach it.
        void Captured(Tensor t, Tensor g) => capture![t] = capture[t] is { } had ? had.Add(g) : g;

        // One edge into a hooked leaf has been handled (its gradient accumulated, or none came): after the last, its hooks run.
        void LeafArrived(Tensor leaf, bool accumulated)
        {
            if (hooked is null || !hooked.TryGetValue(leaf, out var h)) return;
            h = (h.Remaining - 1, h.Got || accumulated);
            hooked[leaf] = h;
            if (h.Remaining == 0 && h.Got) leaf.RunPostAccumulateGradHooks();
        }

        // The node's own output buffer, when marked for recycling: no reader is left (see RecycleAfterBackward).
        void ReleaseOutput(Node node, Tensor grad, Tensor?[] grads)
        {
            if (retainGraph) return;   // kept for the last pass over the graph
            var marked = node.RecycleOutput ?? (node.RecycleOutputWeak is { } weak && weak.TryGetTarget(out var alive) ? alive : null);
            if (marked is not Storage<float> st) return;
            node.RecycleOutput = null;
            node.RecycleOutputWeak = null;
            if (epoch == 0 || ReferenceEquals(grad._storage, st)) return;
            foreach (var g in grads) if (g is not null && ReferenceEquals(g._storage, st)) return;
            BufferPool.Return(st.Data);
            Interlocked.Increment(ref ActivationsRecycled);
            ActivationsRecycledHere++;
        }

        void Hold(Tensor t)
        {
            if (epoch == 0) return;
            refs.TryGetValue(t._storage, out int c);
            refs[t._storage] = c + 1;
        }

        void Drop(Tensor t)
        {
            if (epoch == 0) return;
            if (refs.TryGetValue(t._storage, out int c))
            {
                if (c <= 1) refs.Remove(t._storage);
                else refs[t._storage] = c - 1;
            }
            dead.Add(t);
        }

        // Buffers that were consumed and that no pending gradient shares go back to the pool, each once.
        void Recycle()
        {
            if (epoch == 0) { dead.Clear(); return; }
            foreach (var t in dead)
                if (t._storage is Storage<float> st && st.Epoch == epoch && !refs.ContainsKey(st))
                {
                    st.Epoch = 0;
                    BufferPool.Return(st.Data);
                }
            dead.Clear();
        }
    }

    /// <summary>Adds a partial view's gradient into its input's gradient through the same view: into the leaf's .Grad,
    /// or into the engine-owned buffer pending for the input's node (allocated at zeros, or copied from a buffer someone
    /// else produced, on first use).</summary>
    /// <returns>The pending gradient this replaced (now unreferenced by the engine) and the buffer it added to
    /// pending, either possibly null.</returns>
    private static (Tensor? Replaced, Tensor? Added) ScatterInto(Tensor input, Func<Tensor, Tensor> view, Tensor grad, Dictionary<Node, Tensor> pending, HashSet<Tensor> owned)
    {
        if (input.GradFn is not { } next)
        {
            // A fresh leaf gradient must be zeros, and it outlives the pass: never a recyclable temporary.
            input.Grad ??= Tensor.Zeros(input._shape, grad.DType);
            input.Grad._storage.Epoch = 0;
            view(input.Grad).AddInPlace(grad);
            return (null, null);
        }
        Tensor? replaced = null, added = null;
        if (!pending.TryGetValue(next, out var acc) || !owned.Contains(acc))
        {
            var buffer = acc is null ? Tensor.Zeros(input._shape, grad.DType) : acc.Clone();
            owned.Add(buffer);
            pending[next] = buffer;
            replaced = acc;
            added = buffer;
            acc = buffer;
        }
        view(acc).AddInPlace(grad);
        return (replaced, added);
    }
}
