using System.Diagnostics;
using Ember.Models;
using Ember.NN;
using Ember.Optim;
using TorchSharp;
using static TorchSharp.torch;

namespace Ember.Bench;

/// <summary>The character GPT of the gpt milestone (vocabulary 65, context 128, 4 layers, 4 heads, 128 channels,
/// batch 32, AdamW): training tokens per second in Ember and in TorchSharp (<c>gpt</c>), and Ember's generation
/// speed with and without the KV cache (<c>gpt-generate</c>).</summary>
internal static class GptBench
{
    private const int Vocab = 65, Context = 128, Batch = 32, Layers = 4, Heads = 4, Channels = 128;

    public static void Run(int rounds) => TrainBench.Run("gpt", "gpt-ember", "gpt-torch", unit: "tokens_per_s", scale: Batch * Context, rounds: rounds);

    public static void EmberSide()
    {
        var g = new Generator(1);
        var model = new Gpt(new GptConfig(Vocab, Context, Layers, Heads, Channels), g);
        var opt = new AdamW(model.Parameters(), lr: 1e-3, weightDecay: 0.1);
        var x = Tensor.RandInt(0, Vocab, [Batch, Context], g);
        var y = Tensor.RandInt(0, Vocab, [Batch, Context], g);
        double rate = TrainBench.Measure(() =>
        {
            var loss = Functional.CrossEntropy(model.Call(x).Reshape(-1, Vocab), y.Reshape(-1));
            opt.ZeroGrad();
            loss.Backward();
            opt.Step();
        }, warmup: 30);   // both sides: Ember's JIT tiering is still running 5 steps in (first 1-s windows 17-21k tokens/s, then 22-27k)
        TrainBench.Report(rate);
    }

    private sealed class TsBlock : nn.Module<torch.Tensor, torch.Tensor>
    {
        private readonly nn.Module<torch.Tensor, torch.Tensor> ln1, ln2;
        internal readonly TorchSharp.Modules.Linear attn, proj, fc, fcProj;
        private readonly torch.Tensor mask;

        public TsBlock(int context) : base("block")
        {
            ln1 = nn.LayerNorm(Channels); ln2 = nn.LayerNorm(Channels);
            attn = nn.Linear(Channels, 3 * Channels); proj = nn.Linear(Channels, Channels);
            fc = nn.Linear(Channels, 4 * Channels); fcProj = nn.Linear(4 * Channels, Channels);
            mask = torch.ones(context, context).triu(1).to(ScalarType.Bool);
            RegisterComponents();
        }

        public override torch.Tensor forward(torch.Tensor x)
        {
            long b = x.shape[0], t = x.shape[1], hd = Channels / Heads;
            var qkv = attn.forward(ln1.forward(x)).split(Channels, 2);
            torch.Tensor H(torch.Tensor z) => z.view(b, t, Heads, hd).transpose(1, 2);
            var q = H(qkv[0]); var k = H(qkv[1]); var v = H(qkv[2]);
            var att = q.matmul(k.transpose(-2, -1)).mul(1.0 / Math.Sqrt(hd)).masked_fill(mask, double.NegativeInfinity).softmax(-1);
            var y = att.matmul(v).transpose(1, 2).contiguous().view(b, t, Channels);
            x = x + proj.forward(y);
            return x + fcProj.forward(nn.functional.gelu(fc.forward(ln2.forward(x))));
        }
    }

    private sealed class TsGpt : nn.Module<torch.Tensor, torch.Tensor>
    {
        private readonly TorchSharp.Modules.Embedding wte, wpe;
        private readonly nn.Module<torch.Tensor, torch.Tensor> lnF;
        private readonly nn.Module<torch.Tensor, torch.Tensor> blocks;
        private readonly torch.Tensor pos;

        public TsGpt(int vocab = Vocab, int context = Context) : base("gpt")
        {
            wte = nn.Embedding(vocab, Channels); wpe = nn.Embedding(context, Channels); lnF = nn.LayerNorm(Channels);
            var list = Enumerable.Range(0, Layers).Select(_ => new TsBlock(context)).ToList();
            blocks = nn.Sequential(list.Select(b => (nn.Module<torch.Tensor, torch.Tensor>)b).ToArray());
            pos = torch.arange(context, dtype: ScalarType.Int64);
            RegisterComponents();
            // GPT-2's initialization, as Ember's Gpt: N(0, 0.02), zero biases, residual projections scaled by 1/√(2·layers).
            using var _ = torch.no_grad();
            nn.init.normal_(wte.weight!, 0, 0.02);
            nn.init.normal_(wpe.weight!, 0, 0.02);
            foreach (var b in list)
                foreach (var (lin, residual) in new[] { (b.attn, false), (b.proj, true), (b.fc, false), (b.fcProj, true) })
                {
                    nn.init.normal_(lin.weight!, 0, residual ? 0.02 / Math.Sqrt(2 * Layers) : 0.02);
                    nn.init.zeros_(lin.bias!);
                }
        }

        public override torch.Tensor forward(torch.Tensor idx)
        {
            var x = blocks.forward(wte.forward(idx) + wpe.forward(pos));
            return lnF.forward(x).matmul(wte.weight!.t());   // tied output projection
        }
    }

