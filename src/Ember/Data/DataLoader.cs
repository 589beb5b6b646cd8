using System.Collections.Concurrent;

namespace Ember.Data;

/// <summary>
/// Batches a dataset: optional seeded shuffling (a new permutation each epoch, reproducible from the seed),
/// drop_last, and background prefetch of the next batches on a worker task so that batch assembly overlaps
/// the training step. Examples are stacked along a new dim 0.
/// </summary>
public sealed class DataLoader : IEnumerable<Tensor[]>
{
    private readonly IDataset _dataset;
    private readonly Generator _generator;

    /// <summary>Batches of <paramref name="batchSize"/> examples of <paramref name="dataset"/>, reshuffled each epoch from <paramref name="seed"/> when <paramref name="shuffle"/>, collated on a background thread <paramref name="prefetch"/> batches ahead.</summary>
    public DataLoader(IDataset dataset, int batchSize, bool shuffle = false, bool dropLast = false, ulong seed = 0, int prefetch = 2)
    {
        if (batchSize <= 0) throw new ArgumentException($"DataLoader: batch size must be positive, got {batchSize}.");
        if (prefetch < 0) throw new ArgumentException($"DataLoader: prefetch must be non-negative, got {prefetch}.");
        _dataset = dataset;
        BatchSize = batchSize;
        Shuffle = shuffle;
        DropLast = dropLast;
        Prefetch = prefetch;
        _generator = new Generator(seed);
    }

    /// <summary>Applied to each assembled batch on the loader's worker (batch-level augmentation).</summary>
    public Func<Tensor[], Tensor[]>? BatchTransform { get; set; }

    /// <summary>Examples per batch.</summary>
    public int BatchSize { get; }
    /// <summary>Reshuffle each epoch.</summary>
    public bool Shuffle { get; }
    /// <summary>Drop the last, smaller batch.</summary>
    public bool DropLast { get; }
    /// <summary>Batches collated ahead on a background thread (0: on the caller's).</summary>
    public int Prefetch { get; }
    /// <summary>The dataset the batches come from.</summary>
    public IDataset Dataset => _dataset;

    /// <summary>The generator of the shuffles (its state goes into the trainer's checkpoints).</summary>
    internal Generator ShuffleGenerator => _generator;

    /// <summary>Batches per epoch.</summary>
    public int Count => DropLast ? _dataset.Count / BatchSize : (_dataset.Count + BatchSize - 1) / BatchSize;

    private long[][] Plan()
    {
        int n = _dataset.Count;
        long[] order = Shuffle ? Tensor.RandPerm(n, _generator).ToArray<long>() : Enumerable.Range(0, n).Select(i => (long)i).ToArray();
        var batches = new long[Count][];
        for (int b = 0; b < batches.Length; b++)
            batches[b] = order.Skip(b * BatchSize).Take(BatchSize).ToArray();
        return batches;
    }

    private Tensor[] Load(long[] indices)
    {
        var batch = LoadRaw(indices);
        return BatchTransform is null ? batch : BatchTransform(batch);
    }

    private Tensor[] LoadRaw(long[] indices)
    {
        if (_dataset is TensorDataset td) return td.Batch(indices);
        var examples = indices.Select(i => _dataset[(int)i]).ToArray();
        int parts = examples[0].Length;
        var r = new Tensor[parts];
        for (int p = 0; p < parts; p++) r[p] = Tensor.Stack(examples.Select(e => e[p]).ToArray());
        return r;
    }

    /// <summary>The batches of one epoch (a new shuffle each time when shuffling).</summary>
    public IEnumerator<Tensor[]> GetEnumerator()
    {
        var plan = Plan();
        if (Prefetch == 0)
        {
            foreach (var b in plan) yield return Load(b);
            yield break;
        }
        using var queue = new BlockingCollection<Tensor[]>(Prefetch);
        using var cts = new CancellationTokenSource();
        Exception? failure = null;
        var worker = Task.Run(() =>
        {
            try
            {
                using (Tensor.NoGrad())
                    foreach (var b in plan) queue.Add(Load(b), cts.Token);
            }
            catch (OperationCanceledException) { }
            catch (Exception e) { failure = e; }
            finally { queue.CompleteAdding(); }
        });
        try
        {
            foreach (var batch in queue.GetConsumingEnumerable())
                yield return batch;
            if (failure is not null) throw new InvalidOperationException($"DataLoader: loading a batch failed: {failure.Message}", failure);
        }
        finally
        {
            cts.Cancel();
            try { worker.Wait(); } catch (AggregateException) { }
        }
    }

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}
