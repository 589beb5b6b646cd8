namespace Ember.NN;

// Complex-valued layers after Trabelsi et al., "Deep Complex Networks" (ICLR 2018). Inputs and weights are complex
// tensors (complex64 for training, complex128 for gradient checks); gradients follow PyTorch's convention, so the
// optimizers update complex parameters like real ones (through their real and imaginary parts).

public static partial class Functional
{
    private static void RequireComplex(string op, Tensor t, string what = "input")
    {
        if (!t.IsComplex) throw new ArgumentException($"{op}: the {what} must be complex (complex64 or complex128), got {t.DType.Name()} {ShapeUtil.Str(t.Shape)}.");
    }

    /// <summary>y = x·Wᵀ + b for complex x (…, in), W (out, in), b (out).</summary>
    public static Tensor ComplexLinear(Tensor input, Tensor weight, Tensor? bias = null)
    {
        RequireComplex("ComplexLinear", input);
        RequireComplex("ComplexLinear", weight, "weight");
        if (input.Size(-1) != weight.Size(1))
            throw new ArgumentException($"ComplexLinear: input {ShapeUtil.Str(input.Shape)} has {input.Size(-1)} features, the weight {ShapeUtil.Str(weight.Shape)} expects {weight.Size(1)}.");
        var y = input.Matmul(weight.MT);
        return bias is null ? y : y.Add(bias);
    }

    /// <summary>Complex 2-D convolution W∗x = (Wr∗xr − Wi∗xi) + i(Wr∗xi + Wi∗xr), computed as one real convolution over
    /// the stacked [real; imaginary] channels with the block weight [[Wr, −Wi], [Wi, Wr]]. Input (N, C, H, W), weight
    /// (O, C/groups, kH, kW), bias (O); with groups > 1 each group of channels is convolved separately.</summary>
    public static Tensor ComplexConv2d(Tensor input, Tensor weight, Tensor? bias = null, Size2? stride = null, Padding? padding = null, Size2? dilation = null,
        int groups = 1)
    {
        RequireComplex("ComplexConv2d", input);
        RequireComplex("ComplexConv2d", weight, "weight");
        if (input.Dim != 4) throw new ArgumentException($"ComplexConv2d: input must be (N, C, H, W), got {ShapeUtil.Str(input.Shape)}.");
        if (groups < 1 || input.Size(1) % groups != 0 || weight.Size(0) % groups != 0 || input.Size(1) / groups != weight.Size(1))
            throw new ArgumentException($"ComplexConv2d: input {ShapeUtil.Str(input.Shape)} with {groups} group(s) does not match the weight {ShapeUtil.Str(weight.Shape)} (expects C/groups = {weight.Size(1)} channels per group).");
        if (groups > 1)
        {
            int ci = input.Size(1) / groups, co = weight.Size(0) / groups;
            var outs = Enumerable.Range(0, groups).Select(gi => ComplexConv2d(input.Narrow(1, gi * ci, ci), weight.Narrow(0, gi * co, co), null, stride, padding, dilation)).ToArray();
            var y0 = Tensor.Cat(outs, 1);
            return bias is null ? y0 : y0.Add(bias.View(1, weight.Size(0), 1, 1));
        }
        var (wr, wi) = (weight.Real(), weight.Imag());
        var block = Tensor.Cat([Tensor.Cat([wr, wi.Neg()], 1), Tensor.Cat([wi, wr], 1)], 0);
        var x = Tensor.Cat([input.Real(), input.Imag()], 1);
        var y = Conv2d(x, block, null, stride, padding, dilation);
        int o = weight.Size(0);
        var z = Tensor.Complex(y.Narrow(1, 0, o), y.Narrow(1, o, o));
        return bias is null ? z : z.Add(bias.View(1, o, 1, 1));
    }

