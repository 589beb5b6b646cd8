namespace Ember.Tuning;

/// <summary>Chooses each parameter's value for a trial from the study so far.</summary>
public interface ISampler
{
    /// <summary>An internal value of <paramref name="distribution"/> for parameter <paramref name="name"/> of <paramref name="trial"/>.</summary>
    double Sample(Study study, Trial trial, string name, ParamDistribution distribution);
}

/// <summary>Independent uniform draws (log-uniform on a log scale), seeded.</summary>
public sealed class RandomSampler(int? seed = null) : ISampler
{
    private readonly Random _rng = seed is int s ? new Random(s) : new Random();

    /// <inheritdoc/>
    public double Sample(Study study, Trial trial, string name, ParamDistribution distribution) => Draw(_rng, distribution);

    internal static double Draw(Random rng, ParamDistribution d) => d switch
    {
        FloatDistribution { Log: true } f => Math.Clamp(Math.Exp(Math.Log(f.Low) + rng.NextDouble() * (Math.Log(f.High) - Math.Log(f.Low))), f.Low, f.High),
        FloatDistribution { Step: double q } f => Math.Min(f.High, f.Low + q * rng.NextInt64(0, (long)Math.Floor((f.High - f.Low) / q + 1e-9) + 1)),
        FloatDistribution f => f.Low + rng.NextDouble() * (f.High - f.Low),
        IntDistribution { Log: true } i => Math.Clamp(Math.Round(Math.Exp(Math.Log(i.Low - 0.5) + rng.NextDouble() * (Math.Log(i.High + 0.5) - Math.Log(i.Low - 0.5)))), i.Low, i.High),
        IntDistribution i => i.Low + i.Step * rng.NextInt64(0, (i.High - i.Low) / i.Step + 1),
        CategoricalDistribution c => rng.Next(c.Choices.Count),
        _ => throw new NotSupportedException(d.GetType().Name),
    };
}

/// <summary>
/// The Tree-structured Parzen Estimator (Bergstra, Bardenet, Bengio and Kégl, 2011, "Algorithms for hyper-parameter
/// optimization"), univariate, with the settings of Optuna 3.1's <c>TPESampler</c>: the first
/// <paramref name="startupTrials"/> trials are random; after that, the finished trials (complete, and pruned ones
/// ranked behind them by how far they got) are split into the best γ(n) = min(⌈0.1·n⌉, 25) and the rest, a Parzen
/// estimator is fitted to each (a truncated Gaussian per observation, its width the larger gap to its neighbours,
/// clipped to [range / min(100, 1 + n), range], plus a prior over the whole range with weight
/// <paramref name="priorWeight"/>; older observations weigh less once there are more than 25), and of
/// <paramref name="candidates"/> draws from the good one the draw maximizing l(x)/g(x) is taken. Log-scaled
/// parameters are modelled in log space, stepped ones with the probability mass of their grid cell, categories with
/// smoothed weighted counts. A parameter only some trials have (a conditional space) is fitted on those trials.
/// </summary>
public sealed class TpeSampler(int? seed = null, int startupTrials = 10, int candidates = 24, double priorWeight = 1.0) : ISampler
{
    private readonly Random _rng = seed is int s ? new Random(s) : new Random();

    /// <summary>γ(n): how many of n finished trials count as good.</summary>
    public static int Gamma(int n) => Math.Min((int)Math.Ceiling(0.1 * n), 25);

    /// <summary>The observations' weights in trial order: 1 each up to 25, then a ramp from 1/n up for the older ones.</summary>
    public static double[] Weights(int n)
    {
        if (n < 25) return Enumerable.Repeat(1.0, n).ToArray();
        var w = new double[n];
        int ramp = n - 25;
        for (int i = 0; i < ramp; i++) w[i] = ramp == 1 ? 1.0 / n : 1.0 / n + (1 - 1.0 / n) * i / (ramp - 1);
        for (int i = ramp; i < n; i++) w[i] = 1;
        return w;
    }

