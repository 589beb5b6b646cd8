using Ember.NN;
using Ember.Optim;

namespace Ember.Training;

/// <summary>The minibatch loop shared by the fit routines that hold their data as tensors: one epoch over a seeded
/// shuffle, with gradient clipping and a per-step scheduler.</summary>
public static class EpochLoop
{
    /// <summary>Trains one epoch over <paramref name="count"/> rows in shuffled minibatches: <paramref name="loss"/> maps
    /// a batch's int64 row indices to its loss; each step clips the gradient norm to 1, steps the optimizer and then
    /// <paramref name="afterStep"/>. Returns the mean batch loss.</summary>
    public static double Run(Module model, Optimizer opt, int count, int batchSize, Generator order, Func<Tensor, Tensor> loss, Action? afterStep = null)
    {
        var perm = Tensor.RandPerm(count, order);
        var batches = Enumerable.Range(0, Steps(count, batchSize))
            .Select(b => perm.Narrow(0, b * batchSize, Math.Min(batchSize, count - b * batchSize))).ToList();
        return Run(model, opt, batches, loss, afterStep);
    }

    /// <summary>One epoch over the given minibatches (int64 row indices each), in that order.</summary>
    public static double Run(Module model, Optimizer opt, IReadOnlyList<Tensor> batches, Func<Tensor, Tensor> loss, Action? afterStep = null)
    {
        model.Train();
        double total = 0;
        foreach (var idx in batches)
        {
            var l = loss(idx);
            opt.ZeroGrad();
            l.Backward();
            Optimizer.ClipGradNorm(model.Parameters(), 1.0);
            opt.Step();
            afterStep?.Invoke();
            total += l.Item();
        }
        return total / Math.Max(1, batches.Count);
    }

    /// <summary>Minibatches of rows of similar length (Hugging Face's <c>group_by_length</c>): a seeded shuffle is cut into
    /// mega-batches of up to 50 batches, each sorted by length (longest first) and cut into batches, and the batches
    /// are shuffled. A batch then pads to its own longest row, not to the longest of a random draw (most random
    /// batches of 32 reviews hold one at the 128-token cap), which for attention (cost ∝ length²) halves the work;
    /// which rows train together stays random.</summary>
    public static List<Tensor> LengthGroupedBatches(IReadOnlyList<int> lengths, int batchSize, Generator order)
    {
        int n = lengths.Count;
        var perm = Tensor.RandPerm(n, order).ToArray<long>();
        int mega = batchSize * Math.Clamp(n / (batchSize * 4), 1, 50);
        var batches = new List<long[]>();
        for (int start = 0; start < n; start += mega)
        {
            var group = perm[start..Math.Min(n, start + mega)].OrderByDescending(i => lengths[(int)i]).ToArray();
            for (int b = 0; b < group.Length; b += batchSize) batches.Add(group[b..Math.Min(group.Length, b + batchSize)]);
        }
        var shuffled = Tensor.RandPerm(batches.Count, order).ToArray<long>();
        return shuffled.Select(i => Tensor.FromArray(batches[(int)i])).ToList();
    }

    /// <summary>Minibatches per epoch: ⌈count / batchSize⌉.</summary>
    public static int Steps(int count, int batchSize) => (count + batchSize - 1) / batchSize;

    /// <summary>A copy of the module's parameters and buffers (to restore the best epoch later).</summary>
    public static Dictionary<string, Tensor> CopyState(Module model) => model.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.Clone());
}
