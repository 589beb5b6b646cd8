using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Ember.Kernels;

/// <summary>Vectorized float32 exp, tanh and sigmoid for the training hot paths (softmax, GELU, cross-entropy,
/// attention). .NET 10's <c>Vector512.Exp</c>/<c>TensorPrimitives.Exp</c> for float run at ~2 ns per element on this
/// machine (about the speed of a scalar <c>MathF.Exp</c> loop); these run at a small fraction of that.
///
/// exp: x = n·ln2 + r with |r| ≤ ln2/2 (Cody–Waite split of ln2, n by the 1.5·2²³ rounding trick), e^r by Cephes'
/// degree-6 minimax polynomial (relative error below 2 ulp over the range), times 2ⁿ built as two powers of two so
/// that results between the smallest subnormal and the largest float come out right; NaN propagates, e^(+∞) = +∞,
/// e^(−∞) = 0. tanh: Cephes' odd polynomial for |x| &lt; 0.625 (no cancellation near 0), 1 − 2/(e^(2|x|) + 1) above.</summary>
///
/// Each function is written once over the width-generic vector surface (<see cref="ISimdFloat{TV}"/>) and runs at
/// 512, 256 or 128 bits, whichever is the widest the machine accelerates; the scalar forms finish the tails with the
/// same algorithm.
internal static class FastMath
{
    private const float Log2E = 1.44269504088896341f, Ln2Hi = 0.693359375f, Ln2Lo = -2.12194440e-4f;
    private const float Round = 12582912f;                       // 1.5·2²³: adding it rounds to an integer in the low bits
    private const float MaxX = 89f, MinX = -104f;                  // beyond: e^x overflows to +∞ / underflows to 0
    private const float E0 = 1.9875691500e-4f, E1 = 1.3981999507e-3f, E2 = 8.3334519073e-3f,
        E3 = 4.1665795894e-2f, E4 = 1.6666665459e-1f, E5 = 5.0000001201e-1f;
    private const float T0 = -5.70498872745e-3f, T1 = 2.06390887954e-2f, T2 = -5.37397155531e-2f,
        T3 = 1.33314422036e-1f, T4 = -3.33332819422e-1f;

    /// <summary>e^x per lane (the algorithm in the type's remarks), at any width.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static TV Exp<TW, TV>(TV x) where TW : struct, ISimdFloat<TV> where TV : struct
    {
        // Native min/max (one instruction each): a NaN input is restored by the final select.
        var xc = TW.MinNative(TW.MaxNative(x, TW.Create(MinX)), TW.Create(MaxX));
        var t = TW.MulAdd(xc, TW.Create(Log2E), TW.Create(Round));
        var n = TW.Sub(t, TW.Create(Round));
        var r = TW.MulAdd(n, TW.Create(-Ln2Hi), xc);
        r = TW.MulAdd(n, TW.Create(-Ln2Lo), r);
        TW.PowersOfTwo(t, out var s1, out var s2);
        var p = TW.MulAdd(TW.Create(E0), r, TW.Create(E1));
        p = TW.MulAdd(p, r, TW.Create(E2));
        p = TW.MulAdd(p, r, TW.Create(E3));
        p = TW.MulAdd(p, r, TW.Create(E4));
        p = TW.MulAdd(p, r, TW.Create(E5));
        p = TW.MulAdd(p, TW.Mul(r, r), TW.Add(r, TW.Create(1f)));
        var y = TW.Mul(TW.Mul(p, s1), s2);
        return TW.Select(TW.NotNaN(x), y, x);   // y first: the JIT folds the select into a masked multiply
    }

    /// <summary>tanh per lane, at any width.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static TV Tanh<TW, TV>(TV x) where TW : struct, ISimdFloat<TV> where TV : struct
    {
        var ax = TW.Abs(x);
        var z = TW.Mul(x, x);
        var p = TW.MulAdd(TW.Create(T0), z, TW.Create(T1));
        p = TW.MulAdd(p, z, TW.Create(T2));
        p = TW.MulAdd(p, z, TW.Create(T3));
        p = TW.MulAdd(p, z, TW.Create(T4));
        var small = TW.MulAdd(TW.Mul(p, z), x, x);
        var one = TW.Create(1f);
        var large = TW.CopySign(TW.Sub(one, TW.Div(TW.Create(2f), TW.Add(Exp<TW, TV>(TW.Add(ax, ax)), one))), x);
        return TW.Select(TW.LessThan(ax, TW.Create(0.625f)), small, large);
    }

