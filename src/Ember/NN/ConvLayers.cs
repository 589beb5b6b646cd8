namespace Ember.NN;

/// <summary>2-D convolution layer (PyTorch's <c>nn.Conv2d</c>): input (N, C_in, H, W) → (N, C_out, OH, OW).
/// Weight (C_out, C_in/groups, kH, kW) and bias initialized as PyTorch does (Kaiming uniform, a = √5).</summary>
public sealed class Conv2d : Module
{
    public int InChannels { get; }
    public int OutChannels { get; }
    public Size2 KernelSize { get; }
    public Size2 Stride { get; }
    public Padding Padding { get; }
    public Size2 Dilation { get; }
    public int Groups { get; }
    public Tensor Weight { get; }
    public Tensor? Bias { get; }

    public Conv2d(int inChannels, int outChannels, Size2 kernelSize, Size2? stride = null, Padding? padding = null, Size2? dilation = null,
        int groups = 1, bool bias = true, DType dtype = DType.Float32, Generator? generator = null)
    {
        ConvChecks.Channels("Conv2d", inChannels, outChannels, groups);
        if (kernelSize.H < 1 || kernelSize.W < 1) throw new ArgumentException($"Conv2d: kernel size must be positive, got {kernelSize}.");
        (InChannels, OutChannels, KernelSize, Groups) = (inChannels, outChannels, kernelSize, groups);
        Stride = stride ?? 1; Padding = padding ?? 0; Dilation = dilation ?? 1;
        Weight = RegisterParameter("weight", Tensor.Empty(dtype, [outChannels, inChannels / groups, kernelSize.H, kernelSize.W], zero: true))!;
        Bias = RegisterParameter("bias", bias ? Tensor.Empty(dtype, [outChannels], zero: true) : null);
        ConvChecks.DefaultInit(Weight, Bias, generator);
    }

    public override Tensor Forward(Tensor input) => Functional.Conv2d(input, Weight, Bias, Stride, Padding, Dilation, Groups);

    /// <summary>ReLU(Forward(input)) as one fused op (<see cref="Sequential"/> uses it).</summary>
    internal Tensor ForwardRelu(Tensor input) => Functional.Conv2dRelu(input, Weight, Bias, Stride, Padding, Dilation, Groups);

    /// <summary>MaxPool2d(ReLU(Forward(input)), 2) as one fused op (<see cref="Sequential"/> uses it).</summary>
    internal Tensor ForwardReluPool(Tensor input) => Functional.Conv2dReluPool(input, Weight, Bias, Stride, Padding, Dilation, Groups);

    protected override string ExtraRepr() =>
        $"{InChannels}, {OutChannels}, kernel_size={KernelSize}, stride={Stride}, padding={Padding}" +
        (Dilation != new Size2(1, 1) ? $", dilation={Dilation}" : "") + (Groups != 1 ? $", groups={Groups}" : "") + (Bias is null ? ", bias=False" : "");
}

/// <summary>1-D convolution layer: input (N, C_in, L) → (N, C_out, OL).</summary>
public sealed class Conv1d : Module
{
    public int InChannels { get; }
    public int OutChannels { get; }
    public int KernelSize { get; }
    public int Stride { get; }
    public Padding Padding { get; }
    public int Dilation { get; }
    public int Groups { get; }
    public Tensor Weight { get; }
    public Tensor? Bias { get; }

    public Conv1d(int inChannels, int outChannels, int kernelSize, int stride = 1, Padding? padding = null, int dilation = 1, int groups = 1,
        bool bias = true, DType dtype = DType.Float32, Generator? generator = null)
    {
        ConvChecks.Channels("Conv1d", inChannels, outChannels, groups);
        if (kernelSize < 1) throw new ArgumentException($"Conv1d: kernel size must be positive, got {kernelSize}.");
        (InChannels, OutChannels, KernelSize, Stride, Dilation, Groups) = (inChannels, outChannels, kernelSize, stride, dilation, groups);
        Padding = padding ?? 0;
        Weight = RegisterParameter("weight", Tensor.Empty(dtype, [outChannels, inChannels / groups, kernelSize], zero: true))!;
        Bias = RegisterParameter("bias", bias ? Tensor.Empty(dtype, [outChannels], zero: true) : null);
        ConvChecks.DefaultInit(Weight, Bias, generator);
    }

