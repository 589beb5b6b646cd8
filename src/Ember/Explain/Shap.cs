namespace Ember.Explain;

/// <summary>Shapley attributions of one row's output to its features, against a background sample that stands for
/// "feature unknown" (interventional SHAP, Lundberg &amp; Lee 2017): φ₀ = E_b f(b) (<see cref="BaseValue"/>), and
/// Σφᵢ = f(x) − φ₀ (additivity; <see cref="Gap"/> says how far an estimate is from it).</summary>
public sealed record ShapExplanation(double[] Values, double BaseValue, double Output)
{
    /// <summary>f(x) − φ₀ − Σφᵢ: zero for the exact and kernel estimators (up to rounding).</summary>
    public double Gap => Output - BaseValue - Values.Sum();
}

/// <summary>SHAP values for models of M features: <c>Exact</c> (all 2ᴹ coalitions), <c>Kernel</c>
/// (KernelSHAP: Shapley-kernel weighted regression on sampled coalitions; exact when the budget covers them all) and
/// <c>Gradient</c> (GradientSHAP / expected gradients for differentiable models). The model maps a batch of
/// rows (n, M) to n outputs: for a classifier, <c>x => model.Call(x).Select(1, target)</c>.</summary>
public static class Shap
{
    /// <summary>Coalition values v(S) = mean over background rows b of f(x on S, b elsewhere), for each mask.</summary>
    private static double[] CoalitionValues(Func<Tensor, Tensor> f, Tensor x, Tensor background, IReadOnlyList<bool[]> masks)
    {
        int m = x.NumEl, nb = background.Size(0);
        var xv = x.Detach().Contiguous().ToArrayDouble();
        var bv = background.Detach().Contiguous().ToArrayDouble();
        var values = new double[masks.Count];
        int perChunk = Math.Max(1, 8192 / nb);
        for (int c0 = 0; c0 < masks.Count; c0 += perChunk)
        {
            int cn = Math.Min(perChunk, masks.Count - c0);
            var rows = new double[cn * nb * m];
            for (int c = 0; c < cn; c++)
            {
                var mask = masks[c0 + c];
                for (int r = 0; r < nb; r++)
                    for (int j = 0; j < m; j++)
                        rows[((long)c * nb + r) * m + j] = mask[j] ? xv[j] : bv[r * m + j];
            }
            var t = Tensor.FromArray(rows, cn * nb, m);
            if (x.DType != DType.Float64) t = t.To(x.DType);
            double[] y;
            using (Tensor.NoGrad()) y = f(t).ToArrayDouble();
            if (y.Length != cn * nb)
                throw new ArgumentException($"Shap: the model must return one value per row; {cn * nb} rows gave {y.Length} values.");
            for (int c = 0; c < cn; c++)
            {
                double s = 0;
                for (int r = 0; r < nb; r++) s += y[c * nb + r];
                values[c0 + c] = s / nb;
            }
        }
        return values;
    }

