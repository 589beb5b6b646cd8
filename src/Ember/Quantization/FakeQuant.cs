using Ember.NN;

namespace Ember.Quantization;

/// <summary>
/// Quantization-aware training (Jacob et al., 2018, "Quantization and training of neural networks for efficient
/// integer-arithmetic-only inference"): the forward pass sees the values int8 inference will compute with, the
/// backward pass the straight-through estimator (the gradient passes where the value fell inside the quantized range,
/// zero where it was clamped; <c>torch.fake_quantize_per_channel_affine</c>'s rule). The roundings are exactly those of
/// <see cref="Quantize.Dynamic"/>'s kernels: weights per output channel, symmetric, scale max|w|/127, levels −127…127;
/// inputs per row, 7-bit with a zero point (<see cref="Kernels.Int8Gemm.RowParameters"/>), so a model trained with
/// fake quantization and then converted computes what it was trained to compute.
/// </summary>
public static class FakeQuant
{
    /// <summary>The weight (out, in) as its int8 values times their per-channel scales; gradient: straight through.</summary>
    public static Tensor WeightPerChannel(Tensor weight)
    {
        ArgumentNullException.ThrowIfNull(weight);
        if (weight.Dim != 2 || weight.DType != DType.Float32)
            throw new ArgumentException($"FakeQuant.WeightPerChannel: a float32 (out, in) weight, got {weight.DType.Name()} {ShapeUtil.Str(weight.Shape)}");
        int m = weight.Size(0), k = weight.Size(1);
        var w = weight.Detach().Contiguous().ToArray<float>();
        var y = new float[w.Length];
        var pass = new bool[w.Length];
        for (int j = 0; j < m; j++)
        {
            var row = w.AsSpan(j * k, k);
            float amax = 0;
            foreach (float v in row) amax = MathF.Max(amax, MathF.Abs(v));
            float scale = amax > 0 ? amax / 127 : 1;                  // as Int8Weight.Quantize
            for (int i = 0; i < k; i++)
            {
                float q = MathF.Round(row[i] / scale);
                pass[j * k + i] = q is >= -127 and <= 127;
                y[j * k + i] = Math.Clamp(q, -127, 127) * scale;
            }
        }
        return StraightThrough("FakeQuantWeightBackward", weight, Tensor.FromArray(y, [m, k]), pass);
    }

    /// <summary>The input (…, in) as the per-row 7-bit levels the int8 kernels quantize it to, dequantized; gradient:
    /// straight through (every value lies in its row's range, so all of it passes).</summary>
    public static Tensor ActivationPerRow(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.Dim == 0 || input.DType != DType.Float32)
            throw new ArgumentException($"FakeQuant.ActivationPerRow: a float32 input, got {input.DType.Name()} {ShapeUtil.Str(input.Shape)}");
        int k = input.Size(-1), rows = input.NumEl / Math.Max(1, k);
        var x = input.Detach().Contiguous().ToArray<float>();
        var y = new float[x.Length];
        var pass = new bool[x.Length];
        for (int r = 0; r < rows; r++)
        {
            var row = x.AsSpan(r * k, k);
            float lo = float.PositiveInfinity, hi = float.NegativeInfinity;
            foreach (float v in row) { lo = MathF.Min(lo, v); hi = MathF.Max(hi, v); }
            if (!float.IsFinite(lo) || !float.IsFinite(hi))
                throw new ArgumentException($"FakeQuant.ActivationPerRow: row {r} holds a non-finite value (min {lo}, max {hi})");
            var (scale, zp) = Kernels.Int8Gemm.RowParameters(lo, hi);
            float inv = 1 / scale;
            for (int i = 0; i < k; i++)
            {
                float q = MathF.Round(row[i] * inv) + zp;
                pass[r * k + i] = q is >= 0 and <= Kernels.Int8Gemm.ActivationMax;
                y[r * k + i] = (Math.Clamp(q, 0, Kernels.Int8Gemm.ActivationMax) - zp) * scale;
            }
        }
        return StraightThrough("FakeQuantActivationBackward", input, Tensor.FromArray(y, input.Shape), pass);
    }

    private static Tensor StraightThrough(string name, Tensor x, Tensor y, bool[] pass)
    {
        if (!(GradMode.IsEnabled && x.RequiresGrad)) return y;
        var mask = Tensor.FromArray(pass, x.Shape).To(DType.Float32);
        return y.Record(name, x, g => g.Mul(mask));
    }
}
