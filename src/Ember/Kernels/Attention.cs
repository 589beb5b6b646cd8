using System.Runtime.Intrinsics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;

namespace Ember.Kernels;

/// <summary>Fused float32 scaled dot-product attention (the memory-efficient formulation of Rabe &amp; Staats 2021 and
/// FlashAttention, Dao et al. 2022, on a CPU): per (batch, head) and per block of query rows, the scores
/// S = Q·Kᵀ·scale (+ mask) live only in a per-thread scratch block, the softmax is taken in place, O = P·V is written,
/// and only the row log-sum-exp (L floats per head) is kept for the backward pass, which recomputes P block by block.
/// Nothing of size L×S is ever allocated, so memory stays O(L) per head. A causal limit (query i sees keys
/// j ≤ i + offset) skips the masked columns in every product. All products go through <see cref="Gemm.Sgemm"/>
/// (strided operands, no copies), single-threaded inside; heads are spread over the threads.</summary>
internal static unsafe class Attention
{
    private const int RowBlock = 32;

    /// <summary>Strided (Z, rows, cols) view of a float32 tensor: a base offset per z and the two inner strides.</summary>
    internal readonly record struct Operand(float[] Data, int[] Offsets, int RowStride, int ColStride)
    {
        /// <summary>A (Z…, rows, cols) float32 tensor as an operand: a base offset per leading index (z of them).</summary>
        public static Operand Of(Tensor t, int z)
        {
            var offsets = new int[z];
            int nd = t.Dim - 2;
            for (int i = 0; i < z; i++)
            {
                int rem = i, off = t._offset;
                for (int d = nd - 1; d >= 0; d--)
                {
                    off += rem % t._shape[d] * t._strides[d];
                    rem /= t._shape[d];
                }
                offsets[i] = off;
            }
            return new(t.Data<float>(), offsets, t._strides[^2], t._strides[^1]);
        }

        /// <summary>The heads of a (B, T, C) float32 tensor whose columns hold <paramref name="heads"/> blocks of
        /// <paramref name="width"/> starting at <paramref name="column"/>: z = B·heads operands of (T, width).</summary>
        public static Operand Heads(Tensor x, int heads, int column, int width, int rowStride, int batchStride)
        {
            int z = x._shape[0] * heads;
            var offsets = new int[z];
            for (int i = 0; i < z; i++) offsets[i] = x._offset + i / heads * batchStride + column + i % heads * width;
            return new(x.Data<float>(), offsets, rowStride, 1);
        }

        /// <summary>The heads of a (B, T, C) tensor laid out densely or with its own strides (rows and batches as the
        /// tensor's).</summary>
        public static Operand Heads(Tensor x, int heads, int column, int width) =>
            Heads(x, heads, column, width, x._strides[1], x._strides[0]);

        /// <summary>True when the tensor's last dimension is dense (the kernel reads rows with unit stride).</summary>
        public static bool DenseRows(Tensor t) => t._strides[^1] == 1;
    }

    /// <summary>The columns query row i may attend: [0, Limit(i)).</summary>
    private static int Limit(int i, int s, int? causalOffset) => causalOffset is int off ? Math.Clamp(i + off + 1, 0, s) : s;

