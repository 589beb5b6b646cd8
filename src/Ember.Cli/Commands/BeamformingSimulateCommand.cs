using System.CommandLine;
using Ember.Cli.Infrastructure;
using Ember.Wireless;

namespace Ember.Cli.Commands;

/// <summary><c>ember beamforming simulate --out FILE.mat</c>.</summary>
internal static class BeamformingSimulateCommand
{
    public static Command Create()
    {
        var preset = Opt.Choice("--preset", "yu-144x36", "channel model and array sizes", [.. ChannelConfig.PresetNames]);
        var count = Opt.Int("--count", 1000, "channels", min: 1, max: 10_000_000);
        var ns = Opt.Int("--ns", 2, "streams", min: 1);
        var seed = Opt.Int("--seed", 1, "random seed");
        var outPath = Opt.Required("--out", "the MAT-file to write", "FILE.mat");
        var command = new Command("simulate",
            "Draws clustered mmWave channels and writes them with their SVD optimum to a MAT-file in the thesis layout: " +
            "H [Nr x Nt x N], Fopt [Nt x Ns x N], Wopt [Nr x Ns x N], plus the path dictionaries At, Ar that OMP uses.")
        {
            preset, count, ns, seed, outPath,
        };
        command.SetAction(p =>
        {
            var ui = new Terminal(quiet: false);
            var config = ChannelConfig.Preset(p.GetValue(preset)!);
            int n = p.GetValue(count), streams = p.GetValue(ns);
            string output = p.GetValue(outPath)!;
            if (streams > Math.Min(config.Nt, config.Nr))
                throw new UsageException($"--ns {streams}: a {config.Nr}x{config.Nt} channel carries at most {Math.Min(config.Nt, config.Nr)} streams");
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(output))!);   // a bad --out fails now, not after the simulation
            var sw = System.Diagnostics.Stopwatch.StartNew();
            var data = ui.Status("simulating channels", () => BeamformingDataset.Generate(config, n, streams, (ulong)p.GetValue(seed)));
            data.Save(output);
            ui.Line($"wrote {n} channels {config.Nr}x{config.Nt} ({config.Rx} receive, {config.Tx} transmit, {config.Clusters}x{config.RaysPerCluster} paths) with Fopt/Wopt for Ns = {streams} to {output} in {sw.Elapsed.TotalSeconds:F1} s");
            return 0;
        });
        return command;
    }
}
