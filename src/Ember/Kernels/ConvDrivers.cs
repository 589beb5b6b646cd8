using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Ember.Kernels;

/// <summary>The convolution drivers: per-chunk im2col, GEMM and col2im over raw buffers, the small-K direct kernels,
/// the fused ReLU and 2×2 pool epilogue, and transposed convolution. <see cref="NN.Functional"/> validates, computes
/// the geometry and records the backward rule; it calls these for the arithmetic.</summary>
internal static unsafe class ConvDrivers
{
    /// <summary>The full-resolution gradient of a fused convolution, ReLU and 2×2 max pool, produced one (image, channel)
    /// plane at a time from the pooled gradient, the winner codes and the pooled output; optionally records each plane's
    /// sum (the bias gradient's terms).</summary>
    internal readonly unsafe struct PooledGradient(nint gradient, nint code, nint positive, int h, int w, int channels, float[]? planeSums)
    {
        public void Plane(int image, int channel, float* dst)
        {
            long at = ((long)image * channels + channel) * (h / 2) * (w / 2);
            MaxPool2x2.ScatterPlane((float*)gradient + at, (int*)code + at, (float*)positive + at, dst, h, w);
            if (planeSums is not null) planeSums[image * channels + channel] = TensorPrimitives.Sum(new ReadOnlySpan<float>(dst, h * w));
        }
    }

    // Convolution runs on chunks of nb images: their unfolded matrices sit side by side as column blocks of one
    // (C·KH·KW) × (nb·OH·OW) matrix, so each product is wide enough to amortize packing; the chunk's outputs are
    // then scattered to (N, O, OH, OW). A chunk of one image multiplies straight into the output
    // (widths from EmberSettings.ConvColumns and ConvScratch).
    private static int ChunkImages(in ConvGeometry geo)
    {
        var settings = EmberSettings.Current;
        int byWidth = Math.Max(1, settings.ConvColumns / Math.Max(1, geo.OutPlane));
        int byScratch = Math.Max(1, settings.ConvScratch / Math.Max(1, geo.ColRows * geo.OutPlane));
        return Math.Min(byWidth, byScratch);
    }

