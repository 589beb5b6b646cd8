using System.Runtime.Intrinsics;
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace Ember.Kernels;

internal struct NegOp<T> : IUnaryOp<T, T> where T : unmanaged, INumber<T>
{
    public T Scalar(T x) => -x;
    public void Vec(ReadOnlySpan<T> x, Span<T> d) => TensorPrimitives.Negate(x, d);
}

internal struct ExpOp<T> : IUnaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public T Scalar(T x) => typeof(T) == typeof(float) ? (T)(object)FastMath.Exp((float)(object)x) : T.Exp(x);
    public void Vec(ReadOnlySpan<T> x, Span<T> d)
    {
        if (typeof(T) == typeof(float)) FastMath.Exp(MemoryMarshal.Cast<T, float>(x), MemoryMarshal.Cast<T, float>(d));
        else TensorPrimitives.Exp(x, d);
    }
}

internal struct LogOp<T> : IUnaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public T Scalar(T x) => T.Log(x);
    public void Vec(ReadOnlySpan<T> x, Span<T> d) => TensorPrimitives.Log(x, d);
}

internal struct SqrtOp<T> : IUnaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public T Scalar(T x) => T.Sqrt(x);
    public void Vec(ReadOnlySpan<T> x, Span<T> d) => TensorPrimitives.Sqrt(x, d);
}

internal struct RsqrtOp<T> : IUnaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public T Scalar(T x) => T.One / T.Sqrt(x);
    public void Vec(ReadOnlySpan<T> x, Span<T> d)
    {
        // Full-precision 1/sqrt (TensorPrimitives.ReciprocalSqrt may use the ~12-bit hardware estimate).
        TensorPrimitives.Sqrt(x, d);
        TensorPrimitives.Divide(T.One, d, d);
    }
}

internal struct AbsOp<T> : IUnaryOp<T, T> where T : unmanaged, INumber<T>
{
    public T Scalar(T x) => T.Abs(x);
    public void Vec(ReadOnlySpan<T> x, Span<T> d) => TensorPrimitives.Abs(x, d);
}

internal struct SignOp<T> : IUnaryOp<T, T> where T : unmanaged, INumber<T>
{
    public T Scalar(T x) => T.IsNaN(x) ? x : x > T.Zero ? T.One : x < T.Zero ? -T.One : T.Zero;
    public void Vec(ReadOnlySpan<T> x, Span<T> d) { for (int i = 0; i < d.Length; i++) d[i] = Scalar(x[i]); }
}

internal struct TanhOp<T> : IUnaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public T Scalar(T x) => typeof(T) == typeof(float) ? (T)(object)FastMath.Tanh((float)(object)x) : T.Tanh(x);
    public void Vec(ReadOnlySpan<T> x, Span<T> d)
    {
        if (typeof(T) == typeof(float)) FastMath.Tanh(MemoryMarshal.Cast<T, float>(x), MemoryMarshal.Cast<T, float>(d));
        else TensorPrimitives.Tanh(x, d);
    }
}

internal struct SigmoidOp<T> : IUnaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public T Scalar(T x) => typeof(T) == typeof(float) ? (T)(object)(1 / (1 + FastMath.Exp(-(float)(object)x))) : T.One / (T.One + T.Exp(-x));
    public void Vec(ReadOnlySpan<T> x, Span<T> d)
    {
        if (typeof(T) == typeof(float)) FastMath.Sigmoid(MemoryMarshal.Cast<T, float>(x), MemoryMarshal.Cast<T, float>(d));
        else TensorPrimitives.Sigmoid(x, d);
    }
}

internal struct SinOp<T> : IUnaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public T Scalar(T x) => T.Sin(x);
    public void Vec(ReadOnlySpan<T> x, Span<T> d) => TensorPrimitives.Sin(x, d);
}

internal struct CosOp<T> : IUnaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public T Scalar(T x) => T.Cos(x);
    public void Vec(ReadOnlySpan<T> x, Span<T> d) => TensorPrimitives.Cos(x, d);
}

/// <summary>ln|Γ(x)|, ψ(x) or ψ₁(x) (which = 0, 1, 2), computed in double for either float width.</summary>
internal struct GammaFamilyOp<T>(int which) : IUnaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public T Scalar(T x)
    {
        double v = double.CreateTruncating(x);
        return T.CreateTruncating(which switch
        {
            0 => SpecialFunctions.Lgamma(v),
            1 => SpecialFunctions.Digamma(v),
            _ => SpecialFunctions.Trigamma(v),
        });
    }

    public void Vec(ReadOnlySpan<T> x, Span<T> d) { for (int i = 0; i < d.Length; i++) d[i] = Scalar(x[i]); }
}

