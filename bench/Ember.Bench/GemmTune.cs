using System.Diagnostics;
using Ember.Kernels;

namespace Ember.Bench;

/// <summary>Single-thread GEMM throughput on the shapes convolution and linear layers produce, for several KC block
/// depths: <c>gemm-tune</c>. Used to choose the blocking, not part of the reported comparison.</summary>
internal static unsafe class GemmTune
{
    public static void Run()
    {
        (int M, int K, int N, bool TransA, string What)[] shapes =
        [
            (64, 288, 2940, false, "conv2 fwd"), (288, 64, 2940, true, "conv2 dX"), (64, 288, 2940, false, "conv2 dW (K=2940)"),
            (32, 9, 2352, false, "conv1 fwd"), (128, 3136, 128, false, "fc1 fwd"), (512, 512, 512, false, "square 512"),
        ];
        int original = Gemm.KC;
        foreach (int kc in new[] { 128, 192, 256, 384 })
        {
            Gemm.KC = kc;
            foreach (var (m, k, n, transA, what) in shapes)
            {
                // "conv2 dW" multiplies (64 × L)·(L × 288): swap roles so K is the long dimension.
                bool dw = what.StartsWith("conv2 dW");
                int mm = m, kk = dw ? n : k, nn = dw ? k : n;
                var a = new float[mm * kk]; var b = new float[kk * nn]; var c = new float[mm * nn];
                for (int i = 0; i < a.Length; i++) a[i] = (i % 13) * 0.01f;
                for (int i = 0; i < b.Length; i++) b[i] = (i % 7) * 0.01f;
                fixed (float* pa = a, pb = b, pc = c)
                {
                    int rsa = transA ? 1 : kk, csa = transA ? mm : 1;
                    int rsb = dw ? 1 : nn, csb = dw ? kk : 1;
                    float* xa = pa, xb = pb, xc = pc;
                    void Op() => Gemm.Sgemm(mm, nn, kk, xa, rsa, csa, xb, rsb, csb, xc, nn, false, parallel: false);
                    for (int i = 0; i < 20; i++) Op();
                    var times = new List<double>();
                    for (int r = 0; r < 11; r++)
                    {
                        int reps = Math.Max(1, (int)(2e8 / (2.0 * mm * nn * kk)));
                        var sw = Stopwatch.StartNew();
                        for (int i = 0; i < reps; i++) Op();
                        times.Add(sw.Elapsed.TotalSeconds / reps);
                    }
                    times.Sort();
                    Console.WriteLine($"kc={kc} {what,-20} {mm}x{kk}x{nn}: {2.0 * mm * nn * kk / times[5] / 1e9:F1} GFLOP/s");
                }
            }
        }
        Gemm.KC = original;
    }
}
