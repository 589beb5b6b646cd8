using System.Globalization;
using System.Text;

namespace Ember;

public sealed partial class Tensor
{
    private const int SummarizeThreshold = 1000, EdgeItems = 3, LineWidth = 80;

    /// <summary>PyTorch-style printout: values (large tensors elided with "..."), then shape, dtype and grad info,
    /// e.g. <c>tensor([[1.0000, 2.5000], [3.0000, 4.0000]], shape=[2, 2], dtype=float32)</c>.</summary>
    public override string ToString()
    {
        var sb = new StringBuilder("tensor(");
        if (IsComplex)
        {
            FormatComplex(sb, Detach(), NumEl > SummarizeThreshold);
        }
        else
        {
            bool summarize = NumEl > SummarizeThreshold;
            var fmt = MakeFormatter(summarize);
            Format(sb, this.Detach(), fmt, indent: 7, summarize);
        }
        sb.Append(", shape=").Append(ShapeUtil.Str(_shape)).Append(", dtype=").Append(DType.Name());
        if (GradFn is not null) sb.Append(", grad_fn=<").Append(GradFn.Name).Append('>');
        else if (RequiresGrad) sb.Append(", requires_grad=True");
        return sb.Append(')').ToString();
    }

    private Func<double, string> MakeFormatter(bool summarize)
    {
        var inv = CultureInfo.InvariantCulture;
        if (DType == DType.Bool) return v => v != 0 ? "True" : "False";
        if (DType is DType.Int64 or DType.Int8) return v => ((long)v).ToString(inv);
        // Decide the float style from the (shown) finite values, like torch._tensor_str._Formatter.
        var vals = (summarize ? Shown(this.Detach()) : ToArrayDouble()).Where(double.IsFinite).ToArray();
        bool intMode = vals.All(v => v == Math.Floor(v));
        var nonzero = vals.Select(Math.Abs).Where(v => v > 0).ToArray();
        double max = nonzero.Length > 0 ? nonzero.Max() : 0, min = nonzero.Length > 0 ? nonzero.Min() : 0;
        bool sci = nonzero.Length > 0 && (max / min > 1000 || max > 1e8 || (!intMode && min < 1e-4));
        if (intMode && !sci) return v => double.IsFinite(v) ? v.ToString("0", inv) + "." : Special(v);
        if (sci) return v => double.IsFinite(v) ? v.ToString("0.0000e+00", inv) : Special(v);
        return v => double.IsFinite(v) ? v.ToString("0.0000", inv) : Special(v);
    }

    private static string Special(double v) => double.IsNaN(v) ? "nan" : v > 0 ? "inf" : "-inf";

    /// <summary>The values a summarized printout shows (edge items of every dim).</summary>
    private static double[] Shown(Tensor t)
    {
        if (t.Dim == 0) return [t.Item()];
        int n = t._shape[0];
        if (n <= 2 * EdgeItems) return Enumerable.Range(0, n).SelectMany(i => Shown(t.Select(0, i))).ToArray();
        return Enumerable.Range(0, EdgeItems).Concat(Enumerable.Range(n - EdgeItems, EdgeItems)).SelectMany(i => Shown(t.Select(0, i))).ToArray();
    }

    private static void Format(StringBuilder sb, Tensor t, Func<double, string> fmt, int indent, bool summarize)
    {
        int width = (summarize ? Shown(t) : t.ToArrayDouble()).Select(v => fmt(v).Length).DefaultIfEmpty(1).Max();
        FormatDim(sb, t, i => fmt(t.GetFlat(i)), width, indent, summarize);
    }

    /// <summary>Complex values print as PyTorch does: <c>1.0000+2.0000j</c>, each part with its own style.</summary>
    private static void FormatComplex(StringBuilder sb, Tensor z, bool summarize)
    {
        var (re, im) = SplitRaw(z);
        var fr = re.MakeFormatter(summarize);
        var fi = im.Abs().MakeFormatter(summarize);
        Func<int, string> cell = z.DType == DType.Complex64
            ? i => { var v = z.Data<Complex64>()[i]; return Cell(v.Real, v.Imaginary); }
            : i => { var v = z.Data<System.Numerics.Complex>()[i]; return Cell(v.Real, v.Imaginary); };
        string Cell(double r, double m) => fr(r) + (m < 0 || (m == 0 && double.IsNegative(m)) ? "-" : "+") + fi(Math.Abs(m)) + "j";
        var all = z.Contiguous().ToComplexArray();
        int width = all.Take(SummarizeThreshold).Select(v => Cell(v.Real, v.Imaginary).Length).DefaultIfEmpty(1).Max();
        FormatDim(sb, z, cell, width, indent: 7, summarize);
    }

    private static void FormatDim(StringBuilder sb, Tensor t, Func<int, string> cell, int width, int indent, bool summarize)
    {
        if (t.Dim == 0)
        {
            sb.Append(cell(t._offset));
            return;
        }
        int n = t._shape[0];
        bool cut = summarize && n > 2 * EdgeItems;
        var idx = cut ? Enumerable.Range(0, EdgeItems).Concat([-1]).Concat(Enumerable.Range(n - EdgeItems, EdgeItems)).ToArray() : Enumerable.Range(0, n).ToArray();
        sb.Append('[');
        if (t.Dim == 1)
        {
            int perLine = Math.Max(1, (LineWidth - indent) / (width + 2));
            for (int j = 0; j < idx.Length; j++)
            {
                if (j > 0)
                {
                    sb.Append(',');
                    if (j % perLine == 0) sb.Append('\n').Append(' ', indent + 1);
                    else sb.Append(' ');
                }
                sb.Append(idx[j] < 0 ? "..." : cell(t._offset + idx[j] * t._strides[0]).PadLeft(width));
            }
        }
        else
        {
            for (int j = 0; j < idx.Length; j++)
            {
                if (j > 0)
                {
                    sb.Append(',');
                    sb.Append('\n', t.Dim - 1);
                    sb.Append(' ', indent + 1);
                }
                if (idx[j] < 0) sb.Append("...");
                else FormatDim(sb, t.Select(0, idx[j]), cell, width, indent + 1, summarize);
            }
        }
        sb.Append(']');
    }
}
