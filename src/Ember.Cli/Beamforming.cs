using System.Globalization;
using Ember.IO;
using Ember.Training;
using Ember.Wireless;

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
                       --model cnn|complex-cnn|transformer|cnn-transformer (default cnn)
                       --epochs N (4) --batch N (128) --lr X (0.001) --nrf N (4) --ns N (from the file)
                       --tx HxV --rx HxV   planar array shapes (default: square arrays of Nt and Nr)
                       --snr LIST          training SNRs in dB, comma-separated (default -35,-20,-5,5)
                       --supervised N      epochs of the phase-invariant loss against Fopt/Wopt first (default 0)
                       --input reimabs|abs|beamspace   [Re H, Im H, |H|] (default), |H| alone, or the 2-D-DFT beamspace
                       --head channel|phases|steering  channel-informed phases (default), free phases, beam directions
          evaluate   spectral efficiency vs SNR of the optimum, OMP, beam steering and saved models
                       --data FILE.mat [--model A.safetensors,B.safetensors] --nrf N (4) --snr FROM:STEP:TO (-35:5:5)
                       --out DIR (runs/beamforming): report.csv and se_vs_snr.png
        """;

    public static int Run(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help") { Console.WriteLine(Usage.TrimEnd()); return args.Length == 0 ? 2 : 0; }
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
        var preset = ChannelConfig.Preset(a.Get("preset", "yu-144x36"));
        int count = a.GetInt("count", 1000), ns = a.GetInt("ns", 2);
        ulong seed = (ulong)a.GetInt("seed", 1);
        string output = a.Get("out") ?? throw new UsageException("beamforming simulate: --out FILE.mat is required");
        a.RejectUnknown("beamforming simulate");
        if (count < 1) throw new UsageException("--count must be at least 1");
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
        if (parts.Length != 2 || !int.TryParse(parts[0], out int h) || !int.TryParse(parts[1], out int v) || h * v != n)
            throw new UsageException($"--{what} {text}: expected HxV with H·V = {n} antennas");
        return new ArrayGeometry(h, v);
    }

    private static BeamformerBackbone Backbone(string name) => name switch
    {
        "cnn" => BeamformerBackbone.Cnn,
        "complex-cnn" => BeamformerBackbone.ComplexCnn,
        "transformer" => BeamformerBackbone.Transformer,
        "cnn-transformer" => BeamformerBackbone.CnnTransformer,
        _ => throw new UsageException($"--model {name}: choose cnn, complex-cnn, transformer or cnn-transformer"),
    };

    private static int Train(string[] args)
    {
        var a = new Args(args, []);
        if (a.Help) { Console.WriteLine(Usage.TrimEnd()); return 0; }
        string data = a.Get("data") ?? throw new UsageException("beamforming train: --data FILE.mat is required");
        string output = a.Get("out") ?? Path.Combine("runs", "beamforming", "model.safetensors");
        var backbone = Backbone(a.Get("model", "cnn"));
        var options = new BeamformerTrainOptions
        {
            Epochs = a.GetInt("epochs", 4), BatchSize = a.GetInt("batch", 128), LearningRate = a.GetDouble("lr", 1e-3),
            SupervisedEpochs = a.GetInt("supervised", 0), Seed = (ulong)a.GetInt("seed", 1), Log = Console.WriteLine,
            TrainSnrDb = ParseList(a.Get("snr", "-35,-20,-5,5")),
        };
        int nrf = a.GetInt("nrf", 4);
        int? ns = a.Get("ns") is null ? null : a.GetInt("ns", 2);
        string? tx = a.Get("tx"), rx = a.Get("rx");
        var input = a.Get("input", "reimabs") switch
        {
            "reimabs" => ChannelInput.AntennaReImAbs,
            "abs" => ChannelInput.AntennaAbs,
            "beamspace" => ChannelInput.Beamspace,
            var other => throw new UsageException($"--input {other}: choose reimabs, abs or beamspace"),
        };
        var head = a.Get("head", "channel") switch
        {
            "channel" => BeamformerHead.ChannelPhase,
            "phases" => BeamformerHead.Phases,
            "steering" => BeamformerHead.Steering,
            var other => throw new UsageException($"--head {other}: choose channel, phases or steering"),
        };
        a.RejectUnknown("beamforming train");
        var set = BeamformingDataset.Load(data, ns);
        var config = new BeamformerConfig(Geometry(tx, set.Nt, "tx"), Geometry(rx, set.Nr, "rx"), set.Ns, nrf, backbone, head, input);
        if (backbone is BeamformerBackbone.Transformer or BeamformerBackbone.CnnTransformer) config = config with { Hidden = 64 };
        if (backbone == BeamformerBackbone.ComplexCnn) config = BeamformerConfigs.MatchComplexWidth(config with { Backbone = BeamformerBackbone.Cnn });
        var net = new HybridBeamformerNet(config, new Generator(options.Seed));
        Console.WriteLine($"{set.Count} channels {set.Nr}x{set.Nt}, Ns = {set.Ns}, N_RF = {nrf}; model {a.Get("model", "cnn")} with {BeamformerConfigs.ParameterCount(net):N0} parameters");
        BeamformerTraining.Fit(net, set.H, options, set.Fopt, set.Wopt);
        BeamformerTraining.Save(net, output);
        Console.WriteLine($"saved {output}");
        return 0;
    }

    private static double[] ParseList(string text)
    {
        try { return text.Split(',').Select(s => double.Parse(s, CultureInfo.InvariantCulture)).ToArray(); }
        catch (FormatException) { throw new UsageException($"--snr {text}: expected comma-separated numbers"); }
    }

    private static double[] ParseRange(string text)
    {
        var p = text.Split(':');
        if (p.Length != 3) return ParseList(text);
        var (from, step, to) = (double.Parse(p[0], CultureInfo.InvariantCulture), double.Parse(p[1], CultureInfo.InvariantCulture), double.Parse(p[2], CultureInfo.InvariantCulture));
        if (step <= 0 || to < from) throw new UsageException($"--snr {text}: expected FROM:STEP:TO with STEP > 0");
        var r = new List<double>();
        for (double v = from; v <= to + 1e-9; v += step) r.Add(v);
        return r.ToArray();
    }

    private static int Evaluate(string[] args)
    {
        var a = new Args(args, []);
        if (a.Help) { Console.WriteLine(Usage.TrimEnd()); return 0; }
        string data = a.Get("data") ?? throw new UsageException("beamforming evaluate: --data FILE.mat is required");
        var modelPaths = (a.Get("model") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries);
        int nrf = a.GetInt("nrf", 4);
        var snr = ParseRange(a.Get("snr", "-35:5:5"));
        string outDir = a.Get("out") ?? Path.Combine("runs", "beamforming");
        a.RejectUnknown("beamforming evaluate");
        var models = modelPaths.Select(p => (Path.GetFileNameWithoutExtension(p), BeamformerTraining.Load(p))).ToList();
        var set = BeamformingDataset.Load(data, models.Count > 0 ? models[0].Item2.Config.Streams : null);
        var curves = new List<SpectralEfficiencyCurve>(BaselineEvaluation.Evaluate(set, snr, nrf,
            models.Count > 0 ? models[0].Item2.Config.Tx : null, models.Count > 0 ? models[0].Item2.Config.Rx : null));
        double ompMs = BeamformerTraining.OmpMillisecondsPerChannel(set, nrf);
        foreach (var (name, net) in models)
        {
            if (net.Config.Nt != set.Nt || net.Config.Nr != set.Nr)
                throw new UsageException($"model {name} is for {net.Config.Nr}x{net.Config.Nt} channels, the data holds {set.Nr}x{set.Nt}");
            curves.Add(BeamformerTraining.Evaluate(net, set, snr, name));
        }
        Report(curves, snr, outDir, $"{set.Count} channels {set.Nr}x{set.Nt}, Ns = {set.Ns}, N_RF = {nrf}", ompMs);
        return 0;
    }

    /// <summary>Prints the table and writes report.csv and se_vs_snr.png.</summary>
    private static void Report(IReadOnlyList<SpectralEfficiencyCurve> curves, double[] snr, string outDir, string title, double ompMs)
    {
        var inv = CultureInfo.InvariantCulture;
        Console.WriteLine($"spectral efficiency (bit/s/Hz), {title}");
        Console.WriteLine($"{"method",-26}" + string.Join("", snr.Select(s => s.ToString("F0", inv).PadLeft(8))) + "  ms/channel");
        foreach (var c in curves)
        {
            double ms = c.Name == "OMP" ? ompMs : c.MillisecondsPerChannel;
            Console.WriteLine($"{c.Name,-26}" + string.Join("", c.Mean.Select(m => m.ToString("F3", inv).PadLeft(8))) + (ms > 0 ? ms.ToString("F3", inv).PadLeft(12) : ""));
        }
        Directory.CreateDirectory(outDir);
        var csv = new System.Text.StringBuilder("snr_db," + string.Join(",", curves.Select(c => c.Name.Replace(',', ' '))) + "\n");
        for (int s = 0; s < snr.Length; s++) csv.Append(snr[s].ToString(inv)).Append(',').AppendJoin(',', curves.Select(c => c.Mean[s].ToString("F4", inv))).Append('\n');
        var csvPath = Path.Combine(outDir, "report.csv");
        AtomicFile.WriteAllText(csvPath, csv.ToString());
        var png = Path.Combine(outDir, "se_vs_snr.png");
        Plots.SpectralEfficiency(curves.Select(c => (c.Name, c.Mean)).ToList(), snr, png, "Spectral efficiency vs SNR (" + title + ")");
        Console.WriteLine($"saved {csvPath}, {png}");
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
