using System.Diagnostics;
using Ember.Kernels;

namespace Ember.Bench;

/// <summary>Single-thread GEMM throughput on the shapes convolution and linear layers produce, for several KC block
/// depths: <c>gemm-tune</c>. Used to choose the blocking, not part of the reported comparison.</summary>
internal static unsafe class GemmTune
{
    /// <summary>The micro-kernel alone on L1-resident panels (<c>gemm-micro</c>): what the blocked loops can reach at best.</summary>
    public static void Micro(bool pair = false)
    {
        if (pair)
        {
            // The same L1-resident loop on two threads at once: the kernel's scaling when nothing leaves the core.
            for (int round = 0; round < 3; round++)
            {
                double[] rates = new double[2];
                var ts = Enumerable.Range(0, 2).Select(t => new Thread(() => rates[t] = MicroRate(256))).ToArray();
                foreach (var th in ts) th.Start();
                foreach (var th in ts) th.Join();
                Console.WriteLine($"micro alone {MicroRate(256):F1} GFLOP/s; two threads together {rates[0] + rates[1]:F1} GFLOP/s");
            }
            return;
        }
        var path = Gemm.Path;
        int mr = path == GemmPath.Avx512 ? Gemm.Micro512MR : Gemm.Micro256MR, nr = path == GemmPath.Avx512 ? Gemm.Micro512NR : Gemm.Micro256NR;
        foreach (int kc in new[] { 64, 128, 256, 384 })
        {
            var a = new float[mr * kc]; var b = new float[nr * kc]; var c = new float[mr * nr];
            for (int i = 0; i < a.Length; i++) a[i] = (i % 13) * 0.01f;
            for (int i = 0; i < b.Length; i++) b[i] = (i % 7) * 0.01f;
            fixed (float* pa = a, pb = b, pc = c)
            {
                int reps = (int)(4e8 / (2.0 * mr * nr * kc));
                var times = new List<double>();
                for (int r = 0; r < 7; r++)
                {
                    var sw = Stopwatch.StartNew();
                    if (path == GemmPath.Avx512) for (int i = 0; i < reps; i++) Gemm.Micro512(kc, pa, pb, pc, nr, false);
                    else for (int i = 0; i < reps; i++) Gemm.Micro256(kc, pa, pb, pc, nr, false);
                    times.Add(sw.Elapsed.TotalSeconds / reps);
                }
                times.Sort();
                Console.WriteLine($"micro {path} {mr}x{nr} kc={kc}: {2.0 * mr * nr * kc / times[3] / 1e9:F1} GFLOP/s");
            }
        }
    }

