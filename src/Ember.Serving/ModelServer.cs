using System.Diagnostics;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Ember.Serving;

/// <summary>
/// Serves one model over HTTP (ASP.NET Core minimal APIs on Kestrel):
/// <c>GET /healthz</c>; <c>GET /v1/model</c> (kind, instance shape, outputs, labels); <c>POST /v1/predict</c> with
/// <c>{"instances": [[…], …]}</c> (each instance flat or nested to the model's shape) answering
/// <c>{"predictions": [{"label", "index", "probabilities"} | [values…]]}</c>; <c>POST /v1/generate</c> for GPT models
/// (the new text streamed as server-sent events); <c>GET /metrics</c> (Prometheus text).
/// <c>GET /</c> is a web page for trying the model (draw a digit, fill a row, type a prompt).
/// Requests share forward passes through dynamic micro-batching; the queue is bounded (503 when full), each request has a
/// timeout (504), bodies a size limit (413); a bad request gets 400 with a JSON error naming the field, an unknown route
/// 404. Stopping lets requests in flight finish.
/// </summary>
public sealed class ModelServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly MicroBatcher _batcher;
    private readonly Metrics _metrics = new();
    private readonly ServedModel _model;
    private readonly ServeOptions _options;

    private ModelServer(ServedModel model, ServeOptions options)
    {
        _model = model;
        _options = options;
        _batcher = new MicroBatcher(model, options, _metrics);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = options.MaxBodyBytes + 1);
        builder.WebHost.UseUrls($"http://{options.Host}:{options.Port}");
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = TimeSpan.FromSeconds(30));
        _app = builder.Build();
        _app.MapGet("/", (HttpContext c) => Timed(c, "/", async () =>
        {
            c.Response.ContentType = "text/html; charset=utf-8";
            await c.Response.WriteAsync(s_page.Value);
        }));
        _app.MapGet("/healthz", (HttpContext c) => Timed(c, "/healthz", () => Json(c, 200, new JsonObject { ["status"] = "ok" })));
        _app.MapGet("/v1/model", (HttpContext c) => Timed(c, "/v1/model", () => Json(c, 200, Describe())));
        _app.MapPost("/v1/predict", (HttpContext c) => Timed(c, "/v1/predict", () => PredictAsync(c)));
        _app.MapPost("/v1/generate", (HttpContext c) => Timed(c, "/v1/generate", () => GenerateAsync(c)));
        _app.MapGet("/metrics", (HttpContext c) => Timed(c, "/metrics", async () =>
        {
            c.Response.ContentType = "text/plain; version=0.0.4";
            await c.Response.WriteAsync(_metrics.Render());
        }));
        _app.MapFallback((HttpContext c) => Timed(c, "other", () => Error(c, 404, $"no route {c.Request.Method} {c.Request.Path}")));
    }

    /// <summary>Starts serving <paramref name="model"/>; returns once the server listens.</summary>
    public static async Task<ModelServer> StartAsync(ServedModel model, ServeOptions? options = null)
    {
        var server = new ModelServer(model, options ?? new ServeOptions());
        await server._app.StartAsync();
        return server;
    }

    /// <summary>The address the server listens on (the actual port when 0 was asked).</summary>
    public string Address => _app.Urls.First();

    /// <summary>Waits until the host stops (Ctrl+C or SIGTERM), letting requests in flight finish.</summary>
    public Task WaitForShutdownAsync() => _app.WaitForShutdownAsync();

    /// <summary>Stops accepting requests, finishes those in flight, stops the batcher.</summary>
    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _batcher.DisposeAsync();
        await _app.DisposeAsync();
    }

    private async Task Timed(HttpContext c, string route, Func<Task> handler)
    {
        var sw = Stopwatch.StartNew();
        try { await handler(); }
        catch (Exception e) when (!c.Response.HasStarted)
        {
            await Error(c, 500, $"internal error: {e.GetType().Name}: {e.Message}");
        }
        _metrics.Request(route, c.Response.StatusCode, sw.Elapsed.TotalSeconds);
    }

    private JsonObject Describe() => new()
    {
        ["kind"] = _model.Kind,
        ["source"] = _model.Source,
        ["instance_shape"] = new JsonArray(_model.InstanceShape.Select(d => (JsonNode)d).ToArray()),
        ["outputs"] = _model.Outputs,
        ["task"] = _model.Labels is null ? "regression" : "classification",
        ["labels"] = _model.Labels is null ? null : new JsonArray(_model.Labels.Select(l => (JsonNode)l).ToArray()),
        ["generates_text"] = _model.Generate is not null,
        ["columns"] = _model.Columns is null ? null : new JsonArray(_model.Columns.Select(c => (JsonNode)c).ToArray()),
        ["image"] = ImageGeometry() is var (ch, h, w) ? new JsonObject { ["channels"] = ch, ["height"] = h, ["width"] = w } : null,
        ["max_batch"] = _options.MaxBatch,
        ["max_instances_per_request"] = _options.MaxInstancesPerRequest,
    };

    /// <summary>The web page (wwwroot/index.html): draws a digit for image classifiers, a form from the columns for
    /// table models, a prompt that streams text for GPT models; it reads /v1/model to choose.</summary>
    private static readonly Lazy<string> s_page = new(() =>
    {
        using var stream = typeof(ModelServer).Assembly.GetManifestResourceStream("Ember.Serving.index.html")
            ?? throw new InvalidOperationException("ModelServer: the embedded web page is missing from the assembly.");
        return new StreamReader(stream).ReadToEnd();
    });

    // Quotes and non-ASCII text as they are (an API response, never embedded in HTML).
    private static readonly JsonSerializerOptions s_json = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static Task Json(HttpContext c, int status, JsonNode body)
    {
        c.Response.StatusCode = status;
        c.Response.ContentType = "application/json";
        return c.Response.WriteAsync(body.ToJsonString(s_json));
    }

    private static Task Error(HttpContext c, int status, string message) => Json(c, status, new JsonObject { ["error"] = message });

    /// <summary>The body, read up to the limit (a larger one is refused with 413 without reading it all); null when refused.</summary>
    private async Task<MemoryStream?> ReadBodyAsync(HttpContext c)
    {
        var buffer = new MemoryStream(c.Request.ContentLength is > 0 and var n && n <= _options.MaxBodyBytes ? (int)n : 4096);
        var chunk = System.Buffers.ArrayPool<byte>.Shared.Rent(16384);
        int read;
        try
        {
            while ((read = await c.Request.Body.ReadAsync(chunk, c.RequestAborted)) > 0)
            {
                if (buffer.Length + read > _options.MaxBodyBytes)
                {
                    await Error(c, 413, $"request body larger than {_options.MaxBodyBytes} bytes");
                    return null;
                }
                buffer.Write(chunk, 0, read);
            }
        }
        catch (BadHttpRequestException e) when (e.StatusCode == 413)
        {
            await Error(c, 413, $"request body larger than {_options.MaxBodyBytes} bytes");
            return null;
        }
        finally { System.Buffers.ArrayPool<byte>.Shared.Return(chunk); }
        return buffer;
    }

    /// <summary>POST /v1/generate {"prompt", "max_tokens", "temperature", "top_k", "top_p", "seed"}: the new text streamed
    /// as server-sent events (<c>data: {"token": "…"}</c> per piece, then <c>event: done</c> with the count).</summary>
    private async Task GenerateAsync(HttpContext c)
    {
        if (_model.Generate is null)
        {
            await Error(c, 400, $"this model ({_model.Kind}) does not generate text: POST /v1/predict");
            return;
        }
        if (await ReadBodyAsync(c) is not { } body) return;
        GenerateRequest request;
        try { request = ParseGenerate(body.ToArray()); }
        catch (FormatException e)
        {
            await Error(c, 400, e.Message);
            return;
        }
        if (_model.CheckPrompt?.Invoke(request.Prompt) is { } problem)
        {
            await Error(c, 400, problem);
            return;
        }
        c.Response.StatusCode = 200;
        c.Response.ContentType = "text/event-stream";
        c.Response.Headers.CacheControl = "no-cache";
        await c.Response.StartAsync();
        var pieces = System.Threading.Channels.Channel.CreateUnbounded<string>();
        var aborted = c.RequestAborted;
        var producer = Task.Run(() =>
        {
            try { _model.Generate(request, piece => !aborted.IsCancellationRequested && pieces.Writer.TryWrite(piece)); }
            finally { pieces.Writer.TryComplete(); }
        });
        int count = 0;
        try
        {
            await foreach (var piece in pieces.Reader.ReadAllAsync(aborted))
            {
                count++;
                await c.Response.WriteAsync($"data: {new JsonObject { ["token"] = piece }.ToJsonString(s_json)}\n\n", aborted);
                await c.Response.Body.FlushAsync(aborted);
            }
            await producer;
            await c.Response.WriteAsync($"event: done\ndata: {new JsonObject { ["tokens"] = count }.ToJsonString(s_json)}\n\n", aborted);
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested) { }
    }

    private GenerateRequest ParseGenerate(byte[] body)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(body); }
        catch (JsonException e) { throw new FormatException($"malformed JSON: {e.Message}"); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new FormatException("the body must be a JSON object with \"prompt\"");
            string? prompt = null;
            int maxTokens = 100;
            double temperature = 0.8;
            int? topK = null;
            double? topP = null;
            ulong? seed = null;   // none given: a fresh draw per request
            foreach (var p in root.EnumerateObject())
            {
                var v = p.Value;
                switch (p.Name)
                {
                    case "prompt":
                        prompt = v.ValueKind == JsonValueKind.String ? v.GetString() : throw new FormatException("\"prompt\" must be a string");
                        break;
                    case "max_tokens":
                        maxTokens = v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int m) && m >= 1 && m <= _model.MaxNewTokens ? m
                            : throw new FormatException($"\"max_tokens\" must be an integer from 1 to {_model.MaxNewTokens}, got {v.GetRawText()}");
                        break;
                    case "temperature":
                        temperature = v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out double t) && t > 0 && t <= 100 ? t
                            : throw new FormatException($"\"temperature\" must be a number in (0, 100], got {v.GetRawText()}");
                        break;
                    case "top_k":
                        topK = v.ValueKind == JsonValueKind.Null ? null : v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int k) && k >= 1 ? k
                            : throw new FormatException($"\"top_k\" must be a positive integer, got {v.GetRawText()}");
                        break;
                    case "top_p":
                        topP = v.ValueKind == JsonValueKind.Null ? null : v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out double q) && q > 0 && q <= 1 ? q
                            : throw new FormatException($"\"top_p\" must be a number in (0, 1], got {v.GetRawText()}");
                        break;
                    case "seed":
                        seed = v.ValueKind == JsonValueKind.Number && v.TryGetUInt64(out ulong sd) ? sd
                            : throw new FormatException($"\"seed\" must be a non-negative integer, got {v.GetRawText()}");
                        break;
                    default:
                        throw new FormatException($"unknown field \"{p.Name}\" (prompt, max_tokens, temperature, top_k, top_p, seed)");
                }
            }
            return new GenerateRequest(prompt ?? throw new FormatException("missing field \"prompt\""), maxTokens, temperature, topK, topP,
                seed ?? (ulong)Random.Shared.NextInt64());
        }
    }

    private async Task PredictAsync(HttpContext c)
    {
        if (await ReadBodyAsync(c) is not { } buffer) return;
        if (_model.Forward is null)
        {
            await Error(c, 400, $"this model ({_model.Kind}) generates text: POST /v1/generate");
            return;
        }
        float[][]? instances = null;
        string? problem;
        bool parsed;
        if (c.Request.ContentType?.StartsWith("image/png", StringComparison.OrdinalIgnoreCase) == true)
        {
            parsed = TryImage(buffer.ToArray(), "the body", out var image, out problem);
            if (parsed) instances = [image!];
        }
        else parsed = TryParse(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), out instances, out problem);
        if (!parsed)
        {
            await Error(c, 400, problem!);
            return;
        }
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(c.RequestAborted);
        timeout.CancelAfter(_options.RequestTimeout);
        if (!_batcher.TryEnqueue(instances!, timeout.Token, out var pending))
        {
            await Error(c, 503, "the request queue is full; retry later");
            return;
        }
        float[][] outputs;
        try { outputs = await pending.WaitAsync(timeout.Token); }
        catch (OperationCanceledException) when (!c.RequestAborted.IsCancellationRequested)
        {
            await Error(c, 504, $"no answer within {_options.RequestTimeout.TotalSeconds:G} s");
            return;
        }
        // Written straight to the response (no JSON tree): this is the hot path of a loaded server.
        c.Response.StatusCode = 200;
        c.Response.ContentType = "application/json";
        // Composed in memory first, so the answer goes out with a Content-Length in one write (no chunked framing).
        var answer = new System.Buffers.ArrayBufferWriter<byte>(256 * outputs.Length);
        using (var json = new Utf8JsonWriter(answer, new JsonWriterOptions { Encoder = s_json.Encoder }))
        {
            json.WriteStartObject();
            json.WriteStartArray("predictions");
            foreach (var y in outputs)
            {
                if (_model.Labels is { } labels)
                {
                    var p = Softmax(y);
                    int best = Array.IndexOf(p, p.Max());
                    json.WriteStartObject();
                    json.WriteString("label", labels[best]);
                    json.WriteNumber("index", best);
                    json.WriteStartArray("probabilities");
                    foreach (var v in p) json.WriteNumberValue(Math.Round(v, 6));
                    json.WriteEndArray();
                    json.WriteEndObject();
                }
                else
                {
                    json.WriteStartArray();
                    foreach (var v in y) json.WriteNumberValue((double)v);
                    json.WriteEndArray();
                }
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        c.Response.ContentLength = answer.WrittenCount;
        await c.Response.Body.WriteAsync(answer.WrittenMemory);
    }

    private static double[] Softmax(float[] logits)
    {
        double max = logits.Max();
        var e = logits.Select(v => Math.Exp(v - max)).ToArray();
        double sum = e.Sum();
        return e.Select(v => v / sum).ToArray();
    }

    /// <summary>Reads <c>{"instances": [...]}</c>: every instance flat or nested to the model's shape, finite numbers only,
    /// no other fields. The problem names the field.</summary>
    private bool TryParse(ReadOnlyMemory<byte> body, out float[][]? instances, out string? problem)
    {
        problem = null;
        instances = FastInstances.TryRead(body.Span, _model.InstanceSize, _options.MaxInstancesPerRequest);
        if (instances is not null) return true;
        JsonDocument doc;
        try { doc = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 16 }); }
        catch (JsonException e)
        {
            problem = $"malformed JSON: {e.Message}";
            return false;
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                problem = $"the body must be a JSON object with \"instances\", got a JSON {root.ValueKind.ToString().ToLowerInvariant()}";
                return false;
            }
            foreach (var property in root.EnumerateObject())
                if (property.Name != "instances")
                {
                    problem = $"unknown field \"{property.Name}\" (the body takes \"instances\" only)";
                    return false;
                }
            if (!root.TryGetProperty("instances", out var list) || list.ValueKind != JsonValueKind.Array)
            {
                problem = "missing field \"instances\": an array of instances";
                return false;
            }
            int n = list.GetArrayLength(), size = _model.InstanceSize;
            if (n == 0 || n > _options.MaxInstancesPerRequest)
            {
                problem = $"\"instances\" holds {n} instances; send 1 to {_options.MaxInstancesPerRequest}";
                return false;
            }
            var result = new float[n][];
            int i = 0;
            if (_model.Columns is not null && list.EnumerateArray().Any(e => e.ValueKind == JsonValueKind.Object))
                return TryParseRows(list, out instances, out problem);
            foreach (var instance in list.EnumerateArray())
            {
                if (instance.ValueKind == JsonValueKind.Object)
                {
                    if (!TryImageInstance(instance, $"instances[{i}]", out var image, out problem)) return false;
                    result[i++] = image!;
                    continue;
                }
                var values = new List<float>(size);
                if (!Flatten(instance, $"instances[{i}]", values, out problem)) return false;
                if (values.Count != size)
                {
                    problem = $"instances[{i}] has {values.Count} values; the model takes {size} (shape [{string.Join(", ", _model.InstanceShape)}])";
                    return false;
                }
                result[i++] = values.ToArray();
            }
            instances = result;
            return true;
        }
    }

    /// <summary>How the model takes an image: its channels, height and width, or null when its instances are not images
    /// ((C, H, W) with C = 1, 3 or 4; (H, W); or a flat square of 64 values or more, as a flattened MNIST digit).</summary>
    private (int Channels, int Height, int Width)? ImageGeometry()
    {
        var s = _model.InstanceShape;
        if (_model.Columns is not null) return null;
        if (s.Length == 3 && s[0] is 1 or 3 or 4) return (s[0], s[1], s[2]);
        if (s.Length == 2) return (1, s[0], s[1]);
        int side = (int)Math.Round(Math.Sqrt(s.Length == 1 ? s[0] : 0));
        return s.Length == 1 && side * side == s[0] && side >= 8 ? (1, side, side) : null;
    }

    /// <summary>An instance given as <c>{"png": base64}</c>.</summary>
    private bool TryImageInstance(JsonElement instance, string path, out float[]? values, out string? problem)
    {
        values = null;
        foreach (var p in instance.EnumerateObject())
            if (p.Name != "png")
            {
                problem = ImageGeometry() is null
                    ? $"{path} is a JSON object; this model takes arrays of {_model.InstanceSize} numbers (shape [{string.Join(", ", _model.InstanceShape)}])"
                    : $"{path} has the unknown field \"{p.Name}\"; give an image as {{\"png\": \"<base64>\"}}";
                return false;
            }
        if (!instance.TryGetProperty("png", out var png) || png.ValueKind != JsonValueKind.String)
        {
            problem = $"{path} is a JSON object without \"png\"; give an image as {{\"png\": \"<base64>\"}} or the values as an array";
            return false;
        }
        byte[] bytes;
        try { bytes = Convert.FromBase64String(png.GetString()!); }
        catch (FormatException)
        {
            problem = $"{path}.png is not base64";
            return false;
        }
        return TryImage(bytes, $"{path}.png", out values, out problem);
    }

    /// <summary>Decodes a PNG into one instance: converted to the model's channels (luma for one), and of its size.</summary>
    private bool TryImage(byte[] bytes, string path, out float[]? values, out string? problem)
    {
        values = null;
        if (ImageGeometry() is not var (channels, height, width))
        {
            problem = $"this model takes instances of shape [{string.Join(", ", _model.InstanceShape)}], not images";
            return false;
        }
        Tensor image;
        try { image = Ember.IO.Png.Decode(bytes, channels, path); }
        catch (Ember.IO.FileFormatException e)
        {
            problem = e.Message;
            return false;
        }
        if (image.Size(1) != height || image.Size(2) != width)
        {
            problem = $"{path} is {image.Size(2)}×{image.Size(1)} pixels; the model takes {width}×{height}";
            return false;
        }
        values = image.ToArray<float>();
        problem = null;
        return true;
    }

    /// <summary>Instances given as table rows by column name: every column present, no others; values text, numbers
    /// or null (missing).</summary>
    private bool TryParseRows(JsonElement list, out float[][]? instances, out string? problem)
    {
        instances = null;
        if (_model.EncodeRows is null || _model.Columns is null)
        {
            problem = "instances are JSON objects, but this model takes arrays of numbers";
            return false;
        }
        var rows = new List<IReadOnlyDictionary<string, string>>();
        int i = 0;
        foreach (var instance in list.EnumerateArray())
        {
            if (instance.ValueKind != JsonValueKind.Object)
            {
                problem = $"instances[{i}] is a JSON {instance.ValueKind.ToString().ToLowerInvariant()}; give every instance as an object of columns";
                return false;
            }
            var row = new Dictionary<string, string>();
            foreach (var column in instance.EnumerateObject())
            {
                if (!_model.Columns.Contains(column.Name))
                {
                    problem = $"instances[{i}] has the unknown column \"{column.Name}\" (columns: {string.Join(", ", _model.Columns)})";
                    return false;
                }
                row[column.Name] = column.Value.ValueKind switch
                {
                    JsonValueKind.String => column.Value.GetString()!,
                    JsonValueKind.Number => column.Value.GetRawText(),
                    JsonValueKind.Null => "",
                    _ => null!,
                };
                if (row[column.Name] is null)
                {
                    problem = $"instances[{i}].{column.Name} is a JSON {column.Value.ValueKind.ToString().ToLowerInvariant()}; expected text, a number or null";
                    return false;
                }
            }
            if (_model.Columns.FirstOrDefault(c => !row.ContainsKey(c)) is { } missing)
            {
                problem = $"instances[{i}] lacks the column \"{missing}\" (use null for a missing value)";
                return false;
            }
            rows.Add(row);
            i++;
        }
        try { instances = _model.EncodeRows(rows); }
        catch (Exception e) when (e is ArgumentException or InvalidDataException or FormatException)
        {
            problem = e.Message;
            return false;
        }
        problem = null;
        return true;
    }

    private static bool Flatten(JsonElement e, string path, List<float> into, out string? problem)
    {
        problem = null;
        switch (e.ValueKind)
        {
            case JsonValueKind.Number:
                if (!e.TryGetDouble(out double v) || !double.IsFinite(v) || Math.Abs(v) > float.MaxValue)
                {
                    problem = $"{path} = {e.GetRawText()} is not a finite float32 number";
                    return false;
                }
                into.Add((float)v);
                return true;
            case JsonValueKind.Array:
                int j = 0;
                foreach (var item in e.EnumerateArray())
                    if (!Flatten(item, $"{path}[{j++}]", into, out problem)) return false;
                return true;
            default:
                problem = $"{path} is a JSON {e.ValueKind.ToString().ToLowerInvariant()}; expected numbers";
                return false;
        }
    }
}
