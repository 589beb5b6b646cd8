using System.Diagnostics;
using System.Text.Json;

namespace Ember.Diagnostics;

/// <summary>One row of <see cref="Profiler.Totals"/>: a module type's forward ("forward Linear") or a backward node
/// ("backward MmBackward"), summed over its calls.</summary>
/// <param name="Name">"forward " + module type, or "backward " + node name.</param>
/// <param name="TotalMs">Wall time, children included for modules.</param>
/// <param name="Calls">How many times it ran.</param>
/// <param name="Flops">Floating-point operations of the products inside it (a multiply-add counts 2), counted from
/// their shapes: matrix products, Linear, convolutions (transposed too) and fused attention; for backward nodes the
/// products of their rules (a Linear's or convolution's input and weight gradients, one forward's worth each; fused
/// attention's four gradient products, twice its forward).</param>
/// <param name="BytesAllocated">Managed bytes allocated on the calling thread during it.</param>
public sealed record ProfileEntry(string Name, double TotalMs, long Calls, long Flops, long BytesAllocated);

/// <summary>One timed span of <see cref="Profiler.Events"/>, for a timeline.</summary>
/// <param name="Kind">"forward" or "backward".</param>
/// <param name="Name">The module type or the backward node's name.</param>
/// <param name="StartUs">Microseconds since <see cref="Profiler.Start"/>.</param>
/// <param name="DurationUs">Its wall time in microseconds.</param>
/// <param name="ThreadId">The managed thread that ran it.</param>
/// <param name="Flops">As <see cref="ProfileEntry.Flops"/>.</param>
/// <param name="BytesAllocated">As <see cref="ProfileEntry.BytesAllocated"/>.</param>
public sealed record ProfileEvent(string Kind, string Name, double StartUs, double DurationUs, int ThreadId, long Flops, long BytesAllocated);

/// <summary>An op profiler in the spirit of <c>torch.profiler</c>: while enabled, every module forward (by module type)
/// and every backward node (by op name) is timed on the calling thread, with the FLOPs of the products inside it and
/// the bytes it allocated. <see cref="Report"/> prints the totals as a table; <see cref="WriteChromeTrace"/> writes
/// the spans for chrome://tracing or Perfetto. Module spans include their children; backward nodes are leaves.</summary>
public static class Profiler
{
    /// <summary>Spans kept for the timeline at most (totals keep counting beyond).</summary>
    public const int MaxEvents = 1_000_000;

    private static readonly Dictionary<string, (double Ms, long Calls, long Flops, long Bytes)> s_totals = new();
    private static readonly List<ProfileEvent> s_events = new();
    private static readonly object s_gate = new();
    private static long s_origin;
    [ThreadStatic] private static long t_flops;

    /// <summary>True while recording.</summary>
    public static bool Enabled { get; private set; }

    /// <summary>Clears the totals and the timeline and starts recording.</summary>
    public static void Start()
    {
        lock (s_gate)
        {
            s_totals.Clear();
            s_events.Clear();
        }
        s_origin = Stopwatch.GetTimestamp();
        Enabled = true;
    }

    /// <summary>Stops recording.</summary>
    public static void Stop() => Enabled = false;

    /// <summary>Where a span began: time, this thread's FLOP count and allocated bytes.</summary>
    internal readonly record struct Mark(long Ticks, long Flops, long Bytes);

    internal static Mark Begin() => Enabled ? new(Stopwatch.GetTimestamp(), t_flops, GC.GetAllocatedBytesForCurrentThread()) : default;

    /// <summary>Counts <paramref name="flops"/> of a product on this thread, for the span that runs it.</summary>
    internal static void AddFlops(long flops)
    {
        if (Enabled) t_flops += flops;
    }

