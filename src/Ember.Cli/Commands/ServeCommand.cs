using System.CommandLine;
using Ember.Cli.Infrastructure;
using Ember.IO;
using Ember.Recipes.Tabular;
using Ember.Serving;

namespace Ember.Cli.Commands;

/// <summary><c>ember serve MODEL</c>: the model over HTTP until Ctrl+C or SIGTERM.</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var model = new Argument<string>("MODEL") { Description = "an MLP checkpoint (quickstart, train), a tabular model (tabular train: rows by column name, text included), a GPT checkpoint (milestone gpt: POST /v1/generate) or an ONNX file" };
        var host = Opt.Text("--host", "127.0.0.1", "address to bind (0.0.0.0: every interface)", "ADDRESS");
        var port = Opt.Int("--port", 8080, "port", min: 0, max: 65535);
        var maxBatch = Opt.Int("--max-batch", 64, "most instances in one forward pass", min: 1, max: 65536);
        var window = Opt.Double("--batch-window-ms", 0, "how long a request waits for others to share its forward pass (0: requests queued during a pass share the next)", 0, 1000);
        var queue = Opt.Int("--queue", 1024, "requests waiting at most (beyond: 503)", min: 1, max: 1_000_000);
        var timeout = Opt.Double("--timeout-s", 10, "longest wait for an answer (beyond: 504)", 0, 3600, exclusiveMin: true);
        var threads = Opt.Int("--model-threads", Math.Max(1, Environment.ProcessorCount / 2), "threads a forward pass uses (the other cores answer HTTP)", min: 1, max: 1024);
        var command = new Command("serve",
            "Serves a model over HTTP: GET /healthz, GET /v1/model, POST /v1/predict {\"instances\": [...]}, GET /metrics " +
            "(Prometheus). Requests arriving together share one forward pass. Runs until Ctrl+C or SIGTERM; requests in flight finish.")
        {
            model, host, port, maxBatch, window, queue, timeout, threads,
        };
        command.SetAction(async (p, cancel) =>
        {
            var ui = new Terminal(quiet: false);
            var served = Load(p.GetValue(model)!);
            var options = new ServeOptions
            {
                Host = p.GetValue(host)!, Port = p.GetValue(port), MaxBatch = p.GetValue(maxBatch),
                BatchWindow = TimeSpan.FromMilliseconds(p.GetValue(window)), QueueCapacity = p.GetValue(queue),
                RequestTimeout = TimeSpan.FromSeconds(p.GetValue(timeout)), ModelThreads = p.GetValue(threads),
            };
            ModelServer server;
            try { server = await ModelServer.StartAsync(served, options); }
            catch (IOException e) { throw new UsageException($"serve: cannot listen on {options.Host}:{options.Port}: {e.Message}"); }
            await using (server)
            {
                ui.Line($"serving {served.Source} ({served.Kind}, instances [{string.Join(", ", served.InstanceShape)}] → {served.Outputs}) at {server.Address}");
                ui.Line($"try: curl -s {server.Address}/v1/model   (Ctrl+C stops)");
                await server.WaitForShutdownAsync();
            }
            return 0;
        });
        return command;
    }

    /// <summary>A model of 'ember tabular train' (MLP, text Transformer, FT-Transformer or a hybrid with text): rows by
    /// column name, text columns included, go through the checkpoint's own preprocessing; each row travels to the batched
    /// forward pass packed as one float vector [dense | numeric | category indices | text token ids | TF-IDF] (indices
    /// and ids are exact in float32) and is unpacked into the model's inputs there.</summary>
    private static ServedModel Tabular(string path)
    {
        var (model, prep) = Checkpoints.LoadTabular(path);
        model.Eval();
        var c = model.Config;
        int dense = c.DenseWidth, numeric = c.NumericWidth, categorical = c.Cardinalities.Length, text = c.UsesText ? c.TextLength : 0,
            wide = c.WideWidth;
        int width = dense + numeric + categorical + text + wide;
        if (c.UsesText && prep.Text is null)
            throw new UsageException($"serve: {path} holds a {c.Kind} model with a text branch but no text featurizer in its metadata");
        var columns = prep.Encoder.Features.Select(f => f.Name).ToArray();
        return new ServedModel
        {
            Kind = "tabular-" + c.Kind.ToString().ToLowerInvariant(), Source = Path.GetFileName(path), InstanceShape = [width], Outputs = c.Outputs,
            Labels = prep.Classification ? prep.Encoder.Classes : null, Columns = columns,
            EncodeRows = rows =>
            {
                var table = new CsvTable(columns, rows.Select(r => columns.Select(col => r[col]).ToArray()).ToList(), Enumerable.Range(1, rows.Count).ToList());
                var batch = prep.Transform(table, Enumerable.Range(0, rows.Count).ToArray());
                int n = rows.Count;
                var packed = new float[n][];
                // Each part's values and width; the text's token ids come padded to the model's length with its pad id.
                var parts = new List<(Tensor? Values, int Width, float Pad)>
                {
                    (batch.Dense, dense, 0), (batch.Numeric, numeric, 0), (batch.Categorical, categorical, 0),
                    (c.UsesText ? batch.Text : null, text, c.TextPadId), (wide > 0 ? batch.Wide?.ToDense() : null, wide, 0),
                };
                var arrays = parts.Select(part => part.Values?.Contiguous().To(DType.Float32).ToArray<float>()).ToArray();
                for (int i = 0; i < n; i++)
                {
                    var row = packed[i] = new float[width];
                    int at = 0;
                    for (int k = 0; k < parts.Count; k++)
                    {
                        int w = parts[k].Width;
                        if (arrays[k] is { } values)
                        {
                            int have = values.Length / n, used = Math.Min(have, w);
                            values.AsSpan(i * have, used).CopyTo(row.AsSpan(at));
                            row.AsSpan(at + used, w - used).Fill(parts[k].Pad);
                        }
                        at += w;
                    }
                }
                return packed;
            },
            Forward = x =>
            {
                using var noGrad = Tensor.NoGrad();
                int at = 0;
                Tensor Next(int w, DType type)
                {
                    var part = x.Narrow(1, at, w).Contiguous().To(type);
                    at += w;
                    return part;
                }
                var d = Next(dense, DType.Float32);
                var num = Next(numeric, DType.Float32);
                var cat = Next(categorical, DType.Int64);
                var ids = Next(text, DType.Int64);
                var tfidf = Next(wide, DType.Float32);
                return model.Forward(new TabularBatch(d, num, cat, c.UsesText ? ids : null, wide > 0 ? CsrMatrix.FromDense(tfidf) : null));
            },
        };
    }

    private static ServedModel Load(string path)
    {
        if (!File.Exists(path)) throw new UsageException($"no such model file: {path}");
        if (path.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase))
        {
            var onnx = Ember.Onnx.Load(path);
            var shape = onnx.InputShape.Skip(1).ToArray();
            if (shape.Length == 0 || shape.Any(d => d < 1) || onnx.OutputShape.Length != 2 || onnx.OutputShape[1] < 1)
                throw new UsageException($"serve: {path} takes [{string.Join(", ", onnx.InputShape)}] → [{string.Join(", ", onnx.OutputShape)}]; " +
                    "serving needs fixed instance dimensions after the batch and a (batch, outputs) output");
            return ServedModel.FromModule(onnx, shape, onnx.OutputShape[1], null, "onnx", Path.GetFileName(path));
        }
        var tensors = Safetensors.Load(path, out var meta);
        if (meta.TryGetValue("model", out var kind) && kind == "gpt")
        {
            var chars = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, "chars.json");
            if (!File.Exists(chars)) throw new UsageException($"serve: no chars.json beside {path} (the GPT's tokenizer, saved by 'ember milestone gpt')");
            var gpt = Checkpoints.LoadGpt(path, tensors, meta);
            return ServedModel.FromGpt(gpt, Ember.Text.CharTokenizer.Load(chars), Path.GetFileName(path));
        }
        if (kind == "tabular") return Tabular(path);
        if (!meta.TryGetValue("arch", out var arch) || arch != "mlp")
            throw new UsageException($"serve: {path} is not a checkpoint 'ember serve' knows; it takes the checkpoints of quickstart, train, " +
                "tabular train and milestone gpt, or ONNX files");
        var (mlp, _) = Checkpoints.LoadMlp(path);
        bool regression = meta.TryGetValue("task", out var task) && task == "regression";
        if (!meta.TryGetValue("tabular", out var json)) return ServedModel.FromMlp(mlp, !regression, null, Path.GetFileName(path));
        // Trained on a CSV: instances may be rows by column name, encoded with the checkpoint's own preprocessing.
        var encoder = TabularEncoder.FromJson(json, path);
        var columns = encoder.Features.Where(f => f.Kind != ColumnKind.Text).Select(f => f.Name).ToArray();
        var served = ServedModel.FromMlp(mlp, !regression, regression ? null : encoder.Classes, Path.GetFileName(path));
        return new ServedModel
        {
            Kind = "tabular-mlp", Source = served.Source, InstanceShape = served.InstanceShape, Outputs = served.Outputs, Labels = served.Labels,
            Forward = served.Forward, RecyclesActivations = served.RecyclesActivations, Columns = columns,
            EncodeRows = rows =>
            {
                var table = new CsvTable(columns, rows.Select(r => columns.Select(c => r[c]).ToArray()).ToList(), Enumerable.Range(1, rows.Count).ToList());
                var x = encoder.Transform(table, Enumerable.Range(0, rows.Count), withTarget: false).X.ToArray<float>();
                return Enumerable.Range(0, rows.Count).Select(i => x.AsSpan(i * encoder.Width, encoder.Width).ToArray()).ToArray();
            },
        };
    }
}
