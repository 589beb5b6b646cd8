using Ember.Kernels;

namespace Ember;

public sealed partial class Tensor
{
    /// <summary>2·M·N·K per matrix of the broadcast batch, for the profiler (shapes that do not broadcast: counted by
    /// the error that follows, i.e. not at all).</summary>
    private static void CountMatmulFlops(Tensor a, Tensor b)
    {
        long batch = 1;
        try { foreach (int d in ShapeUtil.Broadcast("Matmul", a.Shape[..^2], b.Shape[..^2])) batch *= d; }
        catch (ArgumentException) { return; }
        Diagnostics.Profiler.AddFlops(2L * batch * a.Size(-2) * a.Size(-1) * b.Size(-1));
    }

    /// <summary>Matrix product with <c>torch.matmul</c> semantics: 1-D·1-D is a dot product, a 1-D operand is
    /// promoted to a matrix and the added dim removed afterwards, and leading (batch) dims broadcast.</summary>
    public Tensor Matmul(Tensor other)
    {
        // 16-bit operands are widened (exactly) and the product accumulates in float32.
        if (DType.IsLowPrecision() || other.DType.IsLowPrecision())
            return (DType.IsLowPrecision() ? To(DType.Float32) : this).Matmul(other.DType.IsLowPrecision() ? other.To(DType.Float32) : other);
        if (!IsComplex && !other.IsComplex)
        {
            CheckSameDType("Matmul", this, other);
            CheckFloating("Matmul");
        }
        if (Dim == 0 || other.Dim == 0)
            throw new ArgumentException($"Matmul: both arguments need at least 1 dimension; got shapes {ShapeUtil.Str(_shape)} and {ShapeUtil.Str(other._shape)}.");
        var a = Dim == 1 ? Unsqueeze(0) : this;
        var b = other.Dim == 1 ? other.Unsqueeze(-1) : other;
        if (Diagnostics.Profiler.Enabled) CountMatmulFlops(a, b);
        var r = MatmulCore(a, b);
        if (other.Dim == 1) r = r.Squeeze(-1);
        if (Dim == 1) r = r.Squeeze(Dim == 1 && other.Dim == 1 ? 0 : -2 + (other.Dim == 1 ? 1 : 0));
        return r;
    }

    /// <summary><c>torch.matmul(input, other, out=destination)</c>: the product written into an existing contiguous
    /// tensor of the result's shape and dtype, which is returned. For loops that multiply the same shapes again and
    /// again (inference, a benchmark): a fresh result of a megabyte or more is a new large-object array whose pages the
    /// OS faults in on first write, which on a 2-core VM measured 0.35–0.55 ms per MB, 10–25% of a 512² product.
    /// Like PyTorch's <c>out=</c>, it does not take part in autograd: it refuses operands that require grad while
    /// gradients are enabled, and a destination that requires grad or shares storage with an operand.</summary>
    public Tensor Matmul(Tensor other, Tensor destination)
    {
        ArgumentNullException.ThrowIfNull(other);
        ArgumentNullException.ThrowIfNull(destination);
        if (AnyRequiresGrad(this, other) || destination.RequiresGrad)
            throw new InvalidOperationException(
                $"Matmul: a destination (out=) does not support automatic differentiation; operands {ShapeUtil.Str(_shape)} " +
                $"(requires grad: {RequiresGrad}) and {ShapeUtil.Str(other._shape)} (requires grad: {other.RequiresGrad}), destination " +
                $"requires grad: {destination.RequiresGrad}. Call it under Tensor.NoGrad() or without a destination.");
        if (IsComplex || other.IsComplex || DType.IsLowPrecision() || other.DType.IsLowPrecision())
            throw new NotSupportedException($"Matmul: a destination needs float32 or float64 operands, got {DType.Name()} and {other.DType.Name()}.");
        CheckSameDType("Matmul", this, other);
        CheckFloating("Matmul");
        if (Dim < 2 || other.Dim < 2)
            throw new ArgumentException($"Matmul: a destination needs operands with at least 2 dimensions; got shapes {ShapeUtil.Str(_shape)} and {ShapeUtil.Str(other._shape)}.");
        var (batch, m, n, k, outShape) = ProductShape(this, other);
        if (!ShapeUtil.SameShape(destination._shape, outShape) || destination.DType != DType)
            throw new ArgumentException($"Matmul: destination has shape {ShapeUtil.Str(destination._shape)} and dtype {destination.DType.Name()}; " +
                $"the product of {ShapeUtil.Str(_shape)} and {ShapeUtil.Str(other._shape)} is {ShapeUtil.Str(outShape)} {DType.Name()}.");
        if (!destination.IsContiguous)
            throw new ArgumentException($"Matmul: destination {ShapeUtil.Str(destination._shape)} must be contiguous (strides {ShapeUtil.Str(destination._strides)}).");
        if (destination.SharesStorageWith(this) || destination.SharesStorageWith(other))
            throw new ArgumentException("Matmul: destination shares storage with an operand; the product would read what it overwrites.");
        if (Diagnostics.Profiler.Enabled) CountMatmulFlops(this, other);
        MatmulKernel(this, other, destination, batch, m, n, k);
        destination.MarkModified();
        return destination;
    }

