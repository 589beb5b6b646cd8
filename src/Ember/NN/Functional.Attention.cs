namespace Ember.NN;

public static partial class Functional
{
    /// <summary>Looks up rows of <paramref name="weight"/> (V, D) for int64 <paramref name="indices"/> of any shape →
    /// (…, D). The row <paramref name="paddingIdx"/> gets no gradient (PyTorch's padding_idx).</summary>
    public static Tensor Embedding(Tensor indices, Tensor weight, int? paddingIdx = null)
    {
        const string op = "Embedding";
        indices.CheckDType(op, DType.Int64);
        if (weight.Dim != 2) throw new ArgumentException($"{op}: weight must be (num_embeddings, dim), got {ShapeUtil.Str(weight.Shape)}.");
        int v = weight.Size(0), d = weight.Size(1);
        if (paddingIdx is int p && (p < -v || p >= v))
            throw new ArgumentException($"{op}: padding_idx {p} is outside [-{v}, {v}).");
        int? pad = paddingIdx is int q ? (q < 0 ? q + v : q) : null;
        var idx = indices.Contiguous().ToArray<long>();
        for (int i = 0; i < idx.Length; i++)
            if ((ulong)idx[i] >= (ulong)v)
                throw new ArgumentException($"{op}: index {idx[i]} at flat position {i} of indices {ShapeUtil.Str(indices.Shape)} is outside the {v} embeddings.");
        var shape = indices.Shape.Append(d).ToArray();
        var y = weight.Detach().IndexSelect(0, Tensor.FromArray(idx)).View(shape);
        if (!(GradMode.IsEnabled && weight.RequiresGrad)) return y;
        return y.Record("EmbeddingBackward", weight, g =>
        {
            Tensor.RefuseHigherOrder("EmbeddingBackward");
            var gw = Tensor.Empty(weight.DType, weight.Shape, zero: true);
            var g2 = g.Reshape(idx.Length, d);
            if (pad is int pp)
            {
                // Route the padding positions' gradient to nowhere: gather only the other rows.
                var keep = Enumerable.Range(0, idx.Length).Where(i => idx[i] != pp).Select(i => (long)i).ToArray();
                var rows = Tensor.FromArray(keep.Select(i => idx[i]).ToArray());
                return gw.IndexAddInPlace(0, rows, g2.IndexSelect(0, Tensor.FromArray(keep)));
            }
            return gw.IndexAddInPlace(0, Tensor.FromArray(idx), g2);
        }, weight);
    }

    /// <summary>Root-mean-square normalization over the last dim (Zhang &amp; Sennrich, 2019): x / √(mean(x²) + ε) · w.</summary>
    public static Tensor RmsNorm(Tensor input, Tensor? weight = null, double eps = 1e-6)
    {
        if (weight is not null && (weight.Dim != 1 || weight.Size(0) != input.Size(-1)))
            throw new ArgumentException($"RmsNorm: weight shape {ShapeUtil.Str(weight.Shape)} must be ({input.Size(-1)}) for input {ShapeUtil.Str(input.Shape)}.");
        var y = input.Mul(input.Square().Mean(-1, keepDim: true).Add(eps).Rsqrt());
        return weight is null ? y : y.Mul(weight);
    }

    /// <summary>Scaled dot-product attention (Vaswani et al., 2017), PyTorch's <c>F.scaled_dot_product_attention</c>:
    /// softmax(q·kᵀ·scale + mask)·v. Shapes: q (…, L, E), k (…, S, E), v (…, S, Ev) → (…, L, Ev); leading dims broadcast.
    /// <paramref name="attnMask"/> is bool (true = may attend) or float (added to the scores), broadcastable to (…, L, S).
    /// <paramref name="isCausal"/> lets position i attend to positions ≤ i only (top-left aligned, as PyTorch). A query
    /// row with nothing to attend to yields zeros rather than NaN. Long sequences are processed in blocks of queries,
    /// so the (L, S) score matrix never exists at once beyond one block.</summary>
    public static Tensor ScaledDotProductAttention(Tensor q, Tensor k, Tensor v, Tensor? attnMask = null, double dropoutP = 0,
        bool isCausal = false, double? scale = null, Generator? generator = null)
        => Attention(q, k, v, attnMask, dropoutP, isCausal, scale, generator, needWeights: false).Output;

