using Ember.Kernels;

namespace Ember;

public sealed partial class Tensor
{
    /// <summary>Seeds the default generator (<c>torch.manual_seed</c>).</summary>
    public static void ManualSeed(ulong seed) => Generator.Default.ManualSeed(seed);

    private static int[] CheckedShape(string op, int[] shape)
    {
        ShapeUtil.CheckShape(op, shape);
        return (int[])shape.Clone();
    }

    /// <summary>A tensor of zeros.</summary>
    public static Tensor Zeros(int[] shape, DType dtype = DType.Float32, bool requiresGrad = false)
        => Empty(dtype, CheckedShape("Zeros", shape), zero: true).RequiresGrad_(requiresGrad);

    /// <summary>A float32 tensor of zeros.</summary>
    public static Tensor Zeros(params int[] shape) => Zeros(shape, DType.Float32);

    /// <summary>A tensor of ones.</summary>
    public static Tensor Ones(int[] shape, DType dtype = DType.Float32, bool requiresGrad = false)
        => Full(shape, 1.0, dtype, requiresGrad);

    /// <summary>A float32 tensor of ones.</summary>
    public static Tensor Ones(params int[] shape) => Ones(shape, DType.Float32);

    /// <summary>A tensor filled with <paramref name="value"/>.</summary>
    public static Tensor Full(int[] shape, double value, DType dtype = DType.Float32, bool requiresGrad = false)
    {
        var t = Empty(dtype, CheckedShape("Full", shape));
        t.FillRaw(value);
        return t.RequiresGrad_(requiresGrad);
    }

    /// <summary>Zeros with the shape and dtype of <paramref name="t"/>.</summary>
    public static Tensor ZerosLike(Tensor t) => Empty(t.DType, t._shape, zero: true);

    /// <summary>Ones with the shape and dtype of <paramref name="t"/>.</summary>
    public static Tensor OnesLike(Tensor t) => Full(t._shape, 1.0, t.DType);

    /// <summary><paramref name="value"/> everywhere, with the shape and dtype of <paramref name="t"/>.</summary>
    public static Tensor FullLike(Tensor t, double value) => Full(t._shape, value, t.DType);

    /// <summary>A 0-dimensional tensor holding one value.</summary>
    public static Tensor Scalar(double value, DType dtype = DType.Float32) => Full([], value, dtype);

    internal void FillRaw(double value)
    {
        switch (DType)
        {
            case DType.Float32: Elementwise.UnaryInto<float, float, FillOp<float>>(new((float)value), this, this); break;
            case DType.Float64: Elementwise.UnaryInto<double, double, FillOp<double>>(new(value), this, this); break;
            case DType.Int64: Elementwise.UnaryInto<long, long, FillOp<long>>(new((long)value), this, this); break;
            case DType.Bool: Elementwise.UnaryInto<bool, bool, FillOp<bool>>(new(value != 0), this, this); break;
            case DType.Int8: Elementwise.UnaryInto<sbyte, sbyte, FillOp<sbyte>>(new(checked((sbyte)value)), this, this); break;
            case DType.Complex64: Elementwise.UnaryInto<Complex64, Complex64, FillOp<Complex64>>(new(new((float)value, 0)), this, this); break;
            case DType.Complex128: Elementwise.UnaryInto<System.Numerics.Complex, System.Numerics.Complex, FillOp<System.Numerics.Complex>>(new(new(value, 0)), this, this); break;
        }
        MarkModified();
    }

    /// <summary>Values start, start+step, … below end (<c>torch.arange</c>).</summary>
    public static Tensor Arange(double start, double end, double step = 1, DType dtype = DType.Float32)
    {
        if (step == 0 || double.IsNaN(step)) throw new ArgumentException($"Arange: step must be nonzero, got {step}.");
        if ((end - start) / step < 0) throw new ArgumentException($"Arange: the range [{start}, {end}) with step {step} is empty in the wrong direction.");
        int n = (int)Math.Ceiling((end - start) / step);
        var t = Empty(dtype, [n]);
        switch (dtype)
        {
            case DType.Float32: { var d = t.Data<float>(); for (int i = 0; i < n; i++) d[i] = (float)(start + i * step); break; }
            case DType.Float64: { var d = t.Data<double>(); for (int i = 0; i < n; i++) d[i] = start + i * step; break; }
            case DType.Int64: { var d = t.Data<long>(); for (int i = 0; i < n; i++) d[i] = (long)(start + i * step); break; }
            default: throw new NotSupportedException($"Arange: dtype {dtype.Name()} is not supported.");
        }
        return t;
    }

