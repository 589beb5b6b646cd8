using Ember.Kernels;

namespace Ember;

// Elementwise math. Each op: forward through an operator struct, then (if any input requires grad) the
// backward rule right below it. Broadcast gradients are reduced back with SumTo.
public sealed partial class Tensor
{
    private Tensor S(double v) => Scalar(v, DType);

    // ------------------------------------------------------------------ arithmetic

    /// <summary>this + other, elementwise with broadcasting (<c>torch.add</c>); differentiable, real or complex.</summary>
    public Tensor Add(Tensor other)
    {
        if (IsComplex || other.IsComplex) return ComplexBinary("Add", this, other);
        var r = DType == DType.Int64 && other.DType == DType.Int64
            ? Elementwise.Binary<long, long, AddOp<long>>("Add", default, this, other)
            : Elementwise.BinaryF("Add", this, other, new AddOp<float>(), new AddOp<double>());
        if (!AnyRequiresGrad(this, other)) return r;
        var (shapeA, shapeB, needA, needB) = (_shape, other._shape, RequiresGrad, other.RequiresGrad);
        // The rule reads only the shapes: under autocast the graph keeps the operands' nodes, not their values.
        Tensor?[] inputs = Autocast.Type is null ? [this, other] : [GraphShell(), other.GraphShell()];
        return r.Record("AddBackward", inputs, g => [needA ? g.SumTo(shapeA) : null, needB ? g.SumTo(shapeB) : null]);
    }

    /// <summary>this + alpha·other.</summary>
    public Tensor Add(Tensor other, double alpha) => alpha == 1 ? Add(other) : Add(other.Mul(alpha));

    /// <summary>this + a scalar.</summary>
    public Tensor Add(double other) => Add(S(other));

    /// <summary>this − other, elementwise with broadcasting (<c>torch.sub</c>).</summary>
    public Tensor Sub(Tensor other)
    {
        if (IsComplex || other.IsComplex) return ComplexBinary("Sub", this, other);
        var r = DType == DType.Int64 && other.DType == DType.Int64
            ? Elementwise.Binary<long, long, SubOp<long>>("Sub", default, this, other)
            : Elementwise.BinaryF("Sub", this, other, new SubOp<float>(), new SubOp<double>());
        if (!AnyRequiresGrad(this, other)) return r;
        var (a, b) = (this, other);
        return r.Record("SubBackward", [a, b], g => [a.RequiresGrad ? g.SumTo(a._shape) : null, b.RequiresGrad ? g.Neg().SumTo(b._shape) : null]);
    }

    /// <summary>this − a scalar.</summary>
    public Tensor Sub(double other) => Sub(S(other));

    /// <summary>this · other, elementwise with broadcasting (<c>torch.mul</c>).</summary>
    public Tensor Mul(Tensor other)
    {
        if (IsComplex || other.IsComplex) return ComplexBinary("Mul", this, other);
        var r = DType == DType.Int64 && other.DType == DType.Int64
            ? Elementwise.Binary<long, long, MulOp<long>>("Mul", default, this, other)
            : Elementwise.BinaryF("Mul", this, other, new MulOp<float>(), new MulOp<double>());
        if (!AnyRequiresGrad(this, other)) return r;
        var (a, b) = (this, other);
        return r.Record("MulBackward", [a, b], g => [a.RequiresGrad ? g.Mul(b).SumTo(a._shape) : null, b.RequiresGrad ? g.Mul(a).SumTo(b._shape) : null], a, b);
    }

    /// <summary>this times a scalar.</summary>
    public Tensor Mul(double other)
    {
        if (IsComplex) return ComplexScale(other);
        var r = Elementwise.BinaryF("Mul", this, S(other), new MulOp<float>(), new MulOp<double>());
        return AnyRequiresGrad(this) ? r.Record("MulBackward", this, g => g.Mul(other)) : r;
    }

    /// <summary>this / other, elementwise with broadcasting (<c>torch.div</c>, true division).</summary>
    public Tensor Div(Tensor other)
    {
        if (IsComplex || other.IsComplex) return ComplexBinary("Div", this, other);
        var r = Elementwise.BinaryF("Div", this, other, new DivOp<float>(), new DivOp<double>());
        if (!AnyRequiresGrad(this, other)) return r;
        var (a, b) = (this, other);
        // d(a/b)/da = 1/b ; d(a/b)/db = −a/b² = −r/b
        return r.Record("DivBackward", [a, b], g => [
            a.RequiresGrad ? g.Div(b).SumTo(a._shape) : null,
            b.RequiresGrad ? g.Mul(r.Saved()).Div(b).Neg().SumTo(b._shape) : null], b, r);
    }

