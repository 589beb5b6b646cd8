namespace Ember.NN;

public static partial class Functional
{
    private static Tensor Reduce(string op, Tensor loss, Reduction reduction) => reduction switch
    {
        Reduction.None => loss,
        Reduction.Sum => loss.Sum(),
        Reduction.Mean => loss.Mean(),
        _ => throw new ArgumentOutOfRangeException(nameof(reduction), $"{op}: unknown reduction {reduction}."),
    };

    /// <summary>Kullback-Leibler divergence with <paramref name="input"/> as log-probabilities and
    /// <paramref name="target"/> as probabilities (log-probabilities with <paramref name="logTarget"/>): pointwise
    /// target·(log target − input), zero where target is 0 (PyTorch's <c>kl_div</c>). Use
    /// <see cref="Reduction.BatchMean"/> for the divergence per sample.</summary>
    public static Tensor KlDiv(Tensor input, Tensor target, Reduction reduction = Reduction.Mean, bool logTarget = false)
    {
        SameShape("KlDiv", input, target);
        Tensor pointwise;
        if (logTarget) pointwise = target.Exp().Mul(target.Sub(input));
        else
        {
            // 0·log 0 = 0: the log is taken of the target with zeros replaced by ones.
            var positive = target.Gt(0);
            var safeLog = Tensor.Where(positive, target, 1.0).Log();
            pointwise = target.Mul(safeLog.Sub(input));
        }
        if (reduction != Reduction.BatchMean) return Reduce("KlDiv", pointwise, reduction);
        if (input.Dim == 0) throw new ArgumentException("KlDiv: 'batchmean' needs a batch dimension, got a scalar input.");
        return pointwise.Sum().Div(input.Size(0));
    }

    /// <summary>Knowledge distillation (Hinton et al., 2015): α·T²·KL(softmax(t/T) ‖ softmax(s/T)) per sample plus
    /// (1 − α)·cross-entropy(s, y), with s the student's logits (N, C), t the teacher's (no gradient flows to it) and y
    /// class indices (N). T² keeps the soft term's gradient scale independent of the temperature.</summary>
    public static Tensor DistillationLoss(Tensor student, Tensor teacher, Tensor target, double temperature = 4, double alpha = 0.9)
    {
        if (!(temperature > 0) || !double.IsFinite(temperature)) throw new ArgumentException($"DistillationLoss: temperature must be positive, got {temperature}.");
        if (alpha is < 0 or > 1 || double.IsNaN(alpha)) throw new ArgumentException($"DistillationLoss: alpha must be in [0, 1], got {alpha}.");
        if (student.Dim != 2 || !ShapeUtil.SameShape(student.Shape, teacher.Shape))
            throw new ArgumentException($"DistillationLoss: student and teacher logits must both be (N, C), got {ShapeUtil.Str(student.Shape)} and {ShapeUtil.Str(teacher.Shape)}.");
        var soft = KlDiv(student.Div(temperature).LogSoftmax(1), teacher.Detach().Div(temperature).Softmax(1), Reduction.BatchMean);
        var hard = CrossEntropy(student, target);
        return soft.Mul(alpha * temperature * temperature).Add(hard.Mul(1 - alpha));
    }

    private static void SameShape(string op, Tensor input, Tensor target)
    {
        if (!ShapeUtil.SameShape(input.Shape, target.Shape))
            throw new ArgumentException($"{op}: input shape {ShapeUtil.Str(input.Shape)} and target shape {ShapeUtil.Str(target.Shape)} differ.");
        Tensor.CheckSameDType(op, input, target);
    }

    /// <summary>Mean squared error (x − y)².</summary>
    public static Tensor MseLoss(Tensor input, Tensor target, Reduction reduction = Reduction.Mean)
    {
        SameShape("MseLoss", input, target);
        return Reduce("MseLoss", input.Sub(target).Square(), reduction);
    }