    /// <summary>Complex 2-D transposed convolution; weight (C_in, C_out, kH, kW), block weight [[Wr, Wi], [−Wi, Wr]].</summary>
    public static Tensor ComplexConvTranspose2d(Tensor input, Tensor weight, Tensor? bias = null, Size2? stride = null, Size2? padding = null,
        Size2? outputPadding = null, Size2? dilation = null)
    {
        RequireComplex("ComplexConvTranspose2d", input);
        RequireComplex("ComplexConvTranspose2d", weight, "weight");
        if (input.Dim != 4) throw new ArgumentException($"ComplexConvTranspose2d: input must be (N, C, H, W), got {ShapeUtil.Str(input.Shape)}.");
        if (input.Size(1) != weight.Size(0))
            throw new ArgumentException($"ComplexConvTranspose2d: input {ShapeUtil.Str(input.Shape)} has {input.Size(1)} channels, the weight {ShapeUtil.Str(weight.Shape)} expects {weight.Size(0)}.");
        var (wr, wi) = (weight.Real(), weight.Imag());
        var block = Tensor.Cat([Tensor.Cat([wr, wi], 1), Tensor.Cat([wi.Neg(), wr], 1)], 0);
        var x = Tensor.Cat([input.Real(), input.Imag()], 1);
        var y = ConvTranspose2d(x, block, null, stride, padding, outputPadding, 1, dilation);
        int o = weight.Size(1);
        var z = Tensor.Complex(y.Narrow(1, 0, o), y.Narrow(1, o, o));
        return bias is null ? z : z.Add(bias.View(1, o, 1, 1));
    }

    /// <summary>CReLU: ReLU on the real and imaginary parts separately.</summary>
    public static Tensor CRelu(Tensor z)
    {
        RequireComplex("CRelu", z);
        return Tensor.Complex(z.Real().Relu(), z.Imag().Relu());
    }

    /// <summary>modReLU (Arjovsky et al.): ReLU(|z| + b)·z/|z|, with a real bias b broadcast against |z| (zero where
    /// z = 0).</summary>
    public static Tensor ModRelu(Tensor z, Tensor bias, double eps = 1e-6)
    {
        RequireComplex("ModRelu", z);
        var mag = z.Abs();
        var scale = mag.Add(bias).Relu().Div(mag.Add(eps));
        return z.Mul(scale);
    }

    /// <summary>zReLU (Guberman): z where its phase lies in [0, π/2] (both parts non-negative), 0 elsewhere.</summary>
    public static Tensor ZRelu(Tensor z)
    {
        RequireComplex("ZRelu", z);
        var keep = z.Real().Detach().Ge(0).LogicalAnd(z.Imag().Detach().Ge(0)).To(z.DType.ToReal());
        return z.Mul(keep);
    }

    /// <summary>Complex cardioid (Virtue et al.): ½(1 + cos ∠z)·z, a phase-sensitive gate that reduces to ReLU on the
    /// real line. cos ∠z = Re z/|z| (1 at z = 0).</summary>
    public static Tensor Cardioid(Tensor z, double eps = 1e-12)
    {
        RequireComplex("Cardioid", z);
        var cos = z.Real().Div(z.Abs().Add(eps));
        return z.Mul(cos.Add(1).Mul(0.5));
    }

    /// <summary>Max pooling by modulus: each window keeps its element of largest |z| (phase included).</summary>
    public static Tensor ComplexMaxPool2d(Tensor z, Size2 kernelSize, Size2? stride = null, Size2? padding = null)
    {
        RequireComplex("ComplexMaxPool2d", z);
        if (z.Dim != 4) throw new ArgumentException($"ComplexMaxPool2d: input must be (N, C, H, W), got {ShapeUtil.Str(z.Shape)}.");
        Tensor idx;
        using (Tensor.NoGrad()) (_, idx) = MaxPool2dWithIndices(z.Detach().Abs(), kernelSize, stride, padding);
        int n = z.Size(0), c = z.Size(1), oh = idx.Size(2), ow = idx.Size(3);
        var flatIdx = idx.Reshape(n, c, oh * ow);
        Tensor Pick(Tensor part) => part.Reshape(n, c, -1).Gather(2, flatIdx).Reshape(n, c, oh, ow);
        return Tensor.Complex(Pick(z.Real()), Pick(z.Imag()));
    }