    /// <summary>this divided by a scalar.</summary>
    public Tensor Div(double other) => Mul(1.0 / other);

    /// <summary>−this.</summary>
    public Tensor Neg()
    {
        if (IsComplex) return ComplexNeg();
        var r = DType == DType.Int64 ? Elementwise.Unary<long, long, NegOp<long>>(default, this)
            : Elementwise.UnaryF("Neg", this, new NegOp<float>(), new NegOp<double>());
        return AnyRequiresGrad(this) ? r.Record("NegBackward", this, g => g.Neg()) : r;
    }

    /// <summary>Elementwise power with a scalar exponent.</summary>
    public Tensor Pow(double exponent)
    {
        var r = Elementwise.BinaryF("Pow", this, S(exponent), new PowOp<float>(), new PowOp<double>());
        if (!AnyRequiresGrad(this)) return r;
        var x = this;
        return r.Record("PowBackward", x, g => exponent == 0 ? ZerosLike(g) : g.Mul(x.Pow(exponent - 1)).Mul(exponent), x);
    }

    /// <summary>Elementwise power with a tensor exponent (broadcast).</summary>
    public Tensor Pow(Tensor exponent)
    {
        var r = Elementwise.BinaryF("Pow", this, exponent, new PowOp<float>(), new PowOp<double>());
        if (!AnyRequiresGrad(this, exponent)) return r;
        var (a, b) = (this, exponent);
        // d(aᵇ)/da = b·aᵇ⁻¹ ; d(aᵇ)/db = aᵇ·ln a (0 where a = 0, as in PyTorch)
        return r.Record("PowBackward", [a, b], g => [
            a.RequiresGrad ? g.Mul(b).Mul(a.Pow(b.Sub(1))).SumTo(a._shape) : null,
            b.RequiresGrad ? g.Mul(r.Saved()).Mul(Where(a.Eq(0), ZerosLike(a), a.Log())).SumTo(b._shape) : null], a, b, r);
    }

    /// <summary>this², elementwise.</summary>
    public Tensor Square() => Mul(this);

    /// <summary>atan2(this, other): the angle of (other, this) in (−π, π], elementwise with broadcasting (<c>torch.atan2</c>).</summary>
    public Tensor Atan2(Tensor other)
    {
        var r = Elementwise.BinaryF("Atan2", this, other, new Atan2Op<float>(), new Atan2Op<double>());
        if (!AnyRequiresGrad(this, other)) return r;
        var (y, x) = (this, other);
        // d atan2(y,x) = (x dy − y dx)/(x² + y²)
        return r.Record("Atan2Backward", [y, x], g =>
        {
            var den = x.Square().Add(y.Square());
            return [y.RequiresGrad ? g.Mul(x).Div(den).SumTo(y._shape) : null, x.RequiresGrad ? g.Mul(y).Neg().Div(den).SumTo(x._shape) : null];
        }, y, x);
    }

    /// <summary>Elementwise maximum (<c>torch.maximum</c>); ties split the gradient evenly, as in PyTorch.</summary>
    public Tensor Maximum(Tensor other)
    {
        var r = Elementwise.BinaryF("Maximum", this, other, new MaxOp<float>(), new MaxOp<double>());
        return AnyRequiresGrad(this, other) ? RecordMinMax("MaximumBackward", r, this, other, CompareKind.Gt) : r;
    }

    /// <summary>Elementwise minimum (<c>torch.minimum</c>).</summary>
    public Tensor Minimum(Tensor other)
    {
        var r = Elementwise.BinaryF("Minimum", this, other, new MinOp<float>(), new MinOp<double>());
        return AnyRequiresGrad(this, other) ? RecordMinMax("MinimumBackward", r, this, other, CompareKind.Lt) : r;
    }

