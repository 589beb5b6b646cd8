using System.Text.Json;
using Ember;
using Ember.Kernels;
using Ember.Models;
using Ember.NN;
using Ember.Quantization;
using Xunit;

namespace Ember.Tests.Quantization;

public class StaticQuantizationTests
{
    private static readonly Lazy<JsonElement> s_ref = new(() => JsonDocument.Parse(File.ReadAllText(
        Path.Combine(AppContext.BaseDirectory, "Fixtures", "compression_reference.json"))).RootElement.GetProperty("calibration"));

    private static float[] Sample() => s_ref.Value.GetProperty("sample").EnumerateArray().Select(x => (float)x.GetDouble()).ToArray();

    /// <summary>Min-max and percentile ranges against NumPy (Fixtures/gen_compression_fixtures.py); the entropy
    /// threshold clips the outliers and quantizes the bulk of the values more finely than min-max.</summary>
    [Fact]
    public void CalibrationRangesMatchNumPyAndEntropyClipsOutliers()
    {
        var c = s_ref.Value;
        var sample = Sample();
        var o = new ActivationObserver();
        o.Observe(Tensor.FromArray(sample.Take(2000).ToArray()));
        o.Observe(Tensor.FromArray(sample.Skip(2000).ToArray()));
        Assert.Equal((float)c.GetProperty("minimum").GetDouble(), o.Min);
        Assert.Equal((float)c.GetProperty("maximum").GetDouble(), o.Max);
        Assert.Equal(ActivationRange.FromRange(o.Min, o.Max), o.Range(CalibrationMethod.MinMax));
        var expected = ActivationRange.FromRange((float)c.GetProperty("p_low").GetDouble(), (float)c.GetProperty("p_high").GetDouble());
        var percentile = o.Range(CalibrationMethod.Percentile, 99.5);
        Assert.Equal(expected.ZeroPoint, percentile.ZeroPoint);
        Assert.Equal(expected.Scale, percentile.Scale, 1e-6f);

        var entropy = o.Range(CalibrationMethod.Entropy);
        var minmax = o.Range(CalibrationMethod.MinMax);
        Assert.True(entropy.Range.Hi < o.Max / 2, $"entropy range {entropy.Range} does not clip the outliers (max {o.Max})");
        double Mse(ActivationRange r) => sample.Where(v => Math.Abs(v) < 4).Average(v =>
        {
            float q = Math.Clamp(MathF.Round(v / r.Scale) + r.ZeroPoint, 0, 127);
            return Math.Pow((q - r.ZeroPoint) * r.Scale - v, 2);
        });
        Assert.True(Mse(entropy) < Mse(minmax) / 4, $"bulk MSE entropy {Mse(entropy)} {entropy} vs min-max {Mse(minmax)} {minmax}");
    }

    /// <summary>A statically quantized layer equals the definition with the calibrated constants: every row quantized
    /// with the same scale and zero point (saturating outside), int32 sums, the shared dequantization.</summary>
    [Fact]
    public void StaticLinearEqualsItsDefinitionAndSaturatesOutsideTheRange()
    {
        var layer = new Linear(20, 7, generator: new Generator(3));
        var calib = Tensor.Randn([64, 20], DType.Float32, new Generator(4));
        var ranges = Quantize.Static(layer, [calib]);
        var range = ranges[""];
        Assert.Equal(range, layer.InputRange);
        var x = Tensor.Randn([5, 20], DType.Float32, new Generator(5)).Mul(2);   // some values beyond the calibrated range
        var y = layer.Infer(x).ToArray<float>();
        var xs = x.ToArray<float>();
        var wq = layer.Int8!.Values.ToArray<sbyte>();
        var ws = layer.Int8.Scales.ToArray<float>();
        var b = layer.Bias!.ToArray<float>();
        float inv = 1 / range.Scale;
        for (int r = 0; r < 5; r++)
            for (int j = 0; j < 7; j++)
            {
                int acc = 0, sum = 0;
                for (int i = 0; i < 20; i++)
                {
                    int q = Math.Clamp((int)MathF.Round(xs[r * 20 + i] * inv) + range.ZeroPoint, 0, 127);
                    acc += q * wq[j * 20 + i];
                    sum += wq[j * 20 + i];
                }
                float want = (float)(acc - range.ZeroPoint * sum) * range.Scale * ws[j] + b[j];
                Assert.Equal(want, y[r * 7 + j]);
            }
    }

