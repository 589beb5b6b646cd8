using System.Globalization;
using Ember.IO;
using Ember.Training;
using Ember.Wireless;
using Ember.Recipes;
using Ember.Recipes.Tabular;

namespace Ember.Cli;

/// <summary><c>ember beamforming simulate|train|evaluate</c> and <c>ember milestone beamforming</c>.</summary>
public static class BeamformingCommands
{
    private const string Usage = """
        usage: ember beamforming simulate|train|evaluate [options]

          simulate   draw clustered mmWave channels and write them with their SVD optimum to a MAT-file in the
                     thesis layout: H [Nr x Nt x N], Fopt [Nt x Ns x N], Wopt [Nr x Ns x N] (plus the path
                     dictionaries At, Ar that OMP uses)
                       --preset NAME   yu-144x36 (default), elayach-64x16, elayach-256x64
                       --count N       channels (default 1000)   --ns N   streams (default 2)
                       --seed N        (default 1)               --out FILE.mat (required)
          train      train a learned hybrid beamformer on a MAT-file (H required; v7.3 files must be re-saved as -v7)
                       --data FILE.mat --out MODEL.safetensors
                       --h NAME --fopt NAME --wopt NAME --at NAME --ar NAME   the file's variable names, when not
                                           H, Fopt, Wopt, At, Ar (Fopt/Wopt are computed by SVD when absent)
                       --model cnn|complex-cnn|transformer|cnn-transformer (default cnn)
                       --epochs N (4) --batch N (128, at least 2) --lr X (0.001) --nrf N (4) --ns N (from the file)
                       --seed N (1)
                       --tx HxV --rx HxV   planar array shapes (default: square arrays of Nt and Nr)
                       --snr LIST          training SNRs in dB, comma-separated (default -35,-20,-5,5)
                       --supervised N      epochs of the phase-invariant loss against Fopt/Wopt first (default 0)
                       --input reimabs|abs|beamspace   [Re H, Im H, |H|] (default), |H| alone, or the 2-D-DFT beamspace
                       --head channel|phases|steering  channel-informed phases (default), free phases, beam directions
          evaluate   spectral efficiency vs SNR of the optimum, OMP, beam steering and saved models
                       --data FILE.mat [--model A.safetensors,B.safetensors] --nrf N (4) --snr FROM:STEP:TO (-35:5:5)
                       --h NAME --fopt NAME --wopt NAME --at NAME --ar NAME   (as for train)
                       --out DIR (runs/beamforming): report.csv and se_vs_snr.png
                     OMP runs over the file's array responses At/Ar when it has them (as the reference MATLAB code
                     does; the report then adds that code's combiner, a pursuit of Wopt over Ar), else over
                     oversampled UPA codebooks; the report says which.
        """;

    public static int Run(string[] args)
    {
        if (args.Length == 0) { Console.Error.WriteLine(Usage.TrimEnd()); return 2; }
        if (args[0] is "-h" or "--help") { Console.WriteLine(Usage.TrimEnd()); return 0; }
        var rest = args.Skip(1).ToArray();
        return args[0] switch
        {
            "simulate" => Simulate(rest),
            "train" => Train(rest),
            "evaluate" => Evaluate(rest),
            _ => throw new UsageException($"beamforming: unknown subcommand '{args[0]}' (simulate, train, evaluate)"),
        };
    }

