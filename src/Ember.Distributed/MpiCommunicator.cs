using System.Text;

namespace Ember.Distributed;

/// <summary>An MPI call failed: the call and MPI's own message.</summary>
public sealed class MpiException(string message) : Exception(message);

/// <summary>
/// MPI's world communicator through Open MPI: rank, size, all-reduce (blocking and non-blocking), broadcast, barrier,
/// abort. MPI is initialized on first use with <c>MPI_THREAD_FUNNELED</c> (every MPI call from the thread that
/// initialized it, as Ember's backward pass runs its hooks on the training thread) and errors are returned, not fatal,
/// so that each failure becomes an <see cref="MpiException"/> naming the call. Start the processes with
/// <c>mpirun -np N</c>; a process started without it is a world of one.
/// </summary>
public sealed unsafe class MpiCommunicator
{
    private static MpiCommunicator? s_world;
    private static readonly object s_gate = new();
    private readonly int _thread;

    private MpiCommunicator(int rank, int size)
    {
        Rank = rank;
        Size = size;
        _thread = Environment.CurrentManagedThreadId;
    }

    /// <summary>This process's rank in the world.</summary>
    public int Rank { get; }

    /// <summary>The number of processes in the world.</summary>
    public int Size { get; }

    /// <summary>The MPI library loaded.</summary>
    public static string Library => MpiNative.LibraryPath;