internal struct ErfOp<T> : IUnaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public T Scalar(T x) => typeof(T) == typeof(float)
        ? (T)(object)SpecialFunctions.Erf((float)(object)x)
        : (T)(object)SpecialFunctions.Erf((double)(object)x);
    public void Vec(ReadOnlySpan<T> x, Span<T> d)
    {
        if (typeof(T) == typeof(float))
            SpecialFunctions.Erf(System.Runtime.InteropServices.MemoryMarshal.Cast<T, float>(x), System.Runtime.InteropServices.MemoryMarshal.Cast<T, float>(d));
        else
            for (int i = 0; i < d.Length; i++) d[i] = Scalar(x[i]);
    }
}

/// <summary>clamp(x, lo, hi); either bound may be absent (±∞).</summary>
internal struct ClampOp<T>(T lo, T hi) : IUnaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public T Scalar(T x) => T.IsNaN(x) ? x : T.Min(T.Max(x, lo), hi);
    public void Vec(ReadOnlySpan<T> x, Span<T> d)
    {
        TensorPrimitives.Max(x, lo, d);
        TensorPrimitives.Min(d, hi, d);
    }
}

internal struct ReluOp<T> : IUnaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public T Scalar(T x) => x > T.Zero ? x : T.IsNaN(x) ? x : T.Zero;
    public void Vec(ReadOnlySpan<T> x, Span<T> d) => TensorPrimitives.Max(x, T.Zero, d);
}

internal struct FillOp<T>(T value) : IUnaryOp<T, T> where T : unmanaged
{
    public T Scalar(T x) => value;
    public void Vec(ReadOnlySpan<T> x, Span<T> d) => d.Fill(value);
}

internal struct LogicalNotOp : IUnaryOp<bool, bool>
{
    public bool Scalar(bool x) => !x;
    public void Vec(ReadOnlySpan<bool> x, Span<bool> d) { for (int i = 0; i < d.Length; i++) d[i] = !x[i]; }
}

// ---- Fused backward rules: one pass instead of three temporaries on the training hot path. ----

/// <summary>ReLU backward: d = g where x &gt; 0, else 0 (a = g, b = x).</summary>
internal struct ReluBackwardOp<T> : IBinaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public T Scalar(T g, T x) => x > T.Zero ? g : T.Zero;
    public void Vec(ReadOnlySpan<T> g, ReadOnlySpan<T> x, Span<T> d)
    {
        int i = 0;
        if (System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated)
        {
            int n = System.Runtime.Intrinsics.Vector512<T>.Count;
            for (; i <= d.Length - n; i += n)
            {
                var vx = System.Runtime.Intrinsics.Vector512.Create(x.Slice(i, n));
                var vg = System.Runtime.Intrinsics.Vector512.Create(g.Slice(i, n));
                var mask = System.Runtime.Intrinsics.Vector512.GreaterThan(vx, System.Runtime.Intrinsics.Vector512<T>.Zero);
                System.Runtime.Intrinsics.Vector512.BitwiseAnd(vg, mask).CopyTo(d.Slice(i, n));
            }
        }
        else if (System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated)
        {
            int n = System.Runtime.Intrinsics.Vector256<T>.Count;
            for (; i <= d.Length - n; i += n)
            {
                var vx = System.Runtime.Intrinsics.Vector256.Create(x.Slice(i, n));
                var vg = System.Runtime.Intrinsics.Vector256.Create(g.Slice(i, n));
                var mask = System.Runtime.Intrinsics.Vector256.GreaterThan(vx, System.Runtime.Intrinsics.Vector256<T>.Zero);
                System.Runtime.Intrinsics.Vector256.BitwiseAnd(vg, mask).CopyTo(d.Slice(i, n));
            }
        }
        else if (System.Runtime.Intrinsics.Vector128.IsHardwareAccelerated)
        {
            int n = System.Runtime.Intrinsics.Vector128<T>.Count;
            for (; i <= d.Length - n; i += n)
            {
                var vx = System.Runtime.Intrinsics.Vector128.Create(x.Slice(i, n));
                var vg = System.Runtime.Intrinsics.Vector128.Create(g.Slice(i, n));
                var mask = System.Runtime.Intrinsics.Vector128.GreaterThan(vx, System.Runtime.Intrinsics.Vector128<T>.Zero);
                System.Runtime.Intrinsics.Vector128.BitwiseAnd(vg, mask).CopyTo(d.Slice(i, n));
            }
        }
        for (; i < d.Length; i++) d[i] = Scalar(g[i], x[i]);   // tail, and the portable path
    }
    public void VecScalar(ReadOnlySpan<T> g, T x, Span<T> d) { for (int i = 0; i < d.Length; i++) d[i] = Scalar(g[i], x); }
    public void ScalarVec(T g, ReadOnlySpan<T> x, Span<T> d) { for (int i = 0; i < d.Length; i++) d[i] = Scalar(g, x[i]); }
}

