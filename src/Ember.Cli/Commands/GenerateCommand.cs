using System.CommandLine;
using System.Diagnostics;
using Ember.Cli.Infrastructure;
using Ember.IO;
using Ember.Models;
using Ember.Training;

namespace Ember.Cli.Commands;

/// <summary><c>ember generate CHECKPOINT</c>: samples text from a GPT checkpoint, or images from an image generator's
/// (a VAE's) as a PNG grid.</summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var checkpoint = new Argument<string>("CHECKPOINT") { Description = "model.safetensors saved by 'ember milestone gpt' (chars.json beside it) or 'ember milestone vae'" };
        var prompt = Opt.Text("--prompt", "\\n", "text to continue (\\n for a line break)");
        var tokens = Opt.Int("--tokens", 200, "characters to generate", min: 1, max: 1_000_000);
        var temperature = Opt.Double("--temperature", 0.8, "sampling temperature", 0, 100, exclusiveMin: true);
        var topK = Opt.OptionalInt("--top-k", "sample among the K most likely characters only", min: 1);
        var topP = Opt.OptionalDouble("--top-p", "nucleus sampling: the smallest set with probability >= P, P in (0, 1]", 0, 1, exclusiveMin: true);
        var seed = Opt.Int("--seed", 1, "random seed");
        var noCache = Opt.Flag("--no-cache", "recompute every position at each step (no key/value cache)");
        var attentionPng = Opt.Text("--attention-png", "write the last layer's attention over the prompt (mean over heads) as a heatmap", "FILE");
        var samples = Opt.Int("--samples", 64, "images to sample (image generators)", min: 1, max: 4096);
        var outPng = Opt.Text("--out", "samples.png", "PNG file for the sampled images, eight per row (image generators)", "FILE");
        var command = new Command("generate", "Samples text from a GPT checkpoint saved by 'ember milestone gpt', or images from a VAE saved by 'ember milestone vae'.")
        {
            checkpoint, prompt, tokens, temperature, topK, topP, seed, noCache, attentionPng, samples, outPng,
        };
        command.SetAction(p =>
        {
            var ui = new Terminal(quiet: false);
            string path = p.GetValue(checkpoint)!;
            if (!File.Exists(path)) throw new UsageException($"no such checkpoint: {path}");
            var tensors = Safetensors.Load(path, out var meta);
            if (meta.TryGetValue("model", out var kind) && kind == "vae")
            {
                var vae = new Vae(VaeConfig.FromMetadata(meta, path));
                Trainer.LoadModelState(vae, tensors, path);
                vae.Eval();
                int count = p.GetValue(samples);
                string grid = p.GetValue(outPng)!;
                Png.Write(grid, Images.Grid(vae.Sample(count, new Generator((ulong)p.GetValue(seed))), columns: 8));
                ui.Line($"saved {count} samples from {path} to {grid}");
                return 0;
            }
            var (model, tok) = Checkpoints.LoadGptWithTokenizer(path, tensors, meta);   // the file is read once
            var ids = tok.Encode(p.GetValue(prompt)!.Replace("\\n", "\n"));
            if (ids.Length == 0) throw new UsageException("--prompt must not be empty");
            if (p.GetValue(attentionPng) is string png)
            {
                var promptIds = Tensor.FromArray(ids.Select(i => (long)i).ToArray(), 1, ids.Length);
                var last = model.AttentionMaps(promptIds)[^1].Mean(1).Select(0, 0);   // (T, T), averaged over heads
                var labels = ids.Select(i => tok.Decode([i]) switch { "\n" => "\\n", " " => "␣", var c => c }).ToArray();
                Plots.Attention(last, labels, png, $"Last-layer attention (mean over {model.Config.NHead} heads)");
                ui.Log($"saved {png}");
            }
            int n = p.GetValue(tokens);
            bool cache = !p.GetValue(noCache);
            var sw = Stopwatch.StartNew();
            var output = model.Generate(Tensor.FromArray(ids.Select(i => (long)i).ToArray(), 1, ids.Length), n,
                new SamplingOptions(p.GetValue(temperature), p.GetValue(topK), p.GetValue(topP)), useCache: cache, generator: new Generator((ulong)p.GetValue(seed)));
            double seconds = sw.Elapsed.TotalSeconds;
            ui.Line(tok.Decode(output.ToArray<long>().Select(i => (int)i)));
            ui.Log($"{n} tokens in {seconds:F2}s ({n / seconds:F0} tokens/s{(cache ? "" : ", no cache")})");
            return 0;
        });
        return command;
    }
}
