using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Ember.Kernels;

/// <summary>Special functions the BCL lacks.</summary>
internal static class SpecialFunctions
{
    /// <summary>erf in double precision. For |x| &lt; 6 the series
    /// erf(x) = 2/√π · e^(−x²) · Σ_{n≥0} 2ⁿ x^(2n+1) / (1·3·5···(2n+1))
    /// (Abramowitz &amp; Stegun 7.1.6) has only positive terms, so no cancellation: relative error ~1e-16.
    /// Beyond 6, 1 − erf(x) &lt; 2e-17 and the result is ±1. Used for float64 tensors.</summary>
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

    // ---- Gamma-function family, in double precision (float32 tensors round the double result).
    // Lanczos (g = 7, 9 terms; the coefficients Numerical Recipes 3rd ed. §6.1 and Boost tabulate): relative error of
    // Γ ~1e-15 for x ≥ 0.5; below, the reflection formula Γ(x)Γ(1 − x) = π / sin(πx).
    private static readonly double[] Lanczos =
    [
        0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
        12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
    ];

    /// <summary>ln|Γ(x)| (<c>torch.lgamma</c>, <c>scipy.special.gammaln</c>): +∞ at 0 and the negative integers.</summary>
    public static double Lgamma(double x)
    {
        if (double.IsNaN(x)) return x;
        if (double.IsInfinity(x)) return double.PositiveInfinity;
        if (x <= 0 && x == Math.Floor(x)) return double.PositiveInfinity;
        if (x < 0.5)
            return Math.Log(Math.PI / Math.Abs(Math.Sin(Math.PI * x))) - Lgamma(1 - x);
        if (x == 1 || x == 2) return 0;
        x -= 1;
        double a = Lanczos[0], t = x + 7.5;
        for (int i = 1; i < 9; i++) a += Lanczos[i] / (x + i);
        return 0.5 * Math.Log(2 * Math.PI) + (x + 0.5) * Math.Log(t) - t + Math.Log(a);
    }

