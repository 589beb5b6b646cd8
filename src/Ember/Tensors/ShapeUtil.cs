using System.Text;

namespace Ember;

/// <summary>Shape arithmetic shared by all ops: strides, broadcasting, dim normalization, messages.</summary>
internal static class ShapeUtil
{
    public static int NumEl(ReadOnlySpan<int> shape)
    {
        long n = Product(shape);
        if (n > int.MaxValue)
            throw new ArgumentException($"shape {Str(shape)} has {(n == long.MaxValue ? "more than 2^62" : n.ToString())} elements; Ember tensors hold at most {int.MaxValue}.");
        if (n < 0) throw new ArgumentException($"shape {Str(shape)} has a negative dimension.");
        return (int)n;
    }

    /// <summary>The product of the dims without overflow: 0 when any dim is 0, −1 when any is negative, otherwise the
    /// exact product while it stays at most 2^62, and <see cref="long.MaxValue"/> beyond that (a 64-bit product of
    /// sizes such as 65536^4 wraps to 0: every element count goes through here or <see cref="CheckedBytes"/>).</summary>
    public static long Product(ReadOnlySpan<int> shape) => Product(shape, static s => s);

    /// <summary><see cref="Product(ReadOnlySpan{int})"/> over long dims (file headers declare 64-bit sizes).</summary>
    public static long Product(ReadOnlySpan<long> shape) => Product(shape, static s => s);

    private static long Product<T>(ReadOnlySpan<T> shape, Func<T, long> value)
    {
        const long Cap = 1L << 62;
        long n = 1;
        bool saturated = false;
        foreach (var d in shape)
        {
            long s = value(d);
            if (s < 0) return -1;
            if (s == 0) return 0;
            if (saturated) continue;
            if (n > Cap / s) saturated = true;
            else n *= s;
        }
        return saturated ? long.MaxValue : n;
    }

    /// <summary>Bytes of <paramref name="count"/> elements of <paramref name="elementSize"/> bytes, or null when that
    /// exceeds 2^62 (or <paramref name="count"/> is negative or saturated).</summary>
    public static long? CheckedBytes(long count, int elementSize) =>
        count < 0 || count == long.MaxValue || count > (1L << 62) / Math.Max(elementSize, 1) ? null : count * elementSize;

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
