using Ember.NN;

namespace Ember.Models;

/// <summary>The variance schedule of a denoising diffusion model (Ho et al., 2020): βₜ for t = 0…T−1, αₜ = 1 − βₜ and
/// ᾱₜ = ∏ αₛ (s ≤ t). Linear (β from 1e-4 to 0.02 in the paper) or cosine (Nichol &amp; Dhariwal, 2021:
/// ᾱ(t) = cos²((t/T + s)/(1 + s)·π/2)/cos²(s/(1 + s)·π/2), β clipped at 0.999). Kept in double precision.</summary>
public sealed class NoiseSchedule
{
    /// <summary>βₜ, t = 0…T−1.</summary>
    public double[] Betas { get; }
    /// <summary>ᾱₜ = ∏ₛ≤ₜ (1 − βₛ).</summary>
    public double[] AlphasCumprod { get; }
    /// <summary>T, the number of diffusion steps.</summary>
    public int Steps => Betas.Length;

    private NoiseSchedule(double[] betas)
    {
        if (betas.Length < 1) throw new ArgumentException("NoiseSchedule: at least one step is needed.");
        for (int i = 0; i < betas.Length; i++)
            if (!(betas[i] > 0 && betas[i] < 1)) throw new ArgumentException($"NoiseSchedule: β[{i}] = {betas[i]} is outside (0, 1).");
        Betas = betas;
        AlphasCumprod = new double[betas.Length];
        double a = 1;
        for (int i = 0; i < betas.Length; i++) AlphasCumprod[i] = a *= 1 - betas[i];
    }

    /// <summary>βₜ evenly spaced from <paramref name="betaStart"/> to <paramref name="betaEnd"/> over <paramref name="steps"/> steps.</summary>
    public static NoiseSchedule Linear(int steps = 1000, double betaStart = 1e-4, double betaEnd = 0.02)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);
        var b = new double[steps];
        for (int i = 0; i < steps; i++) b[i] = steps == 1 ? betaStart : betaStart + (betaEnd - betaStart) * i / (steps - 1);
        return new NoiseSchedule(b);
    }

    /// <summary>The cosine schedule with offset <paramref name="s"/>: βₜ = 1 − ᾱ(t+1)/ᾱ(t), at most <paramref name="maxBeta"/>.</summary>
    public static NoiseSchedule Cosine(int steps = 1000, double s = 0.008, double maxBeta = 0.999)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);
        double F(double t) => Math.Pow(Math.Cos((t / steps + s) / (1 + s) * Math.PI / 2), 2);
        var b = new double[steps];
        for (int i = 0; i < steps; i++) b[i] = Math.Min(1 - F(i + 1) / F(i), maxBeta);
        return new NoiseSchedule(b);
    }

    private void CheckSteps(Tensor t, string op)
    {
        if (t.DType != DType.Int64 || t.Dim != 1) throw new ArgumentException($"{op}: timesteps must be int64 (N), got {t.DType.Name()} {ShapeUtil.Str(t.Shape)}.");
        foreach (long v in t.ToArray<long>())
            if (v < 0 || v >= Steps) throw new ArgumentException($"{op}: timestep {v} is outside [0, {Steps}).");
    }

    private static Tensor PerSample(double[] values, int dims, DType dtype) =>
        Tensor.FromArray(values, [values.Length, .. Enumerable.Repeat(1, dims - 1)]).To(dtype);

    /// <summary>xₜ = √ᾱₜ·x₀ + √(1 − ᾱₜ)·ε for each sample's timestep (q(xₜ|x₀), the forward process in closed form).</summary>
    public Tensor AddNoise(Tensor x0, Tensor noise, Tensor timesteps)
    {
        CheckSteps(timesteps, "NoiseSchedule.AddNoise");
        if (!ShapeUtil.SameShape(x0.Shape, noise.Shape) || timesteps.Size(0) != x0.Size(0))
            throw new ArgumentException($"NoiseSchedule.AddNoise: x0 {ShapeUtil.Str(x0.Shape)}, noise {ShapeUtil.Str(noise.Shape)} and timesteps {ShapeUtil.Str(timesteps.Shape)} do not match.");
        var ts = timesteps.ToArray<long>();
        var a = PerSample(ts.Select(t => Math.Sqrt(AlphasCumprod[t])).ToArray(), x0.Dim, x0.DType);
        var b = PerSample(ts.Select(t => Math.Sqrt(1 - AlphasCumprod[t])).ToArray(), x0.Dim, x0.DType);
        return x0.Mul(a).Add(noise.Mul(b));
    }

    /// <summary>One ancestral DDPM step from xₜ to xₜ₋₁ given the predicted noise ε̂ (all samples at step
    /// <paramref name="t"/>): μ = (xₜ − βₜ/√(1 − ᾱₜ)·ε̂)/√αₜ, plus σₜ·z with σₜ² = β̃ₜ = βₜ(1 − ᾱₜ₋₁)/(1 − ᾱₜ) (none at t = 0);
    /// z ~ N(0, I) from <paramref name="generator"/>, or <paramref name="noise"/> when given.</summary>
    public Tensor DdpmStep(Tensor xt, Tensor predictedNoise, int t, Generator? generator = null, Tensor? noise = null)
    {
        if (t < 0 || t >= Steps) throw new ArgumentOutOfRangeException(nameof(t), t, $"NoiseSchedule.DdpmStep: the step must be in [0, {Steps}).");
        double beta = Betas[t], ab = AlphasCumprod[t], abPrev = t > 0 ? AlphasCumprod[t - 1] : 1;
        var mean = xt.Sub(predictedNoise.Mul(beta / Math.Sqrt(1 - ab))).Mul(1 / Math.Sqrt(1 - beta));
        if (t == 0) return mean;
        double sigma = Math.Sqrt(beta * (1 - abPrev) / (1 - ab));
        return mean.Add((noise ?? Tensor.Randn(xt.Shape.ToArray(), xt.DType, generator)).Mul(sigma));
    }

    /// <summary>One DDIM step (Song et al., 2021) from step <paramref name="t"/> to <paramref name="tPrev"/> (−1: the
    /// end): x̂₀ = (xₜ − √(1 − ᾱₜ)·ε̂)/√ᾱₜ, σ = η·√((1 − ᾱₚ)/(1 − ᾱₜ))·√(1 − ᾱₜ/ᾱₚ), xₚ = √ᾱₚ·x̂₀ + √(1 − ᾱₚ − σ²)·ε̂ + σ·z
    /// (η = 0: deterministic; z from <paramref name="generator"/> or <paramref name="noise"/>).</summary>
    public Tensor DdimStep(Tensor xt, Tensor predictedNoise, int t, int tPrev, double eta = 0, Generator? generator = null, Tensor? noise = null)
    {
        if (t < 0 || t >= Steps || tPrev < -1 || tPrev >= t)
            throw new ArgumentOutOfRangeException(nameof(t), $"NoiseSchedule.DdimStep: need 0 <= t < {Steps} and -1 <= tPrev < t, got t = {t}, tPrev = {tPrev}.");
        double ab = AlphasCumprod[t], abPrev = tPrev >= 0 ? AlphasCumprod[tPrev] : 1;
        var x0 = xt.Sub(predictedNoise.Mul(Math.Sqrt(1 - ab))).Mul(1 / Math.Sqrt(ab));
        double sigma = eta * Math.Sqrt((1 - abPrev) / (1 - ab)) * Math.Sqrt(1 - ab / abPrev);
        var next = x0.Mul(Math.Sqrt(abPrev)).Add(predictedNoise.Mul(Math.Sqrt(Math.Max(0, 1 - abPrev - sigma * sigma))));
        return sigma > 0 ? next.Add((noise ?? Tensor.Randn(xt.Shape.ToArray(), xt.DType, generator)).Mul(sigma)) : next;
    }

    /// <summary>The <paramref name="count"/> DDIM timesteps from T−1 down to 0, evenly spaced ("trailing" spacing ends at 0).</summary>
    public int[] DdimTimesteps(int count)
    {
        if (count < 1 || count > Steps) throw new ArgumentOutOfRangeException(nameof(count), count, $"NoiseSchedule.DdimTimesteps: need 1..{Steps} steps.");
        var ts = new int[count];
        for (int i = 0; i < count; i++) ts[i] = (int)Math.Round((double)(Steps - 1) * (count - 1 - i) / Math.Max(1, count - 1));
        if (count == 1) ts[0] = Steps - 1;
        return ts;
    }
}

