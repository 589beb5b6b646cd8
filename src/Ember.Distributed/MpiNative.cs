using System.Reflection;
using System.Runtime.InteropServices;

namespace Ember.Distributed;

/// <summary>
/// The C functions of MPI used here, bound by P/Invoke to Open MPI's <c>libmpi</c>. Open MPI's handles are pointers
/// to objects the library exports (<c>MPI_COMM_WORLD</c> is <c>&amp;ompi_mpi_comm_world</c>, <c>MPI_FLOAT</c> is
/// <c>&amp;ompi_mpi_float</c>, <c>MPI_SUM</c> is <c>&amp;ompi_mpi_op_sum</c>), read here from the library's
/// exports; <c>MPI_IN_PLACE</c> is <c>(void*)1</c> and <c>MPI_STATUS_IGNORE</c> is null (mpi.h of Open MPI 4).
/// MPICH and its derivatives encode handles as integers instead: they are detected and refused by name.
/// </summary>
internal static unsafe partial class MpiNative
{
    private const string Lib = "mpi";
    internal const int ThreadFunneled = 1;   // MPI_THREAD_FUNNELED
    internal static readonly nint InPlace = 1;

    private static nint s_handle;
    internal static nint CommWorld, Float, Double, Byte, OpSum, ErrorsReturn;
    internal static string LibraryPath = "";

    static MpiNative() => NativeLibrary.SetDllImportResolver(typeof(MpiNative).Assembly, Resolve);

    private static readonly string[] Candidates = OperatingSystem.IsMacOS()
        ? ["libmpi.40.dylib", "libmpi.dylib", "/opt/homebrew/lib/libmpi.dylib", "/usr/local/lib/libmpi.dylib"]
        : ["libmpi.so.40", "libmpi.so", "/usr/lib/x86_64-linux-gnu/libmpi.so.40", "/usr/lib/aarch64-linux-gnu/libmpi.so.40",
           "/usr/lib64/openmpi/lib/libmpi.so.40"];

    private static nint Resolve(string name, Assembly assembly, DllImportSearchPath? path) => name == Lib ? Load() : 0;

    /// <summary>Loads libmpi and reads the handles; a clear error when there is none or it is not Open MPI.</summary>
    internal static nint Load()
    {
        if (s_handle != 0) return s_handle;
        foreach (var c in Candidates)
            if (NativeLibrary.TryLoad(c, out var h))
            {
                if (!NativeLibrary.TryGetExport(h, "ompi_mpi_comm_world", out var comm))
                    throw new DllNotFoundException($"MPI: {c} is not Open MPI (no ompi_mpi_comm_world export); Ember.Distributed binds Open MPI's ABI (Debian/Ubuntu: apt-get install openmpi-bin libopenmpi3).");
                CommWorld = comm;
                Float = NativeLibrary.GetExport(h, "ompi_mpi_float");
                Double = NativeLibrary.GetExport(h, "ompi_mpi_double");
                Byte = NativeLibrary.GetExport(h, "ompi_mpi_byte");
                OpSum = NativeLibrary.GetExport(h, "ompi_mpi_op_sum");
                ErrorsReturn = NativeLibrary.GetExport(h, "ompi_mpi_errors_return");
                LibraryPath = c;
                return s_handle = h;
            }
        throw new DllNotFoundException($"MPI: no Open MPI library found (tried {string.Join(", ", Candidates)}). Install Open MPI (Debian/Ubuntu: apt-get install openmpi-bin) and start the ranks with mpirun.");
    }

    [LibraryImport(Lib)] internal static partial int MPI_Initialized(int* flag);
    [LibraryImport(Lib)] internal static partial int MPI_Finalized(int* flag);
    [LibraryImport(Lib)] internal static partial int MPI_Init_thread(int* argc, nint* argv, int required, int* provided);
    [LibraryImport(Lib)] internal static partial int MPI_Finalize();
    [LibraryImport(Lib)] internal static partial int MPI_Abort(nint comm, int code);
    [LibraryImport(Lib)] internal static partial int MPI_Comm_rank(nint comm, int* rank);
    [LibraryImport(Lib)] internal static partial int MPI_Comm_size(nint comm, int* size);
    [LibraryImport(Lib)] internal static partial int MPI_Comm_set_errhandler(nint comm, nint handler);
    [LibraryImport(Lib)] internal static partial int MPI_Allreduce(void* send, void* recv, int count, nint type, nint op, nint comm);
    [LibraryImport(Lib)] internal static partial int MPI_Iallreduce(void* send, void* recv, int count, nint type, nint op, nint comm, nint* request);
    [LibraryImport(Lib)] internal static partial int MPI_Wait(nint* request, void* status);
    [LibraryImport(Lib)] internal static partial int MPI_Test(nint* request, int* flag, void* status);
    [LibraryImport(Lib)] internal static partial int MPI_Bcast(void* buffer, int count, nint type, int root, nint comm);
    [LibraryImport(Lib)] internal static partial int MPI_Barrier(nint comm);
    [LibraryImport(Lib)] internal static partial int MPI_Error_string(int code, byte* text, int* length);
    [LibraryImport(Lib)] internal static partial double MPI_Wtime();
}
