namespace Ember.Optim;

/// <summary>
/// Dynamic loss scaling for float16 training (<c>torch.cuda.amp.GradScaler</c>; Micikevicius et al., 2018, "Mixed
/// precision training"): the loss is multiplied by a scale before backward so that small gradients stay inside
/// float16's range; the gradients are divided by it before the step; a step whose gradients hold an infinity or NaN
/// is skipped and the scale halved; after <paramref name="growthInterval"/> clean steps the scale doubles.
/// Use: <c>scaler.ScaleLoss(loss).Backward(); scaler.Unscale(opt); (clip); scaler.Step(opt); scaler.Update();</c>.
/// </summary>
public sealed class GradScaler(double initScale = 65536.0, double growthFactor = 2.0, double backoffFactor = 0.5, int growthInterval = 2000)
{
    private int _growthTracker;
    private bool _unscaled, _foundInf;

    /// <summary>The current scale.</summary>
    public double Scale { get; private set; } = initScale > 0 && double.IsFinite(initScale) ? initScale
        : throw new ArgumentOutOfRangeException(nameof(initScale), $"GradScaler: the initial scale must be positive and finite, got {initScale}");

    /// <summary>Steps skipped because of infinite or NaN gradients.</summary>
    public long SkippedSteps { get; private set; }

    /// <summary>The loss times the scale (backward from it gives scaled gradients).</summary>
    public Tensor ScaleLoss(Tensor loss) => loss.Mul(Scale);

    /// <summary>Divides the gradients of <paramref name="optimizer"/>'s parameters by the scale (once per step), noting
    /// whether any is infinite or NaN.</summary>
    public void Unscale(Optimizer optimizer)
    {
        if (_unscaled) return;
        _unscaled = true;
        double inv = 1.0 / Scale;
        using var _ = Tensor.NoGrad();
        foreach (var group in optimizer.ParamGroups)
            foreach (var p in group.Parameters)
            {
                if (p.Grad is not { } g) continue;
                g.MulInPlace(inv);
                if (!_foundInf && !double.IsFinite(g.Abs().Sum().Item())) _foundInf = true;
            }
    }

    /// <summary>Unscales if not yet done, then steps <paramref name="optimizer"/> unless a gradient was infinite or
    /// NaN; returns whether it stepped.</summary>
    public bool Step(Optimizer optimizer)
    {
        Unscale(optimizer);
        if (_foundInf)
        {
            SkippedSteps++;
            return false;
        }
        optimizer.Step();
        return true;
    }

    /// <summary>Adjusts the scale after a step: halved after a skipped one, doubled after <c>growthInterval</c> clean
    /// ones in a row.</summary>
    public void Update()
    {
        if (_foundInf)
        {
            Scale *= backoffFactor;
            _growthTracker = 0;
        }
        else if (++_growthTracker >= growthInterval)
        {
            Scale *= growthFactor;
            _growthTracker = 0;
        }
        _unscaled = false;
        _foundInf = false;
    }
}