    /// <summary>0, 1, …, up to (not including) <paramref name="end"/>.</summary>
    public static Tensor Arange(double end, DType dtype = DType.Float32) => Arange(0, end, 1, dtype);

    /// <summary><paramref name="steps"/> evenly spaced values from start to end inclusive.</summary>
    public static Tensor Linspace(double start, double end, int steps, DType dtype = DType.Float32)
    {
        if (steps < 0) throw new ArgumentException($"Linspace: steps must be non-negative, got {steps}.");
        var v = new double[steps];
        double step = steps > 1 ? (end - start) / (steps - 1) : 0;
        // Fill from both ends, as PyTorch does, so the endpoint is exact.
        int half = steps / 2;
        for (int i = 0; i < steps; i++) v[i] = i < half ? start + i * step : end - (steps - 1 - i) * step;
        return FromArray(v, steps).To(dtype);
    }

    /// <summary>Identity matrix of n rows and m (default n) columns.</summary>
    public static Tensor Eye(int n, int? m = null, DType dtype = DType.Float32)
    {
        int cols = m ?? n;
        var t = Zeros([n, cols], dtype);
        for (int i = 0; i < Math.Min(n, cols); i++) t.SetItem(1.0, i, i);
        return t;
    }

    /// <summary>Uniform samples in [0, 1).</summary>
    public static Tensor Rand(int[] shape, DType dtype = DType.Float32, Generator? generator = null, bool requiresGrad = false)
    {
        var g = generator ?? Generator.Default;
        var t = Empty(dtype, CheckedShape("Rand", shape));
        switch (dtype)
        {
            case DType.Float32: { var d = t.Data<float>(); for (int i = 0; i < d.Length; i++) d[i] = g.NextSingle(); break; }
            case DType.Float64: { var d = t.Data<double>(); for (int i = 0; i < d.Length; i++) d[i] = g.NextDouble(); break; }
            default: throw new NotSupportedException($"Rand: dtype {dtype.Name()} is not a floating type.");
        }
        return t.RequiresGrad_(requiresGrad);
    }

    /// <summary>Float32 uniform samples in [0, 1) from <see cref="Generator.Default"/>.</summary>
    public static Tensor Rand(params int[] shape) => Rand(shape, DType.Float32);

    /// <summary>Standard normal samples.</summary>
    public static Tensor Randn(int[] shape, DType dtype = DType.Float32, Generator? generator = null, bool requiresGrad = false)
    {
        if (dtype.IsComplex()) return RandnComplex(CheckedShape("Randn", shape), dtype, generator).RequiresGrad_(requiresGrad);
        var g = generator ?? Generator.Default;
        var t = Empty(dtype, CheckedShape("Randn", shape));
        switch (dtype)
        {
            case DType.Float32: { var d = t.Data<float>(); for (int i = 0; i < d.Length; i++) d[i] = (float)g.NextNormal(); break; }
            case DType.Float64: { var d = t.Data<double>(); for (int i = 0; i < d.Length; i++) d[i] = g.NextNormal(); break; }
            default: throw new NotSupportedException($"Randn: dtype {dtype.Name()} is not a floating type.");
        }
        return t.RequiresGrad_(requiresGrad);
    }

    /// <summary>Float32 standard normal samples from <see cref="Generator.Default"/>.</summary>
    public static Tensor Randn(params int[] shape) => Randn(shape, DType.Float32);