    /// <inheritdoc/>
    public double Sample(Study study, Trial trial, string name, ParamDistribution distribution)
    {
        var finished = study.Trials.Where(t => t.State is TrialState.Complete or TrialState.Pruned && t.Id != trial.Id).ToList();
        if (finished.Count < startupTrials) return RandomSampler.Draw(_rng, distribution);
        // Rank: complete trials by value, then pruned ones by how far they got (−step) and their last value.
        double sign = study.Direction == StudyDirection.Minimize ? 1 : -1;
        var keyed = finished.Select((t, i) => (Index: i, Trial: t, Key: Key(t, sign))).ToList();
        var order = keyed.OrderBy(k => k.Key.Step).ThenBy(k => k.Key.Score).ThenBy(k => k.Index).ToList();   // stable
        int nBelow = Gamma(finished.Count);
        var below = order.Take(nBelow).OrderBy(k => k.Index).Select(k => k.Trial).ToList();
        var above = order.Skip(nBelow).OrderBy(k => k.Index).Select(k => k.Trial).ToList();
        double[] Obs(List<FrozenTrial> ts) => ts.Where(t => t.Params.ContainsKey(name) && t.Distributions[name].Equals(distribution)).Select(t => t.Params[name]).ToArray();
        var l = new ParzenEstimator(Obs(below), distribution, priorWeight);
        var g = new ParzenEstimator(Obs(above), distribution, priorWeight);
        double best = double.NaN, bestScore = double.NegativeInfinity;
        for (int i = 0; i < candidates; i++)
        {
            double x = l.Sample(_rng);
            double score = l.LogPdf(x) - g.LogPdf(x);
            if (score > bestScore) (best, bestScore) = (x, score);
        }
        return best;
    }

    private static (double Step, double Score) Key(FrozenTrial t, double sign)
    {
        if (t.State == TrialState.Complete) return (double.NegativeInfinity, sign * t.Value!.Value);
        if (t.Intermediate.Count == 0) return (1, 0);
        var last = t.Intermediate.MaxBy(kv => kv.Key);
        return (-last.Key, double.IsNaN(last.Value) ? double.PositiveInfinity : sign * last.Value);
    }
}

/// <summary>A one-dimensional Parzen estimator over one parameter's internal values (log space for log scales).</summary>
internal sealed class ParzenEstimator
{
    private readonly ParamDistribution _d;
    private readonly double[] _w, _mu = [], _sigma = [];
    private readonly double[][] _cat = [];

    /// <summary>The mixture's weights (observations in order, then the prior), normalized.</summary>
    public IReadOnlyList<double> ComponentWeights => _w;
    /// <summary>The components' means in model space (observations, then the prior).</summary>
    public IReadOnlyList<double> Mus => _mu;
    /// <summary>The components' widths.</summary>
    public IReadOnlyList<double> Sigmas => _sigma;
    /// <summary>Each component's smoothed category probabilities.</summary>
    public IReadOnlyList<double[]> CategoricalWeights => _cat;
    private readonly double _low, _high;
    private readonly double? _q;

    public ParzenEstimator(double[] obs, ParamDistribution d, double priorWeight)
    {
        _d = d;
        int n = obs.Length;
        var w = TpeSampler.Weights(n);
        _w = new double[n + 1];
        Array.Copy(w, _w, n);
        _w[n] = priorWeight;
        double sum = _w.Sum();
        for (int i = 0; i <= n; i++) _w[i] /= sum;
        if (d is CategoricalDistribution c)
        {
            int k = c.Choices.Count;
            _cat = new double[n + 1][];
            for (int i = 0; i <= n; i++)
            {
                var row = Enumerable.Repeat(priorWeight / (n + 1), k).ToArray();
                if (i < n) row[(int)obs[i]] += 1;
                double s = row.Sum();
                for (int j = 0; j < k; j++) row[j] /= s;
                _cat[i] = row;
            }
            return;
        }
        (_low, _high, _q) = Bounds(d);
        var mus = new double[n + 1];
        for (int i = 0; i < n; i++) mus[i] = ToModel(obs[i]);
        mus[n] = 0.5 * (_low + _high);
        // Each Gaussian as wide as the larger gap to its sorted neighbours (the range's ends count as neighbours),
        // except the outermost observations, which use their inner gap (consider_endpoints off).
        var idx = Enumerable.Range(0, n + 1).OrderBy(i => mus[i]).ToArray();
        var sorted = new double[n + 3];
        sorted[0] = _low;
        for (int i = 0; i <= n; i++) sorted[i + 1] = mus[idx[i]];
        sorted[n + 2] = _high;
        var sig = new double[n + 1];
        for (int i = 0; i <= n; i++) sig[i] = Math.Max(sorted[i + 1] - sorted[i], sorted[i + 2] - sorted[i + 1]);
        if (sorted.Length >= 4)
        {
            sig[0] = sorted[2] - sorted[1];
            sig[n] = sorted[n + 1] - sorted[n];
        }
        double max = _high - _low, min = (_high - _low) / Math.Min(100.0, 1.0 + (n + 1));
        _sigma = new double[n + 1];
        for (int i = 0; i <= n; i++) _sigma[idx[i]] = Math.Clamp(sig[i], min, max);
        _sigma[n] = _high - _low;   // the prior
        _mu = mus;
    }

