using Ember.Models;
using Ember.Recipes.Tabular;
using Ember.Tests.Cli;
using Ember.Wireless;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Xunit;

namespace Ember.Tests.Onnx;

/// <summary>`ember export` on the checkpoints the other commands write (sequence-to-sequence milestone, tabular, learned
/// beamformer): the files it announces exist and ONNX Runtime on them equals the checkpoint loaded back into Ember.
/// In the console collection: the command line runs in-process and redirects the console.</summary>
[Collection("console")]
public class ExportCommandTests
{
    private static void AssertClose(float[] want, float[] got, string what)
    {
        Assert.Equal(want.Length, got.Length);
        for (int i = 0; i < want.Length; i++)
            Assert.True(Math.Abs(want[i] - got[i]) <= 1e-4 * Math.Max(1, Math.Abs(want[i])), $"{what}, element {i}: Ember {want[i]}, ONNX Runtime {got[i]}");
    }

    [Fact]
    public void ExportsTheReverseMilestonesEncoderAndDecoder()
    {
        var dir = Directory.CreateTempSubdirectory("ember-export-s2s").FullName;
        var (code, _, err) = CliTests.Run("milestone", "reverse", "--steps", "3", "--out", dir, "--quiet");
        Assert.True(code is 0 or 1, err);                                        // 3 steps: the gate fails, the model is saved
        var checkpoint = Path.Combine(dir, "model.safetensors");
        (code, var output, err) = CliTests.Run("export", checkpoint);
        Assert.True(code == 0, err);
        string encoderPath = Path.Combine(dir, "model.encoder.onnx"), decoderPath = Path.Combine(dir, "model.decoder.onnx");
        Assert.Contains("wrote " + encoderPath, output);
        Assert.Contains("wrote " + decoderPath, output);
        var tensors = Ember.IO.Safetensors.Load(checkpoint, out var meta);
        var model = new Seq2SeqTransformer(Seq2SeqConfig.FromMetadata(meta, checkpoint));
        Ember.Training.Trainer.LoadModelState(model, tensors, checkpoint);
        model.Eval();
        var config = model.Config;
        var src = new long[2 * 7];
        var rng = new Random(4);
        for (int j = 0; j < 7; j++) { src[j] = rng.Next(3, config.SrcVocabSize); src[7 + j] = j < 4 ? rng.Next(3, config.SrcVocabSize) : config.PadId; }
        var srcT = Tensor.FromArray(src, 2, 7);
        long[] tgt = [config.BosId, 5, 6, config.BosId, 7, 8];
        float[] memory, logits;
        using (Tensor.NoGrad())
        {
            var m = model.Encode(srcT).Memory;
            memory = m.Contiguous().ToArray<float>();
            logits = model.Decode(Tensor.FromArray(tgt, 2, 3), m, srcT.Eq(config.PadId)).Contiguous().ToArray<float>();
        }
        using var encoder = new InferenceSession(encoderPath);
        using var decoder = new InferenceSession(decoderPath);
        var srcOrt = new DenseTensor<long>(src, [2, 7]);
        using var enc = encoder.Run([NamedOnnxValue.CreateFromTensor("src_ids", srcOrt)]);
        var mem = enc.First().AsTensor<float>();
        AssertClose(memory, mem.ToArray(), "memory");
        using var dec = decoder.Run([NamedOnnxValue.CreateFromTensor("tgt_ids", new DenseTensor<long>(tgt, [2, 3])),
            NamedOnnxValue.CreateFromTensor("memory", new DenseTensor<float>(mem.ToArray(), mem.Dimensions)), NamedOnnxValue.CreateFromTensor("src_ids", srcOrt)]);
        AssertClose(logits, dec.First().AsTensor<float>().ToArray(), "logits");
    }