    /// <summary>Uniform integers in [low, high) (int64).</summary>
    public static Tensor RandInt(long low, long high, int[] shape, Generator? generator = null)
    {
        if (high <= low) throw new ArgumentException($"RandInt: empty range [{low}, {high}).");
        var g = generator ?? Generator.Default;
        var t = Empty(DType.Int64, CheckedShape("RandInt", shape));
        var d = t.Data<long>();
        for (int i = 0; i < d.Length; i++) d[i] = g.NextInt64(low, high);
        return t;
    }

    /// <summary>Random permutation of 0..n-1 (int64), Fisher–Yates.</summary>
    public static Tensor RandPerm(int n, Generator? generator = null)
    {
        var g = generator ?? Generator.Default;
        var t = Arange(n, DType.Int64);
        var d = t.Data<long>();
        for (int i = n - 1; i > 0; i--)
        {
            int j = (int)g.NextInt64(0, i + 1);
            (d[i], d[j]) = (d[j], d[i]);
        }
        return t;
    }

    /// <summary>Bernoulli draws: 1 with probability p (elementwise from this tensor of probabilities).</summary>
    public Tensor Bernoulli(Generator? generator = null)
    {
        CheckFloating("Bernoulli");
        var g = generator ?? Generator.Default;
        var p = Contiguous().ToArrayDouble();
        for (int i = 0; i < p.Length; i++)
        {
            if (!(p[i] >= 0 && p[i] <= 1)) throw new ArgumentException($"Bernoulli: probability {p[i]} at flat index {i} is outside [0, 1].");
            p[i] = g.NextDouble() < p[i] ? 1 : 0;
        }
        return FromArray(p, _shape).To(DType);
    }

    /// <summary>Bernoulli draws with one probability for every element.</summary>
    public static Tensor Bernoulli(int[] shape, double p, DType dtype = DType.Float32, Generator? generator = null)
    {
        if (!(p >= 0 && p <= 1)) throw new ArgumentException($"Bernoulli: probability {p} is outside [0, 1].");
        var g = generator ?? Generator.Default;
        var t = Empty(dtype, CheckedShape("Bernoulli", shape));
        switch (dtype)
        {
            case DType.Float32: g.FillBernoulli(t.Data<float>(), p, 1f, 0f); break;
            case DType.Float64: g.FillBernoulli(t.Data<double>(), p, 1.0, 0.0); break;
            case DType.Bool: g.FillBernoulli(t.Data<bool>(), p, true, false); break;
            default: throw new NotSupportedException($"Bernoulli: dtype {dtype.Name()} is not supported.");
        }
        return t;
    }

    /// <summary>A dropout mask: <paramref name="scale"/> with probability <paramref name="p"/>, else 0 — the same values as
    /// <c>Bernoulli(shape, p).Mul(scale)</c> (the same random draws, each 1·scale rounded once) in one pass and one
    /// allocation.</summary>
    internal static Tensor ScaledBernoulli(int[] shape, double p, double scale, DType dtype, Generator? generator)
    {
        var g = generator ?? Generator.Default;
        var t = Empty(dtype, CheckedShape("Bernoulli", shape));
        switch (dtype)
        {
            case DType.Float32: g.FillBernoulli(t.Data<float>(), p, (float)scale, 0f); break;
            case DType.Float64: g.FillBernoulli(t.Data<double>(), p, scale, 0.0); break;
            default: return Bernoulli(shape, p, dtype, generator).Mul(scale);
        }
        return t;
    }

    // ---------------------------------------------------------------- from / to managed memory

    private static Tensor FromSpanCore<T>(ReadOnlySpan<T> data, int[] shape) where T : unmanaged
    {
        ShapeUtil.CheckShape("FromArray", shape);
        int n = ShapeUtil.NumEl(shape);
        if (n != data.Length)
            throw new ArgumentException($"FromArray: {data.Length} values cannot fill shape {ShapeUtil.Str(shape)} ({n} elements).");
        var t = Empty(DTypeExtensions.Of<T>(), (int[])shape.Clone());
        data.CopyTo(t.Data<T>());
        return t;
    }

