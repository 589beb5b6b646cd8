using System.Diagnostics;
using Ember.Kernels;

namespace Ember.Bench;

/// <summary>Throughput of Ember's float32 exp, tanh, sigmoid and softmax row kernels (ns per element, median of 31 runs,
/// each 64 passes over 16K elements that stay in L2: the arithmetic, not memory bandwidth). Run under DOTNET_EnableAVX512F=0 / DOTNET_EnableAVX2=0 to time the narrower paths.</summary>
internal static class FastMathBench
{
    public static void Run()
    {
        const int n = 1 << 14, passes = 64;
        var rng = new Random(1);
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float)(rng.NextDouble() * 20 - 10);
        var d = new float[n];
        string isa = System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated ? "Vector512"
            : System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated ? "Vector256"
            : System.Runtime.Intrinsics.Vector128.IsHardwareAccelerated ? "Vector128" : "scalar";
        Console.WriteLine($"# {Program.CpuModel()}; widest vector {isa}");
        void Case(string name, Action op)
        {
            op();
            var times = new double[31];
            for (int r = 0; r < times.Length; r++)
            {
                var sw = Stopwatch.StartNew();
                for (int p = 0; p < passes; p++) op();
                times[r] = sw.Elapsed.TotalNanoseconds / n / passes;
            }
            Array.Sort(times);
            Console.WriteLine($"fastmath op={name} width={isa} ns_per_element={times[times.Length / 2]:F3}");
        }
        Case("exp", () => FastMath.Exp(x, d));
        Case("tanh", () => FastMath.Tanh(x, d));
        Case("sigmoid", () => FastMath.Sigmoid(x, d));
        Case("softmax-row", () =>
        {
            for (int r = 0; r < n; r += 1024) FastMath.ExpSubSum(x.AsSpan(r, 1024), 10, d.AsSpan(r, 1024));
        });
    }
}