    public override Tensor Forward(Tensor input) => Functional.Conv1d(input, Weight, Bias, Stride, Padding, Dilation, Groups);

    protected override string ExtraRepr() =>
        $"{InChannels}, {OutChannels}, kernel_size=({KernelSize},), stride=({Stride},), padding={Padding}" +
        (Dilation != 1 ? $", dilation={Dilation}" : "") + (Groups != 1 ? $", groups={Groups}" : "") + (Bias is null ? ", bias=False" : "");
}

/// <summary>2-D transposed convolution layer (PyTorch's <c>nn.ConvTranspose2d</c>): weight (C_in, C_out/groups, kH, kW).</summary>
public sealed class ConvTranspose2d : Module
{
    public int InChannels { get; }
    public int OutChannels { get; }
    public Size2 KernelSize { get; }
    public Size2 Stride { get; }
    public Size2 Padding { get; }
    public Size2 OutputPadding { get; }
    public Size2 Dilation { get; }
    public int Groups { get; }
    public Tensor Weight { get; }
    public Tensor? Bias { get; }

    public ConvTranspose2d(int inChannels, int outChannels, Size2 kernelSize, Size2? stride = null, Size2? padding = null,
        Size2? outputPadding = null, int groups = 1, bool bias = true, Size2? dilation = null, DType dtype = DType.Float32, Generator? generator = null)
    {
        ConvChecks.Channels("ConvTranspose2d", inChannels, outChannels, groups);
        (InChannels, OutChannels, KernelSize, Groups) = (inChannels, outChannels, kernelSize, groups);
        Stride = stride ?? 1; Padding = padding ?? 0; OutputPadding = outputPadding ?? 0; Dilation = dilation ?? 1;
        Weight = RegisterParameter("weight", Tensor.Empty(dtype, [inChannels, outChannels / groups, kernelSize.H, kernelSize.W], zero: true))!;
        Bias = RegisterParameter("bias", bias ? Tensor.Empty(dtype, [outChannels], zero: true) : null);
        ConvChecks.DefaultInit(Weight, Bias, generator);
    }

    public override Tensor Forward(Tensor input) =>
        Functional.ConvTranspose2d(input, Weight, Bias, Stride, Padding, OutputPadding, Groups, Dilation);

    protected override string ExtraRepr() =>
        $"{InChannels}, {OutChannels}, kernel_size={KernelSize}, stride={Stride}, padding={Padding}" +
        (OutputPadding != new Size2(0, 0) ? $", output_padding={OutputPadding}" : "") + (Groups != 1 ? $", groups={Groups}" : "") +
        (Bias is null ? ", bias=False" : "");
}

internal static class ConvChecks
{
    public static void Channels(string op, int inChannels, int outChannels, int groups)
    {
        if (inChannels < 1 || outChannels < 1 || groups < 1 || inChannels % groups != 0 || outChannels % groups != 0)
            throw new ArgumentException($"{op}: in_channels={inChannels} and out_channels={outChannels} must be positive and divisible by groups={groups}.");
    }

    /// <summary>PyTorch's reset_parameters for convolutions: W ~ Kaiming uniform (a = √5), b ~ U(±1/√fan_in).</summary>
    public static void DefaultInit(Tensor weight, Tensor? bias, Generator? generator)
    {
        Init.KaimingUniform(weight, a: Math.Sqrt(5), g: generator);
        if (bias is null) return;
        var (fanIn, _) = Init.Fans(weight);
        double bound = fanIn > 0 ? 1 / Math.Sqrt(fanIn) : 0;
        Init.Uniform(bias, -bound, bound, generator);
    }
}

