using Ember.NN;

namespace Ember.Quantization;

/// <summary>
/// Quantization-aware training (Jacob et al., 2018, "Quantization and training of neural networks for efficient
/// integer-arithmetic-only inference"): the forward pass sees the values int8 inference will compute with, the
/// backward pass the straight-through estimator (<c>torch.fake_quantize_per_channel_affine</c> passes the gradient
/// where the value lies inside the quantized range; the ranges here come from each weight row's and input row's own
/// extremes, so every value does and the gradient passes unchanged). The roundings are those of
/// <see cref="Quantize.Dynamic"/>'s kernels: weights per output channel, symmetric, scale max|w|/127, levels −127…127;
/// inputs per row, 7-bit with a zero point (<see cref="Kernels.Int8Gemm.RowParameters"/>), so a model trained with
/// fake quantization and then converted computes what it was trained to compute.
/// </summary>
public static class FakeQuant
{
    /// <summary>The weight (out, in) as its int8 values times their per-channel scales (<see cref="Int8Weight.Quantize"/>
    /// then <see cref="Int8Weight.Dequantize"/>: what <see cref="Quantize.Dynamic"/> will store); gradient: straight
    /// through (with the scale max|w|/127 no value is clamped, so all of it passes).</summary>
    public static Tensor WeightPerChannel(Tensor weight)
    {
        ArgumentNullException.ThrowIfNull(weight);
        if (weight.Dim != 2 || weight.DType != DType.Float32)
            throw new ArgumentException($"FakeQuant.WeightPerChannel: a float32 (out, in) weight, got {weight.DType.Name()} {ShapeUtil.Str(weight.Shape)}");
        return StraightThrough("FakeQuantWeightBackward", weight, Int8Weight.Quantize(weight.Detach()).Dequantize());
    }

    /// <summary>The input (…, in) as the per-row 7-bit levels the int8 kernels quantize it to
    /// (<see cref="Kernels.Int8Gemm.QuantizeRows"/>), dequantized; gradient: straight through (each row's range covers
    /// its values, so none is clamped).</summary>
    public static unsafe Tensor ActivationPerRow(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.Dim == 0 || input.DType != DType.Float32)
            throw new ArgumentException($"FakeQuant.ActivationPerRow: a float32 input, got {input.DType.Name()} {ShapeUtil.Str(input.Shape)}");
        int k = input.Size(-1), rows = input.NumEl / Math.Max(1, k);
        var x = input.Detach().Contiguous().ToArray<float>();
        var q = new byte[x.Length];
        var scales = new float[rows];
        var zeroPoints = new int[rows];
        fixed (float* px = x, ps = scales)
        fixed (byte* pq = q)
        fixed (int* pz = zeroPoints)
            Kernels.Int8Gemm.QuantizeRows("FakeQuant.ActivationPerRow", rows, k, px, k, pq, k, ps, pz);
        var y = new float[x.Length];
        for (int r = 0; r < rows; r++)
            for (int i = 0; i < k; i++) y[r * k + i] = (q[r * k + i] - zeroPoints[r]) * scales[r];
        return StraightThrough("FakeQuantActivationBackward", input, Tensor.FromArray(y, input.Shape));
    }

    private static Tensor StraightThrough(string name, Tensor x, Tensor y) =>
        GradMode.IsEnabled && x.RequiresGrad ? y.Record(name, x, g => g) : y;
}
