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
                int[] gcBefore = [GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2)];
                var pauseBefore = GC.GetTotalPauseDuration();
                sw.Restart();
                var (latencies, failures) = await Load(http, bodies, route, requests, clients);
                double seconds = sw.Elapsed.TotalSeconds;
                Array.Sort(latencies);
                double rps = requests / seconds, p50 = latencies[requests / 2], p99 = latencies[(int)(requests * 0.99)];
                if (round >= 0) results[name].Add((rps, p50, p99));
                Console.WriteLine($"serve-load round={round} mode={name} requests_per_s={rps:F0} p50_ms={p50:F2} p99_ms={p99:F2} " +
                    $"failures={(name == "http-floor" ? 0 : failures)} of_in_process={rps / inProcess:F2} rss_before_mb={rssBefore} rss_after_mb={Rss()} " +
                    $"gc_0/1/2={GC.CollectionCount(0) - gcBefore[0]}/{GC.CollectionCount(1) - gcBefore[1]}/{GC.CollectionCount(2) - gcBefore[2]} " +
                    $"gc_pause_ms={(GC.GetTotalPauseDuration() - pauseBefore).TotalMilliseconds:F0}");
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
        var address = http.BaseAddress!;
        var prepared = bodies.Select(b => RawHttpClient.Request(address, route, b)).ToArray();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(async _ =>
        {
            using var client = s_raw ? new RawHttpClient(address) : null;
            int k;
            while ((k = Interlocked.Increment(ref next)) < requests)
            {
                long t = Stopwatch.GetTimestamp();
                bool ok = client is not null ? await client.SendAsync(prepared[k % prepared.Length]) == 200 : await Post(http, bodies[k % bodies.Length], route);
                if (!ok) Interlocked.Increment(ref failures);
                latencies[k] = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
            }
        }));
        return (latencies, failures);
    }

    /// <summary>Raw-socket clients (the default) or HttpClient (EMBER_BENCH_HTTPCLIENT=1).</summary>
    private static readonly bool s_raw = Environment.GetEnvironmentVariable("EMBER_BENCH_HTTPCLIENT") != "1";

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

/// <summary>A lean HTTP/1.1 keep-alive client for the load test, as wrk is: one socket, the request's bytes prepared
/// once, the response read until its Content-Length (or its last chunk). HttpClient costs ~30-40 µs of CPU per request
/// on top, which on 2 vCPUs shared with the server is the server's CPU.</summary>
internal sealed class RawHttpClient : IDisposable
{
    private readonly System.Net.Sockets.Socket _socket;
    private readonly byte[] _buffer = new byte[64 * 1024];
    private int _start, _end;

    public RawHttpClient(Uri address)
    {
        _socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp) { NoDelay = true };
        _socket.Connect(address.Host, address.Port);
    }

    public static byte[] Request(Uri address, string route, byte[] body) =>
        [.. Encoding.ASCII.GetBytes($"POST {route} HTTP/1.1\r\nHost: {address.Authority}\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\n\r\n"), .. body];

    /// <summary>Sends one request and reads its response; returns the status code.</summary>
    public async Task<int> SendAsync(byte[] request)
    {
        for (int sent = 0; sent < request.Length;) sent += await _socket.SendAsync(request.AsMemory(sent), System.Net.Sockets.SocketFlags.None);
        int headerEnd;
        while ((headerEnd = _buffer.AsSpan(_start, _end - _start).IndexOf("\r\n\r\n"u8)) < 0) await FillAsync();
        var head = Encoding.ASCII.GetString(_buffer, _start, headerEnd);
        _start += headerEnd + 4;
        int status = int.Parse(head.AsSpan(9, 3), CultureInfo.InvariantCulture);
        var lines = head.Split("\r\n");
        if (lines.FirstOrDefault(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase)) is { } length)
            await SkipAsync(int.Parse(length.AsSpan(15).Trim(), CultureInfo.InvariantCulture));
        else   // chunked: size line, data, CRLF, until the zero-size chunk and its trailing CRLF
            while (true)
            {
                int eol;
                while ((eol = _buffer.AsSpan(_start, _end - _start).IndexOf("\r\n"u8)) < 0) await FillAsync();
                int size = int.Parse(Encoding.ASCII.GetString(_buffer, _start, eol), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                _start += eol + 2;
                await SkipAsync(size + 2);
                if (size == 0) break;
            }
        return status;
    }

    private async Task SkipAsync(int count)
    {
        while (_end - _start < count)
        {
            count -= _end - _start;
            _start = _end = 0;
            await FillAsync();
        }
        _start += count;
    }

    private async Task FillAsync()
    {
        if (_start > 0)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }
        int read = await _socket.ReceiveAsync(_buffer.AsMemory(_end), System.Net.Sockets.SocketFlags.None);
        if (read == 0) throw new IOException("the server closed the connection");
        _end += read;
    }

    public void Dispose() => _socket.Dispose();
}
