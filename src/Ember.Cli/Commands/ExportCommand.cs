using System.CommandLine;
using Ember.Cli.Infrastructure;
using Ember.IO;

namespace Ember.Cli.Commands;

/// <summary><c>ember export MODEL.safetensors --format onnx</c>: a checkpoint as an ONNX file.</summary>
internal static class ExportCommand
{
    public static Command Create()
    {
        var checkpoint = new Argument<string>("MODEL.safetensors") { Description = "a checkpoint written by 'ember quickstart' or 'ember train'" };
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
            Safetensors.Load(path, out var meta);
            meta.TryGetValue("arch", out var arch);
            if (arch != "mlp")
                throw new UsageException($"export: {path} holds a{(arch is null ? "" : $" '{arch}'")} model; 'ember export' handles MLP checkpoints so far " +
                    "(Sequential and Mlp models of the library export with Ember.Onnx.Export)");
            var (model, _) = Checkpoints.LoadMlp(path);
            string output = p.GetValue(outPath) ?? Path.ChangeExtension(path, ".onnx");
            var sample = Tensor.Zeros([1, model.Config.InFeatures]);
            Ember.Onnx.Export(model, sample, output, p.GetValue(opset));
            ui.Line($"wrote {output} (opset {p.GetValue(opset)}; input 'input' (batch, {model.Config.InFeatures}), output 'output' (batch, {model.Config.OutFeatures}))");
            return 0;
        });
        return command;
    }
}
