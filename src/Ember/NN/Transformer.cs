namespace Ember.NN;

/// <summary>Token embedding table (PyTorch's <c>nn.Embedding</c>): int64 indices (…) → (…, dim). Weights ~ N(0, 1);
/// the padding row (if any) starts at zero and receives no gradient.</summary>
public sealed class Embedding : Module
{
    public int NumEmbeddings { get; }
    public int EmbeddingDim { get; }
    public int? PaddingIdx { get; }
    public Tensor Weight { get; }

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

    public override Tensor Forward(Tensor input) => Functional.Embedding(input, Weight, PaddingIdx);
    protected override string ExtraRepr() => $"{NumEmbeddings}, {EmbeddingDim}" + (PaddingIdx is int p ? $", padding_idx={p}" : "");
}

/// <summary>RMS normalization over the last dim with a learnable scale (PyTorch's <c>nn.RMSNorm</c>).</summary>
public sealed class RMSNorm : Module
{
    public double Eps { get; }
    public Tensor? Weight { get; }

    public RMSNorm(int dim, double eps = 1e-6, bool elementwiseAffine = true, DType dtype = DType.Float32)
    {
        if (dim < 1) throw new ArgumentException($"RMSNorm: dim must be positive, got {dim}.");
        Eps = eps;
        Weight = RegisterParameter("weight", elementwiseAffine ? Tensor.Ones([dim], dtype) : null);
    }

    public override Tensor Forward(Tensor input) => Functional.RmsNorm(input, Weight, Eps);
    protected override string ExtraRepr() => $"({Weight?.Size(0)},), eps={Eps}";
}

/// <summary>Multi-head attention (PyTorch's <c>nn.MultiheadAttention</c>, same parameter names and semantics): queries,
/// keys and values are projected (one packed in_proj of 3·E rows when key and value have E features), split into
/// heads, attended with scaled dot products and projected back by out_proj. Sequences are (L, N, E) by default or
/// (N, L, E) with <c>batchFirst</c>. Masks follow PyTorch's convention here: in <c>attnMask</c> (L, S) or
/// (N·H, L, S) and <c>keyPaddingMask</c> (N, S), a bool true means "may NOT attend"; a float mask is added.</summary>
public sealed class MultiheadAttention : Module
{
    public int EmbedDim { get; }
    public int NumHeads { get; }
    public int HeadDim => EmbedDim / NumHeads;
    public bool BatchFirst { get; }
    public double DropoutP { get; }
    public Tensor? InProjWeight { get; }
    public Tensor? QProjWeight { get; }
    public Tensor? KProjWeight { get; }
    public Tensor? VProjWeight { get; }
    public Tensor? InProjBias { get; }
    public Linear OutProj { get; }
    private readonly Generator? _generator;
    internal override Generator? RandomSource => DropoutP > 0 ? _generator ?? Generator.Default : null;

    public MultiheadAttention(int embedDim, int numHeads, double dropout = 0, bool bias = true, int? kdim = null, int? vdim = null,
        bool batchFirst = false, DType dtype = DType.Float32, Generator? generator = null)
    {
        if (embedDim < 1 || numHeads < 1 || embedDim % numHeads != 0)
            throw new ArgumentException($"MultiheadAttention: embed_dim {embedDim} must be divisible by num_heads {numHeads}.");
        (EmbedDim, NumHeads, BatchFirst, DropoutP, _generator) = (embedDim, numHeads, batchFirst, dropout, generator);
        int kd = kdim ?? embedDim, vd = vdim ?? embedDim;
        if (kd == embedDim && vd == embedDim)
        {
            InProjWeight = RegisterParameter("in_proj_weight", Tensor.Empty(dtype, [3 * embedDim, embedDim], zero: true));
            Init.XavierUniform(InProjWeight!, g: generator);
        }
        else
        {
            QProjWeight = RegisterParameter("q_proj_weight", Tensor.Empty(dtype, [embedDim, embedDim], zero: true));
            KProjWeight = RegisterParameter("k_proj_weight", Tensor.Empty(dtype, [embedDim, kd], zero: true));
            VProjWeight = RegisterParameter("v_proj_weight", Tensor.Empty(dtype, [embedDim, vd], zero: true));
            foreach (var w in new[] { QProjWeight!, KProjWeight!, VProjWeight! }) Init.XavierUniform(w, g: generator);
        }
        InProjBias = RegisterParameter("in_proj_bias", bias ? Tensor.Zeros([3 * embedDim], dtype) : null);
        OutProj = RegisterModule("out_proj", new Linear(embedDim, embedDim, bias, dtype, generator));
        if (OutProj.Bias is not null) Init.Zeros(OutProj.Bias);
    }

    /// <summary>Self-attention without masks.</summary>
    public override Tensor Forward(Tensor input) => Attend(input, input, input, needWeights: false).Output;