    /// <summary>Average pooling of the real and imaginary parts.</summary>
    public static Tensor ComplexAvgPool2d(Tensor z, Size2 kernelSize, Size2? stride = null, Size2? padding = null)
    {
        RequireComplex("ComplexAvgPool2d", z);
        return Tensor.Complex(AvgPool2d(z.Real(), kernelSize, stride, padding), AvgPool2d(z.Imag(), kernelSize, stride, padding));
    }

    /// <summary>Dropout for complex tensors: one mask per element zeroes real and imaginary parts together and the
    /// survivors are scaled by 1/(1 − p) once (not once per part).</summary>
    public static Tensor ComplexDropout(Tensor z, double p = 0.5, bool training = true, Generator? generator = null)
    {
        RequireComplex("ComplexDropout", z);
        if (p < 0 || p > 1) throw new ArgumentException($"ComplexDropout: p must be in [0, 1], got {p}.");
        if (!training || p == 0) return z;
        if (p == 1) return z.Mul(Tensor.Zeros(z.Shape, z.DType.ToReal()));
        var mask = Tensor.Bernoulli(z.Shape, 1 - p, z.DType.ToReal(), generator).Mul(1 / (1 - p));
        return z.Mul(mask);
    }
}

/// <summary>Complex weight initialization (Trabelsi et al. §3.6): modulus ~ Rayleigh(σ), phase ~ U(−π, π), with
/// σ = 1/√fan_in ("he") or 1/√(fan_in + fan_out) ("glorot"), so Var(W) = 2σ² matches the real criteria.</summary>
public static class ComplexInit
{
    /// <summary>Rayleigh initialization of a complex weight in place (Trabelsi et al. 2018): modulus ~ Rayleigh(σ) with σ = 1/√fan_in (He) or 1/√(fan_in + fan_out) (<paramref name="glorot"/>), phase ~ U(−π, π); returns <paramref name="w"/>.</summary>
    public static Tensor Rayleigh(Tensor w, bool glorot = false, Generator? g = null)
    {
        if (!w.IsComplex) throw new ArgumentException($"ComplexInit.Rayleigh: expects a complex tensor, got {w.DType.Name()}.");
        var (fanIn, fanOut) = Init.Fans(w);
        double sigma = glorot ? 1 / Math.Sqrt(fanIn + fanOut) : 1 / Math.Sqrt(fanIn);
        var realType = w.DType.ToReal();
        var u = Tensor.Rand(w.Shape, realType, g);
        var phase = Tensor.Rand(w.Shape, realType, g).Mul(2 * Math.PI).Sub(Math.PI);
        using var _ = Tensor.NoGrad();
        var modulus = u.Neg().Add(1).Log().Mul(-2).Sqrt().Mul(sigma);
        w.CopyFrom(Tensor.Polar(modulus, phase));
        return w;
    }
}

/// <summary>Complex fully connected layer: (…, in) → (…, out), complex weight and bias.</summary>
public sealed class ComplexLinear : Module
{
    /// <summary>Complex weight (out_features, in_features).</summary>
    public Tensor Weight { get; }
    /// <summary>Complex bias (out_features), or null.</summary>
    public Tensor? Bias { get; }

