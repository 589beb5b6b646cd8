using System.Diagnostics;
using System.Globalization;

namespace Ember.Recipes;

public static partial class Milestones
{
    /// <summary>Settings of the systems milestone (TinyTorch's "10x faster, 4x smaller").</summary>
    public sealed record SystemsRecipe
    {
        /// <summary>Single-image (or single-token) calls per timing round.</summary>
        public int LatencyCalls { get; init; } = 200;
        /// <summary>Alternating float/int8 timing rounds; medians are reported.</summary>
        public int Rounds { get; init; } = 5;
        /// <summary>Tokens generated per round for the per-token latency.</summary>
        public int Tokens { get; init; } = 100;
        /// <summary>Fine-tuning steps of the LoRA comparison, each side.</summary>
        public int FineTuneSteps { get; init; } = 300;
        public int LoraRank { get; init; } = 8;
        /// <summary>Characters of review text used for the fine-tuning comparison.</summary>
        public int FineTuneCharacters { get; init; } = 600_000;
        public ulong Seed { get; init; } = 1;
    }

    /// <summary>One measured gate of the systems milestone.</summary>
    public sealed record SystemsGate(string Name, double Value, string Target, bool Passed);

    /// <summary>The systems milestone on the Fashion-MNIST CNN and the KJV character GPT their milestones trained:
    /// int8 quantization (size, accuracy or validation loss, batch-1 latency with alternating float/int8 rounds) and
    /// LoRA fine-tuning on the fine-food reviews against full fine-tuning. Every gate is reported; the milestone passes
    /// when all do.</summary>
    public static (MilestoneResult Result, IReadOnlyList<SystemsGate> Gates) Systems(Sequential fashion, string fashionFolder, Gpt gpt, CharTokenizer tok,
        string kjvPath, string reviewsCsv, SystemsRecipe? recipe = null, Action<string>? log = null)
    {
        recipe ??= new SystemsRecipe();
        var sw = Stopwatch.StartNew();
        var gates = new List<SystemsGate>();
        string F(double v, string f = "F3") => v.ToString(f, CultureInfo.InvariantCulture);

        // ---------------------------------------------------------------- Fashion-MNIST CNN
        var (xte, yte) = ImageFolders.FashionMnist(fashionFolder, train: false);
        var fashionInt8 = Clone(fashion, () => FashionCnnLike(fashion));
        Folding.FoldBatchNorm(fashionInt8);   // the inference form: BatchNorm inside the convolutions, conv+ReLU fused
        Ember.Quantization.Quantize.Dynamic(fashionInt8, convolutions: true);
        fashion.Eval();
        double accFloat = Accuracy(fashion, xte, yte), accInt8 = Accuracy(fashionInt8, xte, yte);
        log?.Invoke($"fashion: test accuracy float32 {F(accFloat, "F4")}, int8 {F(accInt8, "F4")}");
        double cnnRatio = (double)StateBytes(fashion) / StateBytes(fashionInt8);
        var one = xte.Narrow(0, 0, 1).Contiguous();
        var (cnnFloat, cnnInt8) = AlternatingMedians(() => fashion.Infer(one), () => fashionInt8.Infer(one), recipe.LatencyCalls, recipe.Rounds);
        var batch = xte.Narrow(0, 0, 64).Contiguous();
        var (cnnFloat64, cnnInt864) = AlternatingMedians(() => fashion.Infer(batch), () => fashionInt8.Infer(batch), Math.Max(5, recipe.LatencyCalls / 20), recipe.Rounds);
        log?.Invoke($"fashion: checkpoint {F(cnnRatio, "F2")}x smaller; batch 1 {F(cnnFloat * 1000)} → {F(cnnInt8 * 1000)} ms; batch 64 {F(cnnFloat64 * 1000)} → {F(cnnInt864 * 1000)} ms");
        gates.Add(new("cnn_size_ratio", cnnRatio, ">= 4", cnnRatio >= 4));
        gates.Add(new("cnn_accuracy_drop_points", (accFloat - accInt8) * 100, "<= 0.5", (accFloat - accInt8) * 100 <= 0.5));
        gates.Add(new("cnn_batch1_speedup", cnnFloat / cnnInt8, ">= 3", cnnFloat / cnnInt8 >= 3));

        // ---------------------------------------------------------------- KJV GPT
        var text = ReadText(kjvPath);
        var data = tok.Encode(text);
        var val = data[(int)(data.Length * 0.9)..];
        var evalRecipe = new GptRecipe { ContextLength = gpt.Config.ContextLength };
        var gptInt8 = Clone(gpt, () => new Gpt(gpt.Config));
        Ember.Quantization.Quantize.Dynamic(gptInt8);
        double lossFloat = GptValidationLoss(gpt, val, evalRecipe, tok.VocabSize), lossInt8 = GptValidationLoss(gptInt8, val, evalRecipe, tok.VocabSize);
        double gptRatio = (double)StateBytes(gpt) / StateBytes(gptInt8);
        var promptIds = tok.Encode("Ge1:1 In the beginning").Select(i => (long)i).ToArray();
        var prompt = Tensor.FromArray(promptIds, 1, promptIds.Length);
        var greedy = new SamplingOptions(TopK: 1);
        var (tokFloat, tokInt8) = AlternatingMedians(() => gpt.Generate(prompt, recipe.Tokens, greedy, generator: new Generator(1)),
            () => gptInt8.Generate(prompt, recipe.Tokens, greedy, generator: new Generator(1)), 1, recipe.Rounds);
        double msFloat = tokFloat * 1000 / recipe.Tokens, msInt8 = tokInt8 * 1000 / recipe.Tokens;
        log?.Invoke($"gpt: validation loss float32 {F(lossFloat, "F4")}, int8 {F(lossInt8, "F4")}; checkpoint {F(gptRatio, "F2")}x smaller; " +
                    $"per token (batch 1, KV cache) {F(msFloat)} → {F(msInt8)} ms");
        gates.Add(new("gpt_size_ratio", gptRatio, ">= 4", gptRatio >= 4));
        gates.Add(new("gpt_val_loss_increase", lossInt8 - lossFloat, "<= 0.03", lossInt8 - lossFloat <= 0.03));
        gates.Add(new("gpt_int8_ms_per_token", msInt8, "< 5", msInt8 < 5));

        // ---------------------------------------------------------------- LoRA against full fine-tuning
        var reviews = FitAlphabet(ReadTextColumn(reviewsCsv, "review", recipe.FineTuneCharacters), tok, out double replaced);
        log?.Invoke($"fine-tuning on {reviews.Length:N0} characters of reviews ({F(replaced * 100, "F2")}% outside the KJV alphabet replaced)");
        var full = FineTuneGpt(Clone(gpt, () => new Gpt(gpt.Config)), tok, reviews, new FineTuneRecipe { Steps = recipe.FineTuneSteps, Seed = recipe.Seed }, log);
        var loraModel = Clone(gpt, () => new Gpt(gpt.Config));
        var lora = FineTuneGpt(loraModel, tok, reviews, new FineTuneRecipe { Steps = recipe.FineTuneSteps, LoraRank = recipe.LoraRank, Seed = recipe.Seed }, log);
        long adapterBytes = Lora.AdapterState(loraModel).Values.Sum(t => (long)t.NumEl * 4), baseBytes = StateBytes(gpt);
        double trainedShare = (double)lora.Trainable / lora.Total;
        log?.Invoke($"fine-tuning: validation loss {F(full.LossBefore, "F4")} before; full {F(full.LossAfter, "F4")} ({F(full.Seconds, "F1")}s), " +
                    $"LoRA r={recipe.LoraRank} {F(lora.LossAfter, "F4")} ({F(lora.Seconds, "F1")}s, {F(trainedShare * 100, "F2")}% of the parameters, adapters {F(100.0 * adapterBytes / baseBytes, "F2")}% of the model)");
        gates.Add(new("lora_loss_gap", lora.LossAfter - full.LossAfter, "<= 0.05", lora.LossAfter - full.LossAfter <= 0.05));
        // For reference (not a gate): the same rank on every projection of the blocks, a larger share of the parameters.
        var wide = FineTuneGpt(Clone(gpt, () => new Gpt(gpt.Config)), tok, reviews, new FineTuneRecipe
        {
            Steps = recipe.FineTuneSteps, LoraRank = recipe.LoraRank, LearningRate = 5e-3, Seed = recipe.Seed, LoraTargets = ["c_attn", "c_proj", "mlp.0", "mlp.2"],
        }, log);
        log?.Invoke($"fine-tuning, LoRA r={recipe.LoraRank} on c_attn, c_proj, mlp.0, mlp.2: {F(wide.LossAfter, "F4")} ({F(100.0 * wide.Trainable / wide.Total, "F2")}% of the parameters, gap {F(wide.LossAfter - full.LossAfter, "F4")})");
        gates.Add(new("lora_trained_share", trainedShare, "<= 0.02", trainedShare <= 0.02));
        gates.Add(new("lora_adapter_share", (double)adapterBytes / baseBytes, "<= 0.05", (double)adapterBytes / baseBytes <= 0.05));

        int passed = gates.Count(g => g.Passed);
        var details = string.Join("; ", gates.Select(g => $"{g.Name}={F(g.Value, "F4")} ({g.Target}: {(g.Passed ? "pass" : "FAIL")})"));
        var result = new MilestoneResult("systems", "gates_passed", passed, gates.Count, lora.LossAfter < lora.LossBefore, sw.Elapsed.TotalSeconds, details);
        return (result, gates);
    }

