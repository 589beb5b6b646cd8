namespace Ember.NN;

/// <summary>Token embedding table (PyTorch's <c>nn.Embedding</c>): int64 indices (…) → (…, dim). Weights ~ N(0, 1);
/// the padding row (if any) starts at zero and receives no gradient.</summary>
public sealed class Embedding : Module
{
    /// <inheritdoc/>
    public override bool HoldsActivations => false;

    /// <summary>Vocabulary size.</summary>
    public int NumEmbeddings { get; }
    /// <summary>Width of each embedding.</summary>
    public int EmbeddingDim { get; }
    /// <summary>The row that maps to zeros and gets no gradient, or null.</summary>
    public int? PaddingIdx { get; }
    /// <summary>The table (num_embeddings, embedding_dim).</summary>
    public Tensor Weight { get; }

    /// <summary>An embedding table initialized N(0, 1) (the padding row zero).</summary>
    public Embedding(int numEmbeddings, int embeddingDim, int? paddingIdx = null, DType dtype = DType.Float32, Generator? generator = null)
    {
        if (numEmbeddings < 1 || embeddingDim < 1)
            throw new ArgumentException($"Embedding: num_embeddings ({numEmbeddings}) and embedding_dim ({embeddingDim}) must be positive.");
        if (paddingIdx is int p && (p < -numEmbeddings || p >= numEmbeddings))
            throw new ArgumentException($"Embedding: padding_idx {p} is outside [-{numEmbeddings}, {numEmbeddings}).");
        (NumEmbeddings, EmbeddingDim) = (numEmbeddings, embeddingDim);
        PaddingIdx = paddingIdx is int q && q < 0 ? q + numEmbeddings : paddingIdx;
        Weight = RegisterParameter("weight", Tensor.Empty(dtype, [numEmbeddings, embeddingDim], zero: true))!;
        Init.Normal(Weight, 0, 1, generator);
        if (PaddingIdx is int pad)
            using (Tensor.NoGrad()) Weight.Select(0, pad).Fill(0);
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Functional.Embedding(input, Weight, PaddingIdx);
    /// <inheritdoc/>
    protected override string ExtraRepr() => $"{NumEmbeddings}, {EmbeddingDim}" + (PaddingIdx is int p ? $", padding_idx={p}" : "");
}
