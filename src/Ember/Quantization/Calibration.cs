using Ember.Kernels;

namespace Ember.Quantization;

/// <summary>How static quantization turns the activations seen during calibration into a range.</summary>
public enum CalibrationMethod
{
    /// <summary>The smallest and largest value seen (PyTorch's MinMaxObserver).</summary>
    MinMax,
    /// <summary>The given lower and upper percentiles of the values seen: rare outliers saturate.</summary>
    Percentile,
    /// <summary>The clipping threshold whose 128-level quantized histogram of |x| is closest, in KL divergence, to the
    /// observed one (TensorRT's entropy calibration, Migacz 2017).</summary>
    Entropy,
}

/// <summary>A fixed input range of a statically quantized layer: every input value is quantized with this scale and
/// zero point (7-bit levels 0…127, as the dynamic path's rows).</summary>
public sealed record ActivationRange(float Scale, int ZeroPoint)
{
    /// <summary>The scale and zero point covering [lo, hi] (widened to include 0, so zero is exact).</summary>
    public static ActivationRange FromRange(float lo, float hi)
    {
        if (!float.IsFinite(lo) || !float.IsFinite(hi) || lo > hi)
            throw new ArgumentException($"ActivationRange: [{lo}, {hi}] is not a finite range.");
        var (scale, zp) = Int8Gemm.RowParameters(lo, hi);
        return new ActivationRange(scale, zp);
    }

    /// <summary>The real values the 128 levels span: [−zp·scale, (127 − zp)·scale].</summary>
    public (float Lo, float Hi) Range => (-ZeroPoint * Scale, (Int8Gemm.ActivationMax - ZeroPoint) * Scale);
}

/// <summary>Collects what a layer's inputs look like during calibration: the extremes and a strided sample of at most
/// <see cref="MaxSamples"/> values (enough for percentiles and a 2048-bin histogram).</summary>
public sealed class ActivationObserver
{
    /// <summary>Values kept per layer.</summary>
    public const int MaxSamples = 1 << 20;
    private readonly List<float> _samples = new();
    private long _seen;

    /// <summary>Smallest value seen.</summary>
    public float Min { get; private set; } = float.PositiveInfinity;
    /// <summary>Largest value seen.</summary>
    public float Max { get; private set; } = float.NegativeInfinity;
    /// <summary>Number of values seen.</summary>
    public long Count => _seen;

    /// <summary>Records a batch of inputs.</summary>
    public void Observe(Tensor input)
    {
        var v = input.Detach().Contiguous().To(DType.Float32).ToArray<float>();
        if (v.Length == 0) return;
        foreach (float f in v)
            if (!float.IsFinite(f)) throw new ArgumentException($"ActivationObserver: a calibration input holds a non-finite value ({f}).");
        Min = MathF.Min(Min, System.Numerics.Tensors.TensorPrimitives.Min(v));
        Max = MathF.Max(Max, System.Numerics.Tensors.TensorPrimitives.Max(v));
        // Keep every step-th value so that the sample stays under MaxSamples however many batches come.
        int step = (int)Math.Max(1, (_seen + v.Length) / MaxSamples + 1);
        if (_samples.Count + v.Length / step > MaxSamples)
        {
            var thinned = new List<float>(_samples.Count / 2 + 1);
            for (int i = 0; i < _samples.Count; i += 2) thinned.Add(_samples[i]);
            _samples.Clear();
            _samples.AddRange(thinned);
        }
        for (int i = 0; i < v.Length; i += step) _samples.Add(v[i]);
        _seen += v.Length;
    }

    /// <summary>The input range by <paramref name="method"/> (<paramref name="percentile"/>: the upper percentile for
    /// <see cref="CalibrationMethod.Percentile"/>, its mirror 100 − p the lower).</summary>
    public ActivationRange Range(CalibrationMethod method, double percentile = 99.99)
    {
        if (_seen == 0) throw new InvalidOperationException("ActivationObserver: no calibration input reached this layer.");
        switch (method)
        {
            case CalibrationMethod.MinMax:
                return ActivationRange.FromRange(Min, Max);
            case CalibrationMethod.Percentile:
            {
                if (!(percentile > 50 && percentile <= 100)) throw new ArgumentException($"ActivationObserver: percentile must be in (50, 100], got {percentile}.");
                var sorted = _samples.ToArray();
                Array.Sort(sorted);
                return ActivationRange.FromRange(Quantile(sorted, 1 - percentile / 100), Quantile(sorted, percentile / 100));
            }
            case CalibrationMethod.Entropy:
            {
                float t = EntropyThreshold(_samples, MathF.Max(MathF.Abs(Min), MathF.Abs(Max)));
                return ActivationRange.FromRange(MathF.Max(Min, -t), MathF.Min(Max, t));
            }
            default: throw new ArgumentOutOfRangeException(nameof(method));
        }
    }

    /// <summary>Linear interpolation between order statistics (NumPy's default percentile).</summary>
    internal static float Quantile(float[] sorted, double q)
    {
        double pos = q * (sorted.Length - 1);
        int i = (int)Math.Floor(pos);
        if (i >= sorted.Length - 1) return sorted[^1];
        return (float)(sorted[i] + (pos - i) * (sorted[i + 1] - sorted[i]));
    }

    /// <summary>TensorRT's entropy calibration on |x|: a 2048-bin histogram over [0, max|x|]; for each candidate
    /// threshold of i ≥ 128 bins, P is the first i bins with the clipped rest folded into the last, Q is the first i
    /// bins (without the clipped mass) merged into 128 levels and spread back over their nonzero bins; the threshold
    /// with the smallest KL(P ‖ Q) wins, trading the clipping error against the rounding error.</summary>
    internal static float EntropyThreshold(IReadOnlyList<float> samples, float maxAbs)
    {
        const int bins = 2048, levels = Int8Gemm.ActivationMax + 1;
        if (maxAbs <= 0) return 0;
        var hist = new double[bins];
        double width = maxAbs / bins;
        foreach (float v in samples) hist[Math.Min(bins - 1, (int)(MathF.Abs(v) / width))]++;
        double best = double.PositiveInfinity;
        int bestI = bins;
        var p = new double[bins];
        var q = new double[bins];
        for (int i = levels; i <= bins; i++)
        {
            Array.Copy(hist, p, i);
            for (int j = i; j < bins; j++) p[i - 1] += hist[j];
            // Merge the first i bins of the (unfolded) histogram into 128 levels, then spread each level's mass evenly
            // over its nonzero bins.
            double per = (double)i / levels;
            Array.Clear(q, 0, i);
            for (int l = 0; l < levels; l++)
            {
                int start = (int)(l * per), end = l == levels - 1 ? i : (int)((l + 1) * per);
                double mass = 0;
                int nonzero = 0;
                for (int j = start; j < end; j++) { mass += hist[j]; if (hist[j] != 0) nonzero++; }
                if (nonzero == 0) continue;
                for (int j = start; j < end; j++) if (hist[j] != 0) q[j] = mass / nonzero;
            }
            double sp = 0, sq = 0;
            for (int j = 0; j < i; j++) { sp += p[j]; sq += q[j]; }
            if (sp == 0 || sq == 0) continue;
            double kl = 0;
            for (int j = 0; j < i; j++)
            {
                if (p[j] == 0) continue;
                double pj = p[j] / sp, qj = q[j] / sq;
                kl += qj == 0 ? double.PositiveInfinity : pj * Math.Log(pj / qj);
            }
            if (kl < best) { best = kl; bestI = i; }
        }
        return (float)(bestI * width);
    }
}
