namespace Ember.NN;

/// <summary>Unstructured pruning masks (PyTorch's <c>torch.nn.utils.prune</c> with L1 magnitude): one 0/1 mask per
/// pruned weight. Pruning again prunes a fraction of the entries still alive, as PyTorch's pruning container does, so
/// iterative pruning with fine-tuning in between reaches 1 − (1 − a)ⁿ sparsity. Call <see cref="Apply"/> after each
/// optimizer step while fine-tuning: it zeroes the pruned entries again.</summary>
public sealed class PruningMasks
{
    private readonly List<(string Name, Module Owner, string Tensor, Tensor Mask)> _entries;

    internal PruningMasks(List<(string Name, Module Owner, string Tensor, Tensor Mask)> entries) => _entries = entries;

    /// <summary>The pruned weights' dotted names with their masks (float32 0/1, the weight's shape).</summary>
    public IReadOnlyList<(string Name, Tensor Mask)> Masks => _entries.Select(e => (e.Name, e.Mask)).ToList();

    /// <summary>Zeroes every pruned entry of every weight (after an optimizer step, or after loading weights).</summary>
    public void Apply()
    {
        using var noGrad = Tensor.NoGrad();
        foreach (var (name, owner, tensor, mask) in _entries)
        {
            var w = owner.Registered(tensor) ?? throw new InvalidOperationException($"PruningMasks.Apply: '{name}' is gone from its layer.");
            if (!ShapeUtil.SameShape(w.Shape, mask.Shape))
                throw new InvalidOperationException($"PruningMasks.Apply: '{name}' is now {ShapeUtil.Str(w.Shape)}, its mask {ShapeUtil.Str(mask.Shape)} (structured pruning after unstructured?).");
            w.CopyFrom(w.Mul(mask));
        }
    }

    /// <summary>Prunes a further fraction <paramref name="amount"/> of the entries still alive, globally (one
    /// threshold over all weights) or per weight.</summary>
    public void Prune(double amount, bool global = true)
    {
        Pruning.CheckAmount(amount);
        using var noGrad = Tensor.NoGrad();
        var weights = _entries.Select(e => e.Owner.Registered(e.Tensor)!.Contiguous().ToArray<float>()).ToList();
        var masks = _entries.Select(e => e.Mask.Contiguous().ToArray<float>()).ToList();
        if (global) Pruning.PruneSmallest(weights, masks, amount);
        else for (int i = 0; i < weights.Count; i++) Pruning.PruneSmallest([weights[i]], [masks[i]], amount);
        for (int i = 0; i < _entries.Count; i++) _entries[i].Mask.CopyFrom(Tensor.FromArray(masks[i], _entries[i].Mask.Shape));
        Apply();
    }
}

/// <summary>Magnitude pruning: unstructured (masks, globally or per layer, iterative) and structured (whole neurons and
/// channels removed, so the layers become smaller dense layers that run faster), and the sparsity report.</summary>
public static class Pruning
{
    internal static void CheckAmount(double amount)
    {
        if (!(amount >= 0 && amount < 1)) throw new ArgumentException($"Pruning: amount must be in [0, 1), got {amount}.");
    }

    /// <summary>The weights unstructured pruning acts on: every Linear, Conv1d and Conv2d weight (LoRA factors and int8
    /// layers left out), optionally filtered by layer name.</summary>
    private static List<(string Name, Module Owner, string Tensor)> Targets(Module model, Func<string, bool>? include) =>
        model.NamedModules()
            .Where(x => x.Module is Linear { Int8: null } or Conv1d or Conv2d { Int8: null } && !x.Name.Contains("lora_") && (include?.Invoke(x.Name) ?? true))
            .Select(x => (x.Name.Length == 0 ? "weight" : x.Name + ".weight", x.Module, "weight"))
            .ToList();

    /// <summary>Zeroes the fraction <paramref name="amount"/> of weights with the smallest magnitude, over all targeted
    /// weights together (<paramref name="global"/>, PyTorch's <c>global_unstructured</c> with <c>L1Unstructured</c>) or
    /// within each (<c>l1_unstructured</c>); round(amount·n) entries, ties to even as Python's round. Returns the masks,
    /// for <see cref="PruningMasks.Apply"/> during fine-tuning and <see cref="PruningMasks.Prune"/> to go further.</summary>
    public static PruningMasks Magnitude(Module model, double amount, bool global = true, Func<string, bool>? include = null)
    {
        var targets = Targets(model, include);
        if (targets.Count == 0) throw new ArgumentException($"Pruning.Magnitude: {model.GetType().Name} has no Linear or convolution weight to prune.");
        var entries = targets.Select(t => (t.Name, t.Owner, t.Tensor, Tensor.OnesLike(t.Owner.Registered(t.Tensor)!).Detach())).ToList();
        var masks = new PruningMasks(entries);
        masks.Prune(amount, global);
        return masks;
    }

