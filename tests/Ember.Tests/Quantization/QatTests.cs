using System.Text.Json;
using Ember.Models;
using Ember.NN;
using Ember.Quantization;
using Xunit;

namespace Ember.Tests.Quantization;

/// <summary>Quantization-aware training: fake quantization against PyTorch 1.13's fake_quantize_per_channel_affine
/// (Fixtures/gen_qat_fixtures.py), and a prepared-trained-converted model computing what it was trained to compute.</summary>
public class QatTests
{
    private static readonly Lazy<JsonElement> s_ref = new(() =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "qat_reference.json"))).RootElement);

    private static float[] F(string name) => s_ref.Value.GetProperty(name).EnumerateArray().Select(x => x.GetSingle()).ToArray();
    private static int[] S(string name) => s_ref.Value.GetProperty(name).EnumerateArray().Select(x => x.GetInt32()).ToArray();

    [Fact]
    public void FakeQuantizationMatchesPyTorch()
    {
        var w = Tensor.FromArray(F("w"), S("w_shape")).RequiresGrad_();
        var yw = FakeQuant.WeightPerChannel(w);
        yw.Backward(Tensor.FromArray(F("gw_up"), S("w_shape")));
        var x = Tensor.FromArray(F("x"), S("x_shape")).RequiresGrad_();
        var yx = FakeQuant.ActivationPerRow(x);
        yx.Backward(Tensor.FromArray(F("gx_up"), S("x_shape")));
        // Equal to float rounding (PyTorch divides by the scale where the int8 kernels multiply by its inverse: a value
        // exactly between two levels may round the other way; none does in this draw).
        Assert.Equal(F("yw"), yw.ToArray<float>(), new FloatNear(1e-6f));
        Assert.Equal(F("yx"), yx.ToArray<float>(), new FloatNear(1e-5f));
        Assert.Equal(F("gw"), w.Grad!.ToArray<float>());
        Assert.Equal(F("gx"), x.Grad!.ToArray<float>());
    }

    private sealed class FloatNear(float tolerance) : IEqualityComparer<float>
    {
        public bool Equals(float a, float b) => Math.Abs(a - b) <= tolerance * Math.Max(1, Math.Abs(a));
        public int GetHashCode(float f) => 0;
    }

    [Fact]
    public void ConvertedModelComputesWhatTheQatModelComputed()
    {
        var g = new Generator(4);
        var mlp = new Mlp(new MlpConfig { InFeatures = 20, Hidden = [32, 16], OutFeatures = 5, Dropout = 0 }, g);
        var prepared = Quantize.PrepareQat(mlp);
        Assert.Equal(3, prepared.Count);
        // A few QAT steps: gradients flow through the fake-quantized layers.
        var opt = new Ember.Optim.AdamW(mlp.Parameters(), lr: 1e-2);
        var x = Tensor.Randn([64, 20], DType.Float32, g);
        var y = Tensor.RandInt(0, 5, [64], g);
        double first = 0, last = 0;
        for (int i = 0; i < 30; i++)
        {
            var loss = Functional.CrossEntropy(mlp.Call(x), y);
            if (i == 0) first = loss.Item();
            last = loss.Item();
            opt.ZeroGrad();
            loss.Backward();
            opt.Step();
        }
        Assert.True(last < first, $"QAT loss {first} -> {last}");
        mlp.Eval();
        var fake = mlp.Infer(x).ToArray<float>();
        var converted = Quantize.ConvertQat(mlp);
        Assert.Equal(prepared, converted);
        Assert.All(mlp.NamedModules().Select(m => m.Module).OfType<Linear>(), l => Assert.NotNull(l.Int8));
        var int8 = mlp.Infer(x).ToArray<float>();
        // The int8 kernels sum the same integer products exactly; the fake-quantized float path rounds its sums.
        for (int i = 0; i < fake.Length; i++) Assert.True(Math.Abs(fake[i] - int8[i]) <= 1e-4f * Math.Max(1, Math.Abs(fake[i])), $"{i}: {fake[i]} vs {int8[i]}");
        Assert.Throws<ArgumentException>(() => Quantize.ConvertQat(mlp));
    }
}
