using System.Text.Json;
using Ember;
using Ember.IO;
using Ember.Kernels;
using Ember.Models;
using Ember.NN;
using Ember.Quantization;
using Xunit;

namespace Ember.Tests.Quantization;

public class QuantizationTests
{
    private static readonly Lazy<JsonElement> s_ref = new(() => JsonDocument.Parse(File.ReadAllText(
        Path.Combine(AppContext.BaseDirectory, "Fixtures", "compression_reference.json"))).RootElement);

    private static float[] Floats(JsonElement e, string p) => e.GetProperty(p).EnumerateArray().Select(x => (float)x.GetDouble()).ToArray();

    /// <summary>Weights and inputs quantized by PyTorch's own quantize_per_channel / quantize_per_tensor with Ember's
    /// scales (Fixtures/gen_compression_fixtures.py): the int8 values, scales and zero points are equal, and the
    /// layer's output equals the exact dequantized product to float32 rounding.</summary>
    [Fact]
    public unsafe void Int8LinearMatchesPyTorchQuantizers()
    {
        foreach (var c in s_ref.Value.GetProperty("linear").EnumerateArray())
        {
            int n = c.GetProperty("n").GetInt32(), k = c.GetProperty("k").GetInt32(), m = c.GetProperty("m").GetInt32();
            var layer = new Linear(k, m);
            using (Tensor.NoGrad())
            {
                layer.Weight.CopyFrom(Tensor.FromArray(Floats(c, "weight"), m, k));
                layer.Bias!.CopyFrom(Tensor.FromArray(Floats(c, "bias")));
            }
            var x = Tensor.FromArray(Floats(c, "x"), n, k);
            var yFloat = Floats(c, "y_float");
            layer.QuantizeInt8();
            Assert.Equal(c.Ints("weight_q"), layer.Int8!.Values.ToArray<sbyte>().Select(v => (int)v).ToArray());
            Assert.Equal(Floats(c, "weight_scale"), layer.Int8.Scales.ToArray<float>());

            var xs = x.ToArray<float>();
            var q = new byte[n * k];
            var scales = new float[n];
            var zeros = new int[n];
            fixed (float* px = xs, ps = scales) fixed (byte* pq = q) fixed (int* pz = zeros)
                Int8Gemm.QuantizeRows("test", n, k, px, k, pq, k, ps, pz);
            Assert.Equal(c.Ints("input_q"), q.Select(v => (int)v).ToArray());
            Assert.Equal(Floats(c, "input_scale"), scales);
            Assert.Equal(c.Ints("input_zero"), zeros);

            var y = layer.Infer(x).ToArray<float>();
            var expected = c.Doubles("y_int8");
            double range = expected.Max(Math.Abs);
            for (int i = 0; i < y.Length; i++)
                Assert.True(Math.Abs(y[i] - expected[i]) <= 2e-6 * (range + Math.Abs(expected[i])), $"case {n}×{k}→{m} [{i}]: reference {expected[i]:R}, Ember {y[i]:R}");
            // And the quantization error itself is small against the float layer PyTorch computed.
            double err = y.Zip(yFloat, (a, b) => Math.Abs(a - b)).Max();
            Assert.True(err < 0.03 * yFloat.Max(v => Math.Abs(v)), $"case {n}×{k}→{m}: int8 differs from float32 by {err}");
        }
    }

    [Fact]
    public void EachRowIsQuantizedOnItsOwnSoBatchingDoesNotChangeARow()
    {
        var layer = new Linear(50, 30, generator: new Generator(3));
        layer.QuantizeInt8();
        var x = Tensor.Randn([7, 50], DType.Float32, new Generator(4)).Mul(Tensor.Arange(1, 8).Unsqueeze(1));   // rows of different ranges
        var batch = layer.Infer(x);
        for (int r = 0; r < 7; r++)
            Assert.Equal(batch.Narrow(0, r, 1).ToArray<float>(), layer.Infer(x.Narrow(0, r, 1)).ToArray<float>());
    }

