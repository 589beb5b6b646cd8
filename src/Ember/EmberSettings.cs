using Ember.Kernels;

namespace Ember;

/// <summary>
/// Every setting that changes how Ember computes (never what): thread count, layer fusion, activation recycling, the
/// buffer pool and the kernels' tuning knobs. Read from the environment once, at first use (<see cref="FromEnvironment"/>);
/// changed for the whole process through <see cref="Global"/>, or for one piece of code through <see cref="Scope"/>,
/// which holds for the calling flow only (an <see cref="AsyncLocal{T}"/>, carried into Ember's worker threads for the
/// parallel regions that flow starts), so tests running side by side never see each other's settings.
/// </summary>
/// <example>
/// <code>
/// using (EmberSettings.Scope(EmberSettings.Current with { NumThreads = 1, FuseLayers = false }))
///     loss = model.Call(x);   // one thread, every layer on its own, in this flow only
/// </code>
/// </example>
public sealed record EmberSettings
{
    private readonly int _numThreads = Environment.ProcessorCount;
    private readonly int _convColumns = 3072, _convScratch = 1 << 20;

    /// <summary>Maximum number of threads a kernel uses (PyTorch's <c>torch.set_num_threads</c>). Default: the
    /// processor count; environment: <c>EMBER_NUM_THREADS</c>.</summary>
    public int NumThreads
    {
        get => _numThreads;
        init => _numThreads = value >= 1 ? value
            : throw new ArgumentOutOfRangeException(nameof(NumThreads), $"EmberSettings.NumThreads must be at least 1, got {value}.");
    }

    /// <summary>A <see cref="NN.Conv2d"/> or <see cref="NN.Linear"/> followed by a <see cref="NN.ReLU"/> runs as one op
    /// (same values and gradients, one activation instead of two). Default on; environment: <c>EMBER_FUSE=0</c> turns it off.</summary>
    public bool FuseLayers { get; init; } = true;

    /// <summary>With <see cref="FuseLayers"/>: Conv2d, ReLU and a halving MaxPool2d run as one op that never stores the
    /// full-resolution activation. Default on; environment: <c>EMBER_FUSE_POOL=0</c>.</summary>
    public bool FusePooling { get; init; } = true;

    /// <summary>Intermediate activations inside built-in modules go back to the buffer pool once the op that made them
    /// has run backward. Default on; environment: <c>EMBER_RECYCLE=0</c>.</summary>
    public bool RecycleActivations { get; init; } = true;

    /// <summary>Large float32 buffers are reused from a pool instead of fresh arrays. Default on; environment:
    /// <c>EMBER_BUFFER_POOL=0</c>.</summary>
    public bool BufferPool { get; init; } = true;

    /// <summary>Columns of one convolution chunk's unfolded matrix (images are grouped until it is this wide).
    /// Default 3072; environment: <c>EMBER_CONV_COLS</c>.</summary>
    public int ConvColumns
    {
        get => _convColumns;
        init => _convColumns = value >= 1 ? value
            : throw new ArgumentOutOfRangeException(nameof(ConvColumns), $"EmberSettings.ConvColumns must be at least 1, got {value}.");
    }

    /// <summary>Elements of one convolution chunk's unfolded matrix at most. Default 2^20; environment:
    /// <c>EMBER_CONV_SCRATCH</c>.</summary>
    public int ConvScratch
    {
        get => _convScratch;
        init => _convScratch = value >= 1 ? value
            : throw new ArgumentOutOfRangeException(nameof(ConvScratch), $"EmberSettings.ConvScratch must be at least 1, got {value}.");
    }

    /// <summary>The matrix product's micro-kernel family (the widest the machine runs; tests pick narrower ones).</summary>
    internal GemmPath GemmPath { get; init; } = Gemm.DetectPath();

    /// <summary>Weight-gradient products (k ≫ m, n) split along k on the threads.</summary>
    internal bool GemmKSplit { get; init; } = true;

    /// <summary>Tall products with a small B pack B once for all threads.</summary>
    internal bool GemmSharedB { get; init; } = true;

    /// <summary>AVX-512 narrow micro-kernels at the right edge instead of the full one on a padded tile.</summary>
    internal bool GemmNarrowEdges { get; init; } = true;

    /// <summary>AVX-512 packing of A.</summary>
    internal bool GemmPackA512 { get; init; } = true;

    /// <summary>The settings the environment asks for (unset or unparsable variables keep the defaults).</summary>
    public static EmberSettings FromEnvironment()
    {
        static string? Env(string name) => Environment.GetEnvironmentVariable(name);
        static int Positive(string name, int fallback) => int.TryParse(Env(name), out int v) && v > 0 ? v : fallback;
        return new EmberSettings
        {
            NumThreads = Positive("EMBER_NUM_THREADS", Environment.ProcessorCount),
            FuseLayers = Env("EMBER_FUSE") != "0",
            FusePooling = Env("EMBER_FUSE_POOL") != "0",
            RecycleActivations = Env("EMBER_RECYCLE") != "0",
            BufferPool = Env("EMBER_BUFFER_POOL") != "0",
            ConvColumns = Positive("EMBER_CONV_COLS", 3072),
            ConvScratch = Positive("EMBER_CONV_SCRATCH", 1 << 20),
        };
    }

    private static EmberSettings s_global = FromEnvironment();
    private static readonly AsyncLocal<EmberSettings?> s_scoped = new();
    [ThreadStatic] private static EmberSettings? t_region;

    /// <summary>The process-wide settings (those in effect outside any <see cref="Scope"/>).</summary>
    public static EmberSettings Global
    {
        get => s_global;
        set => s_global = value ?? throw new ArgumentNullException(nameof(value));
    }

    /// <summary>The settings in effect here: the innermost <see cref="Scope"/> of this flow, else <see cref="Global"/>.
    /// Inside a parallel region, the settings of the flow that started it.</summary>
    public static EmberSettings Current => t_region ?? s_scoped.Value ?? s_global;

    /// <summary>Makes <paramref name="settings"/> current for this flow (and the parallel regions it starts) until
    /// the returned handle is disposed; scopes nest.</summary>
    public static IDisposable Scope(EmberSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var previous = s_scoped.Value;
        s_scoped.Value = settings;
        return new Restore(previous);
    }

    private sealed class Restore(EmberSettings? previous) : IDisposable
    {
        private bool _done;
        public void Dispose()
        {
            if (_done) return;
            _done = true;
            s_scoped.Value = previous;
        }
    }

    /// <summary>Runs a parallel region's task on a worker thread under the settings of the flow that started it.</summary>
    internal static void RunAs(EmberSettings settings, Action<int> body, int index)
    {
        var saved = t_region;
        t_region = settings;
        try { body(index); }
        finally { t_region = saved; }
    }
}
