using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Ember.Models;
using Ember.Serving;
using Xunit;

namespace Ember.Tests.Serving;

/// <summary>The HTTP server on a real Kestrel socket: answers equal the in-process model's, concurrent requests (batched
/// together) answer as sequential ones, malformed requests get 4xx JSON errors without harming the server, a full queue
/// 503, a slow model 504, and /metrics counts what happened.</summary>
[Collection("ServerMemoryAlone")]
public class ModelServerTests
{
    private static Mlp NewMlp() => new(new MlpConfig { InFeatures = 12, Hidden = [16], OutFeatures = 4, Dropout = 0.2 }, new Generator(1));

    private static async Task<(ModelServer Server, HttpClient Client)> Start(ServedModel model, ServeOptions? options = null)
    {
        var server = await ModelServer.StartAsync(model, (options ?? new ServeOptions()) with { Port = 0 });
        return (server, new HttpClient { BaseAddress = new Uri(server.Address) });
    }

    private static float[] Instance(int seed) => Tensor.Randn([12], DType.Float32, new Generator((ulong)seed)).ToArray<float>();

    private static StringContent Body(string json) => new(json, Encoding.UTF8, "application/json");

    private static string InstancesJson(IEnumerable<float[]> xs) =>
        new JsonObject { ["instances"] = new JsonArray(xs.Select(x => (JsonNode)new JsonArray(x.Select(v => (JsonNode)v).ToArray())).ToArray()) }.ToJsonString();

    [Fact]
    public async Task PredictionsEqualTheModelsAndTheSchemaDescribesIt()
    {
        var mlp = NewMlp();
        var (server, client) = await Start(ServedModel.FromMlp(mlp, classification: true, ["a", "b", "c", "d"], "test.safetensors"));
        await using var _ = server;
        Assert.Equal("ok", (await client.GetFromJsonAsync<JsonObject>("/healthz"))!["status"]!.GetValue<string>());
        var page = await client.GetAsync("/");
        Assert.Equal("text/html", page.Content.Headers.ContentType!.MediaType);
        var html = await page.Content.ReadAsStringAsync();
        foreach (var part in new[] { "fetch(\"/v1/model\")", "imageUi", "formUi", "textUi", "/v1/generate", "/v1/predict" }) Assert.Contains(part, html);
        var schema = (await client.GetFromJsonAsync<JsonObject>("/v1/model"))!;
        Assert.Equal("mlp", schema["kind"]!.GetValue<string>());
        Assert.Equal(12, schema["instance_shape"]![0]!.GetValue<int>());
        Assert.Equal("d", schema["labels"]![3]!.GetValue<string>());
        var xs = Enumerable.Range(0, 5).Select(Instance).ToArray();
        var response = await client.PostAsync("/v1/predict", Body(InstancesJson(xs)));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var predictions = (await response.Content.ReadFromJsonAsync<JsonObject>())!["predictions"]!.AsArray();
        mlp.Eval();
        float[] logits;
        using (Tensor.NoGrad()) logits = mlp.Call(Tensor.FromArray(xs.SelectMany(x => x).ToArray(), 5, 12)).ToArray<float>();
        for (int i = 0; i < 5; i++)
        {
            var row = logits.AsSpan(i * 4, 4).ToArray();
            int best = Array.IndexOf(row, row.Max());
            Assert.Equal(best, predictions[i]!["index"]!.GetValue<int>());
            Assert.Equal("abcd"[best].ToString(), predictions[i]!["label"]!.GetValue<string>());
            double max = row.Max(), sum = row.Sum(v => Math.Exp(v - max));
            for (int k = 0; k < 4; k++)
                Assert.True(Math.Abs(Math.Exp(row[k] - max) / sum - predictions[i]!["probabilities"]![k]!.GetValue<double>()) <= 1e-6,
                    $"instance {i}, class {k}");
        }
    }