    /// <summary>Marks round(amount · alive) of the alive entries (mask 1) with the smallest |w| as pruned (mask 0),
    /// taken together across <paramref name="weights"/>; equal magnitudes go in order of position.</summary>
    internal static void PruneSmallest(List<float[]> weights, List<float[]> masks, double amount)
    {
        var alive = new List<(float Score, int Tensor, int Index)>();
        for (int t = 0; t < weights.Count; t++)
            for (int i = 0; i < weights[t].Length; i++)
                if (masks[t][i] != 0) alive.Add((MathF.Abs(weights[t][i]), t, i));
        int k = (int)Math.Round(amount * alive.Count, MidpointRounding.ToEven);
        if (k == 0) return;
        alive.Sort((a, b) => a.Score != b.Score ? a.Score.CompareTo(b.Score) : a.Tensor != b.Tensor ? a.Tensor.CompareTo(b.Tensor) : a.Index.CompareTo(b.Index));
        for (int j = 0; j < k; j++) masks[alive[j].Tensor][alive[j].Index] = 0;
    }

    /// <summary>Zeros and totals of every Linear and convolution weight, by dotted name, and over all of them.</summary>
    public static (IReadOnlyList<(string Name, long Zeros, long Total)> Layers, double Overall) Sparsity(Module model)
    {
        var rows = new List<(string, long, long)>();
        foreach (var (name, owner, tensor) in Targets(model, null))
        {
            var w = owner.Registered(tensor)!;
            long zeros = w.Contiguous().ToArray<float>().LongCount(v => v == 0);
            rows.Add((name, zeros, w.NumEl));
        }
        long z = rows.Sum(r => r.Item2), n = rows.Sum(r => r.Item3);
        return (rows, n == 0 ? 0 : (double)z / n);
    }

    // ------------------------------------------------------------------ structured

    /// <summary>Removes the fraction <paramref name="amount"/> (round(amount·n), at least one kept) of the hidden neurons
    /// and channels with the smallest L1 norm of their weights (Li et al., 2017, "Pruning Filters for Efficient
    /// ConvNets"), physically: each Linear or Conv2d inside a <see cref="Sequential"/> whose output feeds the next
    /// Linear or Conv2d through only channel-wise layers (BatchNorm, activations, dropout, pooling, Flatten) loses those
    /// outputs, the BatchNorms between lose those channels, and the next layer loses those inputs. The model's final
    /// layer keeps its outputs. Returns (layer, kept, before) for each layer shrunk. Fine-tune afterwards, with a new
    /// optimizer (the parameters are new tensors).</summary>
    public static IReadOnlyList<(string Name, int Kept, int Before)> Structured(Module model, double amount, Func<string, bool>? include = null)
    {
        CheckAmount(amount);
        var names = new Dictionary<Module, string>(ReferenceEqualityComparer.Instance);
        foreach (var (n, m) in model.NamedModules()) names.TryAdd(m, n);
        // Every layer's survivors are chosen on the original weights first (Li et al.'s "independent" strategy), then
        // the layers are cut: a layer that is both a consumer and a producer loses input columns and output rows.
        var plans = new List<(Module Producer, Module Consumer, List<BatchNormBase> Between, bool Flatten, int[] Keep, int Before)>();
        var inner = new HashSet<Module>(ReferenceEqualityComparer.Instance);
        foreach (var (_, m) in model.NamedModules())
            if (m is Sequential s)
                foreach (var child in s.Layers) if (child is Sequential) inner.Add(child);
        foreach (var (_, m) in model.NamedModules())
        {
            if (m is not Sequential top || inner.Contains(top)) continue;
            var chain = Leaves(top);
            for (int i = 0; i < chain.Count; i++)
            {
                if (chain[i] is not (Linear or Conv2d) || !(include?.Invoke(names[chain[i]]) ?? true)) continue;
                var (consumer, between, flatten) = NextConsumer(chain, i);
                if (consumer is null) continue;
                if (chain[i] is Linear { Int8: not null } or Linear { Lora: not null } || consumer is Linear { Int8: not null } or Linear { Lora: not null }) continue;
                if (chain[i] is Conv2d { Groups: not 1 } or Conv2d { Int8: not null } || consumer is Conv2d { Groups: not 1 } or Conv2d { Int8: not null }) continue;
                int n = chain[i] is Linear l ? l.OutFeatures : ((Conv2d)chain[i]).OutChannels;
                if (consumer is Linear { InFeatures: var inF } && flatten && inF % n != 0)
                    throw new InvalidOperationException($"Pruning.Structured: '{names[consumer]}' takes {inF} features after Flatten, not a multiple of the {n} channels of '{names[chain[i]]}'.");
                int keepCount = Math.Max(1, n - (int)Math.Round(amount * n, MidpointRounding.ToEven));
                if (keepCount == n) continue;
                plans.Add((chain[i], consumer, between, flatten, Strongest(chain[i], keepCount), n));
            }
        }
        var done = new List<(string, int, int)>();
        foreach (var (producer, consumer, between, flatten, keep, n) in plans)
        {
            var keepTensor = Tensor.FromArray(keep.Select(v => (long)v).ToArray());
            if (producer is Linear pl) pl.SelectOutputs(keepTensor); else ((Conv2d)producer).SelectOutputChannels(keepTensor);
            foreach (var bn in between) bn.SelectChannels(keepTensor);
            switch (consumer)
            {
                case Conv2d c: c.SelectInputChannels(keepTensor); break;
                case Linear c when !flatten: c.SelectInputs(keepTensor); break;
                case Linear c:
                    int per = c.InFeatures / n;
                    c.SelectInputs(Tensor.FromArray(keep.SelectMany(ch => Enumerable.Range(ch * per, per).Select(v => (long)v)).ToArray()));
                    break;
            }
            done.Add((names[producer], keep.Length, n));
        }
        return done;
    }

