using System.Text;

namespace Ember;

/// <summary>Shape arithmetic shared by all ops: strides, broadcasting, dim normalization, messages.</summary>
internal static class ShapeUtil
{
    public static int NumEl(ReadOnlySpan<int> shape)
    {
        long n = 1;
        foreach (int s in shape) n *= s;
        if (n > int.MaxValue) throw new ArgumentException($"shape {Str(shape)} has {n} elements; Ember tensors hold at most {int.MaxValue}.");
        return (int)n;
    }

    public static int[] ContiguousStrides(ReadOnlySpan<int> shape)
    {
        var strides = new int[shape.Length];
        int s = 1;
        for (int i = shape.Length - 1; i >= 0; i--)
        {
            strides[i] = s;
            s *= Math.Max(shape[i], 1);
        }
        return strides;
    }

    public static string Str(ReadOnlySpan<int> shape)
    {
        var sb = new StringBuilder("[");
        for (int i = 0; i < shape.Length; i++)
        {
            if (i > 0) sb.Append(", ");
            sb.Append(shape[i]);
        }
        return sb.Append(']').ToString();
    }

    public static void CheckShape(string op, ReadOnlySpan<int> shape)
    {
        foreach (int s in shape)
            if (s < 0) throw new ArgumentException($"{op}: negative dimension in shape {Str(shape)}.");
    }

    /// <summary>Normalizes a possibly negative dim into [0, ndim).</summary>
    public static int Dim(string op, int dim, int ndim)
    {
        int lo = ndim == 0 ? -1 : -ndim, hi = ndim == 0 ? 0 : ndim - 1;
        if (dim < lo || dim > hi)
            throw new ArgumentOutOfRangeException(nameof(dim), $"{op}: dim {dim} is out of range for a tensor of {ndim} dimension(s) (expected {lo}..{hi}).");
        return dim < 0 ? dim + Math.Max(ndim, 1) : dim;
    }

    /// <summary>NumPy broadcasting of two shapes.</summary>
    public static int[] Broadcast(string op, int[] a, int[] b)
    {
        int n = Math.Max(a.Length, b.Length);
        var r = new int[n];
        for (int i = 0; i < n; i++)
        {
            int da = i < n - a.Length ? 1 : a[i - (n - a.Length)];
            int db = i < n - b.Length ? 1 : b[i - (n - b.Length)];
            if (da == db || db == 1) r[i] = da;
            else if (da == 1) r[i] = db;
            else throw new ArgumentException($"{op}: shapes {Str(a)} and {Str(b)} cannot be broadcast together (dimension {i}: {da} vs {db}).");
        }
        return r;
    }

    /// <summary>Strides that read a tensor of <paramref name="shape"/>/<paramref name="strides"/> as if expanded to
    /// <paramref name="target"/> (stride 0 on broadcast dimensions).</summary>
    public static int[] BroadcastStrides(int[] shape, int[] strides, int[] target)
    {
        var r = new int[target.Length];
        int off = target.Length - shape.Length;
        for (int i = 0; i < shape.Length; i++)
            r[i + off] = shape[i] == 1 && target[i + off] != 1 ? 0 : strides[i];
        return r;
    }

    public static bool SameShape(ReadOnlySpan<int> a, ReadOnlySpan<int> b) => a.SequenceEqual(b);

    /// <summary>Normalized, de-duplicated, sorted reduction dims; null or empty means all dims.</summary>
    public static int[] ReduceDims(string op, int[]? dims, int ndim)
    {
        if (dims is null || dims.Length == 0)
        {
            var all = new int[ndim];
            for (int i = 0; i < ndim; i++) all[i] = i;
            return all;
        }
        var set = new SortedSet<int>();
        foreach (int d in dims)
            if (!set.Add(Dim(op, d, ndim)))
                throw new ArgumentException($"{op}: dim {d} appears more than once in the reduction dims.");
        if (ndim == 0) return [];
        return set.ToArray();
    }
}
