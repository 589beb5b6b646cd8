namespace Ember.NN;

/// <summary>Resizing layer (PyTorch's <c>nn.Upsample</c>): a fixed output size or a scale factor; nearest or bilinear.
/// Shape: (N, C, H, W) → (N, C, H_out, W_out): the given size, or ⌊H·scale_h⌋ × ⌊W·scale_w⌋.</summary>
public sealed class Upsample : Module
{
    /// <summary>Output size, or null when <see cref="ScaleFactor"/> is given.</summary>
    public Size2? Size { get; }
    /// <summary>Scale factors (height, width), or null when <see cref="Size"/> is given.</summary>
    public (double H, double W)? ScaleFactor { get; }
    /// <summary>Nearest or bilinear.</summary>
    public InterpolationMode Mode { get; }
    /// <summary>Bilinear only: align the corner pixels' centers (PyTorch's <c>align_corners</c>).</summary>
    public bool AlignCorners { get; }

    /// <summary>Upsampling to <paramref name="size"/> or by <paramref name="scaleFactor"/> (exactly one of them).</summary>
    public Upsample(Size2? size = null, double? scaleFactor = null, InterpolationMode mode = InterpolationMode.Nearest, bool alignCorners = false)
    {
        if ((size is null) == (scaleFactor is null)) throw new ArgumentException("Upsample: give exactly one of size and scale_factor.");
        Size = size;
        ScaleFactor = scaleFactor is double s ? (s, s) : null;
        Mode = mode;
        AlignCorners = alignCorners;
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Functional.Interpolate(input, Size, ScaleFactor, Mode, AlignCorners);
    /// <inheritdoc/>
    protected override string ExtraRepr() =>
        (Size is not null ? $"size={Size}" : $"scale_factor={ScaleFactor!.Value.H}") + $", mode='{Mode.ToString().ToLowerInvariant()}'";
}