    [Fact]
    public async Task BatchesWithRecycledActivationsAnswerAsTheModelDoes()
    {
        // A wide hidden layer: a pass of 11 rows or more makes activations of the pool's size, which the server takes
        // from the pool and gives back after each pass. Many concurrent requests (batches of varied sizes, one buffer's
        // values reused by the next pass) must each get the model's own answer for their rows.
        var mlp = new Mlp(new MlpConfig { InFeatures = 40, Hidden = [2048, 2048], OutFeatures = 3 }, new Generator(6));
        var served = ServedModel.FromMlp(mlp, classification: false, null, "wide");
        Assert.True(served.RecyclesActivations);
        var (server, client) = await Start(served, new ServeOptions { BatchWindow = TimeSpan.FromMilliseconds(20), QueueCapacity = 4096 });
        await using var _ = server;
        var xs = Enumerable.Range(0, 160).Select(i => Enumerable.Range(0, 40).Select(j => (float)Math.Sin(i * 0.37 + j * 0.11)).ToArray()).ToArray();
        long returned = BufferPool.Returned;
        var answers = await Task.WhenAll(xs.Select(async x =>
            await (await client.PostAsync("/v1/predict", Body(InstancesJson([x])))).Content.ReadAsStringAsync()));
        Assert.True(BufferPool.Returned > returned, "no activation went back to the pool: the test would not cover recycling");
        mlp.Eval();
        for (int i = 0; i < xs.Length; i++)
        {
            float[] want;
            using (Tensor.NoGrad()) want = mlp.Call(Tensor.FromArray(xs[i], 1, 40)).ToArray<float>();
            var got = JsonNode.Parse(answers[i])!["predictions"]![0]!.AsArray().Select(v => v!.GetValue<double>()).ToArray();
            for (int k = 0; k < 3; k++)
                Assert.True(Math.Abs(want[k] - got[k]) <= 1e-4 * Math.Max(1, Math.Abs(want[k])), $"request {i}, output {k}: model {want[k]}, served {got[k]}");
        }
    }

    [Fact]
    public async Task ConcurrentRequestsAnswerAsSequentialOnesAndShareBatches()
    {
        var (server, client) = await Start(ServedModel.FromMlp(NewMlp(), classification: false, null, "m"), new ServeOptions { BatchWindow = TimeSpan.FromMilliseconds(5) });
        await using var _ = server;
        var xs = Enumerable.Range(0, 64).Select(i => Instance(100 + i)).ToArray();
        async Task<string> Ask(float[] x) => await (await client.PostAsync("/v1/predict", Body(InstancesJson([x])))).Content.ReadAsStringAsync();
        var sequential = new List<string>();
        foreach (var x in xs) sequential.Add(await Ask(x));
        var concurrent = await Task.WhenAll(xs.Select(Ask));
        // The same answers; a batch of several rows runs the matrix product instead of one row's dot products, so the
        // last bits may differ (float rounding of the same sums in another order), never more.
        for (int i = 0; i < xs.Length; i++)
        {
            var a = JsonNode.Parse(sequential[i])!["predictions"]![0]!.AsArray().Select(v => v!.GetValue<double>()).ToArray();
            var b = JsonNode.Parse(concurrent[i])!["predictions"]![0]!.AsArray().Select(v => v!.GetValue<double>()).ToArray();
            Assert.Equal(a.Length, b.Length);
            for (int k = 0; k < a.Length; k++) Assert.True(Math.Abs(a[k] - b[k]) <= 1e-5 * Math.Max(1, Math.Abs(a[k])), $"request {i}: {a[k]} vs {b[k]}");
        }
        var metrics = await client.GetStringAsync("/metrics");
        Assert.Contains("ember_requests_total{route=\"/v1/predict\",status=\"200\"} 128", metrics);
        // Some forward passes held more than one request: the batch-size histogram's count is below the request count.
        var count = long.Parse(metrics.Split('\n').First(l => l.StartsWith("ember_batch_size_count")).Split(' ')[1]);
        Assert.True(count < 128, $"{count} forward passes for 128 requests: no batching");
    }