    /// <summary>With <paramref name="poolCode"/> (float32, ReLU, even output size), y is the 2×2 max pool of the ReLU'd
    /// output, (N, O, OH/2, OW/2), and poolCode receives the winners: each image's output planes are pooled from
    /// scratch while in cache instead of being written out.</summary>
    public static void Forward<T>(Tensor x, Tensor w, Tensor? b, Tensor y, ConvGeometry geo, int groups, bool relu, int[]? poolCode = null)
        where T : unmanaged, INumberBase<T>
    {
        int n = x._shape[0], o = w._shape[0], og = o / groups, rows = geo.ColRows / groups, ohw = geo.OutPlane;
        bool pooled = poolCode is not null;
        if (rows <= SmallKRows)
        {
            SmallKForward<T>(x, w, b, y, geo, groups, relu, poolCode);
            return;
        }
        long xStride = (long)geo.C * geo.Plane, yStride = (long)o * ohw;
        int chunk = Math.Min(ChunkImages(geo), Math.Max(1, (n + Parallelism.NumThreads - 1) / Parallelism.NumThreads));
        T[]? bias = b?.Data<T>();
        int bOff = b?._offset ?? 0;
        fixed (T* px0 = x.Data<T>(), pw0 = w.Data<T>(), py0 = y.Data<T>())
        fixed (int* pcode0 = poolCode)
        {
            nint px = (nint)(px0 + x._offset), pw = (nint)(pw0 + w._offset), py = (nint)py0, pcode = (nint)pcode0;
            ConvKernels.ForBatch(n, (start, end, parallel) =>
            {
                int nb = Math.Min(chunk, end - start);
                long ld = (long)nb * ohw;
                T[] colArr = ConvKernels.Rent<T>((int)(geo.ColRows * ld));
                T[]? outArr = nb > 1 || pooled ? ConvKernels.Rent<T>((int)(o * ld)) : null;
                float[]? poolArr = pooled ? ConvKernels.Rent<float>(ohw) : null;
                int[]? selArr = pooled ? ConvKernels.Rent<int>(ohw) : null;
                fixed (T* col = colArr, tmp = outArr)
                fixed (float* pm = poolArr)
                fixed (int* psel = selArr)
                {
                    for (int i0 = start; i0 < end; i0 += nb)
                    {
                        int cnt = Math.Min(nb, end - i0);
                        long l = (long)cnt * ohw;
                        for (int j = 0; j < cnt; j++) ConvKernels.Im2Col(geo, (T*)px + (i0 + j) * xStride, col + j * ohw, l);
                        bool direct = cnt == 1;
                        T* dst = direct && !pooled ? (T*)py + i0 * yStride : tmp;
                        if (direct && bias is not null)
                            for (int c = 0; c < o; c++) new Span<T>(dst + (long)c * ohw, ohw).Fill(bias[bOff + c]);
                        for (int gi = 0; gi < groups; gi++)
                            ConvKernels.Gemm(og, (int)l, rows, (T*)pw + (long)gi * og * rows, rows, 1, col + gi * rows * l, (int)l, 1,
                                dst + gi * og * l, (int)l, accumulate: direct && bias is not null, parallel);
                        if (pooled)
                        {
                            for (int j = 0; j < cnt; j++)
                            {
                                for (int c = 0; c < o; c++)
                                {
                                    float* plane = (float*)tmp + c * l + j * ohw;
                                    var span = new Span<float>(plane, ohw);
                                    if (!direct && bias is not null) TensorPrimitives.Add(span, float.CreateTruncating(bias[bOff + c]), span);
                                    Elementwise.ReluInPlace(plane, ohw);
                                }
                                PoolImage((float*)tmp + j * ohw, l, o, geo, pm, psel, (float*)py, (int*)pcode, i0 + j);
                            }
                            continue;
                        }
                        if (direct)
                        {
                            if (relu) Elementwise.ReluInPlace(dst, yStride);
                            continue;
                        }
                        for (int j = 0; j < cnt; j++)
                        for (int c = 0; c < o; c++)
                        {
                            var from = new ReadOnlySpan<T>(tmp + c * l + j * ohw, ohw);
                            T* toPtr = (T*)py + (i0 + j) * yStride + (long)c * ohw;
                            var to = new Span<T>(toPtr, ohw);
                            if (bias is null) from.CopyTo(to);
                            else TensorPrimitives.Add(from, bias[bOff + c], to);
                            if (relu) Elementwise.ReluInPlace(toPtr, ohw);
                        }
                    }
                }
                ConvKernels.Return(colArr);
                if (outArr is not null) ConvKernels.Return(outArr);
                if (poolArr is not null) ConvKernels.Return(poolArr);
                if (selArr is not null) ConvKernels.Return(selArr);
            });
        }
    }

    /// <summary>2×2 max pool of one image's o ReLU'd output planes (each dense, planeStride apart) into y and code at image i.</summary>
    private static unsafe void PoolImage(float* img, long planeStride, int o, in ConvGeometry geo, float* m, int* sel, float* y, int* code, int i)
    {
        int q = geo.OutPlane / 4;
        for (int c = 0; c < o; c++)
        {
            long at = ((long)i * o + c) * q;
            MaxPool2x2.PoolPlane(img + c * planeStride, geo.OH, geo.OW, m, sel, y + at, code + at);
        }
    }

    /// <summary>The backward of a fused convolution, ReLU and 2×2 max pool from the pooled gradient
    /// <paramref name="pooledGradient"/> (dense float32), the winner codes and the pooled output; <paramref name="planeSums"/>
    /// receives each (image, channel) plane's gradient sum when not null.</summary>
    public static void BackwardPooled(Tensor x, Tensor w, Tensor? gx, Tensor? gw, ConvGeometry geo, int groups, Tensor pooledGradient,
        int[] code, Tensor pooledOutput, float[]? planeSums)
    {
        fixed (float* pg = pooledGradient.Data<float>(), pos = pooledOutput.Data<float>())
        fixed (int* pc = code)
            Backward<float>(x, w, null, gx, gw, geo, groups, new PooledGradient((nint)(pg + pooledGradient._offset), (nint)pc,
                (nint)(pos + pooledOutput._offset), geo.OH, geo.OW, w._shape[0], planeSums));
    }