    private static Tensor RecordMinMax(string name, Tensor r, Tensor a, Tensor b, CompareKind wins)
    {
        return r.Record(name, [a, b], g =>
        {
            var aWins = a.Compare(b, wins).To(g.DType);
            var tie = a.Eq(b).To(g.DType).Mul(0.5);
            var wa = aWins.Add(tie);
            var wb = Scalar(1, g.DType).Sub(wa);
            return [a.RequiresGrad ? g.Mul(wa).SumTo(a._shape) : null, b.RequiresGrad ? g.Mul(wb).SumTo(b._shape) : null];
        }, a, b);
    }

    // ------------------------------------------------------------------ unary functions

    /// <summary>eˣ, elementwise.</summary>
    public Tensor Exp()
    {
        if (IsComplex) return ComplexExp();
        var r = Elementwise.UnaryF("Exp", this, new ExpOp<float>(), new ExpOp<double>());
        return AnyRequiresGrad(this) ? r.Record("ExpBackward", this, g => g.Mul(r.Saved()), r) : r;
    }

    /// <summary>Natural logarithm, elementwise (−∞ at 0, NaN below).</summary>
    public Tensor Log()
    {
        var r = Elementwise.UnaryF("Log", this, new LogOp<float>(), new LogOp<double>());
        var x = this;
        return AnyRequiresGrad(this) ? r.Record("LogBackward", this, g => g.Div(x), x) : r;
    }

    /// <summary>Square root, elementwise.</summary>
    public Tensor Sqrt()
    {
        var r = Elementwise.UnaryF("Sqrt", this, new SqrtOp<float>(), new SqrtOp<double>());
        return AnyRequiresGrad(this) ? r.Record("SqrtBackward", this, g => g.Div(r.Saved()).Mul(0.5), r) : r;
    }

    /// <summary>1/√x, elementwise (<c>torch.rsqrt</c>).</summary>
    public Tensor Rsqrt()
    {
        var r = Elementwise.UnaryF("Rsqrt", this, new RsqrtOp<float>(), new RsqrtOp<double>());
        // d x^(−½) = −½ x^(−3/2) = −½ r³
        return AnyRequiresGrad(this) ? r.Record("RsqrtBackward", this, g => { var y = r.Saved(); return g.Mul(y.Mul(y).Mul(y)).Mul(-0.5); }, r) : r;
    }

    /// <summary>|x|; for complex tensors the modulus (a real tensor), with gradient g·z/|z| (0 at 0).</summary>
    public Tensor Abs()
    {
        if (IsComplex) return ComplexAbs();
        var r = DType == DType.Int64 ? Elementwise.Unary<long, long, AbsOp<long>>(default, this)
            : Elementwise.UnaryF("Abs", this, new AbsOp<float>(), new AbsOp<double>());
        var x = this;
        return AnyRequiresGrad(this) ? r.Record("AbsBackward", this, g => g.Mul(x.Sign()), x) : r;
    }

    /// <summary>−1, 0 or 1 by sign; its gradient is zero.</summary>
    public Tensor Sign()
    {
        var r = Elementwise.UnaryF("Sign", this, new SignOp<float>(), new SignOp<double>());
        return AnyRequiresGrad(this) ? r.Record("SignBackward", this, g => ZerosLike(g)) : r;
    }

    /// <summary>Hyperbolic tangent, elementwise.</summary>
    public Tensor Tanh()
    {
        var r = Elementwise.UnaryF("Tanh", this, new TanhOp<float>(), new TanhOp<double>());
        return AnyRequiresGrad(this)
            ? r.Record("TanhBackward", this, g => GradMode.IsEnabled ? g.Mul(r.Mul(r).Neg().Add(1))   // createGraph: recorded ops
                : Elementwise.BackwardF("TanhBackward", g, r.Detach(), new TanhBackwardOp<float>(), new TanhBackwardOp<double>()), r)
            : r;
    }

    /// <summary>Logistic sigmoid 1/(1 + e⁻ˣ), elementwise.</summary>
    public Tensor Sigmoid()
    {
        var r = Elementwise.UnaryF("Sigmoid", this, new SigmoidOp<float>(), new SigmoidOp<double>());
        return AnyRequiresGrad(this)
            ? r.Record("SigmoidBackward", this, g => GradMode.IsEnabled ? g.Mul(r).Mul(r.Neg().Add(1))   // createGraph: recorded ops
                : Elementwise.BackwardF("SigmoidBackward", g, r.Detach(), new SigmoidBackwardOp<float>(), new SigmoidBackwardOp<double>()), r)
            : r;
    }

