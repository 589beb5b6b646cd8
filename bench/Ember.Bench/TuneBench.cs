using System.Globalization;
using System.Text.Json;
using Ember.IO;
using Ember.Recipes.Tabular;
using Ember.Tuning;

namespace Ember.Bench;

/// <summary>Ember's TPE against Optuna 3.1's on issue 23's two objectives, 10 seeds each: Hartmann-6 (100 trials;
/// Optuna's curves from tests/Ember.Tests/Fixtures/tuning/tuning_reference.json) and the tabular MLP on the Chicago
/// ridership table (learning rate, width, dropout, weight decay; validation RMSE; no pruning). For the tabular one
/// Optuna drives this same objective through <c>tune-tabular-serve</c> (bench/reference/optuna_tabular.py), so both
/// samplers see identical values for identical settings. Reported: the median over seeds of the best value after
/// the budget, and of the trials each seed needs to reach Optuna's median best (budget + 1: not reached).</summary>
internal static class TuneBench
{
    private static TabularTuning Tabular(string csv) => new(CsvTable.Read(csv), new TabularCompareOptions
    {
        Target = "ridership", Ignore = ["date"], Folds = 1, Kind = TabularModelKind.Mlp, Fit = new TabularFitOptions { Epochs = 15 }, Seed = 1,
    });

    /// <summary>Reads settings as JSON lines on stdin, writes each one's validation RMSE on stdout.</summary>
    public static void Serve(string csv)
    {
        Parallelism.NumThreads = 1;
        var t = Tabular(csv);
        Console.WriteLine("ready");
        string? line;
        while ((line = Console.ReadLine()) is not null)
        {
            var o = JsonDocument.Parse(line).RootElement;
            double v = t.Evaluate(o.GetProperty("lr").GetDouble(), o.GetProperty("width").GetInt32(), o.GetProperty("dropout").GetDouble(), o.GetProperty("weight_decay").GetDouble());
            Console.WriteLine(v.ToString("R", CultureInfo.InvariantCulture));
        }
    }

    public static void Run(string[] args)
    {
        string csv = args.Length > 0 ? args[0] : "../shared/data/chicago-ridership/chicago.csv.gz";
        string optunaJson = args.Length > 1 ? args[1] : "bench/reference/optuna_tabular.json";
        string fixture = "tests/Ember.Tests/Fixtures/tuning/tuning_reference.json";
        Console.WriteLine($"# {Program.CpuModel()}");
        var h6 = JsonDocument.Parse(File.ReadAllText(fixture)).RootElement.GetProperty("optuna_tpe_hartmann6_best_curves").EnumerateArray()
            .Select(c => c.EnumerateArray().Select(x => x.GetDouble()).ToArray()).ToArray();
        Compare("hartmann6", h6, seed => Curve(Study.Create("h6", StudyDirection.Minimize, sampler: new TpeSampler(seed), pruner: new NopPruner()), Benchmarks.Hartmann6, h6[0].Length, true), true);
        if (!File.Exists(optunaJson)) { Console.WriteLine($"tabular: no {optunaJson}; run bench/reference/optuna_tabular.py first"); return; }
        var tab = JsonDocument.Parse(File.ReadAllText(optunaJson)).RootElement.GetProperty("best_curves").EnumerateArray()
            .Select(c => c.EnumerateArray().Select(x => x.GetDouble()).ToArray()).ToArray();
        Parallelism.NumThreads = 1;
        var tuning = Tabular(csv);
        Compare("tabular (Chicago ridership MLP, validation RMSE)", tab,
            seed => Curve(Study.Create("tab", StudyDirection.Minimize, sampler: new TpeSampler(seed), pruner: new NopPruner()), tuning.Objective, tab[0].Length, true), true);
    }

    private static double[] Curve(Study study, Func<Trial, double> objective, int trials, bool minimize)
    {
        study.Optimize(objective, trials, catchExceptions: false);
        double best = minimize ? double.PositiveInfinity : double.NegativeInfinity;
        return study.Trials.Select(t => best = minimize ? Math.Min(best, t.Value!.Value) : Math.Max(best, t.Value!.Value)).ToArray();
    }

    private static void Compare(string name, double[][] optuna, Func<int, double[]> ember, bool minimize)
    {
        int budget = optuna[0].Length;
        double target = Median(optuna.Select(c => c[^1]));
        int Reach(double[] c) => Array.FindIndex(c, v => minimize ? v <= target : v >= target) is int i and >= 0 ? i + 1 : budget + 1;
        var mine = Enumerable.Range(0, optuna.Length).Select(ember).ToArray();
        var inv = CultureInfo.InvariantCulture;
        double emberBest = Median(mine.Select(c => c[^1])), optunaReach = Median(optuna.Select(c => (double)Reach(c))), emberReach = Median(mine.Select(c => (double)Reach(c)));
        Console.WriteLine(FormattableString.Invariant(
            $"{name}: {optuna.Length} seeds x {budget} trials; median best: Optuna {target:G6}, Ember {emberBest:G6}; median trials to reach Optuna's median best: Optuna {optunaReach}, Ember {emberReach}"));
        Console.WriteLine("  Optuna best per seed: " + string.Join(" ", optuna.Select(c => c[^1].ToString("G5", inv))));
        Console.WriteLine("  Ember best per seed:  " + string.Join(" ", mine.Select(c => c[^1].ToString("G5", inv))));
    }

    private static double Median(IEnumerable<double> v)
    {
        var s = v.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : 0.5 * (s[s.Length / 2 - 1] + s[s.Length / 2]);
    }
}
