using System.Diagnostics;
using System.Text;

namespace Ember.Recipes;

public static partial class Milestones
{
    /// <summary>Settings of fine-tuning a character GPT on new text: all weights, or LoRA adapters only.</summary>
    public sealed record FineTuneRecipe
    {
        public int Steps { get; init; } = 300;
        public int BatchSize { get; init; } = 16;
        /// <summary>Peak learning rate (null: 3e-4 for all weights, 1e-2 for LoRA adapters).</summary>
        public double? LearningRate { get; init; }
        public double WeightDecay { get; init; } = 0.0;
        public int WarmupSteps { get; init; } = 30;
        public double ValidationFraction { get; init; } = 0.1;
        public int EvalBatches { get; init; } = 20;
        /// <summary>LoRA rank; null trains every weight.</summary>
        public int? LoraRank { get; init; }
        /// <summary>LoRA α (null: 2·rank).</summary>
        public double? LoraAlpha { get; init; }
        public double LoraDropout { get; init; } = 0.0;
        /// <summary>Layers that get adapters (PEFT's default for GPT-2: the packed attention projection).</summary>
        public IReadOnlyList<string> LoraTargets { get; init; } = ["c_attn"];
        public ulong Seed { get; init; } = 1;
    }

    /// <summary>What a fine-tuning run did: validation loss before and after, parameters trained, time.</summary>
    public sealed record FineTuneOutcome(double LossBefore, double LossAfter, long Trainable, long Total, double Seconds, LoraConfig? Lora);

    /// <summary>Text in a tokenizer's alphabet: HTML line breaks become newlines, characters outside the alphabet become
    /// spaces (or are dropped when the alphabet has no space). <paramref name="replaced"/>: the fraction changed.</summary>
    public static string FitAlphabet(string text, CharTokenizer tok, out double replaced)
    {
        var known = new HashSet<string>(tok.Vocabulary);
        text = text.Replace("<br />", "\n").Replace("<br/>", "\n");
        bool space = known.Contains(" ");
        var sb = new StringBuilder(text.Length);
        long changed = 0, total = 0;
        foreach (var rune in text.EnumerateRunes())
        {
            total++;
            var s = rune.ToString();
            if (known.Contains(s)) sb.Append(s);
            else
            {
                changed++;
                if (space) sb.Append(' ');
            }
        }
        replaced = total == 0 ? 0 : (double)changed / total;
        return sb.ToString();
    }

    /// <summary>Fine-tunes <paramref name="model"/> on <paramref name="text"/> (already in the tokenizer's alphabet):
    /// the last <see cref="FineTuneRecipe.ValidationFraction"/> is held out; AdamW with warm-up and cosine decay on
    /// every weight, or (with <see cref="FineTuneRecipe.LoraRank"/>) on LoRA adapters of the targeted layers only, the
    /// base frozen. Reports the validation loss before and after.</summary>
    public static FineTuneOutcome FineTuneGpt(Gpt model, CharTokenizer tok, string text, FineTuneRecipe recipe, Action<string>? log = null,
        Diagnostics.SummaryWriter? tensorboard = null)
    {
        var sw = Stopwatch.StartNew();
        var data = tok.Encode(text);
        int context = model.Config.ContextLength;
        int split = (int)(data.Length * (1 - recipe.ValidationFraction));
        if (split < context + 2 || data.Length - split < context + 2)
            throw new ArgumentException($"FineTuneGpt: {data.Length} characters are too few for windows of {context} in both the training and validation parts.");
        var train = data[..split];
        var val = data[split..];
        var evalRecipe = new GptRecipe { BatchSize = recipe.BatchSize, ContextLength = context, EvalBatches = recipe.EvalBatches, Seed = recipe.Seed };
        double before = GptValidationLoss(model, val, evalRecipe, tok.VocabSize);
        LoraConfig? lora = null;
        if (recipe.LoraRank is int r)
        {
            lora = new LoraConfig(r, recipe.LoraAlpha ?? 2.0 * r, recipe.LoraDropout, recipe.LoraTargets);
            Lora.Apply(model, lora, new Generator(recipe.Seed + 3));
        }
        var trainable = model.Parameters().Where(p => p.RequiresGrad).ToList();
        double lr = recipe.LearningRate ?? (lora is null ? 3e-4 : 1e-2);
        var opt = new AdamW(trainable, lr: lr, weightDecay: recipe.WeightDecay);
        var batches = new Generator(recipe.Seed + 1000);
        model.Train();
        for (int step = 0; step < recipe.Steps; step++)
        {
            opt.LearningRate = WarmupCosine(lr, recipe.WarmupSteps, recipe.Steps, step);
            var (x, y) = Windows(train, BatchOffsets(batches, recipe.BatchSize, train.Length, context), context);
            var loss = Functional.CrossEntropy(model.Call(x).Reshape(-1, tok.VocabSize), y.Reshape(-1));
            opt.ZeroGrad();
            loss.Backward();
            Optimizer.ClipGradNorm(trainable, 1.0);
            opt.Step();
            if (log is not null && (step % 50 == 0 || step == recipe.Steps - 1))
                log($"step {step + 1}/{recipe.Steps} loss {loss.Item():F4} lr {opt.LearningRate:G3} {sw.Elapsed.TotalSeconds:F0}s");
            if (tensorboard is not null) LogGptStep(tensorboard, model, step + 1, recipe.Steps, loss.Item(), opt.LearningRate, (step + 1.0) * recipe.BatchSize * context / sw.Elapsed.TotalSeconds);
        }
        double after = GptValidationLoss(model, val, evalRecipe, tok.VocabSize);
        if (tensorboard is not null)
        {
            tensorboard.AddScalar("val/loss", after, recipe.Steps);
            var hp = TensorBoardLog.Hparams(model.Config.ToMetadata());
            hp["steps"] = recipe.Steps;
            hp["batch_size"] = recipe.BatchSize;
            hp["lr"] = lr;
            hp["lora_rank"] = recipe.LoraRank ?? 0;
            hp["lora_targets"] = lora is null ? "" : string.Join(",", lora.TargetModules ?? ["all"]);
            hp["trainable_parameters"] = trainable.Sum(p => (double)p.NumEl);
            tensorboard.AddHparams(hp, new Dictionary<string, double> { ["hparam/val_loss_before"] = before, ["hparam/val_loss"] = after }, recipe.Steps);
            tensorboard.Flush();
        }
        return new FineTuneOutcome(before, after, trainable.Sum(p => (long)p.NumEl), model.ParameterCount, sw.Elapsed.TotalSeconds, lora);
    }

    /// <summary>The review texts of a fine-food CSV (the <paramref name="column"/> column), one per line.</summary>
    public static string ReadTextColumn(string csvPath, string column, int? limitCharacters = null)
    {
        var table = CsvTable.Read(csvPath);
        int c = table.ColumnIndex(column);
        var sb = new StringBuilder();
        foreach (var row in table.Rows)
        {
            sb.Append(row[c]).Append('\n');
            if (limitCharacters is int lim && sb.Length >= lim) break;
        }
        return sb.ToString();
    }
}