    public static void TorchSide()
    {
        torch.set_num_threads(Environment.ProcessorCount);
        torch.manual_seed(1);
        var model = new TsGpt();
        var opt = optim.AdamW(model.parameters(), 1e-3, weight_decay: 0.1);
        var x = torch.randint(0, Vocab, [Batch, Context], dtype: ScalarType.Int64);
        var y = torch.randint(0, Vocab, [Batch, Context], dtype: ScalarType.Int64);
        double rate = TrainBench.Measure(() =>
        {
            using var scope = torch.NewDisposeScope();
            var loss = nn.functional.cross_entropy(model.forward(x).view(-1, Vocab), y.view(-1));
            opt.zero_grad();
            loss.backward();
            opt.step();
        }, warmup: 30);   // both sides: Ember's JIT tiering is still running 5 steps in (first 1-s windows 17-21k tokens/s, then 22-27k)
        TrainBench.Report(rate);
    }

    /// <summary>The gpt milestone's recipe trained in TorchSharp on the same KJV split, the same batches (offsets drawn
    /// by Ember's generator with the recipe's seed), learning-rate schedule, clipping and initialization scheme:
    /// prints the validation loss on the same fixed windows. <c>gpt-loss [--data KJV] [--steps N]</c>.</summary>
    public static void TorchLoss(string[] args)
    {
        string path = ArgValue(args, "--data") ?? Path.Combine("..", "shared", "data", "kjv", "kjv.txt.gz");
        var recipe = new Recipes.Milestones.GptRecipe();
        if (ArgValue(args, "--steps") is string st) recipe = recipe with { Steps = int.Parse(st) };
        torch.set_num_threads(Environment.ProcessorCount);
        torch.manual_seed((long)recipe.Seed);
        var text = Recipes.Milestones.ReadText(path);
        var tok = Text.CharTokenizer.FromCorpus(text);
        var data = tok.Encode(text);
        int split = (int)(data.Length * (1 - recipe.ValidationFraction));
        var train = data[..split];
        var val = data[split..];
        var model = new TsGpt(tok.VocabSize, recipe.ContextLength);
        var opt = optim.AdamW(model.parameters(), recipe.LearningRate, weight_decay: recipe.WeightDecay);
        var batches = new Generator(recipe.Seed + 1000);
        torch.Tensor T(Tensor t) => torch.tensor(t.ToArray<long>(), [t.Size(0), t.Size(1)]);
        var sw = Stopwatch.StartNew();
        for (int step = 0; step < recipe.Steps; step++)
        {
            using var scope = torch.NewDisposeScope();
            foreach (var pg in opt.ParamGroups) pg.LearningRate = Recipes.Milestones.GptLearningRate(recipe, step);
            var (x, y) = Recipes.Milestones.Windows(train, Recipes.Milestones.BatchOffsets(batches, recipe.BatchSize, train.Length, recipe.ContextLength), recipe.ContextLength);
            var loss = nn.functional.cross_entropy(model.forward(T(x)).view(-1, tok.VocabSize), T(y).view(-1));
            opt.zero_grad();
            loss.backward();
            nn.utils.clip_grad_norm_(model.parameters(), 1.0);
            opt.step();
            if (step % 100 == 0) Console.Error.WriteLine($"torchsharp step {step + 1}/{recipe.Steps} loss {loss.item<float>():F4} {sw.Elapsed.TotalSeconds:F0}s");
        }
        var g = new Generator(recipe.Seed + 2000);
        double total = 0;
        model.eval();
        using (torch.no_grad())
            for (int i = 0; i < recipe.EvalBatches; i++)
            {
                using var scope = torch.NewDisposeScope();
                var (x, y) = Recipes.Milestones.Windows(val, Recipes.Milestones.BatchOffsets(g, recipe.BatchSize, val.Length, recipe.ContextLength), recipe.ContextLength);
                total += nn.functional.cross_entropy(model.forward(T(x)).view(-1, tok.VocabSize), T(y).view(-1)).item<float>();
            }
        Console.WriteLine($"gpt-loss torchsharp_val_loss={total / recipe.EvalBatches:F4} steps={recipe.Steps} seconds={sw.Elapsed.TotalSeconds:F0}");
    }

    private static string? ArgValue(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    /// <summary>Generating 256 tokens after a 16-token prompt, median of 3, with and without the KV cache (a model with a
    /// 512-token context, so the whole generation fits the window).</summary>
    public static void Generate()
    {
        var model = new Gpt(new GptConfig(Vocab, 512, Layers, Heads, Channels), new Generator(1));
        var prompt = Tensor.RandInt(0, Vocab, [1, 16], new Generator(2));
        double Time(bool cache)
        {
            // Warm-up to steady state: two full runs, so that the JIT's tiering (which waits ~100 ms after the last
            // new method before promoting hot code) has finished for this path before it is timed.
            for (int w = 0; w < 2; w++) model.Generate(prompt, 256, useCache: cache, generator: new Generator(3));
            var times = new List<double>();
            for (int r = 0; r < 3; r++)
            {
                var sw = Stopwatch.StartNew();
                model.Generate(prompt, 256, useCache: cache, generator: new Generator(3));
                times.Add(sw.Elapsed.TotalSeconds);
            }
            times.Sort();
            return times[1];
        }
        double with = Time(true), without = Time(false);
        Console.WriteLine($"gpt-generate tokens=256 cached_tokens_per_s={256 / with:F0} uncached_tokens_per_s={256 / without:F0} speedup={without / with:F1}");
    }
}