    /// <summary>Forward: writes O (Z, L, Ev) through <paramref name="o"/> (unit column stride) and the row log-sum-exp
    /// (Z, L) into <paramref name="lse"/> (−∞ for a row with nothing to attend; its output is zero).</summary>
    public static void Forward(int z, int l, int s, int e, int ev, Operand q, Operand k, Operand v, Operand? mask, float scale,
        int? causalOffset, Operand o, float[] lse)
    {
        int next = 0;
        Parallelism.ForEach(Math.Min(z, Parallelism.NumThreads), [MethodImpl(MethodImplOptions.AggressiveOptimization)] (t) =>
        {
            var scratch = new float[RowBlock * s];
            var ktBuf = TransposeKeys(l) ? new float[e * s] : null;
            fixed (float* pq = q.Data, pk = k.Data, pv = v.Data, po = o.Data, pp = scratch, kt = ktBuf)
                for (int h; (h = Interlocked.Increment(ref next) - 1) < z;)
                {
                    if (kt != null) Transpose(h, s, e, pk, k, kt);
                    for (int r0 = 0; r0 < l; r0 += RowBlock)
                    {
                        int rb = Math.Min(RowBlock, l - r0);
                        int c1 = Limit(r0 + rb - 1, s, causalOffset);
                        float* orow = po + o.Offsets[h] + (long)r0 * o.RowStride;
                        if (c1 == 0)
                        {
                            for (int i = 0; i < rb; i++) new Span<float>(orow + (long)i * o.RowStride, ev).Clear();
                            lse.AsSpan(h * l + r0, rb).Fill(float.NegativeInfinity);
                            continue;
                        }
                        Scores(h, r0, rb, c1, s, e, pq, q, pk, k, mask, scale, pp, kt);
                        for (int i = 0; i < rb; i++)
                        {
                            var row = new Span<float>(pp + (long)i * c1, c1);
                            int ci = Math.Min(c1, Limit(r0 + i, s, causalOffset));
                            float m = ci == 0 ? float.NegativeInfinity : TensorPrimitives.Max(row[..ci]);
                            if (float.IsNegativeInfinity(m))
                            {
                                row.Clear();
                                lse[h * l + r0 + i] = float.NegativeInfinity;
                                continue;
                            }
                            float sum = FastMath.ExpSubSum(row[..ci], m, row);
                            TensorPrimitives.Multiply(row[..ci], 1 / sum, row[..ci]);
                            row[ci..].Clear();
                            lse[h * l + r0 + i] = m + MathF.Log(sum);
                        }
                        // O[rows] = P[rows, :c1]·V[:c1]
                        Product(rb, ev, c1, pp, c1, 1, pv + v.Offsets[h], v.RowStride, v.ColStride, orow, o.RowStride, false);
                    }
                }
        });
    }

