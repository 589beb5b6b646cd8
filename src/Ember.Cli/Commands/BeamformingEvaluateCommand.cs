using System.CommandLine;
using Ember.Cli.Infrastructure;
using Ember.Wireless;

namespace Ember.Cli.Commands;

/// <summary><c>ember beamforming evaluate --data FILE.mat</c>.</summary>
internal static class BeamformingEvaluateCommand
{
    public static Command Create()
    {
        var data = Opt.ExistingPath("--data", "the MAT-file of channels", required: true);
        var models = Opt.Text("--model", "saved models to compare, comma-separated", "A.safetensors,B.safetensors");
        var nrf = Opt.Int("--nrf", 4, "RF chains", min: 1);
        var snr = Opt.Range("--snr", "-35:5:5", "SNRs in dB");
        var outDir = Opt.Text("--out", Path.Combine("runs", "beamforming"), "output folder: report.csv, report.txt, se_vs_snr.png", "FOLDER");
        var command = new Command("evaluate",
            "Spectral efficiency vs SNR of the optimum, OMP, beam steering and saved models. OMP runs over the file's array " +
            "responses At/Ar when it has them (as the reference MATLAB code does; the report then adds that code's combiner), " +
            "else over oversampled UPA codebooks; the report says which.")
        {
            data, models, nrf, snr, outDir,
        };
        var variables = new BeamformingCommand.VariableOptions(command);
        command.SetAction(p =>
        {
            var ui = new Terminal(quiet: false);
            var paths = (p.GetValue(models) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries);
            foreach (var m in paths)
                if (!File.Exists(m)) throw new UsageException($"--model '{m}': no such file");
            int chains = p.GetValue(nrf);
            var snrDb = p.GetValue(snr)!;
            var loaded = paths.Select(path => (Path.GetFileNameWithoutExtension(path), BeamformerTraining.Load(path))).ToList();
            var set = BeamformingDataset.Load(p.GetValue(data)!, loaded.Count > 0 ? loaded[0].Item2.Config.Streams : null, variables.Get(p));
            var tx = loaded.Count > 0 ? loaded[0].Item2.Config.Tx : null;
            var rx = loaded.Count > 0 ? loaded[0].Item2.Config.Rx : null;
            try { BaselineEvaluation.CheckRfChains(set, chains, BaselineEvaluation.DictionaryFor(set, tx, rx)(0)); }
            catch (ArgumentException e) { throw new UsageException($"--nrf {chains}: {e.Message}"); }
            string dictionary = BaselineEvaluation.DictionaryDescription(set, tx, rx);
            var curves = new List<SpectralEfficiencyCurve>(ui.Status("evaluating the baselines",
                () => BaselineEvaluation.Evaluate(set, snrDb, chains, tx, rx, referenceOmp: set.At is not null)));
            double ompMs = BeamformerTraining.OmpMillisecondsPerChannel(set, chains);
            foreach (var (name, net) in loaded)
            {
                if (net.Config.Nt != set.Nt || net.Config.Nr != set.Nr)
                    throw new UsageException($"model {name} is for {net.Config.Nr}x{net.Config.Nt} channels, the data holds {set.Nr}x{set.Nt}");
                curves.Add(BeamformerTraining.Evaluate(net, set, snrDb, name));
            }
            BeamformingCommand.Report(ui, curves, snrDb, p.GetValue(outDir)!, $"{set.Count} channels {set.Nr}x{set.Nt}, Ns = {set.Ns}, N_RF = {chains}", ompMs, dictionary);
            return 0;
        });
        return command;
    }
}