    /// <summary>1/(1 + e^(−x)) per lane, at any width.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static TV Sigmoid<TW, TV>(TV x) where TW : struct, ISimdFloat<TV> where TV : struct
    {
        var one = TW.Create(1f);
        return TW.Div(one, TW.Add(one, Exp<TW, TV>(TW.Sub(TW.Create(0f), x))));
    }

    /// <summary>e^x on AVX-512 lanes (for kernels that compose it, such as erf).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Exp(Vector512<float> x) => Exp<W512, Vector512<float>>(x);

    /// <summary>e^x on AVX2 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp(Vector256<float> x) => Exp<W256, Vector256<float>>(x);

    /// <summary>e^x on 128-bit lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Exp(Vector128<float> x) => Exp<W128, Vector128<float>>(x);

    /// <summary>The scalar form (same algorithm as the vector lanes, so tails agree with bodies). Multiply-adds are
    /// fused where the CPU has FMA (as the vector lanes are), a multiply and an add where it has not.</summary>
    public static float Exp(float x)
    {
        if (float.IsNaN(x)) return x;
        float xc = Math.Clamp(x, MinX, MaxX);
        float n = MathF.Round(xc * Log2E);
        float r = float.MultiplyAddEstimate(n, -Ln2Hi, xc);
        r = float.MultiplyAddEstimate(n, -Ln2Lo, r);
        float p = float.MultiplyAddEstimate(E0, r, E1);
        p = float.MultiplyAddEstimate(p, r, E2);
        p = float.MultiplyAddEstimate(p, r, E3);
        p = float.MultiplyAddEstimate(p, r, E4);
        p = float.MultiplyAddEstimate(p, r, E5);
        p = float.MultiplyAddEstimate(p, r * r, r + 1);
        int ni = (int)n, n1 = ni >> 1;
        return p * BitConverter.Int32BitsToSingle((n1 + 127) << 23) * BitConverter.Int32BitsToSingle((ni - n1 + 127) << 23);
    }

    /// <summary>The scalar tanh (same algorithm as the lanes).</summary>
    public static float Tanh(float x)
    {
        float ax = MathF.Abs(x);
        if (!(ax >= 0.625f)) // also NaN
        {
            float z = x * x;
            float p = float.MultiplyAddEstimate(float.MultiplyAddEstimate(float.MultiplyAddEstimate(float.MultiplyAddEstimate(T0, z, T1), z, T2), z, T3), z, T4);
            return float.MultiplyAddEstimate(p * z, x, x);
        }
        return MathF.CopySign(1 - 2 / (Exp(ax + ax) + 1), x);
    }

    /// <summary>d = e^x.</summary>
    public static void Exp(ReadOnlySpan<float> x, Span<float> d) => Map<ExpLanes>("FastMath.Exp", x, d);

    /// <summary>d = tanh(x).</summary>
    public static void Tanh(ReadOnlySpan<float> x, Span<float> d) => Map<TanhLanes>("FastMath.Tanh", x, d);

    /// <summary>d = 1/(1 + e^(−x)).</summary>
    public static void Sigmoid(ReadOnlySpan<float> x, Span<float> d) => Map<SigmoidLanes>("FastMath.Sigmoid", x, d);

    /// <summary>One function at every width and in scalar form (the operator-struct pattern: the JIT specializes
    /// <see cref="Map"/> per op and per width).</summary>
    private interface ILanes
    {
        static abstract TV Apply<TW, TV>(TV x) where TW : struct, ISimdFloat<TV> where TV : struct;
        static abstract float Apply(float x);
    }

    private struct ExpLanes : ILanes
    {
        public static TV Apply<TW, TV>(TV x) where TW : struct, ISimdFloat<TV> where TV : struct => Exp<TW, TV>(x);
        public static float Apply(float x) => Exp(x);
    }

    private struct TanhLanes : ILanes
    {
        public static TV Apply<TW, TV>(TV x) where TW : struct, ISimdFloat<TV> where TV : struct => Tanh<TW, TV>(x);
        public static float Apply(float x) => Tanh(x);
    }

    private struct SigmoidLanes : ILanes
    {
        public static TV Apply<TW, TV>(TV x) where TW : struct, ISimdFloat<TV> where TV : struct => Sigmoid<TW, TV>(x);
        public static float Apply(float x) => 1 / (1 + Exp(-x));
    }