/// <summary>2-D max pooling layer.</summary>
public sealed class MaxPool2d(Size2 kernelSize, Size2? stride = null, Size2? padding = null, Size2? dilation = null, bool ceilMode = false) : Module
{
    public override Tensor Forward(Tensor input) => Functional.MaxPool2d(input, kernelSize, stride, padding, dilation, ceilMode);

    /// <summary>A plain 2×2 window with stride 2 (no padding, dilation or ceil mode): what a fused convolution can pool.</summary>
    internal bool IsHalving => kernelSize == new Size2(2, 2) && (stride ?? kernelSize) == new Size2(2, 2) && (padding ?? 0) == new Size2(0, 0)
        && (dilation ?? 1) == new Size2(1, 1) && !ceilMode;

    protected override string ExtraRepr() => $"kernel_size={kernelSize}, stride={stride ?? kernelSize}, padding={padding ?? 0}";
}

/// <summary>1-D max pooling layer.</summary>
public sealed class MaxPool1d(int kernelSize, int? stride = null, int padding = 0, int dilation = 1, bool ceilMode = false) : Module
{
    public override Tensor Forward(Tensor input) => Functional.MaxPool1d(input, kernelSize, stride, padding, dilation, ceilMode);
    protected override string ExtraRepr() => $"kernel_size={kernelSize}, stride={stride ?? kernelSize}, padding={padding}";
}

/// <summary>2-D average pooling layer.</summary>
public sealed class AvgPool2d(Size2 kernelSize, Size2? stride = null, Size2? padding = null, bool ceilMode = false, bool countIncludePad = true) : Module
{
    public override Tensor Forward(Tensor input) => Functional.AvgPool2d(input, kernelSize, stride, padding, ceilMode, countIncludePad);
    protected override string ExtraRepr() => $"kernel_size={kernelSize}, stride={stride ?? kernelSize}, padding={padding ?? 0}";
}

/// <summary>1-D average pooling layer.</summary>
public sealed class AvgPool1d(int kernelSize, int? stride = null, int padding = 0, bool ceilMode = false, bool countIncludePad = true) : Module
{
    public override Tensor Forward(Tensor input) => Functional.AvgPool1d(input, kernelSize, stride, padding, ceilMode, countIncludePad);
    protected override string ExtraRepr() => $"kernel_size={kernelSize}, stride={stride ?? kernelSize}, padding={padding}";
}

/// <summary>Adaptive average pooling to a fixed output size.</summary>
public sealed class AdaptiveAvgPool2d(Size2 outputSize) : Module
{
    public override Tensor Forward(Tensor input) => Functional.AdaptiveAvgPool2d(input, outputSize);
    protected override string ExtraRepr() => $"output_size={outputSize}";
}

/// <summary>Adaptive average pooling over the last dim.</summary>
public sealed class AdaptiveAvgPool1d(int outputSize) : Module
{
    public override Tensor Forward(Tensor input) => Functional.AdaptiveAvgPool1d(input, outputSize);
    protected override string ExtraRepr() => $"output_size={outputSize}";
}

/// <summary>Batch normalization (shared by <see cref="BatchNorm1d"/> and <see cref="BatchNorm2d"/>): learnable
/// per-channel γ, β; running mean/variance buffers updated in training (momentum null = cumulative average, as
/// PyTorch); num_batches_tracked kept for checkpoint compatibility with PyTorch.</summary>
public abstract class BatchNormBase : Module
{
    public int NumFeatures { get; }
    public double Eps { get; }
    public double? Momentum { get; }
    public Tensor? Weight { get; }
    public Tensor? Bias { get; }
    public Tensor? RunningMean { get; }
    public Tensor? RunningVar { get; }
    public Tensor? NumBatchesTracked { get; }
    private readonly string _name;
    private readonly int[] _dims;