/// <summary>tanh backward from the output y: d = g·(1 − y²) (a = g, b = y).</summary>
internal struct TanhBackwardOp<T> : IBinaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public T Scalar(T g, T y) => g * (T.One - y * y);
    public void Vec(ReadOnlySpan<T> g, ReadOnlySpan<T> y, Span<T> d)
    {
        // d = g·(1 − y²), in chunks through a stack temporary: d may be g itself (a donated gradient).
        Span<T> t = stackalloc T[256];
        for (int start = 0; start < d.Length; start += t.Length)
        {
            int n = Math.Min(t.Length, d.Length - start);
            var ys = y.Slice(start, n);
            var tn = t[..n];
            TensorPrimitives.Multiply(ys, ys, tn);
            TensorPrimitives.Subtract(T.One, tn, tn);
            TensorPrimitives.Multiply(g.Slice(start, n), tn, d.Slice(start, n));
        }
    }
    public void VecScalar(ReadOnlySpan<T> g, T y, Span<T> d) => TensorPrimitives.Multiply(g, T.One - y * y, d);
    public void ScalarVec(T g, ReadOnlySpan<T> y, Span<T> d) { for (int i = 0; i < d.Length; i++) d[i] = Scalar(g, y[i]); }
}

/// <summary>sigmoid backward from the output y: d = g·y·(1 − y) (a = g, b = y).</summary>
internal struct SigmoidBackwardOp<T> : IBinaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public T Scalar(T g, T y) => g * y * (T.One - y);
    public void Vec(ReadOnlySpan<T> g, ReadOnlySpan<T> y, Span<T> d) { for (int i = 0; i < d.Length; i++) d[i] = Scalar(g[i], y[i]); }
    public void VecScalar(ReadOnlySpan<T> g, T y, Span<T> d) => TensorPrimitives.Multiply(g, y * (T.One - y), d);
    public void ScalarVec(T g, ReadOnlySpan<T> y, Span<T> d) { for (int i = 0; i < d.Length; i++) d[i] = Scalar(g, y[i]); }
}

/// <summary>GELU on float32, fused: exact x·Φ(x) = ½x(1 + erf(x/√2)), or the tanh form
/// ½x(1 + tanh(√(2/π)(x + 0.044715x³))). Equals the composed float64 definition in Functional.Gelu.</summary>
internal struct GeluOp(bool tanh) : IUnaryOp<float, float>
{
    internal const float K = 0.7978845608028654f, C = 0.044715f, InvSqrt2 = 0.7071067811865476f;

    public float Scalar(float x)
    {
        if (tanh) return 0.5f * x * (1 + FastMath.Tanh(K * (x + C * x * x * x)));
        return 0.5f * x * (1 + SpecialFunctions.Erf(x * InvSqrt2));
    }

    public void Vec(ReadOnlySpan<float> x, Span<float> d)
    {
        if (!tanh && Vector512.IsHardwareAccelerated)
        {
            // One pass, 16 lanes at a time: ½x(1 + erf(x/√2)).
            int i = 0;
            var half = Vector512.Create(0.5f);
            for (; i <= x.Length - 16; i += 16)
            {
                var v = Vector512.Create(x.Slice(i, 16));
                (half * v * (Vector512<float>.One + SpecialFunctions.ErfAbs(v * Vector512.Create(InvSqrt2)))).CopyTo(d.Slice(i, 16));
            }
            for (; i < x.Length; i++) d[i] = Scalar(x[i]);
            return;
        }
        // The same one pass at 8 or 4 lanes (AVX2, 128-bit): span passes would widen erf to double lanes.
        if (!tanh && Vector256.IsHardwareAccelerated) { ExactLanes<W256, Vector256<float>>(x, d); return; }
        if (!tanh && Vector128.IsHardwareAccelerated) { ExactLanes<W128, Vector128<float>>(x, d); return; }
        // Blocks of 1,024 keep the several passes in L1 instead of streaming the whole tensor through memory each time.
        for (int start = 0; start < d.Length; start += 1024)
        {
            int n = Math.Min(1024, d.Length - start);
            var xs = x.Slice(start, n);
            var ds = d.Slice(start, n);
            if (tanh)
            {
                TensorPrimitives.Multiply(xs, xs, ds);
                TensorPrimitives.Multiply(ds, xs, ds);                 // x³
                TensorPrimitives.FusedMultiplyAdd(ds, C, xs, ds);      // x + c·x³
                TensorPrimitives.Multiply(ds, K, ds);
                FastMath.Tanh(ds, ds);
            }
            else SpecialFunctions.Erf(xs, ds, InvSqrt2);
            TensorPrimitives.Add(ds, 1f, ds);
            TensorPrimitives.Multiply(ds, xs, ds);
            TensorPrimitives.Multiply(ds, 0.5f, ds);
        }
    }