    /// <summary>The full call. Returns the output and, when <paramref name="needWeights"/>, the attention weights:
    /// (N, L, S) averaged over heads, or (N, H, L, S).</summary>
    public (Tensor Output, Tensor? Weights) Attend(Tensor query, Tensor key, Tensor value, Tensor? keyPaddingMask = null, bool needWeights = true,
        Tensor? attnMask = null, bool averageAttnWeights = true, bool isCausal = false)
    {
        const string op = "MultiheadAttention";
        bool batched = query.Dim == 3;
        if (query.Dim is not (2 or 3) || key.Dim != query.Dim || value.Dim != query.Dim)
            throw new ArgumentException($"{op}: query, key and value must all be 3-D (batched) or 2-D, got {ShapeUtil.Str(query._shape)}, {ShapeUtil.Str(key._shape)}, {ShapeUtil.Str(value._shape)}.");
        // Work in (N, L, E).
        Tensor Nle(Tensor t) => !batched ? t.Unsqueeze(0) : BatchFirst ? t : t.Transpose(0, 1);
        var q = Nle(query); var k = Nle(key); var v = Nle(value);
        int n = q._shape[0], l = q._shape[1], s = k._shape[1], e = EmbedDim, h = NumHeads, hd = HeadDim;
        if (q._shape[2] != e) throw new ArgumentException($"{op}: query has {q._shape[2]} features, expected embed_dim {e}.");
        if (k._shape[0] != n || v._shape[0] != n || v._shape[1] != s)
            throw new ArgumentException($"{op}: key {ShapeUtil.Str(key._shape)} and value {ShapeUtil.Str(value._shape)} do not match query {ShapeUtil.Str(query._shape)} in batch or length.");
        Tensor? bq = null, bk = null, bv = null;
        if (InProjBias is not null) { bq = InProjBias.Narrow(0, 0, e); bk = InProjBias.Narrow(0, e, e); bv = InProjBias.Narrow(0, 2 * e, e); }
        Tensor wq, wk, wv;
        if (InProjWeight is not null) { wq = InProjWeight.Narrow(0, 0, e); wk = InProjWeight.Narrow(0, e, e); wv = InProjWeight.Narrow(0, 2 * e, e); }
        else { wq = QProjWeight!; wk = KProjWeight!; wv = VProjWeight!; }
        Tensor Heads(Tensor x, Tensor w, Tensor? b, int len) => Functional.Linear(x, w, b).View(n, len, h, hd).Transpose(1, 2);   // (N, H, len, hd)
        var qh = Heads(q, wq, bq, l); var kh = Heads(k, wk, bk, s); var vh = Heads(v, wv, bv, s);

        Tensor? mask = null;   // additive, broadcastable to (N, H, L, S)
        if (attnMask is not null)
        {
            var m = ToAdditive(attnMask, q.DType);
            if (m.Dim == 2) mask = m;
            else if (m.Dim == 3 && m._shape[0] == n * h) mask = m.View(n, h, l, s);
            else throw new ArgumentException($"{op}: attn_mask must be (L, S) or (N·H, L, S) = ({l}, {s}) or ({n * h}, {l}, {s}), got {ShapeUtil.Str(attnMask._shape)}.");
        }
        if (isCausal && attnMask is null) mask = Functional.CausalMask(l, s, q.DType);
        if (keyPaddingMask is not null)
        {
            if (keyPaddingMask.Dim != (batched ? 2 : 1) || keyPaddingMask._shape[^1] != s)
                throw new ArgumentException($"{op}: key_padding_mask must be (N, S) = ({n}, {s}), got {ShapeUtil.Str(keyPaddingMask._shape)}.");
            var kp = ToAdditive(batched ? keyPaddingMask : keyPaddingMask.Unsqueeze(0), q.DType).View(n, 1, 1, s);
            mask = mask is null ? kp : mask.Add(kp);
        }
        var (o, w) = Functional.Attention(qh, kh, vh, mask, Training ? DropoutP : 0, false, null, _generator, needWeights);
        var merged = o.Transpose(1, 2).Reshape(n, l, e);
        var output = OutProj.Call(merged);
        output = !batched ? output.Squeeze(0) : BatchFirst ? output : output.Transpose(0, 1);
        Tensor? weights = null;
        if (needWeights && w is not null)
        {
            weights = averageAttnWeights ? w.Mean(1) : w;
            if (!batched) weights = weights.Squeeze(0);
        }
        return (output, weights);
    }

    // PyTorch's nn.MultiheadAttention: bool true = masked out (−∞); float masks are added as they are.
    private static Tensor ToAdditive(Tensor mask, DType dtype) => mask.DType == DType.Bool
        ? Tensor.Where(mask, Tensor.Scalar(double.NegativeInfinity, dtype), Tensor.Scalar(0, dtype))
        : mask.To(dtype);

    protected override string ExtraRepr() => $"embed_dim={EmbedDim}, num_heads={NumHeads}";
}

