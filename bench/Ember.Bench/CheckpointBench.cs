using System.Diagnostics;
using System.Globalization;
using Ember.Models;
using Ember.NN;
using Ember.Optim;

namespace Ember.Bench;

/// <summary>Gradient checkpointing on a 12-layer GPT (issue 23): training-step time and peak memory with and without
/// it, each configuration in its own child process (VmHWM is per process), alternating rounds. Activation memory is
/// what the autograd graph holds between forward and backward (see <see cref="ChildRun"/>).</summary>
internal static class CheckpointBench
{
    private static readonly GptConfig Config = new(VocabSize: 96, ContextLength: 256, NLayer: 12, NHead: 8, NEmbd: 256);
    private const int Batch = 16;

    /// <summary>float32 against bfloat16 and float16 autocast on the same model: step time, peak RSS, activations held.</summary>
    public static void Precision(string[] args)
    {
        int rounds = args.Length > 0 && int.TryParse(args[0], out int r) ? r : 3;
        Console.WriteLine($"# {Program.CpuModel()}; GPT {Config.NLayer} layers, C {Config.NEmbd}, {Config.NHead} heads, T {Config.ContextLength}, batch {Batch}, AdamW");
        var modes = new[] { "fp32", "bf16", "fp16" };
        var rows = modes.ToDictionary(m => m, _ => new List<double[]>());
        for (int i = 0; i < rounds; i++)
            foreach (var m in modes) rows[m].Add(Child("checkpoint-child " + m));
        static double Med(IEnumerable<double> v) { var s = v.Order().ToArray(); return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2; }
        foreach (var m in modes)
        {
            var ratio = rows[m].Zip(rows["fp32"], (a, b) => a[0] / b[0]).ToArray();
            Console.WriteLine(FormattableString.Invariant(
                $"{m,-5} step_s={Med(rows[m].Select(x => x[0])):F3} (x{Med(ratio):F2} of fp32) peak_rss_mb={Med(rows[m].Select(x => x[1])):F0} graph_activation_mb={Med(rows[m].Select(x => x[2])):F0}"));
        }
    }

    public static void Run(string[] args)
    {
        int rounds = args.Length > 0 && int.TryParse(args[0], out int r) ? r : 3;
        Console.WriteLine($"# {Program.CpuModel()}; GPT {Config.NLayer} layers, C {Config.NEmbd}, {Config.NHead} heads, T {Config.ContextLength}, batch {Batch}, AdamW");
        var off = new List<double[]>();
        var on = new List<double[]>();
        for (int i = 0; i < rounds; i++)
        {
            off.Add(Child("checkpoint-child off"));
            on.Add(Child("checkpoint-child on"));
        }
        static double Med(IEnumerable<double> v) { var s = v.Order().ToArray(); return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2; }
        foreach (var (name, rows) in new[] { ("plain", off), ("checkpointed", on) })
            Console.WriteLine(FormattableString.Invariant(
                $"{name,-13} step_s={Med(rows.Select(x => x[0])):F3} peak_rss_mb={Med(rows.Select(x => x[1])):F0} graph_activation_mb={Med(rows.Select(x => x[2])):F0}"));
        var ratios = off.Zip(on, (a, b) => b[0] / a[0]).ToArray();
        string all = string.Join(",", ratios.Select(x => x.ToString("F2", CultureInfo.InvariantCulture)));
        Console.WriteLine(FormattableString.Invariant(
            $"step time ratio (checkpointed / plain) median {Med(ratios):F2} rounds {all}; peak RSS {Med(off.Select(x => x[1])) / Med(on.Select(x => x[1])):F2}x lower; activations held by the graph {Med(off.Select(x => x[2])) / Med(on.Select(x => x[2])):F2}x lower"));
    }

    private static double[] Child(string mode) => TrainBench.ChildResult(mode);

    private static double StatusMb(string key)
    {
        var line = File.ReadAllLines("/proc/self/status").First(l => l.StartsWith(key));
        return double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024;
    }

    /// <summary>One configuration: prints "result step_s peak_rss_mb graph_mb": the median of 5 timed steps, the
    /// process's peak resident size, and the managed memory the autograd graph holds between forward and backward
    /// (live bytes after the forward minus before it, each after a full collection, with the buffer pool emptied so
    /// that buffers moving from the pool into the graph count).</summary>
    public static void ChildRun(string mode)
    {
        var model = new Gpt(Config, new Generator(1)) { GradientCheckpointing = mode == "on" };
        DType? low = mode switch { "bf16" => DType.BFloat16, "fp16" => DType.Float16, _ => null };
        var opt = new AdamW(model.Parameters(), lr: 1e-4);
        var data = new Generator(2);
        var x = Tensor.RandInt(0, Config.VocabSize, [Batch, Config.ContextLength], data);
        var y = Tensor.RandInt(0, Config.VocabSize, [Batch * Config.ContextLength], data);
        Tensor Forward()
        {
            using var cast = low is DType t ? Autocast.Enable(t) : null;
            return Functional.CrossEntropy(model.Call(x).Reshape(-1, Config.VocabSize), y);
        }
        var scaler = low == DType.Float16 ? new GradScaler() : null;
        void Step()
        {
            var loss = Forward();
            opt.ZeroGrad();
            if (scaler is null)
            {
                loss.Backward();
                opt.Step();
                return;
            }
            scaler.ScaleLoss(loss).Backward();
            scaler.Step(opt);
            scaler.Update();
        }
        Step();
        var times = new List<double>();
        for (int i = 0; i < 5; i++)
        {
            var sw = Stopwatch.StartNew();
            Step();
            times.Add(sw.Elapsed.TotalSeconds);
        }
        times.Sort();
        opt.ZeroGrad();
        BufferPool.Clear();
        long before = GC.GetTotalMemory(forceFullCollection: true);
        var l = Forward();
        long held = GC.GetTotalMemory(forceFullCollection: true) - before;
        l.Backward();
        opt.Step();
        Console.WriteLine(FormattableString.Invariant($"result {times[2]} {StatusMb("VmHWM:")} {held / 1048576.0}"));
    }
}