    private static (double Low, double High, double? Q) Bounds(ParamDistribution d) => d switch
    {
        FloatDistribution { Log: true } f => (Math.Log(f.Low), Math.Log(f.High), null),
        FloatDistribution { Step: double q } f => (f.Low - 0.5 * q, f.High + 0.5 * q, q),
        FloatDistribution f => (f.Low, f.High, null),
        IntDistribution { Log: true } i => (Math.Log(i.Low - 0.5), Math.Log(i.High + 0.5), null),
        IntDistribution i => (i.Low - 0.5 * i.Step, i.High + 0.5 * i.Step, i.Step),
        _ => throw new NotSupportedException(d.GetType().Name),
    };

    private double ToModel(double v) => _d is FloatDistribution { Log: true } or IntDistribution { Log: true } ? Math.Log(v) : v;

    private double FromModel(double x) => _d switch
    {
        FloatDistribution { Log: true } f => Math.Clamp(Math.Exp(x), f.Low, f.High),
        FloatDistribution { Step: double q } f => Math.Clamp(Math.Round((x - f.Low) / q) * q + f.Low, f.Low, f.High),
        FloatDistribution => x,
        IntDistribution { Log: true } i => Math.Clamp(Math.Round(Math.Exp(x)), i.Low, i.High),
        IntDistribution i => Math.Clamp(Math.Round((x - i.Low) / i.Step) * i.Step + i.Low, i.Low, i.High),
        _ => x,
    };

    private int Component(Random rng)
    {
        double u = rng.NextDouble(), acc = 0;
        for (int i = 0; i < _w.Length; i++)
        {
            acc += _w[i];
            if (u < acc) return i;
        }
        return _w.Length - 1;
    }

    public double Sample(Random rng)
    {
        int k = Component(rng);
        if (_d is CategoricalDistribution)
        {
            double u = rng.NextDouble(), acc = 0;
            var row = _cat[k];
            for (int j = 0; j < row.Length; j++)
            {
                acc += row[j];
                if (u < acc) return j;
            }
            return row.Length - 1;
        }
        return FromModel(Gaussian.SampleTruncated(rng, _mu[k], _sigma[k], _low, _high));
    }

    public double LogPdf(double value)
    {
        var terms = new double[_w.Length];
        if (_d is CategoricalDistribution)
        {
            double p = 0;
            for (int i = 0; i < _w.Length; i++) p += _w[i] * _cat[i][(int)value];
            return Math.Log(p);
        }
        double x = ToModel(value);
        for (int i = 0; i < _w.Length; i++)
        {
            double lp;
            if (_q is double q)
            {
                double lo = Math.Max(x - q / 2, _low), hi = Math.Min(x + q / 2, _high);
                lp = Gaussian.LogMass((lo - _mu[i]) / _sigma[i], (hi - _mu[i]) / _sigma[i]) - Gaussian.LogMass((_low - _mu[i]) / _sigma[i], (_high - _mu[i]) / _sigma[i]);
            }
            // Optuna 3.1 scores a component by the density of the standardized value, (x − μ)/σ, without the 1/σ of
            // the density of x itself; kept, as the reference this sampler is measured against.
            else lp = Gaussian.LogPdfTruncated(x, _mu[i], _sigma[i], _low, _high) + Math.Log(_sigma[i]);
            terms[i] = lp + Math.Log(_w[i]);
        }
        double m = terms.Max();
        return m + Math.Log(terms.Sum(t => Math.Exp(t - m)));
    }
}
