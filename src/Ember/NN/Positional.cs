namespace Ember.NN;

/// <summary>Adds the fixed sinusoidal position encoding of Vaswani et al. (2017) to (…, T, D) inputs:
/// PE[t, 2i] = sin(t / 10000^(2i/D)), PE[t, 2i+1] = cos(t / 10000^(2i/D)). Optional dropout after the sum.
/// Shape: (N, L, dim) → the same.</summary>
public sealed class SinusoidalPositionalEncoding : Module
{
    /// <summary>Model width.</summary>
    public int Dim { get; }
    /// <summary>Longest sequence the table covers.</summary>
    public int MaxLength { get; }
    private readonly Tensor _table;
    private readonly Dropout _dropout;

    /// <summary>The (max length, dim) table the forward pass adds from, for exporters.</summary>
    internal Tensor Encodings => _table;

    /// <summary>Sinusoidal encodings (Vaswani et al.) added to (N, L, dim) inputs, with optional dropout.</summary>
    public SinusoidalPositionalEncoding(int dim, int maxLength = 5000, double dropout = 0, DType dtype = DType.Float32, Generator? generator = null)
    {
        if (dim < 1 || maxLength < 1) throw new ArgumentException($"SinusoidalPositionalEncoding: dim ({dim}) and max length ({maxLength}) must be positive.");
        (Dim, MaxLength) = (dim, maxLength);
        _table = RegisterBuffer("pe", Table(maxLength, dim).To(dtype))!;
        _dropout = RegisterModule("dropout", new Dropout(dropout, generator));
    }

    /// <summary>The (length, dim) table.</summary>
    public static Tensor Table(int length, int dim)
    {
        var pe = new double[length * dim];
        for (int t = 0; t < length; t++)
            for (int i = 0; i < dim; i++)
            {
                double freq = Math.Pow(10000, -(double)(i - i % 2) / dim);
                pe[t * dim + i] = i % 2 == 0 ? Math.Sin(t * freq) : Math.Cos(t * freq);
            }
        return Tensor.FromArray(pe, length, dim);
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        if (input.Dim < 2 || input.Size(-1) != Dim || input.Size(-2) > MaxLength)
            throw new ArgumentException($"SinusoidalPositionalEncoding: expected (…, T ≤ {MaxLength}, {Dim}), got {ShapeUtil.Str(input.Shape)}.");
        return _dropout.Call(input.Add(_table.Narrow(0, 0, input.Size(-2))));
    }
}

/// <summary>Learned absolute position embeddings added to (…, T, D) inputs (GPT-2's wpe).
/// Shape: (N, L, dim) → the same.</summary>
public sealed class LearnedPositionalEncoding : Module
{
    /// <summary>The learned position table.</summary>
    public Embedding Positions { get; }

    /// <summary>Learned positional embeddings added to (N, L, dim) inputs, up to <paramref name="maxLength"/> positions.</summary>
    public LearnedPositionalEncoding(int dim, int maxLength, DType dtype = DType.Float32, Generator? generator = null)
    {
        Positions = RegisterModule("wpe", new Embedding(maxLength, dim, dtype: dtype, generator: generator));
        using (Tensor.NoGrad()) Init.Normal(Positions.Weight, 0, 0.02, generator);
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Forward(input, 0);

    /// <summary>Adds the embeddings of positions offset … offset + T − 1 (offset: tokens already seen, with a cache).</summary>
    public Tensor Forward(Tensor input, int offset)
    {
        int t = input.Size(-2);
        if (input.Size(-1) != Positions.EmbeddingDim || offset + t > Positions.NumEmbeddings)
            throw new ArgumentException($"LearnedPositionalEncoding: positions {offset}…{offset + t - 1} of (…, T, {input.Size(-1)}) exceed the table ({Positions.NumEmbeddings}, {Positions.EmbeddingDim}).");
        return input.Add(Positions.Call(Tensor.Arange(offset, offset + t, 1, DType.Int64)));
    }
}

/// <summary>Rotary position embeddings (Su et al., RoFormer 2021), applied to queries and keys (…, T, D) before their
/// dot product: each pair (x[2i], x[2i+1]) at position t is rotated by angle t·θ_i, θ_i = base^(−2i/D), so their
/// dot product depends only on the relative offset. Pairs are interleaved, as in the paper.</summary>
public static class Rotary
{
    /// <summary>Rotates <paramref name="x"/> (…, T, D), D even, for positions offset … offset + T − 1.</summary>
    public static Tensor Apply(Tensor x, int offset = 0, double theta = 10000)
    {
        int t = x.Size(-2), d = x.Size(-1);
        if (d % 2 != 0) throw new ArgumentException($"Rotary.Apply: the last dim must be even, got {ShapeUtil.Str(x.Shape)}.");
        var cos = new double[t * d / 2];
        var sin = new double[t * d / 2];
        for (int p = 0; p < t; p++)
            for (int i = 0; i < d / 2; i++)
            {
                double angle = (p + offset) * Math.Pow(theta, -2.0 * i / d);
                cos[p * d / 2 + i] = Math.Cos(angle);
                sin[p * d / 2 + i] = Math.Sin(angle);
            }
        var c = Tensor.FromArray(cos, t, d / 2).To(x.DType);
        var s = Tensor.FromArray(sin, t, d / 2).To(x.DType);
        var pairs = x.Reshape([.. x.Shape[..^1], d / 2, 2]);
        var even = pairs.Select(-1, 0);
        var odd = pairs.Select(-1, 1);
        var re = even.Mul(c).Sub(odd.Mul(s));
        var im = even.Mul(s).Add(odd.Mul(c));
        return Tensor.Stack([re, im], -1).Reshape(x.Shape);
    }
}
