using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Ember.Kernels;

/// <summary>
/// The float32 vector operations Ember's width-generic kernels are written with: a kernel body is written once over
/// <typeparamref name="TV"/> and a width struct (<see cref="W512"/>, <see cref="W256"/>, <see cref="W128"/>), and the JIT
/// compiles one specialized copy per width (struct type arguments), so it costs what the hand-copied versions did.
/// .NET 10's own <c>ISimdVector</c> is not public, and it has no reinterpreting casts, which exp's exponent trick needs:
/// hence this small surface. <see cref="W128"/> is ARM64's AdvSimd and x86's SSE path; its multiply-add is fused where
/// the CPU has FMA and a multiply then an add where it has not (an emulated fused one costs 30× more).
/// </summary>
internal interface ISimdFloat<TV> where TV : struct
{
    /// <summary>Lanes per vector.</summary>
    static abstract int Count { get; }
    /// <summary>Every lane <paramref name="value"/>.</summary>
    static abstract TV Create(float value);
    /// <summary>Loads <see cref="Count"/> floats from <paramref name="source"/>[<paramref name="at"/>…].</summary>
    static abstract TV Load(ref float source, nuint at);
    /// <summary>Stores to <paramref name="destination"/>[<paramref name="at"/>…].</summary>
    static abstract void Store(TV value, ref float destination, nuint at);
    /// <summary>a + b.</summary>
    static abstract TV Add(TV a, TV b);
    /// <summary>a − b.</summary>
    static abstract TV Sub(TV a, TV b);
    /// <summary>a · b.</summary>
    static abstract TV Mul(TV a, TV b);
    /// <summary>a / b.</summary>
    static abstract TV Div(TV a, TV b);
    /// <summary>a · b + c (see the type's remarks on fusing).</summary>
    static abstract TV MulAdd(TV a, TV b, TV c);
    /// <summary>The lane minimum (platform NaN behaviour: callers restore NaN).</summary>
    static abstract TV MinNative(TV a, TV b);
    /// <summary>The lane maximum (platform NaN behaviour).</summary>
    static abstract TV MaxNative(TV a, TV b);
    /// <summary>|a|.</summary>
    static abstract TV Abs(TV a);
    /// <summary>|a| with the sign of <paramref name="sign"/>.</summary>
    static abstract TV CopySign(TV a, TV sign);
    /// <summary>Lanes of <paramref name="ifTrue"/> where <paramref name="mask"/> is set, else of <paramref name="ifFalse"/>.</summary>
    static abstract TV Select(TV mask, TV ifTrue, TV ifFalse);
    /// <summary>All bits set where a &lt; b.</summary>
    static abstract TV LessThan(TV a, TV b);
    /// <summary>All bits set where the lane is not NaN.</summary>
    static abstract TV NotNaN(TV a);
    /// <summary>All bits set in the last <paramref name="count"/> lanes.</summary>
    static abstract TV LastLanes(int count);
    /// <summary>a AND b, bitwise.</summary>
    static abstract TV And(TV a, TV b);
    /// <summary>a AND NOT b, bitwise.</summary>
    static abstract TV AndNot(TV a, TV b);
    /// <summary>a OR b, bitwise.</summary>
    static abstract TV Or(TV a, TV b);
    /// <summary>√a.</summary>
    static abstract TV Sqrt(TV a);
    /// <summary>The sum of the lanes.</summary>
    static abstract float Sum(TV a);
    /// <summary>Two powers of two whose product is 2ⁿ, where <paramref name="t"/> = n + 1.5·2²³ holds the integer n in
    /// its low mantissa bits (two, so that every n that leaves a finite or subnormal result works).</summary>
    static abstract void PowersOfTwo(TV t, out TV s1, out TV s2);
}

