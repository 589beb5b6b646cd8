using System.Globalization;
using Ember.Diagnostics;
using Ember.NN;

namespace Ember.Training;

/// <summary>What the training loops write to TensorBoard, shared by <see cref="Trainer"/> and the recipes' own loops:
/// parameter and gradient histograms, a confusion matrix, the hyperparameters of a run.</summary>
public static class TensorBoardLog
{
    /// <summary>A training step's scalars: "train/loss", "train/learning_rate" and the throughput
    /// ("train/{unit}_per_second").</summary>
    public static void Step(SummaryWriter writer, long step, double loss, double learningRate, double perSecond, string unit = "samples")
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.AddScalar("train/loss", loss, step);
        writer.AddScalar("train/learning_rate", learningRate, step);
        if (double.IsFinite(perSecond)) writer.AddScalar($"train/{unit}_per_second", perSecond, step);
    }

    /// <summary>Each layer's causal self-attention for one sequence, averaged over heads, as heat maps
    /// ("attention/layer{i}"): <paramref name="maps"/> as <c>Gpt.AttentionMaps</c> gives them, (B, H, T, T) per layer.</summary>
    public static void AttentionMaps(SummaryWriter writer, IReadOnlyList<Tensor> maps, long step)
    {
        ArgumentNullException.ThrowIfNull(writer);
        for (int i = 0; i < maps.Count; i++)
        {
            var m = maps[i].Select(0, 0).Mean(0);   // (T, T), mean over heads
            writer.AddHeatmap($"attention/layer{i}", m, step, cell: Math.Max(2, 256 / Math.Max(1, m.Size(0))));
        }
    }

    /// <summary>A histogram of every trainable parameter ("weights/NAME") and of its gradient where it has one
    /// ("gradients/NAME"), and the global gradient norm ("train/grad_norm").</summary>
    public static void Parameters(SummaryWriter writer, Module model, long step)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(model);
        double sq = 0;
        bool any = false;
        foreach (var (name, p) in model.NamedParameters())
        {
            if (!p.RequiresGrad || p.NumEl == 0 || !p.DType.IsFloatingPoint()) continue;
            writer.AddHistogram("weights/" + name, p, step);
            if (p.Grad is { } g)
            {
                writer.AddHistogram("gradients/" + name, g, step);
                double n = g.Detach().To(DType.Float64).Square().Sum().Item();
                sq += n;
                any = true;
            }
        }
        if (any) writer.AddScalar("train/grad_norm", Math.Sqrt(sq), step);
    }

    /// <summary>The confusion matrix (rows: true class, columns: predicted) as a heat map image, each row scaled to
    /// the fraction of its class (so small classes show as clearly as large ones).</summary>
    public static void ConfusionMatrix(SummaryWriter writer, string tag, Tensor predicted, Tensor target, int classes, long step)
    {
        ArgumentNullException.ThrowIfNull(writer);
        var m = Metrics.ConfusionMatrix(predicted, target, classes);
        var rows = new float[classes * classes];
        for (int i = 0; i < classes; i++)
        {
            long total = 0;
            for (int j = 0; j < classes; j++) total += m[i, j];
            for (int j = 0; j < classes; j++) rows[i * classes + j] = total == 0 ? 0 : (float)m[i, j] / total;
        }
        writer.AddImage(tag, IO.Images.Heatmap(Tensor.FromArray(rows, [classes, classes]), Math.Max(4, 256 / classes), 0, 1), step);
        writer.AddText(tag + "/counts", "```\n" + Metrics.Format(m) + "```", step);
    }

    /// <summary>Hyperparameters for <see cref="SummaryWriter.AddHparams"/> from string metadata (checkpoint metadata,
    /// command-line settings): numbers become numbers, "true"/"false" booleans, the rest strings; long values (a
    /// preprocessing description in JSON) are left out, as the dashboard shows each value in one table cell.</summary>
    public static Dictionary<string, object> Hparams(IEnumerable<KeyValuePair<string, string>> values)
    {
        var d = new Dictionary<string, object>();
        foreach (var (k, v) in values)
        {
            if (double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double x) && double.IsFinite(x)) d[k] = x;
            else if (bool.TryParse(v, out bool b)) d[k] = b;
            else if (v.Length <= 200) d[k] = v;
        }
        return d;
    }
}