    /// <summary>A float32 tensor over <paramref name="data"/> itself, not a copy (as <c>torch.from_numpy</c>): writes to
    /// the array show in the tensor and in-place ops on the tensor write the array. For buffers reused call after call
    /// (a server's input batch); the array must hold exactly the shape's elements.</summary>
    public static Tensor Wrap(float[] data, params int[] shape)
    {
        ArgumentNullException.ThrowIfNull(data);
        shape = shape.Length == 0 ? [data.Length] : (int[])shape.Clone();
        ShapeUtil.CheckShape("Wrap", shape);
        int n = ShapeUtil.NumEl(shape);
        if (n != data.Length)
            throw new ArgumentException($"Wrap: {data.Length} values cannot fill shape {ShapeUtil.Str(shape)} ({n} elements).");
        return new Tensor(new Storage<float>(data), shape);
    }

    /// <summary>Copies values into a new tensor. With no shape, a 1-D tensor.</summary>
    public static Tensor FromArray(float[] data, params int[] shape) => FromSpanCore<float>(data, shape.Length == 0 ? [data.Length] : shape);
    /// <summary>A float64 tensor holding a copy of <paramref name="data"/> (shape: its length, or <paramref name="shape"/>).</summary>
    public static Tensor FromArray(double[] data, params int[] shape) => FromSpanCore<double>(data, shape.Length == 0 ? [data.Length] : shape);
    /// <summary>An int64 tensor holding a copy of <paramref name="data"/>.</summary>
    public static Tensor FromArray(long[] data, params int[] shape) => FromSpanCore<long>(data, shape.Length == 0 ? [data.Length] : shape);
    /// <summary>An int64 tensor from int values.</summary>
    public static Tensor FromArray(int[] data, params int[] shape) => FromArray(Array.ConvertAll(data, v => (long)v), shape);
    /// <summary>A bool tensor holding a copy of <paramref name="data"/>.</summary>
    public static Tensor FromArray(bool[] data, params int[] shape) => FromSpanCore<bool>(data, shape.Length == 0 ? [data.Length] : shape);
    /// <summary>An int8 tensor holding a copy of <paramref name="data"/> (one dimension when no shape is given).</summary>
    public static Tensor FromArray(sbyte[] data, params int[] shape) => FromSpanCore<sbyte>(data, shape.Length == 0 ? [data.Length] : shape);
    /// <summary>A complex64 tensor holding a copy of <paramref name="data"/>.</summary>
    public static Tensor FromArray(Complex64[] data, params int[] shape) => FromSpanCore<Complex64>(data, shape.Length == 0 ? [data.Length] : shape);
    /// <summary>A complex128 tensor holding a copy of <paramref name="data"/>.</summary>
    public static Tensor FromArray(System.Numerics.Complex[] data, params int[] shape) => FromSpanCore<System.Numerics.Complex>(data, shape.Length == 0 ? [data.Length] : shape);

    /// <summary>Copies a span into a new tensor of the given shape.</summary>
    public static Tensor FromSpan<T>(ReadOnlySpan<T> data, params int[] shape) where T : unmanaged => FromSpanCore(data, shape);

    /// <summary>A 2-D tensor from a rectangular array.</summary>
    public static Tensor FromArray(float[,] data)
    {
        int r = data.GetLength(0), c = data.GetLength(1);
        var flat = new float[r * c];
        Buffer.BlockCopy(data, 0, flat, 0, flat.Length * sizeof(float));
        return FromArray(flat, r, c);
    }

    /// <summary>A float64 matrix from a 2-D array.</summary>
    public static Tensor FromArray(double[,] data)
    {
        int r = data.GetLength(0), c = data.GetLength(1);
        var flat = new double[r * c];
        Buffer.BlockCopy(data, 0, flat, 0, flat.Length * sizeof(double));
        return FromArray(flat, r, c);
    }

    /// <summary>Copies the elements, in row-major order, into a new array of <typeparamref name="T"/> (which must match the dtype).</summary>
    public T[] ToArray<T>() where T : unmanaged
    {
        if (DTypeExtensions.Of<T>() != DType)
            throw new ArgumentException($"ToArray<{typeof(T).Name}>: the tensor has dtype {DType.Name()}; convert it with .To(DType) first.");
        var r = new T[NumEl];
        CopyTo<T>(r);
        return r;
    }

