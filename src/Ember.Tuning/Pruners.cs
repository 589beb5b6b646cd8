namespace Ember.Tuning;

/// <summary>Decides whether a running trial should stop, from its intermediate values and the other trials'.</summary>
public interface IPruner
{
    /// <summary>True when <paramref name="trial"/>, having just reported <paramref name="step"/>, should stop.</summary>
    bool Prune(Study study, FrozenTrial trial, int step);
}

/// <summary>Never prunes.</summary>
public sealed class NopPruner : IPruner
{
    /// <inheritdoc/>
    public bool Prune(Study study, FrozenTrial trial, int step) => false;
}

/// <summary>Optuna's <c>MedianPruner</c>: after <paramref name="startupTrials"/> completed trials and
/// <paramref name="warmupSteps"/> steps, a trial stops when its best value so far is worse than the median of the
/// completed trials' values at the same step (every <paramref name="intervalSteps"/> steps).</summary>
public sealed class MedianPruner(int startupTrials = 5, int warmupSteps = 0, int intervalSteps = 1) : IPruner
{
    /// <inheritdoc/>
    public bool Prune(Study study, FrozenTrial trial, int step)
    {
        if (step < warmupSteps || (step - warmupSteps) % Math.Max(1, intervalSteps) != 0) return false;
        var completed = study.Trials.Where(t => t.State == TrialState.Complete).ToList();
        if (completed.Count < startupTrials) return false;
        var others = completed.Where(t => t.Intermediate.TryGetValue(step, out var v) && !double.IsNaN(v)).Select(t => t.Intermediate[step]).Order().ToArray();
        if (others.Length == 0) return false;
        double median = others.Length % 2 == 1 ? others[others.Length / 2] : 0.5 * (others[others.Length / 2 - 1] + others[others.Length / 2]);
        var mine = trial.Intermediate.Where(kv => kv.Key <= step && !double.IsNaN(kv.Value)).Select(kv => kv.Value).ToList();
        if (mine.Count == 0) return true;   // only NaN so far
        return study.Direction == StudyDirection.Minimize ? mine.Min() > median : mine.Max() < median;
    }
}

/// <summary>
/// Asynchronous successive halving (ASHA; Li et al., 2020, "A system for massively parallel hyperparameter tuning"),
/// as Optuna's <c>SuccessiveHalvingPruner</c>: rung k sits at step <paramref name="minResource"/>·η^(k + s) with
/// η = <paramref name="reductionFactor"/> and s = <paramref name="minEarlyStoppingRate"/>; a trial reaching a rung
/// records its value there and goes on only if it is in the best 1/η of all values recorded at that rung so far
/// (by any trial, running ones included: no waiting for a full rung, hence asynchronous).
/// </summary>
public sealed class SuccessiveHalvingPruner(int minResource = 1, int reductionFactor = 4, int minEarlyStoppingRate = 0) : IPruner
{
    /// <inheritdoc/>
    public bool Prune(Study study, FrozenTrial trial, int step)
    {
        if (!trial.Intermediate.TryGetValue(step, out double value)) return false;
        int rung = 0;
        while (trial.Attrs.ContainsKey(RungKey(rung))) rung++;
        bool pruned = false;
        while (true)
        {
            long rungStep = minResource * (long)Math.Pow(reductionFactor, rung + minEarlyStoppingRate);
            if (step < rungStep) break;
            if (double.IsNaN(value)) return true;
            study.Storage.SetAttr(trial.Id, RungKey(rung), value);
            var competing = study.Trials.Where(t => t.Id != trial.Id && t.Attrs.ContainsKey(RungKey(rung))).Select(t => t.Attrs[RungKey(rung)]).ToList();
            competing.Add(value);
            competing.Sort();
            if (study.Direction == StudyDirection.Maximize) competing.Reverse();
            // The best 1/η go on; while fewer than η have reached the rung, only a new best does.
            int promotable = Math.Max(0, competing.Count / reductionFactor - 1);
            bool ok = study.Direction == StudyDirection.Minimize ? value <= competing[promotable] : value >= competing[promotable];
            if (!ok) { pruned = true; break; }
            rung++;
        }
        return pruned;
    }

    private static string RungKey(int rung) => "completed_rung_" + rung;
}
