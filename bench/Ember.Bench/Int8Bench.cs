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
                var (sf, sq) = Ember.Recipes.Milestones.AlternatingMedians(() => f.Infer(x), () => q.Infer(x), calls, 9);
                double mf = sf * 1e6, mq = sq * 1e6;
                Console.WriteLine($"| {inF}×{outF} | {rows} | {threads} | {mf:F1} | {mq:F1} | {mf / mq:F2}x |");
            }
        }
    }

    /// <summary><c>int8-gpt DIR [KJV]</c>: the measurements of bench/reference/torch_quantize_dynamic.py on Ember's side,
    /// on the same checkpoint: validation loss over the first 200 non-overlapping 128-character windows of the text's last
    /// 10%, state size, per-token latency of greedy generation at batch 1 with the KV cache (100 tokens, median of 5
    /// rounds alternating float32 and int8).</summary>
    public static void Gpt(string[] args)
    {
        string dir = args.Length > 0 ? args[0] : Path.Combine("runs", "gpt");
        string kjv = args.Length > 1 ? args[1] : Path.Combine("..", "shared", "data", "kjv", "kjv.txt.gz");
        var tensors = Ember.IO.Safetensors.Load(Path.Combine(dir, "model.safetensors"), out var meta);
        var model = new Ember.Models.Gpt(Ember.Models.GptConfig.FromMetadata(meta, dir));
        Ember.Training.Trainer.LoadModelState(model, tensors, dir);
        model.Eval();
        var q = new Ember.Models.Gpt(model.Config);
        q.LoadStateDict(model.StateDict());
        Ember.Quantization.Quantize.Dynamic(q);
        var tok = Ember.Text.CharTokenizer.Load(Path.Combine(dir, "chars.json"));
        var data = tok.Encode(Ember.Recipes.Milestones.ReadText(kjv));
        var val = data[(int)(data.Length * 0.9)..];
        int t = model.Config.ContextLength, windows = Math.Min(200, (val.Length - 1) / t);
        double Loss(Ember.Models.Gpt m)
        {
            double total = 0;
            for (int w = 0; w < windows; w += 20)
            {
                int n = Math.Min(20, windows - w);
                var (x, y) = Ember.Recipes.Milestones.Windows(val, Enumerable.Range(w, n).Select(i => i * t).ToArray(), t);
                using var noGrad = Tensor.NoGrad();
                total += Functional.CrossEntropy(m.Infer(x).Reshape(-1, tok.VocabSize), y.Reshape(-1), reduction: Reduction.Sum).Item();
            }
            return total / (windows * t);
        }
        static long Bytes(Module m) => Ember.Recipes.Milestones.StateBytes(m);
        var promptIds = tok.Encode("Ge1:1 In the beginning").Select(i => (long)i).ToArray();
        var prompt = Tensor.FromArray(promptIds, 1, promptIds.Length);
        var greedy = new Ember.Models.SamplingOptions(TopK: 1);
        using var scope = EmberSettings.Scope(EmberSettings.Current with { NumThreads = 2 });
        var (tf, tq) = Ember.Recipes.Milestones.AlternatingMedians(() => model.Generate(prompt, 100, greedy), () => q.Generate(prompt, 100, greedy), 1, 5);
        double lf = Loss(model), lq = Loss(q);
        Console.WriteLine($"# {Program.CpuModel()} int8 path={Ember.Kernels.Int8Gemm.DetectPath()}");
        Console.WriteLine($"validation loss ({windows} windows of {t}): float32 {lf:F4}, int8 {lq:F4} (+{lq - lf:F4})");
        Console.WriteLine($"state: float32 {Bytes(model):N0} bytes, int8 {Bytes(q):N0} bytes ({(double)Bytes(model) / Bytes(q):F2}x)");
        Console.WriteLine($"per token (batch 1, KV cache, greedy): float32 {tf * 10:F3} ms, int8 {tq * 10:F3} ms");
    }

    /// <summary><c>int8-cnn DIR [FASHION]</c>: the fashion milestone's CNN (DIR/model.safetensors) in float32, dynamic
    /// int8 and static int8 (8 calibration batches, percentile): test accuracy on 2,000 test images and latency at
    /// batch 1 and 64, alternating rounds, medians.</summary>
    public static void Cnn(string[] args)
    {
        string dir = args.Length > 0 ? args[0] : Path.Combine("runs", "fashion");
        string data = args.Length > 1 ? args[1] : Path.Combine("..", "shared", "data", "fashion-mnist");
        var tensors = Ember.IO.Safetensors.Load(Path.Combine(dir, "model.safetensors"), out var meta);
        Module Load()
        {
            var m = Ember.Recipes.Milestones.FashionCnnFromMetadata(meta, dir);
            Ember.Training.Trainer.LoadModelState(m, tensors, dir);
            m.Eval();
            return m;
        }
        var (xtr, _) = Ember.Data.ImageFolders.FashionMnist(data, train: true);
        var (xte, yte) = Ember.Data.ImageFolders.FashionMnist(data, train: false);
        var f = Load();
        var folded = Load();
        Folding.FoldBatchNorm(folded);
        var d = Load();
        Folding.FoldBatchNorm(d);
        Ember.Quantization.Quantize.Dynamic(d, convolutions: true);
        var st = Load();
        Folding.FoldBatchNorm(st);
        Ember.Quantization.Quantize.Static(st, Enumerable.Range(0, 8).Select(i => xtr.Narrow(0, i * 64, 64)), Ember.Quantization.CalibrationMethod.Percentile);
        double Acc(Module m) => m.Infer(xte.Narrow(0, 0, 2000)).ArgMax(1).Eq(yte.Narrow(0, 0, 2000)).To(DType.Float32).Mean().Item();
        Console.WriteLine($"# {Program.CpuModel()} int8 path={Ember.Kernels.Int8Gemm.DetectPath()}");
        Console.WriteLine($"accuracy (2,000 test images): float32 {Acc(f):F4}, folded {Acc(folded):F4}, dynamic int8 {Acc(d):F4}, static int8 {Acc(st):F4}");
        foreach (int b in new[] { 1, 64 })
        {
            var x = xte.Narrow(0, 0, b).Contiguous();
            int calls = b == 1 ? 200 : 10;
            var (tf, td) = Ember.Recipes.Milestones.AlternatingMedians(() => f.Infer(x), () => d.Infer(x), calls, 5);
            var (_, ts) = Ember.Recipes.Milestones.AlternatingMedians(() => f.Infer(x), () => st.Infer(x), calls, 5);
            var (_, tfo) = Ember.Recipes.Milestones.AlternatingMedians(() => f.Infer(x), () => folded.Infer(x), calls, 5);
            Console.WriteLine($"batch {b}: float32 {tf * 1000:F3} ms, float32 BatchNorm folded {tfo * 1000:F3} ms ({tf / tfo:F2}x), " +
                $"dynamic int8 {td * 1000:F3} ms ({tf / td:F2}x), static int8 {ts * 1000:F3} ms ({tf / ts:F2}x) (int8 with BatchNorm folded)");
        }
    }
}