    /// <summary>½x(1 + erf(x/√2)) over whole vectors of <typeparamref name="TW"/>'s width, the tail by <see cref="Scalar"/>.</summary>
    private void ExactLanes<TW, TV>(ReadOnlySpan<float> x, Span<float> d) where TW : struct, ISimdFloat<TV> where TV : struct
    {
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float dr = ref MemoryMarshal.GetReference(d);
        int i = 0, w = TW.Count;
        for (; i <= x.Length - w; i += w)
        {
            var v = TW.Load(ref xr, (nuint)i);
            var u = TW.Mul(v, TW.Create(InvSqrt2));
            var z = TW.Abs(u);
            var erf = SpecialFunctions.ErfAbs<TW, TV>(u, z, FastMath.Exp<TW, TV>(TW.Sub(TW.Create(0f), TW.Mul(z, z))));
            TW.Store(TW.Mul(TW.Mul(TW.Create(0.5f), v), TW.Add(TW.Create(1f), erf)), ref dr, (nuint)i);
        }
        for (; i < x.Length; i++) d[i] = Scalar(x[i]);
    }
}

/// <summary>GELU backward on float32 (a = g, b = x): exact d/dx = Φ(x) + x·φ(x), φ(x) = e^(−x²/2)/√(2π);
/// tanh form d/dx = ½(1 + th) + ½x·sech²(u)·√(2/π)(1 + 3·0.044715x²), u = √(2/π)(x + 0.044715x³), th = tanh(u).</summary>
internal struct GeluBackwardOp(bool tanh) : IBinaryOp<float, float>
{
    private const float InvSqrt2Pi = 0.3989422804014327f;

    public float Scalar(float g, float x)
    {
        if (tanh)
        {
            // 1 − tanh²(u) = sech²(u) = 4s/(1 + s)², s = e^(−2|u|): no cancellation as tanh(u) → ±1.
            float u = GeluOp.K * (x + GeluOp.C * x * x * x);
            float s = FastMath.Exp(-2 * MathF.Abs(u));
            float sech2 = 4 * s / ((1 + s) * (1 + s));
            return g * (0.5f * (1 + FastMath.Tanh(u)) + 0.5f * x * sech2 * GeluOp.K * (1 + 3 * GeluOp.C * x * x));
        }
        float cdf = 0.5f * (1 + SpecialFunctions.Erf(x * GeluOp.InvSqrt2));
        return g * (cdf + x * FastMath.Exp(-0.5f * x * x) * InvSqrt2Pi);
    }

