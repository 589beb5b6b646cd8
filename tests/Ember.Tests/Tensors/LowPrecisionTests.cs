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
}
