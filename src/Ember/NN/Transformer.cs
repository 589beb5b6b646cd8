namespace Ember.NN;

/// <summary>Activation of a transformer's feed-forward block.</summary>
public enum TransformerActivation
{
    /// <summary>max(x, 0).</summary>
    Relu,
    /// <summary>The exact (erf) GELU.</summary>
    Gelu,
}

/// <summary>One encoder layer (PyTorch's <c>nn.TransformerEncoderLayer</c>, same parameter names): self-attention and a
/// feed-forward block, each with dropout and a residual connection; LayerNorm after each (post-norm, the original
/// Transformer) or before each (<c>normFirst</c>, pre-norm as in GPT-2).
/// Shape: src (S, N, E), or (N, S, E) with batch-first → the same.</summary>
public sealed class TransformerEncoderLayer : Module
{
    /// <summary>The self-attention block (PyTorch's <c>self_attn</c>).</summary>
    public MultiheadAttention SelfAttn { get; }
    /// <summary>Pre-norm (LayerNorm before each block) instead of post-norm.</summary>
    public bool NormFirst { get; }
    private readonly Linear _linear1, _linear2;
    private readonly LayerNorm _norm1, _norm2;
    private readonly Dropout _dropout, _dropout1, _dropout2;
    private readonly TransformerActivation _activation;

    /// <summary>The parts, for exporters: the feed-forward layers, the norms, the activation.</summary>
    internal (Linear Linear1, Linear Linear2, LayerNorm Norm1, LayerNorm Norm2, TransformerActivation Activation) Parts =>
        (_linear1, _linear2, _norm1, _norm2, _activation);

    /// <summary>An encoder layer of width <paramref name="dModel"/> with <paramref name="nHead"/> heads and a <paramref name="dimFeedforward"/>-wide feed-forward block.</summary>
    public TransformerEncoderLayer(int dModel, int nHead, int dimFeedforward = 2048, double dropout = 0.1,
        TransformerActivation activation = TransformerActivation.Relu, double layerNormEps = 1e-5, bool batchFirst = false,
        bool normFirst = false, bool bias = true, DType dtype = DType.Float32, Generator? generator = null, double? attentionDropout = null)
    {
        // attentionDropout: dropout on the attention weights (PyTorch uses `dropout` there too, the default). With 0 the
        // self-attention runs in the fused kernel while training as well (Kernels.Attention has no dropout).
        SelfAttn = RegisterModule("self_attn", new MultiheadAttention(dModel, nHead, attentionDropout ?? dropout, bias, batchFirst: batchFirst, dtype: dtype, generator: generator));
        _linear1 = RegisterModule("linear1", new Linear(dModel, dimFeedforward, bias, dtype, generator));
        _dropout = RegisterModule("dropout", new Dropout(dropout, generator));
        _linear2 = RegisterModule("linear2", new Linear(dimFeedforward, dModel, bias, dtype, generator));
        _norm1 = RegisterModule("norm1", new LayerNorm(dModel, layerNormEps, bias: bias, dtype: dtype));
        _norm2 = RegisterModule("norm2", new LayerNorm(dModel, layerNormEps, bias: bias, dtype: dtype));
        _dropout1 = RegisterModule("dropout1", new Dropout(dropout, generator));
        _dropout2 = RegisterModule("dropout2", new Dropout(dropout, generator));
        (NormFirst, _activation) = (normFirst, activation);
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Forward(input, null, null, false);

    /// <summary>When set, each forward keeps the self-attention weights (N, H, L, S) in <see cref="AttentionWeights"/>
    /// (detached; for plots and explanations).</summary>
    public bool KeepAttentionWeights { get; set; }
    /// <summary>The last forward's attention weights (N, H, L, S) when kept; null otherwise.</summary>
    public Tensor? AttentionWeights { get; private set; }

    /// <summary>The layer's output for <paramref name="src"/>, with an attention mask (L, L) and a key padding mask (N, L), or a causal mask. Shape: (N, L, E) with batch-first, else (L, N, E) → the same.</summary>
    public Tensor Forward(Tensor src, Tensor? srcMask, Tensor? srcKeyPaddingMask, bool isCausal)
    {
        Tensor Sa(Tensor x)
        {
            var (o, w) = SelfAttn.Attend(x, x, x, srcKeyPaddingMask, needWeights: KeepAttentionWeights, attnMask: srcMask, averageAttnWeights: false, isCausal: isCausal);
            if (KeepAttentionWeights) AttentionWeights = w?.Detach();
            return _dropout1.Call(o);
        }
        Tensor Ff(Tensor x) => _dropout2.Call(_linear2.Call(_dropout.Call(Activate(_linear1.Call(x), _activation))));
        var h = src;
        if (NormFirst)
        {
            h = h.Add(Sa(_norm1.Call(h)));
            return h.Add(Ff(_norm2.Call(h)));
        }
        h = _norm1.Call(h.Add(Sa(h)));
        return _norm2.Call(h.Add(Ff(h)));
    }

    internal static Tensor Activate(Tensor x, TransformerActivation a) => a == TransformerActivation.Gelu ? Functional.Gelu(x) : x.Relu();
}

/// <summary>One decoder layer (PyTorch's <c>nn.TransformerDecoderLayer</c>): masked self-attention, cross-attention
/// over the encoder's output (memory), and a feed-forward block, each with residual and LayerNorm (post- or pre-norm).
/// Shape: tgt (T, N, E) and memory (S, N, E), or batch-first (N, T, E) and (N, S, E) → like tgt.</summary>
public sealed class TransformerDecoderLayer : Module
{
    /// <summary>The masked self-attention block (PyTorch's <c>self_attn</c>).</summary>
    public MultiheadAttention SelfAttn { get; }
    /// <summary>The cross-attention block over the encoder's memory (PyTorch's <c>multihead_attn</c>).</summary>
    public MultiheadAttention MultiheadAttn { get; }
    /// <summary>Pre-norm instead of post-norm.</summary>
    public bool NormFirst { get; }
    private readonly Linear _linear1, _linear2;
    private readonly LayerNorm _norm1, _norm2, _norm3;
    private readonly Dropout _dropout, _dropout1, _dropout2, _dropout3;
    private readonly TransformerActivation _activation;

