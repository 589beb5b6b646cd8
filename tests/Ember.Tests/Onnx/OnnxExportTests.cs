using Ember.Models;
using Ember.NN;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Xunit;

namespace Ember.Tests.Onnx;

/// <summary>Exported models run in ONNX Runtime (the outside reference) and give Ember's eval-mode outputs within 1e-4
/// relative, at batch sizes other than the one traced.</summary>
public class OnnxExportTests
{
    /// <summary>Runs an ONNX file in ONNX Runtime on <paramref name="input"/> (float32).</summary>
    internal static float[] RunOrt(string path, Tensor input, out int[] shape) => RunOrt(path, input.Contiguous().ToArray<float>(), input.Shape, out shape);

    private static float[] RunOrt<T>(string path, T[] data, int[] dims, out int[] shape) where T : unmanaged
    {
        using var session = new InferenceSession(path);
        var x = new DenseTensor<T>(data, dims);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor(session.InputMetadata.Keys.First(), x)]);
        var y = results.First().AsTensor<float>();
        shape = y.Dimensions.ToArray();
        return y.ToArray();
    }

    /// <summary>Runs an ONNX file in ONNX Runtime on int64 <paramref name="ids"/>.</summary>
    internal static float[] RunOrtIds(string path, Tensor ids, out int[] shape) => RunOrt(path, ids.Contiguous().ToArray<long>(), ids.Shape, out shape);

    [Fact]
    public void GptMatchesOnnxRuntimeAtOtherBatchSizesAndLengths()
    {
        var model = new Gpt(new GptConfig(VocabSize: 40, ContextLength: 24, NLayer: 2, NHead: 4, NEmbd: 32, Dropout: 0.1), new Generator(11));
        var dir = Directory.CreateTempSubdirectory("ember-onnx-gpt").FullName;
        var path = Path.Combine(dir, "gpt.onnx");
        Ember.Onnx.Export(model, Tensor.RandInt(0, 40, [2, 9], new Generator(1)), path,
            dynamicAxes: new Dictionary<int, string> { [0] = "batch", [1] = "sequence" });
        model.Eval();
        foreach (var (b, t) in new[] { (1, 1), (3, 7), (2, 24) })
        {
            var ids = Tensor.RandInt(0, 40, [b, t], new Generator((ulong)(b * 100 + t)));
            float[] want;
            using (Tensor.NoGrad()) want = model.Call(ids).Contiguous().ToArray<float>();
            var got = RunOrtIds(path, ids, out var shape);
            Assert.Equal([b, t, 40], shape);
            AssertClose(want, got, 1e-4, $"gpt ({b}, {t})");
        }
    }

    [Fact]
    public void GptDecoderStepWithKvCacheMatchesEmbersCachedGeneration()
    {
        var model = new Gpt(new GptConfig(VocabSize: 40, ContextLength: 24, NLayer: 2, NHead: 4, NEmbd: 32, Dropout: 0.1), new Generator(12));
        var path = Path.Combine(Directory.CreateTempSubdirectory("ember-onnx-step").FullName, "step.onnx");
        Ember.Onnx.ExportDecoderStep(model, path);
        model.Eval();
        using var session = new InferenceSession(path);
        Assert.Equal(["input_ids", "past_key_0", "past_value_0", "past_key_1", "past_value_1"], session.InputMetadata.Keys);
        Assert.Equal(["logits", "present_key_0", "present_value_0", "present_key_1", "present_value_1"], session.OutputMetadata.Keys);
        int hd = 32 / 4;
        foreach (int b in new[] { 1, 3 })
        {
            // Prefill a 5-token prompt with empty pasts, then decode 6 tokens one at a time (greedy), feeding the presents
            // back; every step's logits equal Ember's own cached forward, and the tokens equal Ember's greedy generation.
            var prompt = Tensor.RandInt(0, 40, [b, 5], new Generator((ulong)b));
            var cache = new KvCache(2);
            var pasts = Enumerable.Range(0, 4).Select(_ => new DenseTensor<float>(new float[0], [b, 4, 0, hd])).ToArray();
            var ids = prompt;
            var generated = new List<long[]>();
            for (int step = 0; step < 7; step++)
            {
                float[] want;
                using (Tensor.NoGrad()) want = model.Forward(ids, cache).Contiguous().ToArray<float>();
                var inputs = new List<NamedOnnxValue> { NamedOnnxValue.CreateFromTensor("input_ids", new DenseTensor<long>(ids.Contiguous().ToArray<long>(), ids.Shape)) };
                for (int i = 0; i < 2; i++)
                {
                    inputs.Add(NamedOnnxValue.CreateFromTensor($"past_key_{i}", pasts[2 * i]));
                    inputs.Add(NamedOnnxValue.CreateFromTensor($"past_value_{i}", pasts[2 * i + 1]));
                }
                using var results = session.Run(inputs);
                var logits = results.First(r => r.Name == "logits").AsTensor<float>();
                Assert.Equal([b, ids.Size(1), 40], logits.Dimensions.ToArray());
                AssertClose(want, logits.ToArray(), 1e-4, $"batch {b} step {step}");
                for (int i = 0; i < 2; i++)
                {
                    var key = results.First(r => r.Name == $"present_key_{i}").AsTensor<float>();
                    Assert.Equal([b, 4, cache.Length, hd], key.Dimensions.ToArray());
                    pasts[2 * i] = new DenseTensor<float>(key.ToArray(), key.Dimensions);
                    var value = results.First(r => r.Name == $"present_value_{i}").AsTensor<float>();
                    pasts[2 * i + 1] = new DenseTensor<float>(value.ToArray(), value.Dimensions);
                }
                // The next token: argmax of the last position's logits (ONNX Runtime's).
                var last = logits.ToArray();
                int t = ids.Size(1);
                var next = new long[b];
                for (int r = 0; r < b; r++)
                {
                    var row = last.AsSpan(((r * t) + t - 1) * 40, 40).ToArray();
                    next[r] = Array.IndexOf(row, row.Max());
                }
                generated.Add(next);
                ids = Tensor.FromArray(next, b, 1);
            }
            var greedy = model.Generate(prompt, 7, new SamplingOptions(1.0, TopK: 1), generator: new Generator(0));
            var tail = greedy.Narrow(1, 5, 7).Contiguous().ToArray<long>();
            for (int r = 0; r < b; r++)
                Assert.Equal(tail.AsSpan(r * 7, 7).ToArray(), generated.Select(g => g[r]).ToArray());
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Seq2SeqEncoderAndDecoderStepMatchEmbersGreedyDecoding(bool normFirst)
    {
        var config = new Seq2SeqConfig(SrcVocabSize: 14, TgtVocabSize: 13, DModel: 32, NHead: 4, EncoderLayers: 2, DecoderLayers: 2,
            DimFeedforward: 48, Dropout: 0.1, MaxLength: 20) { NormFirst = normFirst };
        var model = new Seq2SeqTransformer(config, new Generator(5));
        var dir = Directory.CreateTempSubdirectory("ember-onnx-s2s").FullName;
        string encoderPath = Path.Combine(dir, "encoder.onnx"), decoderPath = Path.Combine(dir, "decoder.onnx");
        Ember.Onnx.ExportSeq2Seq(model, encoderPath, decoderPath);
        model.Eval();
        using var encoder = new InferenceSession(encoderPath);
        using var decoder = new InferenceSession(decoderPath);
        // Sources of 3 rows, the last two padded at the end (pad id 0), at two lengths.
        foreach (int s in new[] { 6, 11 })
        {
            var rng = new Random(s);
            var src = new long[3 * s];
            for (int r = 0; r < 3; r++)
                for (int j = 0; j < s; j++) src[r * s + j] = j < s - 2 * r ? rng.Next(3, 14) : 0;
            var srcT = Tensor.FromArray(src, 3, s);
            Tensor memory;
            using (Tensor.NoGrad()) memory = model.Encode(srcT).Memory;
            var srcOrt = new DenseTensor<long>(src, [3, s]);
            using var enc = encoder.Run([NamedOnnxValue.CreateFromTensor("src_ids", srcOrt)]);
            var mem = enc.First().AsTensor<float>();
            AssertClose(memory.Contiguous().ToArray<float>(), mem.ToArray(), 1e-4, $"memory, source length {s}");
            // Greedy decoding in ONNX Runtime (the decoder step over the tokens so far) equals Ember's.
            var rows = Enumerable.Range(0, 3).Select(_ => new List<long> { config.BosId }).ToArray();
            var done = new bool[3];
            var memOrt = new DenseTensor<float>(mem.ToArray(), mem.Dimensions);
            for (int step = 0; step < 9; step++)
            {
                int t = rows[0].Count;
                var tgt = rows.SelectMany(r => r).ToArray();
                float[] want;
                using (Tensor.NoGrad()) want = model.Decode(Tensor.FromArray(tgt, 3, t), memory, srcT.Eq(config.PadId)).Contiguous().ToArray<float>();
                using var dec = decoder.Run([NamedOnnxValue.CreateFromTensor("tgt_ids", new DenseTensor<long>(tgt, [3, t])),
                    NamedOnnxValue.CreateFromTensor("memory", memOrt), NamedOnnxValue.CreateFromTensor("src_ids", srcOrt)]);
                var logits = dec.First().AsTensor<float>();
                Assert.Equal([3, t, 13], logits.Dimensions.ToArray());
                var got = logits.ToArray();
                AssertClose(want, got, 1e-4, $"logits, source {s}, step {step}");
                for (int r = 0; r < 3; r++)
                {
                    var last = got.AsSpan((r * t + t - 1) * 13, 13).ToArray();
                    long token = done[r] ? config.PadId : Array.IndexOf(last, last.Max());
                    rows[r].Add(token);
                    if (token == config.EosId) done[r] = true;
                }
            }
            var greedy = model.GreedyDecode(srcT, 9);
            for (int r = 0; r < 3; r++)
                Assert.Equal(greedy[r], rows[r].Skip(1).TakeWhile(tk => tk != config.EosId && tk != config.PadId).ToArray());
        }
    }

    private static void AssertClose(float[] want, float[] got, double rtol, string what)
    {
        Assert.Equal(want.Length, got.Length);
        for (int i = 0; i < want.Length; i++)
            Assert.True(Math.Abs(want[i] - got[i]) <= rtol * Math.Max(1, Math.Abs(want[i])), $"{what}: element {i}: Ember {want[i]}, ONNX Runtime {got[i]}");
    }

    /// <summary>Exports <paramref name="model"/> traced at batch 2, then compares with ONNX Runtime at several batches.</summary>
    private static string ExportAndCompare(Module model, Func<int, Tensor> input, string name, params int[] batches)
    {
        var dir = Directory.CreateTempSubdirectory("ember-onnx").FullName;
        var path = Path.Combine(dir, name + ".onnx");
        Ember.Onnx.Export(model, input(2), path);
        model.Eval();
        foreach (int n in batches)
        {
            var x = input(n);
            float[] want;
            using (Tensor.NoGrad()) want = model.Call(x).Contiguous().ToArray<float>();
            var got = RunOrt(path, x, out var shape);
            Assert.Equal(n, shape[0]);
            AssertClose(want, got, 1e-4, $"{name} batch {n}");
        }
        return path;
    }

    [Fact]
    public void MlpMatchesOnnxRuntime()
    {
        var model = new Mlp(new MlpConfig { InFeatures = 784, Hidden = [64, 32], OutFeatures = 10, Dropout = 0.3, Activation = "gelu" }, new Generator(1));
        ExportAndCompare(model, n => Tensor.Randn([n, 1, 28, 28], DType.Float32, new Generator((ulong)n)), "mlp", 1, 7, 64);
    }

    /// <summary>Int8 layers export in QDQ form (int8 weights in the file, per-row QuantizeLinear/DequantizeLinear):
    /// ONNX Runtime runs them and gives Ember's int8 outputs; the file is about a quarter of the float one.</summary>
    [Fact]
    public void Int8MlpAndGptExportInQdqFormAndMatchOnnxRuntime()
    {
        var mlp = new Mlp(new MlpConfig { InFeatures = 784, Hidden = [256, 64], OutFeatures = 10 }, new Generator(21));
        var dir = Directory.CreateTempSubdirectory("ember-onnx-int8").FullName;
        string floatPath = Path.Combine(dir, "float.onnx");
        Ember.Onnx.Export(mlp, Tensor.Randn([2, 784], DType.Float32, new Generator(1)), floatPath);
        Ember.Quantization.Quantize.Dynamic(mlp);
        var int8Path = ExportAndCompare(mlp, n => Tensor.Randn([n, 1, 28, 28], DType.Float32, new Generator(50 + (ulong)n)), "mlp-int8", 1, 9);
        double ratio = (double)new FileInfo(floatPath).Length / new FileInfo(int8Path).Length;
        Assert.InRange(ratio, 3.5, 4.1);

        var gpt = new Gpt(new GptConfig(VocabSize: 40, ContextLength: 24, NLayer: 2, NHead: 4, NEmbd: 32), new Generator(22));
        Ember.Quantization.Quantize.Dynamic(gpt);
        var path = Path.Combine(dir, "gpt-int8.onnx");
        Ember.Onnx.Export(gpt, Tensor.RandInt(0, 40, [2, 9], new Generator(1)), path,
            dynamicAxes: new Dictionary<int, string> { [0] = "batch", [1] = "sequence" });
        foreach (var (b, t) in new[] { (1, 1), (3, 7) })
        {
            var ids = Tensor.RandInt(0, 40, [b, t], new Generator((ulong)(b * 10 + t)));
            var want = gpt.Infer(ids).Contiguous().ToArray<float>();
            AssertClose(want, RunOrtIds(path, ids, out _), 1e-4, $"int8 gpt ({b}, {t})");
        }
    }

    /// <summary>A model with unmerged LoRA adapters exports with the adapters merged into the weights.</summary>
    [Fact]
    public void LoraAdaptedMlpExportsMerged()
    {
        var mlp = new Mlp(new MlpConfig { InFeatures = 784, Hidden = [64], OutFeatures = 10 }, new Generator(23));
        Lora.Apply(mlp, new LoraConfig(Rank: 4, Alpha: 8), new Generator(24));
        using (Tensor.NoGrad())
            foreach (var (name, p) in mlp.NamedParameters().Where(p => p.Name.Contains("lora_B")))
                p.CopyFrom(Tensor.Randn(p.Shape, DType.Float32, new Generator(25)).Mul(0.1));
        ExportAndCompare(mlp, n => Tensor.Randn([n, 1, 28, 28], DType.Float32, new Generator(60 + (ulong)n)), "mlp-lora", 1, 5);
    }

    [Fact]
    public void CnnWithFusedPathsBatchNormAndPoolsMatchesOnnxRuntime()
    {
        var g = new Generator(3);
        var model = new Sequential(
            new Conv2d(1, 8, 3, padding: 1, generator: g), new ReLU(), new MaxPool2d(2),                 // Ember runs these three as one op
            new Conv2d(8, 12, 3, padding: Padding.Same, generator: g), new BatchNorm2d(12), new ReLU(),
            new Conv2d(12, 16, 3, stride: 2, dilation: 1, groups: 4, generator: g), new LeakyReLU(0.1),
            new AvgPool2d(3, stride: 1, padding: 1, countIncludePad: false), new AdaptiveAvgPool2d(2),        // 6×6 → 6×6 → 2×2
            new Flatten(), new Dropout(0.5), new Linear(64, 20, generator: g), new SiLU(), new Linear(20, 10, generator: g), new LogSoftmax(-1));
        // Running statistics that are not the initial ones (BatchNorm's eval path reads them).
        var bn = (BatchNorm2d)model[4];
        using (Tensor.NoGrad())
        {
            bn.RunningMean!.CopyFrom(Tensor.Randn([12], DType.Float32, g).Mul(0.1));
            bn.RunningVar!.CopyFrom(Tensor.Rand([12], DType.Float32, g).Add(0.5));
            bn.Weight!.CopyFrom(Tensor.Rand([12], DType.Float32, g).Add(0.5));
        }
        ExportAndCompare(model, n => Tensor.Randn([n, 1, 28, 28], DType.Float32, new Generator(10 + (ulong)n)), "cnn", 1, 5, 33);
    }

    [Fact]
    public void SequenceLayersMatchOnnxRuntime()
    {
        var g = new Generator(4);
        var model = new Sequential(
            new Conv1d(6, 16, 5, padding: Padding.Same, generator: g), new BatchNorm1d(16), new ELU(0.7), new MaxPool1d(2, ceilMode: true),
            new Conv1d(16, 16, 3, dilation: 2, generator: g), new Tanh(), new AvgPool1d(3, stride: 2), new AdaptiveAvgPool1d(1),
            new Flatten(), new Linear(16, 24, generator: g), new LayerNorm(24), new GELU(tanhApproximation: true), new Linear(24, 5, generator: g),
            new Sigmoid(), new Softmax(1));
        ExportAndCompare(model, n => Tensor.Randn([n, 6, 41], DType.Float32, new Generator(20 + (ulong)n)), "seq", 1, 3, 17);
    }

    [Fact]
    public void LinearOnThreeDimensionalInputsAndPartialFlatten()
    {
        var g = new Generator(5);
        var model = new Sequential(new Linear(8, 12, generator: g), new ReLU(), new Flatten(1, 2), new Linear(5 * 12, 3, bias: false, generator: g));
        ExportAndCompare(model, n => Tensor.Randn([n, 5, 8], DType.Float32, new Generator(30 + (ulong)n)), "linear3d", 1, 4);
    }

    /// <summary>Gives every BatchNorm running statistics other than the initial ones (the eval path reads them).</summary>
    private static void PerturbRunningStats(Module model, ulong seed)
    {
        var g = new Generator(seed);
        using var noGrad = Tensor.NoGrad();
        foreach (var (name, buffer) in model.NamedBuffers())
        {
            if (name.EndsWith("running_mean")) buffer.CopyFrom(Tensor.Randn(buffer.Shape, DType.Float32, g).Mul(0.2));
            else if (name.EndsWith("running_var")) buffer.CopyFrom(Tensor.Rand(buffer.Shape, DType.Float32, g).Add(0.5));
        }
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, true)]
    public void ResNetMatchesOnnxRuntime(bool bottleneck, bool squeezeExcitation)
    {
        var model = new ResNet(new ResNetConfig(3, 10, [1, 2], 8, bottleneck, squeezeExcitation), new Generator(6));
        PerturbRunningStats(model, 8);
        ExportAndCompare(model, n => Tensor.Randn([n, 3, 16, 16], DType.Float32, new Generator(40 + (ulong)n)), $"resnet{(bottleneck ? "b" : "")}{(squeezeExcitation ? "se" : "")}", 1, 3);
    }

    [Fact]
    public void BertClassifierWithPaddingMatchesOnnxRuntime()
    {
        var config = new BertConfig(VocabSize: 30, NumLabels: 3, Hidden: 32, Layers: 2, Heads: 4, Intermediate: 48, MaxPositions: 20);
        var model = new BertForSequenceClassification(config, new Generator(15));
        var dir = Directory.CreateTempSubdirectory("ember-onnx-bert").FullName;
        var path = Path.Combine(dir, "bert.onnx");
        Tensor Ids(int n, int l, ulong seed)
        {
            var ids = Tensor.RandInt(1, 30, [n, l], new Generator(seed)).ToArray<long>();
            for (int i = 0; i < n; i++) for (int j = l - i % 3; j < l; j++) ids[i * l + j] = config.PadId;   // trailing padding
            return Tensor.FromArray(ids, n, l);
        }
        Ember.Onnx.Export(model, Ids(2, 7, 1), path, dynamicAxes: new Dictionary<int, string> { [0] = "batch", [1] = "sequence" });
        model.Eval();
        foreach (var (n, l) in new[] { (1, 4), (5, 11), (3, 20) })
        {
            var ids = Ids(n, l, (ulong)(n * 50 + l));
            float[] want;
            using (Tensor.NoGrad()) want = model.Call(ids).ToArray<float>();
            var got = RunOrtIds(path, ids, out var shape);
            Assert.Equal([n, 3], shape);
            AssertClose(want, got, 1e-4, $"bert ({n}, {l})");
        }
    }

    [Fact]
    public void UNetMatchesOnnxRuntime()
    {
        var model = new UNet(2, 3, baseWidth: 4, depth: 2, generator: new Generator(13));
        PerturbRunningStats(model, 14);
        ExportAndCompare(model, n => Tensor.Randn([n, 2, 16, 12], DType.Float32, new Generator(70 + (ulong)n)), "unet", 1, 3);
    }

    [Fact]
    public void ConvAutoencoderWithTransposedConvolutionsMatchesOnnxRuntime()
    {
        var model = new ConvAutoencoder(1, 8, 4, 2, new Generator(9));
        PerturbRunningStats(model, 10);
        ExportAndCompare(model, n => Tensor.Rand([n, 1, 16, 16], DType.Float32, new Generator(50 + (ulong)n)), "autoencoder", 1, 6);
    }

    [Theory]
    [InlineData("lstm", false, false, 1)]
    [InlineData("lstm", true, true, 2)]
    [InlineData("gru", true, true, 2)]
    [InlineData("gru", false, false, 1)]
    [InlineData("rnn-relu", true, false, 2)]
    [InlineData("rnn-tanh", false, true, 1)]
    public void RecurrentLayersMatchOnnxRuntime(string kind, bool bidirectional, bool batchFirst, int layers)
    {
        var g = new Generator(12);
        Module rnn = kind switch
        {
            "lstm" => new LSTM(5, 7, layers, batchFirst: batchFirst, bidirectional: bidirectional, generator: g),
            "gru" => new GRU(5, 7, layers, batchFirst: batchFirst, bidirectional: bidirectional, generator: g),
            _ => new RNN(5, 7, layers, relu: kind == "rnn-relu", batchFirst: batchFirst, bidirectional: bidirectional, generator: g),
        };
        var model = new Sequential(rnn, new Tanh());
        // Batch-first (N, 6, 5): ONNX Runtime gets other batch sizes; (L, 3, 5): other sequence lengths (dim 0 is dynamic).
        ExportAndCompare(model, n => Tensor.Randn(batchFirst ? [n, 6, 5] : [n, 3, 5], DType.Float32, new Generator(60 + (ulong)n)),
            $"{kind}{(bidirectional ? "-bi" : "")}{(batchFirst ? "-bf" : "")}{layers}", 1, 4, 9);
    }

    private sealed class Custom : Module
    {
        public override Tensor Forward(Tensor input) => input.Mul(2);
    }

    [Fact]
    public void UnsupportedModulesFailNamingThePathAndLeaveNoFile()
    {
        var dir = Directory.CreateTempSubdirectory("ember-onnx-bad").FullName;
        var path = Path.Combine(dir, "bad.onnx");
        var model = new Sequential(new Linear(4, 4), new Sequential(new ReLU(), new Custom()));
        var e = Assert.Throws<NotSupportedException>(() => Ember.Onnx.Export(model, Tensor.Randn([2, 4]), path));
        Assert.Contains("'1.1'", e.Message);
        Assert.Contains("Custom", e.Message);
        Assert.False(File.Exists(path));
        Assert.Empty(Directory.GetFiles(dir));
        var noStats = new Sequential(new BatchNorm1d(4, trackRunningStats: false));
        Assert.Throws<NotSupportedException>(() => Ember.Onnx.Export(noStats, Tensor.Randn([2, 4]), path));
        Assert.Throws<ArgumentOutOfRangeException>(() => Ember.Onnx.Export(model, Tensor.Randn([2, 4]), path, opset: 9));
        Assert.Throws<NotSupportedException>(() => Ember.Onnx.Export(new Sequential(new LayerNorm(4)), Tensor.Randn([2, 4]), path, opset: 16));
        Assert.False(File.Exists(path));
    }

    [Fact]
    public void ExportLeavesTheModuleInItsModeAndTheFileRecordsDynamicBatch()
    {
        var model = new Sequential(new Linear(3, 2), new Dropout(0.5));
        Assert.True(model.Training);
        var proto = Ember.Onnx.ToModel(model, Tensor.Randn([4, 3]));
        Assert.True(model.Training);
        Assert.Equal("batch", proto.Graph.Input[0].Type.TensorType.Shape.Dim[0].DimParam);
        Assert.Equal(3, proto.Graph.Input[0].Type.TensorType.Shape.Dim[1].DimValue);
        Assert.Equal(17, proto.OpsetImport[0].Version);
        Assert.Contains(proto.Graph.Node, n => n.OpType == "Gemm");
        Assert.DoesNotContain(proto.Graph.Node, n => n.OpType == "Dropout");
    }
}

