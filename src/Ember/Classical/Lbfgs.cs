namespace Ember.Classical;

/// <summary>Limited-memory BFGS (Nocedal &amp; Wright, Numerical Optimization, Algorithm 7.4 and 7.5) for smooth convex
/// objectives of a parameter vector: the two-loop recursion over the last <c>memory</c> (s, y) pairs gives the search
/// direction, a backtracking line search (Armijo condition, c₁ = 10⁻⁴) the step. It is what scikit-learn's
/// LogisticRegression uses by default (there through SciPy's L-BFGS-B), so a converged run reaches the same optimum.</summary>
public static class Lbfgs
{
    /// <summary>The outcome of a minimization.</summary>
    public sealed record Result(double[] X, double Value, int Iterations, double GradientNorm, bool Converged);

    /// <summary>Minimizes f from <paramref name="x0"/>; <paramref name="f"/> returns the value and writes the gradient into
    /// its second argument. Stops when the largest gradient component is at most <paramref name="gradientTolerance"/>
    /// times max(1, |f|), when f stops decreasing (relative change below 10⁻¹⁴ for 3 iterations), or after
    /// <paramref name="maxIterations"/>.</summary>
    public static Result Minimize(Func<double[], double[], double> f, double[] x0, double gradientTolerance = 1e-8, int maxIterations = 1000, int memory = 10)
    {
        int n = x0.Length;
        var x = (double[])x0.Clone();
        var g = new double[n];
        double fx = f(x, g);
        if (!double.IsFinite(fx)) throw new ArgumentException($"Lbfgs: the objective is {fx} at the starting point.");
        var s = new List<double[]>(memory);
        var y = new List<double[]>(memory);
        var rho = new List<double>(memory);
        var d = new double[n];
        var xNew = new double[n];
        var gNew = new double[n];
        var alpha = new double[memory];
        int stalls = 0, it = 0;
        for (; it < maxIterations; it++)
        {
            if (MaxAbs(g) <= gradientTolerance * Math.Max(1, Math.Abs(fx))) return new Result(x, fx, it, MaxAbs(g), true);
            // Two-loop recursion: d = −H·g.
            for (int i = 0; i < n; i++) d[i] = -g[i];
            for (int k = s.Count - 1; k >= 0; k--)
            {
                alpha[k] = rho[k] * Dot(s[k], d);
                Axpy(-alpha[k], y[k], d);
            }
            if (s.Count > 0)
            {
                double gamma = Dot(s[^1], y[^1]) / Dot(y[^1], y[^1]);
                for (int i = 0; i < n; i++) d[i] *= gamma;
            }
            for (int k = 0; k < s.Count; k++)
            {
                double beta = rho[k] * Dot(y[k], d);
                Axpy(alpha[k] - beta, s[k], d);
            }
            double slope = Dot(g, d);
            if (slope >= 0)
            {
                // Not a descent direction (rounding): restart from steepest descent.
                s.Clear(); y.Clear(); rho.Clear();
                for (int i = 0; i < n; i++) d[i] = -g[i];
                slope = Dot(g, d);
            }
            double step = s.Count == 0 ? Math.Min(1, 1 / Math.Max(1e-12, Math.Sqrt(Dot(g, g)))) : 1;
            double fNew;
            int tries = 0;
            while (true)
            {
                for (int i = 0; i < n; i++) xNew[i] = x[i] + step * d[i];
                fNew = f(xNew, gNew);
                if (double.IsFinite(fNew) && fNew <= fx + 1e-4 * step * slope) break;
                step *= 0.5;
                if (++tries > 60) return new Result(x, fx, it, MaxAbs(g), false);   // no decrease possible: at the optimum up to rounding
            }
            var sk = new double[n];
            var yk = new double[n];
            for (int i = 0; i < n; i++) { sk[i] = xNew[i] - x[i]; yk[i] = gNew[i] - g[i]; }
            double sy = Dot(sk, yk);
            if (sy > 1e-12 * Math.Sqrt(Dot(sk, sk) * Dot(yk, yk)))
            {
                if (s.Count == memory) { s.RemoveAt(0); y.RemoveAt(0); rho.RemoveAt(0); }
                s.Add(sk); y.Add(yk); rho.Add(1 / sy);
            }
            stalls = fx - fNew <= 1e-14 * Math.Max(1, Math.Abs(fx)) ? stalls + 1 : 0;
            (x, xNew) = (xNew, x);
            (g, gNew) = (gNew, g);
            fx = fNew;
            if (stalls >= 3) return new Result(x, fx, it + 1, MaxAbs(g), true);
        }
        return new Result(x, fx, it, MaxAbs(g), MaxAbs(g) <= gradientTolerance * Math.Max(1, Math.Abs(fx)));
    }

    private static double Dot(double[] a, double[] b)
    {
        double r = 0;
        for (int i = 0; i < a.Length; i++) r += a[i] * b[i];
        return r;
    }

    private static void Axpy(double a, double[] x, double[] y)
    {
        for (int i = 0; i < x.Length; i++) y[i] += a * x[i];
    }

    private static double MaxAbs(double[] a)
    {
        double m = 0;
        foreach (var v in a) m = Math.Max(m, Math.Abs(v));
        return m;
    }
}
