using System.Runtime.InteropServices;
using NComplex = System.Numerics.Complex;

namespace Ember;

// Complex tensors (complex64 and complex128). Values are stored interleaved (real, imaginary), like C and PyTorch.
// Forward kernels split a complex tensor into its real and imaginary parts, run the real kernels on them and
// interleave the result; backward rules follow PyTorch's convention: the gradient of a real loss L with respect to
// z = x + iy is ∂L/∂x + i·∂L/∂y (the conjugate Wirtinger derivative times two), so that z −= lr·grad descends.
// For a holomorphic f the rule is grad_in = grad_out · conj(f′(z)).
public sealed partial class Tensor
{
    /// <summary>True for complex64 and complex128 tensors.</summary>
    public bool IsComplex => DType.IsComplex();

    // ---------------------------------------------------------------- raw (unrecorded) kernels

    /// <summary>The real and imaginary parts as new contiguous real tensors (no autograd).</summary>
    internal static (Tensor Re, Tensor Im) SplitRaw(Tensor z)
    {
        var c = z.Contiguous();
        var re = Empty(z.DType.ToReal(), z._shape);
        var im = Empty(z.DType.ToReal(), z._shape);
        if (z.DType == DType.Complex64)
            Deinterleave(MemoryMarshal.Cast<Complex64, float>(c.Span<Complex64>()), re.Data<float>(), im.Data<float>());
        else
            Deinterleave(MemoryMarshal.Cast<NComplex, double>(c.Span<NComplex>()), re.Data<double>(), im.Data<double>());
        return (re, im);
    }

    private static void Deinterleave<T>(ReadOnlySpan<T> src, T[] re, T[] im)
    {
        for (int i = 0; i < re.Length; i++)
        {
            re[i] = src[2 * i];
            im[i] = src[2 * i + 1];
        }
    }

    /// <summary>Interleaves two real tensors (broadcast to a common shape) into a complex tensor (no autograd).</summary>
    internal static Tensor CombineRaw(Tensor re, Tensor im)
    {
        CheckSameDType("Complex", re, im);
        var shape = ShapeUtil.SameShape(re._shape, im._shape) ? re._shape : ShapeUtil.Broadcast("Complex", re._shape, im._shape);
        var r = re.Detach().Expand(shape).Contiguous();
        var i = im.Detach().Expand(shape).Contiguous();
        var z = Empty(re.DType.ToComplex(), shape);
        if (re.DType == DType.Float32)
            Interleave(r.Span<float>(), i.Span<float>(), MemoryMarshal.Cast<Complex64, float>(z.Span<Complex64>()));
        else
            Interleave(r.Span<double>(), i.Span<double>(), MemoryMarshal.Cast<NComplex, double>(z.Span<NComplex>()));
        return z;
    }

    private static void Interleave<T>(ReadOnlySpan<T> re, ReadOnlySpan<T> im, Span<T> dst)
    {
        for (int k = 0; k < re.Length; k++)
        {
            dst[2 * k] = re[k];
            dst[2 * k + 1] = im[k];
        }
    }

    /// <summary>a ∘ b for complex operands (either may be real and is then promoted), without autograd.</summary>
    internal static Tensor ComplexBinaryRaw(string op, Tensor a, Tensor b)
    {
        using var _ = NoGrad();
        var (ar, ai) = a.IsComplex ? SplitRaw(a) : (a, ZerosLike(a));
        var (br, bi) = b.IsComplex ? SplitRaw(b) : (b, ZerosLike(b));
        CheckSameDType(op, ar, br);
        return op switch
        {
            "Add" => CombineRaw(ar.Add(br), ai.Add(bi)),
            "Sub" => CombineRaw(ar.Sub(br), ai.Sub(bi)),
            "Mul" => CombineRaw(ar.Mul(br).Sub(ai.Mul(bi)), ar.Mul(bi).Add(ai.Mul(br))),
            "Div" => DivRaw(ar, ai, br, bi),
            _ => throw new ArgumentException($"unknown complex op {op}"),
        };
    }

    private static Tensor DivRaw(Tensor ar, Tensor ai, Tensor br, Tensor bi)
    {
        // (a·conj b)/|b|²; division by zero gives inf/nan as in PyTorch.
        var den = br.Mul(br).Add(bi.Mul(bi));
        return CombineRaw(ar.Mul(br).Add(ai.Mul(bi)).Div(den), ai.Mul(br).Sub(ar.Mul(bi)).Div(den));
    }

