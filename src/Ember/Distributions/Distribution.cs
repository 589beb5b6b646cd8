namespace Ember.Distributions;

/// <summary>
/// A probability distribution over tensors (<c>torch.distributions.Distribution</c>): parameters broadcast to a batch
/// shape, each batch element a distribution over values of the event shape. <see cref="Sample"/> draws without
/// gradients; <see cref="RSample"/> draws by reparameterization (the draw is a differentiable function of the
/// parameters and of parameter-free noise) where the family allows it. Parameters are checked on construction and
/// values on <see cref="LogProb"/> when <see cref="ValidateArgs"/> is on (the default, as in PyTorch since 1.8): a bad
/// one gets an <see cref="ArgumentException"/> naming the distribution, the argument and the value.
/// </summary>
public abstract class Distribution
{
    /// <summary>Shape over which parameters are batched (independent, not identically distributed).</summary>
    public int[] BatchShape { get; }

    /// <summary>Shape of a single draw.</summary>
    public int[] EventShape { get; }

    /// <summary>Whether arguments and values are checked.</summary>
    public bool ValidateArgs { get; }

    /// <summary>Element type of draws and probabilities (float32 or float64, from the parameters).</summary>
    public DType DType { get; }

    /// <summary>Records the shapes, the dtype and whether arguments are checked.</summary>
    protected Distribution(int[] batchShape, int[] eventShape, DType dtype, bool validateArgs)
    {
        BatchShape = batchShape;
        EventShape = eventShape;
        DType = dtype;
        ValidateArgs = validateArgs;
    }

    /// <summary>Whether <see cref="RSample"/> is available.</summary>
    public virtual bool HasRSample => false;

    /// <summary>Mean of each batch element (NaN where it is undefined).</summary>
    public abstract Tensor Mean { get; }

    /// <summary>Variance of each batch element.</summary>
    public abstract Tensor Variance { get; }

    /// <summary>Standard deviation: √<see cref="Variance"/>.</summary>
    public Tensor Stddev => Variance.Sqrt();

    /// <summary>Log of the density (or mass) at <paramref name="value"/>, whose trailing dims are the event shape and
    /// whose leading dims broadcast against the batch shape.</summary>
    public abstract Tensor LogProb(Tensor value);

    /// <summary>Differential (or discrete) entropy in nats of each batch element.</summary>
    public abstract Tensor Entropy();

    /// <summary>Draws of shape sampleShape ++ BatchShape ++ EventShape, outside autograd.</summary>
    public Tensor Sample(int[]? sampleShape = null, Generator? generator = null)
    {
        using (Tensor.NoGrad()) return SampleCore(ExtendedShape(sampleShape ?? []), generator ?? Generator.Default);
    }

    /// <summary>Reparameterized draws of shape sampleShape ++ BatchShape ++ EventShape: differentiable with respect to
    /// the parameters.</summary>
    public Tensor RSample(int[]? sampleShape = null, Generator? generator = null)
    {
        if (!HasRSample)
            throw new NotSupportedException($"{GetType().Name}.RSample: this family has no reparameterized sampler here; use Sample (no gradient) or a score-function estimator with LogProb.");
        return SampleCore(ExtendedShape(sampleShape ?? []), generator ?? Generator.Default);
    }

    /// <summary>Draws of the given full shape (RSample's path when <see cref="HasRSample"/>).</summary>
    protected abstract Tensor SampleCore(int[] shape, Generator generator);

    /// <summary>sampleShape ++ BatchShape ++ EventShape.</summary>
    public int[] ExtendedShape(int[] sampleShape)
    {
        foreach (int d in sampleShape)
            if (d < 0) throw new ArgumentException($"{GetType().Name}: sample shape [{string.Join(", ", sampleShape)}] has a negative size.");
        return [.. sampleShape, .. BatchShape, .. EventShape];
    }

    /// <inheritdoc/>
    public override string ToString() => $"{GetType().Name}(batch_shape=[{string.Join(", ", BatchShape)}], event_shape=[{string.Join(", ", EventShape)}])";

    // ------------------------------------------------------------------ helpers for the families

    /// <summary>The parameters broadcast to one shape (their batch shape), all of one floating dtype.</summary>
    internal static (Tensor[] Params, int[] Shape) Broadcast(string family, params (string Name, Tensor Value)[] ps)
    {
        var dtype = ps[0].Value.DType;
        foreach (var (name, v) in ps)
        {
            if (v.DType != DType.Float32 && v.DType != DType.Float64)
                throw new ArgumentException($"{family}: {name} must be float32 or float64, got {v.DType.Name()}.");
            if (v.DType != dtype)
                throw new ArgumentException($"{family}: {ps[0].Name} is {dtype.Name()} but {name} is {v.DType.Name()}; convert one with .To(DType).");
        }
        var shape = ps[0].Value.Shape;
        for (int i = 1; i < ps.Length; i++) shape = ShapeUtil.Broadcast(family, shape, ps[i].Value.Shape);
        return (ps.Select(p => ShapeUtil.SameShape(p.Value.Shape, shape) ? p.Value : p.Value.Expand(shape)).ToArray(), shape);
    }

    /// <summary>Throws unless every element of <paramref name="t"/> satisfies <paramref name="ok"/> (NaN never does).</summary>
    internal static void Require(bool validate, string family, string name, Tensor t, Func<double, bool> ok, string what)
    {
        if (!validate) return;
        var values = t.Detach().Contiguous().ToArrayDouble();
        for (int i = 0; i < values.Length; i++)
            if (!ok(values[i]))
                throw new ArgumentException($"{family}: {name} must be {what}; element {i} of {name} (shape [{string.Join(", ", t.Shape)}]) is {values[i]}.");
    }

    /// <summary>A tensor of <paramref name="shape"/> filled by <paramref name="draw"/>(i) in row-major order.</summary>
    internal static Tensor Fill(int[] shape, DType dtype, Func<int, double> draw)
    {
        int n = ShapeUtil.NumEl(shape);
        var data = new double[n];
        for (int i = 0; i < n; i++) data[i] = draw(i);
        var t = Tensor.FromArray(data, n).Reshape(shape);
        return dtype == DType.Float64 ? t : t.To(dtype);
    }

    /// <summary>log(1 + eᶻ) without overflow: max(z, 0) + log(1 + e^(−|z|)).</summary>
    internal static Tensor Softplus(Tensor z) => z.Relu().Add(z.Abs().Neg().Exp().Add(1).Log());

    /// <summary>ln B(a, b) = ln Γ(a) + ln Γ(b) − ln Γ(a + b).</summary>
    internal static Tensor LogBeta(Tensor a, Tensor b) => a.Lgamma().Add(b.Lgamma()).Sub(a.Add(b).Lgamma());
}