    /// <summary>The parts, for exporters: the feed-forward layers, the norms, the activation.</summary>
    internal (Linear Linear1, Linear Linear2, LayerNorm Norm1, LayerNorm Norm2, LayerNorm Norm3, TransformerActivation Activation) Parts =>
        (_linear1, _linear2, _norm1, _norm2, _norm3, _activation);

    /// <summary>A decoder layer of width <paramref name="dModel"/> with <paramref name="nHead"/> heads and a <paramref name="dimFeedforward"/>-wide feed-forward block.</summary>
    public TransformerDecoderLayer(int dModel, int nHead, int dimFeedforward = 2048, double dropout = 0.1,
        TransformerActivation activation = TransformerActivation.Relu, double layerNormEps = 1e-5, bool batchFirst = false,
        bool normFirst = false, bool bias = true, DType dtype = DType.Float32, Generator? generator = null)
    {
        SelfAttn = RegisterModule("self_attn", new MultiheadAttention(dModel, nHead, dropout, bias, batchFirst: batchFirst, dtype: dtype, generator: generator));
        MultiheadAttn = RegisterModule("multihead_attn", new MultiheadAttention(dModel, nHead, dropout, bias, batchFirst: batchFirst, dtype: dtype, generator: generator));
        _linear1 = RegisterModule("linear1", new Linear(dModel, dimFeedforward, bias, dtype, generator));
        _dropout = RegisterModule("dropout", new Dropout(dropout, generator));
        _linear2 = RegisterModule("linear2", new Linear(dimFeedforward, dModel, bias, dtype, generator));
        _norm1 = RegisterModule("norm1", new LayerNorm(dModel, layerNormEps, bias: bias, dtype: dtype));
        _norm2 = RegisterModule("norm2", new LayerNorm(dModel, layerNormEps, bias: bias, dtype: dtype));
        _norm3 = RegisterModule("norm3", new LayerNorm(dModel, layerNormEps, bias: bias, dtype: dtype));
        _dropout1 = RegisterModule("dropout1", new Dropout(dropout, generator));
        _dropout2 = RegisterModule("dropout2", new Dropout(dropout, generator));
        _dropout3 = RegisterModule("dropout3", new Dropout(dropout, generator));
        (NormFirst, _activation) = (normFirst, activation);
    }

