namespace Ember.Distributions;

/// <summary>Multivariate normal N(μ, Σ) over the last dimension (<c>torch.distributions.MultivariateNormal</c>), given
/// the covariance Σ (factored by <see cref="Linalg.Cholesky"/>) or its lower Cholesky factor L directly (scale_tril).
/// Reparameterized: μ + L·ε. Event shape [k]; batch shape the broadcast of μ's and Σ's leading dims.</summary>
public sealed class MultivariateNormal : Distribution
{
    private const double Log2Pi = 1.8378770664093454836;

    /// <summary>Mean μ, BatchShape ++ [k].</summary>
    public Tensor Loc { get; }

    /// <summary>Lower-triangular L with Σ = L·Lᵀ, BatchShape ++ [k, k].</summary>
    public Tensor ScaleTril { get; }

    /// <summary>Σ = L·Lᵀ.</summary>
    public Tensor CovarianceMatrix => ScaleTril.Matmul(ScaleTril.MT);

    /// <summary>Exactly one of <paramref name="covarianceMatrix"/> (symmetric positive definite) and
    /// <paramref name="scaleTril"/> (lower triangular, positive diagonal); both (..., k, k) with k = loc's last dimension.</summary>
    public MultivariateNormal(Tensor loc, Tensor? covarianceMatrix = null, Tensor? scaleTril = null, bool validateArgs = true)
        : this(Prepare(loc, covarianceMatrix, scaleTril, validateArgs), validateArgs) { }

    private MultivariateNormal((Tensor Loc, Tensor L, int[] Batch) p, bool validateArgs) : base(p.Batch, [p.Loc.Shape[^1]], p.Loc.DType, validateArgs)
    {
        Loc = p.Loc;
        ScaleTril = p.L;
    }

    private static (Tensor, Tensor, int[]) Prepare(Tensor loc, Tensor? cov, Tensor? tril, bool validate)
    {
        ArgumentNullException.ThrowIfNull(loc);
        if ((cov is null) == (tril is null))
            throw new ArgumentException("MultivariateNormal: pass exactly one of covarianceMatrix and scaleTril.");
        var m = cov ?? tril!;
        string name = cov is null ? "scaleTril" : "covarianceMatrix";
        if (loc.Dim < 1) throw new ArgumentException($"MultivariateNormal: loc needs at least one dimension, got shape {ShapeUtil.Str(loc.Shape)}.");
        int k = loc.Shape[^1];
        if (m.Dim < 2 || m.Size(-1) != k || m.Size(-2) != k)
            throw new ArgumentException($"MultivariateNormal: {name} must be (..., {k}, {k}) for loc {ShapeUtil.Str(loc.Shape)}, got {ShapeUtil.Str(m.Shape)}.");
        if (loc.DType != m.DType)
            throw new ArgumentException($"MultivariateNormal: loc is {loc.DType.Name()} but {name} is {m.DType.Name()}.");
        Require(validate, "MultivariateNormal", "loc", loc, double.IsFinite, "finite");
        Tensor l;
        if (cov is not null)
        {
            if (validate)
            {
                var asym = cov.Detach().Sub(cov.Detach().MT).Abs().Amax(null).ToArrayDouble()[0];
                double scale = cov.Detach().Abs().Amax(null).ToArrayDouble()[0];
                if (asym > 1e-6 * Math.Max(1, scale))
                    throw new ArgumentException($"MultivariateNormal: covarianceMatrix must be symmetric; |Σ − Σᵀ| reaches {asym:G6}.");
            }
            l = Linalg.Cholesky(cov);   // not positive definite: an error naming the matrix and the minor
        }
        else
        {
            l = tril!;
            if (validate)
            {
                var v = l.Detach().Contiguous().ToArrayDouble();
                for (int b = 0; b < v.Length / (k * k); b++)
                    for (int i = 0; i < k; i++)
                    {
                        if (!(v[b * k * k + i * k + i] > 0))
                            throw new ArgumentException($"MultivariateNormal: scaleTril must have a positive diagonal; matrix {b}, element ({i}, {i}) is {v[b * k * k + i * k + i]}.");
                        for (int j = i + 1; j < k; j++)
                            if (v[b * k * k + i * k + j] != 0)
                                throw new ArgumentException($"MultivariateNormal: scaleTril must be lower triangular; matrix {b}, element ({i}, {j}) is {v[b * k * k + i * k + j]}.");
                    }
            }
        }
        var batch = ShapeUtil.Broadcast("MultivariateNormal", loc.Shape[..^1], l.Shape[..^2]);
        var locB = ShapeUtil.SameShape(loc.Shape[..^1], batch) ? loc : loc.Expand([.. batch, k]);
        var lB = ShapeUtil.SameShape(l.Shape[..^2], batch) ? l : l.Expand([.. batch, k, k]);
        return (locB, lB, batch);
    }

