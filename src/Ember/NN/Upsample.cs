namespace Ember.NN;

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