    /// <summary><see cref="ScaledDotProductAttention"/> that also returns the attention weights (…, L, S).</summary>
    public static (Tensor Output, Tensor? Weights) Attention(Tensor q, Tensor k, Tensor v, Tensor? attnMask = null, double dropoutP = 0,
        bool isCausal = false, double? scale = null, Generator? generator = null, bool needWeights = true)
    {
        const string op = "ScaledDotProductAttention";
        if (q.Dim < 2 || k.Dim < 2 || v.Dim < 2)
            throw new ArgumentException($"{op}: q, k, v need at least 2 dims (…, L, E), got {ShapeUtil.Str(q.Shape)}, {ShapeUtil.Str(k.Shape)}, {ShapeUtil.Str(v.Shape)}.");
        if (q.Size(-1) != k.Size(-1))
            throw new ArgumentException($"{op}: query dim {q.Size(-1)} must equal key dim {k.Size(-1)} (q {ShapeUtil.Str(q.Shape)}, k {ShapeUtil.Str(k.Shape)}).");
        if (k.Size(-2) != v.Size(-2))
            throw new ArgumentException($"{op}: keys ({k.Size(-2)}) and values ({v.Size(-2)}) must have the same length S.");
        if (isCausal && attnMask is not null)
            throw new ArgumentException($"{op}: give either attn_mask or is_causal, not both (as PyTorch).");
        if (dropoutP is < 0 or >= 1) throw new ArgumentException($"{op}: dropout_p must be in [0, 1), got {dropoutP}.");
        int l = q.Size(-2), s = k.Size(-2);
        double sc = scale ?? 1 / Math.Sqrt(q.Size(-1));
        Tensor? additive = null;
        if (isCausal) additive = CausalMask(l, s, q.DType);
        else if (attnMask is not null)
            additive = attnMask.DType == DType.Bool
                ? Tensor.Where(attnMask, Tensor.Scalar(0, q.DType), Tensor.Scalar(double.NegativeInfinity, q.DType))
                : attnMask.To(q.DType);
        if (dropoutP == 0 && !needWeights)
        {
            var fused = isCausal ? FusedAttention(q, k, v, null, sc, 0) : FusedAttention(q, k, v, additive, sc, null);
            if (fused is not null) return (fused, null);
        }
        // Blocks of queries bound the live score memory to block × S per batch element.
        const int block = 256;
        if (l > block && !needWeights)
        {
            var parts = new List<Tensor>();
            for (int start = 0; start < l; start += block)
            {
                int len = Math.Min(block, l - start);
                var maskPart = additive is null ? null : additive.Shape.Length >= 2 && additive.Size(-2) == l ? additive.Narrow(-2, start, len) : additive;
                parts.Add(AttendBlock(q.Narrow(-2, start, len), k, v, maskPart, sc, dropoutP, generator).Output);
            }
            return (Tensor.Cat(parts, -2), null);
        }
        var (o, w) = AttendBlock(q, k, v, additive, sc, dropoutP, generator);
        return (o, needWeights ? w : null);
    }