/// <summary>`ember export` on a checkpoint that `ember train` wrote: the ONNX file gives the checkpoint's outputs in ONNX
/// Runtime; other checkpoints and bad options are one-line errors.</summary>
[Collection("console")]
public class OnnxExportCommandTests
{
    [Fact]
    public void ExportsATrainedCheckpointThatOnnxRuntimeRunsAlike()
    {
        var dir = Directory.CreateTempSubdirectory("ember-onnx-cli").FullName;
        var csv = Path.Combine(dir, "d.csv");
        var rng = new Random(2);
        var lines = new List<string> { "a,b,c,label" };
        for (int i = 0; i < 200; i++)
        {
            double a = rng.NextDouble(), b = rng.NextDouble();
            lines.Add($"{a:F4},{b:F4},{(rng.Next(2) == 0 ? "x" : "y")},{(a > b ? "hi" : "lo")}");
        }
        File.WriteAllLines(csv, lines);
        var (code, _, err) = Ember.Tests.Cli.CliTests.Run("train", "--data", csv, "--target", "label", "--hidden", "16,8", "--epochs", "3", "--out", dir, "--quiet");
        Assert.True(code == 0, err);
        var checkpoint = Path.Combine(dir, "best.safetensors");
        var onnx = Path.Combine(dir, "model.onnx");
        (code, var output, err) = Ember.Tests.Cli.CliTests.Run("export", checkpoint, "--out", onnx);
        Assert.True(code == 0, err);
        Assert.Contains("wrote " + onnx, output);
        var tensors = Ember.IO.Safetensors.Load(checkpoint, out var meta);
        var model = new Mlp(MlpConfig.FromMetadata(meta, checkpoint));
        Ember.Training.Trainer.LoadModelState(model, tensors, checkpoint);
        model.Eval();
        var x = Tensor.Randn([9, model.Config.InFeatures], DType.Float32, new Generator(7));
        float[] want;
        using (Tensor.NoGrad()) want = model.Call(x).ToArray<float>();
        var got = OnnxExportTests.RunOrt(onnx, x, out var shape);
        Assert.Equal([9, model.Config.OutFeatures], shape);
        for (int i = 0; i < want.Length; i++) Assert.True(Math.Abs(want[i] - got[i]) <= 1e-4 * Math.Max(1, Math.Abs(want[i])), $"{i}: {want[i]} vs {got[i]}");

        (code, _, err) = Ember.Tests.Cli.CliTests.Run("export", checkpoint, "--opset", "12");
        Assert.Equal(2, code);
        Assert.Contains("--opset 12", err);
        var gptLike = Path.Combine(dir, "other.safetensors");
        Ember.IO.Safetensors.Save(gptLike, new Dictionary<string, Tensor> { ["w"] = Tensor.Zeros([2]) }, new Dictionary<string, string> { ["arch"] = "resnet" });
        (code, _, err) = Ember.Tests.Cli.CliTests.Run("export", gptLike);
        Assert.Equal(2, code);
        Assert.Contains("'resnet'", err);
    }