    /// <summary>A complex linear layer in_features → out_features with Rayleigh-initialized weights (complex64 or complex128).</summary>
    public ComplexLinear(int inFeatures, int outFeatures, bool bias = true, DType dtype = DType.Complex64, Generator? generator = null)
    {
        if (!dtype.IsComplex()) throw new ArgumentException($"ComplexLinear: dtype must be complex, got {dtype.Name()}.");
        if (inFeatures <= 0 || outFeatures <= 0) throw new ArgumentException($"ComplexLinear: feature counts must be positive, got {inFeatures} and {outFeatures}.");
        Weight = RegisterParameter("weight", Tensor.Zeros([outFeatures, inFeatures], dtype))!;
        Bias = RegisterParameter("bias", bias ? Tensor.Zeros([outFeatures], dtype) : null);
        ComplexInit.Rayleigh(Weight, glorot: true, g: generator);
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Functional.ComplexLinear(input, Weight, Bias);
    /// <inheritdoc/>
    protected override string ExtraRepr() => $"in_features={Weight.Size(1)}, out_features={Weight.Size(0)}, bias={(Bias is not null ? "True" : "False")}";
}

/// <summary>Complex 2-D convolution (N, C, H, W) → (N, O, OH, OW).</summary>
public sealed class ComplexConv2d : Module
{
    /// <summary>Complex kernel (out_channels, in_channels/groups, kH, kW).</summary>
    public Tensor Weight { get; }
    /// <summary>Complex bias (out_channels), or null.</summary>
    public Tensor? Bias { get; }
    /// <summary>Stride (vertical, horizontal).</summary>
    public Size2 Stride { get; }
    /// <summary>Zero padding.</summary>
    public Padding Padding { get; }
    /// <summary>Kernel dilation.</summary>
    public Size2 Dilation { get; }

    /// <summary>Channel groups.</summary>
    public int Groups { get; }

    /// <summary>A complex 2-D convolution in_channels → out_channels with a kernel_size kernel, Rayleigh-initialized.</summary>
    public ComplexConv2d(int inChannels, int outChannels, Size2 kernelSize, Size2? stride = null, Padding? padding = null, Size2? dilation = null,
        bool bias = true, DType dtype = DType.Complex64, Generator? generator = null, int groups = 1)
    {
        if (!dtype.IsComplex()) throw new ArgumentException($"ComplexConv2d: dtype must be complex, got {dtype.Name()}.");
        ConvChecks.Channels("ComplexConv2d", inChannels, outChannels, groups);
        Stride = stride ?? 1; Padding = padding ?? 0; Dilation = dilation ?? 1; Groups = groups;
        Weight = RegisterParameter("weight", Tensor.Zeros([outChannels, inChannels / groups, kernelSize.H, kernelSize.W], dtype))!;
        Bias = RegisterParameter("bias", bias ? Tensor.Zeros([outChannels], dtype) : null);
        ComplexInit.Rayleigh(Weight, g: generator);
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Functional.ComplexConv2d(input, Weight, Bias, Stride, Padding, Dilation, Groups);
    /// <inheritdoc/>
    protected override string ExtraRepr() => $"{Weight.Size(1)}, {Weight.Size(0)}, kernel_size=({Weight.Size(2)}, {Weight.Size(3)}), stride={Stride}, padding={Padding}";
}

/// <summary>Complex 2-D transposed convolution (N, C, H, W) → (N, O, OH, OW).</summary>
public sealed class ComplexConvTranspose2d : Module
{
    /// <summary>Complex kernel (in_channels, out_channels, kH, kW).</summary>
    public Tensor Weight { get; }
    /// <summary>Complex bias (out_channels), or null.</summary>
    public Tensor? Bias { get; }
    /// <summary>Stride (the upsampling factor).</summary>
    public Size2 Stride { get; }
    /// <summary>Padding removed from each side of the full output.</summary>
    public Size2 Padding { get; }
    /// <summary>Extra rows/columns added to one side of the output.</summary>
    public Size2 OutputPadding { get; }

