using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Ember.Cli.Infrastructure;
using Ember.Recipes.Tabular;
using Ember.Tuning;

namespace Ember.Cli.Commands;

/// <summary><c>ember tune</c>: hyperparameter search on a study kept in SQLite (resumable, shared by workers).</summary>
internal static class TuneCommand
{
    public static Command Create()
    {
        var objective = Opt.Choice("--objective", "tabular", "what to tune: a tabular model on --data (learning rate, width, dropout, weight decay), or the Hartmann-6 test function", "tabular", "hartmann6");
        var data = Opt.ExistingPath("--data", "the CSV table (tabular)");
        var target = Opt.Text("--target", "the column to predict (tabular)", "COLUMN");
        var ignore = Opt.NameList("--ignore", "columns to leave out (tabular)");
        var model = Opt.Choice("--model", "mlp", "tabular model", "mlp", "hybrid", "text", "ft-transformer");
        var epochs = Opt.Int("--epochs", 15, "training epochs per trial (tabular; early stopping on validation)", min: 1);
        var trials = Opt.Int("--trials", 30, "complete or pruned trials the study should hold (earlier runs and other workers count)", min: 1, max: 100_000);
        var sampler = Opt.Choice("--sampler", "tpe", "how parameters are chosen", "tpe", "random");
        var pruner = Opt.Choice("--pruner", "median", "when trials stop early", "median", "asha", "none");
        var storage = Opt.Text("--storage", "the study file (SQLite) [default: OUT/study.db]; run again to resume", "FILE");
        var study = Opt.Text("--study", "default", "the study's name in the file", "NAME");
        var workers = Opt.Int("--workers", 1, "processes optimizing the study together", min: 1, max: 64);
        var seed = Opt.Int("--seed", 0, "sampler seed (worker k uses seed + k)");
        var timeout = Opt.OptionalDouble("--timeout", "stop starting trials after this many minutes", 0, exclusiveMin: true);
        var outDir = Opt.Text("--out", Path.Combine("runs", "tune"), "output folder", "FOLDER");
        var quiet = Opt.Flag("--quiet", "no progress output");
        var workerIndex = new Option<int>("--worker-index") { Hidden = true, DefaultValueFactory = _ => 0 };
        var command = new Command("tune",
            "Searches hyperparameters with TPE (as Optuna's) or random sampling, pruning poor trials with the median rule or " +
            "asynchronous successive halving. The study lives in a SQLite file: running the same command again resumes it (a " +
            "trial a kill interrupted is redone), and --workers N starts N processes on it. Writes trials.csv, history.png " +
            "and importance.png to --out; the last line is best_value=<value>.")
        {
            objective, data, target, ignore, model, epochs, trials, sampler, pruner, storage, study, workers, seed, timeout, outDir, quiet, workerIndex,
        };
        command.SetAction(p =>
        {
            var ui = new Terminal(p.GetValue(quiet));
            string dir = p.GetValue(outDir)!;
            Directory.CreateDirectory(dir);
            string file = p.GetValue(storage) ?? Path.Combine(dir, "study.db");
            int k = p.GetValue(workerIndex), nWorkers = p.GetValue(workers), budget = p.GetValue(trials);
            Func<Trial, double> run;
            StudyDirection direction;
            string metric;
            if (p.GetValue(objective) == "hartmann6")
            {
                (run, direction, metric) = (Benchmarks.Hartmann6, StudyDirection.Minimize, "Hartmann-6 value");
            }
            else
            {
                string path = p.GetValue(data) ?? throw new UsageException("tune --objective tabular needs --data FILE.csv and --target COLUMN");
                string col = p.GetValue(target) ?? throw new UsageException("tune --objective tabular needs --target COLUMN");
                var table = Ember.IO.CsvTable.Read(path);
                var options = new TabularCompareOptions
                {
                    Target = col, Ignore = p.GetValue(ignore)!, Folds = 1,
                    Kind = p.GetValue(model) switch { "mlp" => TabularModelKind.Mlp, "hybrid" => TabularModelKind.Hybrid, "text" => TabularModelKind.Text, _ => TabularModelKind.FtTransformer },
                    Fit = new TabularFitOptions { Epochs = p.GetValue(epochs) },
                    Seed = 1,
                };
                var tuning = new TabularTuning(table, options);
                (run, direction, metric) = (tuning.Objective, tuning.Direction, tuning.Direction == StudyDirection.Maximize ? "validation ROC AUC" : "validation RMSE");
                if (k == 0) ui.Log($"{path}: {tuning.Rows.Train} training and {tuning.Rows.Validation} validation rows; {metric}, {(direction == StudyDirection.Maximize ? "maximized" : "minimized")}");
            }
            ISampler s = p.GetValue(sampler) == "tpe" ? new TpeSampler(p.GetValue(seed) + k) : new RandomSampler(p.GetValue(seed) + k);
            IPruner pr = p.GetValue(pruner) switch
            {
                "median" => new MedianPruner(startupTrials: 5, warmupSteps: 2),
                "asha" => new SuccessiveHalvingPruner(minResource: 1, reductionFactor: 3),
                _ => new NopPruner(),
            };
            var children = new List<Process>();
            if (k == 0 && nWorkers > 1)
            {
                // The other workers: this command again with their index; each gets its share of the cores.
                int threads = Math.Max(1, Environment.ProcessorCount / nWorkers);
                Parallelism.NumThreads = threads;
                for (int w = 1; w < nWorkers; w++) children.Add(StartWorker(w, threads, file));
                ui.Log($"{nWorkers} workers on {file}, {threads} thread(s) each");
            }
            using var store = new SqliteStorage(file);
            var st = Study.Create(p.GetValue(study)!, direction, store, s, pr);
            int before = st.Trials.Count(t => t.State is TrialState.Complete or TrialState.Pruned);
            if (k == 0 && before > 0) ui.Log($"resuming study '{st.Name}' in {file}: {before} trial(s) already finished");
            double? mins = p.GetValue(timeout);
            st.Optimize(run, budget, mins is double m ? TimeSpan.FromMinutes(m) : null, afterTrial: t =>
            {
                string vals = string.Join(", ", t.ExternalParams.Select(kv => $"{kv.Key}={t.Distributions[kv.Key].Format(t.Params[kv.Key])}"));
                ui.Log(FormattableString.Invariant($"[worker {k}] trial {t.Number} {t.State.ToString().ToLowerInvariant()}{(t.Value is double v ? $" {v:G6}" : "")} ({vals}) {t.Seconds:F1}s"));
            }, log: ui.Log);
            if (k > 0) return 0;
            foreach (var c in children)
            {
                c.WaitForExit();
                if (c.ExitCode != 0) ui.Log($"worker (pid {c.Id}) exited with {c.ExitCode}");
            }
            var all = st.Trials;
            var best = st.BestTrial ?? throw new InvalidOperationException($"tune: no trial of study '{st.Name}' completed (see the messages above)");
            WriteCsv(Path.Combine(dir, "trials.csv"), all);
            Plots.TuneHistory(all, direction == StudyDirection.Minimize, Path.Combine(dir, "history.png"), $"Study '{st.Name}': optimization history", metric);
            var importance = Importance.MeanDecreaseImpurity(st);
            Plots.Importances(importance, Path.Combine(dir, "importance.png"), $"Study '{st.Name}': hyperparameter importance");
            var top = (direction == StudyDirection.Minimize ? all.Where(t => t.State == TrialState.Complete).OrderBy(t => t.Value) : all.Where(t => t.State == TrialState.Complete).OrderByDescending(t => t.Value)).Take(10).ToList();
            var names = all.SelectMany(t => t.Params.Keys).Distinct().Order().ToList();
            ui.Table(["trial", "value", .. names, "seconds"], top.Select(t => (IReadOnlyList<string>)[t.Number.ToString(CultureInfo.InvariantCulture), t.Value!.Value.ToString("G6", CultureInfo.InvariantCulture),
                .. names.Select(n => t.Params.TryGetValue(n, out var v) ? t.Distributions[n].Format(v) : "–"), (t.Seconds ?? 0).ToString("F1", CultureInfo.InvariantCulture)]),
                $"best of {all.Count(t => t.State == TrialState.Complete)} complete, {all.Count(t => t.State == TrialState.Pruned)} pruned, {all.Count(t => t.State == TrialState.Fail)} failed trials");
            ui.Line("importance: " + string.Join(", ", importance.Select(x => $"{x.Param} {x.Importance:F2}")));
            ui.Line($"saved {Path.Combine(dir, "trials.csv")}, history.png, importance.png; study in {file}");
            ui.Line("best_params: " + string.Join(" ", best.Params.Select(kv => $"{kv.Key}={best.Distributions[kv.Key].Format(kv.Value)}")));
            ui.Line(FormattableString.Invariant($"best_value={best.Value:G6}"));
            return 0;
        });
        return command;
    }