    private static void Map<TOp>(string name, ReadOnlySpan<float> x, Span<float> d) where TOp : struct, ILanes
    {
        if (d.Length < x.Length) throw new ArgumentException($"{name}: destination ({d.Length}) shorter than source ({x.Length}).");
        int len = x.Length;
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float dr = ref MemoryMarshal.GetReference(d);
        int i = Vector512.IsHardwareAccelerated ? MapLanes<TOp, W512, Vector512<float>>(ref xr, ref dr, len)
            : Vector256.IsHardwareAccelerated ? MapLanes<TOp, W256, Vector256<float>>(ref xr, ref dr, len)
            : Vector128.IsHardwareAccelerated ? MapLanes<TOp, W128, Vector128<float>>(ref xr, ref dr, len)
            : 0;
        for (; i < len; i++) d[i] = TOp.Apply(x[i]);
    }

    /// <summary>Whole vectors of x through the op; returns where the scalar tail starts.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int MapLanes<TOp, TW, TV>(ref float xr, ref float dr, int len)
        where TOp : struct, ILanes where TW : struct, ISimdFloat<TV> where TV : struct
    {
        int i = 0, w = TW.Count;
        for (; i <= len - w; i += w) TW.Store(TOp.Apply<TW, TV>(TW.Load(ref xr, (nuint)i)), ref dr, (nuint)i);
        return i;
    }

    /// <summary>d = e^(x − shift), returning Σ d (the fused inner pass of softmax). x and d may be the same span.</summary>
    public static float ExpSubSum(ReadOnlySpan<float> x, float shift, Span<float> d)
    {
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float dr = ref MemoryMarshal.GetReference(d);
        int len = x.Length;
        if (Vector512.IsHardwareAccelerated && len >= 16) return ExpSubSumLanes<W512, Vector512<float>>(ref xr, shift, ref dr, len);
        if (Vector256.IsHardwareAccelerated && len >= 8) return ExpSubSumLanes<W256, Vector256<float>>(ref xr, shift, ref dr, len);
        if (Vector128.IsHardwareAccelerated && len >= 4) return ExpSubSumLanes<W128, Vector128<float>>(ref xr, shift, ref dr, len);
        float sum = 0;
        for (int i = 0; i < len; i++) { float e = Exp(x[i] - shift); d[i] = e; sum += e; }
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float ExpSubSumLanes<TW, TV>(ref float xr, float shift, ref float dr, int len) where TW : struct, ISimdFloat<TV> where TV : struct
    {
        int w = TW.Count, tail = len % w, i = 0;
        var sh = TW.Create(shift);
        // The tail as the last whole vector, computed before the body can overwrite its inputs (x may be d); its
        // lanes that the body also covers are stored again with the same values and left out of the sum.
        var eTail = Exp<TW, TV>(TW.Sub(TW.Load(ref xr, (nuint)(len - w)), sh));
        var acc = TW.Create(0f);
        for (; i <= len - w; i += w)
        {
            var e = Exp<TW, TV>(TW.Sub(TW.Load(ref xr, (nuint)i), sh));
            TW.Store(e, ref dr, (nuint)i);
            acc = TW.Add(acc, e);
        }
        if (tail != 0)
        {
            TW.Store(eTail, ref dr, (nuint)(len - w));
            acc = TW.Add(acc, TW.And(eTail, TW.LastLanes(tail)));
        }
        return TW.Sum(acc);
    }

    /// <summary>Σ e^(x − shift) without storing the terms (log-softmax, log-sum-exp).</summary>
    public static float SumExpSub(ReadOnlySpan<float> x, float shift)
    {
        ref float xr = ref MemoryMarshal.GetReference(x);
        int len = x.Length, i = 0;
        float sum = 0;
        if (Vector512.IsHardwareAccelerated) sum = SumExpSubLanes<W512, Vector512<float>>(ref xr, shift, len, ref i);
        else if (Vector256.IsHardwareAccelerated) sum = SumExpSubLanes<W256, Vector256<float>>(ref xr, shift, len, ref i);
        else if (Vector128.IsHardwareAccelerated) sum = SumExpSubLanes<W128, Vector128<float>>(ref xr, shift, len, ref i);
        for (; i < len; i++) sum += Exp(x[i] - shift);
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float SumExpSubLanes<TW, TV>(ref float xr, float shift, int len, ref int i) where TW : struct, ISimdFloat<TV> where TV : struct
    {
        int w = TW.Count;
        if (len < w) return 0;
        var acc = TW.Create(0f);
        var sh = TW.Create(shift);
        for (; i <= len - w; i += w) acc = TW.Add(acc, Exp<TW, TV>(TW.Sub(TW.Load(ref xr, (nuint)i), sh)));
        return TW.Sum(acc);
    }
}
