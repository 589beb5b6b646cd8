namespace Ember.Tuning;

/// <summary>The standard normal's tails and the truncated normal, in double precision, for the Parzen estimators.</summary>
internal static class Gaussian
{
    private const double Sqrt2 = 1.4142135623730951, LogSqrt2Pi = 0.91893853320467274;

    /// <summary>erfc(x) by the 28-term Chebyshev fit of Numerical Recipes (3rd ed., §6.2.2); against Python's math.erfc
    /// within 1e-15 relative for |x| ≤ 3 and 5e-14 out to x = 20 (tests); erfc(−x) = 2 − erfc(x).</summary>
    public static double Erfc(double x)
    {
        if (x < 0) return 2 - Erfc(-x);
        // erfc(z) = t·exp(−z² + P(t)) with t = 2/(2+z): W. J. Cody's and NR's Chebyshev form.
        double t = 2.0 / (2.0 + x), ty = 4 * t - 2, d = 0, dd = 0;
        ReadOnlySpan<double> c =
        [
            -1.3026537197817094, 6.4196979235649026e-1, 1.9476473204185836e-2, -9.561514786808631e-3, -9.46595344482036e-4,
            3.66839497852761e-4, 4.2523324806907e-5, -2.0278578112534e-5, -1.624290004647e-6, 1.303655835580e-6,
            1.5626441722e-8, -8.5238095915e-8, 6.529054439e-9, 5.059343495e-9, -9.91364156e-10, -2.27365122e-10,
            9.6467911e-11, 2.394038e-12, -6.886027e-12, 8.94487e-13, 3.13092e-13, -1.12708e-13, 3.81e-16, 7.106e-15,
            -1.523e-15, -9.4e-17, 1.21e-16, -2.8e-17,
        ];
        for (int j = c.Length - 1; j > 0; j--)
        {
            double tmp = d;
            d = ty * d - dd + c[j];
            dd = tmp;
        }
        return t * Math.Exp(-x * x + 0.5 * (c[0] + ty * d) - dd);
    }

    /// <summary>Φ(x), the standard normal CDF.</summary>
    public static double Cdf(double x) => 0.5 * Erfc(-x / Sqrt2);

    /// <summary>log(Φ(b) − Φ(a)) for a ≤ b, computed in whichever tail keeps its digits.</summary>
    public static double LogMass(double a, double b)
    {
        if (a >= 0) return LogMass(-b, -a);   // symmetric: the mass is the same with both ends negated
        if (b <= 0) return Math.Log(Math.Max(Cdf(b) - Cdf(a), 1e-300));
        return Math.Log(Math.Max(1 - Cdf(a) - Cdf(-b), 1e-300));   // straddles 0: both tails are small
    }

    /// <summary>The standard normal quantile Φ⁻¹(p): P. J. Acklam's rational approximation (relative error 1.15e-9),
    /// refined by one Halley step on Erfc.</summary>
    public static double Quantile(double p)
    {
        if (p <= 0) return double.NegativeInfinity;
        if (p >= 1) return double.PositiveInfinity;
        ReadOnlySpan<double> a = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00];
        ReadOnlySpan<double> b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01];
        ReadOnlySpan<double> c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00];
        ReadOnlySpan<double> d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00];
        double x;
        if (p < 0.02425)
        {
            double q = Math.Sqrt(-2 * Math.Log(p));
            x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
        }
        else if (p <= 1 - 0.02425)
        {
            double q = p - 0.5, r = q * q;
            x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
        }
        else
        {
            double q = Math.Sqrt(-2 * Math.Log(1 - p));
            x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
        }
        double e = Cdf(x) - p, u = e * Math.Sqrt(2 * Math.PI) * Math.Exp(x * x / 2);
        return x - u / (1 + x * u / 2);
    }

    /// <summary>A draw from N(μ, σ²) truncated to [low, high], by inverting the CDF in the tail the interval lies in.</summary>
    public static double SampleTruncated(Random rng, double mu, double sigma, double low, double high)
    {
        double a = (low - mu) / sigma, b = (high - mu) / sigma;
        double u = rng.NextDouble();
        double x;
        if (a >= 0)
        {
            // Right tail: through the survival function Q(z) = Φ(−z), which keeps its digits there.
            double qa = Cdf(-a), qb = Cdf(-b);
            x = -Quantile(qb + u * (qa - qb));
        }
        else
        {
            double pa = Cdf(a), pb = Cdf(b);
            x = Quantile(pa + u * (pb - pa));
        }
        return Math.Clamp(mu + sigma * x, low, high);
    }

    /// <summary>log of N(μ, σ²)'s density truncated to [low, high], at x.</summary>
    public static double LogPdfTruncated(double x, double mu, double sigma, double low, double high)
    {
        double z = (x - mu) / sigma;
        return -0.5 * z * z - LogSqrt2Pi - Math.Log(sigma) - LogMass((low - mu) / sigma, (high - mu) / sigma);
    }
}
