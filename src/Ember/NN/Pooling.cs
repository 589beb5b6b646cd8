namespace Ember.NN;

/// <summary>2-D max pooling layer.
/// Shape: (N, C, H, W) or (C, H, W) → (N, C, H_out, W_out) with H_out = ⌊(H + 2p − d(k − 1) − 1)/s⌋ + 1 (⌈⌉ in ceil mode), W_out alike.</summary>
public sealed class MaxPool2d(Size2 kernelSize, Size2? stride = null, Size2? padding = null, Size2? dilation = null, bool ceilMode = false) : Module
{
    /// <inheritdoc/>
    public override bool HoldsActivations => false;

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Functional.MaxPool2d(input, kernelSize, stride, padding, dilation, ceilMode);

    /// <summary>A plain 2×2 window with stride 2 (no padding, dilation or ceil mode): what a fused convolution can pool.</summary>
    internal bool IsHalving => kernelSize == new Size2(2, 2) && (stride ?? kernelSize) == new Size2(2, 2) && (padding ?? 0) == new Size2(0, 0)
        && (dilation ?? 1) == new Size2(1, 1) && !ceilMode;

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"kernel_size={kernelSize}, stride={stride ?? kernelSize}, padding={padding ?? 0}";
}
/// <summary>1-D max pooling layer.
/// Shape: (N, C, L) or (C, L) → (N, C, L_out) with L_out = ⌊(L + 2p − d(k − 1) − 1)/s⌋ + 1 (⌈⌉ in ceil mode).</summary>
public sealed class MaxPool1d(int kernelSize, int? stride = null, int padding = 0, int dilation = 1, bool ceilMode = false) : Module
{
    /// <inheritdoc/>
    public override bool HoldsActivations => false;

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Functional.MaxPool1d(input, kernelSize, stride, padding, dilation, ceilMode);
    /// <inheritdoc/>
    protected override string ExtraRepr() => $"kernel_size={kernelSize}, stride={stride ?? kernelSize}, padding={padding}";
}
/// <summary>2-D average pooling layer.
/// Shape: (N, C, H, W) or (C, H, W) → (N, C, H_out, W_out) with H_out = ⌊(H + 2p − k)/s⌋ + 1 (⌈⌉ in ceil mode), W_out alike.</summary>
public sealed class AvgPool2d(Size2 kernelSize, Size2? stride = null, Size2? padding = null, bool ceilMode = false, bool countIncludePad = true) : Module
{
    /// <inheritdoc/>
    public override bool HoldsActivations => false;

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Functional.AvgPool2d(input, kernelSize, stride, padding, ceilMode, countIncludePad);
    /// <inheritdoc/>
    protected override string ExtraRepr() => $"kernel_size={kernelSize}, stride={stride ?? kernelSize}, padding={padding ?? 0}";
}
/// <summary>1-D average pooling layer.
/// Shape: (N, C, L) or (C, L) → (N, C, L_out) with L_out = ⌊(L + 2p − k)/s⌋ + 1 (⌈⌉ in ceil mode).</summary>
public sealed class AvgPool1d(int kernelSize, int? stride = null, int padding = 0, bool ceilMode = false, bool countIncludePad = true) : Module
{
    /// <inheritdoc/>
    public override bool HoldsActivations => false;

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Functional.AvgPool1d(input, kernelSize, stride, padding, ceilMode, countIncludePad);
    /// <inheritdoc/>
    protected override string ExtraRepr() => $"kernel_size={kernelSize}, stride={stride ?? kernelSize}, padding={padding}";
}
/// <summary>Adaptive average pooling to a fixed output size.
/// Shape: (N, C, H, W) or (C, H, W) → (N, C, output H, output W).</summary>
public sealed class AdaptiveAvgPool2d(Size2 outputSize) : Module
{
    /// <inheritdoc/>
    public override bool HoldsActivations => false;

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Functional.AdaptiveAvgPool2d(input, outputSize);
    /// <inheritdoc/>
    protected override string ExtraRepr() => $"output_size={outputSize}";
}
/// <summary>Adaptive average pooling over the last dim. Shape: (N, C, L) or (C, L) → (N, C, output size).</summary>
public sealed class AdaptiveAvgPool1d(int outputSize) : Module
{
    /// <inheritdoc/>
    public override bool HoldsActivations => false;

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Functional.AdaptiveAvgPool1d(input, outputSize);
    /// <inheritdoc/>
    protected override string ExtraRepr() => $"output_size={outputSize}";
}
