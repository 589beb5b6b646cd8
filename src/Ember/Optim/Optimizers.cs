namespace Ember.Optim;

/// <summary>Stochastic gradient descent with momentum, Nesterov momentum and L2 weight decay, exactly as
/// <c>torch.optim.SGD</c>: g ← g + λθ; b ← μb + (1 − τ)g (b = g on the first step); g ← g + μb (Nesterov) or b;
/// θ ← θ − lr·g.</summary>
public sealed class SGD : Optimizer
{
    /// <summary>Momentum factor (0: plain SGD).</summary>
    public double Momentum { get; }
    /// <summary>Dampening of the momentum's gradient term.</summary>
    public double Dampening { get; }
    /// <summary>L2 penalty added to the gradient.</summary>
    public double WeightDecay { get; }
    /// <summary>Nesterov momentum.</summary>
    public bool Nesterov { get; }

    /// <summary>SGD over <paramref name="parameters"/> with learning rate <paramref name="lr"/>.</summary>
    public SGD(IEnumerable<Tensor> parameters, double lr, double momentum = 0, double dampening = 0, double weightDecay = 0, bool nesterov = false)
        : base(parameters, lr)
    {
        if (momentum < 0) throw new ArgumentException($"SGD: momentum must be non-negative, got {momentum}.");
        if (weightDecay < 0) throw new ArgumentException($"SGD: weight decay must be non-negative, got {weightDecay}.");
        if (nesterov && (momentum <= 0 || dampening != 0)) throw new ArgumentException("SGD: Nesterov momentum needs momentum > 0 and zero dampening.");
        (Momentum, Dampening, WeightDecay, Nesterov) = (momentum, dampening, weightDecay, nesterov);
    }

    /// <inheritdoc/>
    protected override void Update(Tensor p, Tensor grad, double lr, Dictionary<string, Tensor> state)
    {
        if (p.DType == DType.Float32 && p.IsContiguous && grad.IsContiguous)
        {
            bool first = !state.ContainsKey("momentum_buffer");
            var buf = Momentum != 0 ? Buffer(state, "momentum_buffer", p) : p;
            Kernels.OptimKernels.Sgd(p.Span<float>(), grad.Span<float>(), Momentum != 0 ? buf.Span<float>() : default, first,
                (float)lr, (float)Momentum, (float)Dampening, (float)WeightDecay, Nesterov);
            p.MarkModified();
            return;
        }
        var g = WeightDecay != 0 ? grad.Add(p.Mul(WeightDecay)) : grad;
        if (Momentum != 0)
        {
            if (!state.TryGetValue("momentum_buffer", out var buf))
                state["momentum_buffer"] = buf = g.Clone();
            else
                buf.MulInPlace(Momentum).AddInPlace(g, 1 - Dampening);
            g = Nesterov ? g.Add(buf.Mul(Momentum)) : buf;
        }
        p.AddInPlace(g, -lr);
    }
}

/// <summary>Adam (Kingma &amp; Ba, 2015) and, with decoupled weight decay (<see cref="AdamW"/>), AdamW (Loshchilov &amp;
/// Hutter, 2019), as in torch.optim: m ← β₁m + (1 − β₁)g; v ← β₂v + (1 − β₂)g²;
/// θ ← θ − lr·(m/(1 − β₁ᵗ)) / (√(v/(1 − β₂ᵗ)) + ε). Adam adds λθ to g; AdamW multiplies θ by 1 − lr·λ first.</summary>
public class Adam : Optimizer
{
    /// <summary>Decay rate of the first-moment estimate.</summary>
    public double Beta1 { get; }
    /// <summary>Decay rate of the second-moment estimate.</summary>
    public double Beta2 { get; }
    /// <summary>Added to the denominator's square root.</summary>
    public double Eps { get; }
    /// <summary>Weight decay: L2 added to the gradient (Adam) or decoupled from it (AdamW).</summary>
    public double WeightDecay { get; }
    /// <summary>The AMSGrad variant (maximum of past second moments).</summary>
    public bool Amsgrad { get; }
    private readonly bool _decoupled;

    /// <summary>Adam over <paramref name="parameters"/>.</summary>
    public Adam(IEnumerable<Tensor> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8,
        double weightDecay = 0, bool amsgrad = false)
        : this(parameters, lr, beta1, beta2, eps, weightDecay, amsgrad, decoupledWeightDecay: false) { }

    /// <summary>Adam or, with decoupled weight decay, AdamW (for <see cref="AdamW"/>).</summary>
    protected Adam(IEnumerable<Tensor> parameters, double lr, double beta1, double beta2, double eps, double weightDecay, bool amsgrad, bool decoupledWeightDecay)
        : base(parameters, lr)
    {
        if (beta1 < 0 || beta1 >= 1 || beta2 < 0 || beta2 >= 1) throw new ArgumentException($"{GetType().Name}: betas must be in [0, 1), got ({beta1}, {beta2}).");
        if (eps < 0) throw new ArgumentException($"{GetType().Name}: eps must be non-negative, got {eps}.");
        (Beta1, Beta2, Eps, WeightDecay, Amsgrad, _decoupled) = (beta1, beta2, eps, weightDecay, amsgrad, decoupledWeightDecay);
    }

