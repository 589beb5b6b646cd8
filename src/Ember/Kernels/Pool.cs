using System.Numerics;
using System.Runtime.Intrinsics;
using Ember.Kernels;

namespace Ember.Kernels;

/// <summary>Pooling kernels over (N·C) planes, threaded across planes.</summary>
internal static unsafe class PoolKernels
{
    public static void MaxForward<T>(Tensor x, Tensor y, int[] idx, ConvGeometry g, int planes) where T : unmanaged, INumber<T>
    {
        fixed (T* px0 = x.Data<T>(), py0 = y.Data<T>())
        fixed (int* pi0 = idx)
        {
            nint px = (nint)(px0 + x._offset), py = (nint)py0, pi = (nint)pi0;
            Parallelism.For(planes, Math.Max(1, 16384 / Math.Max(1, g.OutPlane * g.KH * g.KW)), (s, e) =>
            {
                for (int p = s; p < e; p++)
                {
                    T* xp = (T*)px + (long)p * g.Plane;
                    T* yp = (T*)py + (long)p * g.OutPlane;
                    int* ip = (int*)pi + (long)p * g.OutPlane;
                    MaxGeneral(xp, yp, ip, g);
                }
            });
        }
    }

    private static void MaxGeneral<T>(T* xp, T* yp, int* ip, in ConvGeometry g) where T : unmanaged, INumber<T>
    {
        for (int oh = 0; oh < g.OH; oh++)
        {
            int h0 = oh * g.SH - g.PadTop;
            for (int ow = 0; ow < g.OW; ow++)
            {
                int w0 = ow * g.SW - g.PadLeft;
                T best = T.Zero; int bi = -1;
                for (int i = 0; i < g.KH; i++)
                {
                    int h = h0 + i * g.DH;
                    if ((uint)h >= (uint)g.H) continue;
                    for (int j = 0; j < g.KW; j++)
                    {
                        int w = w0 + j * g.DW;
                        if ((uint)w >= (uint)g.W) continue;
                        T v = xp[h * g.W + w];
                        if (bi < 0 || v > best || T.IsNaN(v))
                        {
                            best = v; bi = h * g.W + w;
                            if (T.IsNaN(v)) goto done;
                        }
                    }
                }
                done:
                yp[oh * g.OW + ow] = best;
                ip[oh * g.OW + ow] = bi;
            }
        }
    }

    public static void MaxBackward<T>(Tensor gy, Tensor gx, int[] idx, ConvGeometry g, int planes) where T : unmanaged, INumber<T>
    {
        fixed (T* pg0 = gy.Data<T>(), pgx0 = gx.Data<T>())
        fixed (int* pi0 = idx)
        {
            nint pg = (nint)(pg0 + gy._offset), pgx = (nint)pgx0, pi = (nint)pi0;
            Parallelism.For(planes, Math.Max(1, 32768 / Math.Max(1, g.OutPlane)), (s, e) =>
            {
                for (int p = s; p < e; p++)
                {
                    T* gp = (T*)pg + (long)p * g.OutPlane;
                    T* xp = (T*)pgx + (long)p * g.Plane;
                    int* ip = (int*)pi + (long)p * g.OutPlane;
                    for (int o = 0; o < g.OutPlane; o++) xp[ip[o]] += gp[o];
                }
            });
        }
    }

    // PyTorch's divisor: the window clipped to the padded input (countIncludePad) or to the input itself.
    private static int Divisor(in ConvGeometry g, int oh, int ow, bool countIncludePad, int? divisorOverride,
        out int hs, out int he, out int ws, out int we)
    {
        hs = oh * g.SH - g.PadTop; ws = ow * g.SW - g.PadLeft;
        he = Math.Min(hs + g.KH, g.H + g.PadTop); we = Math.Min(ws + g.KW, g.W + g.PadLeft);
        int poolSize = (he - hs) * (we - ws);
        hs = Math.Max(hs, 0); ws = Math.Max(ws, 0);
        he = Math.Min(he, g.H); we = Math.Min(we, g.W);
        if (divisorOverride is int d) return d;
        return countIncludePad ? poolSize : (he - hs) * (we - ws);
    }

