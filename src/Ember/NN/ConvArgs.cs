namespace Ember.NN;

/// <summary>A (height, width) pair for kernel size, stride, dilation or padding (PyTorch's <c>_pair</c>): an int
/// converts to the square pair, a tuple to itself.</summary>
public readonly record struct Size2(int H, int W)
{
    /// <summary>The same size in both directions.</summary>
    public static implicit operator Size2(int value) => new(value, value);
    /// <summary>(height, width).</summary>
    public static implicit operator Size2((int H, int W) value) => new(value.H, value.W);
    /// <inheritdoc/>
    public override string ToString() => H == W ? H.ToString() : $"({H}, {W})";
}

/// <summary>Convolution padding: explicit sizes per side pair (an int or an (h, w) tuple), <see cref="Same"/>
/// (output size equals input size; stride 1 only; an odd total puts the extra zero after, as PyTorch does) or
/// <see cref="Valid"/> (no padding). The strings "same" and "valid" convert too.</summary>
public readonly record struct Padding(int H, int W, bool IsSame = false)
{
    /// <summary>"same" padding: the output keeps the input's size (stride 1), split as PyTorch does (the extra pixel below/right).</summary>
    public static Padding Same => new(0, 0, true);
    /// <summary>No padding.</summary>
    public static Padding Valid => new(0, 0);

    /// <summary>The same padding on every side.</summary>
    public static implicit operator Padding(int value) => new(value, value);
    /// <summary>(height, width) padding on each side.</summary>
    public static implicit operator Padding((int H, int W) value) => new(value.H, value.W);
    /// <summary>"same" or "valid".</summary>
    public static implicit operator Padding(string mode) => mode.ToLowerInvariant() switch
    {
        "same" => Same,
        "valid" => Valid,
        _ => throw new ArgumentException($"Padding: expected \"same\", \"valid\" or a size, got \"{mode}\"."),
    };

    /// <inheritdoc/>
    public override string ToString() => IsSame ? "same" : H == W ? H.ToString() : $"({H}, {W})";
}
