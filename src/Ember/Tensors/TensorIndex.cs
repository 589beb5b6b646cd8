namespace Ember;

/// <summary>One entry of a tensor index expression: an integer (selects and drops the dim), a slice
/// (start:end:step), <see cref="NewAxis"/> (inserts a dim of size 1) or <see cref="Ellipsis"/> (all remaining dims).
/// C# ranges convert implicitly, so <c>t[.., 1..^1]</c> reads like <c>t[:, 1:-1]</c>.</summary>
public readonly struct TensorIndex
{
    internal enum Kind { Single, Slice, NewAxis, Ellipsis }

    internal readonly Kind IndexKind;
    internal readonly Index Start;
    internal readonly Index End;
    internal readonly int Step;
    internal readonly int Value;

    private TensorIndex(Kind kind, int value, Index start, Index end, int step)
    {
        IndexKind = kind; Value = value; Start = start; End = end; Step = step;
    }

    /// <summary>One position (negative counts from the end).</summary>
    public static implicit operator TensorIndex(int i) => new(Kind.Single, i, default, default, 1);
    /// <summary>One position, ^n counting from the end.</summary>
    public static implicit operator TensorIndex(Index i) => new(Kind.Single, i.IsFromEnd ? -i.Value : i.Value, default, default, 1);
    /// <summary>A range of positions (<c>t[1..^1]</c>).</summary>
    public static implicit operator TensorIndex(Range r) => new(Kind.Slice, 0, r.Start, r.End, 1);

    /// <summary>A slice with a step (<c>start:end:step</c>); step must be positive, as in PyTorch.</summary>
    public static TensorIndex Slice(Index start, Index end, int step = 1) => new(Kind.Slice, 0, start, end, step);

    /// <summary>Inserts a dimension of size 1 (<c>None</c> in PyTorch).</summary>
    public static TensorIndex NewAxis { get; } = new(Kind.NewAxis, 0, default, default, 1);

    /// <summary>Stands for all the dimensions not otherwise indexed (<c>...</c>).</summary>
    public static TensorIndex Ellipsis { get; } = new(Kind.Ellipsis, 0, default, default, 1);
}
