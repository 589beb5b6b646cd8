namespace Ember.Distributions;

/// <summary>Bernoulli(p) over {0, 1} (<c>torch.distributions.Bernoulli</c>), given probabilities or logits
/// (log-odds). Probabilities and log-probabilities are computed from the logits without overflow.</summary>
public sealed class Bernoulli : Distribution
{
    /// <summary>P(x = 1), in [0, 1].</summary>
    public Tensor Probs { get; }
    /// <summary>ln(p / (1 − p)).</summary>
    public Tensor Logits { get; }

    /// <summary>Exactly one of <paramref name="probs"/> and <paramref name="logits"/>.</summary>
    public Bernoulli(Tensor? probs = null, Tensor? logits = null, bool validateArgs = true)
        : base(Pick("Bernoulli", probs, logits).Shape, [], Pick("Bernoulli", probs, logits).DType, validateArgs)
    {
        if (probs is not null)
        {
            Require(validateArgs, "Bernoulli", "probs", probs, v => v >= 0 && v <= 1, "in [0, 1]");
            Probs = probs;
            // ln p − ln(1 − p) with p clamped inside (0, 1) by the dtype's resolution, as PyTorch's probs_to_logits.
            double eps = probs.DType == DType.Float32 ? 1.1920928955078125e-07 : 2.220446049250313e-16;
            var clamped = probs.Clamp(eps, 1 - eps);
            Logits = clamped.Log().Sub(clamped.Neg().Add(1).Log());
        }
        else
        {
            Require(validateArgs, "Bernoulli", "logits", logits!, v => !double.IsNaN(v), "a number");
            Logits = logits!;
            Probs = logits!.Sigmoid();
        }
    }

    internal static Tensor Pick(string family, Tensor? probs, Tensor? logits)
    {
        if ((probs is null) == (logits is null))
            throw new ArgumentException($"{family}: pass exactly one of probs and logits.");
        var t = probs ?? logits!;
        if (t.DType != DType.Float32 && t.DType != DType.Float64)
            throw new ArgumentException($"{family}: {(probs is null ? "logits" : "probs")} must be float32 or float64, got {t.DType.Name()}.");
        return t;
    }

    /// <inheritdoc/>
    public override Tensor Mean => Probs;
    /// <inheritdoc/>
    public override Tensor Variance => Probs.Mul(Probs.Neg().Add(1));

    /// <inheritdoc/>
    protected override Tensor SampleCore(int[] shape, Generator generator) =>
        Tensor.Rand(shape, DType, generator).Lt(Probs.Detach()).To(DType);

    /// <summary>x·logit − softplus(logit) (= −BCEWithLogits(logit, x)).</summary>
    public override Tensor LogProb(Tensor value)
    {
        Require(ValidateArgs, "Bernoulli.LogProb", "value", value, v => v == 0 || v == 1, "0 or 1");
        return value.Mul(Logits).Sub(Softplus(Logits));
    }

    /// <summary>softplus(logit) − p·logit.</summary>
    public override Tensor Entropy() => Softplus(Logits).Sub(Probs.Mul(Logits));
}

/// <summary>Categorical over {0, …, K − 1} along the last dimension of probs or logits
/// (<c>torch.distributions.Categorical</c>): batch shape = the parameter's shape without its last dimension, draws
/// are int64. Probabilities need not be normalized (they are divided by their sum); logits are normalized by
/// log-sum-exp.</summary>
public sealed class Categorical : Distribution
{
    /// <summary>Normalized probabilities, BatchShape ++ [K].</summary>
    public Tensor Probs { get; }
    /// <summary>Normalized log-probabilities (log-softmax of the logits), BatchShape ++ [K].</summary>
    public Tensor Logits { get; }
    /// <summary>Number of categories K.</summary>
    public int NumCategories { get; }

    /// <summary>Exactly one of <paramref name="probs"/> and <paramref name="logits"/>, each with the categories last.</summary>
    public Categorical(Tensor? probs = null, Tensor? logits = null, bool validateArgs = true)
        : base(BatchOf(Bernoulli.Pick("Categorical", probs, logits)), [], Bernoulli.Pick("Categorical", probs, logits).DType, validateArgs)
    {
        var t = probs ?? logits!;
        NumCategories = t.Shape[^1];
        if (NumCategories < 1) throw new ArgumentException("Categorical: no categories (last dimension 0).");
        if (probs is not null)
        {
            Require(validateArgs, "Categorical", "probs", probs, v => v >= 0 && double.IsFinite(v), "non-negative and finite");
            var sums = probs.Detach().Sum(-1).Contiguous().ToArrayDouble();
            for (int i = 0; validateArgs && i < sums.Length; i++)
                if (!(sums[i] > 0)) throw new ArgumentException($"Categorical: the probabilities of batch element {i} sum to {sums[i]}; they need a positive sum.");
            Probs = probs.Div(probs.Sum(-1, keepDim: true));
            double tiny = probs.DType == DType.Float32 ? 1.1754943508222875e-38 : 2.2250738585072014e-308;
            Logits = Probs.Clamp(tiny, 1).Log();
        }
        else
        {
            Require(validateArgs, "Categorical", "logits", logits!, v => !double.IsNaN(v) && !double.IsPositiveInfinity(v), "a number below +∞");
            Logits = logits!.Sub(logits!.LogSumExp(-1, keepDim: true));
            Probs = Logits.Exp();
        }
    }