    /// <summary>Backward: given dO (Z, L, Ev), the forward's O and lse, writes dQ (Z, L, E) and accumulates dK (Z, S, E)
    /// and dV (Z, S, Ev) (pass those zeroed, or <paramref name="clearKV"/>: each head's rows are zeroed by the thread
    /// that then accumulates into them, while they are in its cache), all through operands with unit column stride.
    /// Any of the three may be null. Each head is handed whole to one thread (the next free one takes the next head),
    /// so no two threads write one head's rows; distinct heads must not share destination rows.</summary>
    public static void Backward(int z, int l, int s, int e, int ev, Operand q, Operand k, Operand v, Operand? mask, float scale,
        int? causalOffset, Operand o, float[] lse, Operand dout, Operand? dq, Operand? dk, Operand? dv, bool clearKV = false)
    {
        int next = 0;
        Parallelism.ForEach(Math.Min(z, Parallelism.NumThreads), [MethodImpl(MethodImplOptions.AggressiveOptimization)] (t) =>
        {
            var pBuf = new float[RowBlock * s];
            var dsBuf = new float[RowBlock * s];
            var dBuf = new float[RowBlock];
            var ktBuf = TransposeKeys(l) ? new float[e * s] : null;
            var vtBuf = TransposeKeys(l) ? new float[ev * s] : null;
            fixed (float* pq = q.Data, pk = k.Data, pv = v.Data, pp = pBuf, pds = dsBuf, pdo = dout.Data, po = o.Data,
                   pdq = dq?.Data, pdk = dk?.Data, pdv = dv?.Data, kt = ktBuf, vt = vtBuf)
                for (int h; (h = Interlocked.Increment(ref next) - 1) < z;)
                {
                    if (kt != null) { Transpose(h, s, e, pk, k, kt); Transpose(h, s, ev, pv, v, vt); }
                    if (clearKV)
                        for (int j = 0; j < s; j++)
                        {
                            if (dk is Operand dkc) new Span<float>(pdk + dkc.Offsets[h] + (long)j * dkc.RowStride, e).Clear();
                            if (dv is Operand dvc) new Span<float>(pdv + dvc.Offsets[h] + (long)j * dvc.RowStride, ev).Clear();
                        }
                    for (int r0 = 0; r0 < l; r0 += RowBlock)
                    {
                        int rb = Math.Min(RowBlock, l - r0);
                        int c1 = Limit(r0 + rb - 1, s, causalOffset);
                        float* dorow = pdo + dout.Offsets[h] + (long)r0 * dout.RowStride;
                        if (c1 == 0)
                        {
                            if (dq is Operand dq0)
                                for (int i = 0; i < rb; i++) new Span<float>(pdq + dq0.Offsets[h] + (long)(r0 + i) * dq0.RowStride, e).Clear();
                            continue;
                        }
                        // Recompute P = exp(S − lse) for the block.
                        Scores(h, r0, rb, c1, s, e, pq, q, pk, k, mask, scale, pp, kt);
                        for (int i = 0; i < rb; i++)
                        {
                            var row = new Span<float>(pp + (long)i * c1, c1);
                            int ci = Math.Min(c1, Limit(r0 + i, s, causalOffset));
                            float li = lse[h * l + r0 + i];
                            if (float.IsNegativeInfinity(li)) { row.Clear(); dBuf[i] = 0; continue; }
                            FastMath.ExpSubSum(row[..ci], li, row);
                            row[ci..].Clear();
                            // D_i = Σ_j dO_ij·O_ij (= Σ_j dP_ij·P_ij)
                            dBuf[i] = TensorPrimitives.Dot(new ReadOnlySpan<float>(dorow + (long)i * dout.RowStride, ev),
                                new ReadOnlySpan<float>(po + o.Offsets[h] + (long)(r0 + i) * o.RowStride, ev));
                        }
                        // dV[:c1] += P[rows, :c1]ᵀ·dO[rows]
                        if (dv is Operand dvo)
                            Product(c1, ev, rb, pp, 1, c1, dorow, dout.RowStride, 1, pdv + dvo.Offsets[h], dvo.RowStride, true);
                        // dP[rows, :c1] = dO[rows]·V[:c1]ᵀ
                        if (vt != null) Product(rb, c1, ev, dorow, dout.RowStride, 1, vt, s, 1, pds, c1, false);
                        else Product(rb, c1, ev, dorow, dout.RowStride, 1, pv + v.Offsets[h], v.ColStride, v.RowStride, pds, c1, false);
                        // dS = P ⊙ (dP − D)·scale (zero where P is)
                        for (int i = 0; i < rb; i++) SoftmaxGrad(pds + (long)i * c1, pp + (long)i * c1, c1, dBuf[i], scale);
                        // dQ[rows] = dS·K[:c1];  dK[:c1] += dSᵀ·Q[rows]
                        if (dq is Operand dqo)
                            Product(rb, e, c1, pds, c1, 1, pk + k.Offsets[h], k.RowStride, k.ColStride,
                                pdq + dqo.Offsets[h] + (long)r0 * dqo.RowStride, dqo.RowStride, false);
                        if (dk is Operand dko)
                            Product(c1, e, rb, pds, 1, c1, pq + q.Offsets[h] + (long)r0 * q.RowStride, q.RowStride, q.ColStride,
                                pdk + dko.Offsets[h], dko.RowStride, true);
                    }
                }
        });
    }