    /// <summary>True when this process was started by Open MPI's launcher (mpirun/mpiexec) in a world of more than one.</summary>
    public static bool LaunchedByMpirun =>
        int.TryParse(Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_SIZE"), out int n) && n > 1;

    /// <summary>Processes of this world on this host (Open MPI's OMPI_COMM_WORLD_LOCAL_SIZE; 1 when not launched by it).</summary>
    public static int LocalSize =>
        int.TryParse(Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_LOCAL_SIZE"), out int n) && n > 0 ? n : 1;

    /// <summary>The world communicator; initializes MPI on first use (on the calling thread, which must make every later MPI call).</summary>
    public static MpiCommunicator World
    {
        get
        {
            lock (s_gate)
            {
                if (s_world is not null) return s_world;
                MpiNative.Load();
                int flag, provided, rank, size;
                Check(MpiNative.MPI_Initialized(&flag), "MPI_Initialized");
                if (flag == 0) Check(MpiNative.MPI_Init_thread(null, null, MpiNative.ThreadFunneled, &provided), "MPI_Init_thread");
                Check(MpiNative.MPI_Comm_set_errhandler(MpiNative.CommWorld, MpiNative.ErrorsReturn), "MPI_Comm_set_errhandler");
                Check(MpiNative.MPI_Comm_rank(MpiNative.CommWorld, &rank), "MPI_Comm_rank");
                Check(MpiNative.MPI_Comm_size(MpiNative.CommWorld, &size), "MPI_Comm_size");
                return s_world = new MpiCommunicator(rank, size);
            }
        }
    }

    /// <summary>True once MPI has been initialized in this process (and not yet finalized).</summary>
    public static bool IsInitialized => s_world is not null;

    private void OnOwnerThread(string op)
    {
        if (Environment.CurrentManagedThreadId != _thread)
            throw new InvalidOperationException($"MPI {op}: called from thread {Environment.CurrentManagedThreadId}; MPI was initialized funneled on thread {_thread}, which must make every MPI call.");
    }

    /// <summary>The element-wise sum over all ranks, in place.</summary>
    public void AllReduceSum(Span<float> values)
    {
        OnOwnerThread("Allreduce");
        for (int at = 0; at < values.Length; at += int.MaxValue / 2)
        {
            var part = values.Slice(at, Math.Min(int.MaxValue / 2, values.Length - at));
            fixed (float* p = part) Check(MpiNative.MPI_Allreduce((void*)MpiNative.InPlace, p, part.Length, MpiNative.Float, MpiNative.OpSum, MpiNative.CommWorld), "MPI_Allreduce");
        }
    }

    /// <summary>The element-wise sum over all ranks, in place.</summary>
    public void AllReduceSum(Span<double> values)
    {
        OnOwnerThread("Allreduce");
        fixed (double* p = values) Check(MpiNative.MPI_Allreduce((void*)MpiNative.InPlace, p, values.Length, MpiNative.Double, MpiNative.OpSum, MpiNative.CommWorld), "MPI_Allreduce");
    }

    /// <summary>Starts summing <paramref name="count"/> floats of <paramref name="pinned"/> from <paramref name="offset"/>
    /// over all ranks, in place (<c>MPI_Iallreduce</c>). The array must be pinned (<see cref="GC.AllocateArray{T}(int, bool)"/>
    /// with pinned: true) and left alone until the request completes.</summary>
    public MpiRequest AllReduceSumStart(float[] pinned, int offset, int count)
    {
        OnOwnerThread("Iallreduce");
        ArgumentOutOfRangeException.ThrowIfGreaterThan((long)offset + count, pinned.Length);
        nint request;
        fixed (float* p = &pinned[offset])
            Check(MpiNative.MPI_Iallreduce((void*)MpiNative.InPlace, p, count, MpiNative.Float, MpiNative.OpSum, MpiNative.CommWorld, &request), "MPI_Iallreduce");
        return new MpiRequest(this, request, pinned);
    }

    /// <summary>Rank <paramref name="root"/>'s values on every rank.</summary>
    public void Broadcast(Span<float> values, int root = 0)
    {
        OnOwnerThread("Bcast");
        fixed (float* p = values) Check(MpiNative.MPI_Bcast(p, values.Length, MpiNative.Float, root, MpiNative.CommWorld), "MPI_Bcast");
    }

    /// <summary>Rank <paramref name="root"/>'s bytes on every rank.</summary>
    public void Broadcast(Span<byte> values, int root = 0)
    {
        OnOwnerThread("Bcast");
        fixed (byte* p = values) Check(MpiNative.MPI_Bcast(p, values.Length, MpiNative.Byte, root, MpiNative.CommWorld), "MPI_Bcast");
    }

    /// <summary>Waits until every rank has reached this call.</summary>
    public void Barrier()
    {
        OnOwnerThread("Barrier");
        Check(MpiNative.MPI_Barrier(MpiNative.CommWorld), "MPI_Barrier");
    }

    /// <summary>Seconds since an arbitrary origin, MPI's clock (<c>MPI_Wtime</c>).</summary>
    public static double WallTime() => MpiNative.MPI_Wtime();

    /// <summary>Ends every process of the world with <paramref name="code"/> (<c>MPI_Abort</c>): what a rank does after an
    /// error, so that the others do not wait forever in their next collective.</summary>
    public static void Abort(int code)
    {
        if (s_world is null) return;
        MpiNative.MPI_Abort(MpiNative.CommWorld, code);
    }

    /// <summary>Finalizes MPI (once, on the thread that initialized it); further MPI calls are errors.</summary>
    public static void Shutdown()
    {
        lock (s_gate)
        {
            if (s_world is null) return;
            int flag;
            MpiNative.MPI_Finalized(&flag);
            if (flag == 0) MpiNative.MPI_Finalize();
        }
    }

    internal static void Check(int code, string call)
    {
        if (code == 0) return;
        var buf = stackalloc byte[512];
        int len = 0;
        string text = MpiNative.MPI_Error_string(code, buf, &len) == 0 ? Encoding.ASCII.GetString(buf, Math.Clamp(len, 0, 512)) : $"error {code}";
        throw new MpiException($"{call} failed: {text} (MPI error {code})");
    }
}

/// <summary>A non-blocking MPI operation in flight.</summary>
public sealed unsafe class MpiRequest
{
    private readonly MpiCommunicator _comm;
    private nint _request;
    private readonly object _buffer;   // the pinned buffer, kept reachable until the operation completes

    internal MpiRequest(MpiCommunicator comm, nint request, object buffer)
    {
        _comm = comm;
        _request = request;
        _buffer = buffer;
    }

    /// <summary>True once the operation has completed.</summary>
    public bool IsCompleted => _request == 0;

    /// <summary>Drives the operation (Open MPI progresses non-blocking collectives inside MPI calls) and says whether it has completed.</summary>
    public bool Test()
    {
        if (_request == 0) return true;
        int flag;
        nint r = _request;
        MpiCommunicator.Check(MpiNative.MPI_Test(&r, &flag, null), "MPI_Test");
        if (flag != 0) _request = 0;
        GC.KeepAlive(_buffer);
        return flag != 0;
    }

    /// <summary>Waits for the operation to complete.</summary>
    public void Wait()
    {
        if (_request == 0) return;
        nint r = _request;
        MpiCommunicator.Check(MpiNative.MPI_Wait(&r, null), "MPI_Wait");
        _request = 0;
        GC.KeepAlive(_buffer);
        GC.KeepAlive(_comm);
    }
}
