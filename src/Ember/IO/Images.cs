namespace Ember.IO;

/// <summary>Pictures made from tensors, for PNG files and TensorBoard: a grid of images (torchvision's
/// <c>make_grid</c>) and a matrix drawn as a heat map (confusion matrices, attention weights).</summary>
public static class Images
{
    /// <summary>Lays a batch of images out in rows of <paramref name="columns"/>, <paramref name="padding"/> pixels
    /// of <paramref name="padValue"/> around each, as torchvision's <c>make_grid</c> does (one channel is kept as
    /// one). Values are copied as they are (normalize first if they are not in [0, 1]).
    /// <para>Shape: images (N, C, H, W) or (N, H, W) → (C, rows·(H+p)+p, columns·(W+p)+p).</para></summary>
    public static Tensor Grid(Tensor images, int columns = 8, int padding = 2, float padValue = 0f)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.Dim == 3) images = images.Unsqueeze(1);
        if (images.Dim != 4) throw new ArgumentException($"Images.Grid: images must be (N, C, H, W) or (N, H, W), got {ShapeUtil.Str(images.Shape)}", nameof(images));
        ArgumentOutOfRangeException.ThrowIfLessThan(columns, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(padding);
        int n = images.Size(0), c = images.Size(1), h = images.Size(2), w = images.Size(3);
        if (n == 0) throw new ArgumentException("Images.Grid: no images to lay out", nameof(images));
        int cols = Math.Min(columns, n), rows = (n + cols - 1) / cols;
        int gh = rows * (h + padding) + padding, gw = cols * (w + padding) + padding;
        var src = images.To(DType.Float32).Contiguous().ToArray<float>();
        var dst = new float[(long)c * gh * gw];
        Array.Fill(dst, padValue);
        for (int i = 0; i < n; i++)
        {
            int top = padding + i / cols * (h + padding), left = padding + i % cols * (w + padding);
            for (int ch = 0; ch < c; ch++)
                for (int y = 0; y < h; y++)
                    Array.Copy(src, (((long)i * c + ch) * h + y) * w, dst, ((long)ch * gh + top + y) * gw + left, w);
        }
        return Tensor.FromArray(dst, [c, gh, gw]);
    }

    // Viridis (matplotlib's default colour map) at 9 evenly spaced points; colours between are interpolated linearly.
    private static readonly float[,] s_viridis =
    {
        { 0.267f, 0.005f, 0.329f }, { 0.279f, 0.175f, 0.483f }, { 0.230f, 0.322f, 0.546f }, { 0.173f, 0.449f, 0.558f },
        { 0.128f, 0.567f, 0.551f }, { 0.158f, 0.684f, 0.502f }, { 0.369f, 0.789f, 0.383f }, { 0.678f, 0.864f, 0.190f },
        { 0.993f, 0.906f, 0.144f },
    };

    /// <summary>A matrix as an RGB heat map: each entry scaled from [<paramref name="min"/>, <paramref name="max"/>]
    /// (the matrix's own range when null) to the viridis colour map, dark for low values and yellow for high, each
    /// entry drawn as a <paramref name="cell"/>×<paramref name="cell"/> block. NaN entries are refused.
    /// <para>Shape: matrix (H, W) → (3, H·cell, W·cell), values in [0, 1].</para></summary>
    public static Tensor Heatmap(Tensor matrix, int cell = 1, double? min = null, double? max = null)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        if (matrix.Dim != 2) throw new ArgumentException($"Images.Heatmap: the matrix must be (H, W), got {ShapeUtil.Str(matrix.Shape)}", nameof(matrix));
        ArgumentOutOfRangeException.ThrowIfLessThan(cell, 1);
        int h = matrix.Size(0), w = matrix.Size(1);
        if (h == 0 || w == 0) throw new ArgumentException($"Images.Heatmap: an empty {h}×{w} matrix has nothing to draw", nameof(matrix));
        var v = matrix.To(DType.Float64).Contiguous().ToArray<double>();
        int bad = Array.FindIndex(v, d => !double.IsFinite(d));
        if (bad >= 0) throw new ArgumentException($"Images.Heatmap: entry ({bad / w}, {bad % w}) is {v[bad]}", nameof(matrix));
        double lo = min ?? v.Min(), hi = max ?? v.Max();
        double span = hi > lo ? hi - lo : 1;
        int oh = h * cell, ow = w * cell;
        var dst = new float[3L * oh * ow];
        int last = s_viridis.GetLength(0) - 1;
        for (int i = 0; i < h; i++)
            for (int j = 0; j < w; j++)
            {
                double t = Math.Clamp((v[i * w + j] - lo) / span, 0, 1) * last;
                int k = Math.Min((int)t, last - 1);
                float f = (float)(t - k);
                for (int ch = 0; ch < 3; ch++)
                {
                    float col = s_viridis[k, ch] + f * (s_viridis[k + 1, ch] - s_viridis[k, ch]);
                    for (int y = 0; y < cell; y++)
                        Array.Fill(dst, col, (int)(((long)ch * oh + i * cell + y) * ow + j * cell), cell);
                }
            }
        return Tensor.FromArray(dst, [3, oh, ow]);
    }
}