    [Fact]
    public void ExportsAGptCheckpointFromTheMilestone()
    {
        var dir = Directory.CreateTempSubdirectory("ember-onnx-gpt-cli").FullName;
        var text = Path.Combine(dir, "verses.txt");
        File.WriteAllText(text, string.Concat(Enumerable.Range(0, 200).Select(i => $"Ge1:{i} In the beginning God created the heaven and the earth.\n")));
        var (code, _, err) = Ember.Tests.Cli.CliTests.Run("milestone", "gpt", "--data", text, "--steps", "5", "--out", dir, "--quiet");
        Assert.True(code is 0 or 1, err);                                        // 5 steps: the gate may FAIL, the model is saved
        var checkpoint = Path.Combine(dir, "model.safetensors");
        (code, var output, err) = Ember.Tests.Cli.CliTests.Run("export", checkpoint);
        Assert.True(code == 0, err);
        var onnx = Path.Combine(dir, "model.onnx");
        Assert.Contains("wrote " + onnx, output);
        var tensors = Ember.IO.Safetensors.Load(checkpoint, out var meta);
        var gpt = new Gpt(GptConfig.FromMetadata(meta, checkpoint));
        Ember.Training.Trainer.LoadModelState(gpt, tensors, checkpoint);
        gpt.Eval();
        var ids = Tensor.RandInt(0, gpt.Config.VocabSize, [2, 13], new Generator(3));
        float[] want;
        using (Tensor.NoGrad()) want = gpt.Call(ids).ToArray<float>();
        var got = OnnxExportTests.RunOrtIds(onnx, ids, out var shape);
        Assert.Equal([2, 13, gpt.Config.VocabSize], shape);
        for (int i = 0; i < want.Length; i++) Assert.True(Math.Abs(want[i] - got[i]) <= 1e-4 * Math.Max(1, Math.Abs(want[i])), $"{i}: {want[i]} vs {got[i]}");
    }
}