    /// <summary>Mean absolute error |x − y|.</summary>
    public static Tensor L1Loss(Tensor input, Tensor target, Reduction reduction = Reduction.Mean)
    {
        SameShape("L1Loss", input, target);
        return Reduce("L1Loss", input.Sub(target).Abs(), reduction);
    }

    /// <summary>Smooth L1: 0.5·d²/β where |d| &lt; β, |d| − 0.5·β elsewhere.</summary>
    public static Tensor SmoothL1Loss(Tensor input, Tensor target, double beta = 1.0, Reduction reduction = Reduction.Mean)
    {
        SameShape("SmoothL1Loss", input, target);
        if (beta < 0) throw new ArgumentException($"SmoothL1Loss: beta must be non-negative, got {beta}.");
        var d = input.Sub(target).Abs();
        if (beta == 0) return Reduce("SmoothL1Loss", d, reduction);
        return Reduce("SmoothL1Loss", Tensor.Where(d.Lt(beta), d.Square().Mul(0.5 / beta), d.Sub(0.5 * beta)), reduction);
    }

    /// <summary>Huber: 0.5·d² where |d| ≤ δ, δ·(|d| − 0.5·δ) elsewhere.</summary>
    public static Tensor HuberLoss(Tensor input, Tensor target, double delta = 1.0, Reduction reduction = Reduction.Mean)
    {
        SameShape("HuberLoss", input, target);
        if (delta <= 0) throw new ArgumentException($"HuberLoss: delta must be positive, got {delta}.");
        var d = input.Sub(target).Abs();
        return Reduce("HuberLoss", Tensor.Where(d.Le(delta), d.Square().Mul(0.5), d.Sub(0.5 * delta).Mul(delta)), reduction);
    }

    /// <summary>Moves the class dim (1) last and flattens: (N, C, d…) → (N·d…, C); (C) → (1, C).</summary>
    private static Tensor ClassesLast(Tensor x)
    {
        if (x.Dim == 1) return x.Unsqueeze(0);
        if (x.Dim == 2) return x;
        var perm = new List<int> { 0 };
        for (int i = 2; i < x.Dim; i++) perm.Add(i);
        perm.Add(1);
        return x.Permute(perm.ToArray()).Reshape(-1, x.Size(1));
    }

    /// <summary>Negative log-likelihood of log-probabilities <paramref name="input"/> (N, C[, d…]) at int64 class
    /// indices <paramref name="target"/> (N[, d…]). Weighted mean divides by the summed weights of the counted
    /// targets; targets equal to <paramref name="ignoreIndex"/> count for nothing.</summary>
    public static Tensor NllLoss(Tensor input, Tensor target, Tensor? weight = null, int ignoreIndex = -100, Reduction reduction = Reduction.Mean)
    {
        var (lossPerItem, w) = NllCore("NllLoss", input, target, weight, ignoreIndex);
        return ReduceWeighted("NllLoss", lossPerItem, w, reduction, target);
    }

