namespace Ember;

/// <summary>
/// Seedable pseudo-random generator (xoshiro256**, Blackman &amp; Vigna 2018, seeded through SplitMix64).
/// Same seed, same numbers, on every machine and .NET version: the algorithm is ours, not the BCL's.
/// </summary>
public sealed class Generator
{
    private ulong _s0, _s1, _s2, _s3;
    private double? _spareNormal;

    /// <summary>The generator used when none is passed (PyTorch's default generator).</summary>
    public static Generator Default { get; } = new(0x5EED);

    /// <summary>A generator seeded with <paramref name="seed"/> (the same seed gives the same stream).</summary>
    public Generator(ulong seed) => ManualSeed(seed);

    /// <summary>The full state (as <c>torch.Generator.get_state</c>): the four xoshiro words, and the spare normal
    /// deviate of the Box–Muller pair when one is pending.</summary>
    public ulong[] GetState() => _spareNormal is double d ? [_s0, _s1, _s2, _s3, 1, (ulong)BitConverter.DoubleToInt64Bits(d)] : [_s0, _s1, _s2, _s3, 0, 0];

    /// <summary>Restores a state from <see cref="GetState"/>.</summary>
    public void SetState(ulong[] state)
    {
        if (state.Length != 6 || state[4] > 1 || (state[0] | state[1] | state[2] | state[3]) == 0)
            throw new ArgumentException($"Generator.SetState: expected the 6 words GetState returns (not all-zero state words), got {state.Length}.");
        (_s0, _s1, _s2, _s3) = (state[0], state[1], state[2], state[3]);
        _spareNormal = state[4] == 1 ? BitConverter.Int64BitsToDouble((long)state[5]) : null;
    }

    /// <summary>Resets the state from <paramref name="seed"/>.</summary>
    public Generator ManualSeed(ulong seed)
    {
        ulong z = seed;
        _s0 = SplitMix(ref z); _s1 = SplitMix(ref z); _s2 = SplitMix(ref z); _s3 = SplitMix(ref z);
        _spareNormal = null;
        return this;
    }

    private static ulong SplitMix(ref ulong z)
    {
        ulong r = z += 0x9E3779B97F4A7C15UL;
        r = (r ^ (r >> 30)) * 0xBF58476D1CE4E5B9UL;
        r = (r ^ (r >> 27)) * 0x94D049BB133111EBUL;
        return r ^ (r >> 31);
    }

    /// <summary>Next 64 uniformly random bits.</summary>
    public ulong NextUInt64()
    {
        ulong result = ulong.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0; _s3 ^= _s1; _s1 ^= _s2; _s0 ^= _s3;
        _s2 ^= t;
        _s3 = ulong.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Fills <paramref name="dst"/> with <paramref name="one"/> where <see cref="NextDouble"/> &lt; p and
    /// <paramref name="zero"/> elsewhere: the same draws as calling NextDouble per element, with the state in registers.</summary>
    internal void FillBernoulli<T>(Span<T> dst, double p, T one, T zero)
    {
        // NextDouble() = k / 2^53 < p  ⇔  k < ceil(p · 2^53) for the integer k = bits >> 11 (p · 2^53 is exact).
        ulong threshold = (ulong)Math.Ceiling(p * (1UL << 53));
        ulong s0 = _s0, s1 = _s1, s2 = _s2, s3 = _s3;
        for (int i = 0; i < dst.Length; i++)
        {
            ulong result = ulong.RotateLeft(s1 * 5, 7) * 9;
            ulong t = s1 << 17;
            s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3;
            s2 ^= t;
            s3 = ulong.RotateLeft(s3, 45);
            dst[i] = (result >> 11) < threshold ? one : zero;
        }
        (_s0, _s1, _s2, _s3) = (s0, s1, s2, s3);
    }

    /// <summary>Uniform double in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform float in [0, 1) with 24 random bits.</summary>
    public float NextSingle() => (NextUInt64() >> 40) * (1.0f / (1 << 24));

    /// <summary>Standard normal by the Box–Muller transform (pairs are cached).</summary>
    public double NextNormal()
    {
        if (_spareNormal is double s)
        {
            _spareNormal = null;
            return s;
        }
        double u1 = 1.0 - NextDouble();  // (0, 1]: log is finite
        double u2 = NextDouble();
        double r = Math.Sqrt(-2.0 * Math.Log(u1));
        _spareNormal = r * Math.Sin(2 * Math.PI * u2);
        return r * Math.Cos(2 * Math.PI * u2);
    }

    /// <summary>A Gamma(<paramref name="shape"/>, 1) variate by Marsaglia and Tsang's method (2000); shapes below 1
    /// use Gamma(shape + 1)·U^(1/shape).</summary>
    public double NextGamma(double shape)
    {
        if (!(shape > 0) || double.IsInfinity(shape)) throw new ArgumentOutOfRangeException(nameof(shape), shape, "NextGamma: the shape must be a finite number > 0.");
        if (shape < 1)
        {
            double u = 1.0 - NextDouble();   // (0, 1]
            return NextGamma(shape + 1) * Math.Pow(u, 1 / shape);
        }
        double d = shape - 1.0 / 3, c = 1 / Math.Sqrt(9 * d);
        while (true)
        {
            double x = NextNormal(), v = 1 + c * x;
            if (v <= 0) continue;
            v = v * v * v;
            double u = 1.0 - NextDouble();
            if (Math.Log(u) < 0.5 * x * x + d - d * v + d * Math.Log(v)) return d * v;
        }
    }

    /// <summary>A Beta(<paramref name="a"/>, <paramref name="b"/>) variate: X/(X+Y) with X ~ Gamma(a), Y ~ Gamma(b).</summary>
    public double NextBeta(double a, double b)
    {
        double x = NextGamma(a), y = NextGamma(b);
        return x / (x + y);
    }

    /// <summary>Uniform integer in [low, high) without modulo bias (Lemire's method).</summary>
    public long NextInt64(long low, long high)
    {
        if (high <= low) throw new ArgumentException($"NextInt64: empty range [{low}, {high}).");
        ulong range = (ulong)(high - low);
        ulong x = NextUInt64();
        UInt128 m = (UInt128)x * range;
        ulong l = (ulong)m;
        if (l < range)
        {
            ulong t = (0 - range) % range;
            while (l < t)
            {
                x = NextUInt64();
                m = (UInt128)x * range;
                l = (ulong)m;
            }
        }
        return low + (long)(ulong)(m >> 64);
    }
}
