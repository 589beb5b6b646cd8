using System.Diagnostics;

namespace Ember.Recipes;

public static partial class Milestones
{
    /// <summary>Settings of the digit-reversal recipe: an encoder–decoder Transformer learns to output its input digits
    /// in reverse order (the reverse milestone).</summary>
    public sealed record ReverseRecipe
    {
        public int MinLength { get; init; } = 3;
        public int MaxLength { get; init; } = 12;
        public int Steps { get; init; } = 800;
        public int BatchSize { get; init; } = 128;
        public double LearningRate { get; init; } = 1e-3;
        public int WarmupSteps { get; init; } = 100;
        public int DModel { get; init; } = 64;
        public int Heads { get; init; } = 4;
        public int Layers { get; init; } = 2;
        public int FeedForward { get; init; } = 256;
        public int TestSize { get; init; } = 1000;
        public ulong Seed { get; init; } = 1;
    }

    /// <summary>Token ids of the reversal task: 0 pad, 1 begin, 2 end, then the digits 0–9 as 3–12.</summary>
    public const int ReversePad = 0, ReverseBos = 1, ReverseEos = 2, ReverseDigit0 = 3;

    /// <summary>The outcome of a reverse run: the result, the model and the held-out sequences.</summary>
    public sealed record ReverseOutcome(MilestoneResult Result, Seq2SeqTransformer Model, int[][] TestSequences, double ExactMatch, double TokenAccuracy);

    /// <summary>A random digit sequence with a length in [min, max].</summary>
    private static int[] RandomDigits(Generator g, int min, int max)
    {
        var digits = new int[(int)g.NextInt64(min, max + 1)];
        for (int i = 0; i < digits.Length; i++) digits[i] = (int)g.NextInt64(0, 10);
        return digits;
    }

    /// <summary>Source ids (N, S) padded to the longest row, decoder input (BOS + reversed) and labels (reversed + EOS),
    /// both (N, T) with padding.</summary>
    public static (Tensor Src, Tensor TgtIn, Tensor TgtOut) ReverseBatch(IReadOnlyList<int[]> sequences)
    {
        int n = sequences.Count, s = sequences.Max(q => q.Length), t = s + 1;
        var src = new long[n * s];
        var tin = new long[n * t];
        var tout = new long[n * t];
        for (int i = 0; i < n; i++)
        {
            var q = sequences[i];
            tin[i * t] = ReverseBos;
            for (int j = 0; j < q.Length; j++)
            {
                src[i * s + j] = ReverseDigit0 + q[j];
                long r = ReverseDigit0 + q[q.Length - 1 - j];
                tin[i * t + j + 1] = r;
                tout[i * t + j] = r;
            }
            tout[i * t + q.Length] = ReverseEos;
        }
        return (Tensor.FromArray(src, n, s), Tensor.FromArray(tin, n, t), Tensor.FromArray(tout, n, t));
    }

    /// <summary>Exact-match rate and per-digit accuracy of greedy decoding on <paramref name="sequences"/>.</summary>
    public static (double ExactMatch, double TokenAccuracy) ReverseAccuracy(Seq2SeqTransformer model, IReadOnlyList<int[]> sequences, int batch = 250)
    {
        int exact = 0, tokens = 0, correct = 0;
        for (int start = 0; start < sequences.Count; start += batch)
        {
            var chunk = sequences.Skip(start).Take(batch).ToArray();
            var (src, _, _) = ReverseBatch(chunk);
            var decoded = model.GreedyDecode(src, chunk.Max(q => q.Length) + 1);
            for (int i = 0; i < chunk.Length; i++)
            {
                var expected = chunk[i].Reverse().Select(d => (long)(ReverseDigit0 + d)).ToArray();
                if (decoded[i].SequenceEqual(expected)) exact++;
                tokens += expected.Length;
                for (int j = 0; j < expected.Length; j++) if (j < decoded[i].Length && decoded[i][j] == expected[j]) correct++;
            }
        }
        return ((double)exact / sequences.Count, (double)correct / tokens);
    }

    /// <summary>The reverse milestone: trains an encoder–decoder Transformer on freshly drawn digit sequences (never one of
    /// the held-out test sequences) and decodes the test set greedily; gate: ≥ 95% of sequences reversed exactly.</summary>
    public static ReverseOutcome Reverse(ReverseRecipe? recipe = null, Action<string>? log = null)
    {
        var sw = Stopwatch.StartNew();
        recipe ??= new ReverseRecipe();
        if (recipe.MinLength < 1 || recipe.MaxLength < recipe.MinLength)
            throw new ArgumentException($"Reverse: lengths must satisfy 1 <= min ({recipe.MinLength}) <= max ({recipe.MaxLength}).");
        var testGen = new Generator(recipe.Seed + 5000);
        var test = new int[recipe.TestSize][];
        var held = new HashSet<string>();
        for (int i = 0; i < test.Length; i++)
        {
            test[i] = RandomDigits(testGen, recipe.MinLength, recipe.MaxLength);
            held.Add(string.Concat(test[i]));
        }
        var g = new Generator(recipe.Seed);
        var config = new Seq2SeqConfig(ReverseDigit0 + 10, ReverseDigit0 + 10, recipe.DModel, recipe.Heads, recipe.Layers, recipe.Layers,
            recipe.FeedForward, Dropout: 0, MaxLength: recipe.MaxLength + 2, PadId: ReversePad, BosId: ReverseBos, EosId: ReverseEos);
        var model = new Seq2SeqTransformer(config, g);
        var initial = Snapshot(model);
        var opt = new AdamW(model.Parameters(), lr: recipe.LearningRate, weightDecay: 0.01);
        var data = new Generator(recipe.Seed + 1000);
        var batch = new List<int[]>(recipe.BatchSize);
        for (int step = 0; step < recipe.Steps; step++)
        {
            batch.Clear();
            while (batch.Count < recipe.BatchSize)
            {
                var q = RandomDigits(data, recipe.MinLength, recipe.MaxLength);
                if (!held.Contains(string.Concat(q))) batch.Add(q);
            }
            var (src, tin, tout) = ReverseBatch(batch);
            opt.LearningRate = WarmupCosine(recipe.LearningRate, recipe.WarmupSteps, recipe.Steps, step);
            var logits = model.Forward(src, tin);
            var loss = Functional.CrossEntropy(logits.Reshape(-1, config.TgtVocabSize), tout.Reshape(-1), ignoreIndex: ReversePad);
            opt.ZeroGrad();
            loss.Backward();
            Optimizer.ClipGradNorm(model.Parameters(), 1.0);
            opt.Step();
            if (log is not null && (step % 100 == 0 || step == recipe.Steps - 1))
                log($"step {step + 1}/{recipe.Steps} loss {loss.Item():F4} lr {opt.LearningRate:G3} {sw.Elapsed.TotalSeconds:F0}s");
        }
        var (exact, tokenAcc) = ReverseAccuracy(model, test);
        bool moved = Snapshot(model).Zip(initial).Any(p => Math.Abs(p.First - p.Second) > 1e-6);
        var result = new MilestoneResult("reverse", "exact_match", exact, 0.95, moved, sw.Elapsed.TotalSeconds,
            $"{test.Length} held-out sequences of {recipe.MinLength}-{recipe.MaxLength} digits: exact match {exact:F4}, digit accuracy {tokenAcc:F4}; " +
            $"{recipe.Steps} steps of {recipe.BatchSize}, {sw.Elapsed.TotalSeconds:F0}s");
        return new ReverseOutcome(result, model, test, exact, tokenAcc);
    }
}