    private static (Tensor Loss, Tensor W) NllCore(string op, Tensor input, Tensor target, Tensor? weight, int ignoreIndex)
    {
        input.CheckFloating(op);
        target.CheckDType(op, DType.Int64);
        if (input.Dim < 1) throw new ArgumentException($"{op}: input must have a class dimension, got shape {ShapeUtil.Str(input.Shape)}.");
        int c = input.Dim == 1 ? input.Size(0) : input.Size(1);
        var expectTarget = input.Dim == 1 ? Array.Empty<int>() : input.Shape.Where((_, i) => i != 1).ToArray();
        if (!ShapeUtil.SameShape(target.Shape, expectTarget))
            throw new ArgumentException($"{op}: target shape {ShapeUtil.Str(target.Shape)} does not match input shape {ShapeUtil.Str(input.Shape)} (expected {ShapeUtil.Str(expectTarget)}).");
        if (weight is not null && (weight.Dim != 1 || weight.Size(0) != c))
            throw new ArgumentException($"{op}: weight shape {ShapeUtil.Str(weight.Shape)} does not match {c} classes.");
        var flatT = target.Reshape(-1);
        var tv = flatT.Contiguous().ToArray<long>();
        var valid = new bool[tv.Length];
        var safe = new long[tv.Length];
        for (int i = 0; i < tv.Length; i++)
        {
            if (tv[i] == ignoreIndex) continue;
            if (tv[i] < 0 || tv[i] >= c)
                throw new ArgumentException($"{op}: target {tv[i]} at position {i} is outside [0, {c}) (and is not ignore_index {ignoreIndex}).");
            valid[i] = true;
            safe[i] = tv[i];
        }
        var logp = ClassesLast(input);                                        // (M, C)
        var idx = Tensor.FromArray(safe, tv.Length, 1);
        var picked = logp.Gather(1, idx).Reshape(-1).Neg();                   // (M)
        var validMask = Tensor.FromArray(valid);
        var w = validMask.To(input.DType);
        if (weight is not null) w = w.Mul(weight.Detach().Gather(0, Tensor.FromArray(safe)));
        // Selected, not multiplied by the 0 weight: an ignored item's loss is 0 even when its input is NaN or ±inf
        // (NaN·0 is NaN), as in PyTorch.
        return (Tensor.Where(validMask, picked.Mul(w), 0.0), w);
    }

    private static Tensor ReduceWeighted(string op, Tensor lossPerItem, Tensor w, Reduction reduction, Tensor target) => reduction switch
    {
        Reduction.None => lossPerItem.Reshape(target.Shape),
        Reduction.Sum => lossPerItem.Sum(),
        Reduction.Mean => lossPerItem.Sum().Div(w.Sum()),
        _ => throw new ArgumentOutOfRangeException(nameof(reduction)),
    };

    /// <summary>Cross-entropy of logits <paramref name="input"/> (N, C[, d…]) against int64 class indices
    /// (N[, d…]), computed through a fused, max-shifted log-softmax. Supports class weights, ignore_index and
    /// label smoothing with PyTorch's definitions.</summary>
    public static Tensor CrossEntropy(Tensor input, Tensor target, Tensor? weight = null, int ignoreIndex = -100,
        Reduction reduction = Reduction.Mean, double labelSmoothing = 0)
    {
        if (labelSmoothing < 0 || labelSmoothing > 1) throw new ArgumentException($"CrossEntropy: label smoothing must be in [0, 1], got {labelSmoothing}.");
        if (target.DType != DType.Int64)
            return CrossEntropyProbabilities(input, target, weight, reduction, labelSmoothing);
        var logp = input.LogSoftmax(input.Dim == 1 ? 0 : 1);
        var (nll, w) = NllCore("CrossEntropy", logp, target, weight, ignoreIndex);
        var loss = ReduceWeighted("CrossEntropy", nll, w, reduction, target);
        if (labelSmoothing == 0) return loss;
        // Smoothing term: −Σ_c w_c·log p_c per item (0 for ignored items), reduced like the main term.
        int c = input.Dim == 1 ? input.Size(0) : input.Size(1);
        var lp = ClassesLast(logp);                                               // (M, C)
        var valid = target.Reshape(-1).Ne(Tensor.Scalar(ignoreIndex, DType.Int64));
        var smooth = Tensor.Where(valid, (weight is null ? lp : lp.Mul(weight.Detach())).Sum(1).Neg(), 0.0);
        Tensor smoothLoss = reduction switch
        {
            Reduction.None => smooth.Reshape(target.Shape),
            Reduction.Sum => smooth.Sum(),
            _ => smooth.Sum().Div(w.Sum()),
        };
        return loss.Mul(1 - labelSmoothing).Add(smoothLoss.Mul(labelSmoothing / c));
    }