    /// <summary>ds[j] = p[j]·(ds[j] − d)·scale over one row, in one pass (the same three roundings as three passes).</summary>
    private static void SoftmaxGrad(float* ds, float* p, int n, float d, float scale)
    {
        int j = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var vd = Vector512.Create(d);
            var vs = Vector512.Create(scale);
            for (; j + 16 <= n; j += 16)
                ((Vector512.Load(ds + j) - vd) * Vector512.Load(p + j) * vs).Store(ds + j);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var vd = Vector256.Create(d);
            var vs = Vector256.Create(scale);
            for (; j + 8 <= n; j += 8)
                ((Vector256.Load(ds + j) - vd) * Vector256.Load(p + j) * vs).Store(ds + j);
        }
        for (; j < n; j++) ds[j] = (ds[j] - d) * p[j] * scale;
    }

    /// <summary>C (+)= A·B on one thread: the unpacked <see cref="SmallGemm"/> where it applies (head widths and
    /// column counts that are multiples of 32, B with unit column stride), else the packed kernel.</summary>
    private static void Product(int m, int n, int k, float* a, int rsa, int csa, float* b, int rsb, int csb, float* c, int ldc, bool accumulate)
    {
        if (SmallGemm.Applies(n, csb)) SmallGemm.Run(m, n, k, a, rsa, csa, b, rsb, c, ldc, accumulate);
        else Gemm.Sgemm(m, n, k, a, rsa, csa, b, rsb, csb, c, ldc, accumulate, parallel: false);
    }

    /// <summary>Whether to transpose K (and V) once per head for the unpacked products: it costs as much as one pass
    /// over the keys, so it pays only with at least a block of query rows (training), not for a few (generation with a
    /// KV cache, one row per step).</summary>
    private static bool TransposeKeys(int l) => SmallGemm.Applies(1, 1) && l >= RowBlock;

    /// <summary>dst[p·s + j] = X[j, p] for j &lt; s, p &lt; e: one head's K (or V) transposed, so that products with Kᵀ
    /// read rows with unit stride.</summary>
    private static void Transpose(int h, int s, int e, float* px, Operand x, float* dst)
    {
        float* src = px + x.Offsets[h];
        int j0 = 0, e8 = 0;
        if (System.Runtime.Intrinsics.X86.Avx.IsSupported && x.ColStride == 1)
        {
            // 8×8 blocks in registers; the rows and columns past the last multiple of 8 go through the loop below.
            e8 = e & ~7;
            for (; j0 + 8 <= s; j0 += 8)
                for (int p = 0; p < e8; p += 8)
                    Gemm.Transpose8x8(src + (long)j0 * x.RowStride + p, x.RowStride, dst + (long)p * s + j0, s);
            for (int j = 0; j < j0; j++)
                for (int p = e8; p < e; p++) dst[(long)p * s + j] = src[(long)j * x.RowStride + p];
        }
        for (int j = j0; j < s; j++)
        {
            float* row = src + (long)j * x.RowStride;
            for (int p = 0; p < e; p++) dst[(long)p * s + j] = row[(long)p * x.ColStride];
        }
    }

    /// <summary>scratch[rb × c1] = Q[r0:r0+rb]·K[:c1]ᵀ·scale (+ mask[r0:, :c1]). <paramref name="kt"/>: K transposed
    /// (e × s, see <see cref="Transpose"/>) or null to read K through its strides. The additive mask is an operand with
    /// unit column stride: a row stride of 0 repeats one row for every query (a key-padding mask), offsets per z let
    /// batch elements and heads have their own.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Scores(int h, int r0, int rb, int c1, int s, int e, float* pq, Operand q, float* pk, Operand k,
        Operand? mask, float scale, float* scratch, float* kt)
    {
        if (kt != null)
            Product(rb, c1, e, pq + q.Offsets[h] + (long)r0 * q.RowStride, q.RowStride, q.ColStride, kt, s, 1, scratch, c1, false);
        else if (rb <= 4 && q.ColStride == 1 && k.ColStride == 1)
            // A few query rows (generation with a KV cache): one dot product per key row, read in place, nothing packed.
            for (int i = 0; i < rb; i++)
                Gemm.RowDots(c1, e, pk + k.Offsets[h], k.RowStride, pq + q.Offsets[h] + (long)(r0 + i) * q.RowStride, scratch + (long)i * c1, false);
        else
            Gemm.Sgemm(rb, c1, e, pq + q.Offsets[h] + (long)r0 * q.RowStride, q.RowStride, q.ColStride,
                pk + k.Offsets[h], k.ColStride, k.RowStride, scratch, c1, false, parallel: false);
        var block = new Span<float>(scratch, rb * c1);
        TensorPrimitives.Multiply(block, scale, block);
        if (mask is Operand m)
            for (int i = 0; i < rb; i++)
                TensorPrimitives.Add(new Span<float>(scratch + (long)i * c1, c1), m.Data.AsSpan(m.Offsets[h] + (r0 + i) * m.RowStride, c1),
                    new Span<float>(scratch + (long)i * c1, c1));
    }
}