    /// <summary>Copies the elements, in row-major order, into <paramref name="destination"/>.</summary>
    public void CopyTo<T>(Span<T> destination) where T : unmanaged
    {
        if (DTypeExtensions.Of<T>() != DType)
            throw new ArgumentException($"CopyTo<{typeof(T).Name}>: the tensor has dtype {DType.Name()}.");
        if (destination.Length < NumEl)
            throw new ArgumentException($"CopyTo: destination holds {destination.Length} elements, the tensor {NumEl} (shape {ShapeUtil.Str(_shape)}).");
        var c = Contiguous();
        c.Span<T>().CopyTo(destination);
    }

    /// <summary>All elements as double, whatever the dtype (convenience for tests and printing).</summary>
    public double[] ToArrayDouble() => DType == DType.Float64 ? ToArray<double>() : To(DType.Float64).ToArray<double>();

    /// <summary>The elements as float32, in row-major order (converted when needed).</summary>
    public float[] ToArrayFloat() => DType == DType.Float32 ? ToArray<float>() : To(DType.Float32).ToArray<float>();

    /// <summary>The value of a one-element tensor (<c>item()</c>).</summary>
    public double Item()
    {
        if (NumEl != 1) throw new InvalidOperationException($"Item: only one-element tensors can be converted to a scalar, this one has shape {ShapeUtil.Str(_shape)}.");
        return GetFlat(_offset);
    }

    /// <summary>The value of a one-element tensor as <typeparamref name="T"/> (the dtype must match).</summary>
    public T Item<T>() where T : unmanaged
    {
        if (NumEl != 1) throw new InvalidOperationException($"Item: only one-element tensors can be converted to a scalar, this one has shape {ShapeUtil.Str(_shape)}.");
        if (DTypeExtensions.Of<T>() != DType) throw new ArgumentException($"Item<{typeof(T).Name}>: the tensor has dtype {DType.Name()}.");
        return Data<T>()[_offset];
    }

    internal double GetFlat(int storageIndex) => DType switch
    {
        DType.Float32 => Data<float>()[storageIndex],
        DType.Float64 => Data<double>()[storageIndex],
        DType.Int64 => Data<long>()[storageIndex],
        DType.Bool => Data<bool>()[storageIndex] ? 1 : 0,
        DType.Int8 => Data<sbyte>()[storageIndex],
        DType.BFloat16 => (float)Data<BFloat16>()[storageIndex],
        DType.Float16 => (float)Data<Half>()[storageIndex],
        _ => throw new NotSupportedException($"reading a {DType.Name()} element as a real number"),
    };

    private int StorageIndex(string op, ReadOnlySpan<int> index)
    {
        if (index.Length != Dim)
            throw new ArgumentException($"{op}: {index.Length} indices for a tensor of {Dim} dimension(s) (shape {ShapeUtil.Str(_shape)}).");
        int off = _offset;
        for (int d = 0; d < index.Length; d++)
        {
            int i = index[d] < 0 ? index[d] + _shape[d] : index[d];
            if ((uint)i >= (uint)_shape[d])
                throw new IndexOutOfRangeException($"{op}: index {index[d]} is out of bounds for dimension {d} of size {_shape[d]} (shape {ShapeUtil.Str(_shape)}).");
            off += i * _strides[d];
        }
        return off;
    }

    /// <summary>Reads one element as double.</summary>
    public double GetItem(params int[] index) => GetFlat(StorageIndex("GetItem", index));