    public static void AvgForward<T>(Tensor x, Tensor y, ConvGeometry g, int planes, bool countIncludePad, int? divisorOverride)
        where T : unmanaged, INumber<T>
    {
        fixed (T* px0 = x.Data<T>(), py0 = y.Data<T>())
        {
            nint px = (nint)(px0 + x._offset), py = (nint)py0;
            Parallelism.For(planes, Math.Max(1, 16384 / Math.Max(1, g.OutPlane * g.KH * g.KW)), (s, e) =>
            {
                for (int p = s; p < e; p++)
                {
                    T* xp = (T*)px + (long)p * g.Plane;
                    T* yp = (T*)py + (long)p * g.OutPlane;
                    for (int oh = 0; oh < g.OH; oh++)
                    for (int ow = 0; ow < g.OW; ow++)
                    {
                        int div = Divisor(g, oh, ow, countIncludePad, divisorOverride, out int hs, out int he, out int ws, out int we);
                        T sum = T.Zero;
                        for (int h = hs; h < he; h++)
                        for (int w = ws; w < we; w++) sum += xp[h * g.W + w];
                        yp[oh * g.OW + ow] = div == 0 ? T.Zero : sum / T.CreateTruncating(div);
                    }
                }
            });
        }
    }

    public static void AvgBackward<T>(Tensor gy, Tensor gx, ConvGeometry g, int planes, bool countIncludePad, int? divisorOverride)
        where T : unmanaged, INumber<T>
    {
        fixed (T* pg0 = gy.Data<T>(), pgx0 = gx.Data<T>())
        {
            nint pg = (nint)(pg0 + gy._offset), pgx = (nint)pgx0;
            Parallelism.For(planes, Math.Max(1, 16384 / Math.Max(1, g.OutPlane * g.KH * g.KW)), (s, e) =>
            {
                for (int p = s; p < e; p++)
                {
                    T* gp = (T*)pg + (long)p * g.OutPlane;
                    T* xp = (T*)pgx + (long)p * g.Plane;
                    for (int oh = 0; oh < g.OH; oh++)
                    for (int ow = 0; ow < g.OW; ow++)
                    {
                        int div = Divisor(g, oh, ow, countIncludePad, divisorOverride, out int hs, out int he, out int ws, out int we);
                        if (div == 0) continue;
                        T v = gp[oh * g.OW + ow] / T.CreateTruncating(div);
                        for (int h = hs; h < he; h++)
                        for (int w = ws; w < we; w++) xp[h * g.W + w] += v;
                    }
                }
            });
        }
    }
}
/// <summary>The 2×2 stride-2 max pool of float32 planes with even height and width, branch-free: a vertical max of
/// each row pair, then a max of adjacent pairs in the result (pairs never straddle rows when W is even), both
/// vectorized; each output keeps a code (row·2 + column) of its winner for the backward pass. Random data make the
/// comparisons unpredictable, so the branchy scalar loop pays a misprediction on most outputs.</summary>
internal static unsafe class MaxPool2x2
{
    public static bool Applies(in ConvGeometry g) =>
        g is { KH: 2, KW: 2, SH: 2, SW: 2, PadTop: 0, PadLeft: 0, DH: 1, DW: 1 } && g.H % 2 == 0 && g.W % 2 == 0 && g.OH == g.H / 2 && g.OW == g.W / 2;

    public static void Forward(Tensor x, Tensor y, int[] code, int planes, int h, int w)
    {
        int oh = h / 2, half = oh * w;
        int group = Math.Max(1, 4096 / half);
        fixed (float* px0 = x.Data<float>(), py0 = y.Data<float>())
        fixed (int* pc0 = code)
        {
            nint px = (nint)(px0 + x._offset), py = (nint)py0, pc = (nint)pc0;
            Parallelism.For(planes, Math.Max(1, 8192 / (h * w)), (s, e) =>
            {
                var mArr = new float[group * half];
                var rArr = new int[group * half];
                fixed (float* m = mArr)
                fixed (int* rs = rArr)
                {
                    for (int p0 = s; p0 < e; p0 += group)
                    {
                        int cnt = Math.Min(group, e - p0);
                        float* src = (float*)px + (long)p0 * h * w;
                        for (int r = 0; r < cnt * oh; r++) VerticalMax(src + 2L * r * w, src + (2L * r + 1) * w, m + r * w, rs + r * w, w);
                        long o = (long)p0 * (half / 2);
                        PairMax(m, rs, (float*)py + o, (int*)pc + o, cnt * half);
                    }
                }
            });
        }
    }