    [Fact]
    public async Task MalformedRequestsGetFieldNamingErrorsAndTheServerStaysWell()
    {
        var (server, client) = await Start(ServedModel.FromMlp(NewMlp(), classification: true, null, "m"), new ServeOptions { MaxBodyBytes = 64 << 10 });
        await using var _ = server;
        var good = InstancesJson([Instance(1)]);
        var cases = new List<(string Path, string Body, HttpStatusCode Status, string Needle)>
        {
            ("/v1/predict", "{", HttpStatusCode.BadRequest, "malformed JSON"),
            ("/v1/predict", "[1,2]", HttpStatusCode.BadRequest, "JSON object"),
            ("/v1/predict", "{\"instances\": [[1,2,3]]}", HttpStatusCode.BadRequest, "instances[0] has 3 values"),
            ("/v1/predict", "{\"instances\": []}", HttpStatusCode.BadRequest, "holds 0 instances"),
            ("/v1/predict", "{\"inputs\": [[1]]}", HttpStatusCode.BadRequest, "unknown field \"inputs\""),
            ("/v1/predict", "{\"instances\": [[1,2,3,4,5,6,7,8,9,10,11,\"x\"]]}", HttpStatusCode.BadRequest, "instances[0][11]"),
            ("/v1/predict", "{\"instances\": [[1,2,3,4,5,6,7,8,9,10,11,NaN]]}", HttpStatusCode.BadRequest, "malformed JSON"),
            ("/v1/predict", "{\"instances\": [[1,2,3,4,5,6,7,8,9,10,11,1e999]]}", HttpStatusCode.BadRequest, "not a finite float32"),
            ("/v1/predict", "{\"instances\": " + new string('[', 40) + new string(']', 40) + "}", HttpStatusCode.BadRequest, "malformed JSON"),
            ("/v1/nothing", good, HttpStatusCode.NotFound, "no route"),
            ("/v1/predict", "{\"instances\": [[" + string.Join(",", Enumerable.Repeat("1.0", 40000)) + "]]}", HttpStatusCode.RequestEntityTooLarge, "larger than"),
        };
        var rng = new Random(5);
        long before = 0;
        for (int round = 0; round < 100; round++)
        {
            foreach (var (path, body, status, needle) in cases)
            {
                var r = await client.PostAsync(path, Body(body));
                Assert.Equal(status, r.StatusCode);
                var error = JsonNode.Parse(await r.Content.ReadAsStringAsync())!["error"]!.GetValue<string>();
                Assert.Contains(needle, error);
            }
            // Random bytes as a body: some status in 4xx, never 5xx.
            var junk = new byte[rng.Next(1, 200)];
            rng.NextBytes(junk);
            var jr = await client.PostAsync("/v1/predict", new ByteArrayContent(junk));
            Assert.True((int)jr.StatusCode is >= 400 and < 500, $"junk got {jr.StatusCode}");
            if (round == 10)
            {
                GC.Collect(); GC.WaitForPendingFinalizers(); GC.Collect();
                before = GC.GetTotalMemory(true);
            }
        }
        GC.Collect(); GC.WaitForPendingFinalizers(); GC.Collect();
        long after = GC.GetTotalMemory(true);
        Assert.True(after - before < 32 << 20, $"managed memory grew {(after - before) >> 20} MB over 1,100 bad requests");
        var ok = await client.PostAsync("/v1/predict", Body(good));
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        var metrics = await client.GetStringAsync("/metrics");
        Assert.Contains("status=\"400\"", metrics);
        Assert.Contains("status=\"413\"", metrics);
    }