    private static int Simulate(string[] args)
    {
        var a = new Args(args, []);
        if (a.Help) { Console.WriteLine(Usage.TrimEnd()); return 0; }
        var preset = ChannelConfig.Preset(a.GetChoice("preset", "yu-144x36", [.. ChannelConfig.PresetNames]));
        int count = a.GetInt("count", 1000, min: 1, max: 10_000_000), ns = a.GetInt("ns", 2, min: 1);
        ulong seed = (ulong)a.GetInt("seed", 1);
        string output = a.Get("out") ?? throw new UsageException("beamforming simulate: --out FILE.mat is required");
        a.RejectUnknown("beamforming simulate");
        if (ns > Math.Min(preset.Nt, preset.Nr)) throw new UsageException($"--ns {ns}: a {preset.Nr}x{preset.Nt} channel carries at most {Math.Min(preset.Nt, preset.Nr)} streams");
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(output))!);   // a bad --out fails now, not after the simulation
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var data = BeamformingDataset.Generate(preset, count, ns, seed);
        data.Save(output);
        Console.WriteLine($"wrote {count} channels {preset.Nr}x{preset.Nt} ({preset.Rx} receive, {preset.Tx} transmit, {preset.Clusters}x{preset.RaysPerCluster} paths) with Fopt/Wopt for Ns = {ns} to {output} in {sw.Elapsed.TotalSeconds:F1} s");
        return 0;
    }

    private static ArrayGeometry Geometry(string? text, int n, string what)
    {
        if (text is null) return ArrayGeometry.Square(n);
        var parts = text.Split('x');
        if (parts.Length != 2 || !int.TryParse(parts[0], out int h) || !int.TryParse(parts[1], out int v) || h < 1 || v < 1 || (long)h * v != n)
            throw new UsageException($"--{what} {text}: expected HxV with H·V = {n} antennas");
        return new ArrayGeometry(h, v);
    }

    private static BeamformerBackbone Backbone(string name) => name switch
    {
        "cnn" => BeamformerBackbone.Cnn,
        "complex-cnn" => BeamformerBackbone.ComplexCnn,
        "transformer" => BeamformerBackbone.Transformer,
        _ => BeamformerBackbone.CnnTransformer,
    };

    /// <summary>The variable names given with --h, --fopt, --wopt, --at, --ar.</summary>
    private static BeamformingVariables Variables(Args a)
    {
        var d = BeamformingVariables.Thesis;
        return new BeamformingVariables(a.Get("h", d.H), a.Get("fopt", d.Fopt), a.Get("wopt", d.Wopt), a.Get("at", d.At), a.Get("ar", d.Ar));
    }

    private static int Train(string[] args)
    {
        var a = new Args(args, []);
        if (a.Help) { Console.WriteLine(Usage.TrimEnd()); return 0; }
        string data = a.GetExistingPath("data") ?? throw new UsageException("beamforming train: --data FILE.mat is required");
        string output = a.Get("out") ?? Path.Combine("runs", "beamforming", "model.safetensors");
        string modelName = a.GetChoice("model", "cnn", "cnn", "complex-cnn", "transformer", "cnn-transformer");
        var backbone = Backbone(modelName);
        var options = new BeamformerTrainOptions
        {
            // Batches of at least 2: the backbones' BatchNorm layers need two values per channel to normalize.
            Epochs = a.GetInt("epochs", 4, min: 1), BatchSize = a.GetInt("batch", 128, min: 2), LearningRate = a.GetDouble("lr", 1e-3, 0, 10, exclusiveMin: true),
            SupervisedEpochs = a.GetInt("supervised", 0), Seed = (ulong)a.GetInt("seed", 1), Log = Console.WriteLine,
            TrainSnrDb = a.GetDoubleList("snr", "-35,-20,-5,5"),
        };
        int nrf = a.GetInt("nrf", 4, min: 1);
        int? ns = a.GetOptionalInt("ns", min: 1);
        string? tx = a.Get("tx"), rx = a.Get("rx");
        var input = a.GetChoice("input", "reimabs", "reimabs", "abs", "beamspace") switch
        {
            "reimabs" => ChannelInput.AntennaReImAbs,
            "abs" => ChannelInput.AntennaAbs,
            _ => ChannelInput.Beamspace,
        };
        var head = a.GetChoice("head", "channel", "channel", "phases", "steering") switch
        {
            "channel" => BeamformerHead.ChannelPhase,
            "phases" => BeamformerHead.Phases,
            _ => BeamformerHead.Steering,
        };
        var variables = Variables(a);
        a.RejectUnknown("beamforming train");
        var set = BeamformingDataset.Load(data, ns, variables);
        if (nrf < set.Ns || nrf > Math.Min(set.Nt, set.Nr))
            throw new UsageException($"--nrf {nrf}: must be at least the Ns = {set.Ns} streams and at most the {Math.Min(set.Nt, set.Nr)} antennas of the smaller array");
        var config = new BeamformerConfig(Geometry(tx, set.Nt, "tx"), Geometry(rx, set.Nr, "rx"), set.Ns, nrf, backbone, head, input);
        if (backbone is BeamformerBackbone.Transformer or BeamformerBackbone.CnnTransformer) config = config with { Hidden = 64 };
        if (backbone == BeamformerBackbone.ComplexCnn) config = BeamformerConfigs.MatchComplexWidth(config with { Backbone = BeamformerBackbone.Cnn });
        var net = new HybridBeamformerNet(config, new Generator(options.Seed));
        Console.WriteLine($"{set.Count} channels {set.Nr}x{set.Nt}, Ns = {set.Ns}, N_RF = {nrf}; model {modelName} with {BeamformerConfigs.ParameterCount(net):N0} parameters");
        BeamformerTraining.Fit(net, set.H, options, set.Fopt, set.Wopt);
        BeamformerTraining.Save(net, output);
        Console.WriteLine($"saved {output}");
        return 0;
    }

    private static int Evaluate(string[] args)
    {
        var a = new Args(args, []);
        if (a.Help) { Console.WriteLine(Usage.TrimEnd()); return 0; }
        string data = a.GetExistingPath("data") ?? throw new UsageException("beamforming evaluate: --data FILE.mat is required");
        var modelPaths = (a.Get("model") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries);
        foreach (var m in modelPaths)
            if (!File.Exists(m)) throw new UsageException($"--model '{m}': no such file");
        int nrf = a.GetInt("nrf", 4, min: 1);
        var snr = a.GetRange("snr", "-35:5:5");
        string outDir = a.Get("out") ?? Path.Combine("runs", "beamforming");
        var variables = Variables(a);
        a.RejectUnknown("beamforming evaluate");
        var models = modelPaths.Select(p => (Path.GetFileNameWithoutExtension(p), BeamformerTraining.Load(p))).ToList();
        var set = BeamformingDataset.Load(data, models.Count > 0 ? models[0].Item2.Config.Streams : null, variables);
        var tx = models.Count > 0 ? models[0].Item2.Config.Tx : null;
        var rx = models.Count > 0 ? models[0].Item2.Config.Rx : null;
        try { BaselineEvaluation.CheckRfChains(set, nrf, BaselineEvaluation.DictionaryFor(set, tx, rx)(0)); }
        catch (ArgumentException e) { throw new UsageException($"--nrf {nrf}: {e.Message}"); }
        string dictionary = BaselineEvaluation.DictionaryDescription(set, tx, rx);
        bool haveResponses = set.At is not null;
        var curves = new List<SpectralEfficiencyCurve>(BaselineEvaluation.Evaluate(set, snr, nrf, tx, rx, referenceOmp: haveResponses));
        double ompMs = BeamformerTraining.OmpMillisecondsPerChannel(set, nrf);
        foreach (var (name, net) in models)
        {
            if (net.Config.Nt != set.Nt || net.Config.Nr != set.Nr)
                throw new UsageException($"model {name} is for {net.Config.Nr}x{net.Config.Nt} channels, the data holds {set.Nr}x{set.Nt}");
            curves.Add(BeamformerTraining.Evaluate(net, set, snr, name));
        }
        Report(curves, snr, outDir, $"{set.Count} channels {set.Nr}x{set.Nt}, Ns = {set.Ns}, N_RF = {nrf}", ompMs, dictionary);
        return 0;
    }

    /// <summary>Prints the table and writes report.csv and se_vs_snr.png.</summary>
    private static void Report(IReadOnlyList<SpectralEfficiencyCurve> curves, double[] snr, string outDir, string title, double ompMs, string dictionary)
    {
        var inv = CultureInfo.InvariantCulture;
        Console.WriteLine($"spectral efficiency (bit/s/Hz), {title}");
        Console.WriteLine(dictionary);
        Console.WriteLine($"{"method",-32}" + string.Join("", snr.Select(s => s.ToString("F0", inv).PadLeft(8))) + "  ms/channel");
        foreach (var c in curves)
        {
            double ms = c.Name == "OMP" ? ompMs : c.MillisecondsPerChannel;
            Console.WriteLine($"{c.Name,-32}" + string.Join("", c.Mean.Select(m => m.ToString("F3", inv).PadLeft(8))) + (ms > 0 ? ms.ToString("F3", inv).PadLeft(12) : ""));
        }
        Directory.CreateDirectory(outDir);
        var csv = new System.Text.StringBuilder("snr_db," + string.Join(",", curves.Select(c => c.Name.Replace(',', ' '))) + "\n");
        for (int s = 0; s < snr.Length; s++) csv.Append(snr[s].ToString(inv)).Append(',').AppendJoin(',', curves.Select(c => c.Mean[s].ToString("F4", inv))).Append('\n');
        var csvPath = Path.Combine(outDir, "report.csv");
        AtomicFile.WriteAllText(csvPath, csv.ToString());
        AtomicFile.WriteAllText(Path.Combine(outDir, "report.txt"), $"{title}\n{dictionary}\n");
        var png = Path.Combine(outDir, "se_vs_snr.png");
        Plots.SpectralEfficiency(curves.Select(c => (c.Name, c.Mean)).ToList(), snr, png, "Spectral efficiency vs SNR (" + title + ")\n" + dictionary);
        Console.WriteLine($"saved {csvPath}, {Path.Combine(outDir, "report.txt")}, {png}");
    }

    /// <summary>The milestone: trains the four models, writes the report, the plot and the chosen model.</summary>
    public static MilestoneResult Milestone(ulong seed, int? epochs, int? trainCount, string outDir, bool quiet)
    {
        var recipe = new BeamformingRecipe { Seed = seed == 0 ? 1 : seed };
        if (epochs is int e) recipe = recipe with { Epochs = e };
        if (trainCount is int n) recipe = recipe with { TrainCount = n };
        var run = BeamformingMilestone.Run(recipe, quiet ? null : Console.Error.WriteLine);
        Directory.CreateDirectory(outDir);
        var csvPath = Path.Combine(outDir, "report.csv");
        AtomicFile.WriteAllText(csvPath, run.Csv());
        var png = Path.Combine(outDir, "se_vs_snr.png");
        Plots.SpectralEfficiency(run.Curves.Select(c => (c.Name, c.Mean)).ToList(), run.SnrDb, png,
            "144x36 mmWave MIMO, Ns = 2, N_RF = 4: spectral efficiency on held-out channels");
        var modelPath = Path.Combine(outDir, "best.safetensors");
        BeamformerTraining.Save(run.Models[run.Best], modelPath);
        Console.WriteLine($"saved {csvPath}, {png}, {modelPath} ({run.Best})");
        return run.Result;
    }
}
