using System.Diagnostics;
using Ember.Models;
using Ember.NN;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Ember.Bench;

/// <summary>Inference of one exported model in Ember and in ONNX Runtime, side by side in one process: median latency
/// per call (after warm-up) at batch 1 and 64 for the quickstart MLP (784-1024-512-10) and a small CNN, both runtimes on
/// the same thread count. Usage: Ember.Bench onnx-infer [threads]</summary>
internal static class OnnxBench
{
    public static void Run(string[] args)
    {
        int threads = args.Length > 0 && int.TryParse(args[0], out int t) ? t : Environment.ProcessorCount;
        Parallelism.NumThreads = threads;
        Console.WriteLine($"# {Program.CpuModel()}; threads {threads}; ONNX Runtime {typeof(InferenceSession).Assembly.GetName().Version}");
        var g = new Generator(1);
        var mlp = new Mlp(new MlpConfig(), g);
        var cnn = new Sequential(new Conv2d(1, 32, 3, padding: 1, generator: g), new ReLU(), new MaxPool2d(2),
            new Conv2d(32, 64, 3, padding: 1, generator: g), new ReLU(), new MaxPool2d(2), new Flatten(),
            new Linear(64 * 7 * 7, 128, generator: g), new ReLU(), new Linear(128, 10, generator: g));
        foreach (var (name, model, shape) in new (string, Module, int[])[] { ("mlp", mlp, [784]), ("cnn", cnn, [1, 28, 28]) })
        {
            var path = Path.Combine(Path.GetTempPath(), $"ember-bench-{name}.onnx");
            Ember.Onnx.Export(model, Tensor.Zeros([1, .. shape]), path);
            model.Eval();
            var options = new SessionOptions { IntraOpNumThreads = threads, InterOpNumThreads = 1, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
            using var session = new InferenceSession(path, options);
            foreach (int batch in new[] { 1, 64 })
            {
                var x = Tensor.Randn([batch, .. shape], DType.Float32, new Generator(2));
                var data = x.ToArray<float>();
                var input = new DenseTensor<float>(data, [batch, .. shape]);
                // Module.Infer: no gradients, intermediates' buffers reused across calls (EMBER_BENCH_CALL=1: plain Call).
                double ember = Environment.GetEnvironmentVariable("EMBER_BENCH_CALL") == "1"
                    ? Median(() => { using (Tensor.NoGrad()) model.Call(x).ToArray<float>(); })
                    : Median(() => model.Infer(x).ToArray<float>());
                double ort = Median(() =>
                {
                    using var r = session.Run([NamedOnnxValue.CreateFromTensor("input", input)]);
                    r.First().AsTensor<float>().ToArray();
                });
                Console.WriteLine($"onnx-infer model={name} batch={batch} ember_us={ember * 1e6:F1} onnxruntime_us={ort * 1e6:F1} ratio={ort / ember:F2}");
            }
        }
    }

    /// <summary>The bench CNN's eval-mode inference at batch 64 under the profiler (<c>infer-profile</c>).</summary>
    public static void Profile()
    {
        var g = new Generator(1);
        var cnn = new Sequential(new Conv2d(1, 32, 3, padding: 1, generator: g), new ReLU(), new MaxPool2d(2),
            new Conv2d(32, 64, 3, padding: 1, generator: g), new ReLU(), new MaxPool2d(2), new Flatten(),
            new Linear(64 * 7 * 7, 128, generator: g), new ReLU(), new Linear(128, 10, generator: g));
        cnn.Eval();
        var x = Tensor.Randn([64, 1, 28, 28], DType.Float32, new Generator(2));
        for (int i = 0; i < 50; i++) cnn.Infer(x);
        Ember.Diagnostics.Profiler.Start();
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < 100; i++) cnn.Infer(x);
        Ember.Diagnostics.Profiler.Stop();
        Console.WriteLine($"100 calls: {sw.Elapsed.TotalMilliseconds:F0} ms");
        Console.WriteLine(Ember.Diagnostics.Profiler.Report());
    }

    private static double Median(Action op)
    {
        for (int i = 0; i < 50; i++) op();
        var times = new List<double>();
        var total = Stopwatch.StartNew();
        while (total.Elapsed.TotalSeconds < 2 || times.Count < 21)
        {
            var sw = Stopwatch.StartNew();
            op();
            times.Add(sw.Elapsed.TotalSeconds);
        }
        times.Sort();
        return times[times.Count / 2];
    }
}