    [Fact]
    public async Task ImagesArriveAsPng()
    {
        // An MNIST-shaped classifier (flat 784) takes PNGs inside JSON ({"png": base64}) or as the body (image/png); the
        // answer equals the one for the decoded pixel values sent as numbers. Color PNGs become luma.
        var mlp = new Mlp(new MlpConfig { InFeatures = 784, Hidden = [32], OutFeatures = 10 }, new Generator(4));
        var (server, client) = await Start(ServedModel.FromMlp(mlp, classification: true, null, "digits"));
        await using var _ = server;
        var schema = (await client.GetFromJsonAsync<JsonObject>("/v1/model"))!;
        Assert.Equal(28, schema["image"]!["width"]!.GetValue<int>());
        Assert.Equal(1, schema["image"]!["channels"]!.GetValue<int>());
        var (images, _) = Ember.Data.ImageFolders.LoadMnistFormat(Ember.Tests.Data.DataTests.RepoData("mnist-10k"), train: false);
        var digits = Enumerable.Range(0, 3).Select(i => images.Narrow(0, i, 1).Reshape(28, 28).Contiguous()).ToArray();
        var pngs = digits.Select(Ember.IO.Png.Encode).ToArray();
        var levels = digits.Select(d => d.ToArray<float>().Select(v => MathF.Round(v * 255f) / 255f).ToArray()).ToArray();
        async Task<JsonArray> Predictions(HttpContent content)
        {
            var r = await client.PostAsync("/v1/predict", content);
            Assert.True(r.StatusCode == HttpStatusCode.OK, await r.Content.ReadAsStringAsync());
            return (await r.Content.ReadFromJsonAsync<JsonObject>())!["predictions"]!.AsArray();
        }
        var fromNumbers = await Predictions(Body(InstancesJson(levels)));
        var fromJsonPng = await Predictions(Body("{\"instances\": [" + string.Join(", ", pngs.Select(p => $"{{\"png\": \"{Convert.ToBase64String(p)}\"}}")) + "]}"));
        Assert.Equal(fromNumbers.ToJsonString(), fromJsonPng.ToJsonString());
        var body = new ByteArrayContent(pngs[1]);
        body.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("image/png");
        Assert.Equal(fromNumbers[1]!.ToJsonString(), (await Predictions(body))[0]!.ToJsonString());
        // The same digit in red, green and blue equal gray levels: luma (0.299, 0.587, 0.114 with Pillow's rounding)
        // of a gray pixel is the pixel.
        var rgb = Ember.IO.Png.Encode(Tensor.Stack([digits[2], digits[2], digits[2]], 0));
        Assert.Equal(fromNumbers[2]!.ToJsonString(), (await Predictions(Body($"{{\"instances\": [{{\"png\": \"{Convert.ToBase64String(rgb)}\"}}]}}")))[0]!.ToJsonString());

        var small = Convert.ToBase64String(Ember.IO.Png.Encode(Tensor.Zeros([10, 12])));
        var broken = Convert.ToBase64String(pngs[0][..40]);
        foreach (var (json, needle) in new[]
        {
            ($"{{\"instances\": [{{\"png\": \"{small}\"}}]}}", "instances[0].png is 12×10 pixels; the model takes 28×28"),
            ($"{{\"instances\": [{{\"png\": \"{broken}\"}}]}}", "instances[0].png"),
            ("{\"instances\": [{\"png\": \"not base64!\"}]}", "not base64"),
            ("{\"instances\": [{\"jpeg\": \"AAAA\"}]}", "unknown field \"jpeg\""),
            ("{\"instances\": [{\"png\": 3}]}", "without \"png\""),
        })
        {
            var r = await client.PostAsync("/v1/predict", Body(json));
            Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
            Assert.Contains(needle, JsonNode.Parse(await r.Content.ReadAsStringAsync())!["error"]!.GetValue<string>());
        }
        // A model whose instances are not images says so.
        var (other, otherClient) = await Start(ServedModel.FromMlp(NewMlp(), classification: true, null, "m"));
        await using var __ = other;
        var png = new ByteArrayContent(pngs[0]);
        png.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("image/png");
        var refused = await otherClient.PostAsync("/v1/predict", png);
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Contains("not images", await refused.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task GptGenerationStreamsTheSameTextAsInProcess()
    {
        var text = string.Concat(Enumerable.Range(0, 50).Select(i => $"In the beginning {i}. "));
        var tokenizer = Ember.Text.CharTokenizer.FromCorpus(text);
        var gpt = new Gpt(new GptConfig(tokenizer.VocabSize, ContextLength: 32, NLayer: 1, NHead: 2, NEmbd: 16), new Generator(2));
        var (server, client) = await Start(ServedModel.FromGpt(gpt, tokenizer, "gpt.safetensors"));
        await using var _ = server;
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/generate")
        {
            Content = Body("{\"prompt\": \"In the\", \"max_tokens\": 40, \"temperature\": 0.9, \"top_k\": 5, \"seed\": 7}"),
        };
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType!.MediaType);
        var streamed = new StringBuilder();
        int events = 0;
        bool done = false;
        using (var reader = new StreamReader(await response.Content.ReadAsStreamAsync()))
        {
            string? line, lastEvent = null;
            while ((line = await reader.ReadLineAsync()) is not null)
            {
                if (line.StartsWith("event: ")) lastEvent = line[7..];
                else if (line.StartsWith("data: "))
                {
                    var data = JsonNode.Parse(line[6..])!;
                    if (lastEvent == "done") { done = true; Assert.Equal(40, data["tokens"]!.GetValue<int>()); }
                    else { streamed.Append(data["token"]!.GetValue<string>()); events++; }
                }
            }
        }
        Assert.True(done, "no done event");
        Assert.Equal(40, events);
        var ids = tokenizer.Encode("In the").Select(i => (long)i).ToArray();
        var want = gpt.Generate(Tensor.FromArray(ids, 1, ids.Length), 40, new SamplingOptions(0.9, 5), generator: new Generator(7));
        Assert.Equal(tokenizer.Decode(want.ToArray<long>().Skip(ids.Length).Select(i => (int)i)), streamed.ToString());
        // Bad requests: a character outside the vocabulary, an unknown field, out-of-range settings, predict on a GPT.
        foreach (var (body, needle) in new[]
        {
            ("{\"prompt\": \"Zebra\"}", "not in the"),
            ("{\"prompt\": \"In\", \"beams\": 3}", "unknown field \"beams\""),
            ("{\"prompt\": \"In\", \"max_tokens\": 0}", "max_tokens"),
            ("{\"prompt\": \"In\", \"temperature\": -1}", "temperature"),
            ("{\"max_tokens\": 3}", "missing field \"prompt\""),
        })
        {
            var r = await client.PostAsync("/v1/generate", Body(body));
            Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
            Assert.Contains(needle, JsonNode.Parse(await r.Content.ReadAsStringAsync())!["error"]!.GetValue<string>());
        }
        var predict = await client.PostAsync("/v1/predict", Body("{\"instances\": [[1]]}"));
        Assert.Equal(HttpStatusCode.BadRequest, predict.StatusCode);
    }

    [Fact]
    public async Task AFullQueueAnswers503AndASlowModel504()
    {
        var slow = new ServedModel
        {
            Kind = "slow", Source = "test", InstanceShape = [2], Outputs = 1,
            Forward = x => { Thread.Sleep(300); return x.Sum(1, keepDim: true); },
        };
        var (server, client) = await Start(slow, new ServeOptions { QueueCapacity = 1, MaxBatch = 1, BatchWindow = TimeSpan.Zero, RequestTimeout = TimeSpan.FromSeconds(5) });
        await using (server)
        {
            var responses = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => client.PostAsync("/v1/predict", Body("{\"instances\": [[1, 2]]}"))));
            Assert.True(responses.Any(r => r.StatusCode == HttpStatusCode.OK), string.Join(", ", responses.Select(r => r.StatusCode)));
            Assert.True(responses.Any(r => r.StatusCode == HttpStatusCode.ServiceUnavailable), string.Join(", ", responses.Select(r => r.StatusCode)));
            var ok = await responses.First(r => r.StatusCode == HttpStatusCode.OK).Content.ReadFromJsonAsync<JsonObject>();
            Assert.Equal(3.0, ok!["predictions"]![0]![0]!.GetValue<double>());
        }
        var slower = slow.With(x => { Thread.Sleep(1500); return x.Sum(1, keepDim: true); });
        (server, client) = await Start(slower, new ServeOptions { RequestTimeout = TimeSpan.FromMilliseconds(100) });
        await using (server)
        {
            var r = await client.PostAsync("/v1/predict", Body("{\"instances\": [[1, 2]]}"));
            Assert.True(r.StatusCode == HttpStatusCode.GatewayTimeout, $"{r.StatusCode}: {await r.Content.ReadAsStringAsync()}");
        }
    }
}

/// <summary>The malformed-request test measures the process's managed memory: no other test may allocate beside it
/// (a filtered run saw −45 to +54 MB of other tests' memory there, CI 190 MB).</summary>
[CollectionDefinition("ServerMemoryAlone", DisableParallelization = true)]
public class ServerMemoryAloneCollection;
