using System.Text.Json;
using Ember.NN;
using Ember.Optim;
using Xunit;

namespace Ember.Tests.Tensors;

/// <summary>bfloat16 and float16 against PyTorch 1.13's roundings and its CPU autocast Linear
/// (Fixtures/gen_precision_fixtures.py); the loss scaler's rules.</summary>
public class LowPrecisionTests
{
    private static readonly Lazy<JsonElement> s_ref = new(() =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "precision_reference.json"))).RootElement);

    private static T[] Arr<T>(string name, JsonElement? e = null) =>
        (e ?? s_ref.Value).GetProperty(name).EnumerateArray().Select(x => typeof(T) == typeof(float) ? (T)(object)x.GetSingle() : (T)(object)x.GetUInt32()).ToArray();

    [Fact]
    public void RoundingMatchesPyTorchBitForBit()
    {
        var floats = Arr<uint>("float_bits").Select(BitConverter.UInt32BitsToSingle).ToArray();
        var bf = Arr<uint>("bfloat16_bits");
        var f16 = Arr<uint>("float16_bits");
        var t = Tensor.FromArray(floats);
        var b = t.To(DType.BFloat16);
        var h = t.To(DType.Float16);
        Assert.Equal(DType.BFloat16, b.DType);
        var bBits = b.ToArray<BFloat16>().Select(v => (uint)v.Bits).ToArray();
        var hBits = h.ToArray<Half>().Select(v => (uint)BitConverter.HalfToUInt16Bits(v)).ToArray();
        for (int i = 0; i < floats.Length; i++)
        {
            if (float.IsNaN(floats[i])) continue;
            Assert.True(bf[i] == bBits[i], $"bfloat16 of {floats[i]:R} (0x{BitConverter.SingleToUInt32Bits(floats[i]):X8}): PyTorch 0x{bf[i]:X4}, Ember 0x{bBits[i]:X4}");
            Assert.True(f16[i] == hBits[i], $"float16 of {floats[i]:R}: PyTorch 0x{f16[i]:X4}, Ember 0x{hBits[i]:X4}");
        }
        // Widening back is exact, and the scalar conversions (tails, NaN) agree with the vector ones.
        Assert.Equal(b.ToArray<BFloat16>().Select(v => (float)v), b.To(DType.Float32).ToArray<float>());
        Assert.True(float.IsNaN((float)(BFloat16)float.NaN));
        Assert.True(float.IsNaN(Tensor.FromArray(new[] { 1f, float.NaN, 2f }).To(DType.BFloat16).To(DType.Float32).ToArray<float>()[1]));
        for (int i = 0; i < floats.Length; i++) Assert.Equal(bBits[i], (uint)((BFloat16)floats[i]).Bits);
    }

    [Fact]
    public void SixteenBitTensorsPrintSaveAndFeedALinear()
    {
        var x = Tensor.FromArray(new[] { 1f, 2.5f, -0.1f }).To(DType.BFloat16);
        Assert.Contains("bfloat16", x.ToString());
        var path = Path.Combine(Directory.CreateTempSubdirectory("ember-bf16").FullName, "t.safetensors");
        Ember.IO.Safetensors.Save(path, new Dictionary<string, Tensor> { ["x"] = x });
        var back = Ember.IO.Safetensors.Load(path)["x"];   // BF16 on disk, widened to float32 when read
        Assert.Equal(x.To(DType.Float32).ToArray<float>(), back.ToArray<float>());
        var w = Tensor.Randn([2, 3], DType.Float32, new Generator(1));
        Assert.Equal(Functional.Linear(x.To(DType.Float32), w).ToArray<float>(), Functional.Linear(x, w).ToArray<float>());
        Assert.Throws<ArgumentException>(() => x.RequiresGrad = true);
        // matmul and convolution widen 16-bit operands (exactly) and compute in float32.
        var m = Tensor.FromArray(new[] { 0.5f, -1.25f, 3f, 2f }, [2, 2]);
        Assert.Equal(m.Matmul(m).ToArray<float>(), m.To(DType.Float16).Matmul(m.To(DType.BFloat16)).ToArray<float>());
        var img = Tensor.FromArray(Enumerable.Range(0, 16).Select(i => i * 0.25f).ToArray(), [1, 1, 4, 4]);
        var k = Tensor.FromArray(new[] { 1f, -0.5f, 0.25f, 2f }, [1, 1, 2, 2]);
        Assert.Equal(Functional.Conv2d(img, k).ToArray<float>(), Functional.Conv2d(img.To(DType.BFloat16), k.To(DType.Float16)).ToArray<float>());
        // Under autocast a convolution is the float32 convolution of the rounded operands, rounded; gradients flow.
        var kg = Tensor.FromArray(new[] { 1.001f, -0.5f, 0.2501f, 2f }, [1, 1, 2, 2]).RequiresGrad_();
        var imgs = Tensor.Randn([2, 1, 5, 5], DType.Float32, new Generator(3));
        Tensor cast;
        using (Autocast.Enable(DType.BFloat16)) cast = Functional.Conv2d(imgs, kg);
        var expected = Functional.Conv2d(imgs.To(DType.BFloat16).To(DType.Float32), kg.Detach().To(DType.BFloat16).To(DType.Float32)).To(DType.BFloat16).To(DType.Float32);
        Assert.Equal(expected.ToArray<float>(), cast.ToArray<float>());
        cast.Sum().Backward();
        Assert.All(kg.Grad!.ToArray<float>(), v => Assert.Equal(v, (float)(BFloat16)v));
    }

    [Fact]
    public void AutocastLinearMatchesPyTorchCpuAutocast()
    {
        var r = s_ref.Value.GetProperty("linear");
        int rows = r.GetProperty("rows").GetInt32(), inF = r.GetProperty("in").GetInt32(), outF = r.GetProperty("out").GetInt32();
        var lin = new Linear(inF, outF);
        using (Tensor.NoGrad())
        {
            lin.Weight.CopyFrom(Tensor.FromArray(Arr<float>("weight", r), [outF, inF]));
            lin.Bias!.CopyFrom(Tensor.FromArray(Arr<float>("bias", r)));
        }
        var x = Tensor.FromArray(Arr<float>("x", r), [rows, inF]).RequiresGrad_();
        Tensor y;
        using (Autocast.Enable(DType.BFloat16)) y = lin.Call(x);
        y.Backward(Tensor.FromArray(Arr<float>("upstream", r), [rows, outF]));
        // Products accumulate in float32 in another order than oneDNN's, then round to bfloat16: equal, or one
        // bfloat16 step (2^-8 relative) apart where the float32 sums straddle a rounding boundary.
        void Near(float[] expected, float[] actual, string what)
        {
            int off = 0;
            for (int i = 0; i < expected.Length; i++)
            {
                float e = expected[i], a = actual[i];
                if (e == a) continue;
                off++;
                Assert.True(Math.Abs(e - a) <= Math.Abs(e) * (1.0 / 128) + 1e-6, $"{what}[{i}]: PyTorch {e:R}, Ember {a:R}");
            }
            Assert.True(off <= expected.Length / 10, $"{what}: {off} of {expected.Length} differ by a rounding step");
        }
        Near(Arr<float>("y", r), y.ToArray<float>(), "output");
        Near(Arr<float>("grad_x", r), x.Grad!.ToArray<float>(), "input gradient");
        Near(Arr<float>("grad_w", r), lin.Weight.Grad!.ToArray<float>(), "weight gradient");
        Near(Arr<float>("grad_b", r), lin.Bias!.Grad!.ToArray<float>(), "bias gradient");
        // Every output value is a bfloat16 value; without the scope the layer is float32 again.
        Assert.All(y.ToArray<float>(), v => Assert.Equal(v, (float)(BFloat16)v));
        Assert.Contains(lin.Call(x).ToArray<float>(), v => v != (float)(BFloat16)v);
    }

    [Fact]
    public void GradScalerSkipsOverflowingStepsAndAdjustsTheScale()
    {
        var p = Tensor.FromArray(new[] { 1f, 2f }).RequiresGrad_();
        var opt = new SGD([p], 0.5);
        var scaler = new GradScaler(initScale: 1024, growthInterval: 2);
        // A clean step: the gradient is unscaled before the update.
        scaler.ScaleLoss(p.Sum()).Backward();
        Assert.Equal(new[] { 1024f, 1024f }, p.Grad!.ToArray<float>());
        Assert.True(scaler.Step(opt));
        Assert.Equal(new[] { 0.5f, 1.5f }, p.ToArray<float>());
        scaler.Update();
        Assert.Equal(1024, scaler.Scale);
        // An overflowing step is skipped and the scale halves.
        opt.ZeroGrad();
        scaler.ScaleLoss(p.Mul(float.MaxValue).Sum()).Backward();
        Assert.False(scaler.Step(opt));
        Assert.Equal(new[] { 0.5f, 1.5f }, p.ToArray<float>());
        scaler.Update();
        Assert.Equal(512, scaler.Scale);
        Assert.Equal(1, scaler.SkippedSteps);
        // Two clean steps in a row: the scale doubles.
        for (int i = 0; i < 2; i++)
        {
            opt.ZeroGrad();
            scaler.ScaleLoss(p.Sum()).Backward();
            scaler.Step(opt);
            scaler.Update();
        }
        Assert.Equal(1024, scaler.Scale);
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static (Tensor Loss, WeakReference Hidden, WeakReference Activated) Forward(Sequential mlp, Tensor x, DType? low)
    {
        using var cast = low is DType t ? Autocast.Enable(t) : null;
        var h = x.Mul(2);                               // the first Linear's float32 input
        var a = mlp.Call(h);
        return (a.Square().Sum(), new WeakReference(h), new WeakReference(a));
    }

    [Fact]
    public void AutocastGraphKeepsSixteenBitCopiesNotTheFloat32Inputs()
    {
        var g = new Generator(2);
        var mlp = new Sequential(new Linear(8, 32, generator: g), new GELU(), new Linear(32, 8, generator: g));
        var x = Tensor.Randn([5, 3, 8], DType.Float32, g, requiresGrad: true);
        foreach (DType? low in new DType?[] { null, DType.BFloat16 })
        {
            var (loss, hidden, _) = Forward(mlp, x, low);
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            // Without autocast the graph holds the Linear's input; with it, only a 16-bit copy: the float32 tensor is gone.
            Assert.Equal(low is null, hidden.IsAlive);
            mlp.ZeroGrad();
            x.ZeroGrad();
            loss.Backward();
            Assert.NotNull(x.Grad);
            Assert.NotNull(mlp.Parameters().First().Grad);
        }
    }

    [Fact]
    public void RetainGradAfterAnAutocastOpStillReceivesTheGradient()
    {
        var g = new Generator(3);
        var lin = new Linear(6, 4, generator: g);
        var x = Tensor.Randn([3, 6], DType.Float32, g, requiresGrad: true);
        Tensor h, y;
        using (Autocast.Enable(DType.BFloat16))
        {
            h = x.Mul(2);
            y = lin.Call(h);
        }
        h.RetainGrad();   // after the Linear recorded h's shell
        y.Sum().Backward();
        Assert.NotNull(h.Grad);
        Assert.Equal(x.Grad!.Div(2).ToArray<float>(), h.Grad!.ToArray<float>());
    }

    [Fact]
    public void TrainerTrainsInBothSixteenBitTypes()
    {
        foreach (var low in new[] { DType.BFloat16, DType.Float16 })
        {
            var g = new Generator(5);
            var x = Tensor.Randn([256, 6], DType.Float32, g);
            var y = x.Select(1, 0).Add(x.Select(1, 1)).Gt(0).To(DType.Int64);
            var model = new Sequential(new Linear(6, 32, generator: g), new ReLU(), new Linear(32, 2, generator: g));
            var trainer = new Ember.Training.Trainer(model, new AdamW(model.Parameters(), lr: 1e-2), (o, t) => Functional.CrossEntropy(o, t));
            var loader = new Ember.Data.DataLoader(new Ember.Data.TensorDataset(x, y), 32, shuffle: true, seed: 1);
            var h = trainer.Fit(loader, loader, new Ember.Training.TrainerOptions { Epochs = 8, Progress = false, Precision = low });
            Assert.True(h[^1].TrainLoss < 0.5 * h[0].TrainLoss, $"{low.Name()}: loss {h[0].TrainLoss} -> {h[^1].TrainLoss}");
            Assert.True(h[^1].ValAccuracy > 0.9, $"{low.Name()}: accuracy {h[^1].ValAccuracy}");
            Assert.Equal(low == DType.Float16, trainer.Scaler is not null);
        }
        Assert.Throws<ArgumentException>(() => new Ember.Training.Trainer(new Linear(1, 1), new SGD(new Linear(1, 1).Parameters(), 0.1), (o, t) => o.Sum())
            .Fit(new Ember.Data.DataLoader(new Ember.Data.TensorDataset(Tensor.Zeros([2, 1]), Tensor.Zeros([2, 1])), 2), null,
                new Ember.Training.TrainerOptions { Epochs = 1, Progress = false, Precision = DType.Float64 }));
    }
}