    /// <summary>Input and weight gradients of a convolution from its output gradient: gy, or (float32) the planes that
    /// <paramref name="pooled"/> expands. gx need not be zeroed (each image is cleared before its gradient is folded in,
    /// a write that also spares fresh pages the read-then-write fault); gw is accumulated into.</summary>
    public static void Backward<T>(Tensor x, Tensor w, Tensor? gy, Tensor? gx, Tensor? gw, ConvGeometry geo, int groups,
        PooledGradient? pooled = null)
        where T : unmanaged, INumberBase<T>
    {
        int n = x._shape[0], o = w._shape[0], og = o / groups, rows = geo.ColRows / groups, ohw = geo.OutPlane;
        if (rows <= SmallKRows)
        {
            SmallKBackward<T>(x, w, gy, gx, gw, geo, groups, pooled);
            return;
        }
        long xStride = (long)geo.C * geo.Plane, yStride = (long)o * ohw;
        int chunk = Math.Min(ChunkImages(geo), Math.Max(1, (n + Parallelism.NumThreads - 1) / Parallelism.NumThreads));
        var gate = new object();
        fixed (T* px0 = x.Data<T>(), pw0 = w.Data<T>(), pg0 = gy is null ? null : gy.Data<T>(), pgx0 = gx is null ? null : gx.Data<T>(), pgw0 = gw is null ? null : gw.Data<T>())
        {
            nint px = (nint)(px0 + x._offset), pw = (nint)(pw0 + w._offset), pg = (nint)(pg0 + (gy?._offset ?? 0)), pgx = (nint)pgx0, pgw = (nint)pgw0;
            ConvKernels.ForBatch(n, (start, end, parallel) =>
            {
                int nb = Math.Min(chunk, end - start);
                long ld = (long)nb * ohw;
                T[] colArr = ConvKernels.Rent<T>((int)(geo.ColRows * ld));
                T[]? gyArr = nb > 1 || pooled is not null ? ConvKernels.Rent<T>((int)(o * ld)) : null;
                // Threads accumulate the weight gradient privately and add it in once; a lone body writes in place.
                T[]? local = gw is not null && !(start == 0 && end == n) ? new T[o * rows] : null;
                fixed (T* col = colArr, gyc0 = gyArr, plocal = local)
                {
                    T* acc = plocal != null ? plocal : (T*)pgw;
                    for (int i0 = start; i0 < end; i0 += nb)
                    {
                        int cnt = Math.Min(nb, end - i0);
                        long l = (long)cnt * ohw;
                        T* gyc = (T*)pg + i0 * yStride;
                        if (pooled is { } pgr)
                        {
                            gyc = gyc0;
                            for (int j = 0; j < cnt; j++)
                            for (int c = 0; c < o; c++) pgr.Plane(i0 + j, c, (float*)gyc + c * l + j * ohw);
                        }
                        else if (cnt > 1)
                        {
                            gyc = gyc0;
                            for (int j = 0; j < cnt; j++)
                            for (int c = 0; c < o; c++)
                                new ReadOnlySpan<T>((T*)pg + (i0 + j) * yStride + (long)c * ohw, ohw).CopyTo(new Span<T>(gyc + c * l + j * ohw, ohw));
                        }
                        if (gw is not null)
                        {
                            for (int j = 0; j < cnt; j++) ConvKernels.Im2Col(geo, (T*)px + (i0 + j) * xStride, col + j * ohw, l);
                            for (int gi = 0; gi < groups; gi++)
                                ConvKernels.Gemm(og, rows, (int)l, gyc + gi * og * l, (int)l, 1, col + gi * rows * l, 1, (int)l,
                                    acc + (long)gi * og * rows, rows, accumulate: true, parallel);
                        }
                        if (gx is not null)
                        {
                            // The column buffer is free again: reuse it for the unfolded input gradient.
                            for (int gi = 0; gi < groups; gi++)
                                ConvKernels.Gemm(rows, (int)l, og, (T*)pw + (long)gi * og * rows, 1, rows, gyc + gi * og * l, (int)l, 1,
                                    col + gi * rows * l, (int)l, accumulate: false, parallel);
                            for (int j = 0; j < cnt; j++)
                            {
                                T* gxi = (T*)pgx + (i0 + j) * xStride;
                                new Span<T>(gxi, (int)xStride).Clear();
                                ConvKernels.Col2Im(geo, col + j * ohw, gxi, l);
                            }
                        }
                    }
                    if (local is not null)
                        lock (gate)
                        {
                            var total = new Span<T>((T*)pgw, o * rows);
                            TensorPrimitives.Add<T>(total, local, total);
                        }
                }
                ConvKernels.Return(colArr);
                if (gyArr is not null) ConvKernels.Return(gyArr);
            });
        }
    }