    private static Process StartWorker(int index, int threads, string file)
    {
        var args = Program.Arguments.ToList();
        // Replace what differs: the worker index, the storage (explicit), quiet progress.
        var list = new List<string>();
        for (int i = 0; i < args.Count; i++)
        {
            if (args[i] is "--worker-index" or "--storage" or "--workers") { i++; continue; }
            if (args[i].StartsWith("--worker-index=") || args[i].StartsWith("--storage=") || args[i].StartsWith("--workers=")) continue;
            list.Add(args[i]);
        }
        list.AddRange(["--worker-index", index.ToString(CultureInfo.InvariantCulture), "--storage", file]);
        string exe = Environment.ProcessPath!;
        var psi = new ProcessStartInfo(exe) { UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(exe) == "dotnet")
        {
            psi.ArgumentList.Add("exec");
            psi.ArgumentList.Add(typeof(TuneCommand).Assembly.Location);
        }
        foreach (var a in list) psi.ArgumentList.Add(a);
        psi.Environment["EMBER_NUM_THREADS"] = threads.ToString(CultureInfo.InvariantCulture);
        return Process.Start(psi) ?? throw new InvalidOperationException("tune: could not start a worker process");
    }

    private static void WriteCsv(string path, IReadOnlyList<FrozenTrial> trials)
    {
        var names = trials.SelectMany(t => t.Params.Keys).Distinct().Order().ToList();
        var sb = new StringBuilder();
        sb.Append("number,state,value,seconds");
        foreach (var n in names) sb.Append(',').Append(n);
        sb.Append('\n');
        foreach (var t in trials)
        {
            sb.Append(t.Number).Append(',').Append(t.State.ToString().ToLowerInvariant()).Append(',')
              .Append(t.Value?.ToString("R", CultureInfo.InvariantCulture) ?? "").Append(',')
              .Append(t.Seconds?.ToString("F3", CultureInfo.InvariantCulture) ?? "");
            foreach (var n in names) sb.Append(',').Append(t.Params.TryGetValue(n, out var v) ? t.Distributions[n].Format(v) : "");
            sb.Append('\n');
        }
        Ember.IO.AtomicFile.WriteAllText(path, sb.ToString());
    }
}