/// <summary>Sinusoidal embedding of diffusion timesteps (the Transformer's positional code, as DDPM uses it):
/// [sin(t·ωᵢ) | cos(t·ωᵢ)] with ωᵢ = 10000^(−i/(d/2 − 1)), i = 0…d/2−1, sines first as in Ho et al.'s
/// implementation, then an MLP d → 4d → 4d with SiLU between. Shape: timesteps (N) int64 → (N, 4d).</summary>
public sealed class TimestepEmbedding : Module
{
    private readonly Linear _fc1, _fc2;
    /// <summary>The sinusoid width d (even).</summary>
    public int Dim { get; }

    /// <summary>An embedding of width <paramref name="dim"/> (even, ≥ 4) feeding a 4·dim MLP.</summary>
    public TimestepEmbedding(int dim, Generator? generator = null)
    {
        if (dim < 4 || dim % 2 != 0) throw new ArgumentException($"TimestepEmbedding: the width must be even and at least 4, got {dim}.");
        Dim = dim;
        _fc1 = RegisterModule("fc1", new Linear(dim, 4 * dim, generator: generator));
        _fc2 = RegisterModule("fc2", new Linear(4 * dim, 4 * dim, generator: generator));
    }

    /// <summary>The raw sinusoids (N, d) for int64 timesteps (N): half = d/2, ωᵢ = exp(−ln(10000)·i/(half − 1)).</summary>
    public static Tensor Sinusoids(Tensor timesteps, int dim)
    {
        if (timesteps.Dim != 1) throw new ArgumentException($"TimestepEmbedding: timesteps must be (N), got {ShapeUtil.Str(timesteps.Shape)}.");
        int half = dim / 2, n = timesteps.Size(0);
        var ts = timesteps.To(DType.Float64).ToArray<double>();
        var freq = new double[half];
        for (int i = 0; i < half; i++) freq[i] = Math.Exp(-Math.Log(10000) * i / (half - 1));
        var e = new float[n * dim];
        for (int b = 0; b < n; b++)
            for (int i = 0; i < half; i++)
            {
                double w = freq[i];
                e[b * dim + i] = (float)Math.Sin(ts[b] * w);
                e[b * dim + half + i] = (float)Math.Cos(ts[b] * w);
            }
        return Tensor.FromArray(e, n, dim);
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => _fc2.Call(Functional.Silu(_fc1.Call(Sinusoids(input, Dim))));
}
