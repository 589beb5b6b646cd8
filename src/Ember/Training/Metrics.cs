namespace Ember.Training;

/// <summary>Classification metrics computed from logits or predicted labels.</summary>
public static class Metrics
{
    /// <summary>Fraction of rows whose argmax over the last dim equals the int64 target.</summary>
    public static double Accuracy(Tensor logits, Tensor target)
    {
        var pred = logits.ArgMax(-1);
        // Class probabilities (mixup, label smoothing done by hand): the most probable class is the label.
        if (target.DType.IsFloatingPoint() && ShapeUtil.SameShape(logits._shape, target._shape)) target = target.ArgMax(-1);
        if (!ShapeUtil.SameShape(pred._shape, target._shape))
            throw new ArgumentException($"Accuracy: predictions {ShapeUtil.Str(pred._shape)} and targets {ShapeUtil.Str(target._shape)} differ in shape.");
        return pred.Eq(target).To(DType.Float64).Mean().Item();
    }

    /// <summary>Area under the ROC curve of <paramref name="scores"/> for the binary <paramref name="positive"/> labels: the
    /// probability that a random positive scores above a random negative, ties counting one half (Mann–Whitney U with
    /// mid-ranks). NaN scores and a single-class label set are errors.</summary>
    public static double RocAuc(IReadOnlyList<double> scores, IReadOnlyList<bool> positive)
    {
        if (scores.Count != positive.Count)
            throw new ArgumentException($"RocAuc: {scores.Count} scores but {positive.Count} labels.");
        int n = scores.Count;
        var order = Enumerable.Range(0, n).ToArray();
        for (int i = 0; i < n; i++)
            if (double.IsNaN(scores[i])) throw new ArgumentException($"RocAuc: score {i} is NaN.");
        Array.Sort(order, (a, b) => scores[a].CompareTo(scores[b]));
        double rankSum = 0;
        long pos = 0;
        for (int i = 0; i < n;)
        {
            int j = i;
            while (j + 1 < n && scores[order[j + 1]] == scores[order[i]]) j++;
            double midRank = (i + j) / 2.0 + 1;   // 1-based ranks, ties share their mean
            for (int k = i; k <= j; k++)
                if (positive[order[k]]) { rankSum += midRank; pos++; }
            i = j + 1;
        }
        long neg = n - pos;
        if (pos == 0 || neg == 0) throw new ArgumentException($"RocAuc: needs both classes, got {pos} positive and {neg} negative labels.");
        return (rankSum - pos * (pos + 1) / 2.0) / ((double)pos * neg);
    }

    /// <summary>Macro-averaged one-vs-rest ROC AUC of class probabilities (N, C) for int64 targets (N): the binary AUC of
    /// class 1 when C = 2; classes absent from the targets are skipped.</summary>
    public static double RocAuc(Tensor probabilities, Tensor target)
    {
        if (probabilities.Dim != 2 || target.Dim != 1 || probabilities.Size(0) != target.Size(0))
            throw new ArgumentException($"RocAuc: expected probabilities (N, C) and targets (N), got {ShapeUtil.Str(probabilities._shape)} and {ShapeUtil.Str(target._shape)}.");
        int c = probabilities.Size(1);
        var p = probabilities.Contiguous().ToArrayDouble();
        var t = target.ToArray<long>();
        double Column(int k) => RocAuc(Enumerable.Range(0, t.Length).Select(i => p[i * c + k]).ToArray(), t.Select(v => v == k).ToArray());
        if (c == 2) return Column(1);
        var present = Enumerable.Range(0, c).Where(k => t.Contains(k) && t.Any(v => v != k)).ToArray();
        return present.Average(Column);
    }

    /// <summary>counts[true, predicted] for <paramref name="classes"/> classes.</summary>
    public static long[,] ConfusionMatrix(Tensor predicted, Tensor target, int classes)
    {
        var p = predicted.Reshape(-1).ToArray<long>();
        var t = target.Reshape(-1).ToArray<long>();
        var m = new long[classes, classes];
        for (int i = 0; i < p.Length; i++)
        {
            if (t[i] < 0 || t[i] >= classes || p[i] < 0 || p[i] >= classes)
                throw new ArgumentException($"ConfusionMatrix: label {t[i]} or prediction {p[i]} at {i} is outside [0, {classes}).");
            m[t[i], p[i]]++;
        }
        return m;
    }

    /// <summary>The matrix as aligned text, rows = true class.</summary>
    public static string Format(long[,] m, IReadOnlyList<string>? names = null)
    {
        int k = m.GetLength(0);
        var sb = new System.Text.StringBuilder();
        string Name(int i) => names is not null && i < names.Count ? names[i] : i.ToString();
        int w = Math.Max(6, Enumerable.Range(0, k).Max(i => Name(i).Length) + 1);
        sb.Append("true\\pred".PadRight(w + 4));
        for (int j = 0; j < k; j++) sb.Append(Name(j).PadLeft(w));
        sb.AppendLine();
        for (int i = 0; i < k; i++)
        {
            sb.Append(Name(i).PadRight(w + 4));
            for (int j = 0; j < k; j++) sb.Append(m[i, j].ToString().PadLeft(w));
            sb.AppendLine();
        }
        return sb.ToString();
    }
}
