namespace Ember.Kernels;

/// <summary>Special functions the BCL lacks.</summary>
internal static class SpecialFunctions
{
    /// <summary>erf in double precision. For |x| &lt; 6 the series
    /// erf(x) = 2/√π · e^(−x²) · Σ_{n≥0} 2ⁿ x^(2n+1) / (1·3·5···(2n+1))
    /// (Abramowitz &amp; Stegun 7.1.6) has only positive terms, so no cancellation: relative error ~1e-16.
    /// Beyond 6, 1 − erf(x) &lt; 2e-17 and the result is ±1.</summary>
    public static double Erf(double x)
    {
        if (double.IsNaN(x)) return x;
        double ax = Math.Abs(x);
        if (ax >= 6) return Math.Sign(x);
        double x2 = ax * ax, term = ax, sum = ax;
        for (int n = 1; n < 200; n++)
        {
            term *= 2 * x2 / (2 * n + 1);
            sum += term;
            if (term < 1e-17 * sum) break;
        }
        double r = 2 / Math.Sqrt(Math.PI) * Math.Exp(-x2) * sum;
        return x < 0 ? -r : r;
    }

    /// <summary>erf in single precision: computed in double and rounded (max error ½ ulp of float).</summary>
    public static float Erf(float x) => (float)Erf((double)x);
}
