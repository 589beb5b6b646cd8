namespace Ember.Data;

/// <summary>An indexable collection of examples (PyTorch's map-style Dataset). Each example is a tuple of
/// tensors, e.g. (image, label).</summary>
public interface IDataset
{
    /// <summary>Number of examples.</summary>
    int Count { get; }
    /// <summary>The tensors of example <paramref name="index"/> (e.g. input and target).</summary>
    Tensor[] this[int index] { get; }
}

/// <summary>Examples are the rows (dim 0) of one or more tensors of equal length (<c>TensorDataset</c>), with an
/// optional per-example transform of the first tensor.</summary>
public sealed class TensorDataset : IDataset
{
    private readonly Tensor[] _tensors;

    /// <summary>Examples along the first dimension of <paramref name="tensors"/> (all of the same length).</summary>
    public TensorDataset(params Tensor[] tensors)
    {
        if (tensors.Length == 0) throw new ArgumentException("TensorDataset: needs at least one tensor.");
        int n = tensors[0].Size(0);
        foreach (var t in tensors)
            if (t.Dim == 0 || t.Size(0) != n)
                throw new ArgumentException($"TensorDataset: all tensors need the same first dimension; got {string.Join(" and ", tensors.Select(x => ShapeUtil.Str(x._shape)))}.");
        _tensors = tensors;
    }

    /// <summary>The tensors indexed along their first dimension.</summary>
    public IReadOnlyList<Tensor> Tensors => _tensors;

    /// <summary>Applied to the first tensor of each example when examples are read one by one (augmentation).</summary>
    public Func<Tensor, Tensor>? Transform { get; set; }

    /// <summary>Number of examples (the first dimension).</summary>
    public int Count => _tensors[0].Size(0);

    /// <summary>Example <paramref name="index"/>: one slice of each tensor.</summary>
    public Tensor[] this[int index]
    {
        get
        {
            var r = _tensors.Select(t => t.Select(0, index)).ToArray();
            if (Transform is not null) r[0] = Transform(r[0]);
            return r;
        }
    }

    /// <summary>Rows <paramref name="indices"/> of every tensor, stacked (the fast path of the loader).</summary>
    internal Tensor[] Batch(long[] indices)
    {
        var idx = Tensor.FromArray(indices);
        var r = _tensors.Select(t => t.IndexSelect(0, idx)).ToArray();
        if (Transform is not null)
            r[0] = Tensor.Stack(Enumerable.Range(0, indices.Length).Select(i => Transform(r[0].Select(0, i))).ToArray());
        return r;
    }
}

/// <summary>A view of a dataset through a list of indices (<c>Subset</c>).</summary>
public sealed class Subset(IDataset dataset, int[] indices) : IDataset
{
    /// <summary>The underlying dataset.</summary>
    public IDataset Dataset { get; } = dataset;
    /// <summary>The indices into <see cref="Dataset"/>, in order.</summary>
    public IReadOnlyList<int> Indices { get; } = indices;
    /// <summary>Number of indices.</summary>
    public int Count => Indices.Count;
    /// <summary>The example at <see cref="Indices"/>[<paramref name="index"/>].</summary>
    public Tensor[] this[int index] => Dataset[Indices[index]];
}

/// <summary>Splitting and subsetting of datasets.</summary>
public static class DatasetExtensions
{
    /// <summary>Splits into random disjoint subsets of the given sizes (<c>random_split</c>); sizes may also be
    /// fractions that add up to 1, with rounding remainders going to the first subsets, as in PyTorch.</summary>
    public static Subset[] RandomSplit(this IDataset dataset, double[] lengths, Generator? generator = null)
    {
        int n = dataset.Count;
        int[] sizes;
        if (lengths.All(l => l > 0 && l < 1 || l == 0 || l == 1) && Math.Abs(lengths.Sum() - 1) < 1e-9 && lengths.Any(l => l != Math.Floor(l)))
        {
            sizes = lengths.Select(l => (int)Math.Floor(n * l)).ToArray();
            for (int i = 0, rem = n - sizes.Sum(); rem > 0; i = (i + 1) % sizes.Length, rem--) sizes[i]++;
        }
        else sizes = lengths.Select(l => (int)l).ToArray();
        if (sizes.Sum() != n)
            throw new ArgumentException($"RandomSplit: lengths add up to {sizes.Sum()} but the dataset has {n} examples.");
        var perm = Tensor.RandPerm(n, generator).ToArray<long>();
        var result = new Subset[sizes.Length];
        int at = 0;
        for (int i = 0; i < sizes.Length; i++)
        {
            result[i] = new Subset(dataset, perm.Skip(at).Take(sizes[i]).Select(x => (int)x).ToArray());
            at += sizes[i];
        }
        return result;
    }
}