    [Fact]
    public void ExportsATabularHybridCheckpoint()
    {
        var dir = Directory.CreateTempSubdirectory("ember-export-tabular").FullName;
        var csv = Path.Combine(dir, "data.csv");
        File.WriteAllText(csv, Ember.Tests.Training.TabularTests.SyntheticCsv(120, 3));
        var (code, _, err) = CliTests.Run("tabular", "train", csv, "--target", "label", "--cv", "2", "--epochs", "1", "--d-model", "16", "--layers", "1",
            "--fusion", "cross", "--out", dir, "--quiet");
        Assert.True(code == 0, err);
        var checkpoint = Path.Combine(dir, "model.safetensors");
        var onnx = Path.Combine(dir, "tabular.onnx");
        (code, var output, err) = CliTests.Run("export", checkpoint, "--out", onnx);
        Assert.True(code == 0, err);
        Assert.Contains("wrote " + onnx, output);
        var tensors = Ember.IO.Safetensors.Load(checkpoint, out var meta);
        var config = TabularModelConfig.FromMetadata(meta, checkpoint);
        Assert.True(config.UsesText, $"the CSV's note column should make a text model: {config}");
        var model = new TabularModel(config);
        Ember.Training.Trainer.LoadModelState(model, tensors, checkpoint);
        model.Eval();
        const int n = 4;
        var g = new Generator(11);
        var dense = Tensor.Randn([n, config.DenseWidth], DType.Float32, g);
        var numeric = Tensor.Randn([n, config.NumericWidth], DType.Float32, g);
        var categorical = config.Cardinalities.Length == 0 ? Tensor.Zeros([n, 0], DType.Int64)
            : Tensor.Cat(config.Cardinalities.Select(c => Tensor.RandInt(0, c, [n, 1], g)).ToArray(), 1);
        var text = new long[n * config.TextLength];
        var rng = new Random(2);
        for (int r = 0; r < n; r++) for (int j = 0; j < config.TextLength - r; j++) text[r * config.TextLength + j] = rng.Next(1, config.TextVocab);
        var wide = Tensor.Rand([n, Math.Max(config.WideWidth, 1)], DType.Float32, g).Narrow(1, 0, config.WideWidth).Contiguous();
        var batch = new TabularBatch(dense, numeric, categorical, Tensor.FromArray(text, n, config.TextLength),
            config.WideWidth > 0 ? CsrMatrix.FromDense(wide) : null);
        float[] want;
        using (Tensor.NoGrad()) want = model.Forward(batch).Contiguous().ToArray<float>();
        using var session = new InferenceSession(onnx);
        var inputs = Ember.Recipes.Export.TabularOnnx.InputNames(config).Select(name => name switch
        {
            "categorical" => NamedOnnxValue.CreateFromTensor(name, new DenseTensor<long>(categorical.Contiguous().ToArray<long>(), categorical.Shape)),
            "text" => NamedOnnxValue.CreateFromTensor(name, new DenseTensor<long>(text, [n, config.TextLength])),
            _ => NamedOnnxValue.CreateFromTensor(name, name switch
            {
                "dense" => new DenseTensor<float>(dense.ToArray<float>(), dense.Shape),
                "numeric" => new DenseTensor<float>(numeric.ToArray<float>(), numeric.Shape),
                _ => new DenseTensor<float>(wide.ToArray<float>(), wide.Shape),
            }),
        }).ToList();
        using var results = session.Run(inputs);
        AssertClose(want, results.First().AsTensor<float>().ToArray(), "tabular output");
    }

    [Fact]
    public void ExportsATrainedBeamformer()
    {
        var dir = Directory.CreateTempSubdirectory("ember-export-bf").FullName;
        string train = Path.Combine(dir, "train.mat"), checkpoint = Path.Combine(dir, "bf.safetensors");
        var (code, _, err) = CliTests.Run("beamforming", "simulate", "--preset", "elayach-64x16", "--count", "32", "--out", train);
        Assert.True(code == 0, err);
        (code, _, err) = CliTests.Run("beamforming", "train", "--data", train, "--epochs", "1", "--batch", "16", "--out", checkpoint);
        Assert.True(code == 0, err);
        (code, var output, err) = CliTests.Run("export", checkpoint);
        Assert.True(code == 0, err);
        var onnx = Path.Combine(dir, "bf.onnx");
        Assert.Contains("wrote " + onnx, output);
        var net = BeamformerTraining.Load(checkpoint);
        net.Eval();
        var h = Tensor.Complex(Tensor.Randn([2, 16, 64], DType.Float32, new Generator(1)), Tensor.Randn([2, 16, 64], DType.Float32, new Generator(2)));
        Tensor f, w;
        using (Tensor.NoGrad()) (f, w) = net.Predict(h);
        using var session = new InferenceSession(onnx);
        var pairs = h.ViewAsReal().Contiguous();
        using var results = session.Run([NamedOnnxValue.CreateFromTensor("channel", new DenseTensor<float>(pairs.ToArray<float>(), pairs.Shape))]);
        AssertClose(f.ViewAsReal().Contiguous().ToArray<float>(), results.First(r => r.Name == "precoder").AsTensor<float>().ToArray(), "precoder");
        AssertClose(w.ViewAsReal().Contiguous().ToArray<float>(), results.First(r => r.Name == "combiner").AsTensor<float>().ToArray(), "combiner");
    }
}
