namespace Ember;

/// <summary>Thread settings for Ember's CPU kernels (PyTorch's <c>torch.set_num_threads</c>).</summary>
public static class Parallelism
{
    /// <summary>Maximum number of threads a kernel uses here: <see cref="EmberSettings.Current"/>'s
    /// <see cref="EmberSettings.NumThreads"/> (default: the processor count, or EMBER_NUM_THREADS). Setting it changes
    /// <see cref="EmberSettings.Global"/>; to change it for one piece of code, use <see cref="EmberSettings.Scope"/>.</summary>
    public static int NumThreads
    {
        get => EmberSettings.Current.NumThreads;
        set
        {
            if (value < 1) throw new ArgumentOutOfRangeException(nameof(value), $"NumThreads must be at least 1, got {value}.");
            EmberSettings.Global = EmberSettings.Global with { NumThreads = value };
        }
    }

    /// <summary>Elementwise work below this many elements runs on the calling thread: below it, waking a pool
    /// thread costs more than it saves.</summary>
    internal const int ElementwiseGrain = 1 << 15;

    /// <summary>Chunks per thread in <see cref="For"/>: handed out one at a time, so a thread slowed for a moment (an
    /// interrupt, a cold cache) leaves the other less to wait for than one fixed half each would. On the GPT training
    /// step the main thread's wait at the end of these regions fell from 9–15% of their time to 4–9%.</summary>
    private const int ChunksPerThread = 4;

    /// <summary>Runs <paramref name="body"/>(start, end) over [0, total) in up to <see cref="ChunksPerThread"/> chunks per
    /// thread of at least <paramref name="grain"/> each (on up to <see cref="NumThreads"/> threads), or inline when
    /// <paramref name="total"/> is below 2·<paramref name="grain"/>. Which thread runs which chunk varies: a body whose
    /// result depends on how the range was cut (per-chunk partial sums merged afterwards) uses
    /// <see cref="ForPerThread"/>.</summary>
    internal static void For(int total, int grain, Action<int, int> body) => Split(total, grain, ChunksPerThread, body);

    /// <summary>As <see cref="For"/>, with one contiguous chunk per thread: for bodies that merge a per-chunk partial
    /// (a weight gradient summed over the batch) into a shared total, so that the cuts, and with two threads the
    /// result, do not change from run to run.</summary>
    internal static void ForPerThread(int total, int grain, Action<int, int> body) => Split(total, grain, 1, body);

    private static void Split(int total, int grain, int chunksPerThread, Action<int, int> body)
    {
        int threads = Math.Min(NumThreads, total / Math.Max(grain, 1));
        if (threads <= 1)
        {
            if (total > 0) body(0, total);
            return;
        }
        int chunks = Math.Min(threads * chunksPerThread, total / Math.Max(grain, 1));
        int chunk = (total + chunks - 1) / chunks;
        chunks = (total + chunk - 1) / chunk;
        WorkerPool.Run(chunks, threads, t =>
        {
            int start = t * chunk, end = Math.Min(total, start + chunk);
            if (start < end) body(start, end);
        });
    }

    /// <summary>Runs <paramref name="body"/>(i) for i in [0, count) over up to NumThreads threads (count is small: tasks are coarse).</summary>
    internal static void ForEach(int count, Action<int> body)
    {
        int threads = Math.Min(NumThreads, count);
        if (threads <= 1)
        {
            for (int i = 0; i < count; i++) body(i);
            return;
        }
        WorkerPool.Run(count, threads, body);
    }
}

