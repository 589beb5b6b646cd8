using Ember.Training;

namespace Ember.Cli;

/// <summary>PNG plots with ScottPlot.</summary>
public static class Plots
{
    /// <summary>Loss (left axis) and accuracy (right axis) per epoch, train and validation; written atomically.</summary>
    public static void LearningCurves(IReadOnlyList<EpochMetrics> history, string path, string title)
    {
        if (history.Count == 0) return;
        var epochs = history.Select(h => (double)h.Epoch).ToArray();
        var plt = new ScottPlot.Plot();
        void Series(double[] ys, string label, bool right, ScottPlot.LinePattern pattern)
        {
            var s = plt.Add.Scatter(epochs, ys);
            s.LegendText = label;
            s.LinePattern = pattern;
            if (right) s.Axes.YAxis = plt.Axes.Right;
        }
        Series(history.Select(h => h.TrainLoss).ToArray(), "train loss", false, ScottPlot.LinePattern.Solid);
        if (history.All(h => h.ValLoss is not null)) Series(history.Select(h => h.ValLoss!.Value).ToArray(), "validation loss", false, ScottPlot.LinePattern.Dashed);
        if (history.All(h => double.IsFinite(h.TrainAccuracy))) Series(history.Select(h => h.TrainAccuracy).ToArray(), "train accuracy", true, ScottPlot.LinePattern.Solid);
        if (history.All(h => h.ValAccuracy is not null)) Series(history.Select(h => h.ValAccuracy!.Value).ToArray(), "validation accuracy", true, ScottPlot.LinePattern.Dashed);
        plt.Title(title);
        plt.XLabel("epoch");
        plt.Axes.Left.Label.Text = "loss";
        plt.Axes.Right.Label.Text = "accuracy";
        plt.ShowLegend(ScottPlot.Alignment.MiddleRight);
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, "." + Path.GetFileName(path) + ".tmp.png");
        plt.SavePng(tmp, 900, 500);
        File.Move(tmp, path, overwrite: true);
    }
}
