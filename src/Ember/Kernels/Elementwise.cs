using System.Numerics;

namespace Ember.Kernels;

/// <summary>A binary elementwise operator. <c>Vec*</c> take dense spans (SIMD via TensorPrimitives or hand-written
/// Vector512/256/128 code) and must equal <see cref="Scalar"/> applied lane by lane.</summary>
internal interface IBinaryOp<TIn, TOut> where TIn : unmanaged where TOut : unmanaged
{
    TOut Scalar(TIn a, TIn b);
    void Vec(ReadOnlySpan<TIn> a, ReadOnlySpan<TIn> b, Span<TOut> d);
    void VecScalar(ReadOnlySpan<TIn> a, TIn b, Span<TOut> d);
    void ScalarVec(TIn a, ReadOnlySpan<TIn> b, Span<TOut> d);
}

/// <summary>A unary elementwise operator; <c>Vec</c> equals <c>Scalar</c> on every lane.</summary>
internal interface IUnaryOp<TIn, TOut> where TIn : unmanaged where TOut : unmanaged
{
    TOut Scalar(TIn x);
    void Vec(ReadOnlySpan<TIn> x, Span<TOut> d);
}

/// <summary>Drivers: broadcasting, strides, threading and tails, once for all operators.</summary>
internal static class Elementwise
{
    private struct BinaryRun<TIn, TOut, TOp> : IRun
        where TIn : unmanaged where TOut : unmanaged where TOp : struct, IBinaryOp<TIn, TOut>
    {
        public TOut[] D; public TIn[] A, B; public TOp Op;

        public void Run(int len, ReadOnlySpan<int> off, ReadOnlySpan<int> inner)
        {
            if (inner[0] == 1)
            {
                var d = D.AsSpan(off[0], len);
                if (inner[1] == 1 && inner[2] == 1) { Op.Vec(A.AsSpan(off[1], len), B.AsSpan(off[2], len), d); return; }
                if (inner[1] == 1 && inner[2] == 0) { Op.VecScalar(A.AsSpan(off[1], len), B[off[2]], d); return; }
                if (inner[1] == 0 && inner[2] == 1) { Op.ScalarVec(A[off[1]], B.AsSpan(off[2], len), d); return; }
            }
            // Strided fallback (transposed operands, or all-broadcast runs).
            int od = off[0], oa = off[1], ob = off[2], sd = inner[0], sa = inner[1], sb = inner[2];
            for (int i = 0; i < len; i++, od += sd, oa += sa, ob += sb)
                D[od] = Op.Scalar(A[oa], B[ob]);
        }
    }

    private struct UnaryRun<TIn, TOut, TOp> : IRun
        where TIn : unmanaged where TOut : unmanaged where TOp : struct, IUnaryOp<TIn, TOut>
    {
        public TOut[] D; public TIn[] X; public TOp Op;

        public void Run(int len, ReadOnlySpan<int> off, ReadOnlySpan<int> inner)
        {
            if (inner[0] == 1 && inner[1] == 1)
            {
                Op.Vec(X.AsSpan(off[1], len), D.AsSpan(off[0], len));
                return;
            }
            int od = off[0], ox = off[1], sd = inner[0], sx = inner[1];
            for (int i = 0; i < len; i++, od += sd, ox += sx)
                D[od] = Op.Scalar(X[ox]);
        }
    }

    /// <summary>d = op(a, b) with broadcasting; d is written through its own strides (it may be a or a view).</summary>
    public static void BinaryInto<TIn, TOut, TOp>(TOp op, Tensor a, Tensor b, Tensor d)
        where TIn : unmanaged where TOut : unmanaged where TOp : struct, IBinaryOp<TIn, TOut>
    {
        var shape = d._shape;
        var plan = new StridedPlan(shape,
            [d._strides, ShapeUtil.BroadcastStrides(a._shape, a._strides, shape), ShapeUtil.BroadcastStrides(b._shape, b._strides, shape)],
            [d._offset, a._offset, b._offset]);
        plan.ExecuteParallel(new BinaryRun<TIn, TOut, TOp> { D = d.Data<TOut>(), A = a.Data<TIn>(), B = b.Data<TIn>(), Op = op });
    }

    public static Tensor Binary<TIn, TOut, TOp>(string name, TOp op, Tensor a, Tensor b)
        where TIn : unmanaged where TOut : unmanaged where TOp : struct, IBinaryOp<TIn, TOut>
    {
        var shape = ShapeUtil.SameShape(a._shape, b._shape) ? a._shape : ShapeUtil.Broadcast(name, a._shape, b._shape);
        var d = Tensor.Empty(DTypeExtensions.Of<TOut>(), shape);
        BinaryInto<TIn, TOut, TOp>(op, a, b, d);
        return d;
    }

    public static void UnaryInto<TIn, TOut, TOp>(TOp op, Tensor x, Tensor d)
        where TIn : unmanaged where TOut : unmanaged where TOp : struct, IUnaryOp<TIn, TOut>
    {
        var shape = d._shape;
        var plan = new StridedPlan(shape, [d._strides, ShapeUtil.BroadcastStrides(x._shape, x._strides, shape)], [d._offset, x._offset]);
        plan.ExecuteParallel(new UnaryRun<TIn, TOut, TOp> { D = d.Data<TOut>(), X = x.Data<TIn>(), Op = op });
    }