    /// <summary>Decoding needs the encoder's memory: use <see cref="Forward(Tensor, Tensor, Tensor?, Tensor?, Tensor?, Tensor?, bool)"/>.</summary>
    public override Tensor Forward(Tensor input) =>
        throw new InvalidOperationException("TransformerDecoderLayer: call Forward(tgt, memory, …); a decoder layer needs the encoder's output.");

    /// <summary>When set, each forward keeps the cross-attention weights (N, H, T, S) over the memory in
    /// <see cref="CrossAttentionWeights"/> (detached).</summary>
    public bool KeepAttentionWeights { get; set; }
    /// <summary>The last forward's cross-attention weights (N, H, T, S) when kept; null otherwise.</summary>
    public Tensor? CrossAttentionWeights { get; private set; }

    /// <summary>The layer's output for <paramref name="tgt"/> attending to <paramref name="memory"/>. Shape: tgt (N, T, E), memory (N, S, E) with batch-first → (N, T, E).</summary>
    public Tensor Forward(Tensor tgt, Tensor memory, Tensor? tgtMask = null, Tensor? memoryMask = null, Tensor? tgtKeyPaddingMask = null,
        Tensor? memoryKeyPaddingMask = null, bool tgtIsCausal = false)
    {
        Tensor Sa(Tensor x) => _dropout1.Call(SelfAttn.Attend(x, x, x, tgtKeyPaddingMask, needWeights: false, attnMask: tgtMask, isCausal: tgtIsCausal).Output);
        Tensor Ca(Tensor x)
        {
            var (o, w) = MultiheadAttn.Attend(x, memory, memory, memoryKeyPaddingMask, needWeights: KeepAttentionWeights, attnMask: memoryMask, averageAttnWeights: false);
            if (KeepAttentionWeights) CrossAttentionWeights = w?.Detach();
            return _dropout2.Call(o);
        }
        Tensor Ff(Tensor x) => _dropout3.Call(_linear2.Call(_dropout.Call(TransformerEncoderLayer.Activate(_linear1.Call(x), _activation))));
        var h = tgt;
        if (NormFirst)
        {
            h = h.Add(Sa(_norm1.Call(h)));
            h = h.Add(Ca(_norm2.Call(h)));
            return h.Add(Ff(_norm3.Call(h)));
        }
        h = _norm1.Call(h.Add(Sa(h)));
        h = _norm2.Call(h.Add(Ca(h)));
        return _norm3.Call(h.Add(Ff(h)));
    }
}

/// <summary>A stack of encoder layers (PyTorch's <c>nn.TransformerEncoder</c>: parameters <c>layers.{i}.…</c> and an
/// optional final <c>norm</c>, which pre-norm stacks need because their last residual is not normalized).
/// Shape: (S, N, E), or (N, S, E) with batch-first layers → the same.</summary>
public sealed class TransformerEncoder : Module
{
    /// <summary>The stacked encoder layers.</summary>
    public ModuleList Layers { get; }
    /// <summary>The final LayerNorm, or null.</summary>
    public LayerNorm? Norm { get; }

    /// <summary>A stack of <paramref name="numLayers"/> layers made by <paramref name="layer"/> (called once per layer, so each
    /// has its own parameters: PyTorch deep-copies one layer instead).</summary>
    public TransformerEncoder(Func<TransformerEncoderLayer> layer, int numLayers, LayerNorm? norm = null)
    {
        if (numLayers < 1) throw new ArgumentException($"TransformerEncoder: num_layers must be positive, got {numLayers}.");
        Layers = RegisterModule("layers", new ModuleList());
        for (int i = 0; i < numLayers; i++) Layers.Add(layer());
        Norm = norm is null ? null : RegisterModule("norm", norm);
    }

