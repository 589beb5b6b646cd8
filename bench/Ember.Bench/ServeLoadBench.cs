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
/// the same cores. Usage: Ember.Bench serve-load [requests] [clients] [rounds]</summary>
internal static class ServeLoadBench
{
    public static async Task Run(string[] args)
    {
        int requests = args.Length > 0 && int.TryParse(args[0], out int r) ? r : 20_000;
        int clients = args.Length > 1 && int.TryParse(args[1], out int c) ? c : 64;
        int rounds = args.Length > 2 && int.TryParse(args[2], out int n) ? n : 3;
        Console.WriteLine($"# {Program.CpuModel()}; {requests} requests from {clients} clients");
        var mlp = new Mlp(new MlpConfig(), new Generator(1));
        var model = ServedModel.FromMlp(mlp, classification: true, null, "quickstart-mlp");
        var rng = new Random(1);
        var bodies = Enumerable.Range(0, 256).Select(_ => Encoding.UTF8.GetBytes(
            "{\"instances\": [[" + string.Join(",", Enumerable.Range(0, 784).Select(_ => rng.NextSingle().ToString("F3", CultureInfo.InvariantCulture))) + "]]}")).ToArray();
        // In-process batched inference: the ceiling the server is compared with.
        var x = Tensor.Randn([64, 784], DType.Float32, new Generator(2));
        for (int i = 0; i < 20; i++) model.Forward!(x);
        var sw = Stopwatch.StartNew();
        int passes = 0;
        while (sw.Elapsed.TotalSeconds < 3) { model.Forward!(x); passes++; }
        double inProcess = passes * 64 / sw.Elapsed.TotalSeconds;
        Console.WriteLine($"serve-load in_process_batched_instances_per_s={inProcess:F0}");
        (string Name, ServeOptions Options)[] modes =
        [
            ("batched-nowait", new ServeOptions { Port = 0 }),   // the default: half the cores for the model
            ("batched-nowait-all-threads", new ServeOptions { Port = 0, ModelThreads = Environment.ProcessorCount }),
            ("batched-2ms", new ServeOptions { Port = 0, BatchWindow = TimeSpan.FromMilliseconds(2) }),
            ("unbatched", new ServeOptions { Port = 0, MaxBatch = 1, BatchWindow = TimeSpan.Zero }),
            // The same requests with a forward pass that returns zeros: what HTTP, JSON and the clients cost.
            ("no-model", new ServeOptions { Port = 0 }),
            // The same requests to a route that answers 404 without reading them: the floor HTTP and the clients set.
            ("http-floor", new ServeOptions { Port = 0 }),
        ];
        var results = modes.ToDictionary(m => m.Name, _ => new List<(double Rps, double P50, double P99)>());
        // Rounds interleave the modes, so a slow spell of the machine does not land on one mode; medians at the end.
        // Round -1 warms the process (JIT tiers, pools, GC budgets) on the default mode and is not counted.
        for (int round = -1; round < rounds; round++)
            foreach (var (name, options) in round < 0 ? modes[..1] : modes)
            {
                long rssBefore = Rss();
                var served = name == "no-model" ? model.With(x => Tensor.Zeros([x.Size(0), model.Outputs])) : model;
                await using var server = await ModelServer.StartAsync(served, options with { QueueCapacity = 4096 });
                using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = clients }) { BaseAddress = new Uri(server.Address) };
                string route = name == "http-floor" ? "/v1/none" : "/v1/predict";
                await Load(http, bodies, route, 2000, clients);   // warm-up: connections open, the JIT's tiers settled
                sw.Restart();
                var (latencies, failures) = await Load(http, bodies, route, requests, clients);
                double seconds = sw.Elapsed.TotalSeconds;
                Array.Sort(latencies);
                double rps = requests / seconds, p50 = latencies[requests / 2], p99 = latencies[(int)(requests * 0.99)];
                if (round >= 0) results[name].Add((rps, p50, p99));
                Console.WriteLine($"serve-load round={round} mode={name} requests_per_s={rps:F0} p50_ms={p50:F2} p99_ms={p99:F2} " +
                    $"failures={(name == "http-floor" ? 0 : failures)} of_in_process={rps / inProcess:F2} rss_before_mb={rssBefore} rss_after_mb={Rss()}");
            }
        static double Median(IEnumerable<double> v) { var a = v.Order().ToArray(); return a[a.Length / 2]; }
        foreach (var (name, runs) in results)
            Console.WriteLine($"serve-load median mode={name} requests_per_s={Median(runs.Select(r => r.Rps)):F0} p50_ms={Median(runs.Select(r => r.P50)):F2} " +
                $"p99_ms={Median(runs.Select(r => r.P99)):F2} of_in_process={Median(runs.Select(r => r.Rps)) / inProcess:F2}");
    }

    private static async Task<(double[] Latencies, int Failures)> Load(HttpClient http, byte[][] bodies, string route, int requests, int clients)
    {
        var latencies = new double[requests];
        int next = -1, failures = 0;
        await Task.WhenAll(Enumerable.Range(0, clients).Select(async _ =>
        {
            int k;
            while ((k = Interlocked.Increment(ref next)) < requests)
            {
                long t = Stopwatch.GetTimestamp();
                if (!await Post(http, bodies[k % bodies.Length], route)) Interlocked.Increment(ref failures);
                latencies[k] = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
            }
        }));
        return (latencies, failures);
    }

    private static async Task<bool> Post(HttpClient http, byte[] body, string route = "/v1/predict")
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = s_json;
        using var r = await http.PostAsync(route, content);
        await r.Content.ReadAsByteArrayAsync();
        return r.IsSuccessStatusCode;
    }

    private static readonly System.Net.Http.Headers.MediaTypeHeaderValue s_json = new("application/json");

    private static long Rss()
    {
        var line = File.ReadAllLines("/proc/self/status").First(l => l.StartsWith("VmRSS:"));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024;
    }
}