    private static int[] BatchOf(Tensor t) => t.Dim >= 1
        ? t.Shape[..^1]
        : throw new ArgumentException($"Categorical: the parameter needs at least one dimension (the categories), got shape [{string.Join(", ", t.Shape)}].");

    /// <summary>Undefined for categories: NaN (as PyTorch).</summary>
    public override Tensor Mean => Tensor.Full(BatchShape, double.NaN, DType);
    /// <summary>Undefined for categories: NaN (as PyTorch).</summary>
    public override Tensor Variance => Tensor.Full(BatchShape, double.NaN, DType);

    /// <summary>Inverse-CDF draws: one uniform per draw against the running sum of the probabilities.</summary>
    protected override Tensor SampleCore(int[] shape, Generator generator)
    {
        var p = Probs.Detach().Contiguous().ToArrayDouble();
        int k = NumCategories, batch = Math.Max(1, ShapeUtil.NumEl(BatchShape)), n = ShapeUtil.NumEl(shape);
        var draws = new long[n];
        for (int i = 0; i < n; i++)
        {
            int row = i % batch;
            double u = generator.NextDouble(), acc = 0;
            int c = 0;
            for (; c < k - 1; c++)
            {
                acc += p[row * k + c];
                if (u < acc) break;
            }
            // Past the last positive probability (u beyond a sum rounded below 1): the last category with mass.
            while (c > 0 && p[row * k + c] == 0) c--;
            draws[i] = c;
        }
        return Tensor.FromArray(draws, n).Reshape(shape);
    }

    /// <summary>The normalized logit of each value's category; values are int64 (or integral floats) in [0, K).</summary>
    public override Tensor LogProb(Tensor value)
    {
        var v = value.DType == DType.Int64 ? value : value.To(DType.Int64);
        if (ValidateArgs)
        {
            var raw = value.Detach().Contiguous().ToArrayDouble();
            for (int i = 0; i < raw.Length; i++)
                if (!(raw[i] >= 0 && raw[i] < NumCategories && raw[i] == Math.Floor(raw[i])))
                    throw new ArgumentException($"Categorical.LogProb: values must be integers in [0, {NumCategories}); element {i} is {raw[i]}.");
        }
        var shape = ShapeUtil.Broadcast("Categorical.LogProb", v.Shape, BatchShape);
        var logits = Logits.Expand([.. shape, NumCategories]);
        return logits.Gather(-1, v.Expand(shape).Unsqueeze(-1)).Squeeze(-1);
    }

    /// <summary>−Σₖ pₖ ln pₖ (zero-probability categories contribute 0).</summary>
    public override Tensor Entropy()
    {
        double min = DType == DType.Float32 ? float.MinValue : double.MinValue;
        return Probs.Mul(Logits.Clamp(min, double.PositiveInfinity)).Sum(-1).Neg();
    }
}

/// <summary>Reinterprets the last <c>reinterpretedBatchNdims</c> batch dimensions of a distribution as event
/// dimensions (<c>torch.distributions.Independent</c>): log-probabilities and entropies are summed over them. With
/// <see cref="Normal"/>, a multivariate normal with diagonal covariance.</summary>
public sealed class Independent : Distribution
{
    /// <summary>The distribution whose batch dimensions are reinterpreted.</summary>
    public Distribution BaseDistribution { get; }
    /// <summary>How many trailing batch dimensions became event dimensions.</summary>
    public int ReinterpretedBatchNdims { get; }

    /// <summary>The last <paramref name="reinterpretedBatchNdims"/> batch dimensions of <paramref name="baseDistribution"/> as event dimensions.</summary>
    public Independent(Distribution baseDistribution, int reinterpretedBatchNdims)
        : base(Split(baseDistribution, reinterpretedBatchNdims).Batch, Split(baseDistribution, reinterpretedBatchNdims).Event,
            baseDistribution.DType, baseDistribution.ValidateArgs)
    {
        BaseDistribution = baseDistribution;
        ReinterpretedBatchNdims = reinterpretedBatchNdims;
    }

    private static (int[] Batch, int[] Event) Split(Distribution d, int n)
    {
        ArgumentNullException.ThrowIfNull(d);
        if (n < 0 || n > d.BatchShape.Length)
            throw new ArgumentException($"Independent: reinterpretedBatchNdims must be in [0, {d.BatchShape.Length}] for a base with batch shape [{string.Join(", ", d.BatchShape)}], got {n}.");
        return (d.BatchShape[..^n], [.. d.BatchShape[^n..], .. d.EventShape]);
    }

    /// <inheritdoc/>
    public override bool HasRSample => BaseDistribution.HasRSample;
    /// <inheritdoc/>
    public override Tensor Mean => BaseDistribution.Mean;
    /// <inheritdoc/>
    public override Tensor Variance => BaseDistribution.Variance;

    /// <inheritdoc/>
    protected override Tensor SampleCore(int[] shape, Generator generator) =>
        HasRSample ? BaseDistribution.RSample(shape[..^(BatchShape.Length + EventShape.Length)], generator)
            : BaseDistribution.Sample(shape[..^(BatchShape.Length + EventShape.Length)], generator);

    /// <inheritdoc/>
    public override Tensor LogProb(Tensor value) => SumRightmost(BaseDistribution.LogProb(value), ReinterpretedBatchNdims);

    /// <inheritdoc/>
    public override Tensor Entropy() => SumRightmost(BaseDistribution.Entropy(), ReinterpretedBatchNdims);

    internal static Tensor SumRightmost(Tensor t, int n) =>
        n == 0 ? t : t.Sum(Enumerable.Range(t.Dim - n, n).ToArray());
}
