namespace Ember.Training;

/// <summary>Classification metrics computed from logits or predicted labels.</summary>
public static class Metrics
{
    /// <summary>Fraction of rows whose argmax over the last dim equals the int64 target.</summary>
    public static double Accuracy(Tensor logits, Tensor target)
    {
        var pred = logits.ArgMax(-1);
        if (!ShapeUtil.SameShape(pred._shape, target._shape))
            throw new ArgumentException($"Accuracy: predictions {ShapeUtil.Str(pred._shape)} and targets {ShapeUtil.Str(target._shape)} differ in shape.");
        return pred.Eq(target).To(DType.Float64).Mean().Item();
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
