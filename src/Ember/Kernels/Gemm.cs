using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Ember.Kernels;

/// <summary>Which micro-kernel width the float32 GEMM uses.</summary>
internal enum GemmPath { Scalar, Vector128, Avx2, Avx512 }

/// <summary>
/// float32 matrix product C = A·B (+ C), after the BLIS design (Van Zee &amp; van de Geijn, "BLIS: A Framework for
/// Rapidly Instantiating BLAS Functionality", TOMS 2015): B is packed in KC×NC blocks into NR-column micro-panels,
/// A in MC×KC blocks into MR-row micro-panels, and a register-blocked MR×NR micro-kernel streams both.
/// A and B are addressed through (row stride, column stride), so transposed operands are packed directly
/// without a copy. Edge tiles run the same micro-kernel on zero-padded panels into a scratch tile.
/// Threads split the larger of m and n; each runs the blocked loops on its share with its own pack buffers, except that a
/// tall product with a small B (activations times a weight) packs B once for all threads and hands out many row chunks.
/// </summary>
internal static unsafe partial class Gemm
{
    internal static int KC = 256;

    /// <summary>The path chosen from the hardware; tests may force a narrower one.</summary>
    internal static GemmPath Path => EmberSettings.Current.GemmPath;

    internal static GemmPath DetectPath()
    {
        if (Vector512.IsHardwareAccelerated && Avx512F.IsSupported) return GemmPath.Avx512;
        if (Vector256.IsHardwareAccelerated && Fma.IsSupported) return GemmPath.Avx2;
        if (Vector128.IsHardwareAccelerated) return GemmPath.Vector128;   // ARM64 AdvSimd, x86 SSE
        return GemmPath.Scalar;
    }

    private static (int MR, int NR, int MC, int NC) Blocking(GemmPath path) => path switch
    {
        GemmPath.Avx512 => (Micro512MR, Micro512NR, Micro512MR * MCPanels, 2048),
        GemmPath.Avx2 => (Micro256MR, Micro256NR, Micro256MR * Avx2MCPanels, Avx2NC),
        GemmPath.Vector128 => (Micro128MR, Micro128NR, Micro128MR * 24, 2048),
        _ => (ScalarMR, ScalarNR, ScalarMR * 32, 1024),
    };

    private const int ScalarMR = 4, ScalarNR = 4;
    internal static int MCPanels = 32;
    /// <summary>AVX2 blocking: MC = 6·24 = 144 rows (a 144 KB packed A block at KC = 256, in Zen 3's 512 KB L2), NC = 2048.
    /// Measured on an EPYC (Zen 3) over MC ∈ {72, 144, 288}, KC ∈ {128…512}, NC ∈ {256, 512, 2048} (<c>gemm-grid</c>,
    /// interleaved rounds): the best setting was within 3% of this one at n = 256…1024, inside the machine's noise.</summary>
    internal static int Avx2MCPanels = 24, Avx2NC = 2048;

    /// <summary>Flops (2·m·n·k) each thread must get before a product is split over more threads. 2·10⁶: on the EPYC
    /// (Zen 3, 2 threads, <c>gemm-grid 2 --parallel-flops</c>, 11 interleaved rounds) n = 128 (4.2 MFLOP) ran at 117 GFLOP/s
    /// on two threads against 75 on one (the old 4·10⁶ kept it on one); n = 96 gained nothing from a second thread.</summary>
    internal static long ParallelFlops = 2_000_000;

    /// <summary>Packing one element, in multiply-adds (for choosing the thread split).</summary>
    private const long PackCost = 8;

    [ThreadStatic] private static float* t_packA;
    [ThreadStatic] private static float* t_packB;
    [ThreadStatic] private static int t_packASize, t_packBSize;

    private static float* Buffer(ref float* buf, ref int size, int need)
    {
        if (size < need)
        {
            // Per-thread buffers live as long as the thread: no allocation on the hot path after warm-up.
            if (buf != null) NativeMemory.AlignedFree(buf);
            buf = (float*)NativeMemory.AlignedAlloc((nuint)need * sizeof(float), 64);
            size = need;
        }
        return buf;
    }