    /// <summary>Rectified linear unit max(x, 0); gradient 0 at x = 0, as in PyTorch.</summary>
    public Tensor Relu()
    {
        var r = Elementwise.UnaryF("Relu", this, new ReluOp<float>(), new ReluOp<double>());
        var x = this;
        return AnyRequiresGrad(this)
            ? r.Record("ReluBackward", this, g => GradMode.IsEnabled ? g.Mul(x.Detach().Gt(0).To(g.DType))   // createGraph: recorded in g (the mask is constant)
                : Elementwise.BackwardF("ReluBackward", g, x.Detach(), new ReluBackwardOp<float>(), new ReluBackwardOp<double>()), x)
            : r;
    }

    /// <summary>Error function, elementwise; gradient 2/√π·e^(−x²).</summary>
    public Tensor Erf()
    {
        var r = Elementwise.UnaryF("Erf", this, new ErfOp<float>(), new ErfOp<double>());
        var x = this;
        // d erf(x) = 2/√π · e^(−x²)
        return AnyRequiresGrad(this) ? r.Record("ErfBackward", this, g => g.Mul(x.Square().Neg().Exp()).Mul(2 / Math.Sqrt(Math.PI)), x) : r;
    }

    /// <summary>ln|Γ(x)|, elementwise (<c>torch.lgamma</c>); +∞ at 0 and the negative integers. d/dx = ψ(x).</summary>
    public Tensor Lgamma()
    {
        var r = Elementwise.UnaryF("Lgamma", this, new GammaFamilyOp<float>(0), new GammaFamilyOp<double>(0));
        var x = this;
        return AnyRequiresGrad(this) ? r.Record("LgammaBackward", this, g => g.Mul(x.Digamma()), x) : r;
    }

    /// <summary>ψ(x) = d ln Γ(x)/dx, elementwise (<c>torch.digamma</c>); −∞ at 0, NaN at the negative integers.
    /// d/dx = ψ₁(x).</summary>
    public Tensor Digamma()
    {
        var r = Elementwise.UnaryF("Digamma", this, new GammaFamilyOp<float>(1), new GammaFamilyOp<double>(1));
        var x = this;
        return AnyRequiresGrad(this) ? r.Record("DigammaBackward", this, g => g.Mul(x.Polygamma(1)), x) : r;
    }

    /// <summary>ψ⁽ⁿ⁾(x), elementwise (<c>torch.polygamma(n, x)</c>), for n = 0 (ψ) and n = 1 (ψ₁, whose own gradient is
    /// not implemented: a backward through it throws).</summary>
    public Tensor Polygamma(int n)
    {
        if (n == 0) return Digamma();
        if (n != 1) throw new NotSupportedException($"Polygamma: order n = {n} is not implemented (0 and 1 are).");
        var r = Elementwise.UnaryF("Polygamma", this, new GammaFamilyOp<float>(2), new GammaFamilyOp<double>(2));
        return AnyRequiresGrad(this)
            ? r.Record("PolygammaBackward", this, _ => throw new NotSupportedException("Polygamma: the gradient of polygamma(1, x) (order 2) is not implemented."), this)
            : r;
    }

    /// <summary>Sine, elementwise.</summary>
    public Tensor Sin()
    {
        var r = Elementwise.UnaryF("Sin", this, new SinOp<float>(), new SinOp<double>());
        var x = this;
        return AnyRequiresGrad(this) ? r.Record("SinBackward", this, g => g.Mul(x.Cos()), x) : r;
    }

    /// <summary>Cosine, elementwise.</summary>
    public Tensor Cos()
    {
        var r = Elementwise.UnaryF("Cos", this, new CosOp<float>(), new CosOp<double>());
        var x = this;
        return AnyRequiresGrad(this) ? r.Record("CosBackward", this, g => g.Mul(x.Sin()).Neg(), x) : r;
    }

