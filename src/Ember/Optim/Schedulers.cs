namespace Ember.Optim;

/// <summary>Base of step-driven learning-rate schedules: <see cref="Step"/> advances the counter and sets every
/// group's rate to <see cref="RateAt"/> of its initial rate.</summary>
public abstract class LRScheduler
{
    /// <summary>Derived constructors finish with <see cref="Restore"/>(0), which applies the step-0 rate once their
    /// own fields are set (a virtual call from this constructor would see them unset).</summary>
    protected LRScheduler(Optimizer optimizer) => Optimizer = optimizer;

    /// <summary>The optimizer whose learning rates the schedule sets.</summary>
    public Optimizer Optimizer { get; }

    /// <summary>Number of <see cref="Step"/> calls so far (epochs or batches, as the caller uses it).</summary>
    public int LastStep { get; private set; }

    /// <summary>The rate for a group with initial rate <paramref name="baseLr"/> after <paramref name="step"/> steps.</summary>
    public abstract double RateAt(int step, double baseLr);

    /// <summary>Advances one step and sets the learning rates for it.</summary>
    public void Step()
    {
        LastStep++;
        Apply();
    }

    private void Apply()
    {
        foreach (var g in Optimizer.ParamGroups) g.LearningRate = RateAt(LastStep, g.InitialLearningRate);
    }

    /// <summary>Restores the counter (from a checkpoint) and re-applies the rate.</summary>
    public void Restore(int lastStep)
    {
        LastStep = lastStep;
        Apply();
    }
}

/// <summary>lr = base·γ^⌊step/stepSize⌋ (<c>StepLR</c>).</summary>
public sealed class StepLR : LRScheduler
{
    private readonly int _stepSize;
    private readonly double _gamma;

    /// <summary>Multiplies the learning rate by <paramref name="gamma"/> every <paramref name="stepSize"/> steps (PyTorch's <c>StepLR</c>).</summary>
    public StepLR(Optimizer optimizer, int stepSize, double gamma = 0.1) : base(optimizer)
    {
        if (stepSize <= 0) throw new ArgumentException($"StepLR: step size must be positive, got {stepSize}.");
        (_stepSize, _gamma) = (stepSize, gamma);
        Restore(0);
    }

    /// <inheritdoc/>
    public override double RateAt(int step, double baseLr) => baseLr * Math.Pow(_gamma, step / _stepSize);
}

/// <summary>Linear warm-up from 0 over <c>warmupSteps</c>, then cosine decay to <c>minLr</c> at <c>totalSteps</c>
/// (the schedule of most transformer recipes).</summary>
public sealed class CosineWithWarmup : LRScheduler
{
    private readonly int _warmup, _total;
    private readonly double _minLr;

    /// <summary>Linear warm-up over <paramref name="warmupSteps"/> steps, then cosine decay to <paramref name="minLr"/> at <paramref name="totalSteps"/>.</summary>
    public CosineWithWarmup(Optimizer optimizer, int warmupSteps, int totalSteps, double minLr = 0) : base(optimizer)
    {
        if (warmupSteps < 0 || totalSteps <= 0 || warmupSteps > totalSteps)
            throw new ArgumentException($"CosineWithWarmup: need 0 ≤ warmup ({warmupSteps}) ≤ total ({totalSteps}) and total > 0.");
        (_warmup, _total, _minLr) = (warmupSteps, totalSteps, minLr);
        Restore(0);
    }

    /// <inheritdoc/>
    public override double RateAt(int step, double baseLr)
    {
        if (step < _warmup) return baseLr * step / _warmup;
        double progress = Math.Min(1, (double)(step - _warmup) / Math.Max(1, _total - _warmup));
        return _minLr + (baseLr - _minLr) * 0.5 * (1 + Math.Cos(Math.PI * progress));
    }
}

/// <summary>One-cycle policy (Smith &amp; Topin, 2018) with cosine annealing, as torch's <c>OneCycleLR</c>: from
/// max/divFactor up to maxLr over pctStart of the steps, then down to max/(divFactor·finalDivFactor).
/// The optimizer's own rate is ignored.</summary>
public sealed class OneCycleLR : LRScheduler
{
    private readonly double _max, _initial, _min, _upEnd, _downEnd;

    /// <summary>One-cycle (Smith 2018, PyTorch's <c>OneCycleLR</c>, cosine annealing): up to <paramref name="maxLr"/> over <paramref name="pctStart"/> of <paramref name="totalSteps"/>, then down to maxLr/(divFactor·finalDivFactor).</summary>
    public OneCycleLR(Optimizer optimizer, double maxLr, int totalSteps, double pctStart = 0.3, double divFactor = 25, double finalDivFactor = 1e4) : base(optimizer)
    {
        if (totalSteps <= 0) throw new ArgumentException($"OneCycleLR: total steps must be positive, got {totalSteps}.");
        if (pctStart <= 0 || pctStart >= 1) throw new ArgumentException($"OneCycleLR: pct_start must be in (0, 1), got {pctStart}.");
        _max = maxLr;
        _initial = maxLr / divFactor;
        _min = _initial / finalDivFactor;
        _upEnd = pctStart * totalSteps - 1;
        _downEnd = totalSteps - 1;
        Restore(0);
    }

    private static double Cos(double start, double end, double pct) => end + (start - end) / 2 * (Math.Cos(Math.PI * pct) + 1);

    /// <inheritdoc/>
    public override double RateAt(int step, double baseLr)
    {
        if (step <= _upEnd) return Cos(_initial, _max, _upEnd <= 0 ? 1 : step / _upEnd);
        return Cos(_max, _min, Math.Min(1, (step - _upEnd) / (_downEnd - _upEnd)));
    }
}

/// <summary>Cuts the rate by <c>factor</c> when a monitored metric (lower is better) stops improving for
/// <c>patience</c> checks (<c>ReduceLROnPlateau</c>, relative threshold mode).</summary>
public sealed class ReduceLROnPlateau
{
    private readonly Optimizer _optimizer;
    private readonly double _factor, _threshold, _minLr;
    private readonly int _patience, _cooldown;
    private int _bad, _cooldownLeft;

    /// <summary>Multiplies the learning rate by <paramref name="factor"/> when the metric has not improved by <paramref name="threshold"/> (relative) for <paramref name="patience"/> epochs (PyTorch's <c>ReduceLROnPlateau</c>, mode min).</summary>
    public ReduceLROnPlateau(Optimizer optimizer, double factor = 0.1, int patience = 10, double threshold = 1e-4, int cooldown = 0, double minLr = 0)
    {
        if (factor >= 1 || factor <= 0) throw new ArgumentException($"ReduceLROnPlateau: factor must be in (0, 1), got {factor}.");
        (_optimizer, _factor, _patience, _threshold, _cooldown, _minLr) = (optimizer, factor, patience, threshold, cooldown, minLr);
    }

    /// <summary>The best metric seen so far.</summary>
    public double Best { get; private set; } = double.PositiveInfinity;

    /// <summary>Reports the metric of one check (usually the validation loss of an epoch).</summary>
    public void Step(double metric)
    {
        if (metric < Best * (1 - _threshold)) { Best = metric; _bad = 0; }
        else _bad++;
        if (_cooldownLeft > 0) { _cooldownLeft--; _bad = 0; }
        if (_bad > _patience)
        {
            foreach (var g in _optimizer.ParamGroups)
            {
                double next = Math.Max(g.LearningRate * _factor, _minLr);
                if (g.LearningRate - next > 1e-8) g.LearningRate = next;
            }
            _cooldownLeft = _cooldown;
            _bad = 0;
        }
    }
}