    /// <summary>One dense h×w plane (h, w even) into its (h/2)×(w/2) maxima and winner codes, exactly as
    /// <see cref="Forward"/> computes them; m and rowSel are scratch of h/2·w elements.</summary>
    public static void PoolPlane(float* src, int h, int w, float* m, int* rowSel, float* y, int* code)
    {
        int oh = h / 2;
        for (int r = 0; r < oh; r++) VerticalMax(src + 2L * r * w, src + (2L * r + 1) * w, m + r * w, rowSel + r * w, w);
        PairMax(m, rowSel, y, code, oh * w);
    }

    private static void VerticalMax(float* r0, float* r1, float* m, int* rowSel, int w)
    {
        if (Vector512.IsHardwareAccelerated && w >= 16) VerticalMaxLanes<W512, Vector512<float>>(r0, r1, m, rowSel, w);
        else if (Vector256.IsHardwareAccelerated && w >= 8) VerticalMaxLanes<W256, Vector256<float>>(r0, r1, m, rowSel, w);
        else if (Vector128.IsHardwareAccelerated && w >= 4) VerticalMaxLanes<W128, Vector128<float>>(r0, r1, m, rowSel, w);
        else
            for (int j = 0; j < w; j++)
            {
                float a = r0[j], b = r1[j];
                bool sel = b > a || float.IsNaN(b);
                m[j] = sel ? b : a;
                rowSel[j] = sel ? -1 : 0;
            }
    }

    /// <summary>The row maximum of two rows and which row won (−1: the second), a whole vector at a time at any width;
    /// the last vector overlaps the previous one instead of a scalar tail (recomputed lanes get equal values).</summary>
    private static void VerticalMaxLanes<TW, TV>(float* r0, float* r1, float* m, int* rowSel, int w)
        where TW : struct, ISimdFloat<TV> where TV : struct
    {
        int n = TW.Count;
        for (int j = 0; ; j += n)
        {
            if (j > w - n) j = w - n;
            var a = TW.Load(ref r0[j], 0);
            var b = TW.Load(ref r1[j], 0);
            var sel = TW.Or(TW.LessThan(a, b), TW.AndNot(TW.Create(BitConverter.Int32BitsToSingle(-1)), TW.NotNaN(b)));   // b wins when larger or NaN
            TW.Store(TW.Select(sel, b, a), ref m[j], 0);
            TW.Store(sel, ref *(float*)(rowSel + j), 0);
            if (j == w - n) return;
        }
    }

    private static void PairMax(float* m, int* rowSel, float* y, int* code, int len)
    {
        int t = 0;
        if (Vector256.IsHardwareAccelerated && len >= 16)
        {
            var low = Vector256.Create(0xFFFFFFFFUL);
            for (; ; t += 16)
            {
                if (t > len - 16) t = len - 16;   // len is even, so the overlapping last block stays pair-aligned
                // Each 64-bit lane holds one (even, odd) pair; narrowing keeps the low (even) 32 bits of each lane.
                var (b0, c0) = Pair(Vector256.Load(m + t).AsUInt64(), Vector256.Load(rowSel + t).AsUInt64(), low);
                var (b1, c1) = Pair(Vector256.Load(m + t + 8).AsUInt64(), Vector256.Load(rowSel + t + 8).AsUInt64(), low);
                Vector256.Narrow(b0, b1).AsSingle().Store(y + t / 2);
                Vector256.Narrow(c0, c1).AsInt32().Store(code + t / 2);
                if (t == len - 16) return;
            }
        }
        else if (Vector128.IsHardwareAccelerated && len >= 8)
        {
            // The same at 128 bits (ARM64, SSE): 8 inputs, 4 pairs per step.
            var low = Vector128.Create(0xFFFFFFFFUL);
            for (; ; t += 8)
            {
                if (t > len - 8) t = len - 8;
                var (b0, c0) = Pair(Vector128.Load(m + t).AsUInt64(), Vector128.Load(rowSel + t).AsUInt64(), low);
                var (b1, c1) = Pair(Vector128.Load(m + t + 4).AsUInt64(), Vector128.Load(rowSel + t + 4).AsUInt64(), low);
                Vector128.Narrow(b0, b1).AsSingle().Store(y + t / 2);
                Vector128.Narrow(c0, c1).AsInt32().Store(code + t / 2);
                if (t == len - 8) return;
            }
        }
        for (; t < len; t += 2)
        {
            float a = m[t], b = m[t + 1];
            bool sel = b > a || float.IsNaN(b) || (b == a && rowSel[t + 1] == 0 && rowSel[t] != 0);
            y[t / 2] = sel ? b : a;
            int row = sel ? rowSel[t + 1] : rowSel[t];
            code[t / 2] = (row & 2) | (sel ? 1 : 0);
        }
    }

