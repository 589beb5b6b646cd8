using System.Runtime.Intrinsics;
using System.Numerics;
using System.Numerics.Tensors;

namespace Ember.Kernels;

internal struct NegOp<T> : IUnaryOp<T, T> where T : unmanaged, INumber<T>
{
    public T Scalar(T x) => -x;
    public void Vec(ReadOnlySpan<T> x, Span<T> d) => TensorPrimitives.Negate(x, d);
}

internal struct ExpOp<T> : IUnaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public T Scalar(T x) => T.Exp(x);
    public void Vec(ReadOnlySpan<T> x, Span<T> d) => TensorPrimitives.Exp(x, d);
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
    public T Scalar(T x) => T.Tanh(x);
    public void Vec(ReadOnlySpan<T> x, Span<T> d) => TensorPrimitives.Tanh(x, d);
}

internal struct SigmoidOp<T> : IUnaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public T Scalar(T x) => T.One / (T.One + T.Exp(-x));
    public void Vec(ReadOnlySpan<T> x, Span<T> d) => TensorPrimitives.Sigmoid(x, d);
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

internal struct ErfOp<T> : IUnaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public T Scalar(T x) => typeof(T) == typeof(float)
        ? (T)(object)SpecialFunctions.Erf((float)(object)x)
        : (T)(object)SpecialFunctions.Erf((double)(object)x);
    public void Vec(ReadOnlySpan<T> x, Span<T> d) { for (int i = 0; i < d.Length; i++) d[i] = Scalar(x[i]); }
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
        // d = g − g·y² = FMA(−g·y, y, g)
        TensorPrimitives.Multiply(g, y, d);
        TensorPrimitives.Negate(d, d);
        TensorPrimitives.FusedMultiplyAdd(d, y, g, d);
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