    // With few taps per group (a first layer on 1–3 channels, a depthwise 3×3) the packed product has too short a
    // reduction to pay for packing: each output row is instead a sum of a handful of scaled unfolded rows (and the
    // weight gradient a handful of dot products), vectorized along the row, one image at a time.
    private const int SmallKRows = 16;

    private static unsafe void SmallKForward<T>(Tensor x, Tensor w, Tensor? b, Tensor y, ConvGeometry geo, int groups, bool relu, int[]? poolCode)
        where T : unmanaged, INumberBase<T>
    {
        bool pooled = poolCode is not null;
        int n = x._shape[0], o = w._shape[0], og = o / groups, rows = geo.ColRows / groups, ohw = geo.OutPlane;
        long xStride = (long)geo.C * geo.Plane, yStride = (long)o * ohw;
        var wv = w.Data<T>();
        int wOff = w._offset;
        T[]? bias = b?.Data<T>();
        int bOff = b?._offset ?? 0;
        fixed (T* px0 = x.Data<T>(), py0 = y.Data<T>())
        fixed (int* pcode0 = poolCode)
        {
            nint px = (nint)(px0 + x._offset), py = (nint)py0, pcode = (nint)pcode0;
            Parallelism.For(n, 1, (start, end) =>
            {
                T[] colArr = ConvKernels.Rent<T>(geo.ColRows * ohw);
                // Pooled: each image's full-resolution output lives in this scratch only.
                T[]? imgArr = pooled ? ConvKernels.Rent<T>((int)yStride) : null;
                float[]? poolArr = pooled ? ConvKernels.Rent<float>(ohw) : null;
                int[]? selArr = pooled ? ConvKernels.Rent<int>(ohw) : null;
                fixed (T* col = colArr, img = imgArr)
                fixed (float* pm = poolArr)
                fixed (int* psel = selArr)
                {
                    for (int i = start; i < end; i++)
                    {
                        ConvKernels.Im2Col(geo, (T*)px + i * xStride, col);
                        T* dst = pooled ? img : (T*)py + i * yStride;
                        if (typeof(T) == typeof(float) && Vector512.IsHardwareAccelerated)
                        {
                            fixed (T* pw = wv, pb = bias)
                                for (int gi = 0; gi < groups; gi++)
                                    SmallK512.Forward((float*)col + (long)gi * rows * ohw, rows, og, (float*)pw + wOff + gi * og * rows,
                                        pb == null ? null : (float*)pb + bOff + gi * og, (float*)dst + (long)gi * og * ohw, ohw);
                        }
                        else
                            for (int c = 0; c < o; c++)
                            {
                                var row = new Span<T>(dst + (long)c * ohw, ohw);
                                row.Fill(bias is null ? T.Zero : bias[bOff + c]);
                                T* colg = col + (long)(c / og) * rows * ohw;
                                for (int r = 0; r < rows; r++)
                                    TensorPrimitives.MultiplyAdd<T>(new ReadOnlySpan<T>(colg + (long)r * ohw, ohw), wv[wOff + c * rows + r], row, row);
                            }
                        if (relu) Elementwise.ReluInPlace(dst, yStride);
                        if (pooled) PoolImage((float*)dst, ohw, o, geo, pm, psel, (float*)py, (int*)pcode, i);
                    }
                }
                ConvKernels.Return(colArr);
                if (imgArr is not null) ConvKernels.Return(imgArr);
                if (poolArr is not null) ConvKernels.Return(poolArr);
                if (selArr is not null) ConvKernels.Return(selArr);
            });
        }
    }