    /// <summary>Shrinks the layers of a freshly built <paramref name="model"/> to the shapes a structurally pruned
    /// <paramref name="state"/> holds (the leading outputs and inputs are kept; loading the state then overwrites
    /// them), so that <see cref="Module.LoadStateDict"/> can load it. Returns the names of the layers shrunk.</summary>
    public static IReadOnlyList<string> ShrinkToMatch(Module model, IReadOnlyDictionary<string, Tensor> state)
    {
        static Tensor First(int n) => Tensor.Arange(0, n, 1, DType.Int64);
        var done = new List<string>();
        foreach (var (name, m) in model.NamedModules().ToList())
        {
            string prefix = name.Length == 0 ? "" : name + ".";
            switch (m)
            {
                case Linear { Int8: null, Lora: null } l when state.TryGetValue(prefix + "weight", out var w) && w.Dim == 2
                                                            && (w.Size(0) < l.OutFeatures || w.Size(1) < l.InFeatures):
                    if (w.Size(0) < l.OutFeatures) l.SelectOutputs(First(w.Size(0)));
                    if (w.Size(1) < l.InFeatures) l.SelectInputs(First(w.Size(1)));
                    done.Add(name);
                    break;
                case Conv2d { Groups: 1, Int8: null } c when state.TryGetValue(prefix + "weight", out var w) && w.Dim == 4
                                                 && (w.Size(0) < c.OutChannels || w.Size(1) < c.InChannels):
                    if (w.Size(0) < c.OutChannels) c.SelectOutputChannels(First(w.Size(0)));
                    if (w.Size(1) < c.InChannels) c.SelectInputChannels(First(w.Size(1)));
                    done.Add(name);
                    break;
                case BatchNormBase bn when (state.TryGetValue(prefix + "running_mean", out var t) || state.TryGetValue(prefix + "weight", out t))
                                           && t.Dim == 1 && t.Size(0) < bn.NumFeatures:
                    bn.SelectChannels(First(t.Size(0)));
                    done.Add(name);
                    break;
            }
        }
        return done;
    }

    private static List<Module> Leaves(Sequential s) => s.Layers.SelectMany(l => l is Sequential inner ? Leaves(inner) : [l]).ToList();

    /// <summary>The next Linear/Conv2d after position <paramref name="i"/>, the BatchNorms on the way, and whether a
    /// Flatten sits between; no consumer when anything on the way mixes channels or is unknown.</summary>
    private static (Module? Consumer, List<BatchNormBase> Between, bool Flatten) NextConsumer(List<Module> chain, int i)
    {
        var between = new List<BatchNormBase>();
        bool flatten = false;
        for (int j = i + 1; j < chain.Count; j++)
        {
            switch (chain[j])
            {
                case Linear or Conv2d:
                    // Flatten of a Linear's 2-D output changes nothing; of a conv's maps it lays channels out in blocks.
                    if (flatten && chain[i] is Linear) flatten = false;
                    if (chain[j] is Conv2d && (flatten || chain[i] is Linear)) return (null, between, false);
                    if (chain[j] is Linear && chain[i] is Conv2d && !flatten) return (null, between, false);
                    return (chain[j], between, flatten);
                case BatchNormBase bn: between.Add(bn); break;
                case NN.Flatten: flatten = true; break;
                case ReLU or GELU or Tanh or SiLU or Sigmoid or LeakyReLU or ELU or Dropout:
                case MaxPool2d or AvgPool2d or AdaptiveAvgPool2d:
                    break;
                default: return (null, between, false);
            }
        }
        return (null, between, false);
    }

    /// <summary>Indices (ascending) of the <paramref name="count"/> outputs with the largest L1 norm of their weights.</summary>
    private static int[] Strongest(Module layer, int count)
    {
        var w = (layer is Linear l ? l.Weight : ((Conv2d)layer).Weight).Detach().Contiguous();
        int n = w.Size(0), per = w.NumEl / n;
        var v = w.ToArray<float>();
        var norms = new double[n];
        for (int o = 0; o < n; o++)
        {
            double s = 0;
            for (int i = 0; i < per; i++) s += Math.Abs(v[o * per + i]);
            norms[o] = s;
        }
        return Enumerable.Range(0, n).OrderByDescending(o => norms[o]).ThenBy(o => o).Take(count).Order().ToArray();
    }
}
