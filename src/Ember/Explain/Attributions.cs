namespace Ember.Explain;

/// <summary>Gradient attributions of a differentiable model's scalar output to its input (Captum's names):
/// saliency, integrated gradients and Grad-CAM. The model is any function from a batch of inputs (first dimension
/// the batch) to one output per row: for a classifier, <c>x => model.Call(x).Select(1, target)</c>.</summary>
public static class Attributions
{
    /// <summary>|∂f/∂x| at <paramref name="input"/> (Simonyan et al. 2014): one row in, its input's shape out.</summary>
    public static Tensor Saliency(Func<Tensor, Tensor> f, Tensor input) => Gradient(f, input).Abs();

    /// <summary>∂f/∂x at every row of <paramref name="inputs"/> (the rows' outputs summed, so each row gets its own
    /// gradient).</summary>
    public static Tensor Gradient(Func<Tensor, Tensor> f, Tensor inputs)
    {
        ArgumentNullException.ThrowIfNull(f);
        var x = inputs.Detach().RequiresGrad_();
        Tensor y;
        using (Tensor.EnableGrad()) y = f(x);
        if (y.Dim != 1 || y.Size(0) != x.Size(0))
            throw new ArgumentException($"Attributions: the model must return one value per input row, shape [{x.Size(0)}]; got {ShapeUtil.Str(y.Shape)}. For a classifier select the target's column.");
        return Ember.Autograd.Grad.Of(y.Sum(), x);
    }

    /// <summary>Integrated gradients (Sundararajan et al. 2017): (x − x′) ⊙ ∫₀¹ ∇f(x′ + α(x − x′)) dα by the midpoint
    /// rule over <paramref name="steps"/> points, for one input (batch of 1) and a baseline of its shape (zeros when
    /// null). Returns the attributions and the completeness gap f(x) − f(x′) − Σ attributions, which shrinks as the
    /// steps grow.</summary>
    public static (Tensor Attributions, double Gap) IntegratedGradients(Func<Tensor, Tensor> f, Tensor input, Tensor? baseline = null, int steps = 64, int batch = 32)
    {
        if (steps < 1) throw new ArgumentOutOfRangeException(nameof(steps), steps, "IntegratedGradients: steps must be at least 1.");
        if (input.Size(0) != 1) throw new ArgumentException($"IntegratedGradients: expects one input (a batch of 1), got shape {ShapeUtil.Str(input.Shape)}.");
        var x = input.Detach();
        var x0 = (baseline ?? Tensor.Zeros(x.Shape, x.DType)).Detach();
        if (!ShapeUtil.SameShape(x0.Shape, x.Shape))
            throw new ArgumentException($"IntegratedGradients: baseline {ShapeUtil.Str(x0.Shape)} and input {ShapeUtil.Str(x.Shape)} differ in shape.");
        var delta = x.Sub(x0);
        var total = Tensor.Zeros(x.Shape, x.DType);
        for (int s0 = 0; s0 < steps; s0 += batch)
        {
            int n = Math.Min(batch, steps - s0);
            var alphas = Tensor.FromArray(Enumerable.Range(s0, n).Select(k => (k + 0.5) / steps).ToArray(), n).To(x.DType)
                .Reshape([n, .. Enumerable.Repeat(1, x.Dim - 1)]);
            var points = x0.Add(alphas.Mul(delta));
            total = total.Add(Gradient(f, points).Sum(0, keepDim: true));
        }
        var attributions = delta.Mul(total.Div(steps));
        double fx, fx0;
        using (Tensor.NoGrad())
        {
            fx = f(x).ToArrayDouble()[0];
            fx0 = f(x0).ToArrayDouble()[0];
        }
        return (attributions, fx - fx0 - attributions.Sum().ToArrayDouble()[0]);
    }

    /// <summary>Grad-CAM (Selvaraju et al. 2017) for a network split at a convolutional layer: A = features(x)
    /// (1, C, H, W), y = head(A) one value; weights αc = mean over H×W of ∂y/∂Ac; the map ReLU(Σc αc·Ac), (H, W).</summary>
    public static Tensor GradCam(Func<Tensor, Tensor> features, Func<Tensor, Tensor> head, Tensor input)
    {
        Tensor a, y;
        using (Tensor.EnableGrad())
        {
            a = features(input.Detach());
            if (a.Dim != 4 || a.Size(0) != 1)
                throw new ArgumentException($"GradCam: the features must be one (1, C, H, W) map, got {ShapeUtil.Str(a.Shape)}.");
            a = a.Detach().RequiresGrad_();
            y = head(a);
        }
        if (y.NumEl != 1) throw new ArgumentException($"GradCam: the head must return one value, got shape {ShapeUtil.Str(y.Shape)}.");
        var g = Ember.Autograd.Grad.Of(y.Sum(), a);
        var weights = g.Mean([2, 3], keepDim: true);
        return a.Detach().Mul(weights).Sum(1).Relu().Squeeze(0);
    }
}
