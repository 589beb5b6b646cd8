using System.CommandLine;
using Ember.Cli.Infrastructure;
using Ember.IO;

namespace Ember.Cli.Commands;

/// <summary><c>ember export MODEL.safetensors --format onnx</c>: a checkpoint as an ONNX file.</summary>
internal static class ExportCommand
{
    public static Command Create()
    {
        var checkpoint = new Argument<string>("MODEL.safetensors") { Description = "a checkpoint written by 'ember quickstart', 'ember train' or 'ember milestone gpt'" };
        var format = Opt.Choice("--format", "onnx", "output format", "onnx");
        var opset = Opt.Int("--opset", Ember.Onnx.DefaultOpset, "ONNX opset", min: 13, max: 17);
        var outPath = Opt.Text("--out", "output file [default: MODEL with the extension .onnx]", "FILE");
        var command = new Command("export",
            "Writes a checkpoint as an ONNX model (eval mode: dropout off, BatchNorm running statistics; first dimension " +
            "dynamic) that ONNX Runtime and other runtimes load. The input is named 'input', the output 'output'.")
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
            if (meta.TryGetValue("model", out var kind) && kind == "gpt")
            {
                // A GPT from 'ember milestone gpt': int64 token ids (batch, sequence) → logits (batch, sequence, vocab).
                var gpt = new Models.Gpt(Models.GptConfig.FromMetadata(meta, path));
                Training.Trainer.LoadModelState(gpt, tensors, path);
                int t = Math.Min(8, gpt.Config.ContextLength);
                Ember.Onnx.Export(gpt, Tensor.Zeros([1, t], DType.Int64), output, version,
                    dynamicAxes: new Dictionary<int, string> { [0] = "batch", [1] = "sequence" });
                ui.Line($"wrote {output} (opset {version}; input 'input' int64 (batch, sequence ≤ {gpt.Config.ContextLength}), output 'output' (batch, sequence, {gpt.Config.VocabSize}))");
                return 0;
            }
            meta.TryGetValue("arch", out var arch);
            if (arch != "mlp")
                throw new UsageException($"export: {path} holds a{(arch ?? kind) switch { null => "", var a => $" '{a}'" }} model; 'ember export' handles the MLP " +
                    "checkpoints of 'ember quickstart'/'ember train' and the GPT of 'ember milestone gpt' so far (Sequential, Mlp, ResNet, " +
                    "ConvAutoencoder and Gpt models of the library export with Ember.Onnx.Export)");
            var (model, _) = Checkpoints.LoadMlp(path);
            Ember.Onnx.Export(model, Tensor.Zeros([1, model.Config.InFeatures]), output, version);
            ui.Line($"wrote {output} (opset {version}; input 'input' (batch, {model.Config.InFeatures}), output 'output' (batch, {model.Config.OutFeatures}))");
            return 0;
        });
        return command;
    }
}
