using System.Diagnostics;
using Ember;
using TorchSharp;

namespace Ember.Bench;

/// <summary>Benchmarks Ember against TorchSharp-cpu (libtorch) in one process, one line per case.
/// Usage: dotnet run -c Release --project bench/Ember.Bench -- gemm</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        string what = args.Length > 0 ? args[0] : "";
        // Training benches: an optional second argument sets the number of alternating rounds (default 3).
        int rounds = args.Length > 1 && int.TryParse(args[1], out int r) ? r : 3;
        switch (what)
        {
            case "gemm": Gemm(args.Skip(1).ToArray()); return 0;
            case "mlp": MlpBench.Run(rounds); return 0;
            case "mlp-ember": MlpBench.EmberSide(); return 0;
            case "mlp-torch": MlpBench.TorchSide(); return 0;
            case "cnn": CnnBench.Run(rounds); return 0;
            case "gemm-tune": GemmTune.Run(); return 0;
            case "fresh-buffer": GemmTune.FreshBuffer(); return 0;
            case "gemm-micro": GemmTune.Micro(args.Contains("--pair")); return 0;
            case "gemm-pair": GemmTune.Pair(args.Length > 1 ? int.Parse(args[1]) : 512); return 0;
            case "gemm-grid": GemmTune.Grid(args.Skip(1).ToArray()); return 0;
            case "fastmath": FastMathBench.Run(); return 0;
            case "infer-profile": OnnxBench.Profile(); return 0;
            case "onnx-infer": OnnxBench.Run(args.Skip(1).ToArray()); return 0;
            case "linear-rows": LinearRows(); return 0;
            case "int8-linear": Int8Bench.Run(); return 0;
            case "int8-gpt": Int8Bench.Gpt(args.Skip(1).ToArray()); return 0;
            case "int8-cnn": Int8Bench.Cnn(args.Skip(1).ToArray()); return 0;
            case "serve-load": ServeLoadBench.Run(args.Skip(1).ToArray()).GetAwaiter().GetResult(); return 0;
            case "bpe": BpeBench.Run(args.Skip(1).ToArray()); return 0;
            case "gpt2-encode": Gpt2EncodeBench.Run(args.Skip(1).ToArray()); return 0;
            case "gpt": GptBench.Run(rounds); return 0;
            case "gpt-ember": GptBench.EmberSide(); return 0;
            case "gpt-torch": GptBench.TorchSide(); return 0;
            case "gpt-generate": GptBench.Generate(); return 0;
            case "gpt-loss": GptBench.TorchLoss(args.Skip(1).ToArray()); return 0;
            case "cnn-ember": CnnBench.EmberSide(); return 0;
            case "vit": VitBench.Run(rounds); return 0;
            case "vit-ember": VitBench.EmberSide(); return 0;
            case "vit-profile": VitBench.Profile(); return 0;
            case "vit-torch": VitBench.TorchSide(); return 0;
            case "cnn-torch": CnnBench.TorchSide(); return 0;
            case "allreduce": MpiBench.AllReduce(); return 0;
            case "tune": TuneBench.Run(args.Skip(1).ToArray()); return 0;
            case "tune-tabular-serve": TuneBench.Serve(args[1]); return 0;
            case "checkpoint": CheckpointBench.Run(args.Skip(1).ToArray()); return 0;
            case "checkpoint-child": CheckpointBench.ChildRun(args[1]); return 0;
            case "precision": CheckpointBench.Precision(args.Skip(1).ToArray()); return 0;
            case "peak":
                Console.WriteLine($"peak threads=1 gflops={Peak.Measure(1):F1}");
                Console.WriteLine($"peak threads=2 gflops={Peak.Measure(2):F1}");
                return 0;
            default:
                Console.Error.WriteLine("usage: Ember.Bench gemm [--sizes 128,256,...] [--rounds N] [--ember-only] | mlp [rounds] | cnn [rounds] | gpt [rounds] | gpt-generate | fastmath | onnx-infer [threads] | serve-load [requests] [clients] | bpe | gpt2-encode [--node-modules DIR] | checkpoint [rounds] | precision [rounds] | allreduce (under mpirun) | tune [CSV] [OPTUNA_JSON] | peak");
                return 2;
        }
    }

    /// <summary>The CPU's model name (from /proc/cpuinfo where there is one) and the widest SIMD path the runtime uses.</summary>
    public static string CpuModel()
    {
        string model = "unknown CPU";
        if (File.Exists("/proc/cpuinfo"))
            model = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name"))?.Split(':', 2)[1].Trim() ?? model;
        string isa = System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated ? "AVX-512"
            : System.Runtime.Intrinsics.X86.Avx2.IsSupported ? "AVX2"
            : System.Runtime.Intrinsics.Vector128.IsHardwareAccelerated ? "128-bit" : "scalar";
        return $"{model}, {isa}, {Environment.ProcessorCount} threads";
    }

    /// <summary>Median seconds per call over calls adding up to about <paramref name="budget"/> seconds (after warm-up).</summary>
    private static double Median(Action op, double budget = 1.5)
    {
        op(); op();
        var sw = Stopwatch.StartNew();
        op();
        double once = Math.Max(sw.Elapsed.TotalSeconds, 1e-6);
        int reps = (int)Math.Clamp(budget / once, 5, 2000);
        var times = new double[reps];
        for (int i = 0; i < reps; i++)
        {
            sw.Restart();
            op();
            times[i] = sw.Elapsed.TotalSeconds;
        }
        Array.Sort(times);
        return times[reps / 2];
    }

    private static void Gemm(string[] args)
    {
        var sizes = new[] { 128, 256, 512, 1024, 2048 };
        int si = Array.IndexOf(args, "--sizes");
        if (si >= 0) sizes = args[si + 1].Split(',').Select(int.Parse).ToArray();
        Console.WriteLine($"# machine: {Environment.ProcessorCount} cores, Ember gemm path {Ember.Kernels.GemmInfo.Path}, TorchSharp {typeof(torch).Assembly.GetName().Version}");
        if (args.Contains("--ember-only"))
        {
            // Ember's paths compared across processes (DOTNET_EnableAVX2=0 and the like): no peak loop (its FMA would be
            // emulated without the instruction set) and no TorchSharp (libtorch picks its own kernels regardless).
            foreach (int threads in new[] { 1, 2 })
                foreach (int n in sizes)
                {
                    Parallelism.NumThreads = threads;
                    var a = Tensor.Randn([n, n], DType.Float32, new Generator(1));
                    var b = Tensor.Randn([n, n], DType.Float32, new Generator(2));
                    Console.WriteLine($"gemm n={n} threads={threads} path={Ember.Kernels.GemmInfo.Path} ember_gflops={2.0 * n * n * n / Median(() => a.Matmul(b)) / 1e9:F1}");
                }
            return;
        }
        var peak = new Dictionary<int, double> { [1] = Peak.Measure(1), [2] = Peak.Measure(2) };
        Console.WriteLine($"# cpu: {CpuModel()}");
        Console.WriteLine($"peak threads=1 gflops={peak[1]:F1}");
        Console.WriteLine($"peak threads=2 gflops={peak[2]:F1}");
        // Rounds alternate the sides case by case (Ember with a new result per call, Ember into a reused destination,
        // TorchSharp), so that a noisy stretch of this shared VM hits all three; each number is the median over rounds
        // of each round's median time. After each libtorch measurement a pause lets its OpenMP workers stop spinning
        // (they would otherwise take a core from whatever is measured next).
        int ri = Array.IndexOf(args, "--rounds");
        int rounds = ri >= 0 ? int.Parse(args[ri + 1]) : 3;
        var cases = new List<(int Threads, int N)>();
        foreach (int threads in new[] { 1, 2 })
            foreach (int n in sizes) cases.Add((threads, n));
        var fresh = cases.ToDictionary(c => c, _ => new List<double>());
        var reused = cases.ToDictionary(c => c, _ => new List<double>());
        var torchRates = cases.ToDictionary(c => c, _ => new List<double>());
        for (int round = 0; round < rounds; round++)
            foreach (var (threads, n) in cases)
            {
                double flop = 2.0 * n * n * n;
                Parallelism.NumThreads = threads;
                var a = Tensor.Randn([n, n], DType.Float32, new Generator(1));
                var b = Tensor.Randn([n, n], DType.Float32, new Generator(2));
                var dst = Tensor.Zeros(n, n);
                fresh[(threads, n)].Add(flop / Median(() => a.Matmul(b), 0.5) / 1e9);
                reused[(threads, n)].Add(flop / Median(() => a.Matmul(b, dst), 0.5) / 1e9);
                torch.set_num_threads(threads);
                using var ta = torch.randn(n, n);
                using var tb = torch.randn(n, n);
                torchRates[(threads, n)].Add(flop / Median(() => { using var c = torch.matmul(ta, tb); }, 0.5) / 1e9);
                Thread.Sleep(200);
            }
        static double Mid(List<double> xs) { var s = xs.OrderBy(x => x).ToList(); return s[s.Count / 2]; }
        foreach (var key in cases)
        {
            var (threads, n) = key;
            double ef = Mid(fresh[key]), er = Mid(reused[key]), tg = Mid(torchRates[key]);
            Console.WriteLine($"gemm n={n} threads={threads} ember_gflops={ef:F1} ember_into_gflops={er:F1} torchsharp_gflops={tg:F1} " +
                $"ratio={ef / tg:F2} ratio_into={er / tg:F2} peak_fraction={ef / peak[threads]:F2} peak_fraction_into={er / peak[threads]:F2}");
        }
    }

    /// <summary>Linear layers of the quickstart MLP (784→1024, 1024→512) on a few rows (what light-load serving and
    /// batched generation run), one and two threads: best of 15 timings of 200 calls, in µs per call.</summary>
    private static void LinearRows()
    {
        Console.WriteLine($"# {CpuModel()}");
        foreach (var (inF, outF) in new[] { (784, 1024), (1024, 512) })
        {
            var lin = new Ember.NN.Linear(inF, outF, generator: new Generator(1));
            foreach (int threads in new[] { 1, 2 })
            foreach (int b in new[] { 1, 2, 3, 4, 8 })
            {
                var x = Tensor.Randn([b, inF], DType.Float32, new Generator(2));
                using var noGrad = Tensor.NoGrad();
                using var scope = EmberSettings.Scope(EmberSettings.Current with { NumThreads = threads });
                for (int i = 0; i < 50; i++) lin.Call(x);
                double best = double.MaxValue;
                for (int round = 0; round < 15; round++)
                {
                    var sw = Stopwatch.StartNew();
                    for (int i = 0; i < 200; i++) lin.Call(x);
                    best = Math.Min(best, sw.Elapsed.TotalMilliseconds * 1000 / 200);
                }
                Console.WriteLine($"linear-rows {inF}x{outF} threads={threads} rows={b} us_per_call={best:F1}");
            }
        }
    }
}