    /// <summary>A complex transposed 2-D convolution in_channels → out_channels, Rayleigh-initialized.</summary>
    public ComplexConvTranspose2d(int inChannels, int outChannels, Size2 kernelSize, Size2? stride = null, Size2? padding = null, Size2? outputPadding = null,
        bool bias = true, DType dtype = DType.Complex64, Generator? generator = null)
    {
        if (!dtype.IsComplex()) throw new ArgumentException($"ComplexConvTranspose2d: dtype must be complex, got {dtype.Name()}.");
        ConvChecks.Channels("ComplexConvTranspose2d", inChannels, outChannels, 1);
        Stride = stride ?? 1; Padding = padding ?? 0; OutputPadding = outputPadding ?? 0;
        Weight = RegisterParameter("weight", Tensor.Zeros([inChannels, outChannels, kernelSize.H, kernelSize.W], dtype))!;
        Bias = RegisterParameter("bias", bias ? Tensor.Zeros([outChannels], dtype) : null);
        ComplexInit.Rayleigh(Weight, g: generator);
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Functional.ComplexConvTranspose2d(input, Weight, Bias, Stride, Padding, OutputPadding);
}

/// <summary>Complex batch normalization (Trabelsi et al. §3.5): each channel is centred and whitened by the inverse
/// square root of its 2×2 covariance of (real, imaginary) parts, then scaled by a learned symmetric 2×2 γ (γrr = γii =
/// 1/√2, γri = 0 at start) and shifted by a complex β. Running mean and covariance (momentum as BatchNorm) serve eval
/// mode. Input (N, C, H, W) or (N, C). Shape: complex (N, C, H, W) → the same.</summary>
public sealed class ComplexBatchNorm2d : Module
{
    /// <summary>Channels C.</summary>
    public int NumFeatures { get; }
    /// <summary>Added to the 2×2 covariance's diagonal before whitening.</summary>
    public double Eps { get; }
    /// <summary>Running-statistics update factor.</summary>
    public double Momentum { get; }
    /// <summary>Learnable scale, real-real entry of the 2×2 γ per channel (initialized 1/√2).</summary>
    public Tensor GammaRr { get; }
    /// <summary>Learnable scale, real-imaginary entry of γ (initialized 0).</summary>
    public Tensor GammaRi { get; }
    /// <summary>Learnable scale, imaginary-imaginary entry of γ (initialized 1/√2).</summary>
    public Tensor GammaIi { get; }
    /// <summary>Learnable complex shift β (C).</summary>
    public Tensor Beta { get; }
    /// <summary>Running complex mean (C).</summary>
    public Tensor RunningMean { get; }
    /// <summary>Running variance of the real parts (C).</summary>
    public Tensor RunningVrr { get; }
    /// <summary>Running covariance of real and imaginary parts (C).</summary>
    public Tensor RunningVri { get; }
    /// <summary>Running variance of the imaginary parts (C).</summary>
    public Tensor RunningVii { get; }

