namespace Ember.Data;

/// <summary>Image transforms on single examples of shape (C, H, W) (or (H, W)).</summary>
public static class Transforms
{
    /// <summary>(x − mean[c]) / std[c] per channel.</summary>
    public static Func<Tensor, Tensor> Normalize(double[] mean, double[] std) => x =>
    {
        if (mean.Length != std.Length) throw new ArgumentException("Normalize: mean and std need the same length.");
        int c = x.Dim == 3 ? x.Size(0) : 1;
        if (mean.Length != c && mean.Length != 1)
            throw new ArgumentException($"Normalize: {mean.Length} channel statistics for an image of shape {ShapeUtil.Str(x._shape)}.");
        var shape = x.Dim == 3 ? new[] { mean.Length, 1, 1 } : new[] { 1, 1 };
        var m = Tensor.FromArray(mean, mean.Length).To(x.DType).Reshape(x.Dim == 3 ? shape : [1, 1]);
        var s = Tensor.FromArray(std, std.Length).To(x.DType).Reshape(x.Dim == 3 ? shape : [1, 1]);
        return x.Sub(m).Div(s);
    };

    /// <summary>Pads by <paramref name="padding"/> zeros on each side, then crops a random size×size window.</summary>
    public static Func<Tensor, Tensor> RandomCrop(int size, int padding = 0, Generator? generator = null) => x =>
    {
        var g = generator ?? Generator.Default;
        var img = x.Dim == 2 ? x.Unsqueeze(0) : x;
        int c = img.Size(0), h = img.Size(1), w = img.Size(2);
        if (size > h + 2 * padding || size > w + 2 * padding)
            throw new ArgumentException($"RandomCrop: crop {size} is larger than the padded image {h + 2 * padding}x{w + 2 * padding}.");
        var padded = Tensor.Zeros([c, h + 2 * padding, w + 2 * padding], x.DType);
        padded.Narrow(1, padding, h).Narrow(2, padding, w).CopyFrom(img);
        int top = (int)g.NextInt64(0, h + 2 * padding - size + 1), left = (int)g.NextInt64(0, w + 2 * padding - size + 1);
        var crop = padded.Narrow(1, top, size).Narrow(2, left, size).Contiguous();
        return x.Dim == 2 ? crop.Squeeze(0) : crop;
    };

    /// <summary>Mirrors the last (width) dim with probability p.</summary>
    public static Func<Tensor, Tensor> RandomHorizontalFlip(double p = 0.5, Generator? generator = null) => x =>
    {
        var g = generator ?? Generator.Default;
        if (g.NextDouble() >= p) return x;
        int w = x.Size(-1);
        return x.IndexSelect(x.Dim - 1, Tensor.Arange(w - 1, -1, -1, DType.Int64));
    };

    /// <summary>Shifts each image of a batch (N, C, H, W) or (N, H, W) by a random offset in
    /// [−maxShift, maxShift] pixels along each axis, filling with zeros (random translation augmentation).</summary>
    public static Tensor RandomShift(Tensor batch, int maxShift, Generator? generator = null)
    {
        var g = generator ?? Generator.Default;
        if (batch.Dim < 3) throw new ArgumentException($"RandomShift: expected a batch of images (N, [C,] H, W), got {ShapeUtil.Str(batch._shape)}.");
        batch.CheckDType("RandomShift", DType.Float32);
        var src = batch.Contiguous();
        int n = src.Size(0), h = src.Size(-2), w = src.Size(-1), planes = src.NumEl / (n * h * w) * n;
        var dst = Tensor.Zeros(src.Shape);
        var s = src.Data<float>();
        var d = dst.Data<float>();
        int perImage = planes / n;
        for (int i = 0; i < n; i++)
        {
            int dy = (int)g.NextInt64(-maxShift, maxShift + 1), dx = (int)g.NextInt64(-maxShift, maxShift + 1);
            for (int c = 0; c < perImage; c++)
            {
                int plane = (i * perImage + c) * h * w;
                for (int y = Math.Max(0, dy); y < Math.Min(h, h + dy); y++)
                {
                    int x0 = Math.Max(0, dx), x1 = Math.Min(w, w + dx);
                    Array.Copy(s, src._offset + plane + (y - dy) * w + (x0 - dx), d, plane + y * w + x0, x1 - x0);
                }
            }
        }
        return dst;
    }

    /// <summary>Mirrors each image of a batch (N, C, H, W) or (N, H, W) left-right with probability p (a new tensor).</summary>
    public static Tensor RandomHorizontalFlipBatch(Tensor batch, double p = 0.5, Generator? generator = null)
    {
        var g = generator ?? Generator.Default;
        if (batch.Dim < 3) throw new ArgumentException($"RandomHorizontalFlipBatch: expected a batch of images (N, [C,] H, W), got {ShapeUtil.Str(batch._shape)}.");
        batch.CheckDType("RandomHorizontalFlipBatch", DType.Float32);
        var dst = batch.Contiguous().Clone();
        var d = dst.Data<float>();
        int n = dst.Size(0), w = dst.Size(-1), rowsPerImage = dst.NumEl / (n * w);
        for (int i = 0; i < n; i++)
        {
            if (g.NextDouble() >= p) continue;
            for (int r = 0; r < rowsPerImage; r++) d.AsSpan((i * rowsPerImage + r) * w, w).Reverse();
        }
        return dst;
    }

    /// <summary>Mixup (Zhang et al., 2018): λ ~ Beta(α, α) once per batch, each image blended with a partner from a
    /// random permutation of the batch, x' = λ·x + (1 − λ)·x[perm], and the targets blended alike as class
    /// probabilities (N, classes), which <see cref="NN.Functional.CrossEntropy"/> takes as soft targets.</summary>
    public static (Tensor Images, Tensor Targets) Mixup(Tensor images, Tensor labels, int numClasses, double alpha, Generator? generator = null)
    {
        var g = generator ?? Generator.Default;
        if (!(alpha > 0) || double.IsInfinity(alpha)) throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "Mixup: alpha must be a finite number > 0.");
        if (labels.DType != DType.Int64 || labels.Dim != 1 || labels.Size(0) != images.Size(0))
            throw new ArgumentException($"Mixup: labels must be int64 (N) with N = {images.Size(0)} images, got {labels.DType.Name()} {ShapeUtil.Str(labels._shape)}.");
        int n = images.Size(0);
        var ids = labels.ToArray<long>();
        int bad = Array.FindIndex(ids, v => v < 0 || v >= numClasses);
        if (bad >= 0) throw new ArgumentException($"Mixup: label {ids[bad]} at row {bad} is outside [0, {numClasses}).");
        double lambda = g.NextBeta(alpha, alpha);
        var perm = new long[n];
        for (int i = 0; i < n; i++) perm[i] = i;
        for (int i = n - 1; i > 0; i--) { int j = (int)g.NextInt64(0, i + 1); (perm[i], perm[j]) = (perm[j], perm[i]); }
        var permT = Tensor.FromArray(perm, n);
        var mixed = images * lambda + images.IndexSelect(0, permT) * (1 - lambda);
        var soft = new float[n * numClasses];
        for (int i = 0; i < n; i++)
        {
            soft[i * numClasses + ids[i]] += (float)lambda;
            soft[i * numClasses + ids[perm[i]]] += (float)(1 - lambda);
        }
        return (mixed, Tensor.FromArray(soft, n, numClasses));
    }

    /// <summary>Applies transforms in order.</summary>
    public static Func<Tensor, Tensor> Compose(params Func<Tensor, Tensor>[] transforms) => x =>
    {
        foreach (var t in transforms) x = t(x);
        return x;
    };
}
