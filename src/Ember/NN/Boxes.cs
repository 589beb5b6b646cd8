namespace Ember.NN;

/// <summary>How a box is written: corners (x1, y1, x2, y2), corner and size (x, y, w, h), or centre and size
/// (cx, cy, w, h) — torchvision's "xyxy", "xywh" and "cxcywh".</summary>
public enum BoxFormat
{
    /// <summary>(x1, y1, x2, y2), x2 ≥ x1 and y2 ≥ y1.</summary>
    Xyxy,
    /// <summary>(x1, y1, width, height).</summary>
    Xywh,
    /// <summary>(centre x, centre y, width, height).</summary>
    Cxcywh,
}

/// <summary>Bounding-box operations for detectors, with torchvision.ops' semantics: format conversion, areas, pairwise
/// IoU and generalized IoU (differentiable: built from tensor ops, so an IoU-aware loss trains through them), and
/// non-maximum suppression (per class with <see cref="BatchedNms"/>). Boxes are (N, 4) tensors.</summary>
public static class Boxes
{
    private static void Check(Tensor boxes, string op, string name = "boxes")
    {
        if (boxes.Dim != 2 || boxes.Size(1) != 4)
            throw new ArgumentException($"{op}: {name} must be (N, 4), got {ShapeUtil.Str(boxes.Shape)}.");
        if (!boxes.DType.IsFloatingPoint()) throw new ArgumentException($"{op}: {name} must be float32 or float64, got {boxes.DType.Name()}.");
    }

    private static (Tensor A, Tensor B, Tensor C, Tensor D) Columns(Tensor boxes) =>
        (boxes.Narrow(1, 0, 1), boxes.Narrow(1, 1, 1), boxes.Narrow(1, 2, 1), boxes.Narrow(1, 3, 1));

    /// <summary>Converts (N, 4) boxes from <paramref name="from"/> to <paramref name="to"/> (torchvision's box_convert).</summary>
    public static Tensor Convert(Tensor boxes, BoxFormat from, BoxFormat to)
    {
        Check(boxes, "Boxes.Convert");
        if (from == to) return boxes;
        var (a, b, c, d) = Columns(boxes);
        // To corners first.
        (Tensor x1, Tensor y1, Tensor x2, Tensor y2) = from switch
        {
            BoxFormat.Xyxy => (a, b, c, d),
            BoxFormat.Xywh => (a, b, a + c, b + d),
            _ => (a - c * 0.5, b - d * 0.5, a + c * 0.5, b + d * 0.5),
        };
        return to switch
        {
            BoxFormat.Xyxy => Tensor.Cat([x1, y1, x2, y2], 1),
            BoxFormat.Xywh => Tensor.Cat([x1, y1, x2 - x1, y2 - y1], 1),
            _ => Tensor.Cat([(x1 + x2) * 0.5, (y1 + y2) * 0.5, x2 - x1, y2 - y1], 1),
        };
    }

    /// <summary>Areas (N) of xyxy boxes: (x2 − x1)·(y2 − y1).</summary>
    public static Tensor Area(Tensor boxes)
    {
        Check(boxes, "Boxes.Area");
        var (x1, y1, x2, y2) = Columns(boxes);
        return ((x2 - x1) * (y2 - y1)).Squeeze(1);
    }

    /// <summary>Pairwise intersection over union (N, M) of xyxy boxes (torchvision's box_iou): |A∩B| / |A∪B|.</summary>
    public static Tensor Iou(Tensor boxes1, Tensor boxes2) => IouCore(boxes1, boxes2, "Boxes.Iou").Iou;

    private static (Tensor Iou, Tensor Union) IouCore(Tensor boxes1, Tensor boxes2, string op)
    {
        Check(boxes1, op, "boxes1");
        Check(boxes2, op, "boxes2");
        Tensor.CheckSameDType(op, boxes1, boxes2);
        var (ax1, ay1, ax2, ay2) = Columns(boxes1);                       // (N, 1) each
        var (bx1, by1, bx2, by2) = Columns(boxes2);
        Tensor Row(Tensor t) => t.Squeeze(1).Unsqueeze(0);                   // (1, M)
        var w = ax2.Minimum(Row(bx2)) - ax1.Maximum(Row(bx1));
        var h = ay2.Minimum(Row(by2)) - ay1.Maximum(Row(by1));
        var inter = w.Clamp(min: 0) * h.Clamp(min: 0);                       // (N, M)
        var union = Area(boxes1).Unsqueeze(1) + Area(boxes2).Unsqueeze(0) - inter;
        return (inter / union, union);
    }

