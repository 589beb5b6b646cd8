namespace Ember.NN;

/// <summary>Multi-head attention (PyTorch's <c>nn.MultiheadAttention</c>, same parameter names and semantics): queries,
/// keys and values are projected (one packed in_proj of 3·E rows when key and value have E features), split into
/// heads, attended with scaled dot products and projected back by out_proj. Sequences are (L, N, E) by default or
/// (N, L, E) with <c>batchFirst</c>. Masks follow PyTorch's convention here: in <c>attnMask</c> (L, S) or
/// (N·H, L, S) and <c>keyPaddingMask</c> (N, S), a bool true means "may NOT attend"; a float mask is added.
/// Shape: query (L, N, E), key (S, N, kdim), value (S, N, vdim) (batch-first: N first) → output like query, and when asked the weights (N, L, S) averaged over heads or (N, H, L, S).</summary>
public sealed class MultiheadAttention : Module
{
    /// <summary>Model width E.</summary>
    public int EmbedDim { get; }
    /// <summary>Attention heads H.</summary>
    public int NumHeads { get; }
    /// <summary>Width of one head, E/H.</summary>
    public int HeadDim => EmbedDim / NumHeads;
    /// <summary>Inputs are (N, L, E) instead of (L, N, E).</summary>
    public bool BatchFirst { get; }
    /// <summary>Dropout on the attention weights (training only).</summary>
    public double DropoutP { get; }
    /// <summary>Packed query/key/value projection (3E, E) when keys and values have E features; null otherwise.</summary>
    public Tensor? InProjWeight { get; }
    /// <summary>Query projection (E, E) when keys or values have other widths; null otherwise.</summary>
    public Tensor? QProjWeight { get; }
    /// <summary>Key projection (E, kdim); null with the packed projection.</summary>
    public Tensor? KProjWeight { get; }
    /// <summary>Value projection (E, vdim); null with the packed projection.</summary>
    public Tensor? VProjWeight { get; }
    /// <summary>Packed projection bias (3E), or null.</summary>
    public Tensor? InProjBias { get; }
    /// <summary>The output projection (PyTorch's <c>out_proj</c>).</summary>
    public Linear OutProj { get; }
    private readonly Generator? _generator;
    internal override Generator? RandomSource => DropoutP > 0 ? _generator ?? Generator.Default : null;

    /// <summary>Multi-head attention of width <paramref name="embedDim"/> with <paramref name="numHeads"/> heads; keys and values of other widths through <paramref name="kdim"/> and <paramref name="vdim"/>.</summary>
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
            throw new ArgumentException($"{op}: query, key and value must all be 3-D (batched) or 2-D, got {ShapeUtil.Str(query.Shape)}, {ShapeUtil.Str(key.Shape)}, {ShapeUtil.Str(value.Shape)}.");
        // Work in (N, L, E).
        Tensor Nle(Tensor t) => !batched ? t.Unsqueeze(0) : BatchFirst ? t : t.Transpose(0, 1);
        var q = Nle(query); var k = Nle(key); var v = Nle(value);
        int n = q.Size(0), l = q.Size(1), s = k.Size(1), e = EmbedDim, h = NumHeads, hd = HeadDim;
        if (q.Size(2) != e) throw new ArgumentException($"{op}: query has {q.Size(2)} features, expected embed_dim {e}.");
        if (k.Size(0) != n || v.Size(0) != n || v.Size(1) != s)
            throw new ArgumentException($"{op}: key {ShapeUtil.Str(key.Shape)} and value {ShapeUtil.Str(value.Shape)} do not match query {ShapeUtil.Str(query.Shape)} in batch or length.");
        // Self-attention without masks or weights: one packed projection (N, L, 3E) and the packed kernel, which reads
        // the heads in place and writes (N, L, E) with the heads side by side (no head split or merge copies).
        if (batched && BatchFirst && InProjWeight is not null && ReferenceEquals(query, key) && ReferenceEquals(key, value) && attnMask is null
            && keyPaddingMask is null && !needWeights && (!Training || DropoutP == 0) && q.DType == DType.Float32 && Autocast.Type is null
            && Functional.PackedSelfAttention(Functional.Linear(q, InProjWeight, InProjBias), h, isCausal) is Tensor packed)
            return (OutProj.Call(packed), null);
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
            else if (m.Dim == 3 && m.Size(0) == n * h) mask = m.View(n, h, l, s);
            else throw new ArgumentException($"{op}: attn_mask must be (L, S) or (N·H, L, S) = ({l}, {s}) or ({n * h}, {l}, {s}), got {ShapeUtil.Str(attnMask.Shape)}.");
        }
        if (isCausal && attnMask is null) mask = Functional.CausalMask(l, s, q.DType);
        if (keyPaddingMask is not null)
        {
            if (keyPaddingMask.Dim != (batched ? 2 : 1) || keyPaddingMask.Size(-1) != s)
                throw new ArgumentException($"{op}: key_padding_mask must be (N, S) = ({n}, {s}), got {ShapeUtil.Str(keyPaddingMask.Shape)}.");
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

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"embed_dim={EmbedDim}, num_heads={NumHeads}";
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
