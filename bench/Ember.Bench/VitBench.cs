using Ember.Models;
using Ember.NN;
using Ember.Optim;
using TorchSharp;
using static TorchSharp.torch;

namespace Ember.Bench;

/// <summary>The vit milestone's model (Fashion-MNIST 28×28, patch 4, 6 pre-norm blocks of width 64, 4 heads, MLP 128,
/// 10 classes) at batch 128 with AdamW: training images per second in Ember and in TorchSharp, the same architecture
/// written from TorchSharp modules (<c>vit</c>).</summary>
internal static class VitBench
{
    private const int Batch = 128, Image = 28, Patch = 4, Dim = 64, Depth = 6, Heads = 4, Mlp = 128, Classes = 10;
    private const int Tokens = (Image / Patch) * (Image / Patch) + 1;

    public static void Run(int rounds) => TrainBench.Run("vit", "vit-ember", "vit-torch", unit: "images_per_s", scale: Batch, rounds: rounds);

    public static void EmberSide()
    {
        var g = new Generator(1);
        var model = new VisionTransformer(new VitConfig(Image, Patch, 1, Classes, Dim, Depth, Heads, Mlp), g);
        var opt = new AdamW(model.Parameters(), lr: 1e-3, weightDecay: 0.05);
        var x = Tensor.Rand([Batch, 1, Image, Image], DType.Float32, g);
        var y = Tensor.RandInt(0, Classes, [Batch], g);
        double rate = TrainBench.Measure(() =>
        {
            var loss = Functional.CrossEntropy(model.Call(x), y, labelSmoothing: 0.1);
            opt.ZeroGrad();
            loss.Backward();
            opt.Step();
        }, warmup: 10);
        TrainBench.Report(rate);
    }

    /// <summary>Ember's step under the profiler (<c>vit-profile</c>): per-op totals over 10 steps after warm-up.</summary>
    public static void Profile()
    {
        var g = new Generator(1);
        var model = new VisionTransformer(new VitConfig(Image, Patch, 1, Classes, Dim, Depth, Heads, Mlp), g);
        var opt = new AdamW(model.Parameters(), lr: 1e-3, weightDecay: 0.05);
        var x = Tensor.Rand([Batch, 1, Image, Image], DType.Float32, g);
        var y = Tensor.RandInt(0, Classes, [Batch], g);
        void Step()
        {
            var loss = Functional.CrossEntropy(model.Call(x), y, labelSmoothing: 0.1);
            opt.ZeroGrad();
            loss.Backward();
            opt.Step();
        }
        for (int i = 0; i < 10; i++) Step();
        Ember.Diagnostics.Profiler.Start();
        var sw = System.Diagnostics.Stopwatch.StartNew();
        for (int i = 0; i < 10; i++) Step();
        Ember.Diagnostics.Profiler.Stop();
        Console.WriteLine($"10 steps: {sw.Elapsed.TotalMilliseconds:F0} ms");
        Console.WriteLine(Ember.Diagnostics.Profiler.Report());
    }

    private sealed class TsBlock : nn.Module<torch.Tensor, torch.Tensor>
    {
        private readonly nn.Module<torch.Tensor, torch.Tensor> ln1, ln2, qkv, proj, fc, fcProj;

        public TsBlock() : base("block")
        {
            ln1 = nn.LayerNorm(Dim, 1e-6); ln2 = nn.LayerNorm(Dim, 1e-6);
            qkv = nn.Linear(Dim, 3 * Dim); proj = nn.Linear(Dim, Dim);
            fc = nn.Linear(Dim, Mlp); fcProj = nn.Linear(Mlp, Dim);
            RegisterComponents();
        }

        public override torch.Tensor forward(torch.Tensor x)
        {
            long b = x.shape[0], t = x.shape[1], hd = Dim / Heads;
            var parts = qkv.forward(ln1.forward(x)).split(Dim, 2);
            torch.Tensor H(torch.Tensor z) => z.view(b, t, Heads, hd).transpose(1, 2);
            var att = H(parts[0]).matmul(H(parts[1]).transpose(-2, -1)).mul(1.0 / Math.Sqrt(hd)).softmax(-1);
            var y = att.matmul(H(parts[2])).transpose(1, 2).contiguous().view(b, t, Dim);
            x = x + proj.forward(y);
            return x + fcProj.forward(nn.functional.gelu(fc.forward(ln2.forward(x))));
        }
    }

    private sealed class TsVit : nn.Module<torch.Tensor, torch.Tensor>
    {
        private readonly nn.Module<torch.Tensor, torch.Tensor> patchEmbed, blocks, norm, head;
        private readonly TorchSharp.Modules.Parameter clsToken, posEmbed;

        public TsVit() : base("vit")
        {
            patchEmbed = nn.Conv2d(1, Dim, Patch, stride: Patch);
            clsToken = new TorchSharp.Modules.Parameter(torch.randn(1, 1, Dim) * 0.02);
            posEmbed = new TorchSharp.Modules.Parameter(torch.randn(1, Tokens, Dim) * 0.02);
            blocks = nn.Sequential(Enumerable.Range(0, Depth).Select(_ => (nn.Module<torch.Tensor, torch.Tensor>)new TsBlock()).ToArray());
            norm = nn.LayerNorm(Dim, 1e-6);
            head = nn.Linear(Dim, Classes);
            RegisterComponents();
        }

        public override torch.Tensor forward(torch.Tensor x)
        {
            var p = patchEmbed.forward(x).flatten(2).transpose(1, 2);
            var h = torch.cat([clsToken.expand(x.shape[0], 1, Dim), p], 1) + posEmbed;
            return head.forward(norm.forward(blocks.forward(h)).select(1, 0));
        }
    }

    public static void TorchSide()
    {
        torch.set_num_threads(Environment.ProcessorCount);
        torch.manual_seed(1);
        var model = new TsVit();
        var opt = optim.AdamW(model.parameters(), 1e-3, weight_decay: 0.05);
        var x = torch.rand(Batch, 1, Image, Image);
        var y = torch.randint(0, Classes, [Batch], dtype: ScalarType.Int64);
        double rate = TrainBench.Measure(() =>
        {
            using var scope = torch.NewDisposeScope();
            var loss = nn.functional.cross_entropy(model.forward(x), y, label_smoothing: 0.1);
            opt.zero_grad();
            loss.backward();
            opt.step();
        }, warmup: 10);
        TrainBench.Report(rate);
    }
}