    /// <summary>Writes one element (in place, not recorded by autograd).</summary>
    public void SetItem(double value, params int[] index)
    {
        int off = StorageIndex("SetItem", index);
        switch (DType)
        {
            case DType.Float32: Data<float>()[off] = (float)value; break;
            case DType.Float64: Data<double>()[off] = value; break;
            case DType.Int64: Data<long>()[off] = (long)value; break;
            case DType.Bool: Data<bool>()[off] = value != 0; break;
            case DType.Int8: Data<sbyte>()[off] = checked((sbyte)value); break;
            case DType.BFloat16: Data<BFloat16>()[off] = (BFloat16)(float)value; break;
            case DType.Float16: Data<Half>()[off] = (Half)(float)value; break;
            default: throw new NotSupportedException($"SetItem: dtype {DType.Name()}.");
        }
        MarkModified();
    }

    // ---------------------------------------------------------------- copies and conversions

    /// <summary>A contiguous tensor with the same values: this tensor if already contiguous.</summary>
    public Tensor Contiguous()
    {
        if (IsContiguous) return this;
        var r = Empty(DType, _shape);
        CopyRaw(this, r);
        return AnyRequiresGrad(this) ? r.Record("ContiguousBackward", this, g => g) : r;
    }

    /// <summary>A copy with its own storage (<c>clone()</c>).</summary>
    public Tensor Clone()
    {
        var r = Empty(DType, _shape);
        CopyRaw(this, r);
        return AnyRequiresGrad(this) ? r.Record("CloneBackward", this, g => g) : r;
    }

    /// <summary>Copies <paramref name="src"/> (broadcast to this shape) into this tensor, in place (<c>copy_</c>).</summary>
    public Tensor CopyFrom(Tensor src)
    {
        CheckInPlace("CopyFrom");
        var shape = ShapeUtil.Broadcast("CopyFrom", _shape, src._shape);
        if (!ShapeUtil.SameShape(shape, _shape))
            throw new ArgumentException($"CopyFrom: source shape {ShapeUtil.Str(src._shape)} cannot be broadcast to {ShapeUtil.Str(_shape)}.");
        var s = src.DType == DType ? src : src.To(DType);
        CopyRaw(s, this);
        MarkModified();
        return this;
    }

    internal static void CopyRaw(Tensor src, Tensor dst)
    {
        switch (dst.DType)
        {
            case DType.Float32: Elementwise.UnaryInto<float, float, CopyOp<float>>(default, src, dst); break;
            case DType.Float64: Elementwise.UnaryInto<double, double, CopyOp<double>>(default, src, dst); break;
            case DType.Int64: Elementwise.UnaryInto<long, long, CopyOp<long>>(default, src, dst); break;
            case DType.Bool: Elementwise.UnaryInto<bool, bool, CopyOp<bool>>(default, src, dst); break;
            case DType.Int8: Elementwise.UnaryInto<sbyte, sbyte, CopyOp<sbyte>>(default, src, dst); break;
            case DType.BFloat16: Elementwise.UnaryInto<BFloat16, BFloat16, CopyOp<BFloat16>>(default, src, dst); break;
            case DType.Float16: Elementwise.UnaryInto<Half, Half, CopyOp<Half>>(default, src, dst); break;
            case DType.Complex64: Elementwise.UnaryInto<Complex64, Complex64, CopyOp<Complex64>>(default, src, dst); break;
            case DType.Complex128: Elementwise.UnaryInto<System.Numerics.Complex, System.Numerics.Complex, CopyOp<System.Numerics.Complex>>(default, src, dst); break;
        }
    }

