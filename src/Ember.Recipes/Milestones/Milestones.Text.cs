using System.Diagnostics;
using System.IO.Compression;

namespace Ember.Recipes;

public static partial class Milestones
{
    /// <summary>Settings of the character-level GPT recipe on the King James Bible (the gpt milestone).</summary>
    public sealed record GptRecipe
    {
        public int Steps { get; init; } = 1000;
        public int BatchSize { get; init; } = 32;
        public int ContextLength { get; init; } = 128;
        public int Layers { get; init; } = 4;
        public int Heads { get; init; } = 4;
        public int Channels { get; init; } = 128;
        public double LearningRate { get; init; } = 1e-3;
        public double WeightDecay { get; init; } = 0.1;
        public int WarmupSteps { get; init; } = 100;
        public double ValidationFraction { get; init; } = 0.1;
        public int EvalBatches { get; init; } = 20;
        public ulong Seed { get; init; } = 1;
        /// <summary>Run every block as a checkpointed segment (less activation memory, a second forward per block;
        /// the same gradients).</summary>
        public bool GradientCheckpointing { get; init; }
        /// <summary>Mixed precision (null: float32): the forward pass under <see cref="Autocast"/> with bfloat16 or
        /// float16 (then with a <see cref="GradScaler"/>).</summary>
        public DType? Precision { get; init; }
        /// <summary>The validation loss TorchSharp (libtorch) reaches with this recipe: same model, split, batches,
        /// initialization scheme and steps (bench: <c>gpt-loss</c>; docs/benchmarks.md). The gate is this + 0.05.</summary>
        public double ReferenceLoss { get; init; } = double.NaN;
    }

    /// <summary>The validation loss TorchSharp reached on <see cref="GptRecipe"/>'s defaults (1000 steps, seed 1), measured
    /// with <c>Ember.Bench gpt-loss</c> (docs/benchmarks.md).</summary>
    public const double GptReferenceLoss = 1.6539;