/// <summary>Ember's own fork-join pool (in the manner of OpenMP's and libtorch's): NumThreads − 1 dedicated workers that
/// spin for a short while after each parallel region before they sleep, so the next region (a training step runs
/// hundreds of them, a few hundred microseconds apart) starts on both cores at once. With the .NET thread pool
/// (Parallel.For) the second core often woke too late on this machine: of 200 regions of 2 × 1 ms work, 77 ran
/// entirely on the calling thread. The caller takes part; tasks are handed out one index at a time. A region entered
/// from inside a region, or while another thread's region runs, executes inline on its thread.</summary>
internal static class WorkerPool
{
    private sealed class Region(Action<int> body, int count, int helpers, EmberSettings settings)
    {
        public readonly Action<int> Body = body;
        public readonly EmberSettings Settings = settings;   // the starting flow's, in force on the workers too
        public readonly int Count = count;
        public readonly int Helpers = helpers;     // workers allowed to join (threads − 1)
        public int Next;
        public int Done;
        public System.Runtime.ExceptionServices.ExceptionDispatchInfo? Error;
    }

    private sealed class Worker
    {
        public int Index;
        public int Sleeping;
        public readonly SemaphoreSlim Wake = new(0);
    }

    /// <summary>How long an idle worker keeps polling for the next region before it blocks.</summary>
    private static readonly long SpinTicks = System.Diagnostics.Stopwatch.Frequency / 500;   // 2 ms

    private static readonly object s_gate = new();
    private static readonly List<Worker> s_workers = [];
    private static volatile Region? s_region;
    [ThreadStatic] private static bool t_inRegion;

    public static void Run(int count, int threads, Action<int> body)
    {
        if (t_inRegion || !Monitor.TryEnter(s_gate))
        {
            for (int i = 0; i < count; i++) body(i);
            return;
        }
        try
        {
            while (s_workers.Count < threads - 1) StartWorker();
            var region = new Region(body, count, threads - 1, EmberSettings.Current);
            s_region = region;
            for (int w = 0; w < threads - 1; w++)
                if (Interlocked.Exchange(ref s_workers[w].Sleeping, 0) == 1) s_workers[w].Wake.Release();
            t_inRegion = true;
            try { Work(region, onWorker: false); }
            finally { t_inRegion = false; }
            var spin = new SpinWait();
            while (Volatile.Read(ref region.Done) < region.Count) spin.SpinOnce(-1);
            region.Error?.Throw();
        }
        finally { Monitor.Exit(s_gate); }
    }

    private static void Work(Region r, bool onWorker)
    {
        int i;
        while ((i = Interlocked.Increment(ref r.Next) - 1) < r.Count)
        {
            try
            {
                if (onWorker) EmberSettings.RunAs(r.Settings, r.Body, i);
                else r.Body(i);
            }
            catch (Exception ex) { Interlocked.CompareExchange(ref r.Error, System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(ex), null); }
            finally { Interlocked.Increment(ref r.Done); }
        }
    }

    private static void StartWorker()
    {
        var w = new Worker { Index = s_workers.Count };
        s_workers.Add(w);
        new Thread(() => Loop(w)) { IsBackground = true, Name = $"Ember worker {w.Index + 1}" }.Start();
    }

    private static void Loop(Worker w)
    {
        t_inRegion = true;   // kernels called from a worker's task never fork again
        Region? seen = null;
        while (true)
        {
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            Region? r;
            int polls = 0;
            while ((r = s_region) == seen)
            {
                if (++polls % 64 == 0 && System.Diagnostics.Stopwatch.GetTimestamp() - start > SpinTicks)
                {
                    // Going to sleep: announce it, then look once more (a region published in between is not missed:
                    // either this check sees it, or its publisher sees Sleeping = 1 and releases the semaphore).
                    Volatile.Write(ref w.Sleeping, 1);
                    if ((r = s_region) != seen)
                    {
                        if (Interlocked.Exchange(ref w.Sleeping, 0) == 0) w.Wake.Wait();   // the publisher released: consume it
                        break;
                    }
                    w.Wake.Wait();
                    start = System.Diagnostics.Stopwatch.GetTimestamp();
                    polls = 0;
                }
                else Thread.SpinWait(20);
            }
            r = s_region;
            seen = r;
            if (r is not null && w.Index < r.Helpers) Work(r, onWorker: true);
        }
    }
}
