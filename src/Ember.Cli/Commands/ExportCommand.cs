using System.CommandLine;
using Ember.Cli.Infrastructure;
using Ember.IO;
using Ember.Recipes.Export;

namespace Ember.Cli.Commands;

/// <summary><c>ember export MODEL.safetensors --format onnx</c>: a checkpoint as ONNX graphs, for every checkpoint the
/// command line writes.</summary>
internal static class ExportCommand
{
    public static Command Create()
    {
        var checkpoint = new Argument<string>("MODEL.safetensors")
        {
            Description = "a checkpoint written by 'ember quickstart', 'ember train', 'ember tabular train', 'ember milestone gpt|reverse|hybrid' " +
                "or 'ember beamforming train'",
        };
        var format = Opt.Choice("--format", "onnx", "output format", "onnx");
        var opset = Opt.Int("--opset", Ember.Onnx.DefaultOpset, "ONNX opset (13 to 17; models with LayerNorm need 17)", min: 13, max: 17);
        var outPath = Opt.Text("--out", "output file [default: MODEL with the extension .onnx]", "FILE");
        var command = new Command("export",
            "Writes a checkpoint as an ONNX model (eval mode: dropout off, BatchNorm running statistics; the batch dimension " +
            "dynamic) that ONNX Runtime and other runtimes load. An MLP takes 'input' (batch, features) → 'output'; a GPT " +
            "'input' int64 (batch, sequence) → logits, plus FILE.decoder-step.onnx (new tokens and the key/value cache → " +
            "logits and the updated cache); a sequence-to-sequence model writes FILE.encoder.onnx and FILE.decoder.onnx; a " +
            "tabular model takes the inputs it reads (dense, numeric, categorical, text, wide) → 'output'; a beamformer " +
            "takes the channel as real and imaginary parts → precoder and combiner.")
        {
            checkpoint, format, opset, outPath,
        };
        command.SetAction(p =>
        {
            var ui = new Terminal(quiet: false);
            string path = p.GetValue(checkpoint)!;
            if (!File.Exists(path)) throw new UsageException($"no such checkpoint: {path}");
            var tensors = Safetensors.Load(path, out var meta);
            string output = p.GetValue(outPath) ?? Path.ChangeExtension(path, ".onnx");
            int version = p.GetValue(opset);
            string Beside(string suffix) => Path.Combine(Path.GetDirectoryName(Path.GetFullPath(output))!, Path.GetFileNameWithoutExtension(output) + suffix);
            meta.TryGetValue("model", out var kind);
            meta.TryGetValue("arch", out var arch);
            switch (kind)
            {
                case "gpt":
                {
                    // 'ember milestone gpt': int64 token ids (batch, sequence) → logits (batch, sequence, vocab), and the decode step.
                    var gpt = Checkpoints.LoadGpt(path, tensors, meta);
                    int t = Math.Min(8, gpt.Config.ContextLength);
                    Ember.Onnx.Export(gpt, Tensor.Zeros([1, t], DType.Int64), output, version,
                        dynamicAxes: new Dictionary<int, string> { [0] = "batch", [1] = "sequence" });
                    var step = Beside(".decoder-step.onnx");
                    Ember.Onnx.ExportDecoderStep(gpt, step, version);
                    ui.Line($"wrote {output} (opset {version}; input 'input' int64 (batch, sequence ≤ {gpt.Config.ContextLength}), output 'output' (batch, sequence, {gpt.Config.VocabSize}))");
                    ui.Line($"wrote {step} (input_ids (batch, new tokens) and past_key_i/past_value_i (batch, {gpt.Config.NHead}, past, {gpt.Config.NEmbd / gpt.Config.NHead}) " +
                        $"for i < {gpt.Config.NLayer} → logits and present_key_i/present_value_i)");
                    return 0;
                }
                case "seq2seq":
                {
                    // 'ember milestone reverse': the encoder and the decoder step of greedy decoding.
                    var model = new Models.Seq2SeqTransformer(Models.Seq2SeqConfig.FromMetadata(meta, path));
                    Training.Trainer.LoadModelState(model, tensors, path);
                    string encoder = Beside(".encoder.onnx"), decoder = Beside(".decoder.onnx");
                    Ember.Onnx.ExportSeq2Seq(model, encoder, decoder, version);
                    ui.Line($"wrote {encoder} (src_ids int64 (batch, source ≤ {model.Config.MaxLength}) → memory (batch, source, {model.Config.DModel}))");
                    ui.Line($"wrote {decoder} (tgt_ids int64 (batch, target), memory, src_ids → logits (batch, target, {model.Config.TgtVocabSize}))");
                    return 0;
                }
                case "tabular":
                {
                    var (model, _) = Checkpoints.LoadTabular(path);
                    TabularOnnx.Export(model, output, version);
                    ui.Line($"wrote {output} (opset {version}; inputs {string.Join(", ", TabularOnnx.InputNames(model.Config).Select(n => $"'{n}'"))}, " +
                        $"output 'output' (batch, {model.Config.Outputs}))");
                    return 0;
                }
            }
            if (meta.ContainsKey("beamformer"))
            {
                var net = Ember.Wireless.BeamformerTraining.Load(path);
                BeamformerOnnx.Export(net, output, version);
                ui.Line($"wrote {output} (opset {version}; input 'channel' (batch, {net.Config.Nr}, {net.Config.Nt}, 2) as real and imaginary parts → " +
                    $"'precoder' (batch, {net.Config.Nt}, {net.Config.Streams}, 2) and 'combiner' (batch, {net.Config.Nr}, {net.Config.Streams}, 2))");
                return 0;
            }
            if (arch != "mlp")
                throw new UsageException($"export: {path} holds a{(arch ?? kind) switch { null => "", var a => $" '{a}'" }} model that 'ember export' does not know; " +
                    "it exports the checkpoints of quickstart, train, tabular train, milestone gpt/reverse/hybrid and beamforming train " +
                    "(library models export with Ember.Onnx.Export)");
            var (mlp, _) = Checkpoints.LoadMlp(path);
            Ember.Onnx.Export(mlp, Tensor.Zeros([1, mlp.Config.InFeatures]), output, version);
            ui.Line($"wrote {output} (opset {version}; input 'input' (batch, {mlp.Config.InFeatures}), output 'output' (batch, {mlp.Config.OutFeatures}))");
            return 0;
        });
        return command;
    }
}