    /// <summary>Promotes a real operand of a complex op to the complex type of the other (recorded).</summary>
    private static Tensor PromoteComplex(string op, Tensor t, DType complexType)
    {
        if (t.DType == complexType) return t;
        if (t.IsComplex)
            throw new ArgumentException($"{op}: dtype mismatch: {t.DType.Name()} {ShapeUtil.Str(t._shape)} with {complexType.Name()}. Convert one with .To(DType).");
        if (!t.DType.IsFloatingPoint())
            throw new ArgumentException($"{op}: cannot combine a {t.DType.Name()} tensor {ShapeUtil.Str(t._shape)} with a complex one.");
        return t.To(complexType);
    }

    private static DType ComplexTypeOf(Tensor a, Tensor b)
    {
        if (a.IsComplex && b.IsComplex && a.DType != b.DType)
            throw new ArgumentException($"complex dtype mismatch: {a.DType.Name()} {ShapeUtil.Str(a._shape)} vs {b.DType.Name()} {ShapeUtil.Str(b._shape)}. Convert one with .To(DType).");
        return a.IsComplex ? a.DType : b.DType;
    }

    /// <summary>Add/Sub/Mul/Div where at least one operand is complex.</summary>
    private static Tensor ComplexBinary(string op, Tensor a, Tensor b)
    {
        var type = ComplexTypeOf(a, b);
        // A real operand stays real for Mul/Div (cheaper, and its gradient is then real without a detour).
        if (op is "Add" or "Sub") { a = PromoteComplex(op, a, type); b = PromoteComplex(op, b, type); }
        else
        {
            if (!a.IsComplex) a = a.To(type.ToReal());
            if (!b.IsComplex) b = b.To(type.ToReal());
        }
        var r = ComplexBinaryRaw(op, a, b);
        if (!AnyRequiresGrad(a, b)) return r;
        Tensor? Fit(Tensor input, Tensor g) => input.RequiresGrad ? (input.IsComplex ? g : g.Real()).SumTo(input._shape) : null;
        return op switch
        {
            "Add" => r.Record("AddBackward", [a, b], g => [Fit(a, g), Fit(b, g)]),
            "Sub" => r.Record("SubBackward", [a, b], g => [Fit(a, g), b.RequiresGrad ? Fit(b, g.Neg()) : null]),
            "Mul" => r.Record("MulBackward", [a, b], g => [
                a.RequiresGrad ? Fit(a, g.Mul(b.Detach().Conj())) : null,
                b.RequiresGrad ? Fit(b, g.Mul(a.Detach().Conj())) : null], a, b),
            // r = a/b: ∂r/∂a = 1/b, ∂r/∂b = −r/b.
            _ => r.Record("DivBackward", [a, b], g => [
                a.RequiresGrad ? Fit(a, g.Div(b.Detach().Conj())) : null,
                b.RequiresGrad ? Fit(b, g.Mul(r.Detach().Div(b.Detach()).Conj()).Neg()) : null], a, b, r),
        };
    }

    // ---------------------------------------------------------------- construction and parts

    /// <summary>A complex tensor from its real and imaginary parts (<c>torch.complex</c>): float32 parts give complex64,
    /// float64 parts complex128. The parts broadcast.</summary>
    public static Tensor Complex(Tensor real, Tensor imag)
    {
        if (!real.DType.IsFloatingPoint() || real.DType != imag.DType)
            throw new ArgumentException($"Complex: expects two float32 or two float64 tensors, got {real.DType.Name()} {ShapeUtil.Str(real._shape)} and {imag.DType.Name()} {ShapeUtil.Str(imag._shape)}.");
        var z = CombineRaw(real, imag);
        if (!AnyRequiresGrad(real, imag)) return z;
        return z.Record("ComplexBackward", [real, imag], g => [
            real.RequiresGrad ? g.Real().SumTo(real._shape) : null,
            imag.RequiresGrad ? g.Imag().SumTo(imag._shape) : null]);
    }

    /// <summary>abs·(cos angle + i sin angle) (<c>torch.polar</c>).</summary>
    public static Tensor Polar(Tensor abs, Tensor angle) => Complex(abs.Mul(angle.Cos()), abs.Mul(angle.Sin()));

    /// <summary>A complex tensor from one of shape [..., 2] holding (real, imaginary) pairs (<c>torch.view_as_complex</c>;
    /// Ember copies).</summary>
    public static Tensor ViewAsComplex(Tensor pairs)
    {
        if (pairs.Dim == 0 || pairs._shape[^1] != 2 || !pairs.DType.IsFloatingPoint())
            throw new ArgumentException($"ViewAsComplex: expects a float32/float64 tensor whose last dimension has size 2, got {pairs.DType.Name()} {ShapeUtil.Str(pairs._shape)}.");
        return Complex(pairs.Select(-1, 0), pairs.Select(-1, 1));
    }