    private static void Check(string op, Tensor x, Tensor background)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(background);
        if (x.Dim != 1) throw new ArgumentException($"{op}: x must be one row of features (M), got shape {ShapeUtil.Str(x.Shape)}.");
        if (background.Dim != 2 || background.Size(1) != x.Size(0) || background.Size(0) < 1)
            throw new ArgumentException($"{op}: background must be (rows ≥ 1, {x.Size(0)}), got shape {ShapeUtil.Str(background.Shape)}.");
    }

    /// <summary>Exact Shapley values by enumerating all 2ᴹ coalitions (M ≤ 20): φᵢ = Σ_{S∌i} |S|!(M−|S|−1)!/M! ·
    /// (v(S ∪ {i}) − v(S)).</summary>
    public static ShapExplanation Exact(Func<Tensor, Tensor> f, Tensor x, Tensor background)
    {
        Check("Shap.Exact", x, background);
        return Exact(x.Size(0), masks => CoalitionValues(f, x, background, masks));
    }

    /// <summary>Exact Shapley values of any coalition game over <paramref name="features"/> players (M ≤ 20):
    /// <paramref name="value"/> gives v(S) for each mask (true: the feature takes the explained row's value), e.g. a
    /// model's mean output over background rows with the other features taken from them (tables with text columns).</summary>
    public static ShapExplanation Exact(int features, Func<IReadOnlyList<bool[]>, double[]> value)
    {
        int m = features;
        if (m < 1) throw new ArgumentOutOfRangeException(nameof(features), features, "Shap.Exact: at least one feature.");
        if (m > 20) throw new ArgumentException($"Shap.Exact: {m} features means 2^{m} coalitions; use Shap.Kernel above 20.");
        int count = 1 << m;
        var masks = new bool[count][];
        for (int s = 0; s < count; s++)
        {
            masks[s] = new bool[m];
            for (int j = 0; j < m; j++) masks[s][j] = (s >> j & 1) != 0;
        }
        var v = Values(value, masks);
        var weight = new double[m];   // weight[s] = s!(M−s−1)!/M!
        for (int s = 0; s < m; s++) weight[s] = Math.Exp(LogFactorial(s) + LogFactorial(m - s - 1) - LogFactorial(m));
        var phi = new double[m];
        for (int s = 0; s < count; s++)
        {
            int size = System.Numerics.BitOperations.PopCount((uint)s);
            for (int i = 0; i < m; i++)
                if ((s >> i & 1) == 0) phi[i] += weight[size] * (v[s | 1 << i] - v[s]);
        }
        return new ShapExplanation(phi, v[0], v[count - 1]);
    }

    private static double[] Values(Func<IReadOnlyList<bool[]>, double[]> value, IReadOnlyList<bool[]> masks)
    {
        ArgumentNullException.ThrowIfNull(value);
        var v = value(masks);
        if (v.Length != masks.Count) throw new ArgumentException($"Shap: the coalition value function returned {v.Length} values for {masks.Count} coalitions.");
        return v;
    }

    private static double LogFactorial(int n) => Kernels.SpecialFunctions.Lgamma(n + 1);

    /// <summary>KernelSHAP: the φ minimizing Σ_z π(z)(v(z) − φ₀ − Σ zᵢφᵢ)² subject to Σφᵢ = f(x) − φ₀, with the
    /// Shapley kernel π(z) = (M−1)/(C(M,|z|)·|z|·(M−|z|)). When 2ᴹ − 2 ≤ <paramref name="samples"/> every coalition is
    /// used with its weight (the solution is then the exact Shapley values); otherwise coalition sizes are drawn in
    /// proportion to their total kernel weight, members uniformly, each draw paired with its complement.</summary>
    public static ShapExplanation Kernel(Func<Tensor, Tensor> f, Tensor x, Tensor background, int samples = 2048, Generator? generator = null)
    {
        Check("Shap.Kernel", x, background);
        return Kernel(x.Size(0), masks => CoalitionValues(f, x, background, masks), samples, generator);
    }

    /// <summary>KernelSHAP of any coalition game (see <see cref="Exact(int, Func{IReadOnlyList{bool[]}, double[]})"/>).</summary>
    public static ShapExplanation Kernel(int features, Func<IReadOnlyList<bool[]>, double[]> value, int samples = 2048, Generator? generator = null)
    {
        int m = features;
        if (m < 2) return Exact(m, value);
        if (samples < 2) throw new ArgumentOutOfRangeException(nameof(samples), samples, "Shap.Kernel: samples must be at least 2.");
        var masks = new List<bool[]> { new bool[m], Enumerable.Repeat(true, m).ToArray() };
        var weights = new List<double> { 0, 0 };
        if (m < 31 && (1L << m) - 2 <= samples)
        {
            for (long s = 1; s < (1L << m) - 1; s++)
            {
                var z = new bool[m];
                int size = 0;
                for (int j = 0; j < m; j++) if ((s >> j & 1) != 0) { z[j] = true; size++; }
                masks.Add(z);
                weights.Add((m - 1) / (Math.Exp(LogFactorial(m) - LogFactorial(size) - LogFactorial(m - size)) * size * (m - size)));
            }
        }
        else
        {
            var g = generator ?? Generator.Default;
            var sizeWeight = new double[m];   // total kernel weight of the coalitions of each size: (M−1)/(s(M−s))
            for (int s = 1; s < m; s++) sizeWeight[s] = (m - 1.0) / (s * (m - s));
            double total = sizeWeight.Sum();
            var idx = Enumerable.Range(0, m).ToArray();
            for (int k = 0; k < samples / 2; k++)
            {
                double u = g.NextDouble() * total;
                int size = 1;
                while (size < m - 1 && (u -= sizeWeight[size]) > 0) size++;
                for (int j = 0; j < size; j++)   // partial Fisher-Yates: the first `size` of a random permutation
                {
                    int r = j + (int)(g.NextDouble() * (m - j));
                    (idx[j], idx[r]) = (idx[r], idx[j]);
                }
                var z = new bool[m];
                for (int j = 0; j < size; j++) z[idx[j]] = true;
                masks.Add(z);
                masks.Add(z.Select(b => !b).ToArray());
                weights.Add(1);
                weights.Add(1);
            }
        }
        var v = Values(value, masks);
        double phi0 = v[0], fx = v[1];
        // Eliminate φ_{M−1} = (fx − φ₀) − Σ_{i<M−1} φᵢ: regress y = v − φ₀ − z_{M−1}(fx − φ₀) on (zᵢ − z_{M−1}), i < M−1.
        int p = m - 1;
        var ata = new double[p, p];
        var atb = new double[p];
        for (int r = 2; r < masks.Count; r++)
        {
            var z = masks[r];
            double w = weights[r], last = z[m - 1] ? 1 : 0;
            double y = v[r] - phi0 - last * (fx - phi0);
            for (int i = 0; i < p; i++)
            {
                double ai = (z[i] ? 1 : 0) - last;
                if (ai == 0) continue;
                atb[i] += w * ai * y;
                for (int j = 0; j < p; j++) ata[i, j] += w * ai * ((z[j] ? 1 : 0) - last);
            }
        }
        var sol = SolveSymmetric(ata, atb);
        var phi = new double[m];
        Array.Copy(sol, phi, p);
        phi[m - 1] = fx - phi0 - sol.Sum();
        return new ShapExplanation(phi, phi0, fx);
    }

    /// <summary>Gaussian elimination with partial pivoting (a tiny ridge keeps an under-sampled system solvable).</summary>
    private static double[] SolveSymmetric(double[,] a, double[] b)
    {
        int n = b.Length;
        var m = (double[,])a.Clone();
        var x = (double[])b.Clone();
        double scale = 0;
        for (int i = 0; i < n; i++) scale = Math.Max(scale, Math.Abs(m[i, i]));
        for (int i = 0; i < n; i++) m[i, i] += 1e-12 * Math.Max(scale, 1);
        for (int c = 0; c < n; c++)
        {
            int piv = c;
            for (int r = c + 1; r < n; r++) if (Math.Abs(m[r, c]) > Math.Abs(m[piv, c])) piv = r;
            if (piv != c)
            {
                for (int k = 0; k < n; k++) (m[c, k], m[piv, k]) = (m[piv, k], m[c, k]);
                (x[c], x[piv]) = (x[piv], x[c]);
            }
            for (int r = c + 1; r < n; r++)
            {
                double factor = m[r, c] / m[c, c];
                if (factor == 0) continue;
                for (int k = c; k < n; k++) m[r, k] -= factor * m[c, k];
                x[r] -= factor * x[c];
            }
        }
        for (int r = n - 1; r >= 0; r--)
        {
            double s = x[r];
            for (int k = r + 1; k < n; k++) s -= m[r, k] * x[k];
            x[r] = s / m[r, r];
        }
        return x;
    }

    /// <summary>GradientSHAP (expected gradients, Erion et al. 2021): φ = E_{b, α}[(x − b) ⊙ ∇f(b + α(x − b))] over every
    /// background row b with <paramref name="samplesPerRow"/> draws of α ~ U(0, 1) each. Exact for a linear model;
    /// otherwise additive only in expectation (<see cref="ShapExplanation.Gap"/> reports the residual).</summary>
    public static ShapExplanation Gradient(Func<Tensor, Tensor> f, Tensor x, Tensor background, int samplesPerRow = 16, Generator? generator = null)
    {
        Check("Shap.Gradient", x, background);
        if (samplesPerRow < 1) throw new ArgumentOutOfRangeException(nameof(samplesPerRow), samplesPerRow, "Shap.Gradient: samplesPerRow must be at least 1.");
        var g = generator ?? Generator.Default;
        int nb = background.Size(0), m = x.Size(0);
        var b = background.Detach().Unsqueeze(0).Expand(samplesPerRow, nb, m).Reshape(samplesPerRow * nb, m);
        var alpha = Tensor.Rand([nb * samplesPerRow, 1], x.DType, g);
        var xr = x.Detach().Unsqueeze(0);
        var points = b.Add(alpha.Mul(xr.Sub(b)));
        var grads = Attributions.Gradient(f, points);
        var phi = xr.Sub(b).Mul(grads).Mean(0).ToArrayDouble();
        double fx, baseValue;
        using (Tensor.NoGrad())
        {
            fx = f(xr).ToArrayDouble()[0];
            baseValue = f(background.Detach()).Mean().ToArrayDouble()[0];
        }
        return new ShapExplanation(phi, baseValue, fx);
    }
}
