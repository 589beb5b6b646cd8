using System.Globalization;
using System.Text;

namespace Ember.Serving;

/// <summary>Counters for /metrics in Prometheus' text format: requests by route and status, request latency and batch
/// size histograms, the queue length.</summary>
internal sealed class Metrics
{
    private static readonly double[] LatencyBuckets = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10];
    private static readonly double[] BatchBuckets = [1, 2, 4, 8, 16, 32, 64, 128, 256];
    private readonly object _gate = new();
    private readonly Dictionary<(string Route, int Status), long> _requests = new();
    private readonly long[] _latency = new long[LatencyBuckets.Length + 1];
    private double _latencySum;
    private long _latencyCount;
    private readonly long[] _batches = new long[BatchBuckets.Length + 1];
    private double _batchSum;
    private long _batchCount;
    private long _queue;

    public void Request(string route, int status, double seconds)
    {
        lock (_gate)
        {
            _requests[(route, status)] = _requests.GetValueOrDefault((route, status)) + 1;
            _latency[Bucket(LatencyBuckets, seconds)]++;
            _latencySum += seconds;
            _latencyCount++;
        }
    }

    public void Batch(int size)
    {
        lock (_gate)
        {
            _batches[Bucket(BatchBuckets, size)]++;
            _batchSum += size;
            _batchCount++;
        }
    }

    public void QueueLength(int length) => Interlocked.Exchange(ref _queue, length);

    private static int Bucket(double[] bounds, double value)
    {
        int i = 0;
        while (i < bounds.Length && value > bounds[i]) i++;
        return i;
    }

    public string Render()
    {
        var sb = new StringBuilder();
        string F(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        lock (_gate)
        {
            sb.AppendLine("# HELP ember_requests_total Requests by route and HTTP status.");
            sb.AppendLine("# TYPE ember_requests_total counter");
            foreach (var ((route, status), n) in _requests.OrderBy(k => k.Key.Route).ThenBy(k => k.Key.Status))
                sb.AppendLine(CultureInfo.InvariantCulture, $"ember_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}");
            Histogram(sb, "ember_request_duration_seconds", "Request latency in seconds.", LatencyBuckets, _latency, _latencySum, _latencyCount, F);
            Histogram(sb, "ember_batch_size", "Instances per forward pass.", BatchBuckets, _batches, _batchSum, _batchCount, F);
        }
        sb.AppendLine("# HELP ember_queue_length Instances waiting for a forward pass.");
        sb.AppendLine("# TYPE ember_queue_length gauge");
        sb.AppendLine(CultureInfo.InvariantCulture, $"ember_queue_length {Interlocked.Read(ref _queue)}");
        return sb.ToString();
    }

    private static void Histogram(StringBuilder sb, string name, string help, double[] bounds, long[] counts, double sum, long count, Func<double, string> f)
    {
        sb.AppendLine($"# HELP {name} {help}");
        sb.AppendLine($"# TYPE {name} histogram");
        long cumulative = 0;
        for (int i = 0; i < bounds.Length; i++)
        {
            cumulative += counts[i];
            sb.AppendLine($"{name}_bucket{{le=\"{f(bounds[i])}\"}} {cumulative}");
        }
        sb.AppendLine($"{name}_bucket{{le=\"+Inf\"}} {cumulative + counts[^1]}");
        sb.AppendLine($"{name}_sum {f(sum)}");
        sb.AppendLine($"{name}_count {count}");
    }
}