/// <summary>Activation of a transformer's feed-forward block.</summary>
public enum TransformerActivation { Relu, Gelu }

/// <summary>One encoder layer (PyTorch's <c>nn.TransformerEncoderLayer</c>, same parameter names): self-attention and a
/// feed-forward block, each with dropout and a residual connection; LayerNorm after each (post-norm, the original
/// Transformer) or before each (<c>normFirst</c>, pre-norm as in GPT-2).</summary>
public sealed class TransformerEncoderLayer : Module
{
    public MultiheadAttention SelfAttn { get; }
    public bool NormFirst { get; }
    private readonly Linear _linear1, _linear2;
    private readonly LayerNorm _norm1, _norm2;
    private readonly Dropout _dropout, _dropout1, _dropout2;
    private readonly TransformerActivation _activation;

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

    public override Tensor Forward(Tensor input) => Forward(input, null, null, false);

    /// <summary>When set, each forward keeps the self-attention weights (N, H, L, S) in <see cref="AttentionWeights"/>
    /// (detached; for plots and explanations).</summary>
    public bool KeepAttentionWeights { get; set; }
    public Tensor? AttentionWeights { get; private set; }

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
/// over the encoder's output (memory), and a feed-forward block, each with residual and LayerNorm (post- or pre-norm).</summary>
public sealed class TransformerDecoderLayer : Module
{
    public MultiheadAttention SelfAttn { get; }
    public MultiheadAttention MultiheadAttn { get; }
    public bool NormFirst { get; }
    private readonly Linear _linear1, _linear2;
    private readonly LayerNorm _norm1, _norm2, _norm3;
    private readonly Dropout _dropout, _dropout1, _dropout2, _dropout3;
    private readonly TransformerActivation _activation;

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
    public Tensor? CrossAttentionWeights { get; private set; }

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
/// optional final <c>norm</c>, which pre-norm stacks need because their last residual is not normalized).</summary>
public sealed class TransformerEncoder : Module
{
    public ModuleList Layers { get; }
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

    public override Tensor Forward(Tensor input) => Forward(input, null, null, false);

    public Tensor Forward(Tensor src, Tensor? mask, Tensor? srcKeyPaddingMask, bool isCausal = false)
    {
        var x = src;
        foreach (var layer in Layers) x = ((TransformerEncoderLayer)layer).Forward(x, mask, srcKeyPaddingMask, isCausal);
        return Norm is null ? x : Norm.Call(x);
    }
}

/// <summary>A stack of decoder layers (PyTorch's <c>nn.TransformerDecoder</c>) with an optional final <c>norm</c>.</summary>
public sealed class TransformerDecoder : Module
{
    public ModuleList Layers { get; }
    public LayerNorm? Norm { get; }

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
/// that uses it (see <c>Ember.Models.Seq2SeqTransformer</c>).</summary>
public sealed class Transformer : Module
{
    public TransformerEncoder Encoder { get; }
    public TransformerDecoder Decoder { get; }
    public int DModel { get; }
    public int NHead { get; }
    public bool BatchFirst { get; }

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
            throw new ArgumentException($"Transformer: src {ShapeUtil.Str(src._shape)} and tgt {ShapeUtil.Str(tgt._shape)} differ in batch size.");
        if (src.Size(-1) != DModel || tgt.Size(-1) != DModel)
            throw new ArgumentException($"Transformer: src {ShapeUtil.Str(src._shape)} and tgt {ShapeUtil.Str(tgt._shape)} must have d_model = {DModel} features.");
        var memory = Encoder.Forward(src, srcMask, srcKeyPaddingMask);
        return Decoder.Forward(tgt, memory, tgtMask, memoryMask, tgtKeyPaddingMask, memoryKeyPaddingMask, tgtIsCausal);
    }

    /// <summary>The (size, size) float mask with −∞ above the diagonal and 0 elsewhere
    /// (<c>nn.Transformer.generate_square_subsequent_mask</c>).</summary>
    public static Tensor GenerateSquareSubsequentMask(int size, DType dtype = DType.Float32) => Functional.CausalMask(size, size, dtype);
}

/// <summary>Runs a forward pass in eval mode without gradients while some layers keep their attention weights, then
/// restores the model's mode and the layers' flags: the attention-map helpers of the models share it.</summary>
internal static class AttentionCapture
{
    public static IReadOnlyList<Tensor> Run<TLayer>(Module model, IReadOnlyList<TLayer> layers, Action<TLayer, bool> keep, Func<TLayer, Tensor?> read, Action forward)
    {
        bool was = model.Training;
        model.Eval();
        try
        {
            foreach (var l in layers) keep(l, true);
            using (Tensor.NoGrad()) forward();
            return layers.Select(l => read(l)!).ToArray();
        }
        finally
        {
            foreach (var l in layers) keep(l, false);
            model.Train(was);
        }
    }
}