    private static unsafe void SmallKBackward<T>(Tensor x, Tensor w, Tensor? gy, Tensor? gx, Tensor? gw, ConvGeometry geo, int groups,
        PooledGradient? pooled)
        where T : unmanaged, INumberBase<T>
    {
        int n = x._shape[0], o = w._shape[0], og = o / groups, rows = geo.ColRows / groups, ohw = geo.OutPlane;
        long xStride = (long)geo.C * geo.Plane, yStride = (long)o * ohw;
        var wc = w.Contiguous();
        var wv = wc.ToArrayDouble();
        var gate = new object();
        var total = new double[o * rows];
        // float32 with AVX-512: register-blocked passes (SmallK512) instead of one vector call per (channel, tap).
        bool fast = typeof(T) == typeof(float) && Vector512.IsHardwareAccelerated;
        fixed (T* px0 = x.Data<T>(), pg0 = gy is null ? null : gy.Data<T>(), pgx0 = gx is null ? null : gx.Data<T>(), pw0 = wc.Data<T>())
        {
            nint px = (nint)(px0 + x._offset), pg = (nint)(pg0 + (gy?._offset ?? 0)), pgx = (nint)pgx0, pw32 = (nint)(pw0 + wc._offset);
            Parallelism.ForPerThread(n, 1, (start, end) =>
            {
                T[] colArr = ConvKernels.Rent<T>(geo.ColRows * ohw);
                T[]? gyArr = pooled is not null ? ConvKernels.Rent<T>((int)yStride) : null;
                var local = gw is not null ? new double[o * rows] : null;
                var partialArr = fast && local is not null ? new float[o * rows] : null;
                fixed (T* col = colArr, gyScratch = gyArr)
                fixed (float* partial = partialArr)
                {
                    for (int i = start; i < end; i++)
                    {
                        T* gyi = (T*)pg + i * yStride;
                        if (pooled is { } pgr)
                        {
                            gyi = gyScratch;
                            for (int c = 0; c < o; c++) pgr.Plane(i, c, (float*)gyi + (long)c * ohw);
                        }
                        T* gxi = (T*)pgx + i * xStride;
                        if (pgx != 0) new Span<T>(gxi, (int)xStride).Clear();
                        if (fast)
                        {
                            if (local is not null)
                            {
                                ConvKernels.Im2Col(geo, (T*)px + i * xStride, col);
                                for (int gi = 0; gi < groups; gi++)
                                    SmallK512.WeightGrad((float*)col + (long)gi * rows * ohw, rows, og, (float*)gyi + (long)gi * og * ohw, ohw, partial + gi * og * rows);
                                for (int k = 0; k < local.Length; k++) local[k] += partial[k];
                            }
                            if (pgx != 0)
                            {
                                for (int gi = 0; gi < groups; gi++)
                                    SmallK512.InputGrad((float*)gyi + (long)gi * og * ohw, rows, og, (float*)pw32 + gi * og * rows, (float*)col + (long)gi * rows * ohw, ohw);
                                ConvKernels.Col2Im(geo, col, gxi);
                            }
                            continue;
                        }
                        if (local is not null)
                        {
                            ConvKernels.Im2Col(geo, (T*)px + i * xStride, col);
                            for (int c = 0; c < o; c++)
                            {
                                var g = new ReadOnlySpan<T>(gyi + (long)c * ohw, ohw);
                                T* colg = col + (long)(c / og) * rows * ohw;
                                for (int r = 0; r < rows; r++)
                                    local[c * rows + r] += double.CreateTruncating(TensorPrimitives.Dot<T>(g, new ReadOnlySpan<T>(colg + (long)r * ohw, ohw)));
                            }
                        }
                        if (pgx != 0)
                        {
                            // dcol[g·rows + r] = Σ_c∈g W[c, r]·gy[c], then folded back into the image.
                            new Span<T>(col, geo.ColRows * ohw).Clear();
                            for (int c = 0; c < o; c++)
                            {
                                var g = new ReadOnlySpan<T>(gyi + (long)c * ohw, ohw);
                                T* colg = col + (long)(c / og) * rows * ohw;
                                for (int r = 0; r < rows; r++)
                                {
                                    var d = new Span<T>(colg + (long)r * ohw, ohw);
                                    TensorPrimitives.MultiplyAdd<T>(g, T.CreateTruncating(wv[c * rows + r]), d, d);
                                }
                            }
                            ConvKernels.Col2Im(geo, col, gxi);
                        }
                    }
                }
                ConvKernels.Return(colArr);
                if (gyArr is not null) ConvKernels.Return(gyArr);
                if (local is not null)
                    lock (gate)
                        for (int k = 0; k < total.Length; k++) total[k] += local[k];
            });
        }
        if (gw is not null)
        {
            var dst = gw.Data<T>();
            for (int k = 0; k < total.Length; k++) dst[k] = T.CreateTruncating(total[k]);
        }
    }