    private static double MicroRate(int kc)
    {
        int mr = Gemm.Micro256MR, nr = Gemm.Micro256NR;
        var a = new float[mr * kc]; var b = new float[nr * kc]; var c = new float[mr * nr];
        fixed (float* pa = a, pb = b, pc = c)
        {
            int reps = (int)(2e9 / (2.0 * mr * nr * kc));
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < reps; i++) Gemm.Micro256(kc, pa, pb, pc, nr, false);
            return 2.0 * mr * nr * kc * reps / sw.Elapsed.TotalSeconds / 1e9;
        }
    }

    /// <summary>Square products on the AVX2 path over a grid of blocking parameters (<c>gemm-grid</c>), rounds
    /// interleaved so that a noisy moment hits every setting alike; medians.</summary>
    public static void Grid(string[] args)
    {
        int threads = args.Length > 0 ? int.Parse(args[0]) : 1;
        int[] sizes = args.Length > 1 ? args[1].Split(',').Select(int.Parse).ToArray() : [256, 512, 1024];
        var settings = new List<(int Mc, int Kc, int Nc)>();
        if (args.Contains("--matmul")) settings.AddRange([(24, 256, 2048), (-1, 256, 2048)]);   // Mc −1: through Tensor.Matmul
        else if (args.Contains("--parallel-flops"))
            foreach (int f in new[] { 1, 2, 3, 4 }) settings.Add((24, 256, 2048 + f));   // Nc 2048 + f: threshold f·10⁶ flops
        else if (args.Contains("--kc"))
            foreach (int mc in new[] { 12, 24 })
                foreach (int kc in new[] { 256, 320, 384, 448, 512 })
                    settings.Add((mc, kc, 2048));
        else
            foreach (int mc in new[] { 12, 24, 48 })
                foreach (int kc in new[] { 128, 256, 384, 512 })
                    foreach (int nc in new[] { 256, 512, 2048 })
                        settings.Add((mc, kc, nc));
        Ember.Parallelism.NumThreads = threads;
        foreach (int n in sizes)
        {
            var a = new float[n * n]; var b = new float[n * n]; var c = new float[n * n];
            for (int i = 0; i < a.Length; i++) { a[i] = (i % 13) * 0.01f; b[i] = (i % 7) * 0.01f; }
            var results = settings.Select(_ => new List<double>()).ToArray();
            var ta = Tensor.FromArray(a, [n, n]); var tb = Tensor.FromArray(b, [n, n]);
            fixed (float* pa = a, pb = b, pc = c)
            {
                float* xa = pa, xb = pb, xc = pc;
                int reps = Math.Max(1, (int)(1e8 / (2.0 * n * n * n)));
                for (int round = 0; round < (args.Contains("--kc") || args.Contains("--parallel-flops") ? 11 : 5); round++)
                    for (int s = 0; s < settings.Count; s++)
                    {
                        bool viaTensor = settings[s].Mc < 0;
                        (Gemm.Avx2MCPanels, Gemm.KC, Gemm.Avx2NC) = viaTensor ? (24, 256, 2048) : (settings[s].Mc, settings[s].Kc, settings[s].Nc / 2048 * 2048);
                        Gemm.ParallelFlops = settings[s].Nc % 2048 == 0 ? 2_000_000 : settings[s].Nc % 2048 * 1_000_000L;
                        void Op() { if (viaTensor) ta.Matmul(tb); else Gemm.Sgemm(n, n, n, xa, n, 1, xb, n, 1, xc, n, false); }
                        Op();
                        var sw = Stopwatch.StartNew();
                        for (int i = 0; i < reps; i++) Op();
                        results[s].Add(2.0 * n * n * n * reps / sw.Elapsed.TotalSeconds / 1e9);
                    }
            }
            var order = Enumerable.Range(0, settings.Count).OrderByDescending(s => Median(results[s])).ToArray();
            foreach (int s in order.Take(8))
                Console.WriteLine($"n={n} threads={threads} {(settings[s].Mc < 0 ? "Tensor.Matmul" : $"mc={settings[s].Mc * 6}")} kc={settings[s].Kc} nc={settings[s].Nc / 2048 * 2048}{(settings[s].Nc % 2048 == 0 ? "" : $" parallel-flops={settings[s].Nc % 2048}M")}: {Median(results[s]):F1} GFLOP/s");
            int d = settings.IndexOf((24, 256, 2048));
            if (d >= 0) Console.WriteLine($"n={n} threads={threads} current mc=144 kc=256 nc=2048: {Median(results[d]):F1} GFLOP/s");
        }
        (Gemm.Avx2MCPanels, Gemm.KC, Gemm.Avx2NC) = (24, 256, 2048);
    }

    /// <summary>Two threads, each its own single-threaded product on its own buffers (<c>gemm-pair</c>): what the cores
    /// give together when nothing is shared, for judging the two-thread split.</summary>
    public static void Pair(int n)
    {
        var bufs = Enumerable.Range(0, 2).Select(_ => (A: new float[n * n], B: new float[n * n], C: new float[n * n])).ToArray();
        foreach (var (a, b, _) in bufs) for (int i = 0; i < a.Length; i++) { a[i] = (i % 13) * 0.01f; b[i] = (i % 7) * 0.01f; }
        int reps = Math.Max(1, (int)(1e9 / (2.0 * n * n * n)));
        void Run(int t)
        {
            fixed (float* pa = bufs[t].A, pb = bufs[t].B, pc = bufs[t].C)
                for (int i = 0; i < reps; i++) Gemm.Sgemm(n, n, n, pa, n, 1, pb, n, 1, pc, n, false, parallel: false);
        }
        for (int round = 0; round < 3; round++)
        {
            var sw = Stopwatch.StartNew();
            Run(0);
            double one = 2.0 * n * n * n * reps / sw.Elapsed.TotalSeconds / 1e9;
            sw.Restart();
            var threads = Enumerable.Range(0, 2).Select(t => new Thread(() => Run(t))).ToArray();
            foreach (var th in threads) th.Start();
            foreach (var th in threads) th.Join();
            double two = 2 * 2.0 * n * n * n * reps / sw.Elapsed.TotalSeconds / 1e9;
            Console.WriteLine($"n={n} one thread alone {one:F1} GFLOP/s, two independent threads together {two:F1} GFLOP/s");
        }
    }

    /// <summary>The cost of a fresh large-object array against a reused one (<c>fresh-buffer</c>): 300 buffers of 1 MB,
    /// one write per cache line (as a product's first store to C), GC counts and pause time per setting.</summary>
    public static void FreshBuffer()
    {
        const int len = 512 * 512, reps = 300;
        var reused = new float[len];
        for (int round = 0; round < 3; round++)
            foreach (bool fresh in new[] { false, true })
            {
                int g2 = GC.CollectionCount(2);
                var pause = GC.GetTotalPauseDuration();
                var sw = Stopwatch.StartNew();
                for (int i = 0; i < reps; i++)
                {
                    float[] c = fresh ? GC.AllocateUninitializedArray<float>(len) : reused;
                    fixed (float* p = c) for (int j = 0; j < len; j += 16) p[j] = 1;
                }
                Console.WriteLine($"{(fresh ? "fresh" : "reused")} 1 MB buffer: {sw.Elapsed.TotalMicroseconds / reps:F1} µs each, " +
                    $"{GC.CollectionCount(2) - g2} gen2 collections, GC pause {(GC.GetTotalPauseDuration() - pause).TotalMilliseconds:F1} ms");
            }
    }

    private static double Median(List<double> xs) { var s = xs.OrderBy(x => x).ToList(); return s[s.Count / 2]; }

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