    /// <summary>In training, run each layer as a checkpointed segment (<see cref="Autograd.Checkpoint"/>): activations
    /// inside the layers are recomputed during backward instead of kept.</summary>
    public bool GradientCheckpointing { get; set; }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Forward(input, null, null, false);

    /// <summary>The stack's output for <paramref name="src"/> with an optional attention mask, key padding mask (N, S) or causal mask.</summary>
    public Tensor Forward(Tensor src, Tensor? mask, Tensor? srcKeyPaddingMask, bool isCausal = false)
    {
        var x = src;
        foreach (var module in Layers)
        {
            var layer = (TransformerEncoderLayer)module;
            x = GradientCheckpointing && Training
                ? Autograd.Checkpoint.Run(layer, h => layer.Forward(h, mask, srcKeyPaddingMask, isCausal), x)
                : layer.Forward(x, mask, srcKeyPaddingMask, isCausal);
        }
        return Norm is null ? x : Norm.Call(x);
    }
}

/// <summary>A stack of decoder layers (PyTorch's <c>nn.TransformerDecoder</c>) with an optional final <c>norm</c>.
/// Shape: tgt (T, N, E) and memory (S, N, E) (batch-first layers: N first) → like tgt.</summary>
public sealed class TransformerDecoder : Module
{
    /// <summary>The stacked decoder layers.</summary>
    public ModuleList Layers { get; }
    /// <summary>The final LayerNorm, or null.</summary>
    public LayerNorm? Norm { get; }

    /// <summary>A stack of <paramref name="numLayers"/> decoder layers made by <paramref name="layer"/>, with an optional final norm.</summary>
    public TransformerDecoder(Func<TransformerDecoderLayer> layer, int numLayers, LayerNorm? norm = null)
    {
        if (numLayers < 1) throw new ArgumentException($"TransformerDecoder: num_layers must be positive, got {numLayers}.");
        Layers = RegisterModule("layers", new ModuleList());
        for (int i = 0; i < numLayers; i++) Layers.Add(layer());
        Norm = norm is null ? null : RegisterModule("norm", norm);
    }

    /// <summary>Decoding needs the encoder's memory: use the full overload.</summary>
    public override Tensor Forward(Tensor input) =>
        throw new InvalidOperationException("TransformerDecoder: call Forward(tgt, memory, …); a decoder needs the encoder's output.");

    /// <summary>The stack's output for <paramref name="tgt"/> attending to <paramref name="memory"/>, with optional masks.</summary>
    public Tensor Forward(Tensor tgt, Tensor memory, Tensor? tgtMask = null, Tensor? memoryMask = null, Tensor? tgtKeyPaddingMask = null,
        Tensor? memoryKeyPaddingMask = null, bool tgtIsCausal = false)
    {
        var x = tgt;
        foreach (var layer in Layers)
            x = ((TransformerDecoderLayer)layer).Forward(x, memory, tgtMask, memoryMask, tgtKeyPaddingMask, memoryKeyPaddingMask, tgtIsCausal);
        return Norm is null ? x : Norm.Call(x);
    }
}

/// <summary>The encoder–decoder Transformer of Vaswani et al. (PyTorch's <c>nn.Transformer</c>, same parameter names,
/// shapes and masks): an encoder stack and a decoder stack, each closed by a LayerNorm; every matrix parameter is
/// Xavier-uniform initialized as PyTorch does. Embeddings, positions and the output projection belong to the model
/// that uses it (see <c>Ember.Models.Seq2SeqTransformer</c>).
/// Shape: src (S, N, E) and tgt (T, N, E), or (N, S, E) and (N, T, E) with batch-first → like tgt.</summary>
public sealed class Transformer : Module
{
    /// <summary>The encoder stack.</summary>
    public TransformerEncoder Encoder { get; }
    /// <summary>The decoder stack.</summary>
    public TransformerDecoder Decoder { get; }
    /// <summary>Model width E.</summary>
    public int DModel { get; }
    /// <summary>Attention heads.</summary>
    public int NHead { get; }
    /// <summary>Inputs are (N, S, E) when true, (S, N, E) otherwise.</summary>
    public bool BatchFirst { get; }

