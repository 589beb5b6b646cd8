namespace Ember.Serving;

/// <summary>How <see cref="ModelServer"/> listens and batches.</summary>
public sealed record ServeOptions
{
    /// <summary>The address to bind (127.0.0.1: this machine only).</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>The port (0: any free one; <see cref="ModelServer.Address"/> tells which).</summary>
    public int Port { get; init; } = 8080;

    /// <summary>Most instances in one forward pass.</summary>
    public int MaxBatch { get; init; } = 64;

    /// <summary>How long the first waiting request waits for others to share its forward pass. 0 (the default): no
    /// waiting; requests that arrive while a forward pass runs share the next one: the best throughput and p50, and a
    /// lone request is never held. Under heavy load 2 ms gave the lowest p99 (docs/benchmarks.md, "Serving").</summary>
    public TimeSpan BatchWindow { get; init; } = TimeSpan.Zero;

    /// <summary>Requests waiting at most; beyond, 503.</summary>
    public int QueueCapacity { get; init; } = 1024;

    /// <summary>Longest a request may wait for its answer; beyond, 504.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Largest request body in bytes; beyond, 413.</summary>
    public long MaxBodyBytes { get; init; } = 4 << 20;

    /// <summary>Most instances in one request.</summary>
    public int MaxInstancesPerRequest { get; init; } = 1024;

    /// <summary>Threads each forward pass may use; by default half the processors (at least 1), leaving the rest to
    /// HTTP: kernel threads wait for the next parallel region by spinning, on the cores the requests need. On 2 vCPUs
    /// one model thread served 11k requests/s where two served 7.5k (docs/benchmarks.md, "Serving").</summary>
    public int ModelThreads { get; init; } = Math.Max(1, Environment.ProcessorCount / 2);
}
