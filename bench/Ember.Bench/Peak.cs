using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Ember.Bench;

/// <summary>Measures the FMA peak of this machine: 12 independent FMA chains per thread, register-only,
/// at the widest vector width the JIT accelerates.</summary>
internal static class Peak
{
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Chains512(long n)
    {
        Vector512<float> x0 = default, x1 = default, x2 = default, x3 = default, x4 = default, x5 = default;
        Vector512<float> x6 = default, x7 = default, x8 = default, x9 = default, x10 = default, x11 = default;
        var m = Vector512.Create(0.999999f);
        var a = Vector512.Create(1e-7f);
        for (long i = 0; i < n; i++)
        {
            x0 = Vector512.FusedMultiplyAdd(x0, m, a); x1 = Vector512.FusedMultiplyAdd(x1, m, a);
            x2 = Vector512.FusedMultiplyAdd(x2, m, a); x3 = Vector512.FusedMultiplyAdd(x3, m, a);
            x4 = Vector512.FusedMultiplyAdd(x4, m, a); x5 = Vector512.FusedMultiplyAdd(x5, m, a);
            x6 = Vector512.FusedMultiplyAdd(x6, m, a); x7 = Vector512.FusedMultiplyAdd(x7, m, a);
            x8 = Vector512.FusedMultiplyAdd(x8, m, a); x9 = Vector512.FusedMultiplyAdd(x9, m, a);
            x10 = Vector512.FusedMultiplyAdd(x10, m, a); x11 = Vector512.FusedMultiplyAdd(x11, m, a);
        }
        return (x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + x10 + x11).GetElement(0);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Chains256(long n)
    {
        Vector256<float> x0 = default, x1 = default, x2 = default, x3 = default, x4 = default, x5 = default;
        Vector256<float> x6 = default, x7 = default, x8 = default, x9 = default, x10 = default, x11 = default;
        var m = Vector256.Create(0.999999f);
        var a = Vector256.Create(1e-7f);
        for (long i = 0; i < n; i++)
        {
            x0 = Vector256.FusedMultiplyAdd(x0, m, a); x1 = Vector256.FusedMultiplyAdd(x1, m, a);
            x2 = Vector256.FusedMultiplyAdd(x2, m, a); x3 = Vector256.FusedMultiplyAdd(x3, m, a);
            x4 = Vector256.FusedMultiplyAdd(x4, m, a); x5 = Vector256.FusedMultiplyAdd(x5, m, a);
            x6 = Vector256.FusedMultiplyAdd(x6, m, a); x7 = Vector256.FusedMultiplyAdd(x7, m, a);
            x8 = Vector256.FusedMultiplyAdd(x8, m, a); x9 = Vector256.FusedMultiplyAdd(x9, m, a);
            x10 = Vector256.FusedMultiplyAdd(x10, m, a); x11 = Vector256.FusedMultiplyAdd(x11, m, a);
        }
        return (x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + x10 + x11).GetElement(0);
    }

    /// <summary>Median GFLOP/s over 5 runs of ~0.3 s with <paramref name="threads"/> threads.</summary>
    public static double Measure(int threads)
    {
        bool wide = Vector512.IsHardwareAccelerated;
        int lanes = wide ? 16 : 8;
        long n = 30_000_000;
        Func<long, float> f = wide ? Chains512 : Chains256;
        f(1000);
        var runs = new List<double>();
        for (int r = 0; r < 5; r++)
        {
            var sw = Stopwatch.StartNew();
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, _ => f(n));
            runs.Add(threads * 12.0 * lanes * 2 * n / sw.Elapsed.TotalSeconds / 1e9);
        }
        runs.Sort();
        return runs[runs.Count / 2];
    }
}
