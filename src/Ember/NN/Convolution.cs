namespace Ember.NN;

/// <summary>2-D convolution layer (PyTorch's <c>nn.Conv2d</c>): input (N, C_in, H, W) → (N, C_out, OH, OW).
/// Weight (C_out, C_in/groups, kH, kW) and bias initialized as PyTorch does (Kaiming uniform, a = √5).</summary>
public sealed class Conv2d : Module, IFusibleLayer
{
    /// <inheritdoc/>
    public override bool HoldsActivations => false;

    /// <summary>Input channels C_in.</summary>
    public int InChannels { get; private set; }
    /// <summary>Output channels C_out.</summary>
    public int OutChannels { get; private set; }
    /// <summary>Kernel height and width.</summary>
    public Size2 KernelSize { get; }
    /// <summary>Stride (vertical, horizontal).</summary>
    public Size2 Stride { get; }
    /// <summary>Zero padding: sizes per side, or "same"/"valid".</summary>
    public Padding Padding { get; }
    /// <summary>Kernel dilation.</summary>
    public Size2 Dilation { get; }
    /// <summary>Channel groups (C_in for depthwise).</summary>
    public int Groups { get; }
    private Tensor? _weight;

    /// <summary>Kernel (C_out, C_in/groups, kH, kW). For a layer quantized to int8 (<see cref="Int8"/>), the float32
    /// kernel its int8 values stand for, computed on each read.</summary>
    public Tensor Weight => _weight ?? Int8!.Dequantize().View(OutChannels, InChannels / Groups, KernelSize.H, KernelSize.W);

    /// <summary>The int8 kernel, as (C_out, C_in·kH·kW), when the layer is quantized (<see cref="QuantizeInt8"/>), else null.</summary>
    public Quantization.Int8Weight? Int8 { get; private set; }

    /// <summary>The calibrated input range of a statically quantized layer, else null (dynamic: per output pixel).</summary>
    public Quantization.ActivationRange? InputRange => RegisteredInputRange;

    /// <summary>While set, every input of the layer is shown to it (calibration for static quantization).</summary>
    internal Quantization.ActivationObserver? Observer { get; set; }
    /// <summary>Bias (C_out), or null.</summary>
    public Tensor? Bias { get; private set; }

    /// <summary>A 2-D convolution layer; weight and bias initialized as PyTorch's (Kaiming uniform, a = √5).</summary>
    public Conv2d(int inChannels, int outChannels, Size2 kernelSize, Size2? stride = null, Padding? padding = null, Size2? dilation = null,
        int groups = 1, bool bias = true, DType dtype = DType.Float32, Generator? generator = null)
    {
        ConvChecks.Channels("Conv2d", inChannels, outChannels, groups);
        if (kernelSize.H < 1 || kernelSize.W < 1) throw new ArgumentException($"Conv2d: kernel size must be positive, got {kernelSize}.");
        (InChannels, OutChannels, KernelSize, Groups) = (inChannels, outChannels, kernelSize, groups);
        Stride = stride ?? 1; Padding = padding ?? 0; Dilation = dilation ?? 1;
        _weight = RegisterParameter("weight", Tensor.Empty(dtype, [outChannels, inChannels / groups, kernelSize.H, kernelSize.W], zero: true))!;
        Bias = RegisterParameter("bias", bias ? Tensor.Empty(dtype, [outChannels], zero: true) : null);
        ConvChecks.DefaultInit(_weight, Bias, generator);
    }

    /// <summary>Output channel o becomes scale_o·(output o) + shift_o: filters scaled, the bias (created when absent)
    /// scaled and shifted (BatchNorm folding).</summary>
    internal void ScaleOutputs(Tensor scale, Tensor shift)
    {
        if (_weight is null) throw new InvalidOperationException("Conv2d.ScaleOutputs: the layer is int8; fold BatchNorm before quantizing.");
        Bias = ScaleOutputRows(_weight, Bias, scale, shift);
    }

