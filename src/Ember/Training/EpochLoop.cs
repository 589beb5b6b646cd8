using Ember.NN;
using Ember.Optim;

namespace Ember.Training;

/// <summary>The minibatch loop shared by the fit routines that hold their data as tensors: one epoch over a seeded
/// shuffle, with gradient clipping and a per-step scheduler.</summary>
internal static class EpochLoop
{
    /// <summary>Trains one epoch over <paramref name="count"/> rows in shuffled minibatches: <paramref name="loss"/> maps
    /// a batch's int64 row indices to its loss; each step clips the gradient norm to 1, steps the optimizer and then
    /// <paramref name="afterStep"/>. Returns the mean batch loss.</summary>
    public static double Run(Module model, Optimizer opt, int count, int batchSize, Generator order, Func<Tensor, Tensor> loss, Action? afterStep = null)
    {
        model.Train();
        var perm = Tensor.RandPerm(count, order);
        int steps = Steps(count, batchSize);
        double total = 0;
        for (int b = 0; b < steps; b++)
        {
            var l = loss(perm.Narrow(0, b * batchSize, Math.Min(batchSize, count - b * batchSize)));
            opt.ZeroGrad();
            l.Backward();
            Optimizer.ClipGradNorm(model.Parameters(), 1.0);
            opt.Step();
            afterStep?.Invoke();
            total += l.Item();
        }
        return total / steps;
    }

    public static int Steps(int count, int batchSize) => (count + batchSize - 1) / batchSize;

    /// <summary>A copy of the module's parameters and buffers (to restore the best epoch later).</summary>
    public static Dictionary<string, Tensor> CopyState(Module model) => model.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.Clone());
}