    /// <summary>Complex batch normalization over <paramref name="numFeatures"/> channels.</summary>
    public ComplexBatchNorm2d(int numFeatures, double eps = 1e-5, double momentum = 0.1, DType dtype = DType.Complex64)
    {
        if (!dtype.IsComplex()) throw new ArgumentException($"ComplexBatchNorm2d: dtype must be complex, got {dtype.Name()}.");
        if (numFeatures <= 0) throw new ArgumentException($"ComplexBatchNorm2d: num_features must be positive, got {numFeatures}.");
        (NumFeatures, Eps, Momentum) = (numFeatures, eps, momentum);
        var real = dtype.ToReal();
        GammaRr = RegisterParameter("gamma_rr", Tensor.Full([numFeatures], 1 / Math.Sqrt(2), real))!;
        GammaRi = RegisterParameter("gamma_ri", Tensor.Zeros([numFeatures], real))!;
        GammaIi = RegisterParameter("gamma_ii", Tensor.Full([numFeatures], 1 / Math.Sqrt(2), real))!;
        Beta = RegisterParameter("beta", Tensor.Zeros([numFeatures], dtype))!;
        RunningMean = RegisterBuffer("running_mean", Tensor.Zeros([numFeatures], dtype))!;
        RunningVrr = RegisterBuffer("running_Vrr", Tensor.Full([numFeatures], 1 / Math.Sqrt(2), real))!;
        RunningVri = RegisterBuffer("running_Vri", Tensor.Zeros([numFeatures], real))!;
        RunningVii = RegisterBuffer("running_Vii", Tensor.Full([numFeatures], 1 / Math.Sqrt(2), real))!;
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        if (!input.IsComplex || input.Dim is not (2 or 4) || input.Size(1) != NumFeatures)
            throw new ArgumentException($"ComplexBatchNorm2d: expects a complex (N, {NumFeatures}, H, W) or (N, {NumFeatures}) input, got {input.DType.Name()} {ShapeUtil.Str(input.Shape)}.");
        int[] dims = input.Dim == 4 ? [0, 2, 3] : [0];
        int[] bshape = input.Dim == 4 ? [1, NumFeatures, 1, 1] : [1, NumFeatures];
        var re = input.Real();
        var im = input.Imag();
        Tensor mr, mi, vrr, vri, vii;
        if (Training)
        {
            mr = re.Mean(dims, keepDim: true);
            mi = im.Mean(dims, keepDim: true);
            var cr = re.Sub(mr);
            var ci = im.Sub(mi);
            vrr = cr.Square().Mean(dims, keepDim: true);
            vri = cr.Mul(ci).Mean(dims, keepDim: true);
            vii = ci.Square().Mean(dims, keepDim: true);
            using (Tensor.NoGrad())
            {
                var m = Tensor.Complex(mr.Reshape(NumFeatures), mi.Reshape(NumFeatures)).To(RunningMean.DType);
                RunningMean.MulInPlace(1 - Momentum).AddInPlace(m.Mul(Momentum));
                RunningVrr.MulInPlace(1 - Momentum).AddInPlace(vrr.Reshape(NumFeatures).Mul(Momentum));
                RunningVri.MulInPlace(1 - Momentum).AddInPlace(vri.Reshape(NumFeatures).Mul(Momentum));
                RunningVii.MulInPlace(1 - Momentum).AddInPlace(vii.Reshape(NumFeatures).Mul(Momentum));
            }
        }
        else
        {
            mr = RunningMean.Real().Reshape(bshape);
            mi = RunningMean.Imag().Reshape(bshape);
            vrr = RunningVrr.Reshape(bshape);
            vri = RunningVri.Reshape(bshape);
            vii = RunningVii.Reshape(bshape);
        }
        // V^(−1/2) of [[a, b], [b, c]] (a = Vrr + ε, c = Vii + ε): with s = √(ac − b²), t = √(a + c + 2s),
        // V^(−1/2) = [[c + s, −b], [−b, a + s]] / (s·t).
        var a = vrr.Add(Eps);
        var c = vii.Add(Eps);
        var s = a.Mul(c).Sub(vri.Square()).Sqrt();
        var t = a.Add(c).Add(s.Mul(2)).Sqrt();
        var inv = s.Mul(t).Reciprocal();
        var wrr = c.Add(s).Mul(inv);
        var wii = a.Add(s).Mul(inv);
        var wri = vri.Neg().Mul(inv);
        var xr = re.Sub(mr);
        var xi = im.Sub(mi);
        var nr = wrr.Mul(xr).Add(wri.Mul(xi));
        var ni = wri.Mul(xr).Add(wii.Mul(xi));
        var grr = GammaRr.Reshape(bshape);
        var gri = GammaRi.Reshape(bshape);
        var gii = GammaIi.Reshape(bshape);
        var yr = grr.Mul(nr).Add(gri.Mul(ni));
        var yi = gri.Mul(nr).Add(gii.Mul(ni));
        return Tensor.Complex(yr, yi).Add(Beta.Reshape(bshape));
    }
}

/// <summary>"Naive" complex batch normalization: independent real BatchNorm2d on the real and imaginary parts (no
/// whitening of their correlation). Shape: complex (N, C, H, W) → the same.</summary>
public sealed class NaiveComplexBatchNorm2d : Module
{
    private readonly BatchNorm2d _re, _im;

