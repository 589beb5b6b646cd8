namespace Ember.Training;

/// <summary>Receives a <see cref="Trainer"/>'s progress: where a front end draws bars, tables or log lines. The trainer
/// calls it on the training thread, once per step; implementations throttle their own drawing.</summary>
public interface ITrainingProgress
{
    /// <summary>An epoch of <paramref name="steps"/> optimizer steps begins.</summary>
    void EpochStarted(int epoch, int epochs, int steps);

    /// <summary>Step <paramref name="step"/> of <paramref name="steps"/> is done; <paramref name="meanLoss"/> is the epoch's
    /// mean loss so far.</summary>
    void StepCompleted(int epoch, int step, int steps, double meanLoss, double samplesPerSecond);

    /// <summary>An epoch ended (after validation).</summary>
    void EpochCompleted(EpochMetrics metrics, int epochs, bool classification);

    /// <summary>A one-line event (early stopping).</summary>
    void Note(string message);
}

/// <summary>The default progress: one line per epoch on stderr, and while an epoch runs a redrawn status line when
/// stderr is a terminal (never in a log file or a CI log).</summary>
public sealed class ConsoleTrainingProgress : ITrainingProgress
{
    private readonly bool _live = !Console.IsErrorRedirected;
    private DateTime _lastDraw;

    /// <summary>The shared instance.</summary>
    public static ConsoleTrainingProgress Instance { get; } = new();

    /// <inheritdoc/>
    public void EpochStarted(int epoch, int epochs, int steps) => _lastDraw = DateTime.MinValue;

    /// <inheritdoc/>
    public void StepCompleted(int epoch, int step, int steps, double meanLoss, double samplesPerSecond)
    {
        if (!_live) return;
        var now = DateTime.UtcNow;
        if (now - _lastDraw < TimeSpan.FromMilliseconds(250) && step != steps) return;
        _lastDraw = now;
        Console.Error.Write($"\repoch {epoch} {step}/{steps} loss {meanLoss:F4} {samplesPerSecond:N0} samples/s   ");
    }

    /// <inheritdoc/>
    public void EpochCompleted(EpochMetrics m, int epochs, bool classification)
    {
        if (_live) Console.Error.Write("\r" + new string(' ', 80) + "\r");
        Console.Error.WriteLine(Describe(m, epochs, classification));
    }

    /// <inheritdoc/>
    public void Note(string message) => Console.Error.WriteLine(message);

    /// <summary>"epoch 3/10  train_loss 0.1234  train_acc 0.9612  val_loss …  lr 0.001  4.2s".</summary>
    public static string Describe(EpochMetrics m, int epochs, bool classification) =>
        $"epoch {m.Epoch}/{epochs}  train_loss {m.TrainLoss:F4}" + (classification ? $"  train_acc {m.TrainAccuracy:F4}" : "") +
        (m.ValLoss is double vl ? $"  val_loss {vl:F4}" + (classification ? $"  val_acc {m.ValAccuracy:F4}" : "") : "") +
        $"  lr {m.LearningRate:G3}  {m.Seconds:F1}s";
}
