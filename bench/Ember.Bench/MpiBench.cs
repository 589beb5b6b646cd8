using System.Diagnostics;
using System.Globalization;
using Ember.Distributed;

namespace Ember.Bench;

/// <summary>MPI all-reduce cost for the scaling model of data-parallel training (issue 23): run under
/// <c>mpirun -np N dotnet Ember.Bench.dll allreduce</c>. For float32 buffers of 4 B … 64 MB, the median time of an
/// in-place sum all-reduce (after a barrier, so every rank starts together); then a least-squares fit of
/// t(bytes) = α + β·bytes over all sizes, the latency-bandwidth model of Hockney (1994) that the notes in
/// docs/benchmarks.md extend to N ranks and hosts.</summary>
internal static class MpiBench
{
    public static void AllReduce()
    {
        var comm = MpiCommunicator.World;
        var sizes = new List<int>();
        for (int n = 1; n <= 16 << 20; n *= 4) sizes.Add(n);
        var rows = new List<(double Bytes, double Seconds)>();
        if (comm.Rank == 0) Console.WriteLine($"# {Program.CpuModel()}; {comm.Size} ranks, {Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_LOCAL_SIZE") ?? "?"} on this host, Open MPI ({MpiCommunicator.Library})");
        foreach (int n in sizes)
        {
            var buffer = new float[n];
            int reps = n <= 1 << 14 ? 200 : n <= 1 << 20 ? 30 : 8;
            var times = new List<double>();
            for (int r = -3; r < reps; r++)
            {
                comm.Barrier();
                var sw = Stopwatch.StartNew();
                comm.AllReduceSum(buffer);
                if (r >= 0) times.Add(sw.Elapsed.TotalSeconds);
            }
            // Every rank's median, then the slowest rank's: a collective is as slow as its last participant.
            times.Sort();
            var med = new[] { times[times.Count / 2] };
            var all = new double[comm.Size];
            all[comm.Rank] = med[0];
            comm.AllReduceSum(all);
            double t = all.Max();
            rows.Add((n * 4.0, t));
            if (comm.Rank == 0)
                Console.WriteLine(FormattableString.Invariant($"allreduce bytes={n * 4L,10} median_us={t * 1e6,10:F1} algbw_GBps={n * 4.0 / t / 1e9,7:F2}"));
        }
        // Least squares for t = α + β·b in relative error (each size weighs the same whatever its time: rows
        // [1/t, b/t] against 1), so the microsecond latencies and the millisecond transfers both shape the fit.
        double s11 = 0, s12 = 0, s22 = 0, r1 = 0, r2 = 0;
        foreach (var (b, t) in rows)
        {
            double u = 1 / t, v = b / t;
            s11 += u * u; s12 += u * v; s22 += v * v; r1 += u; r2 += v;
        }
        double det = s11 * s22 - s12 * s12;
        double alpha = (r1 * s22 - r2 * s12) / det, beta = (s11 * r2 - s12 * r1) / det;
        double worst = rows.Max(x => Math.Abs(alpha + beta * x.Bytes - x.Seconds) / x.Seconds);
        if (comm.Rank == 0)
            Console.WriteLine(FormattableString.Invariant(
                $"fit (relative least squares): alpha_us={alpha * 1e6:F2} beta_ns_per_byte={beta * 1e9:F4} (1/beta = {1 / beta / 1e9:F2} GB/s); worst relative error {worst * 100:F0}%"));
        MpiCommunicator.Shutdown();
    }
}