    /// <summary>The KJV text from a .txt or .txt.gz file.</summary>
    public static string ReadText(string path)
    {
        if (!path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase)) return File.ReadAllText(path);
        using var gz = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        return new StreamReader(gz).ReadToEnd();
    }

    /// <summary>Random training windows: the same (seeded) offsets for any framework that uses this helper, so two
    /// implementations train on identical batches.</summary>
    public static int[] BatchOffsets(Generator g, int batch, int dataLength, int context)
    {
        var offsets = new int[batch];
        for (int i = 0; i < batch; i++) offsets[i] = (int)g.NextInt64(0, dataLength - context - 1);
        return offsets;
    }

    /// <summary>(x, y) int64 (B, T) windows of <paramref name="data"/> at <paramref name="offsets"/>, y shifted by one.</summary>
    public static (Tensor X, Tensor Y) Windows(int[] data, int[] offsets, int context)
    {
        var x = new long[offsets.Length * context];
        var y = new long[offsets.Length * context];
        for (int b = 0; b < offsets.Length; b++)
            for (int t = 0; t < context; t++)
            {
                x[b * context + t] = data[offsets[b] + t];
                y[b * context + t] = data[offsets[b] + t + 1];
            }
        return (Tensor.FromArray(x, offsets.Length, context), Tensor.FromArray(y, offsets.Length, context));
    }

    /// <summary>Learning rate at <paramref name="step"/>: linear warm-up, then cosine decay to 10% (nanoGPT's schedule).</summary>
    public static double GptLearningRate(GptRecipe r, int step) => WarmupCosine(r.LearningRate, r.WarmupSteps, r.Steps, step);

    /// <summary>Linear warm-up over <paramref name="warmup"/> steps to <paramref name="lr"/>, then cosine decay to 10% at
    /// step <paramref name="total"/>.</summary>
    public static double WarmupCosine(double lr, int warmup, int total, int step)
    {
        if (step < warmup) return lr * (step + 1) / warmup;
        double progress = (double)(step - warmup) / Math.Max(1, total - warmup);
        return lr * (0.1 + 0.9 * 0.5 * (1 + Math.Cos(Math.PI * Math.Min(1, progress))));
    }

    /// <summary>The outcome of a gpt run.</summary>
    public sealed record GptOutcome(MilestoneResult Result, Gpt Model, CharTokenizer Tokenizer, double ValidationLoss, string Sample);

    /// <summary>The character-level GPT milestone: trains the recipe on KJV for a fixed number of steps and compares its
    /// validation loss with the TorchSharp reference; prints a sample.</summary>
    public static GptOutcome GptRun(string textPath, GptRecipe? recipe = null, Action<string>? log = null, Diagnostics.SummaryWriter? tensorboard = null)
    {
        var sw = Stopwatch.StartNew();
        recipe ??= new GptRecipe();
        var text = ReadText(textPath);
        var tok = CharTokenizer.FromCorpus(text);
        var data = tok.Encode(text);
        int split = (int)(data.Length * (1 - recipe.ValidationFraction));
        var train = data[..split];
        var val = data[split..];
        var g = new Generator(recipe.Seed);
        var model = new Gpt(new GptConfig(tok.VocabSize, recipe.ContextLength, recipe.Layers, recipe.Heads, recipe.Channels), g)
        {
            GradientCheckpointing = recipe.GradientCheckpointing,
        };
        var initial = Snapshot(model);
        var opt = new AdamW(model.Parameters(), lr: recipe.LearningRate, weightDecay: recipe.WeightDecay);
        var batches = new Generator(recipe.Seed + 1000);
        var scaler = recipe.Precision == DType.Float16 ? new GradScaler() : null;
        for (int step = 0; step < recipe.Steps; step++)
        {
            opt.LearningRate = GptLearningRate(recipe, step);
            var (x, y) = Windows(train, BatchOffsets(batches, recipe.BatchSize, train.Length, recipe.ContextLength), recipe.ContextLength);
            Tensor loss;
            using (recipe.Precision is DType low ? Autocast.Enable(low) : null)
                loss = Functional.CrossEntropy(model.Call(x).Reshape(-1, tok.VocabSize), y.Reshape(-1));
            opt.ZeroGrad();
            if (scaler is not null)
            {
                scaler.ScaleLoss(loss).Backward();
                scaler.Unscale(opt);
                Optimizer.ClipGradNorm(model.Parameters(), 1.0);
                scaler.Step(opt);
                scaler.Update();
            }
            else
            {
                loss.Backward();
                Optimizer.ClipGradNorm(model.Parameters(), 1.0);
                opt.Step();
            }
            if (log is not null && (step % 100 == 0 || step == recipe.Steps - 1))
                log($"step {step + 1}/{recipe.Steps} loss {loss.Item():F4} lr {opt.LearningRate:G3} {sw.Elapsed.TotalSeconds:F0}s");
            if (tensorboard is not null) LogGptStep(tensorboard, model, step + 1, recipe.Steps, loss.Item(), opt.LearningRate, (step + 1.0) * recipe.BatchSize * recipe.ContextLength / sw.Elapsed.TotalSeconds);
        }
        double valLoss = GptValidationLoss(model, val, recipe, tok.VocabSize);
        bool moved = Snapshot(model).Zip(initial).Any(p => Math.Abs(p.First - p.Second) > 1e-6);
        // Prompt with the Bible's first words, or the text's own first characters when those are not in its alphabet.
        const string opening = "Ge1:1 In the beginning";
        var promptText = opening.EnumerateRunes().All(r => text.Contains(r.ToString())) ? opening : text[..Math.Min(20, text.Length)];
        var promptIds = tok.Encode(promptText).Select(i => (long)i).ToArray();
        var prompt = Tensor.FromArray(promptIds, 1, promptIds.Length);
        var sample = tok.Decode(model.Generate(prompt, 200, new SamplingOptions(0.8, TopK: 20), generator: new Generator(recipe.Seed + 7))
            .ToArray<long>().Select(i => (int)i));
        if (tensorboard is not null)
        {
            tensorboard.AddScalar("val/loss", valLoss, recipe.Steps);
            tensorboard.AddText("sample", "```\n" + sample + "\n```", recipe.Steps);
            TensorBoardLog.AttentionMaps(tensorboard, model.AttentionMaps(prompt), recipe.Steps);
            var hp = TensorBoardLog.Hparams(model.Config.ToMetadata());
            foreach (var (k, v) in new Dictionary<string, object>
            {
                ["steps"] = recipe.Steps, ["batch_size"] = recipe.BatchSize, ["lr"] = recipe.LearningRate, ["warmup_steps"] = recipe.WarmupSteps,
                ["weight_decay"] = recipe.WeightDecay, ["seed"] = (double)recipe.Seed,
            }) hp[k] = v;
            tensorboard.AddHparams(hp, new Dictionary<string, double> { ["hparam/val_loss"] = valLoss }, recipe.Steps);
            tensorboard.Flush();
        }
        // The metric is oriented so that larger is better: the margin left under the gate (reference + 0.05).
        double gate = recipe.ReferenceLoss + 0.05;
        string precision = recipe.Precision is DType p ? $", {p.Name()} autocast{(scaler is not null ? $" (loss scale {scaler.Scale:G3}, {scaler.SkippedSteps} steps skipped)" : "")}" : "";
        var result = new MilestoneResult("gpt", "val_loss_margin", gate - valLoss, 0, moved, sw.Elapsed.TotalSeconds,
            $"validation loss {valLoss:F4} vs TorchSharp reference {recipe.ReferenceLoss:F4} (gate: at most {gate:F4}), {recipe.Steps} steps, {sw.Elapsed.TotalSeconds:F0}s{precision}");
        return new GptOutcome(result, model, tok, valLoss, sample);
    }

    /// <summary>A GPT training step for TensorBoard: loss, learning rate and tokens/s every 10 steps, weight and gradient
    /// histograms every 250 and at the last step.</summary>
    internal static void LogGptStep(Diagnostics.SummaryWriter tb, Module model, int step, int steps, double loss, double lr, double tokensPerSecond)
    {
        if (step % 10 == 0 || step == steps) TensorBoardLog.Step(tb, step, loss, lr, tokensPerSecond, "tokens");
        if (step % 250 == 0 || step == steps) TensorBoardLog.Parameters(tb, model, step);
    }

    /// <summary>Mean cross-entropy over <see cref="GptRecipe.EvalBatches"/> fixed windows of the validation text.</summary>
    public static double GptValidationLoss(Gpt model, int[] val, GptRecipe recipe, int vocab)
    {
        var g = new Generator(recipe.Seed + 2000);
        bool was = model.Training;
        model.Eval();
        double total = 0;
        using (Tensor.NoGrad())
            for (int i = 0; i < recipe.EvalBatches; i++)
            {
                var (x, y) = Windows(val, BatchOffsets(g, recipe.BatchSize, val.Length, recipe.ContextLength), recipe.ContextLength);
                total += Functional.CrossEntropy(model.Call(x).Reshape(-1, vocab), y.Reshape(-1)).Item();
            }
        model.Train(was);
        return total / recipe.EvalBatches;
    }
}