    private static Tensor CrossEntropyProbabilities(Tensor input, Tensor target, Tensor? weight, Reduction reduction, double labelSmoothing)
    {
        if (!ShapeUtil.SameShape(input.Shape, target.Shape))
            throw new ArgumentException($"CrossEntropy: with probability targets the target shape {ShapeUtil.Str(target.Shape)} must equal the input shape {ShapeUtil.Str(input.Shape)}; class-index targets must be int64.");
        Tensor.CheckSameDType("CrossEntropy", input, target);
        int cdim = input.Dim == 1 ? 0 : 1;
        int c = input.Size(cdim);
        var t = labelSmoothing > 0 ? target.Mul(1 - labelSmoothing).Add(labelSmoothing / c) : target;
        var logp = input.LogSoftmax(cdim);
        var prod = logp.Mul(t);
        if (weight is not null)
        {
            var shape = Enumerable.Repeat(1, input.Dim).ToArray();
            shape[cdim] = c;
            prod = prod.Mul(weight.Reshape(shape));
        }
        var perItem = prod.Sum(cdim).Neg();
        return reduction switch
        {
            Reduction.None => perItem,
            Reduction.Sum => perItem.Sum(),
            _ => perItem.Sum().Div(input.Dim == 1 ? 1 : input.NumEl / c),
        };
    }

    /// <summary>Binary cross-entropy of probabilities; logs are clamped at −100 as in PyTorch, so p = 0 or 1
    /// gives a finite loss.</summary>
    public static Tensor BinaryCrossEntropy(Tensor input, Tensor target, Tensor? weight = null, Reduction reduction = Reduction.Mean)
    {
        SameShape("BinaryCrossEntropy", input, target);
        using (Tensor.NoGrad())
        {
            var bad = input.Lt(0).LogicalOr(input.Gt(1));
            if (bad.Any()) throw new ArgumentException("BinaryCrossEntropy: input values must be probabilities in [0, 1]; use BinaryCrossEntropyWithLogits for logits.");
        }
        var logp = input.Log().Clamp(min: -100);
        var log1mp = input.Neg().Add(1).Log().Clamp(min: -100);
        var loss = target.Mul(logp).Add(target.Neg().Add(1).Mul(log1mp)).Neg();
        if (weight is not null) loss = loss.Mul(weight);
        return Reduce("BinaryCrossEntropy", loss, reduction);
    }

    /// <summary>Binary cross-entropy on logits, stable for any magnitude:
    /// ℓ = (1 − y)·x + (1 + (p − 1)·y)·(log(1 + e^(−|x|)) + max(−x, 0)), p = pos_weight.</summary>
    public static Tensor BinaryCrossEntropyWithLogits(Tensor input, Tensor target, Tensor? weight = null, Tensor? posWeight = null, Reduction reduction = Reduction.Mean)
    {
        SameShape("BinaryCrossEntropyWithLogits", input, target);
        var softplusNeg = input.Abs().Neg().Exp().Add(1).Log().Add(input.Neg().Relu());   // log(1 + e^(−x)), stable
        var coef = posWeight is null ? null : posWeight.Sub(1).Mul(target).Add(1);
        var loss = target.Neg().Add(1).Mul(input).Add(coef is null ? softplusNeg : coef.Mul(softplusNeg));
        if (weight is not null) loss = loss.Mul(weight);
        return Reduce("BinaryCrossEntropyWithLogits", loss, reduction);
    }
}

/// <summary>Loss modules wrapping <see cref="Functional"/>; each takes (input, target).
/// Shape: input and target as each loss documents → a scalar, or per element with Reduction.None.</summary>
public abstract class Loss : Module
{
    /// <summary>The loss of <paramref name="input"/> against <paramref name="target"/>.</summary>
    public abstract Tensor Forward(Tensor input, Tensor target);
    /// <summary>Runs <see cref="Forward(Tensor, Tensor)"/> (PyTorch's <c>loss(input, target)</c>).</summary>
    public Tensor Call(Tensor input, Tensor target) => Forward(input, target);
}