    /// <summary>C[m×n] = A[m×k]·B[k×n] (+ C when <paramref name="accumulate"/>). Element (i, p) of A is at
    /// a[i·rsa + p·csa], (p, j) of B at b[p·rsb + j·csb]; C is row-major with leading dimension ldc.</summary>
    /// <remarks>With <paramref name="bias"/> (n floats, not with <paramref name="accumulate"/>), C = A·B + 1·biasᵀ: the
    /// bias row is added to each tile while it is still in L1, instead of a separate pass over C.
    /// With <paramref name="rowSums"/> (m floats), also writes rowSums[i] = Σ_p A[i, p], summed in order p = 0, 1, … while
    /// A is packed (a weight gradient gᵀ·x gets its bias gradient Σ_rows g without another read of g); only when
    /// <see cref="CanSumRows"/> holds. A product split along k (<see cref="KSplitApplies"/>) sums each depth chunk so,
    /// then adds the chunks' sums in order.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Sgemm(int m, int n, int k, float* a, int rsa, int csa, float* b, int rsb, int csb, float* c, int ldc, bool accumulate,
        bool parallel = true, float* bias = null, float* rowSums = null)
    {
        if (rowSums != null && !CanSumRows(m, n, k, rsa))
            throw new ArgumentException($"Sgemm: row sums need an A with unit row stride and m a multiple of 8 on the AVX path (m={m}, n={n}, k={k}, rsa={rsa}).");
        if (m <= 0 || n <= 0) return;
        if (bias != null && accumulate) throw new ArgumentException("Sgemm: a bias row is only added to a product that overwrites C.");
        if (k == 0)
        {
            for (int i = 0; i < m; i++)
            {
                var row = new Span<float>(c + (long)i * ldc, n);
                if (bias != null) new ReadOnlySpan<float>(bias, n).CopyTo(row);
                else if (!accumulate) row.Clear();
            }
            return;
        }
        var path = Path;
        var (mr, nr, _, _) = Blocking(path);
        long flops = 2L * m * n * k;
        int threads = parallel ? (int)Math.Min(Parallelism.NumThreads, Math.Max(1, flops / ParallelFlops)) : 1;
        if (KSplit && KSplitApplies(m, n, k))
        {
            DepthSplit(path, threads, m, n, k, a, rsa, csa, b, rsb, csb, c, ldc, accumulate, bias, rowSums);
            return;
        }
        if (threads <= 1)
        {
            Blocked(path, m, n, k, a, rsa, csa, b, rsb, csb, c, ldc, accumulate, bias, rowSums);
            return;
        }
        nint pa = (nint)a, pb = (nint)b, pc = (nint)c, pbias = (nint)bias, psums = (nint)rowSums;
        // Split columns (in NR panels) or rows (in MR panels), whichever leaves the busiest thread the least work:
        // its share of C's panels times the depth, plus packing the operand every thread packs in full (A for a
        // column split, B for a row split). Splitting the larger dimension is usually it; a small square product
        // with a long depth (a weight gradient, 128×128×4096) is where whole panels decide: 128 columns are three
        // 48-wide panels (two for one thread, one for the other), 128 rows sixteen 8-row panels.
        long colPanels = (n + nr - 1) / nr, rowPanels = (m + mr - 1) / mr;
        long colCost = (colPanels + threads - 1) / threads * nr * (long)m * k + PackCost * (long)m * k;
        long rowCost = (rowPanels + threads - 1) / threads * mr * (long)n * k + PackCost * (long)n * k;
        if (colCost < rowCost || (colCost == rowCost && n >= m))
        {
            // Split columns in multiples of NR.
            int panels = (n + nr - 1) / nr;
            threads = Math.Min(threads, panels);
            int per = (panels + threads - 1) / threads * nr;
            Parallelism.ForEach(threads, t =>
            {
                int j0 = t * per, nn = Math.Min(per, n - j0);
                // Every thread packs all of A: the first one sums its rows.
                if (nn > 0)
                    Blocked(path, m, nn, k, (float*)pa, rsa, csa, (float*)pb + (long)j0 * csb, rsb, csb, (float*)pc + j0, ldc, accumulate,
                        pbias == 0 ? null : (float*)pbias + j0, t == 0 ? (float*)psums : null);
            });
        }
        else
        {
            int panels = (m + mr - 1) / mr;
            threads = Math.Min(threads, panels);
            if (SharedB && SharedBApplies(path, m, n, k, threads))
            {
                RowsSharedB(path, threads, m, n, k, a, rsa, csa, b, rsb, csb, c, ldc, accumulate, bias, rowSums);
                return;
            }
            int per = (panels + threads - 1) / threads * mr;
            Parallelism.ForEach(threads, t =>
            {
                int i0 = t * per, mm = Math.Min(per, m - i0);
                if (mm > 0)
                    Blocked(path, mm, n, k, (float*)pa + (long)i0 * rsa, rsa, csa, (float*)pb, rsb, csb, (float*)pc + (long)i0 * ldc, ldc, accumulate,
                        (float*)pbias, psums == 0 ? null : (float*)psums + i0);
            });
        }
    }

    /// <summary>Off: weight-gradient shapes take the row or column split (for measurements; it changes the rounding, so
    /// never switch it while other work runs).</summary>
    internal static bool KSplit => EmberSettings.Current.GemmKSplit;

    /// <summary>Depth chunks of a split product: four, each a whole number of KC blocks. Measured over the GPT step
    /// (A/B, seven runs): +1.5% median with four, ±0 with eight (more partial planes to add).</summary>
    private const int KSplitChunks = 4;

    /// <summary>The depth of each chunk (the last may be shorter) when <see cref="KSplitApplies"/>.</summary>
    internal static int KSplitDepth(int k) => (k / KSplitChunks + KC - 1) / KC * KC;

    /// <summary>A short product over a long depth (a weight gradient gᵀ·x: k ≥ 2048, k ≥ 8·max(m, n), m·n ≤ 2¹⁸) is split along k.
    /// Decided by the shape alone, never by the thread count, so one and two threads give the same bits.</summary>
    internal static bool KSplitApplies(int m, int n, int k) =>
        k >= 2048 && (long)m * n <= 1 << 18 && k >= 8L * Math.Max(m, n);

    [ThreadStatic] private static float* t_partials;
    [ThreadStatic] private static int t_partialsSize;

    /// <summary>C (+)= A·B as a sum over depth chunks: chunk 0 goes straight into C (with the bias, or onto C when
    /// accumulating), chunk q ≥ 1 into its own partial product, and the partials are added to C in order q = 1, 2, …
    /// Each chunk packs only its slice of A and of B (a row or column split packs one operand in full on every
    /// thread), and the chunks are handed out one at a time.</summary>
    private static void DepthSplit(GemmPath path, int threads, int m, int n, int k, float* a, int rsa, int csa, float* b, int rsb, int csb,
        float* c, int ldc, bool accumulate, float* bias, float* rowSums)
    {
        int depth = KSplitDepth(k);
        int chunks = (k + depth - 1) / depth;
        long plane = (long)m * n;
        int need = (int)((chunks - 1) * (plane + m));
        float* parts = Buffer(ref t_partials, ref t_partialsSize, need);
        float* sums = parts + (chunks - 1) * plane;
        nint pa = (nint)a, pb = (nint)b, pc = (nint)c, pbias = (nint)bias, psums = (nint)rowSums, pp = (nint)parts, ps = (nint)sums;
        Action<int> chunk = q =>
        {
            int p0 = q * depth, kk = Math.Min(depth, k - p0);
            float* aq = (float*)pa + (long)p0 * csa, bq = (float*)pb + (long)p0 * rsb;
            if (q == 0)
                Blocked(path, m, n, kk, aq, rsa, csa, bq, rsb, csb, (float*)pc, ldc, accumulate, (float*)pbias, (float*)psums);
            else
                Blocked(path, m, n, kk, aq, rsa, csa, bq, rsb, csb, (float*)pp + (q - 1) * plane, n, false, null,
                    psums == 0 ? null : (float*)ps + (long)(q - 1) * m);
        };
        Action<int, int> addPartials = (i0, i1) =>
        {
            for (int i = i0; i < i1; i++)
            {
                float* row = (float*)pc + (long)i * ldc;
                for (int q = 1; q < chunks; q++) CopyRow((float*)pp + (q - 1) * plane + (long)i * n, row, n, true);
                if (psums != 0)
                    for (int q = 1; q < chunks; q++) ((float*)psums)[i] += ((float*)ps)[(long)(q - 1) * m + i];
            }
        };
        if (threads > 1)
        {
            WorkerPool.Run(chunks, threads, chunk);
            Parallelism.For(m, Math.Max(1, 16384 / Math.Max(1, n * (chunks - 1))), addPartials);
        }
        else
        {
            for (int q = 0; q < chunks; q++) chunk(q);
            addPartials(0, m);
        }
    }

    /// <summary>Off: every row-split product packs B on each thread (tests and measurements compare).</summary>
    internal static bool SharedB => EmberSettings.Current.GemmSharedB;

    /// <summary>Row chunks per thread on the shared-B path: with 32 chunks of a 4096-row product, the thread that finishes
    /// first waits on average half a chunk for the other (with one half each it waited 5–10% of the product).</summary>
    private const int SharedBChunksPerThread = 16;

    /// <summary>Largest packed B (floats) shared by the row chunks: 1 MB stays in each core's L2 while the chunks stream
    /// past it. A weight gradient's B (k = 4096 rows, up to 8 MB packed) would be read from L3 once per 8-row chunk:
    /// measured 10% slower over a GPT training step than each thread packing its own blocks.</summary>
    private const long SharedBMaxFloats = 1 << 18;

    [ThreadStatic] private static float* t_sharedB;
    [ThreadStatic] private static int t_sharedBSize;

    internal static bool SharedBApplies(GemmPath path, int m, int n, int k, int threads)
    {
        var (mr, nr, _, ncMax) = Blocking(path);
        long nPad = (n + nr - 1) / nr * (long)nr;
        return n <= ncMax && k * nPad <= SharedBMaxFloats && (m + mr - 1) / mr >= 4 * threads;
    }

    /// <summary>Row split with B packed once for all threads: B (k × n, one column block) is packed cooperatively into
    /// the caller's buffer, then row chunks of C are handed out one at a time (many per thread), each packing only its
    /// own rows of A. Every element is computed by the same micro-kernel sequence as in <see cref="Blocked"/>.</summary>
    private static void RowsSharedB(GemmPath path, int threads, int m, int n, int k, float* a, int rsa, int csa, float* b, int rsb, int csb,
        float* c, int ldc, bool accumulate, float* bias, float* rowSums)
    {
        var (mr, nr, _, _) = Blocking(path);
        int nPanels = (n + nr - 1) / nr, nPad = nPanels * nr;
        int kBlocks = (k + KC - 1) / KC;
        float* bp = Buffer(ref t_sharedB, ref t_sharedBSize, k * nPad);
        nint pa = (nint)a, pb = (nint)b, pc = (nint)c, pbias = (nint)bias, psums = (nint)rowSums, pbp = (nint)bp;
        WorkerPool.Run(kBlocks * nPanels, threads, t =>
        {
            int kb = t / nPanels, j0 = t % nPanels * nr;
            int p0 = kb * KC, kc = Math.Min(KC, k - p0);
            PackB(kc, Math.Min(nr, n - j0), nr, (float*)pb + (long)p0 * rsb + (long)j0 * csb, rsb, csb, (float*)pbp + (long)p0 * nPad + (long)j0 * kc);
        });
        int panels = (m + mr - 1) / mr;
        int per = Math.Max(1, panels / (threads * SharedBChunksPerThread)) * mr;
        int tasks = (m + per - 1) / per;
        WorkerPool.Run(tasks, threads, t =>
        {
            int i0 = t * per, mm = Math.Min(per, m - i0);
            Blocked(path, mm, n, k, (float*)pa + (long)i0 * rsa, rsa, csa, null, 0, 0, (float*)pc + (long)i0 * ldc, ldc, accumulate,
                (float*)pbias, psums == 0 ? null : (float*)psums + i0, (float*)pbp, nPad);
        });
    }

    /// <summary>Off: 32- and 16-wide last panels run the full tile into scratch (tests and measurements compare).</summary>
    internal static bool NarrowEdges => EmberSettings.Current.GemmNarrowEdges;

    /// <summary>Whether <see cref="Sgemm(int, int, int, float*, int, int, float*, int, int, float*, int, bool, bool, float*, float*)"/>
    /// can sum A's rows while packing: the packed path with 8-row panels (AVX2/AVX-512), A with unit row stride (each
    /// column contiguous, as gᵀ of a row-major g), m a multiple of 8, k positive.</summary>
    internal static bool CanSumRows(int m, int n, int k, int rsa)
    {
        var path = Path;
        return rsa == 1 && m > 0 && n > 0 && k > 0 && m % 8 == 0 && Vector256.IsHardwareAccelerated
            && (path == GemmPath.Avx512 ? Micro512MR : path == GemmPath.Avx2 ? Micro256MR : 0) == 8;
    }

    /// <summary>The five BLIS loops on one thread.</summary>
    /// <remarks>With <paramref name="bPacked"/>, B is already packed (n within one column block): the block of depth
    /// offset pc starts at bPacked + pc·<paramref name="nPad"/>, laid out as <see cref="PackB"/> writes it.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Blocked(GemmPath path, int m, int n, int k, float* a, int rsa, int csa, float* b, int rsb, int csb, float* c, int ldc, bool accumulate,
        float* bias = null, float* rowSums = null, float* bPacked = null, int nPad = 0)
    {
        var (mr, nr, mcMax, ncMax) = Blocking(path);
        // Slack past the block: Transpose6x8 stores whole vectors, 2 floats beyond the 48 it packs.
        float* ap = Buffer(ref t_packA, ref t_packASize, mcMax * KC + 16);
        float* bp = bPacked != null ? null : Buffer(ref t_packB, ref t_packBSize, KC * (ncMax + nr));
        float* tile = stackalloc float[Micro512MR * Micro512NR];
        for (int jc = 0; jc < n; jc += ncMax)
        {
            int nc = Math.Min(ncMax, n - jc);
            for (int pc = 0; pc < k; pc += KC)
            {
                int kc = Math.Min(KC, k - pc);
                bool acc = accumulate || pc > 0;
                if (bPacked != null) bp = bPacked + (long)pc * nPad;
                else PackB(kc, nc, nr, b + (long)pc * rsb + (long)jc * csb, rsb, csb, bp);
                for (int ic = 0; ic < m; ic += mcMax)
                {
                    int mc = Math.Min(mcMax, m - ic);
                    // Row sums ride along with the first pass over A (the first column block); later k slices add on.
                    PackA(mc, kc, mr, a + (long)ic * rsa + (long)pc * csa, rsa, csa, ap,
                        rowSums != null && jc == 0 ? rowSums + ic : null, pc == 0);
                    for (int jr = 0; jr < nc; jr += nr)
                    {
                        int nrr = Math.Min(nr, nc - jr);
                        float* bpanel = bp + (long)jr * kc;
                        for (int ir = 0; ir < mc; ir += mr)
                        {
                            int mrr = Math.Min(mr, mc - ir);
                            float* apanel = ap + (long)ir * kc;
                            float* cij = c + (long)(ic + ir) * ldc + jc + jr;
                            float* brow = bias != null && pc == 0 ? bias + jc + jr : null;
                            if (mrr == mr && nrr == nr)
                            {
                                Micro(path, kc, apanel, bpanel, cij, ldc, acc);
                                if (brow != null) for (int r = 0; r < mrr; r++) CopyRow(brow, cij + (long)r * ldc, nrr, true);
                            }
                            else if (mrr == mr && path == GemmPath.Avx512 && NarrowEdges && (nrr == 32 || nrr == 16))
                            {
                                // A 32- or 16-wide last panel: only its columns are computed, straight into C.
                                if (nrr == 32) Micro512x32(kc, apanel, bpanel, cij, ldc, acc);
                                else Micro512x16(kc, apanel, bpanel, cij, ldc, acc);
                                if (brow != null) for (int r = 0; r < mrr; r++) CopyRow(brow, cij + (long)r * ldc, nrr, true);
                            }
                            else
                            {
                                // Edge tile: full micro-kernel into scratch, then copy the valid part.
                                Micro(path, kc, apanel, bpanel, tile, nr, false);
                                if (brow != null) for (int r = 0; r < mrr; r++) CopyRow(brow, tile + r * nr, nrr, true);
                                for (int r = 0; r < mrr; r++) CopyRow(tile + r * nr, cij + (long)r * ldc, nrr, acc);
                            }
                        }
                    }
                }
            }
        }
    }

    /// <summary>to[0..n) = from[0..n) (or +=): whole vectors, then scalars.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void CopyRow(float* from, float* to, int n, bool accumulate)
    {
        int j = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; j + 16 <= n; j += 16)
                Vector512.Store(accumulate ? Vector512.Load(to + j) + Vector512.Load(from + j) : Vector512.Load(from + j), to + j);
        else if (Vector256.IsHardwareAccelerated)
            for (; j + 8 <= n; j += 8)
                Vector256.Store(accumulate ? Vector256.Load(to + j) + Vector256.Load(from + j) : Vector256.Load(from + j), to + j);
        else if (Vector128.IsHardwareAccelerated)
            for (; j + 4 <= n; j += 4)
                Vector128.Store(accumulate ? Vector128.Load(to + j) + Vector128.Load(from + j) : Vector128.Load(from + j), to + j);
        if (accumulate) for (; j < n; j++) to[j] += from[j];
        else for (; j < n; j++) to[j] = from[j];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Micro(GemmPath path, int kc, float* a, float* b, float* c, int ldc, bool acc)
    {
        switch (path)
        {
            case GemmPath.Avx512: Micro512(kc, a, b, c, ldc, acc); break;
            case GemmPath.Avx2: Micro256(kc, a, b, c, ldc, acc); break;
            case GemmPath.Vector128: Micro128(kc, a, b, c, ldc, acc); break;
            default: MicroScalar(kc, a, b, c, ldc, acc); break;
        }
    }

    /// <summary>Portable 4×4 micro-kernel: plain scalar code, used when no SIMD is available.</summary>
    private static void MicroScalar(int kc, float* a, float* b, float* c, int ldc, bool accumulate)
    {
        float c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
        float c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
        for (int p = 0; p < kc; p++, a += 4, b += 4)
        {
            float a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3], b0 = b[0], b1 = b[1], b2 = b[2], b3 = b[3];
            c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
            c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
            c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
            c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
        }
        float* r0 = c, r1 = c + ldc, r2 = c + 2 * ldc, r3 = c + 3 * ldc;
        if (!accumulate)
        {
            r0[0] = r0[1] = r0[2] = r0[3] = 0; r1[0] = r1[1] = r1[2] = r1[3] = 0;
            r2[0] = r2[1] = r2[2] = r2[3] = 0; r3[0] = r3[1] = r3[2] = r3[3] = 0;
        }
        r0[0] += c00; r0[1] += c01; r0[2] += c02; r0[3] += c03;
        r1[0] += c10; r1[1] += c11; r1[2] += c12; r1[3] += c13;
        r2[0] += c20; r2[1] += c21; r2[2] += c22; r2[3] += c23;
        r3[0] += c30; r3[1] += c31; r3[2] += c32; r3[3] += c33;
    }

    /// <summary>Packs an mc×kc block of A into MR-row micro-panels: panel q holds, for each p, the MR values
    /// A[q·MR + r, p] (r = 0..MR−1) contiguously; rows past mc are zero.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackA(int mc, int kc, int mr, float* a, int rsa, int csa, float* dst, float* rowSums = null, bool firstSlice = true)
    {
        for (int i0 = 0; i0 < mc; i0 += mr)
        {
            int rows = Math.Min(mr, mc - i0);
            float* d = dst + (long)i0 * kc;
            if (csa == 1 && rows == mr && mr == 8 && Avx.IsSupported)
            {
                // Row-major A, full 8-row panel: 8×16 (AVX-512) or 8×8 blocks transposed in registers.
                int p = 0;
                if (Avx512F.IsSupported && PackA512)
                    for (; p <= kc - 16; p += 16) Transpose8x16(a + (long)i0 * rsa + p, rsa, d + p * 8);
                for (; p <= kc - 8; p += 8) Transpose8x8(a + (long)i0 * rsa + p, rsa, d + p * 8, 8);
                for (; p < kc; p++)
                    for (int r = 0; r < 8; r++) d[p * 8 + r] = a[(long)(i0 + r) * rsa + p];
            }
            else if (csa == 1 && rows == mr && mr == 6 && Avx.IsSupported)
            {
                // Row-major A, full 6-row panel (the AVX2 kernel): 6×8 blocks transposed in registers.
                int p = 0;
                for (; p <= kc - 8; p += 8) Transpose6x8(a + (long)i0 * rsa + p, rsa, d + p * 6);
                for (; p < kc; p++)
                    for (int r = 0; r < 6; r++) d[p * 6 + r] = a[(long)(i0 + r) * rsa + p];
            }
            else if (rsa == 1 && rows == mr && mr == 6 && Vector128.IsHardwareAccelerated)
            {
                // Transposed A (each column contiguous over i): a panel row is 6 contiguous floats, one 4-float vector
                // and one 8-byte pair (a wider load would read past the last column).
                for (int p = 0; p < kc; p++)
                {
                    float* src = a + (long)p * csa + i0, to = d + p * 6;
                    Vector128.Store(Vector128.Load(src), to);
                    *(long*)(to + 4) = *(long*)(src + 4);
                }
            }
            else if (csa == 1)
            {
                // Row-major A: read each row contiguously, write with stride MR.
                for (int r = 0; r < rows; r++)
                {
                    float* src = a + (long)(i0 + r) * rsa;
                    for (int p = 0; p < kc; p++) d[p * mr + r] = src[p];
                }
            }
            else if (rsa == 1 && rows == mr && mr == 8 && Vector256.IsHardwareAccelerated)
            {
                // Transposed A (each column contiguous over i): a panel row is one 8-float vector.
                if (rowSums != null)
                {
                    var sum = firstSlice ? Vector256<float>.Zero : Vector256.Load(rowSums + i0);
                    for (int p = 0; p < kc; p++)
                    {
                        var v = Vector256.Load(a + (long)p * csa + i0);
                        sum += v;
                        Vector256.Store(v, d + p * 8);
                    }
                    Vector256.Store(sum, rowSums + i0);
                }
                else
                    for (int p = 0; p < kc; p++) Vector256.Store(Vector256.Load(a + (long)p * csa + i0), d + p * 8);
            }
            else
            {
                for (int p = 0; p < kc; p++)
                {
                    float* src = a + (long)p * csa + (long)i0 * rsa;
                    for (int r = 0; r < rows; r++) d[p * mr + r] = src[(long)r * rsa];
                }
            }
            if (rows < mr)
                for (int p = 0; p < kc; p++)
                    for (int r = rows; r < mr; r++) d[p * mr + r] = 0;
        }
    }

    /// <summary>Packs a kc×nc block of B into NR-column micro-panels: panel q holds, for each p, the NR values
    /// B[p, q·NR + j] contiguously; columns past nc are zero.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackB(int kc, int nc, int nr, float* b, int rsb, int csb, float* dst)
    {
        for (int j0 = 0; j0 < nc; j0 += nr)
        {
            int cols = Math.Min(nr, nc - j0);
            float* d = dst + (long)j0 * kc;
            if (csb == 1 && cols == nr && nr % 16 == 0 && Vector512.IsHardwareAccelerated)
            {
                // Rows of 48 floats: three register moves each; a Memmove call per row costs several times that.
                for (int p = 0; p < kc; p++)
                {
                    float* src = b + (long)p * rsb + j0, to = d + p * nr;
                    for (int j = 0; j < nr; j += 16) Vector512.Store(Vector512.Load(src + j), to + j);
                }
            }
            else if (csb == 1 && cols == nr && nr % 8 == 0 && Vector256.IsHardwareAccelerated)
            {
                for (int p = 0; p < kc; p++)
                {
                    float* src = b + (long)p * rsb + j0, to = d + p * nr;
                    for (int j = 0; j < nr; j += 8) Vector256.Store(Vector256.Load(src + j), to + j);
                }
            }
            else if (csb == 1 && cols == nr)
            {
                for (int p = 0; p < kc; p++)
                    new ReadOnlySpan<float>(b + (long)p * rsb + j0, nr).CopyTo(new Span<float>(d + p * nr, nr));
            }
            else if (csb == 1)
            {
                // Edge panel: whole vectors of the valid columns, scalars for the rest, zeros past them.
                int vec = Vector512.IsHardwareAccelerated ? cols & ~15 : Vector256.IsHardwareAccelerated ? cols & ~7
                    : Vector128.IsHardwareAccelerated ? cols & ~3 : 0;
                for (int p = 0; p < kc; p++)
                {
                    float* src = b + (long)p * rsb + j0, to = d + p * nr;
                    int j = 0;
                    if (Vector512.IsHardwareAccelerated) for (; j < vec; j += 16) Vector512.Store(Vector512.Load(src + j), to + j);
                    else if (Vector256.IsHardwareAccelerated) for (; j < vec; j += 8) Vector256.Store(Vector256.Load(src + j), to + j);
                    else if (Vector128.IsHardwareAccelerated) for (; j < vec; j += 4) Vector128.Store(Vector128.Load(src + j), to + j);
                    for (; j < cols; j++) to[j] = src[j];
                    for (; j < nr; j++) to[j] = 0;
                }
            }
            else if (rsb == 1 && cols == nr && nr % 8 == 0 && Avx.IsSupported)
            {
                // Transposed B (each column contiguous over p), full panel: 8×8 blocks transposed in registers.
                int p = 0;
                for (; p <= kc - 8; p += 8)
                    for (int jb = 0; jb < nr; jb += 8)
                        Transpose8x8(b + (long)(j0 + jb) * csb + p, csb, d + p * nr + jb, nr);
                for (; p < kc; p++)
                    for (int j = 0; j < nr; j++) d[p * nr + j] = b[(long)(j0 + j) * csb + p];
            }
            else if (rsb == 1 && cols == nr && nr % 4 == 0 && !Avx.IsSupported && Vector128.IsHardwareAccelerated)
            {
                // The same with 4×4 blocks at 128 bits (ARM64, SSE): the Linear layer's Wᵀ is read this way.
                int p = 0;
                for (; p <= kc - 4; p += 4)
                    for (int jb = 0; jb < nr; jb += 4)
                        Transpose4x4(b + (long)(j0 + jb) * csb + p, csb, d + p * nr + jb, nr);
                for (; p < kc; p++)
                    for (int j = 0; j < nr; j++) d[p * nr + j] = b[(long)(j0 + j) * csb + p];
            }
            else if (rsb == 1 && nr % 8 == 0 && cols >= 8 && Avx.IsSupported)
            {
                // Transposed B, edge panel: 8×8 register transposes for whole groups of 8 columns, scalars for the rest.
                int full = cols & ~7;
                int p = 0;
                for (; p <= kc - 8; p += 8)
                    for (int jb = 0; jb < full; jb += 8)
                        Transpose8x8(b + (long)(j0 + jb) * csb + p, csb, d + p * nr + jb, nr);
                for (; p < kc; p++)
                    for (int j = 0; j < full; j++) d[p * nr + j] = b[(long)(j0 + j) * csb + p];
                for (p = 0; p < kc; p++)
                {
                    for (int j = full; j < cols; j++) d[p * nr + j] = b[(long)(j0 + j) * csb + p];
                    for (int j = cols; j < nr; j++) d[p * nr + j] = 0;
                }
            }
            else
            {
                // Transposed B (column-major): a tiled transpose. For 8 values of p at a time, each of the NR columns
                // is read as a short contiguous run and scattered into an 8×NR tile that stays in L1.
                for (int p0 = 0; p0 < kc; p0 += 8)
                {
                    int pl = Math.Min(8, kc - p0);
                    for (int j = 0; j < nr; j++)
                    {
                        float* dj = d + p0 * nr + j;
                        if (j < cols)
                        {
                            float* src = b + (long)(j0 + j) * csb + (long)p0 * rsb;
                            for (int q = 0; q < pl; q++) dj[q * nr] = src[(long)q * rsb];
                        }
                        else for (int q = 0; q < pl; q++) dj[q * nr] = 0;
                    }
                }
            }
        }
    }

    /// <summary>A 4×4 block transposed with 128-bit vectors (ARM64 AdvSimd, x86 SSE): interleave pairs of rows
    /// (shuffle and blend), then pairs of 64-bit halves. Row r of the source is one Vector128; row q of the result
    /// holds element q of every source row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Transpose4x4(float* src, long srcStride, float* dst, long dstStride)
    {
        var r0 = Vector128.Load(src);
        var r1 = Vector128.Load(src + srcStride);
        var r2 = Vector128.Load(src + 2 * srcStride);
        var r3 = Vector128.Load(src + 3 * srcStride);
        var odd = Vector128.Create(0, -1, 0, -1).AsSingle();
        var lo = Vector128.Create(0, 0, 1, 1);
        var hi = Vector128.Create(2, 2, 3, 3);
        // t0 = a0 b0 a1 b1, t1 = a2 b2 a3 b3, t2 = c0 d0 c1 d1, t3 = c2 d2 c3 d3
        var t0 = Vector128.ConditionalSelect(odd, Vector128.Shuffle(r1, lo), Vector128.Shuffle(r0, lo)).AsUInt64();
        var t1 = Vector128.ConditionalSelect(odd, Vector128.Shuffle(r1, hi), Vector128.Shuffle(r0, hi)).AsUInt64();
        var t2 = Vector128.ConditionalSelect(odd, Vector128.Shuffle(r3, lo), Vector128.Shuffle(r2, lo)).AsUInt64();
        var t3 = Vector128.ConditionalSelect(odd, Vector128.Shuffle(r3, hi), Vector128.Shuffle(r2, hi)).AsUInt64();
        var upper = Vector128.Create(0UL, ulong.MaxValue);
        var first = Vector128.Create(0UL, 0UL);
        var second = Vector128.Create(1UL, 1UL);
        Vector128.ConditionalSelect(upper, Vector128.Shuffle(t2, first), t0).AsSingle().Store(dst);                                  // a0 b0 c0 d0
        Vector128.ConditionalSelect(upper, t2, Vector128.Shuffle(t0, second)).AsSingle().Store(dst + dstStride);                     // a1 b1 c1 d1
        Vector128.ConditionalSelect(upper, Vector128.Shuffle(t3, first), t1).AsSingle().Store(dst + 2 * dstStride);                  // a2 b2 c2 d2
        Vector128.ConditionalSelect(upper, t3, Vector128.Shuffle(t1, second)).AsSingle().Store(dst + 3 * dstStride);                 // a3 b3 c3 d3
    }

    /// <summary>dst[q·dstStride + r] = src[r·srcStride + q] for an 8×8 block (the classic AVX transpose: unpack pairs,
    /// shuffle quads, swap 128-bit halves). Row r of the source is one Vector256; row q of the result holds
    /// element q of every source row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Transpose8x8(float* src, long srcStride, float* dst, long dstStride)
    {
        var r0 = Avx.LoadVector256(src);
        var r1 = Avx.LoadVector256(src + srcStride);
        var r2 = Avx.LoadVector256(src + 2 * srcStride);
        var r3 = Avx.LoadVector256(src + 3 * srcStride);
        var r4 = Avx.LoadVector256(src + 4 * srcStride);
        var r5 = Avx.LoadVector256(src + 5 * srcStride);
        var r6 = Avx.LoadVector256(src + 6 * srcStride);
        var r7 = Avx.LoadVector256(src + 7 * srcStride);
        // t0 = [r0₀ r1₀ r0₁ r1₁ | r0₄ r1₄ r0₅ r1₅], t1 = [r0₂ r1₂ r0₃ r1₃ | r0₆ r1₆ r0₇ r1₇], likewise for the other pairs.
        var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7); var t7 = Avx.UnpackHigh(r6, r7);
        // u0 = [r0₀ r1₀ r2₀ r3₀ | r0₄ r1₄ r2₄ r3₄], u1: elements 1|5, u2: 2|6, u3: 3|7 (rows 0–3); u4–u7 for rows 4–7.
        var u0 = Avx.Shuffle(t0, t2, 0x44); var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44); var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44); var u5 = Avx.Shuffle(t4, t6, 0xEE);
        var u6 = Avx.Shuffle(t5, t7, 0x44); var u7 = Avx.Shuffle(t5, t7, 0xEE);
        // Join low halves (elements 0–3) and high halves (elements 4–7) of rows 0–3 and 4–7.
        Avx.Store(dst, Avx.Permute2x128(u0, u4, 0x20));
        Avx.Store(dst + dstStride, Avx.Permute2x128(u1, u5, 0x20));
        Avx.Store(dst + 2 * dstStride, Avx.Permute2x128(u2, u6, 0x20));
        Avx.Store(dst + 3 * dstStride, Avx.Permute2x128(u3, u7, 0x20));
        Avx.Store(dst + 4 * dstStride, Avx.Permute2x128(u0, u4, 0x31));
        Avx.Store(dst + 5 * dstStride, Avx.Permute2x128(u1, u5, 0x31));
        Avx.Store(dst + 6 * dstStride, Avx.Permute2x128(u2, u6, 0x31));
        Avx.Store(dst + 7 * dstStride, Avx.Permute2x128(u3, u7, 0x31));
    }

    /// <summary>Transposes a 6×8 block (6 rows of 8 floats, srcStride apart) into 8 groups of 6 written contiguously at dst
    /// (an MR = 6 panel's next 8 k steps): the 8×8 transpose with two zero rows, each output vector stored whole in
    /// ascending order so that its last two (zero) lanes are overwritten by the next; the eighth writes 2 floats past
    /// the 48, which the caller's buffer must have room for (the next k steps or panel overwrite them).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Transpose6x8(float* src, long srcStride, float* dst)
    {
        var r0 = Avx.LoadVector256(src);
        var r1 = Avx.LoadVector256(src + srcStride);
        var r2 = Avx.LoadVector256(src + 2 * srcStride);
        var r3 = Avx.LoadVector256(src + 3 * srcStride);
        var r4 = Avx.LoadVector256(src + 4 * srcStride);
        var r5 = Avx.LoadVector256(src + 5 * srcStride);
        var zero = Vector256<float>.Zero;
        var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5);
        var u0 = Avx.Shuffle(t0, t2, 0x44); var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44); var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, zero, 0x44); var u5 = Avx.Shuffle(t4, zero, 0xEE);
        var u6 = Avx.Shuffle(t5, zero, 0x44); var u7 = Avx.Shuffle(t5, zero, 0xEE);
        Avx.Store(dst, Avx.Permute2x128(u0, u4, 0x20));
        Avx.Store(dst + 6, Avx.Permute2x128(u1, u5, 0x20));
        Avx.Store(dst + 12, Avx.Permute2x128(u2, u6, 0x20));
        Avx.Store(dst + 18, Avx.Permute2x128(u3, u7, 0x20));
        Avx.Store(dst + 24, Avx.Permute2x128(u0, u4, 0x31));
        Avx.Store(dst + 30, Avx.Permute2x128(u1, u5, 0x31));
        Avx.Store(dst + 36, Avx.Permute2x128(u2, u6, 0x31));
        Avx.Store(dst + 42, Avx.Permute2x128(u3, u7, 0x31));
    }

    /// <summary>Off: A panels are packed with 8×8 AVX transposes only (measurements compare).</summary>
    internal static bool PackA512 => EmberSettings.Current.GemmPackA512;

    /// <summary>Transposes an 8×16 block (8 rows of 16 floats, srcStride apart) into 16 rows of 8 written contiguously at
    /// dst (an MR = 8 panel's next 16 k steps): pairs of rows interleaved, then 64-bit pairs, then 128-bit lanes
    /// gathered in two steps; 32 shuffles per 128 floats against 48 for two 8×8 AVX transposes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Transpose8x16(float* src, long srcStride, float* dst)
    {
        var r0 = Avx512F.LoadVector512(src);
        var r1 = Avx512F.LoadVector512(src + srcStride);
        var r2 = Avx512F.LoadVector512(src + 2 * srcStride);
        var r3 = Avx512F.LoadVector512(src + 3 * srcStride);
        var r4 = Avx512F.LoadVector512(src + 4 * srcStride);
        var r5 = Avx512F.LoadVector512(src + 5 * srcStride);
        var r6 = Avx512F.LoadVector512(src + 6 * srcStride);
        var r7 = Avx512F.LoadVector512(src + 7 * srcStride);
        // Within each 128-bit lane L (elements 4L..4L+3): t0 = [r0₀ r1₀ r0₁ r1₁], t1 = [r0₂ r1₂ r0₃ r1₃], …
        var t0 = Avx512F.UnpackLow(r0, r1); var t1 = Avx512F.UnpackHigh(r0, r1);
        var t2 = Avx512F.UnpackLow(r2, r3); var t3 = Avx512F.UnpackHigh(r2, r3);
        var t4 = Avx512F.UnpackLow(r4, r5); var t5 = Avx512F.UnpackHigh(r4, r5);
        var t6 = Avx512F.UnpackLow(r6, r7); var t7 = Avx512F.UnpackHigh(r6, r7);
        // u0 lane L = [r0 r1 r2 r3] at element 4L, u1 at 4L+1, u2 at 4L+2, u3 at 4L+3; u4–u7 the same for rows 4–7.
        var u0 = Avx512F.Shuffle(t0, t2, 0x44); var u1 = Avx512F.Shuffle(t0, t2, 0xEE);
        var u2 = Avx512F.Shuffle(t1, t3, 0x44); var u3 = Avx512F.Shuffle(t1, t3, 0xEE);
        var u4 = Avx512F.Shuffle(t4, t6, 0x44); var u5 = Avx512F.Shuffle(t4, t6, 0xEE);
        var u6 = Avx512F.Shuffle(t5, t7, 0x44); var u7 = Avx512F.Shuffle(t5, t7, 0xEE);
        // Pair each rows-0–3 vector with its rows-4–7 twin: sXYa = [uX.l0 uX.l1 uY.l0 uY.l1], sXYb the lanes 2 and 3.
        var s04a = Avx512F.Shuffle4x128(u0, u4, 0x44); var s04b = Avx512F.Shuffle4x128(u0, u4, 0xEE);
        var s15a = Avx512F.Shuffle4x128(u1, u5, 0x44); var s15b = Avx512F.Shuffle4x128(u1, u5, 0xEE);
        var s26a = Avx512F.Shuffle4x128(u2, u6, 0x44); var s26b = Avx512F.Shuffle4x128(u2, u6, 0xEE);
        var s37a = Avx512F.Shuffle4x128(u3, u7, 0x44); var s37b = Avx512F.Shuffle4x128(u3, u7, 0xEE);
        // Output vector q holds k steps 2q and 2q+1, each as [rows 0–3 | rows 4–7].
        Avx512F.Store(dst, Avx512F.Shuffle4x128(s04a, s15a, 0x88));
        Avx512F.Store(dst + 16, Avx512F.Shuffle4x128(s26a, s37a, 0x88));
        Avx512F.Store(dst + 32, Avx512F.Shuffle4x128(s04a, s15a, 0xDD));
        Avx512F.Store(dst + 48, Avx512F.Shuffle4x128(s26a, s37a, 0xDD));
        Avx512F.Store(dst + 64, Avx512F.Shuffle4x128(s04b, s15b, 0x88));
        Avx512F.Store(dst + 80, Avx512F.Shuffle4x128(s26b, s37b, 0x88));
        Avx512F.Store(dst + 96, Avx512F.Shuffle4x128(s04b, s15b, 0xDD));
        Avx512F.Store(dst + 112, Avx512F.Shuffle4x128(s26b, s37b, 0xDD));
    }

    /// <summary>y[j] (+)= Σ_p w[j·ldw + p]·x[p] for j in [0, m): a matrix-vector product over contiguous weight rows.
    /// Four rows at a time share each load of x, at the widest vector width the CPU has (AVX-512, AVX2, 128-bit:
    /// SSE/AdvSimd); each row sums in one vector accumulator, then its lanes, then the tail.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void RowDots(int m, int k, float* w, int ldw, float* x, float* y, bool accumulate)
    {
        int j = 0;
        if (Vector512.IsHardwareAccelerated && k >= 16) j = OneRow<W512, Vector512<float>>(m, k, w, ldw, x, y, accumulate);
        else if (Vector256.IsHardwareAccelerated && k >= 8) j = OneRow<W256, Vector256<float>>(m, k, w, ldw, x, y, accumulate);
        else if (Vector128.IsHardwareAccelerated && k >= 4) j = OneRow<W128, Vector128<float>>(m, k, w, ldw, x, y, accumulate);
        for (; j < m; j++)
        {
            float dot = System.Numerics.Tensors.TensorPrimitives.Dot(new ReadOnlySpan<float>(w + (long)j * ldw, k), new ReadOnlySpan<float>(x, k));
            y[j] = accumulate ? y[j] + dot : dot;
        }
    }

    /// <summary>The weight rows of <see cref="RowDots"/> four at a time; returns how many it did.</summary>
    private static int OneRow<TW, TV>(int m, int k, float* w, int ldw, float* x, float* y, bool accumulate)
        where TW : struct, ISimdFloat<TV> where TV : struct
    {
        int c = TW.Count, j = 0;
        for (; j + 4 <= m; j += 4)
        {
            float* w0 = w + (long)j * ldw, w1 = w0 + ldw, w2 = w1 + ldw, w3 = w2 + ldw;
            TV a0 = default, a1 = default, a2 = default, a3 = default;
            int p = 0;
            for (; p + c <= k; p += c)
            {
                TV xv = TW.Load(ref *x, (nuint)p);
                a0 = TW.MulAdd(TW.Load(ref *w0, (nuint)p), xv, a0);
                a1 = TW.MulAdd(TW.Load(ref *w1, (nuint)p), xv, a1);
                a2 = TW.MulAdd(TW.Load(ref *w2, (nuint)p), xv, a2);
                a3 = TW.MulAdd(TW.Load(ref *w3, (nuint)p), xv, a3);
            }
            float s0 = TW.Sum(a0), s1 = TW.Sum(a1), s2 = TW.Sum(a2), s3 = TW.Sum(a3);
            for (; p < k; p++) { float xp = x[p]; s0 += w0[p] * xp; s1 += w1[p] * xp; s2 += w2[p] * xp; s3 += w3[p] * xp; }
            Put(y + j, s0, accumulate); Put(y + j + 1, s1, accumulate); Put(y + j + 2, s2, accumulate); Put(y + j + 3, s3, accumulate);
        }
        return j;
    }

    /// <summary>Y[i, j] (+)= Σ_p W[j, p]·X[i, p] for i in [0, <paramref name="rows"/>), j in [0, m): a few input rows
    /// against contiguous weight rows, four input rows at a time sharing each load of a weight row (then two, then
    /// one), so the weight is read from memory once per four rows instead of once per row. Each (i, j) sums in one
    /// vector accumulator, then its lanes, then the tail, as <see cref="RowDots"/> does.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void RowDotsRows(int rows, int m, int k, float* w, int ldw, float* x, int ldx, float* y, int ldy, bool accumulate)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated && k >= 16) i = RowBlocks<W512, Vector512<float>>(rows, m, k, w, ldw, x, ldx, y, ldy, accumulate);
        else if (Vector256.IsHardwareAccelerated && k >= 8) i = RowBlocks<W256, Vector256<float>>(rows, m, k, w, ldw, x, ldx, y, ldy, accumulate);
        else if (Vector128.IsHardwareAccelerated && k >= 4) i = RowBlocks<W128, Vector128<float>>(rows, m, k, w, ldw, x, ldx, y, ldy, accumulate);
        for (; i < rows; i++) RowDots(m, k, w, ldw, x + (long)i * ldx, y + (long)i * ldy, accumulate);
    }

    /// <summary>The rows of <see cref="RowDotsRows"/> in blocks of four, then two; returns how many rows it did.</summary>
    private static int RowBlocks<TW, TV>(int rows, int m, int k, float* w, int ldw, float* x, int ldx, float* y, int ldy, bool accumulate)
        where TW : struct, ISimdFloat<TV> where TV : struct
    {
        int i = 0;
        for (; i + 4 <= rows; i += 4) FourRows<TW, TV>(m, k, w, ldw, x + (long)i * ldx, ldx, y + (long)i * ldy, ldy, accumulate);
        if (rows - i == 3 && m <= 4096)
        {
            // Three rows as four with the third repeated into a scratch row: one pass over the weight instead of two.
            float* scratch = stackalloc float[m];
            FourRows<TW, TV>(m, k, w, ldw, x + (long)i * ldx, ldx, y + (long)i * ldy, ldy, accumulate, scratch);
            return rows;
        }
        for (; i + 2 <= rows; i += 2) TwoRows<TW, TV>(m, k, w, ldw, x + (long)i * ldx, ldx, y + (long)i * ldy, ldy, accumulate);
        return i;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Put(float* y, float v, bool accumulate) => *y = accumulate ? *y + v : v;

    /// <summary>Four rows; with <paramref name="third"/> (m floats), three: the fourth input row is the third again and
    /// its sums go to that scratch row.</summary>
    private static void FourRows<TW, TV>(int m, int k, float* w, int ldw, float* x0, int ldx, float* y0, int ldy, bool accumulate, float* third = null)
        where TW : struct, ISimdFloat<TV> where TV : struct
    {
        int c = TW.Count;
        float* x1 = x0 + ldx, x2 = x1 + ldx, x3 = third == null ? x2 + ldx : x2;
        float* y1 = y0 + ldy, y2 = y1 + ldy, y3 = third == null ? y2 + ldy : third;
        int j = 0;
        for (; j + 2 <= m; j += 2)
        {
            float* w0 = w + (long)j * ldw, w1 = w0 + ldw;
            TV a00 = default, a01 = default, a10 = default, a11 = default, a20 = default, a21 = default, a30 = default, a31 = default;
            int p = 0;
            for (; p + c <= k; p += c)
            {
                TV v0 = TW.Load(ref *w0, (nuint)p), v1 = TW.Load(ref *w1, (nuint)p);
                TV u = TW.Load(ref *x0, (nuint)p);
                a00 = TW.MulAdd(v0, u, a00); a01 = TW.MulAdd(v1, u, a01);
                u = TW.Load(ref *x1, (nuint)p);
                a10 = TW.MulAdd(v0, u, a10); a11 = TW.MulAdd(v1, u, a11);
                u = TW.Load(ref *x2, (nuint)p);
                a20 = TW.MulAdd(v0, u, a20); a21 = TW.MulAdd(v1, u, a21);
                u = TW.Load(ref *x3, (nuint)p);
                a30 = TW.MulAdd(v0, u, a30); a31 = TW.MulAdd(v1, u, a31);
            }
            float s00 = TW.Sum(a00), s01 = TW.Sum(a01), s10 = TW.Sum(a10), s11 = TW.Sum(a11);
            float s20 = TW.Sum(a20), s21 = TW.Sum(a21), s30 = TW.Sum(a30), s31 = TW.Sum(a31);
            for (; p < k; p++)
            {
                float v0 = w0[p], v1 = w1[p];
                s00 += v0 * x0[p]; s01 += v1 * x0[p]; s10 += v0 * x1[p]; s11 += v1 * x1[p];
                s20 += v0 * x2[p]; s21 += v1 * x2[p]; s30 += v0 * x3[p]; s31 += v1 * x3[p];
            }
            Put(y0 + j, s00, accumulate); Put(y0 + j + 1, s01, accumulate); Put(y1 + j, s10, accumulate); Put(y1 + j + 1, s11, accumulate);
            Put(y2 + j, s20, accumulate); Put(y2 + j + 1, s21, accumulate); Put(y3 + j, s30, accumulate); Put(y3 + j + 1, s31, accumulate);
        }
        for (; j < m; j++)
        {
            float* w0 = w + (long)j * ldw;
            TV a0 = default, a1 = default, a2 = default, a3 = default;
            int p = 0;
            for (; p + c <= k; p += c)
            {
                TV v = TW.Load(ref *w0, (nuint)p);
                a0 = TW.MulAdd(v, TW.Load(ref *x0, (nuint)p), a0); a1 = TW.MulAdd(v, TW.Load(ref *x1, (nuint)p), a1);
                a2 = TW.MulAdd(v, TW.Load(ref *x2, (nuint)p), a2); a3 = TW.MulAdd(v, TW.Load(ref *x3, (nuint)p), a3);
            }
            float s0 = TW.Sum(a0), s1 = TW.Sum(a1), s2 = TW.Sum(a2), s3 = TW.Sum(a3);
            for (; p < k; p++) { float v = w0[p]; s0 += v * x0[p]; s1 += v * x1[p]; s2 += v * x2[p]; s3 += v * x3[p]; }
            Put(y0 + j, s0, accumulate); Put(y1 + j, s1, accumulate); Put(y2 + j, s2, accumulate); Put(y3 + j, s3, accumulate);
        }
    }

    private static void TwoRows<TW, TV>(int m, int k, float* w, int ldw, float* x0, int ldx, float* y0, int ldy, bool accumulate)
        where TW : struct, ISimdFloat<TV> where TV : struct
    {
        int c = TW.Count;
        float* x1 = x0 + ldx, y1 = y0 + ldy;
        int j = 0;
        for (; j + 4 <= m; j += 4)
        {
            float* w0 = w + (long)j * ldw, w1 = w0 + ldw, w2 = w1 + ldw, w3 = w2 + ldw;
            TV a00 = default, a01 = default, a02 = default, a03 = default, a10 = default, a11 = default, a12 = default, a13 = default;
            int p = 0;
            for (; p + c <= k; p += c)
            {
                TV u0 = TW.Load(ref *x0, (nuint)p), u1 = TW.Load(ref *x1, (nuint)p);
                TV v = TW.Load(ref *w0, (nuint)p);
                a00 = TW.MulAdd(v, u0, a00); a10 = TW.MulAdd(v, u1, a10);
                v = TW.Load(ref *w1, (nuint)p);
                a01 = TW.MulAdd(v, u0, a01); a11 = TW.MulAdd(v, u1, a11);
                v = TW.Load(ref *w2, (nuint)p);
                a02 = TW.MulAdd(v, u0, a02); a12 = TW.MulAdd(v, u1, a12);
                v = TW.Load(ref *w3, (nuint)p);
                a03 = TW.MulAdd(v, u0, a03); a13 = TW.MulAdd(v, u1, a13);
            }
            float s00 = TW.Sum(a00), s01 = TW.Sum(a01), s02 = TW.Sum(a02), s03 = TW.Sum(a03);
            float s10 = TW.Sum(a10), s11 = TW.Sum(a11), s12 = TW.Sum(a12), s13 = TW.Sum(a13);
            for (; p < k; p++)
            {
                float u0 = x0[p], u1 = x1[p];
                s00 += w0[p] * u0; s01 += w1[p] * u0; s02 += w2[p] * u0; s03 += w3[p] * u0;
                s10 += w0[p] * u1; s11 += w1[p] * u1; s12 += w2[p] * u1; s13 += w3[p] * u1;
            }
            Put(y0 + j, s00, accumulate); Put(y0 + j + 1, s01, accumulate); Put(y0 + j + 2, s02, accumulate); Put(y0 + j + 3, s03, accumulate);
            Put(y1 + j, s10, accumulate); Put(y1 + j + 1, s11, accumulate); Put(y1 + j + 2, s12, accumulate); Put(y1 + j + 3, s13, accumulate);
        }
        for (; j < m; j++)
        {
            float* w0 = w + (long)j * ldw;
            TV a0 = default, a1 = default;
            int p = 0;
            for (; p + c <= k; p += c)
            {
                TV v = TW.Load(ref *w0, (nuint)p);
                a0 = TW.MulAdd(v, TW.Load(ref *x0, (nuint)p), a0); a1 = TW.MulAdd(v, TW.Load(ref *x1, (nuint)p), a1);
            }
            float s0 = TW.Sum(a0), s1 = TW.Sum(a1);
            for (; p < k; p++) { float v = w0[p]; s0 += v * x0[p]; s1 += v * x1[p]; }
            Put(y0 + j, s0, accumulate); Put(y1 + j, s1, accumulate);
        }
    }

    /// <summary>float64 product for gradient checks and numerics: row-parallel axpy form (C[i,:] += A[i,p]·B[p,:]),
    /// vectorized along B's rows. B must have unit column stride.</summary>
    public static void Dgemm(int m, int n, int k, double* a, int rsa, int csa, double* b, int rsb, double* c, int ldc, bool accumulate)
    {
        if (m <= 0 || n <= 0) return;
        nint pa = (nint)a, pb = (nint)b, pc = (nint)c;
        Parallelism.For(m, Math.Max(1, 1_000_000 / Math.Max(1, n * Math.Max(k, 1))), (s, e) =>
        {
            for (int i = s; i < e; i++)
            {
                var crow = new Span<double>((double*)pc + (long)i * ldc, n);
                if (!accumulate) crow.Clear();
                for (int p = 0; p < k; p++)
                {
                    double aip = ((double*)pa)[(long)i * rsa + (long)p * csa];
                    System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(new ReadOnlySpan<double>((double*)pb + (long)p * rsb, n), aip, crow, crow);
                }
            }
        });
    }
}

/// <summary>The plain triple loop: the obviously correct oracle the fast kernels are tested against (float64 accumulation).</summary>
internal static unsafe class GemmReference
{
    public static void Sgemm(int m, int n, int k, float* a, int rsa, int csa, float* b, int rsb, int csb, float* c, int ldc, bool accumulate)
    {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = accumulate ? c[(long)i * ldc + j] : 0;
                for (int p = 0; p < k; p++) s += (double)a[(long)i * rsa + (long)p * csa] * b[(long)p * rsb + (long)j * csb];
                c[(long)i * ldc + j] = (float)s;
            }
    }
}

/// <summary>Public facts about the matrix-product kernel.</summary>
public static class GemmInfo
{
    /// <summary>The micro-kernel width in use: "Avx512" (8×48 tiles), "Avx2" (6×16), "Vector128" (6×8: ARM64, x86 without
    /// AVX2) or "Scalar" (4×4).</summary>
    public static string Path => Gemm.Path.ToString();
}