    // Transposed convolution with geometry geo of the equivalent convolution (its "input" is our output):
    // per group, col = W_gᵀ·x_g ((Cout/G·K) × HW) and the output is col2im(col).
    public static void TransposeForward<T>(Tensor x, Tensor w, Tensor? b, Tensor y, ConvGeometry geo, int groups)
        where T : unmanaged, INumberBase<T>
    {
        int n = x._shape[0], cin = x._shape[1], cing = cin / groups, rows = geo.ColRows / groups, hw = geo.OutPlane;
        long xStride = (long)cin * hw, yStride = (long)geo.C * geo.Plane;
        bool pointwise = geo.IsPointwise;
        T[]? bias = b?.Data<T>();
        int bOff = b?._offset ?? 0;
        fixed (T* px0 = x.Data<T>(), pw0 = w.Data<T>(), py0 = y.Data<T>())
        {
            nint px = (nint)(px0 + x._offset), pw = (nint)(pw0 + w._offset), py = (nint)py0;
            ConvKernels.ForBatch(n, (start, end, parallel) =>
            {
                T[]? colArr = pointwise ? null : ConvKernels.Rent<T>(geo.ColRows * hw);
                fixed (T* col = colArr)
                {
                    for (int i = start; i < end; i++)
                    {
                        T* xi = (T*)px + i * xStride, yi = (T*)py + i * yStride;
                        T* dst = pointwise ? yi : col;
                        for (int gi = 0; gi < groups; gi++)
                            ConvKernels.Gemm(rows, hw, cing, (T*)pw + (long)gi * cing * rows, 1, rows, xi + (long)gi * cing * hw, hw, 1,
                                dst + (long)gi * rows * hw, hw, accumulate: false, parallel);
                        if (!pointwise) ConvKernels.Col2Im(geo, col, yi);
                        if (bias is not null)
                            for (int c = 0; c < geo.C; c++)
                            {
                                var plane = new Span<T>(yi + (long)c * geo.Plane, geo.Plane);
                                TensorPrimitives.Add<T>(plane, bias[bOff + c], plane);
                            }
                    }
                }
                if (colArr is not null) ConvKernels.Return(colArr);
            });
        }
    }

    public static void TransposeBackward<T>(Tensor x, Tensor w, Tensor gy, Tensor? gx, Tensor? gw, ConvGeometry geo, int groups)
        where T : unmanaged, INumberBase<T>
    {
        int n = x._shape[0], cin = x._shape[1], cing = cin / groups, rows = geo.ColRows / groups, hw = geo.OutPlane;
        long xStride = (long)cin * hw, yStride = (long)geo.C * geo.Plane;
        bool pointwise = geo.IsPointwise;
        var gate = new object();
        fixed (T* px0 = x.Data<T>(), pw0 = w.Data<T>(), pg0 = gy.Data<T>(), pgx0 = gx is null ? null : gx.Data<T>(), pgw0 = gw is null ? null : gw.Data<T>())
        {
            nint px = (nint)(px0 + x._offset), pw = (nint)(pw0 + w._offset), pg = (nint)(pg0 + gy._offset), pgx = (nint)pgx0, pgw = (nint)pgw0;
            ConvKernels.ForBatch(n, (start, end, parallel) =>
            {
                T[]? colArr = pointwise ? null : ConvKernels.Rent<T>(geo.ColRows * hw);
                T[]? local = gw is not null && !(start == 0 && end == n) ? new T[cin * rows] : null;
                fixed (T* col = colArr, plocal = local)
                {
                    T* acc = plocal != null ? plocal : (T*)pgw;
                    for (int i = start; i < end; i++)
                    {
                        T* xi = (T*)px + i * xStride, gyi = (T*)pg + i * yStride;
                        T* src = pointwise ? gyi : col;
                        if (!pointwise) ConvKernels.Im2Col(geo, gyi, col);
                        for (int gi = 0; gi < groups; gi++)
                        {
                            T* colg = src + (long)gi * rows * hw;
                            if (gx is not null)
                                ConvKernels.Gemm(cing, hw, rows, (T*)pw + (long)gi * cing * rows, rows, 1, colg, hw, 1,
                                    (T*)pgx + i * xStride + (long)gi * cing * hw, hw, accumulate: false, parallel);
                            if (gw is not null)
                                ConvKernels.Gemm(cing, rows, hw, xi + (long)gi * cing * hw, hw, 1, colg, 1, hw,
                                    acc + (long)gi * cing * rows, rows, accumulate: true, parallel);
                        }
                    }
                    if (local is not null)
                        lock (gate)
                        {
                            var total = new Span<T>((T*)pgw, cin * rows);
                            TensorPrimitives.Add<T>(total, local, total);
                        }
                }
                if (colArr is not null) ConvKernels.Return(colArr);
            });
        }
    }
}