    [Fact]
    public void QuantizedCheckpointIsAQuarterOfTheSizeAndLoadsIntoAFreshModel()
    {
        var dir = Directory.CreateTempSubdirectory("ember-q").FullName;
        try
        {
            var config = new MlpConfig { InFeatures = 784, Hidden = [256, 128], OutFeatures = 10 };
            var model = new Mlp(config, new Generator(5));
            string full = Path.Combine(dir, "f.safetensors"), small = Path.Combine(dir, "q.safetensors");
            Safetensors.Save(full, model.StateDict());
            var x = Tensor.Randn([4, 784], DType.Float32, new Generator(6));
            model.Eval();
            var before = model.Infer(x).ToArray<float>();
            var names = Quantize.Dynamic(model);
            Assert.Equal(3, names.Count);
            var state = model.StateDict();
            Assert.Equal(DType.Int8, state["net.1.weight"].DType);
            Assert.Equal([256], state["net.1.weight_scale"].Shape);
            Safetensors.Save(small, state);
            double ratio = (double)new FileInfo(full).Length / new FileInfo(small).Length;
            Assert.InRange(ratio, 3.8, 4.0);

            var after = model.Infer(x).ToArray<float>();
            double err = after.Zip(before, (a, b) => Math.Abs(a - b)).Max(), scale = before.Max(Math.Abs);
            Assert.True(err < 0.03 * scale, $"int8 MLP differs from float32 by {err} (outputs up to {scale})");

            var fresh = new Mlp(config, new Generator(99));
            Ember.Training.Trainer.LoadModelState(fresh, Safetensors.Load(small), small);
            fresh.Eval();
            Assert.Equal(Quantize.QuantizedLayers(model), Quantize.QuantizedLayers(fresh));
            Assert.Equal(after, fresh.Infer(x).ToArray<float>());
            Assert.Contains("dtype=qint8", fresh.ToString());
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void GradientReachesTheInputThroughTheDequantizedWeight()
    {
        var layer = new Linear(12, 5, generator: new Generator(8));
        layer.QuantizeInt8();
        var x = Tensor.Randn([3, 12], DType.Float32, new Generator(9));
        x.RequiresGrad = true;
        var g = Tensor.Randn([3, 5], DType.Float32, new Generator(10));
        layer.Call(x).Backward(g);
        var expected = g.Matmul(layer.Int8!.Dequantize()).ToArray<float>();
        var actual = x.Grad!.ToArray<float>();
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 5);
        Assert.Equal(g.Sum(0).ToArray<float>(), layer.Bias!.Grad!.ToArray<float>());
    }

    [Fact]
    public void QuantizedGptGeneratesTheSameTokensWithAndWithoutTheCache()
    {
        var gpt = new Gpt(new GptConfig(VocabSize: 40, ContextLength: 32, NLayer: 2, NHead: 2, NEmbd: 32), new Generator(12));
        var idx = Tensor.FromArray(new long[] { 1, 5, 7, 2, 9 }, 1, 5);
        gpt.Eval();
        var floatLogits = gpt.Infer(idx).ToArray<float>();
        Assert.Equal(8, Quantize.Dynamic(gpt).Count);   // c_attn, c_proj, mlp.0, mlp.2 per block
        var logits = gpt.Infer(idx).ToArray<float>();
        double err = logits.Zip(floatLogits, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(err < 0.05 * floatLogits.Max(Math.Abs), $"int8 GPT logits differ by {err}");
        var greedy = new SamplingOptions(TopK: 1);
        var cached = gpt.Generate(idx, 20, greedy, useCache: true, generator: new Generator(1)).ToArray<long>();
        var uncached = gpt.Generate(idx, 20, greedy, useCache: false, generator: new Generator(1)).ToArray<long>();
        Assert.Equal(uncached, cached);
    }

    [Fact]
    public void BadInputsAreClearErrors()
    {
        var layer = new Linear(4, 3);
        layer.QuantizeInt8();
        var e = Assert.Throws<ArgumentException>(() => layer.Infer(Tensor.Ones(2, 5)));
        Assert.Contains("in_features=4", e.Message);
        var nan = Tensor.Ones(2, 4);
        nan.SetItem(double.NaN, 1, 2);
        e = Assert.Throws<ArgumentException>(() => layer.Infer(nan));
        Assert.Contains("row 1", e.Message);
        var w = Tensor.Ones(3, 4);
        w.SetItem(double.PositiveInfinity, 2, 0);
        e = Assert.Throws<ArgumentException>(() => Int8Weight.Quantize(w));
        Assert.Contains("channel 2", e.Message);
        Assert.Throws<InvalidOperationException>(() => layer.ResetParameters());
    }
}

public class QuantizedConvTests
{
    /// <summary>The int8 convolution against the definition written out here: each image quantized as one row by the
    /// reference quantizer, each output pixel's receptive field taken from it (the zero point outside the image),
    /// multiplied with the int8 kernel in int32 and dequantized. Equal bit for bit; and close to the float convolution.</summary>
    [Theory]
    [InlineData(1, 1, 0, 1)]
    [InlineData(2, 1, 1, 1)]
    [InlineData(1, 2, 1, 2)]
    [InlineData(2, 1, 1, 1, 16)]   // 8×8 register blocks in the output transpose
    public void Int8ConvolutionEqualsItsDefinition(int batch, int stride, int pad, int dilation, int cout = 5)
    {
        var conv = new Conv2d(3, cout, 3, stride: stride, padding: pad, dilation: dilation, generator: new Generator(31));
        var x = Tensor.Randn([batch, 3, 9, 8], DType.Float32, new Generator(32));
        conv.Eval();
        var reference = conv.Infer(x);
        Assert.Equal(["" ], Quantize.Dynamic(conv, convolutions: true));
        var y = conv.Infer(x);
        Assert.Equal(reference.Shape, y.Shape);
        int oh = y.Size(2), ow = y.Size(3), k = 27;
        var xs = x.ToArray<float>();
        var wq = conv.Int8!.Values.ToArray<sbyte>();
        var ws = conv.Int8.Scales.ToArray<float>();
        var b = conv.Bias!.ToArray<float>();
        var got = y.ToArray<float>();
        for (int n = 0; n < batch; n++)
        {
            var (qi, si, zi) = Int8KernelChecks.QuantizeReference(xs.AsSpan(n * 216, 216).ToArray(), 1, 216);
            for (int i = 0; i < oh; i++)
                for (int j = 0; j < ow; j++)
                {
                    var q = new int[k];
                    for (int c = 0; c < 3; c++)
                        for (int ki = 0; ki < 3; ki++)
                            for (int kj = 0; kj < 3; kj++)
                            {
                                int ih = i * stride - pad + ki * dilation, iw = j * stride - pad + kj * dilation;
                                q[(c * 3 + ki) * 3 + kj] = ih >= 0 && ih < 9 && iw >= 0 && iw < 8 ? qi[(c * 9 + ih) * 8 + iw] : zi[0];
                            }
                    for (int o = 0; o < cout; o++)
                    {
                        int acc = 0, sum = 0;
                        for (int t = 0; t < k; t++) { acc += q[t] * wq[o * k + t]; sum += wq[o * k + t]; }
                        float want = (float)(acc - zi[0] * sum) * si[0] * ws[o] + b[o];
                        float have = got[((n * cout + o) * oh + i) * ow + j];
                        Assert.True(want == have, $"({n}, {o}, {i}, {j}): reference {want}, int8 conv {have}");
                    }
                }
        }
        var r = reference.ToArray<float>();
        double err = r.Zip(got, (u, v) => Math.Abs(u - v)).Max();
        Assert.True(err < 0.03 * r.Max(Math.Abs), $"int8 conv differs from float32 by {err}");
    }

    [Fact]
    public void QuantizedCnnCheckpointRoundTripsAndBackwardIsAClearError()
    {
        Module Net(ulong seed) => new Sequential(new Conv2d(1, 4, 3, padding: 1, bias: false, generator: new Generator(seed)), new BatchNorm2d(4), new ReLU(),
            new MaxPool2d(2), new Conv2d(4, 6, 3, padding: 1, generator: new Generator(seed + 1)), new ReLU(), new Flatten(), new Linear(6 * 4 * 4, 3, generator: new Generator(seed + 2)));
        var net = Net(1);
        var x = Tensor.Randn([2, 1, 8, 8], DType.Float32, new Generator(3));
        Quantize.Dynamic(net, convolutions: true);
        Assert.Equal(3, Quantize.QuantizedLayers(net).Count);
        var want = net.Infer(x).ToArray<float>();
        var state = net.StateDict();
        Assert.Equal([4, 1, 3, 3], state["0.weight"].Shape);
        Assert.Equal(DType.Int8, state["4.weight"].DType);
        var fresh = Net(7);
        Ember.Training.Trainer.LoadModelState(fresh, state, "test");
        fresh.Eval();
        Assert.Equal(want, fresh.Infer(x).ToArray<float>());
        var input = x.Clone();
        input.RequiresGrad = true;
        var e = Assert.Throws<NotSupportedException>(() => fresh.Call(input).Sum().Backward());
        Assert.Contains("int8 convolution", e.Message);
    }
}

public class QuantizedRecurrentTests
{
    /// <summary>An int8 LSTM/GRU equals the same cell run step by step with int8 Linear layers holding its weights
    /// (PyTorch's quantized dynamic LSTM does the same: both projections int8, the gates float).</summary>
    [Theory]
    [InlineData(RecurrentMode.Lstm)]
    [InlineData(RecurrentMode.Gru)]
    public void Int8RecurrentLayersEqualTheirCellsWithInt8Projections(RecurrentMode mode)
    {
        RecurrentBase Make() => mode == RecurrentMode.Lstm
            ? new LSTM(6, 8, numLayers: 2, batchFirst: true, generator: new Generator(40))
            : new GRU(6, 8, numLayers: 2, batchFirst: true, generator: new Generator(40));
        var rnn = Make();
        var x = Tensor.Randn([3, 5, 6], DType.Float32, new Generator(41));
        rnn.Eval();
        var reference = rnn.Infer(x).ToArray<float>();
        var state = rnn.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.Clone());
        Assert.Single(Quantize.Dynamic(rnn));
        Assert.True(rnn.IsQuantized);
        var y = rnn.Infer(x).ToArray<float>();
        double err = y.Zip(reference, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(err < 0.03, $"int8 {mode} differs from float32 by {err}");

        // The same computation written with int8 Linear layers, one step at a time.
        int gates = mode == RecurrentMode.Lstm ? 4 : 3, h = 8;
        var seq = x.Transpose(0, 1);
        for (int layer = 0; layer < 2; layer++)
        {
            Linear L(string w, string b)
            {
                var l = new Linear(state[w].Size(1), gates * h);
                using (Tensor.NoGrad()) { l.Weight.CopyFrom(state[w]); l.Bias!.CopyFrom(state[b]); }
                l.QuantizeInt8();
                return l;
            }
            var ih = L($"weight_ih_l{layer}", $"bias_ih_l{layer}");
            var hh = L($"weight_hh_l{layer}", $"bias_hh_l{layer}");
            var xp = ih.Infer(seq);
            var hState = Tensor.Zeros([3, h]);
            var c = Tensor.Zeros([3, h]);
            var outs = new List<Tensor>();
            for (int t = 0; t < 5; t++)
            {
                var gx = xp.Select(0, t);
                var gh = hh.Infer(hState);
                if (mode == RecurrentMode.Lstm)
                {
                    var g = gx.Add(gh);
                    c = g.Narrow(1, h, h).Sigmoid().Mul(c).Add(g.Narrow(1, 0, h).Sigmoid().Mul(g.Narrow(1, 2 * h, h).Tanh()));
                    hState = g.Narrow(1, 3 * h, h).Sigmoid().Mul(c.Tanh());
                }
                else
                {
                    var r = gx.Narrow(1, 0, h).Add(gh.Narrow(1, 0, h)).Sigmoid();
                    var z = gx.Narrow(1, h, h).Add(gh.Narrow(1, h, h)).Sigmoid();
                    var nn = gx.Narrow(1, 2 * h, h).Add(r.Mul(gh.Narrow(1, 2 * h, h))).Tanh();
                    hState = nn.Add(z.Mul(hState.Sub(nn)));
                }
                outs.Add(hState);
            }
            seq = Tensor.Stack(outs, 0);
        }
        Assert.Equal(seq.Transpose(0, 1).Contiguous().ToArray<float>(), y);

        var fresh = Make();
        Ember.Training.Trainer.LoadModelState(fresh, rnn.StateDict(), "test");
        fresh.Eval();
        Assert.Equal(y, fresh.Infer(x).ToArray<float>());
        Assert.Equal(DType.Int8, rnn.StateDict()["weight_hh_l1"].DType);
    }
}