    /// <summary>Converts to another dtype (a copy; this tensor if the dtype already matches).</summary>
    public Tensor To(DType dtype)
    {
        if (dtype == DType) return this;
        if (DType.IsComplex() || dtype.IsComplex()) return ToComplexCore(dtype);
        if (DType.IsLowPrecision() || dtype.IsLowPrecision()) return ToLowPrecisionCore(dtype);
        var r = Empty(dtype, _shape);
        switch (DType, dtype)
        {
            case (DType.Float32, DType.Float64): Elementwise.UnaryInto<float, double, ConvertOp<float, double>>(default, this, r); break;
            case (DType.Float64, DType.Float32): Elementwise.UnaryInto<double, float, ConvertOp<double, float>>(default, this, r); break;
            case (DType.Float32, DType.Int64): Elementwise.UnaryInto<float, long, ConvertOp<float, long>>(default, this, r); break;
            case (DType.Float64, DType.Int64): Elementwise.UnaryInto<double, long, ConvertOp<double, long>>(default, this, r); break;
            case (DType.Int64, DType.Float32): Elementwise.UnaryInto<long, float, ConvertOp<long, float>>(default, this, r); break;
            case (DType.Int64, DType.Float64): Elementwise.UnaryInto<long, double, ConvertOp<long, double>>(default, this, r); break;
            case (DType.Bool, DType.Float32): Elementwise.UnaryInto<bool, float, ConvertOp<bool, float>>(default, this, r); break;
            case (DType.Bool, DType.Float64): Elementwise.UnaryInto<bool, double, ConvertOp<bool, double>>(default, this, r); break;
            case (DType.Bool, DType.Int64): Elementwise.UnaryInto<bool, long, ConvertOp<bool, long>>(default, this, r); break;
            case (DType.Float32, DType.Bool): Elementwise.UnaryInto<float, bool, ConvertOp<float, bool>>(default, this, r); break;
            case (DType.Float64, DType.Bool): Elementwise.UnaryInto<double, bool, ConvertOp<double, bool>>(default, this, r); break;
            case (DType.Int64, DType.Bool): Elementwise.UnaryInto<long, bool, ConvertOp<long, bool>>(default, this, r); break;
            case (DType.Int8, DType.Float32): Elementwise.UnaryInto<sbyte, float, ConvertOp<sbyte, float>>(default, this, r); break;
            case (DType.Int8, DType.Float64): Elementwise.UnaryInto<sbyte, double, ConvertOp<sbyte, double>>(default, this, r); break;
            case (DType.Int8, DType.Int64): Elementwise.UnaryInto<sbyte, long, ConvertOp<sbyte, long>>(default, this, r); break;
            case (DType.Int64, DType.Int8): Elementwise.UnaryInto<long, sbyte, ConvertOp<long, sbyte>>(default, this, r); break;
            default: throw new NotSupportedException($"To: conversion from {DType.Name()} to {dtype.Name()} is not supported.");
        }
        if (AnyRequiresGrad(this) && dtype.IsFloatingPoint())
        {
            var from = DType;
            r.Record("ToCopyBackward", this, g => g.To(from));
        }
        return r;
    }

    /// <summary>Conversions to and from bfloat16 and float16, through float32 (exact both ways for the 16-bit types;
    /// float32 → 16 bits rounds to nearest even). No autograd record: the 16-bit types carry no gradients.</summary>
    private Tensor ToLowPrecisionCore(DType dtype)
    {
        if (!(DType.IsLowPrecision() ? dtype is DType.Float32 or DType.Float64 or DType.BFloat16 or DType.Float16 : DType is DType.Float32 or DType.Float64))
            throw new NotSupportedException($"To: conversion from {DType.Name()} to {dtype.Name()} is not supported; go through float32.");
        if (DType.IsLowPrecision() && dtype != DType.Float32) return To(DType.Float32).To(dtype);
        if (DType == DType.Float64) return To(DType.Float32).To(dtype);
        var src = Contiguous();
        var r = Empty(dtype, _shape);
        if (DType == DType.Float32)
        {
            if (dtype == DType.BFloat16) Kernels.LowPrecision.ToBFloat16(src.Span<float>(), r.Span<BFloat16>());
            else Kernels.LowPrecision.ToHalf(src.Span<float>(), r.Span<Half>());
        }
        else if (DType == DType.BFloat16) Kernels.LowPrecision.FromBFloat16(src.Span<BFloat16>(), r.Span<float>());
        else Kernels.LowPrecision.FromHalf(src.Span<Half>(), r.Span<float>());
        return r;
    }

    /// <summary>This tensor as float32 (a copy unless it already is).</summary>
    public Tensor Float() => To(DType.Float32);
    /// <summary>This tensor as float64 (a copy unless it already is).</summary>
    public Tensor Double() => To(DType.Float64);
    /// <summary>This tensor as int64 (a copy unless it already is).</summary>
    public Tensor Long() => To(DType.Int64);
}