    /// <summary>Pairwise generalized IoU (N, M) (Rezatofighi et al., 2019; torchvision's generalized_box_iou):
    /// IoU − |C \ (A∪B)| / |C| with C the smallest box enclosing both; in [−1, 1].</summary>
    public static Tensor GeneralizedIou(Tensor boxes1, Tensor boxes2)
    {
        var (iou, union) = IouCore(boxes1, boxes2, "Boxes.GeneralizedIou");
        var (ax1, ay1, ax2, ay2) = Columns(boxes1);
        var (bx1, by1, bx2, by2) = Columns(boxes2);
        Tensor Row(Tensor t) => t.Squeeze(1).Unsqueeze(0);
        var enclosing = (ax2.Maximum(Row(bx2)) - ax1.Minimum(Row(bx1))).Clamp(min: 0) * (ay2.Maximum(Row(by2)) - ay1.Minimum(Row(by1))).Clamp(min: 0);
        return iou - (enclosing - union) / enclosing;
    }

    /// <summary>Non-maximum suppression (torchvision's nms): boxes taken in order of decreasing score (ties: the lower
    /// index first), each discarding the later ones whose IoU with it exceeds <paramref name="iouThreshold"/>. Returns
    /// the kept indices (int64), by decreasing score.</summary>
    public static Tensor Nms(Tensor boxes, Tensor scores, double iouThreshold)
    {
        Check(boxes, "Boxes.Nms");
        int n = boxes.Size(0);
        if (scores.Dim != 1 || scores.Size(0) != n)
            throw new ArgumentException($"Boxes.Nms: scores must be (N) = ({n}), got {ShapeUtil.Str(scores.Shape)}.");
        var b = boxes.Detach().To(DType.Float64).Contiguous().ToArray<double>();
        var s = scores.Detach().To(DType.Float64).ToArray<double>();
        int bad = Array.FindIndex(s, double.IsNaN);
        if (bad >= 0) throw new ArgumentException($"Boxes.Nms: score {bad} is NaN.");
        var order = Enumerable.Range(0, n).OrderByDescending(i => s[i]).ThenBy(i => i).ToArray();
        var suppressed = new bool[n];
        var keep = new List<long>();
        for (int oi = 0; oi < n; oi++)
        {
            int i = order[oi];
            if (suppressed[i]) continue;
            keep.Add(i);
            double ix1 = b[4 * i], iy1 = b[4 * i + 1], ix2 = b[4 * i + 2], iy2 = b[4 * i + 3];
            double areaI = (ix2 - ix1) * (iy2 - iy1);
            for (int oj = oi + 1; oj < n; oj++)
            {
                int j = order[oj];
                if (suppressed[j]) continue;
                double w = Math.Min(ix2, b[4 * j + 2]) - Math.Max(ix1, b[4 * j]), h = Math.Min(iy2, b[4 * j + 3]) - Math.Max(iy1, b[4 * j + 1]);
                double inter = Math.Max(0, w) * Math.Max(0, h);
                double areaJ = (b[4 * j + 2] - b[4 * j]) * (b[4 * j + 3] - b[4 * j + 1]);
                if (inter / (areaI + areaJ - inter) > iouThreshold) suppressed[j] = true;
            }
        }
        return Tensor.FromArray(keep.ToArray(), keep.Count);
    }

    /// <summary>Non-maximum suppression within each class (torchvision's batched_nms): boxes of different classes never
    /// suppress each other. Returns the kept indices by decreasing score.</summary>
    public static Tensor BatchedNms(Tensor boxes, Tensor scores, Tensor classes, double iouThreshold)
    {
        Check(boxes, "Boxes.BatchedNms");
        int n = boxes.Size(0);
        if (classes.Dim != 1 || classes.Size(0) != n || classes.DType != DType.Int64)
            throw new ArgumentException($"Boxes.BatchedNms: classes must be int64 (N) = ({n}), got {classes.DType.Name()} {ShapeUtil.Str(classes.Shape)}.");
        if (n == 0) return Tensor.Zeros([0], DType.Int64);
        // torchvision's trick: shift each class's boxes by (class × (max coordinate + 1)) so classes never overlap.
        var b = boxes.Detach().To(DType.Float64);
        double offset = b.Max().Item() + 1;
        var shift = classes.To(DType.Float64).Mul(offset).Unsqueeze(1);
        return Nms(b + shift, scores, iouThreshold);
    }
}
