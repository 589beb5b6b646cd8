using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace Ember.Kernels;

/// <summary>Which instruction sets the int8 product uses. Each path computes the same 32-bit sums exactly.</summary>
internal enum Int8Path { Scalar, Vector128, Avx2, AvxVnni, Avx512 }

/// <summary>
/// The int8 matrix product behind dynamically quantized Linear layers: activations quantized per row to unsigned
/// 7-bit levels 0…127 with a zero point (asymmetric, as FBGEMM's <c>reduce_range</c>), weights per output channel to
/// signed levels −127…127 (symmetric; −128 from a file is also exact), products summed exactly in int32, then
/// y = ((float)(Σ q_x·q_w − z_x·Σ q_w)·s_x)·s_w + b.
/// <para>Seven-bit activations make the two-step u8×s8 → i16 → i32 multiply-add (<c>vpmaddubsw</c> then
/// <c>vpmaddwd</c>) exact: a pair of products is at most 2·127·128 = 32,512 in size and never saturates int16. So every
/// path — AVX-512BW, AVX-VNNI (<c>vpdpbusd</c>), AVX2, SSSE3 / ARM64 <c>sdot</c>, scalar — gives the same sums and,
/// through one shared epilogue, the same floats bit for bit.</para>
/// <para>Weights are packed once into blocks of 16 output channels × 4 inputs (64 bytes per group of 4 inputs,
/// channel c's four bytes at 4c), so one 512-bit load feeds 16 channels, and four activation bytes broadcast as one
/// 32-bit lane meet them in one multiply-add. Output channels are padded to 32 and inputs to 4 with zero weights.</para>
/// </summary>
internal static unsafe class Int8Gemm
{
    /// <summary>The highest activation level (levels are 0…127).</summary>
    public const int ActivationMax = 127;
    /// <summary>The largest input width whose int32 sums cannot overflow (127·127·k and 127·127·k zero-point terms).</summary>
    public const int MaxInFeatures = 131_072;
    private const int BlockChannels = 16;
    private const int ChannelPad = 32;
    private const int AccStride = 32;   // ints per row of the accumulator scratch tile

    /// <summary>The widest path this CPU (and the DOTNET_Enable* switches) allows.</summary>
    public static Int8Path DetectPath()
    {
        if (Vector512.IsHardwareAccelerated && Avx512BW.IsSupported) return Int8Path.Avx512;
        if (Vector256.IsHardwareAccelerated && AvxVnni.IsSupported) return Int8Path.AvxVnni;
        if (Vector256.IsHardwareAccelerated && Avx2.IsSupported) return Int8Path.Avx2;
        if (Ssse3.IsSupported || Dp.IsSupported) return Int8Path.Vector128;
        return Int8Path.Scalar;
    }

    /// <summary>Inputs padded to a multiple of 4 (the bytes one 32-bit lane holds).</summary>
    public static int PaddedK(int k) => (k + 3) & ~3;

    /// <summary>Output channels padded to a multiple of 32 (the widest tile).</summary>
    public static int PaddedM(int m) => (m + ChannelPad - 1) / ChannelPad * ChannelPad;

    /// <summary>The packed layout of a row-major (m, k) int8 weight: block b of 16 channels holds, for each group g of
    /// 4 inputs, 64 bytes with channel c's inputs 4g…4g+3 at 4c. Padding is zero.</summary>
    public static sbyte[] Pack(ReadOnlySpan<sbyte> w, int m, int k)
    {
        int kg = PaddedK(k) / 4;
        var packed = new sbyte[(long)PaddedM(m) * kg * 4 > int.MaxValue
            ? throw new ArgumentException($"Int8 pack: a {m}×{k} weight is too large to pack in one array.")
            : PaddedM(m) * kg * 4];
        for (int j = 0; j < m; j++)
        {
            int block = j / BlockChannels, lane = j % BlockChannels;
            for (int i = 0; i < k; i++)
                packed[((long)block * kg + i / 4) * 64 + lane * 4 + i % 4] = w[j * k + i];
        }
        return packed;
    }