    /// <summary>Clamps into [min, max]; either bound may be null. The gradient passes where min ≤ x ≤ max.</summary>
    public Tensor Clamp(double? min = null, double? max = null)
    {
        if (min is null && max is null) throw new ArgumentException("Clamp: at least one of min and max must be given.");
        double lo = min ?? double.NegativeInfinity, hi = max ?? double.PositiveInfinity;
        var r = Elementwise.UnaryF("Clamp", this, new ClampOp<float>((float)lo, (float)hi), new ClampOp<double>(lo, hi));
        var x = this;
        return AnyRequiresGrad(this)
            ? r.Record("ClampBackward", this, g => g.Mul(x.Ge(lo).LogicalAnd(x.Le(hi)).To(g.DType)), x)
            : r;
    }

    /// <summary>1/x, elementwise.</summary>
    public Tensor Reciprocal() => Scalar(1, DType).Div(this);

    // ------------------------------------------------------------------ in-place variants (not recorded)

    private Tensor InPlaceBinary<TF, TD>(string name, Tensor other, TF f, TD d)
        where TF : struct, IBinaryOp<float, float> where TD : struct, IBinaryOp<double, double>
    {
        CheckInPlace(name);
        Elementwise.BinaryIntoF(name, this, other, this, f, d);
        MarkModified();
        return this;
    }

    private Tensor InPlaceUnary<TF, TD>(string name, TF f, TD d)
        where TF : struct, IUnaryOp<float, float> where TD : struct, IUnaryOp<double, double>
    {
        CheckInPlace(name);
        Elementwise.UnaryIntoF(name, this, this, f, d);
        MarkModified();
        return this;
    }

    /// <summary>this += other (<c>add_</c>).</summary>
    public Tensor AddInPlace(Tensor other) => IsComplex ? ComplexInPlace("AddInPlace", "Add", other) : InPlaceBinary("AddInPlace", other, new AddOp<float>(), new AddOp<double>());
    /// <summary>In place: this += scalar (PyTorch's <c>add_</c>); returns this.</summary>
    public Tensor AddInPlace(double other) => AddInPlace(S(other));
    /// <summary>this += alpha·other.</summary>
    public Tensor AddInPlace(Tensor other, double alpha) => alpha == 1 ? AddInPlace(other) : AddInPlace(other.Mul(alpha));
    /// <summary>In place: this −= other (broadcast to this shape); returns this.</summary>
    public Tensor SubInPlace(Tensor other) => IsComplex ? ComplexInPlace("SubInPlace", "Sub", other) : InPlaceBinary("SubInPlace", other, new SubOp<float>(), new SubOp<double>());
    /// <summary>In place: this −= scalar; returns this.</summary>
    public Tensor SubInPlace(double other) => SubInPlace(S(other));
    /// <summary>In place: this ·= other (broadcast to this shape); returns this.</summary>
    public Tensor MulInPlace(Tensor other) => IsComplex ? ComplexInPlace("MulInPlace", "Mul", other) : InPlaceBinary("MulInPlace", other, new MulOp<float>(), new MulOp<double>());
    /// <summary>In place: this ·= scalar; returns this.</summary>
    public Tensor MulInPlace(double other) => MulInPlace(S(other));
    /// <summary>In place: this /= other (broadcast to this shape); returns this.</summary>
    public Tensor DivInPlace(Tensor other) => IsComplex ? ComplexInPlace("DivInPlace", "Div", other) : InPlaceBinary("DivInPlace", other, new DivOp<float>(), new DivOp<double>());
    /// <summary>In place: this /= scalar; returns this.</summary>
    public Tensor DivInPlace(double other) => MulInPlace(1.0 / other);
    /// <summary>In place: this = this^exponent; returns this.</summary>
    public Tensor PowInPlace(double exponent) => InPlaceBinary("PowInPlace", S(exponent), new PowOp<float>(), new PowOp<double>());
    /// <summary>In place: this = max(this, other); returns this.</summary>
    public Tensor MaximumInPlace(Tensor other) => InPlaceBinary("MaximumInPlace", other, new MaxOp<float>(), new MaxOp<double>());
    /// <summary>In place: this = min(this, other); returns this.</summary>
    public Tensor MinimumInPlace(Tensor other) => InPlaceBinary("MinimumInPlace", other, new MinOp<float>(), new MinOp<double>());
    /// <summary>In place: this = −this; returns this.</summary>
    public Tensor NegInPlace() => InPlaceUnary("NegInPlace", new NegOp<float>(), new NegOp<double>());
    /// <summary>In place: this = eˣ; returns this.</summary>
    public Tensor ExpInPlace() => InPlaceUnary("ExpInPlace", new ExpOp<float>(), new ExpOp<double>());
    /// <summary>In place: this = ln x; returns this.</summary>
    public Tensor LogInPlace() => InPlaceUnary("LogInPlace", new LogOp<float>(), new LogOp<double>());
    /// <summary>In place: this = √x; returns this.</summary>
    public Tensor SqrtInPlace() => InPlaceUnary("SqrtInPlace", new SqrtOp<float>(), new SqrtOp<double>());
    /// <summary>In place: this = |x|; returns this.</summary>
    public Tensor AbsInPlace() => InPlaceUnary("AbsInPlace", new AbsOp<float>(), new AbsOp<double>());
    /// <summary>In place: this = tanh x; returns this.</summary>
    public Tensor TanhInPlace() => InPlaceUnary("TanhInPlace", new TanhOp<float>(), new TanhOp<double>());
    /// <summary>In place: this = sigmoid(x); returns this.</summary>
    public Tensor SigmoidInPlace() => InPlaceUnary("SigmoidInPlace", new SigmoidOp<float>(), new SigmoidOp<double>());
    /// <summary>In place: this = max(x, 0); returns this.</summary>
    public Tensor ReluInPlace() => InPlaceUnary("ReluInPlace", new ReluOp<float>(), new ReluOp<double>());
    /// <summary>In place: clamps to [min, max] (either may be absent); returns this.</summary>
    public Tensor ClampInPlace(double? min = null, double? max = null)
    {
        double lo = min ?? double.NegativeInfinity, hi = max ?? double.PositiveInfinity;
        return InPlaceUnary("ClampInPlace", new ClampOp<float>((float)lo, (float)hi), new ClampOp<double>(lo, hi));
    }