    /// <summary>Keeps only the output channels <paramref name="keep"/> (int64 indices): filters and bias.</summary>
    internal void SelectOutputChannels(Tensor keep)
    {
        CheckPrunable("SelectOutputChannels");
        _weight = SelectAlong("weight", 0, keep);
        if (Bias is not null) Bias = SelectAlong("bias", 0, keep);
        OutChannels = keep.Size(0);
    }

    /// <summary>Keeps only the input channels <paramref name="keep"/> (int64 indices).</summary>
    internal void SelectInputChannels(Tensor keep)
    {
        CheckPrunable("SelectInputChannels");
        _weight = SelectAlong("weight", 1, keep);
        InChannels = keep.Size(0);
    }

    private void CheckPrunable(string op)
    {
        if (Groups != 1) throw new InvalidOperationException($"Conv2d.{op}: grouped convolutions (groups={Groups}) are not pruned by channel.");
        if (_weight is null) throw new InvalidOperationException($"Conv2d.{op}: the layer is int8; prune it before quantizing.");
    }

    /// <summary>Quantizes the kernel to int8 per output channel. Without <paramref name="inputRange"/>, inputs are
    /// quantized per output pixel on each call (dynamic: each receptive field gets its own 7-bit scale); with it, all
    /// with the calibrated scale and zero point (static; saved as <c>input_scale</c>, <c>input_zero_point</c>). The float kernel leaves the
    /// state dict; <c>weight</c> (int8, the kernel's shape) and <c>weight_scale</c> take its place. Inference only:
    /// a gradient through the layer is an error. Groups must be 1. Idempotent.</summary>
    public void QuantizeInt8(Quantization.ActivationRange? inputRange = null)
    {
        if (Int8 is not null) return;
        if (Groups != 1) throw new NotSupportedException($"Conv2d.QuantizeInt8: grouped convolutions (groups={Groups}) are not quantized.");
        if (_weight!.DType != DType.Float32)
            throw new NotSupportedException($"Conv2d.QuantizeInt8: the kernel is {_weight.DType.Name()}; int8 quantization starts from float32.");
        var q = Quantization.Int8Weight.Quantize(_weight.Reshape(OutChannels, -1));
        RegisterInt8Weight(q.Values.View(OutChannels, InChannels, KernelSize.H, KernelSize.W), q.Scales, inputRange);
        Int8 = q;
        _weight = null;
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        Observer?.Observe(input);
        return Int8 is null
            ? Functional.Conv2d(input, Weight, Bias, Stride, Padding, Dilation, Groups)
            : Quantization.QuantizedOps.Conv2d(input, Int8, Bias, KernelSize, Stride, Padding, Dilation, relu: false, InputRange);
    }

    /// <summary>A following <see cref="ReLU"/> (1), or ReLU and a halving <see cref="MaxPool2d"/> with
    /// <see cref="EmberSettings.FusePooling"/> (2).</summary>
    public int FusibleFollowers(IReadOnlyList<Module> layers, int next, EmberSettings settings)
    {
        if (next >= layers.Count || layers[next] is not ReLU) return 0;
        if (Int8 is not null) return 1;
        return settings.FusePooling && next + 1 < layers.Count && layers[next + 1] is MaxPool2d { IsHalving: true } ? 2 : 1;
    }

    /// <summary>ReLU(Forward(input)), or MaxPool2d(ReLU(Forward(input)), 2), as one op.</summary>
    public Tensor ForwardFused(Tensor input, IReadOnlyList<Module> layers, int next, int followers)
    {
        Observer?.Observe(input);
        return FusedCore(input, followers);
    }

    private Tensor FusedCore(Tensor input, int followers) => followers switch
    {
        1 when Int8 is not null => Quantization.QuantizedOps.Conv2d(input, Int8, Bias, KernelSize, Stride, Padding, Dilation, relu: true, InputRange),
        1 => Functional.Conv2dRelu(input, Weight, Bias, Stride, Padding, Dilation, Groups),
        2 => Functional.Conv2dReluPool(input, Weight, Bias, Stride, Padding, Dilation, Groups),
        _ => throw new ArgumentOutOfRangeException(nameof(followers), $"Conv2d: fuses 1 or 2 following layers, asked for {followers}."),
    };