    private int K => EventShape[0];

    /// <summary>The diagonal of L, BatchShape ++ [k].</summary>
    private Tensor TrilDiagonal => ScaleTril.Mul(Eye()).Sum(-1);

    private Tensor Eye() => Tensor.Eye(K, K, DType);

    /// <summary>½ ln det Σ = Σᵢ ln Lᵢᵢ.</summary>
    private Tensor HalfLogDet => TrilDiagonal.Log().Sum(-1);

    /// <inheritdoc/>
    public override bool HasRSample => true;
    /// <inheritdoc/>
    public override Tensor Mean => Loc;
    /// <summary>The diagonal of Σ: Σⱼ Lᵢⱼ².</summary>
    public override Tensor Variance => ScaleTril.Square().Sum(-1);

    /// <inheritdoc/>
    protected override Tensor SampleCore(int[] shape, Generator generator)
    {
        var eps = Tensor.Randn(shape, DType, generator);
        return ScaleTril.Matmul(eps.Unsqueeze(-1)).Squeeze(-1).Add(Loc);
    }

    /// <summary>−½(k ln 2π + ‖L⁻¹(x − μ)‖²) − Σᵢ ln Lᵢᵢ.</summary>
    public override Tensor LogProb(Tensor value)
    {
        if (value.Dim < 1 || value.Shape[^1] != K)
            throw new ArgumentException($"MultivariateNormal.LogProb: value's last dimension must be {K}, got shape {ShapeUtil.Str(value.Shape)}.");
        Require(ValidateArgs, "MultivariateNormal.LogProb", "value", value, double.IsFinite, "finite");
        var diff = value.Sub(Loc);
        var batch = diff.Shape[..^1];
        var l = ShapeUtil.SameShape(ScaleTril.Shape[..^2], batch) ? ScaleTril : ScaleTril.Expand([.. batch, K, K]);
        var z = Linalg.Solve(l, diff.Unsqueeze(-1)).Squeeze(-1);
        return z.Square().Sum(-1).Add(K * Log2Pi).Mul(-0.5).Sub(HalfLogDet);
    }

    /// <summary>½k(1 + ln 2π) + Σᵢ ln Lᵢᵢ.</summary>
    public override Tensor Entropy() => HalfLogDet.Add(0.5 * K * (1 + Log2Pi));

    /// <summary>KL(p ‖ q) = ½(‖Lq⁻¹Lp‖²_F + ‖Lq⁻¹(μq − μp)‖² − k) + Σ ln diag Lq − Σ ln diag Lp.</summary>
    internal static Tensor Kl(MultivariateNormal p, MultivariateNormal q)
    {
        if (p.K != q.K) throw new ArgumentException($"Kl.Divergence: MultivariateNormal of dimension {p.K} and {q.K}.");
        var batch = ShapeUtil.Broadcast("Kl.Divergence", p.BatchShape, q.BatchShape);
        int k = p.K;
        var lq = q.ScaleTril.Expand([.. batch, k, k]);
        var lp = p.ScaleTril.Expand([.. batch, k, k]);
        var m = Linalg.Solve(lq, lp);
        var d = Linalg.Solve(lq, q.Loc.Sub(p.Loc).Expand([.. batch, k]).Unsqueeze(-1)).Squeeze(-1);
        return m.Square().Sum([-2, -1]).Add(d.Square().Sum(-1)).Sub(k).Mul(0.5).Add(q.HalfLogDet).Sub(p.HalfLogDet);
    }
}
