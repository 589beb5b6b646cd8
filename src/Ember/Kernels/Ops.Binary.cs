using System.Numerics;
using System.Numerics.Tensors;

namespace Ember.Kernels;

// Binary arithmetic operators. Each Vec* delegates to TensorPrimitives' vectorized span routines, which
// handle Vector512/256/128 dispatch and tails; Scalar is the same math for strided runs.

internal struct AddOp<T> : IBinaryOp<T, T> where T : unmanaged, INumber<T>
{
    public T Scalar(T a, T b) => a + b;
    public void Vec(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> d) => TensorPrimitives.Add(a, b, d);
    public void VecScalar(ReadOnlySpan<T> a, T b, Span<T> d) => TensorPrimitives.Add(a, b, d);
    public void ScalarVec(T a, ReadOnlySpan<T> b, Span<T> d) => TensorPrimitives.Add(b, a, d);
}

internal struct SubOp<T> : IBinaryOp<T, T> where T : unmanaged, INumber<T>
{
    public T Scalar(T a, T b) => a - b;
    public void Vec(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> d) => TensorPrimitives.Subtract(a, b, d);
    public void VecScalar(ReadOnlySpan<T> a, T b, Span<T> d) => TensorPrimitives.Subtract(a, b, d);
    public void ScalarVec(T a, ReadOnlySpan<T> b, Span<T> d) => TensorPrimitives.Subtract(a, b, d);
}

internal struct MulOp<T> : IBinaryOp<T, T> where T : unmanaged, INumber<T>
{
    public T Scalar(T a, T b) => a * b;
    public void Vec(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> d) => TensorPrimitives.Multiply(a, b, d);
    public void VecScalar(ReadOnlySpan<T> a, T b, Span<T> d) => TensorPrimitives.Multiply(a, b, d);
    public void ScalarVec(T a, ReadOnlySpan<T> b, Span<T> d) => TensorPrimitives.Multiply(b, a, d);
}

internal struct DivOp<T> : IBinaryOp<T, T> where T : unmanaged, INumber<T>
{
    public T Scalar(T a, T b) => a / b;
    public void Vec(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> d) => TensorPrimitives.Divide(a, b, d);
    public void VecScalar(ReadOnlySpan<T> a, T b, Span<T> d) => TensorPrimitives.Divide(a, b, d);
    public void ScalarVec(T a, ReadOnlySpan<T> b, Span<T> d) => TensorPrimitives.Divide(a, b, d);
}

/// <summary>Elementwise maximum; NaN propagates (like torch.maximum).</summary>
internal struct MaxOp<T> : IBinaryOp<T, T> where T : unmanaged, INumber<T>
{
    public T Scalar(T a, T b) => T.Max(a, b);
    public void Vec(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> d) => TensorPrimitives.Max(a, b, d);
    public void VecScalar(ReadOnlySpan<T> a, T b, Span<T> d) => TensorPrimitives.Max(a, b, d);
    public void ScalarVec(T a, ReadOnlySpan<T> b, Span<T> d) => TensorPrimitives.Max(b, a, d);
}

/// <summary>Elementwise minimum; NaN propagates (like torch.minimum).</summary>
internal struct MinOp<T> : IBinaryOp<T, T> where T : unmanaged, INumber<T>
{
    public T Scalar(T a, T b) => T.Min(a, b);
    public void Vec(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> d) => TensorPrimitives.Min(a, b, d);
    public void VecScalar(ReadOnlySpan<T> a, T b, Span<T> d) => TensorPrimitives.Min(a, b, d);
    public void ScalarVec(T a, ReadOnlySpan<T> b, Span<T> d) => TensorPrimitives.Min(b, a, d);
}

internal struct PowOp<T> : IBinaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public T Scalar(T a, T b) => T.Pow(a, b);
    public void Vec(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> d) => TensorPrimitives.Pow(a, b, d);
    public void VecScalar(ReadOnlySpan<T> a, T b, Span<T> d)
    {
        // Integer exponents are common (x², x³) and exact by repeated multiplication, as in PyTorch.
        if (b == T.CreateTruncating(2)) TensorPrimitives.Multiply(a, a, d);
        else if (b == T.One) a.CopyTo(d);
        else TensorPrimitives.Pow(a, b, d);
    }
    public void ScalarVec(T a, ReadOnlySpan<T> b, Span<T> d) => TensorPrimitives.Pow(a, b, d);
}

internal struct Atan2Op<T> : IBinaryOp<T, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public T Scalar(T a, T b) => T.Atan2(a, b);
    public void Vec(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> d) => TensorPrimitives.Atan2(a, b, d);
    public void VecScalar(ReadOnlySpan<T> a, T b, Span<T> d) => TensorPrimitives.Atan2(a, b, d);
    public void ScalarVec(T a, ReadOnlySpan<T> b, Span<T> d) => TensorPrimitives.Atan2(a, b, d);
}