    /// <inheritdoc/>
    protected override string ExtraRepr() =>
        $"{InChannels}, {OutChannels}, kernel_size={KernelSize}, stride={Stride}, padding={Padding}" +
        (Dilation != new Size2(1, 1) ? $", dilation={Dilation}" : "") + (Groups != 1 ? $", groups={Groups}" : "") + (Bias is null ? ", bias=False" : "") + (Int8 is not null ? ", dtype=qint8" : "");
}

/// <summary>1-D convolution layer: input (N, C_in, L) → (N, C_out, OL).</summary>
public sealed class Conv1d : Module
{
    /// <inheritdoc/>
    public override bool HoldsActivations => false;

    /// <summary>Input channels C_in.</summary>
    public int InChannels { get; }
    /// <summary>Output channels C_out.</summary>
    public int OutChannels { get; }
    /// <summary>Kernel length.</summary>
    public int KernelSize { get; }
    /// <summary>Stride.</summary>
    public int Stride { get; }
    /// <summary>Zero padding: size per side, or "same"/"valid".</summary>
    public Padding Padding { get; }
    /// <summary>Kernel dilation.</summary>
    public int Dilation { get; }
    /// <summary>Channel groups.</summary>
    public int Groups { get; }
    /// <summary>Kernel (C_out, C_in/groups, k).</summary>
    public Tensor Weight { get; }
    /// <summary>Bias (C_out), or null.</summary>
    public Tensor? Bias { get; }

    /// <summary>A 1-D convolution layer; weight and bias initialized as PyTorch's.</summary>
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

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Functional.Conv1d(input, Weight, Bias, Stride, Padding, Dilation, Groups);

    /// <inheritdoc/>
    protected override string ExtraRepr() =>
        $"{InChannels}, {OutChannels}, kernel_size=({KernelSize},), stride=({Stride},), padding={Padding}" +
        (Dilation != 1 ? $", dilation={Dilation}" : "") + (Groups != 1 ? $", groups={Groups}" : "") + (Bias is null ? ", bias=False" : "");
}

/// <summary>2-D transposed convolution layer (PyTorch's <c>nn.ConvTranspose2d</c>): weight (C_in, C_out/groups, kH, kW).
/// Shape: (N, C_in, H, W) → (N, C_out, H_out, W_out) with H_out = (H − 1)·s − 2p + d(k − 1) + output_padding + 1, W_out alike.</summary>
public sealed class ConvTranspose2d : Module
{
    /// <summary>Input channels C_in.</summary>
    public int InChannels { get; }
    /// <summary>Output channels C_out.</summary>
    public int OutChannels { get; }
    /// <summary>Kernel height and width.</summary>
    public Size2 KernelSize { get; }
    /// <summary>Stride (the upsampling factor).</summary>
    public Size2 Stride { get; }
    /// <summary>Padding removed from each side of the full output.</summary>
    public Size2 Padding { get; }
    /// <summary>Extra rows/columns added to the bottom/right of the output (resolves the output size for stride &gt; 1).</summary>
    public Size2 OutputPadding { get; }
    /// <summary>Kernel dilation.</summary>
    public Size2 Dilation { get; }
    /// <summary>Channel groups.</summary>
    public int Groups { get; }
    /// <summary>Kernel (C_in, C_out/groups, kH, kW).</summary>
    public Tensor Weight { get; }
    /// <summary>Bias (C_out), or null.</summary>
    public Tensor? Bias { get; }

    /// <summary>A transposed 2-D convolution layer; weight and bias initialized as PyTorch's.</summary>
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

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) =>
        Functional.ConvTranspose2d(input, Weight, Bias, Stride, Padding, OutputPadding, Groups, Dilation);

    /// <inheritdoc/>
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