    private static (Vector256<ulong> Best, Vector256<ulong> Code) Pair(Vector256<ulong> v, Vector256<ulong> rows, Vector256<ulong> low)
    {
        var even = (v & low).AsSingle();
        var odd = (v >> 32).AsSingle();
        var evenRow = (rows & low).AsInt32();
        var oddRow = (rows >> 32).AsInt32();
        // Ties go to the first position in row-major order, as PyTorch's scan: the odd column wins a tie only
        // when it sits in the top row and the even column's winner in the bottom one.
        var tie = Vector256.Equals(odd, even).AsInt32() & ~oddRow & evenRow;
        var sel = Vector256.GreaterThan(odd, even) | ~Vector256.Equals(odd, odd) | tie.AsSingle();
        var best = Vector256.ConditionalSelect(sel, odd, even);
        var row = Vector256.ConditionalSelect(sel.AsInt32(), oddRow, evenRow);
        var code = (row & Vector256.Create(2)) | (sel.AsInt32() & Vector256.Create(1));
        return (best.AsUInt64(), code.AsUInt64());
    }

    private static (Vector128<ulong> Best, Vector128<ulong> Code) Pair(Vector128<ulong> v, Vector128<ulong> rows, Vector128<ulong> low)
    {
        var even = (v & low).AsSingle();
        var odd = (v >> 32).AsSingle();
        var evenRow = (rows & low).AsInt32();
        var oddRow = (rows >> 32).AsInt32();
        var tie = Vector128.Equals(odd, even).AsInt32() & ~oddRow & evenRow;
        var sel = Vector128.GreaterThan(odd, even) | ~Vector128.Equals(odd, odd) | tie.AsSingle();
        var best = Vector128.ConditionalSelect(sel, odd, even);
        var row = Vector128.ConditionalSelect(sel.AsInt32(), oddRow, evenRow);
        var code = (row & Vector128.Create(2)) | (sel.AsInt32() & Vector128.Create(1));
        return (best.AsUInt64(), code.AsUInt64());
    }

    /// <summary>Writes every element of gx: the output gradient at each window's winner, zero elsewhere.</summary>
    public static void Backward(Tensor gy, int[] code, Tensor gx, int planes, int h, int w)
    {
        int oh = h / 2, ow = w / 2;
        fixed (float* pg0 = gy.Data<float>(), pgx0 = gx.Data<float>())
        fixed (int* pc0 = code)
        {
            nint pg = (nint)(pg0 + gy._offset), pgx = (nint)pgx0, pc = (nint)pc0;
            Parallelism.For(planes * oh, Math.Max(1, 4096 / w), (s, e) =>
            {
                for (int r = s; r < e; r++)
                {
                    float* x0 = (float*)pgx + 2L * r * w;
                    ScatterRow((float*)pg + (long)r * ow, (int*)pc + (long)r * ow, null, x0, x0 + w, ow);
                }
            });
        }
    }

