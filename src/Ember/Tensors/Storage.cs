namespace Ember;

/// <summary>A flat, typed buffer shared by a tensor and all of its views.</summary>
internal abstract class Storage
{
    public abstract DType DType { get; }
    public abstract int Length { get; }
    /// <summary>Bumped by every in-place write; autograd uses it to detect saved tensors modified in place.</summary>
    public int Version;
    public abstract Array RawArray { get; }

    /// <summary>Non-zero while this thread runs a backward pass (<see cref="Engine"/>): float32 buffers allocated then
    /// are gradient temporaries the engine may hand back to <see cref="BufferPool"/> once nothing refers to them.</summary>
    [ThreadStatic] internal static int t_backwardEpoch;
    private static int s_epochs;

    internal static int BeginBackward() => t_backwardEpoch = Interlocked.Increment(ref s_epochs);
    internal static void EndBackward() => t_backwardEpoch = 0;

    /// <summary>Leaves the backward pass this thread is in (for a forward recomputed inside one: its buffers are
    /// activations, not gradient temporaries) and returns it, for <see cref="ResumeBackward"/>.</summary>
    internal static int SuspendBackward()
    {
        int e = t_backwardEpoch;
        t_backwardEpoch = 0;
        return e;
    }

    internal static void ResumeBackward(int epoch) => t_backwardEpoch = epoch;

    /// <summary>The backward pass that allocated this buffer (0: allocated outside one, never recycled).</summary>
    public int Epoch;

    /// <summary>The <see cref="Version"/> at which <c>Tensor.Zero()</c> last zeroed the whole buffer (−1: never). While
    /// Version still equals it, the buffer is known to hold zeros, and a product that would add into it can
    /// overwrite it instead (no read of the zeros).</summary>
    public int ZeroVersion = -1;

    public static Storage Allocate(DType dtype, int length, bool zero = true) => dtype switch
    {
        DType.Float32 => AllocateFloat(length, zero),
        DType.Float64 => new Storage<double>(length, zero),
        DType.Complex64 => new Storage<Complex64>(length, zero),
        DType.Int64 => new Storage<long>(length, zero),
        DType.Bool => new Storage<bool>(length, zero),
        DType.Int8 => new Storage<sbyte>(length, zero),
        DType.BFloat16 => new Storage<BFloat16>(length, zero),
        DType.Float16 => new Storage<Half>(length, zero),
        DType.Complex128 => new Storage<System.Numerics.Complex>(length, zero),
        _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
    };

    private static Storage<float> AllocateFloat(int length, bool zero)
    {
        Storage<float> st;
        if (length >= BufferPool.MinLength && BufferPool.TryTake(length) is float[] reused)
        {
            if (zero) Array.Clear(reused);
            st = new Storage<float>(reused);
        }
        else st = new Storage<float>(length, zero);
        if (length >= BufferPool.MinLength)
        {
            st.Epoch = t_backwardEpoch;
            BufferPool.t_scope?.Add(st.Data);
        }
        return st;
    }
}

/// <summary>Recycles large float32 buffers. On this class of machine a fresh multi-megabyte array costs more than the
/// arithmetic done in it (page faults and zeroing: ~0.1–0.25 ms per MB, measured), and a training step allocates the
/// same shapes again and again. Only gradient temporaries of a backward pass come back here, and only when the
/// engine has proved that nothing refers to them any more (see <see cref="Engine"/>); any allocation may take one.
/// Bounded: buffers beyond <see cref="MaxFloats"/> in total are left to the GC.</summary>
internal static class BufferPool
{
    internal const int MinLength = 85_000 / sizeof(float); // arrays the GC puts on the large-object heap
    private const long MaxFloats = 128L << 20;            // 512 MB
    private static readonly Dictionary<int, Stack<float[]>> s_free = new();
    private static readonly object s_gate = new();
    private static long s_floats;

    /// <summary>Buffers taken back since start (tests check the pool was exercised).</summary>
    internal static long Returned;

    /// <summary>Buffers taken back by this thread (tests running side by side count their own).</summary>
    [ThreadStatic] internal static long ReturnedHere;

    /// <summary>Off: every allocation is fresh and nothing is kept (tests compare both ways).</summary>
    internal static bool Enabled => EmberSettings.Current.BufferPool;

    public static float[]? TryTake(int length)
    {
        if (!Enabled) return null;
        lock (s_gate)
        {
            if (!s_free.TryGetValue(length, out var stack) || stack.Count == 0) return null;
            s_floats -= length;
            return stack.Pop();
        }
    }

    public static void Return(float[] buffer)
    {
        if (!Enabled) return;
        lock (s_gate)
        {
            if (s_floats + buffer.Length > MaxFloats) return;
            if (!s_free.TryGetValue(buffer.Length, out var stack)) s_free[buffer.Length] = stack = new Stack<float[]>();
            stack.Push(buffer);
            s_floats += buffer.Length;
            Returned++;
            ReturnedHere++;
        }
    }

    /// <summary>The large float32 buffers allocated on this thread inside <see cref="ReturnAfter"/>.</summary>
    [ThreadStatic] internal static List<float[]>? t_scope;

    /// <summary>Until disposed, every large float32 buffer allocated on this thread is recorded; disposing hands them all
    /// back to the pool. For a forward pass whose results are copied out before the scope ends (a server's batched
    /// inference in eval mode, without gradients): its activations come from and go back to the pool instead of being
    /// fresh large-object allocations every pass, each of which moves the GC toward a full collection. Only for code
    /// that keeps no tensor made inside the scope: a module that cached one would see its buffer reused.</summary>
    internal static Scope ReturnAfter() => new();

    internal sealed class Scope : IDisposable
    {
        private readonly List<float[]>? _outer = t_scope;
        private readonly List<float[]> _mine = [];
        private bool _done;

        public Scope() => t_scope = _mine;

        /// <summary>Leaves <paramref name="kept"/>'s buffer out of what goes back (the result a caller keeps).</summary>
        public void Keep(Tensor kept)
        {
            if (kept._storage is Storage<float> st) _mine.RemoveAll(b => ReferenceEquals(b, st.Data));
        }

        public void Dispose()
        {
            if (_done) return;
            _done = true;
            t_scope = _outer;
            foreach (var buffer in _mine) Return(buffer);
        }
    }

    /// <summary>Drops every pooled buffer (tests; or to give memory back).</summary>
    public static void Clear()
    {
        lock (s_gate) { s_free.Clear(); s_floats = 0; }
    }
}

internal sealed class Storage<T> : Storage where T : unmanaged
{
    public readonly T[] Data;
    private static readonly DType s_dtype = DTypeExtensions.Of<T>();

    public Storage(int length, bool zero)
    {
        // Uninitialized allocation skips the zeroing pass for buffers a kernel overwrites entirely.
        Data = zero ? new T[length] : GC.AllocateUninitializedArray<T>(length);
    }

    public Storage(T[] data) => Data = data;

    public override DType DType => s_dtype;
    public override int Length => Data.Length;
    public override Array RawArray => Data;
}
