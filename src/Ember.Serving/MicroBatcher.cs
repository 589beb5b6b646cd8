using System.Threading.Channels;

namespace Ember.Serving;

/// <summary>
/// Dynamic micro-batching: the requests queued when a forward pass starts, and those arriving within
/// <see cref="ServeOptions.BatchWindow"/> of the first one waiting (up to <see cref="ServeOptions.MaxBatch"/> instances),
/// share one forward pass, run by one worker, so the model is used by
/// one thread at a time and never mutated. The queue is bounded: a request that finds it full is refused at once (503).
/// </summary>
internal sealed class MicroBatcher : IAsyncDisposable
{
    private sealed record Work(float[][] Instances, TaskCompletionSource<float[][]> Done, CancellationToken Cancel);

    private readonly ServedModel _model;
    private readonly ServeOptions _options;
    private readonly Metrics _metrics;
    private readonly Channel<Work> _queue;
    private readonly Task _worker;
    private readonly CancellationTokenSource _stop = new();
    private int _queued;
    private Tensor? _input;
    private float[] _inputData = [];

    public MicroBatcher(ServedModel model, ServeOptions options, Metrics metrics)
    {
        _model = model;
        _options = options;
        _metrics = metrics;
        _queue = Channel.CreateBounded<Work>(new BoundedChannelOptions(options.QueueCapacity)
        {
            FullMode = BoundedChannelFullMode.Wait, SingleReader = true,
        });
        _worker = Task.Run(RunAsync);
    }

    /// <summary>Instances waiting for a forward pass.</summary>
    public int QueueLength => Volatile.Read(ref _queued);

    /// <summary>Predicts <paramref name="instances"/>; false when the queue is full.</summary>
    public bool TryEnqueue(float[][] instances, CancellationToken cancel, out Task<float[][]> result)
    {
        var work = new Work(instances, new TaskCompletionSource<float[][]>(TaskCreationOptions.RunContinuationsAsynchronously), cancel);
        result = work.Done.Task;
        if (!_queue.Writer.TryWrite(work)) return false;
        Interlocked.Add(ref _queued, instances.Length);
        _metrics.QueueLength(QueueLength);
        return true;
    }

    private async Task RunAsync()
    {
        var reader = _queue.Reader;
        var batch = new List<Work>();
        try
        {
            while (await reader.WaitToReadAsync(_stop.Token).ConfigureAwait(false))
            {
                batch.Clear();
                int count = 0;
                var deadline = DateTime.UtcNow + _options.BatchWindow;
                while (count < _options.MaxBatch)
                {
                    if (reader.TryRead(out var w))
                    {
                        batch.Add(w);
                        count += w.Instances.Length;
                        continue;
                    }
                    var left = deadline - DateTime.UtcNow;
                    if (batch.Count > 0 && left <= TimeSpan.Zero) break;
                    if (batch.Count > 0)
                    {
                        // Wait a little for company, no longer than the window.
                        using var wait = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
                        wait.CancelAfter(left);
                        try { if (!await reader.WaitToReadAsync(wait.Token).ConfigureAwait(false)) break; }
                        catch (OperationCanceledException) when (!_stop.IsCancellationRequested) { break; }
                    }
                    else break;
                }
                if (batch.Count == 0) continue;
                Interlocked.Add(ref _queued, -count);
                _metrics.QueueLength(QueueLength);
                Run(batch, count);
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested) { }
        // Anything left when stopping is refused, not dropped silently.
        while (reader.TryRead(out var w)) w.Done.TrySetException(new OperationCanceledException("the server is shutting down"));
    }

    private void Run(List<Work> batch, int count)
    {
        var live = batch.Where(w => !w.Cancel.IsCancellationRequested).ToList();
        foreach (var w in batch.Except(live)) w.Done.TrySetCanceled(w.Cancel);
        if (live.Count == 0) return;
        int size = _model.InstanceSize, n = live.Sum(w => w.Instances.Length);
        // One input buffer, reused pass after pass (one worker runs them): a fresh one of more than 85 KB would be a
        // large-object allocation each pass, and those drive the GC to collect every generation (docs/benchmarks.md).
        int capacity = Math.Max(n, _options.MaxBatch);
        if (_inputData.Length < n * size)
        {
            _inputData = new float[(long)capacity * size];
            _input = Tensor.Wrap(_inputData, [capacity, .. _model.InstanceShape]);
        }
        var data = _inputData;
        int row = 0;
        foreach (var w in live)
            foreach (var instance in w.Instances) instance.CopyTo(data, row++ * size);
        try
        {
            var x = _input!.Narrow(0, 0, n);
            float[] y;
            // For a model that keeps nothing it makes, the pass's activations come from Ember's buffer pool and go back
            // to it once the answers are copied out (fresh large-object allocations each pass drove the GC to a full
            // collection every few passes).
            using (EmberSettings.Scope(EmberSettings.Current with { NumThreads = Math.Min(_options.ModelThreads, EmberSettings.Current.NumThreads) }))
            using (_model.RecyclesActivations ? BufferPool.ReturnAfter() : null)
                y = _model.Forward!(x).Contiguous().To(DType.Float32).ToArray<float>();
            int outputs = _model.Outputs;
            _metrics.Batch(n);
            row = 0;
            foreach (var w in live)
            {
                var result = new float[w.Instances.Length][];
                for (int i = 0; i < result.Length; i++, row++) result[i] = y.AsSpan(row * outputs, outputs).ToArray();
                w.Done.TrySetResult(result);
            }
        }
        catch (Exception e)
        {
            foreach (var w in live) w.Done.TrySetException(e);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        try { await _worker.WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false); }
        catch (TimeoutException) { _stop.Cancel(); }
        _stop.Cancel();
        _stop.Dispose();
    }
}
