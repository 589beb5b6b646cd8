namespace Ember.Kernels;

/// <summary>The raw-memory side of <see cref="NN.Functional.Linear"/>: the fused forward product (bias inside the GEMM,
/// ReLU over the output while it is in cache, a dot-product path for a few rows) and the weight gradient accumulated
/// straight into the parameter's gradient buffer. The NN side validates shapes and records the backward rule.</summary>
internal static unsafe class LinearKernels
{
    /// <summary>y (N, out) = x (N, in)·Wᵀ + b, then ReLU when asked; float32, y dense, b dense or null.</summary>
    public static void Forward(Tensor x, Tensor weight, Tensor? bias, Tensor y, bool relu)
    {
        int n = x._shape[0], k = x._shape[1], m = weight._shape[0];
        var yd = y.Data<float>();
        fixed (float* px = x.Data<float>(), pw = weight.Data<float>(), py = yd, pb0 = bias is null ? null : bias.Data<float>())
        {
            float* pb = pb0 == null ? null : pb0 + bias!._offset;
            if (n <= 8 && x._strides[1] == 1 && weight._strides[1] == 1)
            {
                if (pb != null) for (int i = 0; i < n; i++) new ReadOnlySpan<float>(pb, m).CopyTo(yd.AsSpan(i * m, m));
                FewRows(n, m, k, px + x._offset, x._strides[0], pw + weight._offset, weight._strides[0], py, pb != null);
            }
            else
                // W is (out, in) row-major; read it as the (in, out) matrix Wᵀ through strides, no copy. The bias is added
                // to each output tile inside the product.
                Gemm.Sgemm(n, m, k, px + x._offset, x._strides[0], x._strides[1],
                    pw + weight._offset, weight._strides[1], weight._strides[0], py, m, accumulate: false, bias: pb);
            if (relu) Elementwise.ReluInPlace(py, (long)n * m);
        }
    }

    /// <summary>A few rows (token-by-token generation, single-sample inference): each output is a dot product of an
    /// input row with a weight row, both contiguous, so the weight is read once in place instead of being packed for
    /// a matrix product that has almost no rows to amortize the packing over. Threaded over outputs when large.</summary>
    private static void FewRows(int n, int m, int k, float* x, int ldx, float* w, int ldw, float* y, bool accumulate)
    {
        nint px = (nint)x, pw = (nint)w, py = (nint)y;
        Parallelism.For(m, Math.Max(1, 65536 / Math.Max(1, k * n)), (s, e) =>
            Gemm.RowDotsRows(n, e - s, k, (float*)pw + (long)s * ldw, ldw, (float*)px, ldx, (float*)py + s, m, accumulate));
    }

    /// <summary>True when the weight-gradient product gᵀ·x can also return Σ_rows g (the bias gradient) while it packs gᵀ.</summary>
    public static bool CanSumBias(int outFeatures, int inFeatures, int rows, Tensor g) => Gemm.CanSumRows(outFeatures, inFeatures, rows, g._strides[1]);

    /// <summary>grad (out, in) += gᵀ·x — or = when the buffer is known to be zero — with <paramref name="rowSums"/>
    /// receiving Σ over rows of g when not null; all float32, grad dense.</summary>
    public static void AddWeightGrad(Tensor g, Tensor x, Tensor grad, float[]? rowSums)
    {
        int m = grad._shape[0], n = grad._shape[1], k = x._shape[0];
        fixed (float* pg = g.Data<float>(), px = x.Data<float>(), pd = grad.Data<float>(), ps = rowSums)
            // A = gᵀ (out × N) read through g's strides; B = x (N × in); C = grad (out × in).
            Gemm.Sgemm(m, n, k, pg + g._offset, g._strides[1], g._strides[0], px + x._offset, x._strides[0], x._strides[1],
                pd + grad._offset, n, accumulate: !grad.IsKnownZero, rowSums: ps);
        grad.MarkModified();
    }
}
