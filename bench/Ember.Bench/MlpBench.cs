using System.Diagnostics;
using Ember.NN;
using Ember.Optim;
using TorchSharp;
using static TorchSharp.torch;

namespace Ember.Bench;

/// <summary>Training steps per second of an MLP 784-512-256-10 (ReLU, batch 128, Adam, cross-entropy) in Ember and
/// in TorchSharp. Each side runs in its own child process so its peak resident memory (VmHWM) is its own.</summary>
internal static class MlpBench
{
    private const int Batch = 128, Seconds = 8;

    public static void Run()
    {
        var ember = Child("mlp-ember");
        var torchSide = Child("mlp-torch");
        double e = ember.StepsPerSecond, t = torchSide.StepsPerSecond;
        Console.WriteLine($"mlp ember_steps_per_s={e:F1} torchsharp_steps_per_s={t:F1} ratio={e / t:F2} ember_peak_mb={ember.PeakMb:F0} torchsharp_peak_mb={torchSide.PeakMb:F0}");
    }

    private static (double StepsPerSecond, double PeakMb) Child(string mode)
    {
        var psi = new ProcessStartInfo(Environment.ProcessPath!, $"\"{typeof(MlpBench).Assembly.Location}\" {mode}") { RedirectStandardOutput = true };
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath!) != "dotnet")
            psi = new ProcessStartInfo(Environment.ProcessPath!, mode) { RedirectStandardOutput = true };
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        var line = output.Split('\n').First(l => l.StartsWith("result "));
        var parts = line.Split(' ');
        Console.Write(output.Replace(line, "").TrimEnd('\n') + (output.Replace(line, "").Trim().Length > 0 ? "\n" : ""));
        return (double.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture), double.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture));
    }

    private static double PeakMb()
    {
        var line = File.ReadAllLines("/proc/self/status").First(l => l.StartsWith("VmHWM:"));
        return double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024;
    }

    /// <summary>Median steps/s over 1-second windows after a warm-up.</summary>
    private static double Measure(Action step)
    {
        for (int i = 0; i < 30; i++) step();
        var rates = new List<double>();
        var total = Stopwatch.StartNew();
        while (total.Elapsed.TotalSeconds < Seconds)
        {
            var sw = Stopwatch.StartNew();
            int n = 0;
            while (sw.Elapsed.TotalSeconds < 1) { step(); n++; }
            rates.Add(n / sw.Elapsed.TotalSeconds);
        }
        rates.Sort();
        return rates[rates.Count / 2];
    }

    public static void EmberSide()
    {
        var g = new Generator(1);
        var model = new Sequential(new Linear(784, 512, generator: g), new ReLU(), new Linear(512, 256, generator: g), new ReLU(), new Linear(256, 10, generator: g));
        var opt = new Adam(model.Parameters(), lr: 1e-3);
        var x = Tensor.Rand([Batch, 784], DType.Float32, g);
        var y = Tensor.RandInt(0, 10, [Batch], g);
        double rate = Measure(() =>
        {
            var loss = Functional.CrossEntropy(model.Call(x), y);
            opt.ZeroGrad();
            loss.Backward();
            opt.Step();
        });
        Console.WriteLine($"result {rate.ToString(System.Globalization.CultureInfo.InvariantCulture)} {PeakMb().ToString(System.Globalization.CultureInfo.InvariantCulture)}");
    }

    public static void TorchSide()
    {
        torch.set_num_threads(Environment.ProcessorCount);
        var model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10));
        var opt = optim.Adam(model.parameters(), 1e-3);
        var x = torch.rand(Batch, 784);
        var y = torch.randint(0, 10, Batch, dtype: ScalarType.Int64);
        double rate = Measure(() =>
        {
            using var scope = torch.NewDisposeScope();
            var loss = nn.functional.cross_entropy(model.forward(x), y);
            opt.zero_grad();
            loss.backward();
            opt.step();
        });
        Console.WriteLine($"result {rate.ToString(System.Globalization.CultureInfo.InvariantCulture)} {PeakMb().ToString(System.Globalization.CultureInfo.InvariantCulture)}");
    }
}