    /// <summary>Σ over inputs of each channel's int8 weights (the zero-point correction), padded to <see cref="PaddedM"/>.</summary>
    public static int[] ChannelSums(ReadOnlySpan<sbyte> w, int m, int k)
    {
        var sums = new int[PaddedM(m)];
        for (int j = 0; j < m; j++)
        {
            int s = 0;
            foreach (sbyte v in w.Slice(j * k, k)) s += v;
            sums[j] = s;
        }
        return sums;
    }

    /// <summary>Quantizes each row of x (n, k) to levels 0…127: range [min(0, min x), max(0, max x)] so zero is exact,
    /// scale = range / 127, zero point = round(−lo / scale), q = clamp(round(x · (1/scale)) + zero point, 0, 127), ties
    /// to even. Rows of q are <paramref name="ldq"/> bytes, zero past k. Throws on a NaN or infinity, naming the row.</summary>
    public static void QuantizeRows(string op, int n, int k, float* x, int ldx, byte* q, int ldq, float* scales, int* zeroPoints)
    {
        for (int r = 0; r < n; r++)
        {
            var row = new ReadOnlySpan<float>(x + (long)r * ldx, k);
            float lo = k == 0 ? 0 : TensorPrimitives.Min(row), hi = k == 0 ? 0 : TensorPrimitives.Max(row);
            if (!float.IsFinite(lo) || !float.IsFinite(hi))
                throw new ArgumentException($"{op}: input row {r} holds a non-finite value (min {lo}, max {hi}); int8 quantization needs finite inputs.");
            (float scale, int zp) = RowParameters(lo, hi);
            scales[r] = scale;
            zeroPoints[r] = zp;
            QuantizeRow(x + (long)r * ldx, k, 1 / scale, zp, q + (long)r * ldq);
            new Span<byte>(q + (long)r * ldq + k, ldq - k).Clear();
        }
    }

    /// <summary>Quantizes each row of x (n, k) with one fixed scale and zero point (static quantization, calibrated
    /// beforehand): q = clamp(round(x · (1/scale)) + zero point, 0, 127); values outside the calibrated range saturate.
    /// <paramref name="scales"/> and <paramref name="zeroPoints"/> receive the constants for every row.</summary>
    public static void QuantizeRowsStatic(string op, int n, int k, float* x, int ldx, byte* q, int ldq, float scale, int zeroPoint, float* scales, int* zeroPoints)
    {
        for (int r = 0; r < n; r++)
        {
            if (k > 0 && !float.IsFinite(TensorPrimitives.MaxMagnitude(new ReadOnlySpan<float>(x + (long)r * ldx, k))))
                throw new ArgumentException($"{op}: input row {r} holds a non-finite value; int8 quantization needs finite inputs.");
            scales[r] = scale;
            zeroPoints[r] = zeroPoint;
            QuantizeRow(x + (long)r * ldx, k, 1 / scale, zeroPoint, q + (long)r * ldq);
            new Span<byte>(q + (long)r * ldq + k, ldq - k).Clear();
        }
    }

    /// <summary>Scale and zero point of a row whose values lie in [lo, hi].</summary>
    public static (float Scale, int ZeroPoint) RowParameters(float lo, float hi)
    {
        lo = MathF.Min(lo, 0);
        hi = MathF.Max(hi, 0);
        float scale = (hi - lo) / ActivationMax;
        if (!(scale > 0) || !float.IsFinite(1 / scale)) return (1, 0);   // an all-zero row (or one too small to scale)
        int zp = Math.Clamp((int)MathF.Round(-lo / scale), 0, ActivationMax);
        return (scale, zp);
    }