    /// <summary>Fills with one value, in place (<c>fill_</c>).</summary>
    public Tensor Fill(double value)
    {
        CheckInPlace("Fill");
        FillRaw(value);
        return this;
    }

    /// <summary>Sets every element to zero, in place (<c>zero_</c>).</summary>
    public Tensor Zero()
    {
        Fill(0);
        if (IsContiguous && _offset == 0 && _numel == _storage.Length) _storage.ZeroVersion = _storage.Version;
        return this;
    }

    /// <summary>True while this tensor is the whole of a buffer <see cref="Zero"/> cleared and nothing wrote since.</summary>
    internal bool IsKnownZero => _storage.ZeroVersion == _storage.Version && IsContiguous && _offset == 0 && _numel == _storage.Length;

    // ------------------------------------------------------------------ comparisons, selection

    internal Tensor Compare(Tensor other, CompareKind kind)
    {
        CheckSameDType("Compare", this, other);
        return DType switch
        {
            DType.Float32 => Elementwise.Binary<float, bool, CompareOp<float>>("Compare", new(kind), this, other),
            DType.Float64 => Elementwise.Binary<double, bool, CompareOp<double>>("Compare", new(kind), this, other),
            DType.Int64 => Elementwise.Binary<long, bool, CompareOp<long>>("Compare", new(kind), this, other),
            DType.Bool => kind switch
            {
                CompareKind.Eq => Elementwise.Binary<bool, bool, LogicalOp>("Eq", new(LogicalKind.Xor), this, other).LogicalNot(),
                CompareKind.Ne => Elementwise.Binary<bool, bool, LogicalOp>("Ne", new(LogicalKind.Xor), this, other),
                _ => throw new NotSupportedException($"Compare: bool tensors support only Eq and Ne (shapes {ShapeUtil.Str(_shape)}, {ShapeUtil.Str(other._shape)})."),
            },
            _ => throw new NotSupportedException($"Compare: dtype {DType.Name()}."),
        };
    }