    /// <summary>One plane of <see cref="Backward"/> into a dense h×w plane at dst, passing the gradient only where
    /// <paramref name="positive"/> (the pooled output of a ReLU'd input) is &gt; 0: ReLU's rule at each winner, applied
    /// before the scatter.</summary>
    public static void ScatterPlane(float* g, int* code, float* positive, float* dst, int h, int w)
    {
        int ow = w / 2;
        for (int r = 0; r < h / 2; r++)
            ScatterRow(g + (long)r * ow, code + (long)r * ow, positive + (long)r * ow, dst + 2L * r * w, dst + (2L * r + 1) * w, ow);
    }

    /// <summary>One output row's gradients (optionally masked by pos &gt; 0) to the two input rows under it.</summary>
    private static void ScatterRow(float* g, int* c, float* pos, float* row0, float* row1, int ow)
    {
        int* x0 = (int*)row0, x1 = (int*)row1;
        int j = 0;
        if (Vector256.IsHardwareAccelerated && ow >= 8)
        {
            var pattern0 = Vector256.Create(0, 1, 0, 1, 0, 1, 0, 1);
            var pattern1 = Vector256.Create(2, 3, 2, 3, 2, 3, 2, 3);
            for (; ; j += 8)
            {
                if (j > ow - 8) j = ow - 8;
                // Duplicate each gradient and code into both 32-bit halves of a 64-bit lane, then keep
                // the half whose window position matches the code.
                var gv = Vector256.Load((uint*)g + j);
                if (pos != null) gv &= Vector256.GreaterThan(Vector256.Load(pos + j), Vector256<float>.Zero).AsUInt32();
                var (gl, gu) = Vector256.Widen(gv);
                var (cl, cu) = Vector256.Widen(Vector256.Load((uint*)c + j));
                Vector256<int> G(Vector256<ulong> v) => (v | (v << 32)).AsInt32();
                var gL = G(gl); var gU = G(gu); var cL = G(cl); var cU = G(cu);
                (gL & Vector256.Equals(cL, pattern0)).Store(x0 + 2 * j);
                (gU & Vector256.Equals(cU, pattern0)).Store(x0 + 2 * j + 8);
                (gL & Vector256.Equals(cL, pattern1)).Store(x1 + 2 * j);
                (gU & Vector256.Equals(cU, pattern1)).Store(x1 + 2 * j + 8);
                if (j == ow - 8) return;
            }
        }
        else if (Vector128.IsHardwareAccelerated && ow >= 4)
        {
            var pattern0 = Vector128.Create(0, 1, 0, 1);
            var pattern1 = Vector128.Create(2, 3, 2, 3);
            for (; ; j += 4)
            {
                if (j > ow - 4) j = ow - 4;
                var gv = Vector128.Load((uint*)g + j);
                if (pos != null) gv &= Vector128.GreaterThan(Vector128.Load(pos + j), Vector128<float>.Zero).AsUInt32();
                var (gl, gu) = Vector128.Widen(gv);
                var (cl, cu) = Vector128.Widen(Vector128.Load((uint*)c + j));
                Vector128<int> G(Vector128<ulong> v) => (v | (v << 32)).AsInt32();
                var gL = G(gl); var gU = G(gu); var cL = G(cl); var cU = G(cu);
                (gL & Vector128.Equals(cL, pattern0)).Store(x0 + 2 * j);
                (gU & Vector128.Equals(cU, pattern0)).Store(x0 + 2 * j + 4);
                (gL & Vector128.Equals(cL, pattern1)).Store(x1 + 2 * j);
                (gU & Vector128.Equals(cU, pattern1)).Store(x1 + 2 * j + 4);
                if (j == ow - 4) return;
            }
        }
        for (; j < ow; j++)
        {
            int bits = pos != null && !(pos[j] > 0) ? 0 : BitConverter.SingleToInt32Bits(g[j]), k = c[j];
            x0[2 * j] = bits & -(k == 0 ? 1 : 0);
            x0[2 * j + 1] = bits & -(k == 1 ? 1 : 0);
            x1[2 * j] = bits & -(k == 2 ? 1 : 0);
            x1[2 * j + 1] = bits & -(k == 3 ? 1 : 0);
        }
    }
}
