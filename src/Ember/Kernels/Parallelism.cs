namespace Ember;

/// <summary>Thread settings for Ember's CPU kernels (PyTorch's <c>torch.set_num_threads</c>).</summary>
public static class Parallelism
{
    private static int s_threads = Initial();

    private static int Initial()
    {
        var env = Environment.GetEnvironmentVariable("EMBER_NUM_THREADS");
        if (int.TryParse(env, out int n) && n > 0) return n;
        return Environment.ProcessorCount;
    }

    /// <summary>Maximum number of threads a kernel uses (default: the processor count, or EMBER_NUM_THREADS).</summary>
    public static int NumThreads
    {
        get => s_threads;
        set
        {
            if (value < 1) throw new ArgumentOutOfRangeException(nameof(value), $"NumThreads must be at least 1, got {value}.");
            s_threads = value;
        }
    }

    /// <summary>Elementwise work below this many elements runs on the calling thread: below it, waking a pool
    /// thread costs more than it saves.</summary>
    internal const int ElementwiseGrain = 1 << 15;

    /// <summary>Runs <paramref name="body"/>(start, end) over [0, total) in up to <see cref="NumThreads"/> chunks,
    /// or inline when <paramref name="total"/> is below <paramref name="grain"/>.</summary>
    internal static void For(int total, int grain, Action<int, int> body)
    {
        int threads = Math.Min(s_threads, total / Math.Max(grain, 1));
        if (threads <= 1)
        {
            if (total > 0) body(0, total);
            return;
        }
        int chunk = (total + threads - 1) / threads;
        System.Threading.Tasks.Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
        {
            int start = t * chunk, end = Math.Min(total, start + chunk);
            if (start < end) body(start, end);
        });
    }

    /// <summary>Runs <paramref name="body"/>(i) for i in [0, count) over up to NumThreads threads (count is small: tasks are coarse).</summary>
    internal static void ForEach(int count, Action<int> body)
    {
        int threads = Math.Min(s_threads, count);
        if (threads <= 1)
        {
            for (int i = 0; i < count; i++) body(i);
            return;
        }
        System.Threading.Tasks.Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = threads }, body);
    }
}