    /// <summary>An encoder–decoder Transformer (Vaswani et al. 2017) with PyTorch's defaults and parameter names.</summary>
    public Transformer(int dModel = 512, int nHead = 8, int numEncoderLayers = 6, int numDecoderLayers = 6, int dimFeedforward = 2048,
        double dropout = 0.1, TransformerActivation activation = TransformerActivation.Relu, double layerNormEps = 1e-5,
        bool batchFirst = false, bool normFirst = false, bool bias = true, DType dtype = DType.Float32, Generator? generator = null)
    {
        (DModel, NHead, BatchFirst) = (dModel, nHead, batchFirst);
        Encoder = RegisterModule("encoder", new TransformerEncoder(
            () => new TransformerEncoderLayer(dModel, nHead, dimFeedforward, dropout, activation, layerNormEps, batchFirst, normFirst, bias, dtype, generator),
            numEncoderLayers, new LayerNorm(dModel, layerNormEps, bias: bias, dtype: dtype)));
        Decoder = RegisterModule("decoder", new TransformerDecoder(
            () => new TransformerDecoderLayer(dModel, nHead, dimFeedforward, dropout, activation, layerNormEps, batchFirst, normFirst, bias, dtype, generator),
            numDecoderLayers, new LayerNorm(dModel, layerNormEps, bias: bias, dtype: dtype)));
        foreach (var p in Parameters())
            if (p.Dim > 1) Init.XavierUniform(p, g: generator);
    }

    /// <summary>Needs both sequences: use <see cref="Forward(Tensor, Tensor, Tensor?, Tensor?, Tensor?, Tensor?, Tensor?, Tensor?, bool)"/>.</summary>
    public override Tensor Forward(Tensor input) =>
        throw new InvalidOperationException("Transformer: call Forward(src, tgt, …); an encoder–decoder model needs a source and a target sequence.");

    /// <summary>src (S, N, E) and tgt (T, N, E) (or batch-first) → (T, N, E). Masks as in <see cref="MultiheadAttention"/>.</summary>
    public Tensor Forward(Tensor src, Tensor tgt, Tensor? srcMask = null, Tensor? tgtMask = null, Tensor? memoryMask = null,
        Tensor? srcKeyPaddingMask = null, Tensor? tgtKeyPaddingMask = null, Tensor? memoryKeyPaddingMask = null, bool tgtIsCausal = false)
    {
        int batchDim = BatchFirst ? 0 : 1;
        if (src.Dim == 3 && tgt.Dim == 3 && src.Size(batchDim) != tgt.Size(batchDim))
            throw new ArgumentException($"Transformer: src {ShapeUtil.Str(src.Shape)} and tgt {ShapeUtil.Str(tgt.Shape)} differ in batch size.");
        if (src.Size(-1) != DModel || tgt.Size(-1) != DModel)
            throw new ArgumentException($"Transformer: src {ShapeUtil.Str(src.Shape)} and tgt {ShapeUtil.Str(tgt.Shape)} must have d_model = {DModel} features.");
        var memory = Encoder.Forward(src, srcMask, srcKeyPaddingMask);
        return Decoder.Forward(tgt, memory, tgtMask, memoryMask, tgtKeyPaddingMask, memoryKeyPaddingMask, tgtIsCausal);
    }

    /// <summary>The (size, size) float mask with −∞ above the diagonal and 0 elsewhere
    /// (<c>nn.Transformer.generate_square_subsequent_mask</c>).</summary>
    public static Tensor GenerateSquareSubsequentMask(int size, DType dtype = DType.Float32) => Functional.CausalMask(size, size, dtype);
}