    /// <inheritdoc/>
    protected override void Update(Tensor p, Tensor grad, double lr, Dictionary<string, Tensor> state)
    {
        var stepT = state.TryGetValue("step", out var st) ? st : state["step"] = Tensor.Scalar(0, DType.Float64);
        double t = stepT.Item() + 1;
        stepT.Fill(t);
        double bc1 = 1 - Math.Pow(Beta1, t), bc2 = 1 - Math.Pow(Beta2, t);
        if (p.DType == DType.Float32 && p.IsContiguous && grad.IsContiguous)
        {
            var mf = Buffer(state, "exp_avg", p);
            var vf = Buffer(state, "exp_avg_sq", p);
            var vmaxf = Amsgrad ? Buffer(state, "max_exp_avg_sq", p) : vf;
            float b1 = (float)Beta1, b2 = (float)Beta2, stepSize = (float)(lr / bc1), ib = (float)(1 / Math.Sqrt(bc2)), eps = (float)Eps;
            float coupled = _decoupled ? 0f : (float)WeightDecay, scale = _decoupled ? (float)(1 - lr * WeightDecay) : 1f;
            bool ams = Amsgrad;
            var (pa, po, ga, go, ma, mo, va, vo, xa, xo) = (p.Data<float>(), p._offset, grad.Data<float>(), grad._offset, mf.Data<float>(), mf._offset,
                vf.Data<float>(), vf._offset, vmaxf.Data<float>(), vmaxf._offset);
            // Memory-bound (7 floats of traffic per parameter): large tensors are split across threads.
            Parallelism.For(p.NumEl, 1 << 16, (s, e) => Kernels.OptimKernels.Adam(pa.AsSpan(po + s, e - s), ga.AsSpan(go + s, e - s),
                ma.AsSpan(mo + s, e - s), va.AsSpan(vo + s, e - s), xa.AsSpan(xo + s, e - s), b1, b2, stepSize, ib, eps, coupled, scale, ams));
            p.MarkModified();
            return;
        }
        var g = grad;
        if (WeightDecay != 0)
        {
            if (_decoupled) p.MulInPlace(1 - lr * WeightDecay);
            else g = g.Add(p.Mul(WeightDecay));
        }
        var m = Buffer(state, "exp_avg", p);
        var v = Buffer(state, "exp_avg_sq", p);
        m.MulInPlace(Beta1).AddInPlace(g, 1 - Beta1);
        v.MulInPlace(Beta2).AddInPlace(g.Mul(g), 1 - Beta2);
        var vHat = v;
        if (Amsgrad)
        {
            var vmax = Buffer(state, "max_exp_avg_sq", p);
            vmax.MaximumInPlace(v);
            vHat = vmax;
        }
        // denom = √v / √bc2 + ε ; θ ← θ − (lr / bc1) · m / denom   (torch's arrangement of the same formula)
        var denom = vHat.Sqrt().DivInPlace(Math.Sqrt(bc2)).AddInPlace(Eps);
        p.AddInPlace(m.Div(denom), -lr / bc1);
    }
}

/// <summary>AdamW: Adam with decoupled weight decay (default λ = 0.01, as in PyTorch).</summary>
public sealed class AdamW : Adam
{
    /// <summary>AdamW over <paramref name="parameters"/> (weight decay 0.01 by default, as PyTorch).</summary>
    public AdamW(IEnumerable<Tensor> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8,
        double weightDecay = 0.01, bool amsgrad = false)
        : base(parameters, lr, beta1, beta2, eps, weightDecay, amsgrad, decoupledWeightDecay: true) { }
}

/// <summary>RMSprop (Hinton's lecture 6e) as torch.optim.RMSprop: v ← αv + (1 − α)g²; optional centering by the
/// running mean of g; θ ← θ − lr·g/(√v + ε), with optional momentum on that step.</summary>
public sealed class RMSprop : Optimizer
{
    /// <summary>Smoothing constant of the squared-gradient average.</summary>
    public double Alpha { get; }
    /// <summary>Added to the denominator.</summary>
    public double Eps { get; }
    /// <summary>L2 penalty added to the gradient.</summary>
    public double WeightDecay { get; }
    /// <summary>Momentum factor.</summary>
    public double Momentum { get; }
    /// <summary>Normalize by the centered (variance) estimate.</summary>
    public bool Centered { get; }

    /// <summary>RMSprop over <paramref name="parameters"/>.</summary>
    public RMSprop(IEnumerable<Tensor> parameters, double lr = 1e-2, double alpha = 0.99, double eps = 1e-8, double weightDecay = 0, double momentum = 0, bool centered = false)
        : base(parameters, lr)
    {
        if (alpha < 0) throw new ArgumentException($"RMSprop: alpha must be non-negative, got {alpha}.");
        (Alpha, Eps, WeightDecay, Momentum, Centered) = (alpha, eps, weightDecay, momentum, centered);
    }

    /// <inheritdoc/>
    protected override void Update(Tensor p, Tensor grad, double lr, Dictionary<string, Tensor> state)
    {
        var g = WeightDecay != 0 ? grad.Add(p.Mul(WeightDecay)) : grad;
        var v = Buffer(state, "square_avg", p);
        v.MulInPlace(Alpha).AddInPlace(g.Mul(g), 1 - Alpha);
        Tensor avg;
        if (Centered)
        {
            var ga = Buffer(state, "grad_avg", p);
            ga.MulInPlace(Alpha).AddInPlace(g, 1 - Alpha);
            avg = v.Sub(ga.Mul(ga)).Sqrt().AddInPlace(Eps);
        }
        else avg = v.Sqrt().AddInPlace(Eps);
        if (Momentum > 0)
        {
            var buf = Buffer(state, "momentum_buffer", p);
            buf.MulInPlace(Momentum).AddInPlace(g.Div(avg));
            p.AddInPlace(buf, -lr);
        }
        else p.AddInPlace(g.Div(avg), -lr);
    }
}