    /// <summary>Batch normalization of real and imaginary parts separately over <paramref name="numFeatures"/> channels.</summary>
    public NaiveComplexBatchNorm2d(int numFeatures, double eps = 1e-5, double momentum = 0.1, DType dtype = DType.Complex64)
    {
        if (!dtype.IsComplex()) throw new ArgumentException($"NaiveComplexBatchNorm2d: dtype must be complex, got {dtype.Name()}.");
        _re = RegisterModule("real", new BatchNorm2d(numFeatures, eps, momentum, dtype: dtype.ToReal()));
        _im = RegisterModule("imag", new BatchNorm2d(numFeatures, eps, momentum, dtype: dtype.ToReal()));
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        if (!input.IsComplex) throw new ArgumentException($"NaiveComplexBatchNorm2d: expects a complex input, got {input.DType.Name()}.");
        return Tensor.Complex(_re.Call(input.Real()), _im.Call(input.Imag()));
    }
}

/// <summary>CReLU activation module. Shape: complex (*) → (*).</summary>
public sealed class CRelu : Module
{
    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Functional.CRelu(input);
}

/// <summary>zReLU activation module. Shape: complex (*) → (*).</summary>
public sealed class ZRelu : Module
{
    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Functional.ZRelu(input);
}

/// <summary>Complex cardioid activation module. Shape: complex (*) → (*).</summary>
public sealed class Cardioid : Module
{
    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Functional.Cardioid(input);
}

/// <summary>modReLU with one learned real bias per feature/channel (dim 1), initialized to 0.
/// Shape: complex (*, features) → the same.</summary>
public sealed class ModRelu : Module
{
    /// <summary>Learnable per-feature bias b of ReLU(|z| + b)·z/|z|.</summary>
    public Tensor Bias { get; }

    /// <summary>modReLU over <paramref name="features"/> features (the last dimension).</summary>
    public ModRelu(int features, DType dtype = DType.Float32)
    {
        Bias = RegisterParameter("bias", Tensor.Zeros([features], dtype))!;
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        var shape = new int[input.Dim];
        Array.Fill(shape, 1);
        shape[input.Dim == 1 ? 0 : 1] = Bias.Size(0);
        return Functional.ModRelu(input, Bias.To(input.DType.ToReal()).Reshape(shape));
    }
}

/// <summary>Max pooling by modulus. Shape: complex (N, C, H, W) → (N, C, H_out, W_out), as MaxPool2d.</summary>
public sealed class ComplexMaxPool2d(Size2 kernelSize, Size2? stride = null, Size2? padding = null) : Module
{
    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Functional.ComplexMaxPool2d(input, kernelSize, stride, padding);
}

/// <summary>Average pooling of real and imaginary parts.
/// Shape: complex (N, C, H, W) → (N, C, H_out, W_out), as AvgPool2d.</summary>
public sealed class ComplexAvgPool2d(Size2 kernelSize, Size2? stride = null, Size2? padding = null) : Module
{
    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Functional.ComplexAvgPool2d(input, kernelSize, stride, padding);
}

/// <summary>Complex dropout (one mask per element, scaled once); identity in eval mode. Shape: (*) → (*).</summary>
public sealed class ComplexDropout : Module
{
    private readonly Generator? _generator;

    /// <summary>Complex dropout with probability <paramref name="p"/>, drawing from <paramref name="generator"/> (or
    /// <see cref="Generator.Default"/>).</summary>
    public ComplexDropout(double p = 0.5, Generator? generator = null)
    {
        if (p < 0 || p > 1) throw new ArgumentException($"ComplexDropout: probability must be in [0, 1], got {p}.");
        P = p;
        _generator = generator;
    }

    /// <summary>Probability that a complex element is zeroed (real and imaginary parts together).</summary>
    public double P { get; }

    /// <summary>The generator a training step draws masks from (its state goes into checkpoints, so resuming is exact).</summary>
    internal override Generator? RandomSource => P > 0 ? _generator ?? Generator.Default : null;

    /// <inheritdoc/>
    public override bool HoldsActivations => false;

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Functional.ComplexDropout(input, P, Training, _generator);
}