    internal static void End(string kind, string name, Mark start)
    {
        if (start.Ticks == 0) return;
        long now = Stopwatch.GetTimestamp();
        long flops = t_flops - start.Flops, bytes = GC.GetAllocatedBytesForCurrentThread() - start.Bytes;
        double ms = Stopwatch.GetElapsedTime(start.Ticks, now).TotalMilliseconds;
        string key = kind + " " + name;
        lock (s_gate)
        {
            s_totals.TryGetValue(key, out var t);
            s_totals[key] = (t.Ms + ms, t.Calls + 1, t.Flops + flops, t.Bytes + bytes);
            if (s_events.Count < MaxEvents)
                s_events.Add(new ProfileEvent(kind, name, Stopwatch.GetElapsedTime(s_origin, start.Ticks).TotalMicroseconds, ms * 1000,
                    Environment.CurrentManagedThreadId, flops, bytes));
        }
    }

    /// <summary>The recorded totals, largest time first.</summary>
    public static IReadOnlyList<ProfileEntry> Totals()
    {
        lock (s_gate)
            return s_totals.OrderByDescending(kv => kv.Value.Ms)
                .Select(kv => new ProfileEntry(kv.Key, kv.Value.Ms, kv.Value.Calls, kv.Value.Flops, kv.Value.Bytes)).ToList();
    }

    /// <summary>The recorded spans in the order they ended (at most <see cref="MaxEvents"/>).</summary>
    public static IReadOnlyList<ProfileEvent> Events()
    {
        lock (s_gate) return s_events.ToList();
    }

    /// <summary>A table of the totals: name, total ms, calls, ms per call, GFLOP, GFLOP/s, MB allocated.</summary>
    public static string Report()
    {
        var sb = new System.Text.StringBuilder();
        sb.AppendLine($"{"name",-40} {"total ms",10} {"calls",8} {"ms/call",9} {"GFLOP",9} {"GFLOP/s",8} {"MB alloc",9}");
        foreach (var e in Totals())
            sb.AppendLine(System.FormattableString.Invariant(
                $"{e.Name,-40} {e.TotalMs,10:F1} {e.Calls,8} {e.TotalMs / Math.Max(1, e.Calls),9:F3} {e.Flops / 1e9,9:F3} {(e.TotalMs > 0 ? e.Flops / 1e6 / e.TotalMs : 0),8:F1} {e.BytesAllocated / 1048576.0,9:F1}"));
        return sb.ToString();
    }

    /// <summary>Writes the spans as Chrome trace-event JSON ("X" complete events, microseconds; threads as rows), which
    /// chrome://tracing and https://ui.perfetto.dev open. Written atomically.</summary>
    public static void WriteChromeTrace(string path)
    {
        var events = Events();
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = false }))
        {
            json.WriteStartObject();
            json.WriteStartArray("traceEvents");
            foreach (var e in events)
            {
                json.WriteStartObject();
                json.WriteString("name", e.Name);
                json.WriteString("cat", e.Kind);
                json.WriteString("ph", "X");
                json.WriteNumber("ts", Math.Round(e.StartUs, 3));
                json.WriteNumber("dur", Math.Round(e.DurationUs, 3));
                json.WriteNumber("pid", 1);
                json.WriteNumber("tid", e.ThreadId);
                json.WriteStartObject("args");
                json.WriteNumber("flops", e.Flops);
                json.WriteNumber("bytes_allocated", e.BytesAllocated);
                json.WriteEndObject();
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteString("displayTimeUnit", "ms");
            json.WriteEndObject();
        }
        var bytes = buffer.ToArray();
        IO.AtomicFile.Write(path, stream => stream.Write(bytes));
    }

    /// <summary>FLOPs of scaled dot-product attention over <paramref name="z"/> heads: QKᵀ and the weighted sum of V over
    /// the keys each query sees (all <paramref name="s"/>, or j ≤ i + <paramref name="causalOffset"/>).</summary>
    internal static long AttentionFlops(int z, int l, int s, int e, int ev, int? causalOffset)
    {
        long seen = 0;
        for (int i = 0; i < l; i++) seen += causalOffset is int off ? Math.Clamp(i + off + 1, 0, s) : s;
        return 2L * z * seen * (e + ev);
    }
}
