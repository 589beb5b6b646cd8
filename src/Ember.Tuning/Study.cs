using System.Diagnostics;

namespace Ember.Tuning;

/// <summary>
/// A hyperparameter search (Optuna's <c>Study</c>): an objective is called with a <see cref="Trial"/> that suggests
/// parameters, reports intermediate values and may be pruned; the study keeps every trial in its storage. With a
/// <see cref="SqliteStorage"/> a study survives a kill (<see cref="Optimize"/> on the same file resumes it, the
/// trial that was running marked failed) and several processes can optimize it at once.
/// </summary>
public sealed class Study
{
    private IReadOnlyList<FrozenTrial>? _cache;

    private Study(string name, IStudyStorage storage, int id, StudyDirection direction, ISampler sampler, IPruner pruner)
    {
        Name = name;
        Storage = storage;
        Id = id;
        Direction = direction;
        Sampler = sampler;
        Pruner = pruner;
    }

    /// <summary>Creates the study <paramref name="name"/> in <paramref name="storage"/> (default: in memory), or loads
    /// it when it exists there. Default sampler: TPE; default pruner: median.</summary>
    public static Study Create(string name, StudyDirection direction = StudyDirection.Minimize, IStudyStorage? storage = null,
        ISampler? sampler = null, IPruner? pruner = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        storage ??= new InMemoryStorage();
        int id = storage.CreateOrLoadStudy(name, direction);
        return new Study(name, storage, id, direction, sampler ?? new TpeSampler(), pruner ?? new MedianPruner());
    }

    /// <summary>The study's name in its storage.</summary>
    public string Name { get; }
    /// <summary>Which way is better.</summary>
    public StudyDirection Direction { get; }
    /// <summary>Where the trials are kept.</summary>
    public IStudyStorage Storage { get; }
    /// <summary>How parameters are chosen.</summary>
    public ISampler Sampler { get; }
    /// <summary>When trials stop early.</summary>
    public IPruner Pruner { get; }
    internal int Id { get; }

    /// <summary>How long a running trial may go without a heartbeat before another worker takes its worker for dead.</summary>
    public TimeSpan StaleAfter { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Every trial so far, by number (read from the storage: other workers' trials included).</summary>
    public IReadOnlyList<FrozenTrial> Trials => _cache ?? Storage.GetTrials(Id);

    /// <summary>The best completed trial (null before one completes).</summary>
    public FrozenTrial? BestTrial
    {
        get
        {
            var done = Trials.Where(t => t.State == TrialState.Complete).ToList();
            if (done.Count == 0) return null;
            return Direction == StudyDirection.Minimize ? done.MinBy(t => t.Value) : done.MaxBy(t => t.Value);
        }
    }

    internal double SampleParam(Trial trial, string name, ParamDistribution d)
    {
        // One read of the storage per suggestion: the sampler sees the other workers' latest trials.
        _cache = Storage.GetTrials(Id);
        try { return Sampler.Sample(this, trial, name, d); }
        finally { _cache = null; }
    }

    /// <summary>
    /// Runs trials until the study holds <paramref name="trials"/> complete or pruned ones (counting those of earlier
    /// runs and of other workers, and other workers' running ones, so a resumed or shared study stops at the same
    /// total; a failed trial does not count, so the trial a kill interrupted is made up), or until
    /// <paramref name="timeout"/>. Each trial: a number, the objective (its <see cref="TrialPrunedException"/> ends
    /// it as pruned; any other exception or a NaN value as failed, reported through <paramref name="log"/>), its value
    /// stored. Trials left running by a dead worker are marked failed first (<see cref="IStudyStorage.FailStale"/>).
    /// A heartbeat is written every few seconds while a trial runs.
    /// </summary>
    public void Optimize(Func<Trial, double> objective, int trials, TimeSpan? timeout = null, Action<FrozenTrial>? afterTrial = null,
        Action<string>? log = null, bool catchExceptions = true)
    {
        ArgumentNullException.ThrowIfNull(objective);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(trials);
        int failed = Storage.FailStale(Id, StaleAfter);
        if (failed > 0) log?.Invoke($"study '{Name}': {failed} trial(s) left running by a worker that is gone, marked failed");
        var clock = Stopwatch.StartNew();
        int failures = 0;
        static bool Counts(FrozenTrial t) => t.State is TrialState.Complete or TrialState.Pruned or TrialState.Running;
        while (true)
        {
            if (Storage.GetTrials(Id).Count(Counts) >= trials) break;
            if (timeout is TimeSpan t && clock.Elapsed > t) break;
            if (failures >= trials) { log?.Invoke($"study '{Name}': stopping after {failures} failed trials"); break; }
            var (id, number) = Storage.CreateTrial(Id);
            if (Storage.GetTrials(Id).Count(Counts) > trials)
            {
                // Another worker started the last trial meanwhile: this one is not needed.
                Storage.Finish(id, TrialState.Fail, null);
                break;
            }
            var trial = new Trial(this, id, number, null);
            using var beat = new Timer(_ => { try { Storage.Heartbeat(id); } catch (Exception) { } }, null, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(10));
            TrialState state;
            double? value = null;
            try
            {
                double v = objective(trial);
                if (double.IsNaN(v))
                {
                    state = TrialState.Fail;
                    log?.Invoke($"trial {number}: the objective returned NaN");
                }
                else (state, value) = (TrialState.Complete, v);
            }
            catch (TrialPrunedException) { state = TrialState.Pruned; }
            catch (Exception e) when (catchExceptions)
            {
                state = TrialState.Fail;
                log?.Invoke($"trial {number} failed: {e.GetType().Name}: {e.Message}");
            }
            beat.Dispose();
            if (state == TrialState.Fail) failures++;
            Storage.Finish(id, state, value);
            afterTrial?.Invoke(Storage.GetTrial(id));
        }
    }
}