    [Fact]
    public void StaticallyQuantizedModelsKeepAccuracyRoundTripAndExport()
    {
        var (x, yLabels) = Ember.Data.ImageFolders.LoadMnistFormat(Ember.Tests.Data.DataTests.RepoData("mnist-10k"), train: true);
        x = x.Narrow(0, 0, 2000).Reshape(2000, -1);
        yLabels = yLabels.Narrow(0, 0, 2000);
        var mlp = new Mlp(new MlpConfig { InFeatures = 784, Hidden = [64], OutFeatures = 10, Dropout = 0 }, new Generator(6));
        var opt = new Ember.Optim.AdamW(mlp.Parameters(), lr: 3e-3);
        for (int epoch = 0; epoch < 3; epoch++)
            for (int i = 0; i < 2000; i += 100)
            {
                opt.ZeroGrad();
                Functional.CrossEntropy(mlp.Call(x.Narrow(0, i, 100)), yLabels.Narrow(0, i, 100)).Backward();
                opt.Step();
            }
        mlp.Eval();
        double Acc(Module m) => m.Infer(x).ArgMax(1).Eq(yLabels).To(DType.Float32).Mean().Item();
        double before = Acc(mlp);
        var ranges = Quantize.Static(mlp, Enumerable.Range(0, 4).Select(i => x.Narrow(0, i * 100, 100)), CalibrationMethod.Percentile, 99.99);
        Assert.Equal(2, ranges.Count);
        double after = Acc(mlp);
        Assert.True(Math.Abs(after - before) < 0.01, $"static int8 accuracy {after} vs float {before}");

        var state = mlp.StateDict();
        Assert.Equal(DType.Int64, state["net.1.input_zero_point"].DType);
        var fresh = new Mlp(mlp.Config, new Generator(99));
        Ember.Training.Trainer.LoadModelState(fresh, state, "test");
        fresh.Eval();
        Assert.Equal(mlp.Infer(x.Narrow(0, 0, 10)).ToArray<float>(), fresh.Infer(x.Narrow(0, 0, 10)).ToArray<float>());
        Assert.Equal(ranges["net.1"], ((Linear)fresh.Network[1]).InputRange);

        var path = Path.Combine(Directory.CreateTempSubdirectory("ember-static").FullName, "static.onnx");
        Ember.Onnx.Export(mlp, x.Narrow(0, 0, 2), path);
        var want = mlp.Infer(x.Narrow(0, 0, 9)).ToArray<float>();
        var got = Onnx.OnnxExportTests.RunOrt(path, x.Narrow(0, 0, 9), out _);
        for (int i = 0; i < want.Length; i++) Assert.True(Math.Abs(want[i] - got[i]) <= 1e-4 * Math.Max(1, Math.Abs(want[i])), $"[{i}] Ember {want[i]}, ORT {got[i]}");
    }

    [Fact]
    public void StaticConvolutionsCalibrateThroughFusedLayers()
    {
        var net = new Sequential(new Conv2d(1, 4, 3, padding: 1, generator: new Generator(7)), new ReLU(), new MaxPool2d(2),
            new Conv2d(4, 6, 3, padding: 1, generator: new Generator(8)), new ReLU(), new Flatten(), new Linear(6 * 4 * 4, 3, generator: new Generator(9)));
        var x = Tensor.Randn([8, 1, 8, 8], DType.Float32, new Generator(10));
        net.Eval();
        var reference = net.Infer(x).ToArray<float>();
        var ranges = Quantize.Static(net, [x]);
        Assert.Equal(["0", "3", "6"], ranges.Keys.Order());
        Assert.True(ranges["3"].ZeroPoint == 0, "the second conv sees ReLU outputs: its range starts at 0");
        var y = net.Infer(x).ToArray<float>();
        double err = y.Zip(reference, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(err < 0.05 * reference.Max(Math.Abs), $"static int8 CNN differs by {err}");
        Assert.Throws<ArgumentException>(() => Quantize.Static(new Sequential(new ReLU()), [x]));
    }
}
