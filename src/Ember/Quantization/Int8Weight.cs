using Ember.Kernels;

namespace Ember.Quantization;

/// <summary>A weight matrix (out, in) quantized to int8 per output channel, symmetrically:
/// scale_j = max_i |w_ji| / 127 and q_ji = clamp(round(w_ji / scale_j), −127, 127) (ties to even), so w ≈ q·scale.
/// <see cref="Values"/> and <see cref="Scales"/> are what a checkpoint stores (a quarter of the float32 size plus one
/// float per channel); the packed layout the int8 kernels read is built from them on first use and rebuilt whenever
/// <see cref="Values"/> is written (for example by <see cref="NN.Module.LoadStateDict"/>).</summary>
public sealed class Int8Weight
{
    private sbyte[]? _packed;
    private int[]? _sums;
    private int _packedVersion = -1;
    private readonly object _gate = new();

    /// <summary>int8 (out, in).</summary>
    public Tensor Values { get; }
    /// <summary>float32 (out): the step of each output channel.</summary>
    public Tensor Scales { get; }
    /// <summary>Rows of the weight.</summary>
    public int OutFeatures => Values.Size(0);
    /// <summary>Columns of the weight.</summary>
    public int InFeatures => Values.Size(1);

    /// <summary>Wraps int8 values (out, in) and float32 scales (out), checking their shapes.</summary>
    public Int8Weight(Tensor values, Tensor scales)
    {
        if (values.DType != DType.Int8 || values.Dim != 2)
            throw new ArgumentException($"Int8Weight: values must be int8 (out, in), got {values.DType.Name()} {ShapeUtil.Str(values.Shape)}.");
        if (scales.DType != DType.Float32 || scales.Dim != 1 || scales.Size(0) != values.Size(0))
            throw new ArgumentException($"Int8Weight: scales must be float32 ({values.Size(0)}), got {scales.DType.Name()} {ShapeUtil.Str(scales.Shape)}.");
        if (values.Size(1) > Int8Gemm.MaxInFeatures)
            throw new ArgumentException($"Int8Weight: {values.Size(1)} inputs exceed the {Int8Gemm.MaxInFeatures} whose int32 sums cannot overflow.");
        Values = values;
        Scales = scales;
    }

    /// <summary>Quantizes a float weight (out, in) per output channel. Throws on a non-finite value, naming the channel.</summary>
    public static Int8Weight Quantize(Tensor weight)
    {
        if (weight.Dim != 2 || !weight.DType.IsFloatingPoint())
            throw new ArgumentException($"Int8Weight.Quantize: expected a float (out, in) weight, got {weight.DType.Name()} {ShapeUtil.Str(weight.Shape)}.");
        int m = weight.Size(0), k = weight.Size(1);
        var w = weight.Detach().To(DType.Float32).Contiguous().ToArray<float>();
        var q = new sbyte[w.Length];
        var scales = new float[m];
        for (int j = 0; j < m; j++)
        {
            var row = w.AsSpan(j * k, k);
            float amax = 0;
            foreach (float v in row)
            {
                if (!float.IsFinite(v)) throw new ArgumentException($"Int8Weight.Quantize: output channel {j} holds a non-finite weight ({v}).");
                amax = MathF.Max(amax, MathF.Abs(v));
            }
            float scale = amax > 0 ? amax / 127 : 1;
            scales[j] = scale;
            for (int i = 0; i < k; i++) q[j * k + i] = (sbyte)Math.Clamp(MathF.Round(row[i] / scale), -127, 127);
        }
        return new Int8Weight(Tensor.FromArray(q, m, k), Tensor.FromArray(scales));
    }

    /// <summary>The float32 weight the int8 values stand for: q·scale per channel (a new tensor).</summary>
    public Tensor Dequantize() => Values.To(DType.Float32).Mul(Scales.Unsqueeze(1));

    private (sbyte[] Packed, int[] Sums, int Version, int C, int KH, int KW)? _tapMajor;

    /// <summary>For a convolution kernel stored as (C_out, C·kH·kW) in PyTorch's (c, i, j) order: the packed weight
    /// with its columns reordered to (i, j, c), as channels-last receptive fields lay their bytes out; cached.</summary>
    internal (sbyte[] Packed, int[] Sums) TapMajor(int c, int kh, int kw)
    {
        lock (_gate)
        {
            if (_tapMajor is var (p, s, v, cc, hh, ww) && v == Values.StorageVersion && (cc, hh, ww) == (c, kh, kw)) return (p, s);
            int m = OutFeatures, k = InFeatures;
            var src = Values.Contiguous().ToArray<sbyte>();
            var reordered = new sbyte[src.Length];
            for (int o = 0; o < m; o++)
                for (int ch = 0; ch < c; ch++)
                    for (int i = 0; i < kh; i++)
                        for (int j = 0; j < kw; j++)
                            reordered[o * k + (i * kw + j) * c + ch] = src[o * k + (ch * kh + i) * kw + j];
            var packed = Int8Gemm.Pack(reordered, m, k);
            var sums = Int8Gemm.ChannelSums(reordered, m, k);
            _tapMajor = (packed, sums, Values.StorageVersion, c, kh, kw);
            return (packed, sums);
        }
    }

    /// <summary>The packed weight and per-channel sums for the kernels, rebuilt when <see cref="Values"/> changed.</summary>
    internal (sbyte[] Packed, int[] Sums) Prepared()
    {
        lock (_gate)
        {
            if (_packed is null || _packedVersion != Values.StorageVersion)
            {
                var v = Values.Contiguous().ToArray<sbyte>();
                _packed = Int8Gemm.Pack(v, OutFeatures, InFeatures);
                _sums = Int8Gemm.ChannelSums(v, OutFeatures, InFeatures);
                _packedVersion = Values.StorageVersion;
            }
            return (_packed, _sums!);
        }
    }
}