    /// <summary>2-D matrix product (<c>torch.mm</c>).</summary>
    public Tensor Mm(Tensor other)
    {
        if (Dim != 2 || other.Dim != 2)
            throw new ArgumentException($"Mm: expects two 2-D tensors, got shapes {ShapeUtil.Str(_shape)} and {ShapeUtil.Str(other._shape)}.");
        return Matmul(other);
    }

    /// <summary>Dot product of two 1-D tensors.</summary>
    public Tensor Dot(Tensor other)
    {
        if (Dim != 1 || other.Dim != 1)
            throw new ArgumentException($"Dot: expects two 1-D tensors, got shapes {ShapeUtil.Str(_shape)} and {ShapeUtil.Str(other._shape)}.");
        return Matmul(other);
    }

    /// <summary>The broadcast batch, m, n, k and result shape of a product of two (…, m, k)·(…, k, n) operands; a
    /// mismatch of the inner dimensions is an error naming both shapes.</summary>
    private static (int[] Batch, int M, int N, int K, int[] OutShape) ProductShape(Tensor a, Tensor b)
    {
        int m = a._shape[^2], k = a._shape[^1], k2 = b._shape[^2], n = b._shape[^1];
        if (k != k2)
            throw new ArgumentException($"Matmul: shapes {ShapeUtil.Str(a._shape)} and {ShapeUtil.Str(b._shape)} cannot be multiplied ({m}x{k} and {k2}x{n}).");
        var batchA = a._shape[..^2];
        var batchB = b._shape[..^2];
        var batch = ShapeUtil.SameShape(batchA, batchB) ? batchA : ShapeUtil.Broadcast("Matmul", batchA, batchB);
        return (batch, m, n, k, batch.Append(m).Append(n).ToArray());
    }

    private static Tensor MatmulCore(Tensor a, Tensor b)
    {
        if (a.IsComplex || b.IsComplex) return ComplexMatmulCore(a, b);
        var (batch, m, n, k, outShape) = ProductShape(a, b);
        var r = Empty(a.DType, outShape);
        MatmulKernel(a, b, r, batch, m, n, k);
        if (!AnyRequiresGrad(a, b)) return r;
        return r.Record("MatmulBackward", [a, b], g => [
            a.RequiresGrad ? MatmulCore(g, b.Saved().MT).SumTo(a._shape) : null,
            b.RequiresGrad ? MatmulCore(a.Saved().MT, g).SumTo(b._shape) : null], a, b);
    }

    private static unsafe void MatmulKernel(Tensor a, Tensor b, Tensor r, int[] batch, int m, int n, int k)
    {
        int nb = ShapeUtil.NumEl(batch);
        if (nb == 0 || m == 0 || n == 0) return;
        // A stack of matrices times one matrix: fold the batch into the rows when A's rows are evenly strided.
        if (b.Dim == 2 && a.Dim > 2)
        {
            var rows = a.Detach().Reshape(-1, k);
            if (rows.SharesStorageWith(a))
            {
                MatmulKernel(rows, b, r.Detach().View(-1, n), [], rows._shape[0], n, k);
                return;
            }
        }
        var ae = a.Detach().Expand(batch.Append(m).Append(k).ToArray());
        var be = b.Detach().Expand(batch.Append(k).Append(n).ToArray());
        if (a.DType == DType.Float64 && be._strides[^1] != 1 && n > 1)
            be = be.Contiguous();
        int nd = batch.Length;
        int rsa = ae._strides[^2], csa = ae._strides[^1], rsb = be._strides[^2], csb = be._strides[^1];
        var offA = new int[nb];
        var offB = new int[nb];
        for (int t = 0, rem; t < nb; t++)
        {
            rem = t;
            int oa = ae._offset, ob = be._offset;
            for (int d = nd - 1; d >= 0; d--)
            {
                int i = rem % batch[d];
                rem /= batch[d];
                oa += i * ae._strides[d];
                ob += i * be._strides[d];
            }
            offA[t] = oa;
            offB[t] = ob;
        }
        long perFlops = 2L * m * n * k;
        // Many small products (attention heads): one thread per product. Few large ones: threads inside each.
        bool batchParallel = nb >= Parallelism.NumThreads && perFlops < 16_000_000;
        if (a.DType == DType.Float32)
        {
            fixed (float* pa = ae.Data<float>(), pb = be.Data<float>(), pr = r.Data<float>())
            {
                nint xa = (nint)pa, xb = (nint)pb, xr = (nint)(pr + r._offset);
                if (batchParallel)
                    Parallelism.For(nb, Math.Max(1, (int)(4_000_000 / Math.Max(perFlops, 1))), (s, e) =>
                    {
                        for (int t = s; t < e; t++)
                            Gemm.Sgemm(m, n, k, (float*)xa + offA[t], rsa, csa, (float*)xb + offB[t], rsb, csb, (float*)xr + (long)t * m * n, n, false, parallel: false);
                    });
                else
                    for (int t = 0; t < nb; t++)
                        Gemm.Sgemm(m, n, k, pa + offA[t], rsa, csa, pb + offB[t], rsb, csb, pr + r._offset + (long)t * m * n, n, false);
            }
        }
        else
        {
            fixed (double* pa = ae.Data<double>(), pb = be.Data<double>(), pr = r.Data<double>())
            {
                for (int t = 0; t < nb; t++)
                    Gemm.Dgemm(m, n, k, pa + offA[t], rsa, csa, pb + offB[t], rsb, pr + r._offset + (long)t * m * n, n, false);
            }
        }
    }
}
