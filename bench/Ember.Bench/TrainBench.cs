using System.Diagnostics;
using System.Globalization;

namespace Ember.Bench;

/// <summary>The harness shared by the training benchmarks: each side (Ember, TorchSharp) runs in its own child
/// process, so its peak resident memory (VmHWM) is its own and libtorch's thread pool cannot slow Ember down;
/// the rate is the median of 1-second windows after a warm-up.</summary>
internal static class TrainBench
{
    /// <summary>Alternates the two sides for <paramref name="rounds"/> rounds (Ember, TorchSharp, Ember, …), so a slow phase
    /// of this shared machine hits both rather than one; reports the median rate of each side, the median of the
    /// per-round ratios, the ratios themselves and each side's largest peak memory.</summary>
    public static void Run(string name, string emberMode, string torchMode, string unit = "steps_per_s", double scale = 1, int rounds = 3)
    {
        if (rounds < 1) throw new ArgumentOutOfRangeException(nameof(rounds), $"{name}: rounds must be at least 1, got {rounds}.");
        var e = new List<double>(); var t = new List<double>(); var ratios = new List<double>();
        double ePeak = 0, tPeak = 0;
        for (int r = 0; r < rounds; r++)
        {
            var ember = Child(emberMode);
            var torchSide = Child(torchMode);
            e.Add(ember.Rate * scale); t.Add(torchSide.Rate * scale); ratios.Add(ember.Rate / torchSide.Rate);
            ePeak = Math.Max(ePeak, ember.PeakMb); tPeak = Math.Max(tPeak, torchSide.PeakMb);
        }
        static double Median(List<double> v) { var s = v.Order().ToList(); return s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2; }
        string all = string.Join(",", ratios.Select(x => x.ToString("F2", CultureInfo.InvariantCulture)));
        Console.WriteLine(FormattableString.Invariant(
            $"{name} ember_{unit}={Median(e):F1} torchsharp_{unit}={Median(t):F1} ratio={Median(ratios):F2} ember_peak_mb={ePeak:F0} torchsharp_peak_mb={tPeak:F0} round_ratios={all}"));
    }

    private static (double Rate, double PeakMb) Child(string mode)
    {
        var r = ChildResult(mode);
        return (r[0], r[1]);
    }

    /// <summary>Runs this bench again as a child process with <paramref name="mode"/> as its arguments and returns the
    /// numbers of the "result …" line it prints (its other output is passed through).</summary>
    public static double[] ChildResult(string mode)
    {
        var psi = new ProcessStartInfo(Environment.ProcessPath!, $"\"{typeof(TrainBench).Assembly.Location}\" {mode}") { RedirectStandardOutput = true };
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath!) != "dotnet")
            psi = new ProcessStartInfo(Environment.ProcessPath!, mode) { RedirectStandardOutput = true };
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        var line = output.Split('\n').FirstOrDefault(l => l.StartsWith("result "))
            ?? throw new InvalidOperationException($"benchmark child '{mode}' exited with {p.ExitCode} and no result:\n{output}");
        var rest = output.Replace(line, "").Trim();
        if (rest.Length > 0) Console.WriteLine(rest);
        return line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(x => double.Parse(x, CultureInfo.InvariantCulture)).ToArray();
    }

    /// <summary>Prints the child's result line: its median rate and peak resident memory.</summary>
    public static void Report(double rate)
    {
        var line = File.ReadAllLines("/proc/self/status").First(l => l.StartsWith("VmHWM:"));
        double peakMb = double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024;
        Console.WriteLine($"result {rate.ToString(CultureInfo.InvariantCulture)} {peakMb.ToString(CultureInfo.InvariantCulture)}");
    }

    /// <summary>Median steps/s over 1-second windows after <paramref name="warmup"/> steps.</summary>
    public static double Measure(Action step, int warmup = 30, double seconds = 8)
    {
        for (int i = 0; i < warmup; i++) step();
        var rates = new List<double>();
        var total = Stopwatch.StartNew();
        while (total.Elapsed.TotalSeconds < seconds || rates.Count < 3)
        {
            var sw = Stopwatch.StartNew();
            int n = 0;
            while (sw.Elapsed.TotalSeconds < 1) { step(); n++; }
            rates.Add(n / sw.Elapsed.TotalSeconds);
        }
        rates.Sort();
        return rates[rates.Count / 2];
    }
}