    protected BatchNormBase(string name, int[] dims, int numFeatures, double eps, double? momentum, bool affine, bool trackRunningStats, DType dtype)
    {
        if (numFeatures < 1) throw new ArgumentException($"{name}: num_features must be positive, got {numFeatures}.");
        if (momentum is < 0 or > 1) throw new ArgumentException($"{name}: momentum must be in [0, 1], got {momentum}.");
        (_name, _dims, NumFeatures, Eps, Momentum) = (name, dims, numFeatures, eps, momentum);
        Weight = RegisterParameter("weight", affine ? Tensor.Ones([numFeatures], dtype) : null);
        Bias = RegisterParameter("bias", affine ? Tensor.Zeros([numFeatures], dtype) : null);
        if (trackRunningStats)
        {
            RunningMean = RegisterBuffer("running_mean", Tensor.Zeros([numFeatures], dtype));
            RunningVar = RegisterBuffer("running_var", Tensor.Ones([numFeatures], dtype));
            NumBatchesTracked = RegisterBuffer("num_batches_tracked", Tensor.Zeros([], DType.Int64));
        }
    }

    public override Tensor Forward(Tensor input)
    {
        if (!_dims.Contains(input.Dim))
            throw new ArgumentException($"{_name}: expected {string.Join(" or ", _dims.Select(d => d + "-D"))} input, got {ShapeUtil.Str(input._shape)}.");
        if (input._shape[1] != NumFeatures)
            throw new ArgumentException($"{_name}: input {ShapeUtil.Str(input._shape)} has {input._shape[1]} channels, expected {NumFeatures}.");
        bool useBatchStats = Training || RunningMean is null;
        double momentum = Momentum ?? 0;
        if (Training && NumBatchesTracked is not null)
        {
            long tracked = ++NumBatchesTracked.Data<long>()[NumBatchesTracked._offset];
            NumBatchesTracked.MarkModified();
            if (Momentum is null) momentum = 1.0 / tracked;
        }
        return Functional.BatchNorm(input, useBatchStats && !Training ? null : RunningMean, useBatchStats && !Training ? null : RunningVar,
            Weight, Bias, useBatchStats, momentum, Eps);
    }

    protected override string ExtraRepr() =>
        $"{NumFeatures}, eps={Eps}, momentum={(Momentum is null ? "None" : Momentum.ToString())}, affine={(Weight is not null ? "True" : "False")}, " +
        $"track_running_stats={(RunningMean is not null ? "True" : "False")}";
}

/// <summary>Batch normalization over (N, C) or (N, C, L).</summary>
public sealed class BatchNorm1d(int numFeatures, double eps = 1e-5, double? momentum = 0.1, bool affine = true, bool trackRunningStats = true,
    DType dtype = DType.Float32) : BatchNormBase("BatchNorm1d", [2, 3], numFeatures, eps, momentum, affine, trackRunningStats, dtype);

/// <summary>Batch normalization over (N, C, H, W).</summary>
public sealed class BatchNorm2d(int numFeatures, double eps = 1e-5, double? momentum = 0.1, bool affine = true, bool trackRunningStats = true,
    DType dtype = DType.Float32) : BatchNormBase("BatchNorm2d", [4], numFeatures, eps, momentum, affine, trackRunningStats, dtype);

/// <summary>Layer normalization over the trailing <c>normalizedShape</c> dims with elementwise γ, β.</summary>
public sealed class LayerNorm : Module
{
    public int[] NormalizedShape { get; }
    public double Eps { get; }
    public Tensor? Weight { get; }
    public Tensor? Bias { get; }

    public LayerNorm(int[] normalizedShape, double eps = 1e-5, bool elementwiseAffine = true, bool bias = true, DType dtype = DType.Float32)
    {
        if (normalizedShape.Length == 0 || normalizedShape.Any(s => s < 1))
            throw new ArgumentException($"LayerNorm: normalized_shape must be non-empty and positive, got {ShapeUtil.Str(normalizedShape)}.");
        NormalizedShape = (int[])normalizedShape.Clone();
        Eps = eps;
        Weight = RegisterParameter("weight", elementwiseAffine ? Tensor.Ones(NormalizedShape, dtype) : null);
        Bias = RegisterParameter("bias", elementwiseAffine && bias ? Tensor.Zeros(NormalizedShape, dtype) : null);
    }