    /// <summary>The (real, imaginary) pairs of a complex tensor as a real tensor of shape [..., 2]
    /// (<c>torch.view_as_real</c>; Ember copies).</summary>
    public Tensor ViewAsReal()
    {
        RequireComplex("ViewAsReal");
        return Stack([Real(), Imag()], -1);
    }

    private void RequireComplex(string op)
    {
        if (!IsComplex) throw new ArgumentException($"{op}: expects a complex tensor, got {DType.Name()} (shape {ShapeUtil.Str(_shape)}).");
    }

    /// <summary>The real part (<c>.real</c>; a copy). A real tensor returns itself.</summary>
    public Tensor Real()
    {
        if (!IsComplex) return this;
        var (re, _) = SplitRaw(this);
        return AnyRequiresGrad(this) ? re.Record("RealBackward", this, g => Complex(g, ZerosLike(g))) : re;
    }

    /// <summary>The imaginary part (<c>.imag</c>; a copy). Only complex tensors have one, as in PyTorch.</summary>
    public Tensor Imag()
    {
        RequireComplex("Imag");
        var (_, im) = SplitRaw(this);
        return AnyRequiresGrad(this) ? im.Record("ImagBackward", this, g => Complex(ZerosLike(g), g)) : im;
    }

    /// <summary>Complex conjugate (<c>conj</c>; a copy). A real tensor returns itself.</summary>
    public Tensor Conj()
    {
        if (!IsComplex) return this;
        var (re, im) = SplitRaw(this);
        Tensor r;
        using (NoGrad()) r = CombineRaw(re, im.Neg());
        return AnyRequiresGrad(this) ? r.Record("ConjBackward", this, g => g.Conj()) : r;
    }

    /// <summary>Conjugate transpose of the last two dims (<c>.mH</c>).</summary>
    public Tensor MH => Conj().MT;

    /// <summary>Phase angle in (−π, π] (<c>torch.angle</c>); for real tensors 0 or π, with zero gradient.</summary>
    public Tensor Angle()
    {
        if (!IsComplex)
        {
            CheckFloating("Angle");
            var r = Where(Lt(0), Scalar(Math.PI, DType), Scalar(0, DType)).Detach();
            return AnyRequiresGrad(this) ? r.Record("AngleBackward", this, g => ZerosLike(g)) : r;
        }
        return Imag().Atan2(Real());
    }

    private Tensor ComplexAbs()
    {
        var (re, im) = SplitRaw(this);
        Tensor r;
        using (NoGrad()) r = re.Mul(re).Add(im.Mul(im)).Sqrt();
        if (!AnyRequiresGrad(this)) return r;
        var z = this;
        // grad = g · z/|z| (0 at z = 0, like PyTorch's sgn).
        return r.Record("AbsBackward", this, g =>
        {
            var mag = r.Detach();
            var inv = Where(mag.Eq(0), ZerosLike(mag), mag.Reciprocal());
            return z.Detach().Mul(g.Mul(inv));
        }, z, r);
    }

    /// <summary>z/|z| for complex z (0 where z = 0), sign for real (<c>torch.sgn</c>).</summary>
    public Tensor Sgn()
    {
        if (!IsComplex) return Sign();
        var mag = Abs();
        return Mul(Where(mag.Eq(0), OnesLike(mag), mag).Reciprocal());
    }

    private Tensor ComplexExp()
    {
        var (re, im) = SplitRaw(this);
        Tensor r;
        using (NoGrad())
        {
            var m = re.Exp();
            r = CombineRaw(m.Mul(im.Cos()), m.Mul(im.Sin()));
        }
        return AnyRequiresGrad(this) ? r.Record("ExpBackward", this, g => g.Mul(r.Detach().Conj()), r) : r;
    }

    private Tensor ComplexNeg()
    {
        var (re, im) = SplitRaw(this);
        Tensor r;
        using (NoGrad()) r = CombineRaw(re.Neg(), im.Neg());
        return AnyRequiresGrad(this) ? r.Record("NegBackward", this, g => g.Neg()) : r;
    }

    private Tensor ComplexScale(double s)
    {
        var (re, im) = SplitRaw(this);
        Tensor r;
        using (NoGrad()) r = CombineRaw(re.Mul(s), im.Mul(s));
        return AnyRequiresGrad(this) ? r.Record("MulBackward", this, g => g.Mul(s)) : r;
    }