    /// <summary>ψ(x) = d ln Γ(x)/dx (<c>torch.digamma</c>): the recurrence ψ(x) = ψ(x + 1) − 1/x up to x ≥ 10, then the
    /// asymptotic series ln x − 1/(2x) − Σ B₂ₖ/(2k·x²ᵏ) (Abramowitz &amp; Stegun 6.3.18, six terms: error &lt; 1e-16 there);
    /// negative x by the reflection ψ(1 − x) − ψ(x) = π·cot(πx). −∞ at 0 (as PyTorch), NaN at the negative integers.</summary>
    public static double Digamma(double x)
    {
        if (double.IsNaN(x) || double.IsNegativeInfinity(x)) return double.NaN;
        if (double.IsPositiveInfinity(x)) return x;
        if (x == 0) return double.NegativeInfinity;
        if (x < 0)
        {
            if (x == Math.Floor(x)) return double.NaN;
            return Digamma(1 - x) - Math.PI / Math.Tan(Math.PI * x);
        }
        double r = 0;
        while (x < 10) { r -= 1 / x; x += 1; }
        double f = 1 / (x * x);
        double series = f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f * (1.0 / 132 - f * (691.0 / 32760))))));
        return r + Math.Log(x) - 0.5 / x - series;
    }

    /// <summary>ψ₁(x) = dψ/dx (<c>torch.polygamma(1, x)</c>): ψ₁(x) = ψ₁(x + 1) + 1/x² up to x ≥ 10, then
    /// 1/x + 1/(2x²) + Σ B₂ₖ/x²ᵏ⁺¹ (A&amp;S 6.4.12); negative x by ψ₁(1 − x) + ψ₁(x) = π²/sin²(πx); +∞ at the poles.</summary>
    public static double Trigamma(double x)
    {
        if (double.IsNaN(x) || double.IsNegativeInfinity(x)) return double.NaN;
        if (double.IsPositiveInfinity(x)) return 0;
        if (x <= 0 && x == Math.Floor(x)) return double.PositiveInfinity;
        if (x < 0)
        {
            double s = Math.Sin(Math.PI * x);
            return -Trigamma(1 - x) + Math.PI * Math.PI / (s * s);
        }
        double r = 0;
        while (x < 10) { r += 1 / (x * x); x += 1; }
        double f = 1 / (x * x);
        double series = (1 + f * (1.0 / 6 - f * (1.0 / 30 - f * (1.0 / 42 - f * (1.0 / 30 - f * (5.0 / 66)))))) / x;
        return r + 0.5 * f + series;
    }

    // ---- Fast erf for float32 tensors, evaluated in double lanes (the float result is then correctly rounded
    // from a value with error below 1e-7 · erfc, far under half a float ulp of the result's magnitude).
    //   |x| < 0.5 : erf(x) = 2/√π · x · Σ_{k=0..6} (−1)^k x^(2k) / (k!(2k+1))     (truncation < 4e-10)
    //   |x| ≥ 0.5 : erfc(z) = t·exp(−z² + P(t)), t = 1/(1 + z/2), P the degree-9 Chebyshev-fitted polynomial of
    //               Numerical Recipes §6.2 (fractional error < 1.2e-7), erf = sign(x)·(1 − erfc(|x|)).
    private const double C0 = 1, C1 = -1.0 / 3, C2 = 1.0 / 10, C3 = -1.0 / 42, C4 = 1.0 / 216, C5 = -1.0 / 1320, C6 = 1.0 / 9360;
    private const double TwoOverSqrtPi = 1.1283791670955126;
    private const double P0 = -1.26551223, P1 = 1.00002368, P2 = 0.37409196, P3 = 0.09678418, P4 = -0.18628806,
        P5 = 0.27886807, P6 = -1.13520398, P7 = 1.48851587, P8 = -0.82215223, P9 = 0.17087277;

    /// <summary>The scalar form of the fast float erf (tails and strided runs use it, so every path agrees).</summary>
    public static float Erf(float x) => (float)ErfFast(x);

    private static double ErfFast(double x)
    {
        if (double.IsNaN(x)) return x;
        double z = Math.Abs(x);
        if (z < 0.5)
        {
            double x2 = x * x;
            double s = ((((((C6 * x2 + C5) * x2 + C4) * x2 + C3) * x2 + C2) * x2 + C1) * x2 + C0);
            return TwoOverSqrtPi * x * s;
        }
        double t = 1 / (1 + 0.5 * z);
        double p = (((((((((P9 * t + P8) * t + P7) * t + P6) * t + P5) * t + P4) * t + P3) * t + P2) * t + P1) * t + P0);
        double r = 1 - t * Math.Exp(-z * z + p);
        return x < 0 ? -r : r;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<double> Erf(Vector256<double> x)
    {
        var z = Vector256.Abs(x);
        var x2 = x * x;
        var s = ((((((Vector256.Create(C6) * x2 + Vector256.Create(C5)) * x2 + Vector256.Create(C4)) * x2 + Vector256.Create(C3)) * x2
            + Vector256.Create(C2)) * x2 + Vector256.Create(C1)) * x2 + Vector256.Create(C0));
        var small = Vector256.Create(TwoOverSqrtPi) * x * s;
        var t = Vector256<double>.One / (Vector256<double>.One + Vector256.Create(0.5) * z);
        var p = (((((((((Vector256.Create(P9) * t + Vector256.Create(P8)) * t + Vector256.Create(P7)) * t + Vector256.Create(P6)) * t
            + Vector256.Create(P5)) * t + Vector256.Create(P4)) * t + Vector256.Create(P3)) * t + Vector256.Create(P2)) * t
            + Vector256.Create(P1)) * t + Vector256.Create(P0));
        var r = Vector256<double>.One - t * Vector256.Exp(p - z * z);
        var large = Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256<double>.Zero), -r, r);
        return Vector256.ConditionalSelect(Vector256.LessThan(z, Vector256.Create(0.5)), small, large);
    }

    /// <summary>The same at 128 bits (two double lanes: ARM64, SSE).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<double> Erf(Vector128<double> x)
    {
        var z = Vector128.Abs(x);
        var x2 = x * x;
        var s = ((((((Vector128.Create(C6) * x2 + Vector128.Create(C5)) * x2 + Vector128.Create(C4)) * x2 + Vector128.Create(C3)) * x2
            + Vector128.Create(C2)) * x2 + Vector128.Create(C1)) * x2 + Vector128.Create(C0));
        var small = Vector128.Create(TwoOverSqrtPi) * x * s;
        var t = Vector128<double>.One / (Vector128<double>.One + Vector128.Create(0.5) * z);
        var p = (((((((((Vector128.Create(P9) * t + Vector128.Create(P8)) * t + Vector128.Create(P7)) * t + Vector128.Create(P6)) * t
            + Vector128.Create(P5)) * t + Vector128.Create(P4)) * t + Vector128.Create(P3)) * t + Vector128.Create(P2)) * t
            + Vector128.Create(P1)) * t + Vector128.Create(P0));
        var r = Vector128<double>.One - t * Vector128.Exp(p - z * z);
        var large = Vector128.ConditionalSelect(Vector128.LessThan(x, Vector128<double>.Zero), -r, r);
        return Vector128.ConditionalSelect(Vector128.LessThan(z, Vector128.Create(0.5)), small, large);
    }

    /// <summary>1/d from the 14-bit reciprocal estimate refined by one Newton step (relative error ~2⁻²⁸), a few cycles
    /// instead of a vector divide; the divide where AVX-512F is missing.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Reciprocal(Vector512<float> d)
    {
        if (!Avx512F.IsSupported) return Vector512<float>.One / d;
        var r0 = Avx512F.Reciprocal14(d);
        return r0 * Vector512.FusedMultiplyAdd(-d, r0, Vector512.Create(2f));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> Erf(Vector512<float> x)
    {
        // Fused multiply-adds throughout, and 1/(1 + z/2) from the 14-bit reciprocal estimate refined by one Newton
        // step (relative error ~2⁻²⁸) instead of a division: a vector divide alone costs about as much as the rest.
        var z = Vector512.Abs(x);
        var x2 = x * x;
        var s = Vector512.FusedMultiplyAdd(Vector512.FusedMultiplyAdd(Vector512.FusedMultiplyAdd(Vector512.FusedMultiplyAdd(Vector512.FusedMultiplyAdd(
            Vector512.FusedMultiplyAdd(Vector512.Create((float)C6), x2, Vector512.Create((float)C5)), x2, Vector512.Create((float)C4)), x2,
            Vector512.Create((float)C3)), x2, Vector512.Create((float)C2)), x2, Vector512.Create((float)C1)), x2, Vector512.Create((float)C0));
        var small = Vector512.Create((float)TwoOverSqrtPi) * x * s;
        var den = Vector512.FusedMultiplyAdd(Vector512.Create(0.5f), z, Vector512<float>.One);
        var t = Reciprocal(den);
        var p = Vector512.Create((float)P9);
        p = Vector512.FusedMultiplyAdd(p, t, Vector512.Create((float)P8));
        p = Vector512.FusedMultiplyAdd(p, t, Vector512.Create((float)P7));
        p = Vector512.FusedMultiplyAdd(p, t, Vector512.Create((float)P6));
        p = Vector512.FusedMultiplyAdd(p, t, Vector512.Create((float)P5));
        p = Vector512.FusedMultiplyAdd(p, t, Vector512.Create((float)P4));
        p = Vector512.FusedMultiplyAdd(p, t, Vector512.Create((float)P3));
        p = Vector512.FusedMultiplyAdd(p, t, Vector512.Create((float)P2));
        p = Vector512.FusedMultiplyAdd(p, t, Vector512.Create((float)P1));
        p = Vector512.FusedMultiplyAdd(p, t, Vector512.Create((float)P0));
        var r = Vector512.FusedMultiplyAdd(-t, FastMath.Exp(Vector512.FusedMultiplyAdd(-z, z, p)), Vector512<float>.One);
        var large = Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512<float>.Zero), -r, r);
        return Vector512.ConditionalSelect(Vector512.LessThan(z, Vector512.Create(0.5f)), small, large);
    }

    /// <summary>erf for GELU's Φ(x) = ½(1 + erf(x/√2)), where only the absolute error counts (it is added to 1):
    /// Abramowitz &amp; Stegun 7.1.26, erf(z) = 1 − t·(a₁ + t·(a₂ + …))·e^(−z²), t = 1/(1 + p·z), absolute error ≤ 1.5e-7
    /// for all z — one short polynomial and one exp instead of two branches. Not for erf itself, whose relative error
    /// near 0 this does not bound. NaN propagates.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> ErfAbs(Vector512<float> x)
    {
        var z = Vector512.Abs(x);
        return ErfAbs(x, z, FastMath.Exp(-(z * z)));
    }

    /// <summary><see cref="ErfAbs(Vector512{float})"/> given z = |x| and e = exp(−z²), for a caller that needs e as well
    /// (GELU's derivative: φ(x) = e/√(2π) at z = |x|/√2).</summary>
    internal static Vector512<float> ErfAbs(Vector512<float> x, Vector512<float> z, Vector512<float> e)
    {
        var den = Vector512.FusedMultiplyAdd(Vector512.Create(0.3275911f), z, Vector512<float>.One);
        var t = Reciprocal(den);
        var p = Vector512.FusedMultiplyAdd(Vector512.Create(1.061405429f), t, Vector512.Create(-1.453152027f));
        p = Vector512.FusedMultiplyAdd(p, t, Vector512.Create(1.421413741f));
        p = Vector512.FusedMultiplyAdd(p, t, Vector512.Create(-0.284496736f));
        p = Vector512.FusedMultiplyAdd(p, t, Vector512.Create(0.254829592f));
        var r = Vector512.FusedMultiplyAdd(-(p * t), e, Vector512<float>.One);
        // Copy x's sign onto r (also carries NaN through: |NaN| keeps it NaN in r).
        return (r & Vector512.Create(0x7FFFFFFF).AsSingle()) | (x & Vector512.Create(unchecked((int)0x80000000)).AsSingle());
    }

    /// <summary><see cref="ErfAbs(Vector512{float}, Vector512{float}, Vector512{float})"/> at any width (AVX2's 8 lanes,
    /// 128-bit 4): the same polynomial, t = 1/(1 + p·z) by a division (no refined reciprocal estimate below AVX-512).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static TV ErfAbs<TW, TV>(TV x, TV z, TV e) where TW : struct, ISimdFloat<TV> where TV : struct
    {
        var one = TW.Create(1f);
        var t = TW.Div(one, TW.MulAdd(TW.Create(0.3275911f), z, one));
        var p = TW.MulAdd(TW.Create(1.061405429f), t, TW.Create(-1.453152027f));
        p = TW.MulAdd(p, t, TW.Create(1.421413741f));
        p = TW.MulAdd(p, t, TW.Create(-0.284496736f));
        p = TW.MulAdd(p, t, TW.Create(0.254829592f));
        var r = TW.MulAdd(TW.Sub(TW.Create(0f), TW.Mul(p, t)), e, one);
        return TW.CopySign(r, x);   // x's sign (r ≥ 0; NaN carried through z)
    }

    /// <summary>d[i] = erf(scale · x[i]) for float32 spans, 16 floats per step in float lanes on AVX-512 (the series and
    /// Numerical Recipes' erfc fit, relative error ~1e-7, well inside float32's 6e-8 ulp·few); 8 (AVX2) or 4 (128-bit)
    /// floats per step widened to double lanes; the scalar tail uses the double formula. NaN propagates through every path.</summary>
    public static void Erf(ReadOnlySpan<float> x, Span<float> d, float scale = 1)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var sc = Vector512.Create(scale);
            for (; i <= x.Length - 16; i += 16)
                Erf(Vector512.Create(x.Slice(i, 16)) * sc).CopyTo(d.Slice(i, 16));
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var sc = Vector256.Create((double)scale);
            for (; i <= x.Length - 8; i += 8)
            {
                var (lo, hi) = Vector256.Widen(Vector256.Create(x.Slice(i, 8)));
                Vector256.Narrow(Erf(lo * sc), Erf(hi * sc)).CopyTo(d.Slice(i, 8));
            }
        }
        else if (Vector128.IsHardwareAccelerated)
        {
            var sc = Vector128.Create((double)scale);
            for (; i <= x.Length - 4; i += 4)
            {
                var (lo, hi) = Vector128.Widen(Vector128.Create(x.Slice(i, 4)));
                Vector128.Narrow(Erf(lo * sc), Erf(hi * sc)).CopyTo(d.Slice(i, 4));
            }
        }
        for (; i < x.Length; i++) d[i] = (float)ErfFast((double)x[i] * scale);
    }
}