/// <summary>AVX-512 lanes (16 floats).</summary>
internal readonly struct W512 : ISimdFloat<Vector512<float>>
{
    public static int Count => 16;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Create(float value) => Vector512.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Load(ref float source, nuint at) => Vector512.LoadUnsafe(ref source, at);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector512<float> value, ref float destination, nuint at) => value.StoreUnsafe(ref destination, at);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Add(Vector512<float> a, Vector512<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Sub(Vector512<float> a, Vector512<float> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Mul(Vector512<float> a, Vector512<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Div(Vector512<float> a, Vector512<float> b) => a / b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> MulAdd(Vector512<float> a, Vector512<float> b, Vector512<float> c) => Vector512.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> MinNative(Vector512<float> a, Vector512<float> b) => Vector512.MinNative(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> MaxNative(Vector512<float> a, Vector512<float> b) => Vector512.MaxNative(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Abs(Vector512<float> a) => Vector512.Abs(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> CopySign(Vector512<float> a, Vector512<float> sign) => Vector512.CopySign(a, sign);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Select(Vector512<float> mask, Vector512<float> t, Vector512<float> f) => Vector512.ConditionalSelect(mask, t, f);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> LessThan(Vector512<float> a, Vector512<float> b) => Vector512.LessThan(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> NotNaN(Vector512<float> a) => Vector512.Equals(a, a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> LastLanes(int count) => Vector512.GreaterThanOrEqual(Vector512<int>.Indices, Vector512.Create(16 - count)).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> And(Vector512<float> a, Vector512<float> b) => Vector512.BitwiseAnd(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> AndNot(Vector512<float> a, Vector512<float> b) => Vector512.AndNot(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Or(Vector512<float> a, Vector512<float> b) => Vector512.BitwiseOr(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Sqrt(Vector512<float> a) => Vector512.Sqrt(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(Vector512<float> a) => Vector512.Sum(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void PowersOfTwo(Vector512<float> t, out Vector512<float> s1, out Vector512<float> s2)
    {
        var n = t.AsInt32() - Vector512.Create(0x4B400000);
        var n1 = n >> 1;
        s1 = ((n1 + Vector512.Create(127)) << 23).AsSingle();
        s2 = ((n - n1 + Vector512.Create(127)) << 23).AsSingle();
    }
}

/// <summary>AVX2 lanes (8 floats).</summary>
internal readonly struct W256 : ISimdFloat<Vector256<float>>
{
    public static int Count => 8;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Create(float value) => Vector256.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Load(ref float source, nuint at) => Vector256.LoadUnsafe(ref source, at);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector256<float> value, ref float destination, nuint at) => value.StoreUnsafe(ref destination, at);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Add(Vector256<float> a, Vector256<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Sub(Vector256<float> a, Vector256<float> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Mul(Vector256<float> a, Vector256<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Div(Vector256<float> a, Vector256<float> b) => a / b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> MulAdd(Vector256<float> a, Vector256<float> b, Vector256<float> c) => Vector256.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> MinNative(Vector256<float> a, Vector256<float> b) => Vector256.MinNative(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> MaxNative(Vector256<float> a, Vector256<float> b) => Vector256.MaxNative(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Abs(Vector256<float> a) => Vector256.Abs(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> CopySign(Vector256<float> a, Vector256<float> sign) => Vector256.CopySign(a, sign);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Select(Vector256<float> mask, Vector256<float> t, Vector256<float> f) => Vector256.ConditionalSelect(mask, t, f);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> LessThan(Vector256<float> a, Vector256<float> b) => Vector256.LessThan(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> NotNaN(Vector256<float> a) => Vector256.Equals(a, a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> LastLanes(int count) => Vector256.GreaterThanOrEqual(Vector256<int>.Indices, Vector256.Create(8 - count)).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> And(Vector256<float> a, Vector256<float> b) => Vector256.BitwiseAnd(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> AndNot(Vector256<float> a, Vector256<float> b) => Vector256.AndNot(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Or(Vector256<float> a, Vector256<float> b) => Vector256.BitwiseOr(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Sqrt(Vector256<float> a) => Vector256.Sqrt(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(Vector256<float> a) => Vector256.Sum(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void PowersOfTwo(Vector256<float> t, out Vector256<float> s1, out Vector256<float> s2)
    {
        var n = t.AsInt32() - Vector256.Create(0x4B400000);
        var n1 = n >> 1;
        s1 = ((n1 + Vector256.Create(127)) << 23).AsSingle();
        s2 = ((n - n1 + Vector256.Create(127)) << 23).AsSingle();
    }
}

/// <summary>128-bit lanes (4 floats): ARM64 AdvSimd, x86 SSE.</summary>
internal readonly struct W128 : ISimdFloat<Vector128<float>>
{
    public static int Count => 4;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Create(float value) => Vector128.Create(value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Load(ref float source, nuint at) => Vector128.LoadUnsafe(ref source, at);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector128<float> value, ref float destination, nuint at) => value.StoreUnsafe(ref destination, at);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Add(Vector128<float> a, Vector128<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Sub(Vector128<float> a, Vector128<float> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Mul(Vector128<float> a, Vector128<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Div(Vector128<float> a, Vector128<float> b) => a / b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> MulAdd(Vector128<float> a, Vector128<float> b, Vector128<float> c) => Vector128.MultiplyAddEstimate(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> MinNative(Vector128<float> a, Vector128<float> b) => Vector128.MinNative(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> MaxNative(Vector128<float> a, Vector128<float> b) => Vector128.MaxNative(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Abs(Vector128<float> a) => Vector128.Abs(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> CopySign(Vector128<float> a, Vector128<float> sign) => Vector128.CopySign(a, sign);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Select(Vector128<float> mask, Vector128<float> t, Vector128<float> f) => Vector128.ConditionalSelect(mask, t, f);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> LessThan(Vector128<float> a, Vector128<float> b) => Vector128.LessThan(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> NotNaN(Vector128<float> a) => Vector128.Equals(a, a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> LastLanes(int count) => Vector128.GreaterThanOrEqual(Vector128<int>.Indices, Vector128.Create(4 - count)).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> And(Vector128<float> a, Vector128<float> b) => Vector128.BitwiseAnd(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> AndNot(Vector128<float> a, Vector128<float> b) => Vector128.AndNot(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Or(Vector128<float> a, Vector128<float> b) => Vector128.BitwiseOr(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Sqrt(Vector128<float> a) => Vector128.Sqrt(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(Vector128<float> a) => Vector128.Sum(a);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void PowersOfTwo(Vector128<float> t, out Vector128<float> s1, out Vector128<float> s2)
    {
        var n = t.AsInt32() - Vector128.Create(0x4B400000);
        var n1 = n >> 1;
        s1 = ((n1 + Vector128.Create(127)) << 23).AsSingle();
        s2 = ((n - n1 + Vector128.Create(127)) << 23).AsSingle();
    }
}