    private Tensor ComplexSum(int[] rd, bool keepDim, double scale)
    {
        var (re, im) = SplitRaw(this);
        Tensor r;
        using (NoGrad())
        {
            var sr = re.Sum(rd, keepDim);
            var si = im.Sum(rd, keepDim);
            if (scale != 1) { sr.MulInPlace(scale); si.MulInPlace(scale); }
            r = CombineRaw(sr, si);
        }
        if (!AnyRequiresGrad(this)) return r;
        var inShape = _shape;
        return r.Record(scale == 1 ? "SumBackward" : "MeanBackward", this, g => ExpandReduced(scale == 1 ? g : g.Mul(scale), inShape, rd, keepDim));
    }

    /// <summary>Complex matrix product: four real products (batch broadcasting as for real tensors); C = AB gives
    /// grad A = G·Bᴴ and grad B = Aᴴ·G.</summary>
    private static Tensor ComplexMatmulCore(Tensor a, Tensor b)
    {
        var type = ComplexTypeOf(a, b);
        a = PromoteComplex("Matmul", a, type);
        b = PromoteComplex("Matmul", b, type);
        Tensor r;
        using (NoGrad())
        {
            var (ar, ai) = SplitRaw(a);
            var (br, bi) = SplitRaw(b);
            r = CombineRaw(MatmulCore(ar, br).Sub(MatmulCore(ai, bi)), MatmulCore(ar, bi).Add(MatmulCore(ai, br)));
        }
        if (!AnyRequiresGrad(a, b)) return r;
        return r.Record("MatmulBackward", [a, b], g => [
            a.RequiresGrad ? MatmulCore(g, b.Detach().MH).SumTo(a._shape) : null,
            b.RequiresGrad ? MatmulCore(a.Detach().MH, g).SumTo(b._shape) : null], a, b);
    }

    /// <summary>this ∘= other for a complex tensor (not recorded).</summary>
    private Tensor ComplexInPlace(string name, string op, Tensor other)
    {
        CheckInPlace(name);
        var shape = ShapeUtil.Broadcast(name, _shape, other._shape);
        if (!ShapeUtil.SameShape(shape, _shape))
            throw new ArgumentException($"{name}: the in-place result of shape {ShapeUtil.Str(_shape)} cannot hold the broadcast shape {ShapeUtil.Str(shape)} (other operand {ShapeUtil.Str(other._shape)}).");
        var o = other.IsComplex ? other : other.To(DType.ToReal());
        CopyRaw(ComplexBinaryRaw(op, Detach(), o.Detach()), this);
        MarkModified();
        return this;
    }

    /// <summary>Conversions to, from and between complex types; complex → real is refused (use Real or Abs).</summary>
    private Tensor ToComplexCore(DType dtype)
    {
        var from = DType;
        if (!dtype.IsComplex())
            throw new NotSupportedException($"To: converting {from.Name()} to {dtype.Name()} would drop the imaginary part; use Real(), Imag() or Abs() (shape {ShapeUtil.Str(_shape)}).");
        Tensor r;
        if (IsComplex)
        {
            var (re, im) = SplitRaw(this);
            r = CombineRaw(re.To(dtype.ToReal()), im.To(dtype.ToReal()));
        }
        else
        {
            var re = Detach().To(dtype.ToReal());
            r = CombineRaw(re, ZerosLike(re));
        }
        if (!AnyRequiresGrad(this)) return r;
        return from.IsComplex()
            ? r.Record("ToCopyBackward", this, g => g.To(from))
            : r.Record("ToCopyBackward", this, g => g.Real().To(from));
    }

    /// <summary>Standard complex normal values for <see cref="Randn(int[], DType, Generator?, bool)"/>: real and imaginary
    /// parts independent N(0, ½), so E|z|² = 1 (as <c>torch.randn</c> with a complex dtype).</summary>
    private static Tensor RandnComplex(int[] shape, DType dtype = DType.Complex64, Generator? generator = null)
    {
        if (!dtype.IsComplex()) throw new ArgumentException($"RandnComplex: expects a complex dtype, got {dtype.Name()}.");
        var re = Randn(shape, dtype.ToReal(), generator: generator);
        var im = Randn(shape, dtype.ToReal(), generator: generator);
        using var _ = NoGrad();
        return CombineRaw(re.Mul(Math.Sqrt(0.5)), im.Mul(Math.Sqrt(0.5)));
    }

    /// <summary>The elements as <see cref="NComplex"/> in row-major order, for either complex type (or a real type).</summary>
    public NComplex[] ToComplexArray()
    {
        if (DType == DType.Complex128) return ToArray<NComplex>();
        if (DType == DType.Complex64) return Array.ConvertAll(ToArray<Complex64>(), z => (NComplex)z);
        var v = ToArrayDouble();
        return Array.ConvertAll(v, x => new NComplex(x, 0));
    }
}