    /// <summary>The fused float32 kernel (<see cref="Kernels.Attention"/>) when it applies: float32 q, k, v with the same
    /// leading dims, an additive float mask that needs no gradient and broadcasts to (…, L, S) (an (L, S) attention
    /// mask, an (N, 1, 1, S) key-padding mask, or their sum), or none, optionally a causal limit (query i sees keys
    /// j ≤ i + <paramref name="causalOffset"/>). Null otherwise, and the composed ops run. Its backward gives first-order
    /// gradients only (a graph of the gradient, createGraph, is refused with a clear error).</summary>
    internal static Tensor? FusedAttention(Tensor q, Tensor k, Tensor v, Tensor? additive, double scale, int? causalOffset)
    {
        if (q.DType != DType.Float32 || k.DType != DType.Float32 || v.DType != DType.Float32) return null;
        var lead = q.Shape[..^2];
        if (!ShapeUtil.SameShape(lead, k.Shape[..^2]) || !ShapeUtil.SameShape(lead, v.Shape[..^2])) return null;
        int l = q.Size(-2), s = k.Size(-2), e = q.Size(-1), ev = v.Size(-1);
        int z = 1;
        foreach (int d in lead) z *= d;
        if (z == 0 || l == 0 || s == 0 || e == 0 || ev == 0) return null;    // degenerate shapes: the composed ops
        Kernels.Attention.Operand? mask = null;
        if (additive is not null)
        {
            if (additive.DType != DType.Float32 || additive.RequiresGrad || additive.Dim > lead.Length + 2) return null;
            // The mask as the kernel reads it: (Z, L, S) through broadcast strides (0 on broadcast dims), unit column stride.
            int[] full = [.. lead, l, s];
            try
            {
                if (!ShapeUtil.SameShape(ShapeUtil.Broadcast("ScaledDotProductAttention", additive.Shape, full), full)) return null;
            }
            catch (ArgumentException) { return null; }   // does not broadcast: the composed ops report it
            var m = additive.Size(-1) == s && Kernels.Attention.Operand.DenseRows(additive) ? additive : additive.Expand([.. additive.Shape[..^1], s]).Contiguous();
            mask = Kernels.Attention.Operand.Of(m.Expand(full), z);
        }
        var dense = Tensor.Empty(DType.Float32, [.. lead, l, ev]);
        var lse = new float[z * l];
        var qo = Kernels.Attention.Operand.Of(q, z); var ko = Kernels.Attention.Operand.Of(k, z); var vo = Kernels.Attention.Operand.Of(v, z);
        var oo = Kernels.Attention.Operand.Of(dense, z);
        float fs = (float)scale;
        if (Diagnostics.Profiler.Enabled) Diagnostics.Profiler.AddFlops(Diagnostics.Profiler.AttentionFlops(z, l, s, e, ev, causalOffset));
        Kernels.Attention.Forward(z, l, s, e, ev, qo, ko, vo, mask, fs, causalOffset, oo, lse);
        if (!(GradMode.IsEnabled && (q.RequiresGrad || k.RequiresGrad || v.RequiresGrad))) return dense;
        return dense.Record("ScaledDotProductAttentionBackward", [q, k, v], g =>
        {
            RefuseSecondOrder();
            var dq = q.RequiresGrad ? Tensor.Empty(DType.Float32, [.. lead, l, e]) : null;
            var dk = k.RequiresGrad ? Tensor.Empty(DType.Float32, [.. lead, s, e], zero: true) : null;
            var dv = v.RequiresGrad ? Tensor.Empty(DType.Float32, [.. lead, s, ev], zero: true) : null;
            // The GEMMs read q, k, v through the operands captured above (same storage; in-place edits are caught by the
            // version check on the saved tensors).
            if (Diagnostics.Profiler.Enabled) Diagnostics.Profiler.AddFlops(2 * Diagnostics.Profiler.AttentionFlops(z, l, s, e, ev, causalOffset));
            Kernels.Attention.Backward(z, l, s, e, ev, qo, ko, vo, mask, fs, causalOffset, oo, lse,
                Kernels.Attention.Operand.Of(Kernels.Attention.Operand.DenseRows(g) ? g : g.Contiguous(), z),
                dq is null ? null : Kernels.Attention.Operand.Of(dq, z), dk is null ? null : Kernels.Attention.Operand.Of(dk, z),
                dv is null ? null : Kernels.Attention.Operand.Of(dv, z));
            return [dq, dk, dv];
        }, q, k, v, dense);
    }

    /// <summary>Causal multi-head self-attention straight from the packed projection qkv (B, T, 3E) of a GPT block
    /// (see <see cref="PackedSelfAttention"/>).</summary>
    internal static Tensor? PackedCausalSelfAttention(Tensor qkv, int heads) => PackedSelfAttention(qkv, heads, causal: true);