    public void Vec(ReadOnlySpan<float> g, ReadOnlySpan<float> x, Span<float> d)
    {
        if (!tanh && Vector512.IsHardwareAccelerated)
        {
            // One pass: g·(Φ(x) + x·φ(x)); erf's exp(−z²) at z = |x|/√2 is φ's exp(−x²/2): computed once.
            int i = 0;
            var half = Vector512.Create(0.5f);
            for (; i <= x.Length - 16; i += 16)
            {
                var v = Vector512.Create(x.Slice(i, 16));
                var u = v * Vector512.Create(GeluOp.InvSqrt2);
                var z = Vector512.Abs(u);
                var e = FastMath.Exp(-(z * z));
                var cdf = half * (Vector512<float>.One + SpecialFunctions.ErfAbs(u, z, e));
                var pdf = e * Vector512.Create(InvSqrt2Pi);
                (Vector512.Create(g.Slice(i, 16)) * Vector512.FusedMultiplyAdd(v, pdf, cdf)).CopyTo(d.Slice(i, 16));
            }
            for (; i < x.Length; i++) d[i] = Scalar(g[i], x[i]);
            return;
        }
        if (!tanh && Vector256.IsHardwareAccelerated) { ExactLanes<W256, Vector256<float>>(g, x, d); return; }
        if (!tanh && Vector128.IsHardwareAccelerated) { ExactLanes<W128, Vector128<float>>(g, x, d); return; }
        // Chunks keep the temporaries on the stack.
        Span<float> t1 = stackalloc float[512];
        Span<float> t2 = stackalloc float[512];
        Span<float> t3 = stackalloc float[512];
        Span<float> t4 = stackalloc float[512];   // not d: d may be g itself (a donated gradient), read at the end
        for (int start = 0; start < d.Length; start += 512)
        {
            int n = Math.Min(512, d.Length - start);
            var xs = x.Slice(start, n);
            var a = t1[..n];
            var b = t2[..n];
            if (tanh)
            {
                var s = t3[..n];
                TensorPrimitives.Multiply(xs, xs, b);                        // x²
                TensorPrimitives.Multiply(b, xs, a);                         // x³
                TensorPrimitives.FusedMultiplyAdd(a, GeluOp.C, xs, a);       // x + c·x³
                TensorPrimitives.Multiply(a, GeluOp.K, a);                   // u
                TensorPrimitives.Abs(a, s);
                TensorPrimitives.Multiply(s, -2f, s);
                FastMath.Exp(s, s);                                          // s = e^(−2|u|)
                var sech2 = t4[..n];
                TensorPrimitives.Add(s, 1f, sech2);
                TensorPrimitives.Multiply(sech2, sech2, sech2);
                TensorPrimitives.Divide(s, sech2, sech2);
                TensorPrimitives.Multiply(sech2, 4f, sech2);                 // sech²(u) = 1 − tanh²(u), without cancellation
                FastMath.Tanh(a, a);                                         // th
                TensorPrimitives.Multiply(b, 3 * GeluOp.C, b);
                TensorPrimitives.Add(b, 1f, b);
                TensorPrimitives.Multiply(b, GeluOp.K * 0.5f, b);
                TensorPrimitives.Multiply(b, xs, b);                         // ½x·k(1 + 3c·x²)
                TensorPrimitives.Multiply(b, sech2, b);
                TensorPrimitives.Add(a, 1f, a);
                TensorPrimitives.Multiply(a, 0.5f, a);                       // ½(1 + th)
            }
            else
            {
                SpecialFunctions.Erf(xs, a, GeluOp.InvSqrt2);
                TensorPrimitives.Add(a, 1f, a);
                TensorPrimitives.Multiply(a, 0.5f, a);                       // Φ(x)
                TensorPrimitives.Multiply(xs, xs, b);
                TensorPrimitives.Multiply(b, -0.5f, b);
                FastMath.Exp(b, b);
                TensorPrimitives.Multiply(b, xs, b);
                TensorPrimitives.Multiply(b, InvSqrt2Pi, b);                 // x·φ(x)
            }
            TensorPrimitives.Add(a, b, a);
            TensorPrimitives.Multiply(g.Slice(start, n), a, d.Slice(start, n));
        }
    }

    public void VecScalar(ReadOnlySpan<float> g, float x, Span<float> d) => TensorPrimitives.Multiply(g, Scalar(1, x), d);
    public void ScalarVec(float g, ReadOnlySpan<float> x, Span<float> d) { for (int i = 0; i < d.Length; i++) d[i] = Scalar(g, x[i]); }

    /// <summary>g·(Φ(x) + x·φ(x)) over whole vectors of <typeparamref name="TW"/>'s width (erf's exp(−z²) is φ's), the
    /// tail by <see cref="Scalar"/>.</summary>
    private void ExactLanes<TW, TV>(ReadOnlySpan<float> g, ReadOnlySpan<float> x, Span<float> d) where TW : struct, ISimdFloat<TV> where TV : struct
    {
        ref float gr = ref MemoryMarshal.GetReference(g);
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float dr = ref MemoryMarshal.GetReference(d);
        int i = 0, w = TW.Count;
        for (; i <= x.Length - w; i += w)
        {
            var v = TW.Load(ref xr, (nuint)i);
            var u = TW.Mul(v, TW.Create(GeluOp.InvSqrt2));
            var z = TW.Abs(u);
            var e = FastMath.Exp<TW, TV>(TW.Sub(TW.Create(0f), TW.Mul(z, z)));
            var cdf = TW.Mul(TW.Create(0.5f), TW.Add(TW.Create(1f), SpecialFunctions.ErfAbs<TW, TV>(u, z, e)));
            var pdf = TW.Mul(e, TW.Create(InvSqrt2Pi));
            TW.Store(TW.Mul(TW.Load(ref gr, (nuint)i), TW.MulAdd(v, pdf, cdf)), ref dr, (nuint)i);
        }
        for (; i < x.Length; i++) d[i] = Scalar(g[i], x[i]);
    }
}