/// <summary>Mean squared error (PyTorch's <c>nn.MSELoss</c>). Shape: input (*), target (*) the same → scalar, or (*) with Reduction.None.</summary>
public sealed class MSELoss(Reduction reduction = Reduction.Mean) : Loss
{
    /// <inheritdoc/>
    public override Tensor Forward(Tensor input, Tensor target) => Functional.MseLoss(input, target, reduction);
}

/// <summary>Mean absolute error (PyTorch's <c>nn.L1Loss</c>). Shape: input (*), target (*) → scalar, or (*) with Reduction.None.</summary>
public sealed class L1Loss(Reduction reduction = Reduction.Mean) : Loss
{
    /// <inheritdoc/>
    public override Tensor Forward(Tensor input, Tensor target) => Functional.L1Loss(input, target, reduction);
}

/// <summary>Smooth L1: quadratic below <c>beta</c>, linear above (PyTorch's <c>nn.SmoothL1Loss</c>). Shape: (*), (*) → scalar or (*).</summary>
public sealed class SmoothL1Loss(double beta = 1.0, Reduction reduction = Reduction.Mean) : Loss
{
    /// <inheritdoc/>
    public override Tensor Forward(Tensor input, Tensor target) => Functional.SmoothL1Loss(input, target, beta, reduction);
}

/// <summary>Huber loss with threshold <c>delta</c> (PyTorch's <c>nn.HuberLoss</c>). Shape: (*), (*) → scalar or (*).</summary>
public sealed class HuberLoss(double delta = 1.0, Reduction reduction = Reduction.Mean) : Loss
{
    /// <inheritdoc/>
    public override Tensor Forward(Tensor input, Tensor target) => Functional.HuberLoss(input, target, delta, reduction);
}

/// <summary>Cross-entropy of logits against class indices or probabilities, with class weights, ignore_index and label smoothing (PyTorch's <c>nn.CrossEntropyLoss</c>). Shape: input (N, C) or (N, C, d…), target (N) / (N, d…) int64 or (N, C, …) probabilities → scalar, or (N, …) with Reduction.None.</summary>
public sealed class CrossEntropyLoss(Tensor? weight = null, int ignoreIndex = -100, Reduction reduction = Reduction.Mean, double labelSmoothing = 0) : Loss
{
    /// <inheritdoc/>
    public override Tensor Forward(Tensor input, Tensor target) => Functional.CrossEntropy(input, target, weight, ignoreIndex, reduction, labelSmoothing);
}

/// <summary>Negative log-likelihood of log-probabilities (PyTorch's <c>nn.NLLLoss</c>). Shape: input (N, C, …), target (N, …) int64 → scalar or (N, …).</summary>
public sealed class NLLLoss(Tensor? weight = null, int ignoreIndex = -100, Reduction reduction = Reduction.Mean) : Loss
{
    /// <inheritdoc/>
    public override Tensor Forward(Tensor input, Tensor target) => Functional.NllLoss(input, target, weight, ignoreIndex, reduction);
}

/// <summary>Binary cross-entropy of probabilities (PyTorch's <c>nn.BCELoss</c>). Shape: input (*), target (*) → scalar or (*).</summary>
public sealed class BCELoss(Tensor? weight = null, Reduction reduction = Reduction.Mean) : Loss
{
    /// <inheritdoc/>
    public override Tensor Forward(Tensor input, Tensor target) => Functional.BinaryCrossEntropy(input, target, weight, reduction);
}

/// <summary>Binary cross-entropy of logits, numerically stable, with an optional positive-class weight (PyTorch's <c>nn.BCEWithLogitsLoss</c>). Shape: (*), (*) → scalar or (*).</summary>
public sealed class BCEWithLogitsLoss(Tensor? weight = null, Tensor? posWeight = null, Reduction reduction = Reduction.Mean) : Loss
{
    /// <inheritdoc/>
    public override Tensor Forward(Tensor input, Tensor target) => Functional.BinaryCrossEntropyWithLogits(input, target, weight, posWeight, reduction);
}