    internal static void QuantizeRow(float* x, int k, float inv, int zp, byte* q)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var vi = Vector256.Create(inv);
            var vz = Vector256.Create(zp);
            var lo = Vector256<int>.Zero;
            var hi = Vector256.Create(ActivationMax);
            for (; i + 32 <= k; i += 32)
            {
                var a = Vector256.Min(Vector256.Max(Vector256.ConvertToInt32(Vector256.Round(Vector256.Load(x + i) * vi)) + vz, lo), hi);
                var b = Vector256.Min(Vector256.Max(Vector256.ConvertToInt32(Vector256.Round(Vector256.Load(x + i + 8) * vi)) + vz, lo), hi);
                var c = Vector256.Min(Vector256.Max(Vector256.ConvertToInt32(Vector256.Round(Vector256.Load(x + i + 16) * vi)) + vz, lo), hi);
                var d = Vector256.Min(Vector256.Max(Vector256.ConvertToInt32(Vector256.Round(Vector256.Load(x + i + 24) * vi)) + vz, lo), hi);
                Vector256.Narrow(Vector256.Narrow(a, b).AsUInt16(), Vector256.Narrow(c, d).AsUInt16()).Store(q + i);
            }
        }
        else if (Vector128.IsHardwareAccelerated)
        {
            var vi = Vector128.Create(inv);
            var vz = Vector128.Create(zp);
            var lo = Vector128<int>.Zero;
            var hi = Vector128.Create(ActivationMax);
            for (; i + 16 <= k; i += 16)
            {
                var a = Vector128.Min(Vector128.Max(Vector128.ConvertToInt32(Vector128.Round(Vector128.Load(x + i) * vi)) + vz, lo), hi);
                var b = Vector128.Min(Vector128.Max(Vector128.ConvertToInt32(Vector128.Round(Vector128.Load(x + i + 4) * vi)) + vz, lo), hi);
                var c = Vector128.Min(Vector128.Max(Vector128.ConvertToInt32(Vector128.Round(Vector128.Load(x + i + 8) * vi)) + vz, lo), hi);
                var d = Vector128.Min(Vector128.Max(Vector128.ConvertToInt32(Vector128.Round(Vector128.Load(x + i + 12) * vi)) + vz, lo), hi);
                Vector128.Narrow(Vector128.Narrow(a, b).AsUInt16(), Vector128.Narrow(c, d).AsUInt16()).Store(q + i);
            }
        }
        for (; i < k; i++) q[i] = (byte)Math.Clamp((int)MathF.Round(x[i] * inv) + zp, 0, ActivationMax);
    }

    /// <summary>y (n, m) = dequantized product of quantized rows <paramref name="xq"/> (n × <see cref="PaddedK"/>(k),
    /// row stride <paramref name="ldq"/>) and the packed weight, plus bias, then ReLU when asked. Threads split the
    /// output channels; each walks all rows of its channels while their weights stay in cache.</summary>
    public static void Gemm(int n, int m, int k, byte* xq, int ldq, float* xScale, int* xZero,
        sbyte* packed, float* wScale, int* wSum, float* bias, float* y, int ldy, bool relu, Int8Path path)
    {
        if (n == 0 || m == 0) return;
        if (path > DetectPath()) path = DetectPath();
        int kg = PaddedK(k) / 4;
        int tileChannels = path switch { Int8Path.Avx512 => 32, Int8Path.Avx2 or Int8Path.AvxVnni => 16, _ => 8 };
        int tiles = PaddedM(m) / tileChannels;
        // Work items are (row block, channel tile) pairs, so that a layer with few output channels and many rows (a
        // convolution's pixels) spreads over the threads too; a block's rows stay in cache across the tiles.
        int rowBlock = n <= 64 ? n : 64, rowBlocks = (n + rowBlock - 1) / rowBlock;
        long perItem = (long)rowBlock * kg * 4 * tileChannels;
        int grain = (int)Math.Max(1, 262_144 / Math.Max(1, perItem));
        nint px = (nint)xq, pxs = (nint)xScale, pxz = (nint)xZero, pw = (nint)packed, pws = (nint)wScale, psum = (nint)wSum,
            pb = (nint)bias, py = (nint)y;
        Parallelism.For(rowBlocks * tiles, grain, (s, e) =>
        {
            int* acc = stackalloc int[4 * AccStride];
            for (int item = s; item < e; item++)
            {
                int t = item % tiles, rb = item / tiles;
                int c0 = t * tileChannels, cols = Math.Min(tileChannels, m - c0);
                if (cols <= 0) continue;
                int rEnd = Math.Min(n, (rb + 1) * rowBlock);
                for (int r0 = rb * rowBlock; r0 < rEnd; r0 += 4)
                {
                    int rows = Math.Min(4, rEnd - r0);
                    Tile(path, rows, kg, (byte*)px + (long)r0 * ldq, ldq, (sbyte*)pw, c0, acc);
                    Epilogue(rows, cols, acc, (float*)pxs + r0, (int*)pxz + r0, (float*)pws + c0, (int*)psum + c0,
                        pb == 0 ? null : (float*)pb + c0, (float*)py + (long)r0 * ldy + c0, ldy, relu);
                }
            }
        });
    }

    /// <summary>Address of the packed vector covering channels c…c+lanes−1 at group 0.</summary>
    private static sbyte* At(sbyte* packed, int kg, int c) => packed + (long)(c / BlockChannels) * kg * 64 + c % BlockChannels * 4;

    private static void Tile(Int8Path path, int rows, int kg, byte* x, int ldq, sbyte* packed, int c0, int* acc)
    {
        switch (path)
        {
            case Int8Path.Avx512: Rows<Vector512<int>, Avx512Dot>(rows, kg, x, ldq, At(packed, kg, c0), At(packed, kg, c0 + 16), acc); break;
            case Int8Path.AvxVnni: Rows<Vector256<int>, VnniDot>(rows, kg, x, ldq, At(packed, kg, c0), At(packed, kg, c0 + 8), acc); break;
            case Int8Path.Avx2: Rows<Vector256<int>, Avx2Dot>(rows, kg, x, ldq, At(packed, kg, c0), At(packed, kg, c0 + 8), acc); break;
            case Int8Path.Vector128 when Ssse3.IsSupported: Rows<Vector128<int>, Ssse3Dot>(rows, kg, x, ldq, At(packed, kg, c0), At(packed, kg, c0 + 4), acc); break;
            case Int8Path.Vector128: Rows<Vector128<int>, NeonDot>(rows, kg, x, ldq, At(packed, kg, c0), At(packed, kg, c0 + 4), acc); break;
            default: ScalarTile(rows, kg, x, ldq, packed, c0, acc); break;
        }
    }

    private static void Rows<TV, TD>(int rows, int kg, byte* x, int ldq, sbyte* w0, sbyte* w1, int* acc)
        where TV : unmanaged where TD : IDot4<TV>
    {
        if (rows == 4) Four<TV, TD>(kg, x, ldq, w0, w1, acc);
        else for (int r = 0; r < rows; r++) One<TV, TD>(kg, x + (long)r * ldq, w0, w1, acc + r * AccStride);
    }

    /// <summary>4 rows × 2 vectors of channels: 8 accumulators, each weight load used 4 times.</summary>
    private static void Four<TV, TD>(int kg, byte* x, int ldq, sbyte* w0, sbyte* w1, int* acc)
        where TV : unmanaged where TD : IDot4<TV>
    {
        TV a00 = default, a01 = default, a10 = default, a11 = default, a20 = default, a21 = default, a30 = default, a31 = default;
        byte* x0 = x, x1 = x + ldq, x2 = x + 2 * ldq, x3 = x + 3 * ldq;
        for (int g = 0; g < kg; g++)
        {
            TV v0 = TD.Load(w0 + g * 64), v1 = TD.Load(w1 + g * 64);
            TV b = TD.Broadcast(x0 + 4 * g);
            a00 = TD.Dot(a00, b, v0); a01 = TD.Dot(a01, b, v1);
            b = TD.Broadcast(x1 + 4 * g);
            a10 = TD.Dot(a10, b, v0); a11 = TD.Dot(a11, b, v1);
            b = TD.Broadcast(x2 + 4 * g);
            a20 = TD.Dot(a20, b, v0); a21 = TD.Dot(a21, b, v1);
            b = TD.Broadcast(x3 + 4 * g);
            a30 = TD.Dot(a30, b, v0); a31 = TD.Dot(a31, b, v1);
        }
        int lanes = sizeof(TV) / 4;
        TD.Store(a00, acc); TD.Store(a01, acc + lanes);
        TD.Store(a10, acc + AccStride); TD.Store(a11, acc + AccStride + lanes);
        TD.Store(a20, acc + 2 * AccStride); TD.Store(a21, acc + 2 * AccStride + lanes);
        TD.Store(a30, acc + 3 * AccStride); TD.Store(a31, acc + 3 * AccStride + lanes);
    }

    /// <summary>One row (single-sample inference, token-by-token decoding): the weights stream from memory once, two
    /// groups per iteration for four independent accumulators.</summary>
    private static void One<TV, TD>(int kg, byte* x, sbyte* w0, sbyte* w1, int* acc)
        where TV : unmanaged where TD : IDot4<TV>
    {
        TV a0 = default, a1 = default, c0 = default, c1 = default;
        int g = 0;
        for (; g + 2 <= kg; g += 2)
        {
            TV b = TD.Broadcast(x + 4 * g), b2 = TD.Broadcast(x + 4 * g + 4);
            a0 = TD.Dot(a0, b, TD.Load(w0 + g * 64));
            a1 = TD.Dot(a1, b, TD.Load(w1 + g * 64));
            c0 = TD.Dot(c0, b2, TD.Load(w0 + g * 64 + 64));
            c1 = TD.Dot(c1, b2, TD.Load(w1 + g * 64 + 64));
        }
        if (g < kg)
        {
            TV b = TD.Broadcast(x + 4 * g);
            a0 = TD.Dot(a0, b, TD.Load(w0 + g * 64));
            a1 = TD.Dot(a1, b, TD.Load(w1 + g * 64));
        }
        int lanes = sizeof(TV) / 4;
        TD.Store(TD.Add(a0, c0), acc);
        TD.Store(TD.Add(a1, c1), acc + lanes);
    }

    private static void ScalarTile(int rows, int kg, byte* x, int ldq, sbyte* packed, int c0, int* acc)
    {
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < 8; j++)
            {
                sbyte* w = At(packed, kg, c0 + j);
                byte* xr = x + (long)r * ldq;
                int s = 0;
                for (int g = 0; g < kg; g++)
                    s += xr[4 * g] * w[g * 64] + xr[4 * g + 1] * w[g * 64 + 1] + xr[4 * g + 2] * w[g * 64 + 2] + xr[4 * g + 3] * w[g * 64 + 3];
                acc[r * AccStride + j] = s;
            }
    }

    /// <summary>y = ((float)(acc − z_x·Σw)·s_x)·s_w (+ b) (ReLU), the same operations in the same order on every path.</summary>
    private static void Epilogue(int rows, int cols, int* acc, float* xs, int* xz, float* ws, int* wsum, float* b, float* y, int ldy, bool relu)
    {
        for (int r = 0; r < rows; r++)
        {
            int* a = acc + r * AccStride;
            float s = xs[r];
            int z = xz[r];
            float* yr = y + (long)r * ldy;
            int j = 0;
            if (Vector128.IsHardwareAccelerated)
            {
                var vs = Vector128.Create(s);
                var vz = Vector128.Create(z);
                for (; j + 4 <= cols; j += 4)
                {
                    var v = Vector128.ConvertToSingle(Vector128.Load(a + j) - vz * Vector128.Load(wsum + j)) * vs * Vector128.Load(ws + j);
                    if (b != null) v += Vector128.Load(b + j);
                    if (relu) v = Vector128.Max(v, Vector128<float>.Zero);
                    v.Store(yr + j);
                }
            }
            for (; j < cols; j++)
            {
                float v = (float)(a[j] - z * wsum[j]) * s * ws[j];
                if (b != null) v += b[j];
                if (relu) v = MathF.Max(v, 0);
                yr[j] = v;
            }
        }
    }

    // ------------------------------------------------------------------ one multiply-add step per instruction set

    /// <summary>acc + Σ over each 32-bit lane's four byte products (x unsigned 0…127, w signed).</summary>
    private interface IDot4<TV> where TV : unmanaged
    {
        static abstract TV Load(sbyte* p);
        static abstract TV Broadcast(byte* x);
        static abstract TV Dot(TV acc, TV x, TV w);
        static abstract TV Add(TV a, TV b);
        static abstract void Store(TV v, int* p);
    }

    private readonly struct Avx512Dot : IDot4<Vector512<int>>
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<int> Load(sbyte* p) => Vector512.Load((int*)p);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<int> Broadcast(byte* x) => Vector512.Create(*(int*)x);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<int> Dot(Vector512<int> acc, Vector512<int> x, Vector512<int> w) =>
            acc + Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(x.AsByte(), w.AsSByte()), Vector512<short>.One);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<int> Add(Vector512<int> a, Vector512<int> b) => a + b;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector512<int> v, int* p) => v.Store(p);
    }

    private readonly struct VnniDot : IDot4<Vector256<int>>
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<int> Load(sbyte* p) => Vector256.Load((int*)p);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<int> Broadcast(byte* x) => Vector256.Create(*(int*)x);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> Dot(Vector256<int> acc, Vector256<int> x, Vector256<int> w) => AvxVnni.MultiplyWideningAndAdd(acc, x.AsByte(), w.AsSByte());
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<int> Add(Vector256<int> a, Vector256<int> b) => a + b;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector256<int> v, int* p) => v.Store(p);
    }

    private readonly struct Avx2Dot : IDot4<Vector256<int>>
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<int> Load(sbyte* p) => Vector256.Load((int*)p);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<int> Broadcast(byte* x) => Vector256.Create(*(int*)x);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> Dot(Vector256<int> acc, Vector256<int> x, Vector256<int> w) =>
            acc + Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(x.AsByte(), w.AsSByte()), Vector256<short>.One);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<int> Add(Vector256<int> a, Vector256<int> b) => a + b;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector256<int> v, int* p) => v.Store(p);
    }

    private readonly struct Ssse3Dot : IDot4<Vector128<int>>
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<int> Load(sbyte* p) => Vector128.Load((int*)p);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<int> Broadcast(byte* x) => Vector128.Create(*(int*)x);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<int> Dot(Vector128<int> acc, Vector128<int> x, Vector128<int> w) =>
            acc + Sse2.MultiplyAddAdjacent(Ssse3.MultiplyAddAdjacent(x.AsByte(), w.AsSByte()), Vector128<short>.One);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<int> Add(Vector128<int> a, Vector128<int> b) => a + b;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector128<int> v, int* p) => v.Store(p);
    }

    /// <summary>ARM64 <c>sdot</c>: activations 0…127 are valid signed bytes, so the signed dot product is exact.</summary>
    private readonly struct NeonDot : IDot4<Vector128<int>>
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<int> Load(sbyte* p) => Vector128.Load((int*)p);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<int> Broadcast(byte* x) => Vector128.Create(*(int*)x);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<int> Dot(Vector128<int> acc, Vector128<int> x, Vector128<int> w) => Dp.DotProduct(acc, x.AsSByte(), w.AsSByte());
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<int> Add(Vector128<int> a, Vector128<int> b) => a + b;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector128<int> v, int* p) => v.Store(p);
    }
}
