using System.CommandLine;
using System.Globalization;
using Ember.Cli.Infrastructure;
using Ember.Diagnostics;
using Ember.IO;

namespace Ember.Cli.Commands;

/// <summary><c>ember profile MODEL --batch N</c>: forward passes of a checkpoint or an ONNX file on random inputs under
/// the profiler: time, FLOPs and allocations per module type, and optionally a Chrome/Perfetto trace.</summary>
internal static class ProfileCommand
{
    public static Command Create()
    {
        var model = new Argument<string>("MODEL") { Description = "an MLP checkpoint (quickstart, train), a GPT checkpoint (milestone gpt) or an ONNX file" };
        var batch = Opt.Int("--batch", 1, "instances per forward pass", min: 1, max: 65536);
        var runs = Opt.Int("--runs", 10, "profiled forward passes (after 3 unprofiled warm-up passes)", min: 1, max: 100000);
        var threads = Opt.OptionalInt("--threads", "kernel threads [default: all cores]", min: 1, max: 1024);
        var trace = Opt.Text("--trace", "write the spans as Chrome trace JSON (chrome://tracing, ui.perfetto.dev)", "FILE");
        var command = new Command("profile",
            "Runs forward passes of a model (eval mode, no gradients) on random inputs of its shape and reports, per module " +
            "type: total and per-call time, FLOPs of the products inside it (matrix products, Linear, convolutions, attention) " +
            "and GFLOP/s, and bytes allocated. Module times include their children.")
        {
            model, batch, runs, threads, trace,
        };
        command.SetAction(p =>
        {
            var ui = new Terminal(quiet: false);
            string path = p.GetValue(model)!;
            int n = p.GetValue(batch), count = p.GetValue(runs);
            var (module, input, what) = Load(path, n);
            module.Eval();
            using var scope = p.GetValue(threads) is int t ? EmberSettings.Scope(EmberSettings.Current with { NumThreads = t }) : null;
            for (int i = 0; i < 3; i++) module.Infer(input);
            // The passes as they run unobserved (fused layers), then observed: the profiler runs each layer on its own
            // so that every one has its row.
            var watch = System.Diagnostics.Stopwatch.StartNew();
            for (int i = 0; i < count; i++) module.Infer(input);
            double ms = watch.Elapsed.TotalMilliseconds / count;
            Profiler.Start();
            watch.Restart();
            try { for (int i = 0; i < count; i++) module.Infer(input); }
            finally { Profiler.Stop(); }
            double profiled = watch.Elapsed.TotalMilliseconds / count;
            var totals = Profiler.Totals();
            ui.Line($"{what}, input [{string.Join(", ", input.Shape)}] {input.DType.Name()}, {count} passes on {Parallelism.NumThreads} thread(s): " +
                FormattableString.Invariant($"{ms:F3} ms per pass, {n / ms * 1000:F0} instances/s; profiled (layers unfused) {profiled:F3} ms per pass"));
            string F(double v, string format) => v.ToString(format, CultureInfo.InvariantCulture);
            ui.Table(["module", "total ms", "calls", "ms/call", "GFLOP", "GFLOP/s", "MB alloc"],
                totals.Select(e => (IReadOnlyList<string>)[e.Name["forward ".Length..], F(e.TotalMs, "F2"), e.Calls.ToString(CultureInfo.InvariantCulture),
                    F(e.TotalMs / e.Calls, "F3"), F(e.Flops / 1e9, "F4"), F(e.TotalMs > 0 ? e.Flops / 1e6 / e.TotalMs : 0, "F1"),
                    F(e.BytesAllocated / 1048576.0, "F2")]), title: "forward passes by module type");
            if (p.GetValue(trace) is { } file)
            {
                Profiler.WriteChromeTrace(file);
                ui.Line($"wrote {file} ({Profiler.Events().Count} spans)");
            }
            return 0;
        });
        return command;
    }

    private static (NN.Module Module, Tensor Input, string What) Load(string path, int batch)
    {
        if (!File.Exists(path)) throw new UsageException($"profile: no such model file: {path}");
        var g = new Generator(1);
        if (path.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase))
        {
            var onnx = Ember.Onnx.Load(path);
            var shape = onnx.InputShape.Skip(1).ToArray();
            if (shape.Any(d => d < 1))
                throw new UsageException($"profile: {path} takes [{string.Join(", ", onnx.InputShape)}]; profiling needs fixed dimensions after the batch");
            return (onnx, Tensor.Randn([batch, .. shape], DType.Float32, g), $"ONNX model {Path.GetFileName(path)}");
        }
        var tensors = Safetensors.Load(path, out var meta);
        if (meta.TryGetValue("model", out var kind) && kind == "gpt")
        {
            var gpt = Checkpoints.LoadGpt(path, tensors, meta);
            var ids = Tensor.RandInt(0, gpt.Config.VocabSize, [batch, gpt.Config.ContextLength], g);
            return (gpt, ids, $"GPT {Path.GetFileName(path)} ({gpt.Config.NLayer} layers, context {gpt.Config.ContextLength})");
        }
        if (!meta.TryGetValue("arch", out var arch) || arch != "mlp")
            throw new UsageException($"profile: {path} is not a checkpoint 'ember profile' knows; it takes the checkpoints of quickstart, train " +
                "and milestone gpt, or ONNX files");
        var (mlp, _) = Checkpoints.LoadMlp(path);
        return (mlp, Tensor.Randn([batch, mlp.Config.InFeatures], DType.Float32, g), $"MLP {Path.GetFileName(path)}");
    }
}