internal enum CompareKind { Eq, Ne, Lt, Le, Gt, Ge }

/// <summary>Comparison producing bool.</summary>
internal struct CompareOp<T>(CompareKind kind) : IBinaryOp<T, bool> where T : unmanaged, INumber<T>
{
    public bool Scalar(T a, T b) => kind switch
    {
        CompareKind.Eq => a == b,
        CompareKind.Ne => a != b,
        CompareKind.Lt => a < b,
        CompareKind.Le => a <= b,
        CompareKind.Gt => a > b,
        _ => a >= b,
    };
    public void Vec(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<bool> d) { for (int i = 0; i < d.Length; i++) d[i] = Scalar(a[i], b[i]); }
    public void VecScalar(ReadOnlySpan<T> a, T b, Span<bool> d) { for (int i = 0; i < d.Length; i++) d[i] = Scalar(a[i], b); }
    public void ScalarVec(T a, ReadOnlySpan<T> b, Span<bool> d) { for (int i = 0; i < d.Length; i++) d[i] = Scalar(a, b[i]); }
}

internal enum LogicalKind { And, Or, Xor }

internal struct LogicalOp(LogicalKind kind) : IBinaryOp<bool, bool>
{
    public bool Scalar(bool a, bool b) => kind switch { LogicalKind.And => a & b, LogicalKind.Or => a | b, _ => a ^ b };
    public void Vec(ReadOnlySpan<bool> a, ReadOnlySpan<bool> b, Span<bool> d) { for (int i = 0; i < d.Length; i++) d[i] = Scalar(a[i], b[i]); }
    public void VecScalar(ReadOnlySpan<bool> a, bool b, Span<bool> d) { for (int i = 0; i < d.Length; i++) d[i] = Scalar(a[i], b); }
    public void ScalarVec(bool a, ReadOnlySpan<bool> b, Span<bool> d) { for (int i = 0; i < d.Length; i++) d[i] = Scalar(a, b[i]); }
}

/// <summary>Copy with broadcasting (b is the source; a is ignored). Used for Copy_, Contiguous and Expand materialization.</summary>
internal struct CopyOp<T> : IUnaryOp<T, T> where T : unmanaged
{
    public T Scalar(T x) => x;
    public void Vec(ReadOnlySpan<T> x, Span<T> d) => x.CopyTo(d);
}

/// <summary>dtype conversion.</summary>
internal struct ConvertOp<TIn, TOut> : IUnaryOp<TIn, TOut> where TIn : unmanaged where TOut : unmanaged
{
    public TOut Scalar(TIn x)
    {
        double v = typeof(TIn) == typeof(float) ? (float)(object)x
            : typeof(TIn) == typeof(double) ? (double)(object)x
            : typeof(TIn) == typeof(long) ? (long)(object)x
            : typeof(TIn) == typeof(bool) ? ((bool)(object)x ? 1 : 0)
            : typeof(TIn) == typeof(sbyte) ? (sbyte)(object)x
            : throw new NotSupportedException($"To: cannot convert from {typeof(TIn).Name}.");
        if (typeof(TOut) == typeof(float)) return (TOut)(object)(float)v;
        if (typeof(TOut) == typeof(double)) return (TOut)(object)v;
        if (typeof(TOut) == typeof(long)) return (TOut)(object)(long)v;
        if (typeof(TOut) == typeof(bool)) return (TOut)(object)(v != 0);
        if (typeof(TOut) == typeof(sbyte)) return (TOut)(object)(v is >= sbyte.MinValue and <= sbyte.MaxValue ? (sbyte)v
            : throw new OverflowException($"To: {v} does not fit in int8 (-128 … 127)."));
        if (typeof(TOut) == typeof(Complex64)) return (TOut)(object)new Complex64((float)v, 0);
        throw new NotSupportedException($"To: cannot convert to {typeof(TOut).Name}.");
    }

    public void Vec(ReadOnlySpan<TIn> x, Span<TOut> d)
    {
        if (typeof(TIn) == typeof(float) && typeof(TOut) == typeof(double))
        {
            TensorPrimitives.ConvertChecked(System.Runtime.InteropServices.MemoryMarshal.Cast<TIn, float>(x), System.Runtime.InteropServices.MemoryMarshal.Cast<TOut, double>(d));
            return;
        }
        if (typeof(TIn) == typeof(double) && typeof(TOut) == typeof(float))
        {
            TensorPrimitives.ConvertTruncating(System.Runtime.InteropServices.MemoryMarshal.Cast<TIn, double>(x), System.Runtime.InteropServices.MemoryMarshal.Cast<TOut, float>(d));
            return;
        }
        for (int i = 0; i < d.Length; i++) d[i] = Scalar(x[i]);
    }
}