    public LayerNorm(int normalizedShape, double eps = 1e-5, bool elementwiseAffine = true, bool bias = true, DType dtype = DType.Float32)
        : this([normalizedShape], eps, elementwiseAffine, bias, dtype) { }

    public override Tensor Forward(Tensor input) => Functional.LayerNorm(input, NormalizedShape, Weight, Bias, Eps);
    protected override string ExtraRepr() => $"({string.Join(", ", NormalizedShape)},), eps={Eps}, elementwise_affine={(Weight is not null ? "True" : "False")}";
}

/// <summary>Group normalization with per-channel γ, β.</summary>
public sealed class GroupNorm : Module
{
    public int NumGroups { get; }
    public int NumChannels { get; }
    public double Eps { get; }
    public Tensor? Weight { get; }
    public Tensor? Bias { get; }

    public GroupNorm(int numGroups, int numChannels, double eps = 1e-5, bool affine = true, DType dtype = DType.Float32)
    {
        if (numGroups < 1 || numChannels < 1 || numChannels % numGroups != 0)
            throw new ArgumentException($"GroupNorm: num_groups={numGroups} must divide num_channels={numChannels}.");
        (NumGroups, NumChannels, Eps) = (numGroups, numChannels, eps);
        Weight = RegisterParameter("weight", affine ? Tensor.Ones([numChannels], dtype) : null);
        Bias = RegisterParameter("bias", affine ? Tensor.Zeros([numChannels], dtype) : null);
    }

    public override Tensor Forward(Tensor input) => Functional.GroupNorm(input, NumGroups, Weight, Bias, Eps);
    protected override string ExtraRepr() => $"{NumGroups}, {NumChannels}, eps={Eps}, affine={(Weight is not null ? "True" : "False")}";
}

/// <summary>Channel dropout layer; identity in eval mode.</summary>
public sealed class Dropout2d : Module
{
    public double P { get; }
    private readonly Generator? _generator;
    internal override Generator? RandomSource => P > 0 ? _generator ?? Generator.Default : null;

    public Dropout2d(double p = 0.5, Generator? generator = null)
    {
        if (p < 0 || p > 1) throw new ArgumentException($"Dropout2d: probability must be in [0, 1], got {p}.");
        P = p;
        _generator = generator;
    }

    public override Tensor Forward(Tensor input) => Functional.Dropout2d(input, P, Training, _generator);
    protected override string ExtraRepr() => $"p={P}";
}

/// <summary>Resizing layer (PyTorch's <c>nn.Upsample</c>): a fixed output size or a scale factor; nearest or bilinear.</summary>
public sealed class Upsample : Module
{
    public Size2? Size { get; }
    public (double H, double W)? ScaleFactor { get; }
    public InterpolationMode Mode { get; }
    public bool AlignCorners { get; }

    public Upsample(Size2? size = null, double? scaleFactor = null, InterpolationMode mode = InterpolationMode.Nearest, bool alignCorners = false)
    {
        if ((size is null) == (scaleFactor is null)) throw new ArgumentException("Upsample: give exactly one of size and scale_factor.");
        Size = size;
        ScaleFactor = scaleFactor is double s ? (s, s) : null;
        Mode = mode;
        AlignCorners = alignCorners;
    }

    public override Tensor Forward(Tensor input) => Functional.Interpolate(input, Size, ScaleFactor, Mode, AlignCorners);
    protected override string ExtraRepr() =>
        (Size is not null ? $"size={Size}" : $"scale_factor={ScaleFactor!.Value.H}") + $", mode='{Mode.ToString().ToLowerInvariant()}'";
}