    /// <summary>this == other, elementwise with broadcasting: a bool tensor.</summary>
    public Tensor Eq(Tensor other) => Compare(other, CompareKind.Eq);
    /// <summary>this != other: a bool tensor.</summary>
    public Tensor Ne(Tensor other) => Compare(other, CompareKind.Ne);
    /// <summary>this &lt; other: a bool tensor.</summary>
    public Tensor Lt(Tensor other) => Compare(other, CompareKind.Lt);
    /// <summary>this ≤ other: a bool tensor.</summary>
    public Tensor Le(Tensor other) => Compare(other, CompareKind.Le);
    /// <summary>this &gt; other: a bool tensor.</summary>
    public Tensor Gt(Tensor other) => Compare(other, CompareKind.Gt);
    /// <summary>this ≥ other: a bool tensor.</summary>
    public Tensor Ge(Tensor other) => Compare(other, CompareKind.Ge);
    /// <summary>this == scalar: a bool tensor.</summary>
    public Tensor Eq(double other) => Compare(S(other), CompareKind.Eq);
    /// <summary>this != scalar: a bool tensor.</summary>
    public Tensor Ne(double other) => Compare(S(other), CompareKind.Ne);
    /// <summary>this &lt; scalar: a bool tensor.</summary>
    public Tensor Lt(double other) => Compare(S(other), CompareKind.Lt);
    /// <summary>this ≤ scalar: a bool tensor.</summary>
    public Tensor Le(double other) => Compare(S(other), CompareKind.Le);
    /// <summary>this &gt; scalar: a bool tensor.</summary>
    public Tensor Gt(double other) => Compare(S(other), CompareKind.Gt);
    /// <summary>this ≥ scalar: a bool tensor.</summary>
    public Tensor Ge(double other) => Compare(S(other), CompareKind.Ge);

    /// <summary>Elementwise AND of two tensors read as bools (nonzero is true), with broadcasting.</summary>
    public Tensor LogicalAnd(Tensor other) => Logical("LogicalAnd", other, LogicalKind.And);
    /// <summary>Elementwise OR of two tensors read as bools, with broadcasting.</summary>
    public Tensor LogicalOr(Tensor other) => Logical("LogicalOr", other, LogicalKind.Or);
    /// <summary>Elementwise XOR of two tensors read as bools, with broadcasting.</summary>
    public Tensor LogicalXor(Tensor other) => Logical("LogicalXor", other, LogicalKind.Xor);

    private Tensor Logical(string name, Tensor other, LogicalKind kind)
    {
        var a = To(DType.Bool);
        var b = other.To(DType.Bool);
        return Elementwise.Binary<bool, bool, LogicalOp>(name, new(kind), a, b);
    }

    /// <summary>Elementwise NOT of this tensor read as bools.</summary>
    public Tensor LogicalNot() => Elementwise.Unary<bool, bool, LogicalNotOp>(default, To(DType.Bool));

    /// <summary>Elementwise choice: <paramref name="a"/> where <paramref name="condition"/> is true, else <paramref name="b"/> (all broadcast).</summary>
    public static Tensor Where(Tensor condition, Tensor a, Tensor b)
    {
        condition.CheckDType("Where", DType.Bool);
        CheckSameDType("Where", a, b);
        var shape = ShapeUtil.Broadcast("Where", ShapeUtil.Broadcast("Where", condition._shape, a._shape), b._shape);
        var r = Empty(a.DType, shape);
        var c = condition.Expand(shape);
        switch (a.DType)
        {
            case DType.Float32: WhereKernel<float>(c, a.Expand(shape), b.Expand(shape), r); break;
            case DType.Float64: WhereKernel<double>(c, a.Expand(shape), b.Expand(shape), r); break;
            case DType.Int64: WhereKernel<long>(c, a.Expand(shape), b.Expand(shape), r); break;
            case DType.Bool: WhereKernel<bool>(c, a.Expand(shape), b.Expand(shape), r); break;
            default: throw new NotSupportedException($"Where: dtype {a.DType.Name()}.");
        }
        if (!AnyRequiresGrad(a, b)) return r;
        return r.Record("WhereBackward", [a, b], g =>
        {
            var zero = ZerosLike(g);
            return [a.RequiresGrad ? Where(condition, g, zero).SumTo(a._shape) : null, b.RequiresGrad ? Where(condition, zero, g).SumTo(b._shape) : null];
        }, condition);
    }

    /// <summary>condition ? a : b, with a scalar b (<c>torch.where</c>).</summary>
    public static Tensor Where(Tensor condition, Tensor a, double b) => Where(condition, a, Scalar(b, a.DType));
    /// <summary>condition ? a : b, with a scalar a.</summary>
    public static Tensor Where(Tensor condition, double a, Tensor b) => Where(condition, Scalar(a, b.DType), b);