    private static Sequential FashionCnnLike(Sequential model)
    {
        // The recipe's CNN with this model's widths (read from the first conv's output channels and the dropout).
        int width = ((Conv2d)((Sequential)model[0])[0]).OutChannels;
        double dropout = model.Layers.OfType<Dropout>().FirstOrDefault()?.P ?? 0.3;
        return FashionCnn(new FashionRecipe { Width = width, Dropout = dropout });
    }

    /// <summary>A fresh copy of <paramref name="model"/> (built by <paramref name="make"/>, weights copied), in eval mode.</summary>
    private static T Clone<T>(T model, Func<T> make) where T : Module
    {
        var copy = make();
        copy.LoadStateDict(model.StateDict());
        copy.Eval();
        return copy;
    }

    /// <summary>Bytes the tensors of <paramref name="m"/>'s state dict hold (what a safetensors file of it stores, less the header).</summary>
    public static long StateBytes(Module m) => m.StateDict().Values.Sum(t => (long)t.NumEl * t.DType.ElementSize());

    private static double Accuracy(Module model, Tensor x, Tensor y)
    {
        long correct = 0;
        for (int i = 0; i < x.Size(0); i += 500)
        {
            int n = Math.Min(500, x.Size(0) - i);
            var pred = model.Infer(x.Narrow(0, i, n)).ArgMax(1).ToArray<long>();
            var t = y.Narrow(0, i, n).ToArray<long>();
            for (int j = 0; j < n; j++) if (pred[j] == t[j]) correct++;
        }
        return (double)correct / x.Size(0);
    }

    /// <summary>Seconds per call of <paramref name="a"/> and <paramref name="b"/>: warm-up, then rounds alternating
    /// the two, <paramref name="calls"/> calls each; medians over the rounds.</summary>
    public static (double A, double B) AlternatingMedians(Action a, Action b, int calls, int rounds)
    {
        for (int i = 0; i < Math.Max(3, calls / 10); i++) { a(); b(); }
        var ta = new List<double>();
        var tb = new List<double>();
        for (int r = 0; r < rounds; r++)
        {
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < calls; i++) a();
            ta.Add(sw.Elapsed.TotalSeconds / calls);
            sw.Restart();
            for (int i = 0; i < calls; i++) b();
            tb.Add(sw.Elapsed.TotalSeconds / calls);
        }
        static double Median(List<double> v) { v.Sort(); return v.Count % 2 == 1 ? v[v.Count / 2] : (v[v.Count / 2 - 1] + v[v.Count / 2]) / 2; }
        return (Median(ta), Median(tb));
    }
}
