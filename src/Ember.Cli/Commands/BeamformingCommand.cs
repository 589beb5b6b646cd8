using System.CommandLine;
using System.Globalization;
using Ember.Cli.Infrastructure;
using Ember.IO;
using Ember.Recipes;
using Ember.Wireless;

namespace Ember.Cli.Commands;

/// <summary><c>ember beamforming simulate|train|evaluate</c>, and what they and <c>ember milestone beamforming</c> share.</summary>
internal static class BeamformingCommand
{
    public static Command Create() => new("beamforming",
        "mmWave hybrid beamforming: simulate channels to a MAT-file, train a learned beamformer, evaluate spectral efficiency " +
        "against the SVD optimum, OMP and beam steering.")
    {
        BeamformingSimulateCommand.Create(), BeamformingTrainCommand.Create(), BeamformingEvaluateCommand.Create(),
    };

    /// <summary>The --h, --fopt, --wopt, --at, --ar options: a MAT-file's variable names.</summary>
    public sealed class VariableOptions
    {
        private readonly Option<string> _h, _fopt, _wopt, _at, _ar;

        public VariableOptions(Command command)
        {
            var d = BeamformingVariables.Thesis;
            _h = Opt.Text("--h", d.H, "the channel variable's name in the MAT-file", "NAME");
            _fopt = Opt.Text("--fopt", d.Fopt, "the optimal precoder's name (computed by SVD when absent)", "NAME");
            _wopt = Opt.Text("--wopt", d.Wopt, "the optimal combiner's name (computed by SVD when absent)", "NAME");
            _at = Opt.Text("--at", d.At, "the transmit array responses' name (OMP's dictionary)", "NAME");
            _ar = Opt.Text("--ar", d.Ar, "the receive array responses' name", "NAME");
            foreach (var o in new[] { _h, _fopt, _wopt, _at, _ar }) command.Add(o);
        }

        public BeamformingVariables Get(ParseResult p) =>
            new(p.GetValue(_h)!, p.GetValue(_fopt)!, p.GetValue(_wopt)!, p.GetValue(_at)!, p.GetValue(_ar)!);
    }

    /// <summary>A planar array shape HxV with H·V = n, square by default.</summary>
    public static ArrayGeometry Geometry(string? text, int n, string what)
    {
        if (text is null) return ArrayGeometry.Square(n);
        var parts = text.Split('x');
        if (parts.Length != 2 || !int.TryParse(parts[0], out int h) || !int.TryParse(parts[1], out int v) || h < 1 || v < 1 || (long)h * v != n)
            throw new UsageException($"--{what} {text}: expected HxV with H·V = {n} antennas");
        return new ArrayGeometry(h, v);
    }

    /// <summary>Prints the table and writes report.csv, report.txt and se_vs_snr.png.</summary>
    public static void Report(Terminal ui, IReadOnlyList<SpectralEfficiencyCurve> curves, double[] snr, string outDir, string title, double ompMs, string dictionary)
    {
        var inv = CultureInfo.InvariantCulture;
        ui.Line($"spectral efficiency (bit/s/Hz), {title}");
        ui.Line(dictionary);
        ui.Table(["method", .. snr.Select(s => s.ToString("F0", inv)), "ms/channel"], curves.Select(c =>
        {
            double ms = c.Name == "OMP" ? ompMs : c.MillisecondsPerChannel;
            return (IReadOnlyList<string>)[c.Name, .. c.Mean.Select(m => m.ToString("F3", inv)), ms > 0 ? ms.ToString("F3", inv) : ""];
        }));
        Directory.CreateDirectory(outDir);
        var csv = new System.Text.StringBuilder("snr_db," + string.Join(",", curves.Select(c => c.Name.Replace(',', ' '))) + "\n");
        for (int s = 0; s < snr.Length; s++) csv.Append(snr[s].ToString(inv)).Append(',').AppendJoin(',', curves.Select(c => c.Mean[s].ToString("F4", inv))).Append('\n');
        var csvPath = Path.Combine(outDir, "report.csv");
        AtomicFile.WriteAllText(csvPath, csv.ToString());
        AtomicFile.WriteAllText(Path.Combine(outDir, "report.txt"), $"{title}\n{dictionary}\n");
        var png = Path.Combine(outDir, "se_vs_snr.png");
        Plots.SpectralEfficiency(curves.Select(c => (c.Name, c.Mean)).ToList(), snr, png, "Spectral efficiency vs SNR (" + title + ")\n" + dictionary);
        ui.Line($"saved {csvPath}, {Path.Combine(outDir, "report.txt")}, {png}");
    }

    /// <summary>The milestone: trains the four models, writes the report, the plot and the chosen model.</summary>
    public static MilestoneResult Milestone(Terminal ui, ulong seed, int? epochs, int? trainCount, string outDir)
    {
        var recipe = new BeamformingRecipe { Seed = seed == 0 ? 1 : seed };
        if (epochs is int e) recipe = recipe with { Epochs = e };
        if (trainCount is int n) recipe = recipe with { TrainCount = n };
        var run = BeamformingMilestone.Run(recipe, ui.Logger);
        Directory.CreateDirectory(outDir);
        var csvPath = Path.Combine(outDir, "report.csv");
        AtomicFile.WriteAllText(csvPath, run.Csv());
        var png = Path.Combine(outDir, "se_vs_snr.png");
        Plots.SpectralEfficiency(run.Curves.Select(c => (c.Name, c.Mean)).ToList(), run.SnrDb, png,
            "144x36 mmWave MIMO, Ns = 2, N_RF = 4: spectral efficiency on held-out channels");
        var modelPath = Path.Combine(outDir, "best.safetensors");
        BeamformerTraining.Save(run.Models[run.Best], modelPath);
        ui.Line($"saved {csvPath}, {png}, {modelPath} ({run.Best})");
        return run.Result;
    }
}
