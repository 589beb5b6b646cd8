using System.Diagnostics;
using Ember;
using Ember.NN;

namespace Ember.Bench;

/// <summary><c>int8-linear</c>: a float32 Linear against the same layer quantized to int8 (dynamic: per-row input
/// quantization included in the time), interleaved rounds, medians, at 1 and 2 threads.</summary>
internal static class Int8Bench
{
    public static void Run()
    {
        Console.WriteLine($"# {Program.CpuModel()} int8 path={Ember.Kernels.Int8Gemm.DetectPath()}");
        Console.WriteLine("| in×out | rows | threads | float32 µs | int8 µs | speed-up |");
        Console.WriteLine("| --- | --- | --- | --- | --- | --- |");
        foreach (var (inF, outF) in new[] { (128, 384), (384, 1536), (784, 1024), (1024, 1024), (4096, 1024) })
        {
            var f = new Linear(inF, outF, generator: new Generator(1));
            var q = new Linear(inF, outF, generator: new Generator(1));
            q.QuantizeInt8();
            foreach (int threads in new[] { 1, 2 })
            foreach (int rows in new[] { 1, 8, 64 })
            {
                var x = Tensor.Randn([rows, inF], DType.Float32, new Generator(2));
                using var scope = EmberSettings.Scope(EmberSettings.Current with { NumThreads = threads });
                int calls = (int)Math.Clamp(2e8 / ((double)rows * inF * outF), 5, 5000);
                double Time(Linear l)
                {
                    var sw = Stopwatch.StartNew();
                    for (int i = 0; i < calls; i++) l.Infer(x);
                    return sw.Elapsed.TotalMilliseconds * 1000 / calls;
                }
                Time(f); Time(q);
                var tf = new List<double>();
                var tq = new List<double>();
                for (int round = 0; round < 9; round++) { tf.Add(Time(f)); tq.Add(Time(q)); }
                double mf = Median(tf), mq = Median(tq);
                Console.WriteLine($"| {inF}×{outF} | {rows} | {threads} | {mf:F1} | {mq:F1} | {mf / mq:F2}x |");
            }
        }
    }

    internal static double Median(List<double> v)
    {
        var s = v.OrderBy(x => x).ToList();
        return s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2;
    }
}
