using System.Runtime.InteropServices;
using Ember.IO;
using Ember.Models;
using Ember.NN;
using Ember.OnnxProto;
using Google.Protobuf;

namespace Ember;

/// <summary>
/// ONNX export (PyTorch's <c>torch.onnx.export</c>): a module is traced on a sample input in eval mode — BatchNorm
/// uses its running statistics, dropout is the identity — and each layer becomes ONNX nodes with its parameters as
/// initializers, so the file runs in ONNX Runtime and any other ONNX runtime. The first dimension is dynamic ("batch")
/// unless asked otherwise. Exportable now: <see cref="Sequential"/> stacks, <see cref="Mlp"/>, <see cref="ResNet"/> (basic
/// and bottleneck blocks, squeeze-excitation), <see cref="UNet"/>, <see cref="ConvAutoencoder"/>, <see cref="Gpt"/>, and in them Linear, Conv1d, Conv2d,
/// ConvTranspose2d, RNN/LSTM/GRU (batched; multi-layer, bidirectional, batch-first), BatchNorm1d/2d, LayerNorm, pools incl. adaptive average pooling to a size that divides the input,
/// Flatten, Dropout, Identity and activations (ReLU, Sigmoid, Tanh, SiLU, GELU exact or tanh,
/// LeakyReLU, ELU, Softmax, LogSoftmax); fused Conv+ReLU(+MaxPool) paths export as their separate ops. Anything else fails
/// with an error naming the module's path and type, and no file is written.
/// </summary>
public static class Onnx
{
    /// <summary>The opset written by default (ONNX 1.12's newest).</summary>
    public const int DefaultOpset = 17;

    /// <summary>Writes <paramref name="module"/>, traced on <paramref name="sampleInput"/> (float32; int64 token ids for
    /// <see cref="Gpt"/>), to an ONNX file at <paramref name="path"/> (atomically). The graph's input is named
    /// <paramref name="inputName"/>, its output <paramref name="outputName"/>; <paramref name="dynamicAxes"/> names the
    /// dimensions left symbolic (by default, with <paramref name="dynamicBatch"/>, the first one as "batch"; a GPT also
    /// takes {1: "sequence"}), in the input and in the output where it has them.</summary>
    public static void Export(Module module, Tensor sampleInput, string path, int opset = DefaultOpset, bool dynamicBatch = true,
        string inputName = "input", string outputName = "output", IReadOnlyDictionary<int, string>? dynamicAxes = null)
    {
        var model = ToModel(module, sampleInput, opset, dynamicBatch, inputName, outputName, dynamicAxes);
        AtomicFile.Write(path, stream => model.WriteTo(stream));
    }

    /// <summary>Writes a GPT's decode-step graph with a key/value cache (what generation runs token by token, as
    /// Hugging Face's "decoder with past"): inputs <c>input_ids</c> int64 (batch, sequence) — the new tokens — and per
    /// layer i <c>past_key_i</c>, <c>past_value_i</c> float32 (batch, heads, past, head_dim); outputs <c>logits</c>
    /// (batch, sequence, vocab) for the new tokens and <c>present_key_i</c>, <c>present_value_i</c> (batch, heads,
    /// past + sequence, head_dim) to feed back. The new tokens sit at positions past … past + sequence − 1 and attend to
    /// every cached token and to the new ones before them; a first call passes empty pasts (past = 0) with the whole
    /// prompt. past + sequence must not exceed the context length. Written atomically.</summary>
    public static void ExportDecoderStep(Gpt gpt, string path, int opset = DefaultOpset)
    {
        ArgumentNullException.ThrowIfNull(gpt);
        var model = DecoderStepModel(gpt, opset);
        AtomicFile.Write(path, stream => model.WriteTo(stream));
    }

    internal static ModelProto DecoderStepModel(Gpt gpt, int opset)
    {
        if (opset is < 13 or > 17)
            throw new ArgumentOutOfRangeException(nameof(opset), $"Onnx.ExportDecoderStep: opset {opset} is not supported; choose 13 to 17.");
        return OnnxGraph.InEvalMode(gpt, () =>
        {
            var graph = new OnnxGraph(gpt, opset);
            var c = gpt.Config;
            int hd = c.NEmbd / c.NHead;
            var g = graph.Graph;
            var step = new Dictionary<int, string> { [0] = "batch", [1] = "sequence" };
            var cache = new Dictionary<int, string> { [0] = "batch", [2] = "past" };
            var present = new Dictionary<int, string> { [0] = "batch", [2] = "total" };
            g.Input.Add(OnnxGraph.ValueInfo("input_ids", [1, 1], DType.Int64, step));
            var pasts = new List<(string Key, string Value)>();
            for (int i = 0; i < c.NLayer; i++)
            {
                pasts.Add(($"past_key_{i}", $"past_value_{i}"));
                g.Input.Add(OnnxGraph.ValueInfo($"past_key_{i}", [1, c.NHead, 0, hd], DType.Float32, cache));
                g.Input.Add(OnnxGraph.ValueInfo($"past_value_{i}", [1, c.NHead, 0, hd], DType.Float32, cache));
            }
            var (logits, presents) = graph.EmitGptStep(gpt, "input_ids", pasts);
            graph.Node("Identity", [logits], ["logits"], "output");
            g.Output.Add(OnnxGraph.ValueInfo("logits", [1, 1, c.VocabSize], DType.Float32, step));
            for (int i = 0; i < c.NLayer; i++)
            {
                graph.Node("Identity", [presents[i].Key], [$"present_key_{i}"], "output");
                graph.Node("Identity", [presents[i].Value], [$"present_value_{i}"], "output");
                g.Output.Add(OnnxGraph.ValueInfo($"present_key_{i}", [1, c.NHead, 1, hd], DType.Float32, present));
                g.Output.Add(OnnxGraph.ValueInfo($"present_value_{i}", [1, c.NHead, 1, hd], DType.Float32, present));
            }
            return OnnxGraph.Wrap(g, "GptDecoderStep", opset);
        });
    }

