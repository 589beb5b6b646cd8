namespace Ember.NN;

/// <summary>2-D max pooling layer.
/// Shape: (N, C, H, W) or (C, H, W) → (N, C, H_out, W_out) with H_out = ⌊(H + 2p − d(k − 1) − 1)/s⌋ + 1 (⌈⌉ in ceil mode), W_out alike.</summary>
public sealed class MaxPool2d(Size2 kernelSize, Size2? stride = null, Size2? padding = null, Size2? dilation = null, bool ceilMode = false) : Module
{
    /// <summary>Window height and width.</summary>
    public Size2 KernelSize { get; } = kernelSize;
    /// <summary>Step between windows (the window size when not given).</summary>
    public Size2 Stride { get; } = stride ?? kernelSize;
    /// <summary>Implicit −∞ padding on each side.</summary>
    public Size2 Padding { get; } = padding ?? 0;
    /// <summary>Spacing of the window's elements.</summary>
    public Size2 Dilation { get; } = dilation ?? 1;
    /// <summary>Round the output size up instead of down.</summary>
    public bool CeilMode { get; } = ceilMode;

    /// <inheritdoc/>
    public override bool HoldsActivations => false;

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Functional.MaxPool2d(input, KernelSize, Stride, Padding, Dilation, CeilMode);

    /// <summary>A plain 2×2 window with stride 2 (no padding, dilation or ceil mode): what a fused convolution can pool.</summary>
    internal bool IsHalving => KernelSize == new Size2(2, 2) && Stride == new Size2(2, 2) && Padding == new Size2(0, 0)
        && Dilation == new Size2(1, 1) && !CeilMode;

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"kernel_size={KernelSize}, stride={Stride}, padding={Padding}";
}
/// <summary>1-D max pooling layer.
/// Shape: (N, C, L) or (C, L) → (N, C, L_out) with L_out = ⌊(L + 2p − d(k − 1) − 1)/s⌋ + 1 (⌈⌉ in ceil mode).</summary>
public sealed class MaxPool1d(int kernelSize, int? stride = null, int padding = 0, int dilation = 1, bool ceilMode = false) : Module
{
    /// <summary>Window length.</summary>
    public int KernelSize { get; } = kernelSize;
    /// <summary>Step between windows (the window length when not given).</summary>
    public int Stride { get; } = stride ?? kernelSize;
    /// <summary>Implicit −∞ padding on each side.</summary>
    public int Padding { get; } = padding;
    /// <summary>Spacing of the window's elements.</summary>
    public int Dilation { get; } = dilation;
    /// <summary>Round the output size up instead of down.</summary>
    public bool CeilMode { get; } = ceilMode;

    /// <inheritdoc/>
    public override bool HoldsActivations => false;

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Functional.MaxPool1d(input, KernelSize, Stride, Padding, Dilation, CeilMode);
    /// <inheritdoc/>
    protected override string ExtraRepr() => $"kernel_size={KernelSize}, stride={Stride}, padding={Padding}";
}
/// <summary>2-D average pooling layer.
/// Shape: (N, C, H, W) or (C, H, W) → (N, C, H_out, W_out) with H_out = ⌊(H + 2p − k)/s⌋ + 1 (⌈⌉ in ceil mode), W_out alike.</summary>
public sealed class AvgPool2d(Size2 kernelSize, Size2? stride = null, Size2? padding = null, bool ceilMode = false, bool countIncludePad = true) : Module
{
    /// <summary>Window height and width.</summary>
    public Size2 KernelSize { get; } = kernelSize;
    /// <summary>Step between windows (the window size when not given).</summary>
    public Size2 Stride { get; } = stride ?? kernelSize;
    /// <summary>Implicit zero padding on each side.</summary>
    public Size2 Padding { get; } = padding ?? 0;
    /// <summary>Round the output size up instead of down.</summary>
    public bool CeilMode { get; } = ceilMode;
    /// <summary>Count the padding zeros in each window's divisor.</summary>
    public bool CountIncludePad { get; } = countIncludePad;

    /// <inheritdoc/>
    public override bool HoldsActivations => false;

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Functional.AvgPool2d(input, KernelSize, Stride, Padding, CeilMode, CountIncludePad);
    /// <inheritdoc/>
    protected override string ExtraRepr() => $"kernel_size={KernelSize}, stride={Stride}, padding={Padding}";
}
/// <summary>1-D average pooling layer.
/// Shape: (N, C, L) or (C, L) → (N, C, L_out) with L_out = ⌊(L + 2p − k)/s⌋ + 1 (⌈⌉ in ceil mode).</summary>
public sealed class AvgPool1d(int kernelSize, int? stride = null, int padding = 0, bool ceilMode = false, bool countIncludePad = true) : Module
{
    /// <summary>Window length.</summary>
    public int KernelSize { get; } = kernelSize;
    /// <summary>Step between windows (the window length when not given).</summary>
    public int Stride { get; } = stride ?? kernelSize;
    /// <summary>Implicit zero padding on each side.</summary>
    public int Padding { get; } = padding;
    /// <summary>Round the output size up instead of down.</summary>
    public bool CeilMode { get; } = ceilMode;
    /// <summary>Count the padding zeros in each window's divisor.</summary>
    public bool CountIncludePad { get; } = countIncludePad;

    /// <inheritdoc/>
    public override bool HoldsActivations => false;

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Functional.AvgPool1d(input, KernelSize, Stride, Padding, CeilMode, CountIncludePad);
    /// <inheritdoc/>
    protected override string ExtraRepr() => $"kernel_size={KernelSize}, stride={Stride}, padding={Padding}";
}
/// <summary>Adaptive average pooling to a fixed output size.
/// Shape: (N, C, H, W) or (C, H, W) → (N, C, output H, output W).</summary>
public sealed class AdaptiveAvgPool2d(Size2 outputSize) : Module
{
    /// <summary>Output height and width.</summary>
    public Size2 OutputSize { get; } = outputSize;

    /// <inheritdoc/>
    public override bool HoldsActivations => false;

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Functional.AdaptiveAvgPool2d(input, OutputSize);
    /// <inheritdoc/>
    protected override string ExtraRepr() => $"output_size={OutputSize}";
}
/// <summary>Adaptive average pooling over the last dim. Shape: (N, C, L) or (C, L) → (N, C, output size).</summary>
public sealed class AdaptiveAvgPool1d(int outputSize) : Module
{
    /// <summary>Output length.</summary>
    public int OutputSize { get; } = outputSize;

    /// <inheritdoc/>
    public override bool HoldsActivations => false;

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Functional.AdaptiveAvgPool1d(input, OutputSize);
    /// <inheritdoc/>
    protected override string ExtraRepr() => $"output_size={OutputSize}";
}
