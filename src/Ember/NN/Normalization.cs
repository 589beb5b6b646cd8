namespace Ember.NN;

/// <summary>Batch normalization (shared by <see cref="BatchNorm1d"/> and <see cref="BatchNorm2d"/>): learnable
/// per-channel γ, β; running mean/variance buffers updated in training (momentum null = cumulative average, as
/// PyTorch); num_batches_tracked kept for checkpoint compatibility with PyTorch.
/// Shape: (N, C) or (N, C, L) for BatchNorm1d, (N, C, H, W) for BatchNorm2d → the same.</summary>
public abstract class BatchNormBase : Module
{
    /// <inheritdoc/>
    public override bool HoldsActivations => false;

    /// <summary>Channels C.</summary>
    public int NumFeatures { get; private set; }
    /// <summary>Added to the variance before the square root.</summary>
    public double Eps { get; }
    /// <summary>Running-statistics update factor (null: cumulative average).</summary>
    public double? Momentum { get; }
    /// <summary>Learnable per-channel scale γ (C), or null without affine.</summary>
    public Tensor? Weight { get; private set; }
    /// <summary>Learnable per-channel shift β (C), or null without affine.</summary>
    public Tensor? Bias { get; private set; }
    /// <summary>Running mean (C), or null without tracked statistics.</summary>
    public Tensor? RunningMean { get; private set; }
    /// <summary>Running variance (C, unbiased), or null without tracked statistics.</summary>
    public Tensor? RunningVar { get; private set; }
    /// <summary>Batches seen (int64 scalar), kept for PyTorch checkpoint compatibility.</summary>
    public Tensor? NumBatchesTracked { get; }
    private readonly string _name;
    private readonly int[] _dims;

    /// <summary>Batch normalization named <paramref name="name"/> over inputs of <paramref name="dims"/> dimensions.</summary>
    protected BatchNormBase(string name, int[] dims, int numFeatures, double eps, double? momentum, bool affine, bool trackRunningStats, DType dtype)
    {
        if (numFeatures < 1) throw new ArgumentException($"{name}: num_features must be positive, got {numFeatures}.");
        if (momentum is < 0 or > 1) throw new ArgumentException($"{name}: momentum must be in [0, 1], got {momentum}.");
        (_name, _dims, NumFeatures, Eps, Momentum) = (name, dims, numFeatures, eps, momentum);
        Weight = RegisterParameter("weight", affine ? Tensor.Ones([numFeatures], dtype) : null);
        Bias = RegisterParameter("bias", affine ? Tensor.Zeros([numFeatures], dtype) : null);
        if (trackRunningStats)
        {
            RunningMean = RegisterBuffer("running_mean", Tensor.Zeros([numFeatures], dtype));
            RunningVar = RegisterBuffer("running_var", Tensor.Ones([numFeatures], dtype));
            NumBatchesTracked = RegisterBuffer("num_batches_tracked", Tensor.Zeros([], DType.Int64));
        }
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        if (!_dims.Contains(input.Dim))
            throw new ArgumentException($"{_name}: expected {string.Join(" or ", _dims.Select(d => d + "-D"))} input, got {ShapeUtil.Str(input.Shape)}.");
        if (input.Size(1) != NumFeatures)
            throw new ArgumentException($"{_name}: input {ShapeUtil.Str(input.Shape)} has {input.Size(1)} channels, expected {NumFeatures}.");
        bool useBatchStats = Training || RunningMean is null;
        double momentum = Momentum ?? 0;
        // A checkpointed segment recomputed during backward has already updated the statistics in its first forward.
        if (Training && Autograd.Checkpoint.IsRecomputing)
            return Functional.BatchNorm(input, null, null, Weight, Bias, true, 0, Eps);
        if (Training && NumBatchesTracked is not null)
        {
            long tracked = ++NumBatchesTracked.Data<long>()[NumBatchesTracked._offset];
            NumBatchesTracked.MarkModified();
            if (Momentum is null) momentum = 1.0 / tracked;
        }
        return Functional.BatchNorm(input, useBatchStats && !Training ? null : RunningMean, useBatchStats && !Training ? null : RunningVar,
            Weight, Bias, useBatchStats, momentum, Eps);
    }

    /// <summary>Keeps only the channels <paramref name="keep"/> (int64 indices): γ, β and the running statistics.</summary>
    internal void SelectChannels(Tensor keep)
    {
        Tensor? Select(string name) => Registered(name) is null ? null : SelectAlong(name, 0, keep);
        (Weight, Bias, RunningMean, RunningVar) = (Select("weight"), Select("bias"), Select("running_mean"), Select("running_var"));
        NumFeatures = keep.Size(0);
    }

    /// <inheritdoc/>
    protected override string ExtraRepr() =>
        $"{NumFeatures}, eps={Eps}, momentum={(Momentum is null ? "None" : Momentum.ToString())}, affine={(Weight is not null ? "True" : "False")}, " +
        $"track_running_stats={(RunningMean is not null ? "True" : "False")}";
}
/// <summary>Batch normalization over (N, C) or (N, C, L).</summary>
public sealed class BatchNorm1d(int numFeatures, double eps = 1e-5, double? momentum = 0.1, bool affine = true, bool trackRunningStats = true,
    DType dtype = DType.Float32) : BatchNormBase("BatchNorm1d", [2, 3], numFeatures, eps, momentum, affine, trackRunningStats, dtype);

