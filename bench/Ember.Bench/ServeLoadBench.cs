using System.Diagnostics;
using System.Globalization;
using System.Text;
using Ember.Models;
using Ember.Serving;

namespace Ember.Bench;

/// <summary>Load test of `ember serve`'s server (in this process, over real sockets): 64 concurrent clients send 20,000
/// single-instance /v1/predict requests for the quickstart MLP; throughput, p50/p99 latency and RSS, with micro-batching
/// (the default: requests queued during a pass share the next; and with a 2 ms window) and without (every request its
/// own forward pass); against the same model's batched in-process inference. The clients run in this process too, on
/// the same cores. Usage: Ember.Bench serve-load [requests] [clients]</summary>
internal static class ServeLoadBench
{
    public static async Task Run(string[] args)
    {
        int requests = args.Length > 0 && int.TryParse(args[0], out int r) ? r : 20_000;
        int clients = args.Length > 1 && int.TryParse(args[1], out int c) ? c : 64;
        Console.WriteLine($"# {Program.CpuModel()}; {requests} requests from {clients} clients");
        var mlp = new Mlp(new MlpConfig(), new Generator(1));
        var model = ServedModel.FromMlp(mlp, classification: true, null, "quickstart-mlp");
        var rng = new Random(1);
        var bodies = Enumerable.Range(0, 256).Select(_ =>
            "{\"instances\": [[" + string.Join(",", Enumerable.Range(0, 784).Select(_ => rng.NextSingle().ToString("F3", CultureInfo.InvariantCulture))) + "]]}").ToArray();
        // In-process batched inference: the ceiling the server is compared with.
        var x = Tensor.Randn([64, 784], DType.Float32, new Generator(2));
        for (int i = 0; i < 20; i++) model.Forward!(x);
        var sw = Stopwatch.StartNew();
        int passes = 0;
        while (sw.Elapsed.TotalSeconds < 3) { model.Forward!(x); passes++; }
        double inProcess = passes * 64 / sw.Elapsed.TotalSeconds;
        Console.WriteLine($"serve-load in_process_batched_instances_per_s={inProcess:F0}");
        foreach (var (name, options) in new[]
        {
            ("batched-2ms", new ServeOptions { Port = 0, BatchWindow = TimeSpan.FromMilliseconds(2) }),
            ("batched-nowait", new ServeOptions { Port = 0 }),
            ("unbatched", new ServeOptions { Port = 0, MaxBatch = 1, BatchWindow = TimeSpan.Zero }),
            // The same requests to a route that answers 404 without reading them: the floor that HTTP and the clients set.
            ("http-floor", new ServeOptions { Port = 0 }),
        })
        {
            long rssBefore = Rss();
            await using var server = await ModelServer.StartAsync(model, options with { QueueCapacity = 4096 });
            using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = clients }) { BaseAddress = new Uri(server.Address) };
            for (int i = 0; i < 200; i++) await Post(http, bodies[i % bodies.Length]);   // warm-up
            var latencies = new double[requests];
            int next = -1, failures = 0;
            sw.Restart();
            await Task.WhenAll(Enumerable.Range(0, clients).Select(async _ =>
            {
                int k;
                while ((k = Interlocked.Increment(ref next)) < requests)
                {
                    var t = Stopwatch.StartNew();
                    if (!await Post(http, bodies[k % bodies.Length], name == "http-floor" ? "/v1/none" : "/v1/predict") && name != "http-floor")
                        Interlocked.Increment(ref failures);
                    latencies[k] = t.Elapsed.TotalMilliseconds;
                }
            }));
            double seconds = sw.Elapsed.TotalSeconds;
            Array.Sort(latencies);
            Console.WriteLine($"serve-load mode={name} requests_per_s={requests / seconds:F0} p50_ms={latencies[requests / 2]:F2} " +
                $"p99_ms={latencies[(int)(requests * 0.99)]:F2} failures={failures} of_in_process={requests / seconds / inProcess:F2} " +
                $"rss_before_mb={rssBefore} rss_after_mb={Rss()}");
        }
    }

    private static async Task<bool> Post(HttpClient http, string body, string route = "/v1/predict")
    {
        using var r = await http.PostAsync(route, new StringContent(body, Encoding.UTF8, "application/json"));
        await r.Content.ReadAsByteArrayAsync();
        return r.IsSuccessStatusCode;
    }

    private static long Rss()
    {
        var line = File.ReadAllLines("/proc/self/status").First(l => l.StartsWith("VmRSS:"));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024;
    }
}