    private struct WhereRun<T> : IRun where T : unmanaged
    {
        public T[] D, A, B; public bool[] C;
        public void Run(int len, ReadOnlySpan<int> off, ReadOnlySpan<int> inner)
        {
            int od = off[0], oc = off[1], oa = off[2], ob = off[3];
            for (int i = 0; i < len; i++, od += inner[0], oc += inner[1], oa += inner[2], ob += inner[3])
                D[od] = C[oc] ? A[oa] : B[ob];
        }
    }

    private static void WhereKernel<T>(Tensor c, Tensor a, Tensor b, Tensor d) where T : unmanaged
    {
        var plan = new StridedPlan(d._shape, [d._strides, c._strides, a._strides, b._strides], [d._offset, c._offset, a._offset, b._offset]);
        plan.ExecuteParallel(new WhereRun<T> { D = d.Data<T>(), A = a.Data<T>(), B = b.Data<T>(), C = c.Data<bool>() });
    }

    /// <summary>Replaces elements where <paramref name="mask"/> is true with <paramref name="value"/>.</summary>
    public Tensor MaskedFill(Tensor mask, double value)
    {
        var shape = ShapeUtil.Broadcast("MaskedFill", _shape, mask._shape);
        if (!ShapeUtil.SameShape(shape, _shape))
            throw new ArgumentException($"MaskedFill: mask of shape {ShapeUtil.Str(mask._shape)} does not broadcast to the tensor's shape {ShapeUtil.Str(_shape)}.");
        return Where(mask, S(value), this);
    }

    /// <summary>In-place <see cref="MaskedFill"/> (<c>masked_fill_</c>).</summary>
    public Tensor MaskedFillInPlace(Tensor mask, double value)
    {
        CheckInPlace("MaskedFillInPlace");
        CopyRaw(MaskedFill(mask, value), this);
        MarkModified();
        return this;
    }

    // ------------------------------------------------------------------ operators

    /// <summary>Elementwise sum (<see cref="Add(Tensor)"/>).</summary>
    public static Tensor operator +(Tensor a, Tensor b) => a.Add(b);
    /// <summary>Tensor plus scalar.</summary>
    public static Tensor operator +(Tensor a, double b) => a.Add(b);
    /// <summary>Scalar plus tensor.</summary>
    public static Tensor operator +(double a, Tensor b) => b.Add(a);
    /// <summary>Elementwise difference (<see cref="Sub(Tensor)"/>).</summary>
    public static Tensor operator -(Tensor a, Tensor b) => a.Sub(b);
    /// <summary>Tensor minus scalar.</summary>
    public static Tensor operator -(Tensor a, double b) => a.Sub(b);
    /// <summary>Scalar minus tensor.</summary>
    public static Tensor operator -(double a, Tensor b) => b.Neg().Add(a);
    /// <summary>Elementwise product (<see cref="Mul(Tensor)"/>).</summary>
    public static Tensor operator *(Tensor a, Tensor b) => a.Mul(b);
    /// <summary>Tensor times scalar.</summary>
    public static Tensor operator *(Tensor a, double b) => a.Mul(b);
    /// <summary>Scalar times tensor.</summary>
    public static Tensor operator *(double a, Tensor b) => b.Mul(a);
    /// <summary>Elementwise quotient (<see cref="Div(Tensor)"/>).</summary>
    public static Tensor operator /(Tensor a, Tensor b) => a.Div(b);
    /// <summary>Tensor divided by scalar.</summary>
    public static Tensor operator /(Tensor a, double b) => a.Div(b);
    /// <summary>Scalar divided by tensor.</summary>
    public static Tensor operator /(double a, Tensor b) => Scalar(a, b.DType).Div(b);
    /// <summary>Negation.</summary>
    public static Tensor operator -(Tensor a) => a.Neg();

}

public sealed partial class Tensor
{
    /// <summary>True if any element is nonzero / true.</summary>
    public bool Any() => To(DType.Bool).Contiguous().Span<bool>().Contains(true);

    /// <summary>True if every element is nonzero / true.</summary>
    public bool All() => !To(DType.Bool).Contiguous().Span<bool>().Contains(false);
}