/// <summary>Batch normalization over (N, C, H, W).</summary>
public sealed class BatchNorm2d(int numFeatures, double eps = 1e-5, double? momentum = 0.1, bool affine = true, bool trackRunningStats = true,
    DType dtype = DType.Float32) : BatchNormBase("BatchNorm2d", [4], numFeatures, eps, momentum, affine, trackRunningStats, dtype);

/// <summary>Layer normalization over the trailing <c>normalizedShape</c> dims with elementwise γ, β.</summary>
public sealed class LayerNorm : Module
{
    /// <inheritdoc/>
    public override bool HoldsActivations => false;

    /// <summary>The trailing shape normalized over.</summary>
    public int[] NormalizedShape { get; }
    /// <summary>Added to the variance before the square root.</summary>
    public double Eps { get; }
    /// <summary>Learnable elementwise scale (the normalized shape), or null.</summary>
    public Tensor? Weight { get; }
    /// <summary>Learnable elementwise shift (the normalized shape), or null.</summary>
    public Tensor? Bias { get; }

    /// <summary>Layer normalization over the trailing <paramref name="normalizedShape"/> dimensions.</summary>
    public LayerNorm(int[] normalizedShape, double eps = 1e-5, bool elementwiseAffine = true, bool bias = true, DType dtype = DType.Float32)
    {
        if (normalizedShape.Length == 0 || normalizedShape.Any(s => s < 1))
            throw new ArgumentException($"LayerNorm: normalized_shape must be non-empty and positive, got {ShapeUtil.Str(normalizedShape)}.");
        NormalizedShape = (int[])normalizedShape.Clone();
        Eps = eps;
        Weight = RegisterParameter("weight", elementwiseAffine ? Tensor.Ones(NormalizedShape, dtype) : null);
        Bias = RegisterParameter("bias", elementwiseAffine && bias ? Tensor.Zeros(NormalizedShape, dtype) : null);
    }

    /// <summary>Layer normalization over the last dimension of size <paramref name="normalizedShape"/>.</summary>
    public LayerNorm(int normalizedShape, double eps = 1e-5, bool elementwiseAffine = true, bool bias = true, DType dtype = DType.Float32)
        : this([normalizedShape], eps, elementwiseAffine, bias, dtype) { }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Functional.LayerNorm(input, NormalizedShape, Weight, Bias, Eps);
    /// <inheritdoc/>
    protected override string ExtraRepr() => $"({string.Join(", ", NormalizedShape)},), eps={Eps}, elementwise_affine={(Weight is not null ? "True" : "False")}";
}
/// <summary>Group normalization with per-channel γ, β. Shape: (N, C, *) → the same.</summary>
public sealed class GroupNorm : Module
{
    /// <inheritdoc/>
    public override bool HoldsActivations => false;

    /// <summary>Groups the channels are split into.</summary>
    public int NumGroups { get; }
    /// <summary>Channels C.</summary>
    public int NumChannels { get; }
    /// <summary>Added to the variance before the square root.</summary>
    public double Eps { get; }
    /// <summary>Learnable per-channel scale (C), or null.</summary>
    public Tensor? Weight { get; }
    /// <summary>Learnable per-channel shift (C), or null.</summary>
    public Tensor? Bias { get; }

    /// <summary>Group normalization of <paramref name="numChannels"/> channels in <paramref name="numGroups"/> groups.</summary>
    public GroupNorm(int numGroups, int numChannels, double eps = 1e-5, bool affine = true, DType dtype = DType.Float32)
    {
        if (numGroups < 1 || numChannels < 1 || numChannels % numGroups != 0)
            throw new ArgumentException($"GroupNorm: num_groups={numGroups} must divide num_channels={numChannels}.");
        (NumGroups, NumChannels, Eps) = (numGroups, numChannels, eps);
        Weight = RegisterParameter("weight", affine ? Tensor.Ones([numChannels], dtype) : null);
        Bias = RegisterParameter("bias", affine ? Tensor.Zeros([numChannels], dtype) : null);
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Functional.GroupNorm(input, NumGroups, Weight, Bias, Eps);
    /// <inheritdoc/>
    protected override string ExtraRepr() => $"{NumGroups}, {NumChannels}, eps={Eps}, affine={(Weight is not null ? "True" : "False")}";
}

/// <summary>RMS normalization over the last dim with a learnable scale (PyTorch's <c>nn.RMSNorm</c>).
/// Shape: (*, dim) → the same.</summary>
public sealed class RMSNorm : Module
{
    /// <summary>Added to the mean square before the square root.</summary>
    public double Eps { get; }
    /// <summary>Learnable scale (dim), or null.</summary>
    public Tensor? Weight { get; }

    /// <summary>RMS normalization over a last dimension of size <paramref name="dim"/>.</summary>
    public RMSNorm(int dim, double eps = 1e-6, bool elementwiseAffine = true, DType dtype = DType.Float32)
    {
        if (dim < 1) throw new ArgumentException($"RMSNorm: dim must be positive, got {dim}.");
        Eps = eps;
        Weight = RegisterParameter("weight", elementwiseAffine ? Tensor.Ones([dim], dtype) : null);
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Functional.RmsNorm(input, Weight, Eps);
    /// <inheritdoc/>
    protected override string ExtraRepr() => $"({Weight?.Size(0)},), eps={Eps}";
}
