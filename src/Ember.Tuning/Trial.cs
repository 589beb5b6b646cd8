namespace Ember.Tuning;

/// <summary>Where a trial is.</summary>
public enum TrialState
{
    /// <summary>Being evaluated (or left by a worker that died: see <see cref="Study.Optimize"/>).</summary>
    Running,
    /// <summary>Finished with a value.</summary>
    Complete,
    /// <summary>Stopped early by the pruner.</summary>
    Pruned,
    /// <summary>The objective threw, returned NaN, or its worker died.</summary>
    Fail,
}

/// <summary>Which way is better.</summary>
public enum StudyDirection
{
    /// <summary>Lower values are better.</summary>
    Minimize,
    /// <summary>Higher values are better.</summary>
    Maximize,
}

/// <summary>A trial as the storage holds it: parameters in internal form with their distributions, the reported
/// intermediate values, the final value.</summary>
public sealed record FrozenTrial(int Id, int Number, TrialState State, double? Value, IReadOnlyDictionary<string, double> Params,
    IReadOnlyDictionary<string, ParamDistribution> Distributions, IReadOnlyDictionary<int, double> Intermediate,
    IReadOnlyDictionary<string, double> Attrs, DateTime Start, DateTime? End)
{
    /// <summary>The parameter values as the objective received them (double, long or string).</summary>
    public IReadOnlyDictionary<string, object> ExternalParams => Params.ToDictionary(kv => kv.Key, kv => Distributions[kv.Key].ToExternal(kv.Value));

    /// <summary>Seconds from start to end (null while running).</summary>
    public double? Seconds => End is DateTime e ? (e - Start).TotalSeconds : null;
}

/// <summary>Thrown by an objective (after <see cref="Trial.ShouldPrune"/>) to end its trial as pruned.</summary>
public sealed class TrialPrunedException(string message = "trial pruned") : Exception(message);

/// <summary>
/// The handle an objective gets: define-by-run suggestions (the search space is whatever the objective asks for, so a
/// parameter asked for only in some branches makes a conditional space), intermediate reports and the pruning check.
/// Asking twice for the same name returns the same value; asking with another range is an error.
/// </summary>
public sealed class Trial
{
    private readonly Study _study;
    private readonly Dictionary<string, double> _params = new();
    private readonly Dictionary<string, ParamDistribution> _dists = new();

    internal Trial(Study study, int id, int number, IReadOnlyDictionary<string, (double Value, ParamDistribution Dist)>? fixedParams)
    {
        _study = study;
        Id = id;
        Number = number;
        if (fixedParams is not null)
            foreach (var (k, v) in fixedParams) { _fixed[k] = v; }
    }

    private readonly Dictionary<string, (double Value, ParamDistribution Dist)> _fixed = new();

    internal int Id { get; }

    /// <summary>The trial's number in its study (0, 1, …).</summary>
    public int Number { get; }

    /// <summary>The parameters suggested so far, as the objective received them.</summary>
    public IReadOnlyDictionary<string, object> Params => _params.ToDictionary(kv => kv.Key, kv => _dists[kv.Key].ToExternal(kv.Value));

    /// <summary>A real number in [low, high] (on a log scale, or a multiple of step from low).</summary>
    public double SuggestFloat(string name, double low, double high, bool log = false, double? step = null)
    {
        var d = new FloatDistribution(low, high, log, step);
        d.Validate(name);
        return Suggest(name, d);
    }

    /// <summary>An integer in [low, high] (on a log scale, or every step from low).</summary>
    public long SuggestInt(string name, long low, long high, bool log = false, long step = 1)
    {
        var d = new IntDistribution(low, high, log, step);
        d.Validate(name);
        return (long)Math.Round(Suggest(name, d));
    }

    /// <summary>One of <paramref name="choices"/>.</summary>
    public string SuggestCategorical(string name, params string[] choices)
    {
        var d = new CategoricalDistribution(choices);
        d.Validate(name);
        return choices[(int)Suggest(name, d)];
    }

    private double Suggest(string name, ParamDistribution d)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (_params.TryGetValue(name, out var existing))
        {
            if (!_dists[name].Equals(d)) throw new ArgumentException($"Trial {Number}: '{name}' was suggested before with {_dists[name].ToJson()}, now with {d.ToJson()}");
            return existing;
        }
        double v;
        if (_fixed.TryGetValue(name, out var f) && f.Dist.Equals(d) && d.Contains(f.Value)) v = f.Value;
        else v = _study.SampleParam(this, name, d);
        _params[name] = v;
        _dists[name] = d;
        _study.Storage.SetParam(Id, name, v, d);
        return v;
    }

    /// <summary>Reports the objective's value after <paramref name="step"/> (an epoch), for the pruner and the plots.</summary>
    public void Report(double value, int step)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        _study.Storage.SetIntermediate(Id, step, value);
        _lastStep = step;
    }

    private int? _lastStep;

    /// <summary>True when the pruner says this trial should stop (after its last <see cref="Report"/>).</summary>
    public bool ShouldPrune() => _lastStep is int s && _study.Pruner.Prune(_study, _study.Storage.GetTrial(Id), s);

    internal IReadOnlyDictionary<string, double> InternalParams => _params;

    internal IReadOnlyDictionary<string, ParamDistribution> Distributions => _dists;
}