    /// <summary>Writes a sequence-to-sequence Transformer as two graphs, as its greedy decoding runs them: the encoder
    /// (<c>src_ids</c> int64 (batch, source) → <c>memory</c> (batch, source, d_model)) and the decoder step
    /// (<c>tgt_ids</c> int64 (batch, target) — BOS and the tokens so far — <c>memory</c> and <c>src_ids</c> (for the source's
    /// padding) → <c>logits</c> (batch, target, target vocabulary)). Lengths up to the model's maximum. Both files are
    /// written atomically; if either cannot be built, neither is written.</summary>
    public static void ExportSeq2Seq(Seq2SeqTransformer model, string encoderPath, string decoderPath, int opset = DefaultOpset)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (opset is < 13 or > 17)
            throw new ArgumentOutOfRangeException(nameof(opset), $"Onnx.ExportSeq2Seq: opset {opset} is not supported; choose 13 to 17.");
        var (encoder, decoder) = OnnxGraph.InEvalMode(model, () =>
        {
            int d = model.Config.DModel, v = model.Config.TgtVocabSize;
            var ids = new Dictionary<int, string> { [0] = "batch", [1] = "source" };
            var tgt = new Dictionary<int, string> { [0] = "batch", [1] = "target" };
            var eb = new OnnxGraph(model, opset);
            var memory = eb.EmitSeq2SeqEncoder(model, "src_ids");
            eb.Node("Identity", [memory], ["memory"], "output");
            eb.Graph.Input.Add(OnnxGraph.ValueInfo("src_ids", [1, 1], DType.Int64, ids));
            eb.Graph.Output.Add(OnnxGraph.ValueInfo("memory", [1, 1, d], DType.Float32, ids));
            var encoder = OnnxGraph.Wrap(eb.Graph, "Seq2SeqEncoder", opset);
            var db = new OnnxGraph(model, opset);
            var logits = db.EmitSeq2SeqDecoder(model, "tgt_ids", "memory", "src_ids");
            db.Node("Identity", [logits], ["logits"], "output");
            db.Graph.Input.Add(OnnxGraph.ValueInfo("tgt_ids", [1, 1], DType.Int64, tgt));
            db.Graph.Input.Add(OnnxGraph.ValueInfo("memory", [1, 1, d], DType.Float32, ids));
            db.Graph.Input.Add(OnnxGraph.ValueInfo("src_ids", [1, 1], DType.Int64, ids));
            db.Graph.Output.Add(OnnxGraph.ValueInfo("logits", [1, 1, v], DType.Float32, tgt));
            return (encoder, OnnxGraph.Wrap(db.Graph, "Seq2SeqDecoder", opset));
        });
        AtomicFile.Write(encoderPath, stream => encoder.WriteTo(stream));
        AtomicFile.Write(decoderPath, stream => decoder.WriteTo(stream));
    }


    /// <summary>Loads an ONNX file as a trainable Ember module (<see cref="OnnxModule"/>): what PyTorch's exporter writes
    /// for MLPs, CNNs and Transformer-style stacks at opsets 13–17. An op it cannot run fails with an error naming the op
    /// type, the node and the opset.</summary>
    public static OnnxModule Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Onnx.Load: no such file: {path}", path);
        ModelProto model;
        try
        {
            using var stream = File.OpenRead(path);
            model = ModelProto.Parser.ParseFrom(stream);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new InvalidDataException($"{path}: not an ONNX model ({e.Message}).", e);
        }
        return new OnnxModule(model, path);
    }

    /// <summary>The ONNX model of <paramref name="module"/> traced on <paramref name="sampleInput"/> (see <see cref="Export"/>).</summary>
    internal static ModelProto ToModel(Module module, Tensor sampleInput, int opset = DefaultOpset, bool dynamicBatch = true,
        string inputName = "input", string outputName = "output", IReadOnlyDictionary<int, string>? dynamicAxes = null)
    {
        dynamicAxes ??= dynamicBatch ? new Dictionary<int, string> { [0] = "batch" } : new Dictionary<int, string>();
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(sampleInput);
        if (opset is < 13 or > 17)
            throw new ArgumentOutOfRangeException(nameof(opset), $"Onnx.Export: opset {opset} is not supported; choose 13 to 17.");
        if (sampleInput.DType is not (DType.Float32 or DType.Int64))
            throw new ArgumentException($"Onnx.Export: the sample input must be float32 (or int64 token ids), got {sampleInput.DType.Name()}.");
        if (sampleInput.Dim == 0)
            throw new ArgumentException("Onnx.Export: the sample input needs a batch dimension, got a scalar.");
        return OnnxGraph.InEvalMode(module, () =>
        {
            var graph = new OnnxGraph(module, opset);
            var (last, output) = graph.Emit(module, inputName, sampleInput);
            graph.Node("Identity", [last], [outputName], "output");
            var g = graph.Graph;
            g.Input.Add(OnnxGraph.ValueInfo(inputName, sampleInput.Shape, sampleInput.DType, dynamicAxes));
            g.Output.Add(OnnxGraph.ValueInfo(outputName, output.Shape, output.DType, dynamicAxes));
            return OnnxGraph.Wrap(g, module.GetType().Name, opset);
        });
    }


}
