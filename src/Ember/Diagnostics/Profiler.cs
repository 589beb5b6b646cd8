using System.Diagnostics;

namespace Ember.Diagnostics;

/// <summary>A lightweight op profiler (in the spirit of <c>torch.profiler</c>): while enabled, the wall time of every
/// module forward (by module type) and every backward node (by op name) is accumulated on the calling thread's
/// timeline. Module times include their children; backward nodes are leaves.</summary>
public static class Profiler
{
    private static readonly Dictionary<string, (double Ms, long Calls)> s_totals = new();
    private static readonly object s_gate = new();

    /// <summary>True while recording.</summary>
    public static bool Enabled { get; private set; }

    /// <summary>Clears the totals and starts recording.</summary>
    public static void Start()
    {
        lock (s_gate) s_totals.Clear();
        Enabled = true;
    }

    /// <summary>Stops recording.</summary>
    public static void Stop() => Enabled = false;

    internal static long Begin() => Enabled ? Stopwatch.GetTimestamp() : 0;

    internal static void End(string kind, string name, long start)
    {
        if (start == 0) return;
        string key = kind + " " + name;
        double ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        lock (s_gate)
        {
            s_totals.TryGetValue(key, out var t);
            s_totals[key] = (t.Ms + ms, t.Calls + 1);
        }
    }

    /// <summary>The recorded totals, largest first.</summary>
    public static IReadOnlyList<(string Name, double TotalMs, long Calls)> Totals()
    {
        lock (s_gate)
            return s_totals.OrderByDescending(kv => kv.Value.Ms).Select(kv => (kv.Key, kv.Value.Ms, kv.Value.Calls)).ToList();
    }

    /// <summary>A table of the totals: name, total ms, calls, ms per call.</summary>
    public static string Report()
    {
        var sb = new System.Text.StringBuilder();
        sb.AppendLine($"{"name",-36} {"total ms",10} {"calls",8} {"ms/call",9}");
        foreach (var (name, ms, calls) in Totals())
            sb.AppendLine($"{name,-36} {ms,10:F1} {calls,8} {ms / Math.Max(1, calls),9:F3}");
        return sb.ToString();
    }
}