    /// <summary>Multi-head self-attention, causal or not, straight from a packed projection qkv (B, T, 3E) (q, k, v side
    /// by side, heads of width E/H inside each: a GPT block's c_attn, or nn.MultiheadAttention's in_proj applied once):
    /// returns (B, T, E) with the heads side by side, ready for the output projection, and its backward writes one
    /// (B, T, 3E) gradient. No head views, transposes or per-slice gradients exist on either pass. Null where the fused
    /// kernel does not apply (not float32, last dim not dense).</summary>
    internal static Tensor? PackedSelfAttention(Tensor qkv, int heads, bool causal)
    {
        if (qkv.DType != DType.Float32 || qkv.Dim != 3 || !Kernels.Attention.Operand.DenseRows(qkv) || qkv.Size(2) % (3 * heads) != 0) return null;
        int b = qkv.Size(0), t = qkv.Size(1), e = qkv.Size(2) / 3, hd = e / heads, z = b * heads;
        if (z == 0 || t == 0 || hd == 0) return null;
        var qo = Kernels.Attention.Operand.Heads(qkv, heads, 0, hd);
        var ko = Kernels.Attention.Operand.Heads(qkv, heads, e, hd);
        var vo = Kernels.Attention.Operand.Heads(qkv, heads, 2 * e, hd);
        var y = Tensor.Empty(DType.Float32, [b, t, e]);
        var oo = Kernels.Attention.Operand.Heads(y, heads, 0, hd, e, t * e);
        var lse = new float[z * t];
        float fs = (float)(1 / Math.Sqrt(hd));
        int? offset = causal ? 0 : null;
        if (Diagnostics.Profiler.Enabled) Diagnostics.Profiler.AddFlops(Diagnostics.Profiler.AttentionFlops(z, t, t, hd, hd, offset));
        Kernels.Attention.Forward(z, t, t, hd, hd, qo, ko, vo, null, fs, offset, oo, lse);
        if (!(GradMode.IsEnabled && qkv.RequiresGrad)) return y;
        return y.Record("ScaledDotProductAttentionBackward", qkv, g =>
        {
            RefuseSecondOrder();
            var gd = Kernels.Attention.Operand.DenseRows(g) ? g : g.Contiguous();
            // Not zeroed here: the kernel writes every dQ row and zeroes each head's dK, dV rows before accumulating.
            var dqkv = Tensor.Empty(DType.Float32, [b, t, 3 * e]);
            if (Diagnostics.Profiler.Enabled) Diagnostics.Profiler.AddFlops(2 * Diagnostics.Profiler.AttentionFlops(z, t, t, hd, hd, offset));
            Kernels.Attention.Backward(z, t, t, hd, hd, qo, ko, vo, null, fs, offset, oo, lse, Kernels.Attention.Operand.Heads(gd, heads, 0, hd),
                Kernels.Attention.Operand.Heads(dqkv, heads, 0, hd, 3 * e, t * 3 * e), Kernels.Attention.Operand.Heads(dqkv, heads, e, hd, 3 * e, t * 3 * e),
                Kernels.Attention.Operand.Heads(dqkv, heads, 2 * e, hd, 3 * e, t * 3 * e), clearKV: true);
            return dqkv;
        }, qkv, y);
    }

    private static void RefuseSecondOrder()
    {
        if (GradMode.IsEnabled)
            throw new NotSupportedException("ScaledDotProductAttention: the fused float32 kernel has no second-order gradient; " +
                "use float64 inputs (the composed ops) where a graph of the gradient (createGraph) is needed.");
    }

    private static (Tensor Output, Tensor Weights) AttendBlock(Tensor q, Tensor k, Tensor v, Tensor? additive, double scale, double dropoutP, Generator? g)
    {
        var scores = q.Matmul(k.MT).Mul(scale);
        if (additive is not null) scores = scores.Add(additive);
        Tensor w;
        if (additive is not null && HasFullyMaskedRow(additive))
        {
            // Fully masked rows: softmax of all −∞ is NaN; such a query attends to nothing, so its output is zero and so
            // are its gradients (the row's scores are replaced before the softmax, so no NaN reaches the backward pass).
            var dead = additive.Eq(double.NegativeInfinity).To(scores.DType).Amin([-1], keepDim: true).Eq(1);
            var zero = Tensor.Scalar(0, scores.DType);
            w = Tensor.Where(dead, zero, Tensor.Where(dead, zero, scores).Softmax(-1));
        }
        else w = scores.Softmax(-1);
        var wd = dropoutP > 0 ? Dropout(w, dropoutP, true, g) : w;
        return (wd.Matmul(v), w);
    }

    private static bool HasFullyMaskedRow(Tensor additive)
    {
        var m = additive.Contiguous().ToArrayDouble();
        int s = additive.Size(-1);
        for (int r = 0; r < m.Length; r += s)
        {
            bool all = true;
            for (int j = 0; j < s && all; j++) all = double.IsNegativeInfinity(m[r + j]);
            if (all) return true;
        }
        return false;
    }

    /// <summary>The additive causal mask (L, S): 0 where key j ≤ query i, −∞ above the diagonal.</summary>
    public static Tensor CausalMask(int l, int s, DType dtype = DType.Float32)
    {
        var m = new double[l * s];
        for (int i = 0; i < l; i++)
            for (int j = i + 1; j < s; j++) m[i * s + j] = double.NegativeInfinity;
        return Tensor.FromArray(m, l, s).To(dtype);
    }
}