    public static Tensor Unary<TIn, TOut, TOp>(TOp op, Tensor x)
        where TIn : unmanaged where TOut : unmanaged where TOp : struct, IUnaryOp<TIn, TOut>
    {
        var d = Tensor.Empty(DTypeExtensions.Of<TOut>(), x._shape);
        UnaryInto<TIn, TOut, TOp>(op, x, d);
        return d;
    }

    /// <summary>Dispatches a same-type binary op on the dtype of <paramref name="a"/> (float32/float64, optionally int64).</summary>
    public static Tensor BinaryF<TF, TD>(string name, Tensor a, Tensor b, TF opF, TD opD)
        where TF : struct, IBinaryOp<float, float> where TD : struct, IBinaryOp<double, double>
    {
        Tensor.CheckSameDType(name, a, b);
        return a.DType switch
        {
            DType.Float32 => Binary<float, float, TF>(name, opF, a, b),
            DType.Float64 => Binary<double, double, TD>(name, opD, a, b),
            _ => throw new NotSupportedException($"{name}: not supported for dtype {a.DType.Name()} (shapes {ShapeUtil.Str(a._shape)}, {ShapeUtil.Str(b._shape)})."),
        };
    }

    /// <summary>An elementwise backward rule d = op(g, saved) with g and saved of one shape: written over the incoming
    /// gradient g when the engine donated it (a temporary of this backward pass that nothing else holds, see
    /// <see cref="Engine.TryReuse"/>), else into a new tensor. Saves a gradient-sized allocation and its cold writes.</summary>
    public static Tensor Backward<TOp>(string name, TOp op, Tensor g, Tensor saved) where TOp : struct, IBinaryOp<float, float>
    {
        if (ShapeUtil.SameShape(g._shape, saved._shape) && g.DType == saved.DType && Engine.TryReuse(g))
        {
            BinaryInto<float, float, TOp>(op, g, saved, g);
            return g;
        }
        return Binary<float, float, TOp>(name, op, g, saved);
    }

    /// <summary><see cref="Backward{TOp}"/> for float32 or float64 (float64 gradients are never donated).</summary>
    public static Tensor BackwardF<TF, TD>(string name, Tensor g, Tensor saved, TF opF, TD opD)
        where TF : struct, IBinaryOp<float, float> where TD : struct, IBinaryOp<double, double>
        => g.DType == DType.Float32 && saved.DType == DType.Float32 ? Backward(name, opF, g, saved) : BinaryF(name, g, saved, opF, opD);

    public static void BinaryIntoF<TF, TD>(string name, Tensor a, Tensor b, Tensor d, TF opF, TD opD)
        where TF : struct, IBinaryOp<float, float> where TD : struct, IBinaryOp<double, double>
    {
        Tensor.CheckSameDType(name, a, b);
        Tensor.CheckSameDType(name, a, d);
        var shape = ShapeUtil.Broadcast(name, d._shape, b._shape);
        if (!ShapeUtil.SameShape(shape, d._shape))
            throw new ArgumentException($"{name}: the in-place result of shape {ShapeUtil.Str(d._shape)} cannot hold the broadcast shape {ShapeUtil.Str(shape)} (other operand {ShapeUtil.Str(b._shape)}).");
        switch (a.DType)
        {
            case DType.Float32: BinaryInto<float, float, TF>(opF, a, b, d); break;
            case DType.Float64: BinaryInto<double, double, TD>(opD, a, b, d); break;
            default: throw new NotSupportedException($"{name}: not supported for dtype {a.DType.Name()}.");
        }
    }

    public static Tensor UnaryF<TF, TD>(string name, Tensor x, TF opF, TD opD)
        where TF : struct, IUnaryOp<float, float> where TD : struct, IUnaryOp<double, double>
        => x.DType switch
        {
            DType.Float32 => Unary<float, float, TF>(opF, x),
            DType.Float64 => Unary<double, double, TD>(opD, x),
            _ => throw new NotSupportedException($"{name}: needs a float32 or float64 tensor, got {x.DType.Name()} (shape {ShapeUtil.Str(x._shape)})."),
        };

    public static void UnaryIntoF<TF, TD>(string name, Tensor x, Tensor d, TF opF, TD opD)
        where TF : struct, IUnaryOp<float, float> where TD : struct, IUnaryOp<double, double>
    {
        switch (x.DType)
        {
            case DType.Float32: UnaryInto<float, float, TF>(opF, x, d); break;
            case DType.Float64: UnaryInto<double, double, TD>(opD, x, d); break;
            default: throw new NotSupportedException($"{name}: needs a float32 or float64 tensor, got {x.DType.Name()} (shape {ShapeUtil.Str(x._shape)}).");
        }
    }

    /// <summary>ReLU over one written output span while it is in cache (the same kernel as <see cref="Tensor.Relu"/>).</summary>
    internal static unsafe void ReluInPlace<T>(T* p, long count) where T : unmanaged, INumberBase<T>
    {
        if (typeof(T) == typeof(float)) { var sp = new Span<float>(p, checked((int)count)); new ReluOp<float>().Vec(sp, sp); }
        else { var sp = new Span<double>(p, checked((int)count)); new ReluOp<double>().Vec(sp, sp); }
    }
}
