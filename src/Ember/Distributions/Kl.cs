namespace Ember.Distributions;

/// <summary>Closed-form Kullback-Leibler divergences KL(p ‖ q) = E_p[ln p − ln q]
/// (<c>torch.distributions.kl_divergence</c>), per batch element, for pairs of one family.</summary>
public static class Kl
{
    /// <summary>KL(p ‖ q) for Normal, Uniform, Bernoulli, Categorical, Gamma, Beta, Dirichlet and MultivariateNormal pairs of the same
    /// family, and Independent pairs reinterpreting the same number of dimensions of such a pair.</summary>
    public static Tensor Divergence(Distribution p, Distribution q)
    {
        ArgumentNullException.ThrowIfNull(p);
        ArgumentNullException.ThrowIfNull(q);
        switch (p, q)
        {
            case (Normal a, Normal b):
            {
                // ln(σq/σp) + (σp² + (μp − μq)²)/(2σq²) − ½
                var ratio = a.Scale.Div(b.Scale).Square();
                var t = a.Loc.Sub(b.Loc).Div(b.Scale).Square();
                return ratio.Add(t).Sub(1).Sub(ratio.Log()).Mul(0.5);
            }
            case (Uniform a, Uniform b):
            {
                // ln((hq − lq)/(hp − lp)) where [lp, hp) ⊆ [lq, hq), else +∞.
                var inside = a.Low.Ge(b.Low).LogicalAnd(a.High.Le(b.High));
                var kl = b.High.Sub(b.Low).Div(a.High.Sub(a.Low)).Log();
                return Tensor.Where(inside, kl.Expand(inside.Shape), double.PositiveInfinity);
            }
            case (Bernoulli a, Bernoulli b):
            {
                // p(ln p − ln q) + (1 − p)(ln(1 − p) − ln(1 − q)) with ln p = −softplus(−logit), ln(1 − p) = −softplus(logit).
                var sp = Distribution.Softplus;
                var t1 = a.Probs.Mul(sp(b.Logits.Neg()).Sub(sp(a.Logits.Neg())));
                var t2 = a.Probs.Neg().Add(1).Mul(sp(b.Logits).Sub(sp(a.Logits)));
                return t1.Add(t2);
            }
            case (Categorical a, Categorical b):
            {
                if (a.NumCategories != b.NumCategories)
                    throw new ArgumentException($"Kl.Divergence: Categorical with {a.NumCategories} and {b.NumCategories} categories.");
                // Σ p (ln p − ln q); categories with p = 0 contribute 0, with q = 0 < p +∞.
                var diff = a.Logits.Sub(b.Logits);
                var terms = Tensor.Where(a.Probs.Eq(0), Tensor.Scalar(0, a.DType), a.Probs.Mul(diff));
                return terms.Sum(-1);
            }
            case (Gamma a, Gamma b):
            {
                // (αp − αq)ψ(αp) − ln Γ(αp) + ln Γ(αq) + αq(ln βp − ln βq) + αp(βq − βp)/βp
                return a.Concentration.Sub(b.Concentration).Mul(a.Concentration.Digamma())
                    .Sub(a.Concentration.Lgamma()).Add(b.Concentration.Lgamma())
                    .Add(b.Concentration.Mul(a.Rate.Log().Sub(b.Rate.Log())))
                    .Add(a.Concentration.Mul(b.Rate.Sub(a.Rate).Div(a.Rate)));
            }
            case (Beta a, Beta b):
            {
                // ln B(αq, βq) − ln B(αp, βp) + (αp − αq)ψ(αp) + (βp − βq)ψ(βp) + (αq − αp + βq − βp)ψ(αp + βp)
                var sumP = a.Concentration1.Add(a.Concentration0);
                return Distribution.LogBeta(b.Concentration1, b.Concentration0).Sub(Distribution.LogBeta(a.Concentration1, a.Concentration0))
                    .Add(a.Concentration1.Sub(b.Concentration1).Mul(a.Concentration1.Digamma()))
                    .Add(a.Concentration0.Sub(b.Concentration0).Mul(a.Concentration0.Digamma()))
                    .Add(b.Concentration1.Sub(a.Concentration1).Add(b.Concentration0).Sub(a.Concentration0).Mul(sumP.Digamma()));
            }
            case (Dirichlet a, Dirichlet b):
            {
                if (a.EventShape[0] != b.EventShape[0])
                    throw new ArgumentException($"Kl.Divergence: Dirichlet over {a.EventShape[0]} and {b.EventShape[0]} categories.");
                // ln Γ(α₀) − Σ ln Γ(αₖ) − ln Γ(β₀) + Σ ln Γ(βₖ) + Σ (αₖ − βₖ)(ψ(αₖ) − ψ(α₀))
                var a0 = a.Concentration.Sum(-1, keepDim: true);
                var b0 = b.Concentration.Sum(-1);
                return a0.Squeeze(-1).Lgamma().Sub(a.Concentration.Lgamma().Sum(-1)).Sub(b0.Lgamma()).Add(b.Concentration.Lgamma().Sum(-1))
                    .Add(a.Concentration.Sub(b.Concentration).Mul(a.Concentration.Digamma().Sub(a0.Digamma())).Sum(-1));
            }
            case (MultivariateNormal a, MultivariateNormal b):
                return MultivariateNormal.Kl(a, b);
            case (Independent a, Independent b):
            {
                if (a.ReinterpretedBatchNdims != b.ReinterpretedBatchNdims)
                    throw new NotSupportedException($"Kl.Divergence: Independent over {a.ReinterpretedBatchNdims} and {b.ReinterpretedBatchNdims} dimensions.");
                return Independent.SumRightmost(Divergence(a.BaseDistribution, b.BaseDistribution), a.ReinterpretedBatchNdims);
            }
            default:
                throw new NotSupportedException($"Kl.Divergence: no closed form for {p.GetType().Name} ‖ {q.GetType().Name} (pairs of one family are supported: Normal, Uniform, Bernoulli, Categorical, Gamma, Beta, Dirichlet, MultivariateNormal, Independent).");
        }
    }
}
