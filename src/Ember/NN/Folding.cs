namespace Ember.NN;

/// <summary>Inference-time rewrites that keep a model's eval-mode outputs (up to float rounding) and make it cheaper.</summary>
public static class Folding
{
    /// <summary>Folds every BatchNorm that directly follows a Conv2d (BatchNorm2d) or a Linear (BatchNorm1d) inside a
    /// <see cref="Sequential"/> into that layer, with its running statistics: W ← W·γ/√(var+ε) per output channel,
    /// b ← (b − mean)·γ/√(var+ε) + β; the BatchNorm's place holds an <see cref="Identity"/>, which the Sequential skips,
    /// so the layer fuses with the ReLU (and pool) after it. Eval-mode semantics: the model is put in eval mode, and
    /// training it afterwards trains the folded layers without batch statistics. Layers that are int8 or LoRA-adapted,
    /// and BatchNorms without running statistics, are left alone. Returns the names of the BatchNorms folded.</summary>
    public static IReadOnlyList<string> FoldBatchNorm(Module model)
    {
        var names = new Dictionary<Module, string>(ReferenceEqualityComparer.Instance);
        foreach (var (n, m) in model.NamedModules()) names.TryAdd(m, n);
        var folded = new List<string>();
        foreach (var (_, m) in model.NamedModules().ToList())
        {
            if (m is not Sequential s) continue;
            for (int i = 0; i + 1 < s.Count; i++)
            {
                if (s[i + 1] is not BatchNormBase { RunningMean: not null, RunningVar: not null } bn) continue;
                bool fits = (s[i], bn) switch
                {
                    (Conv2d { Int8: null } c, BatchNorm2d) => c.OutChannels == bn.NumFeatures,
                    (Linear { Int8: null, Lora: null } l, BatchNorm1d) => l.OutFeatures == bn.NumFeatures,
                    _ => false,
                };
                if (!fits) continue;
                var (scale, shift) = ScaleShift(bn);
                if (s[i] is Conv2d conv) conv.ScaleOutputs(scale, shift);
                else ((Linear)s[i]).ScaleOutputs(scale, shift);
                folded.Add(names[bn]);
                s.Replace(i + 1, new Identity());
            }
        }
        model.Eval();
        return folded;
    }

    /// <summary>γ/√(var+ε) and β − mean·γ/√(var+ε) of a BatchNorm's running statistics, in float64 then float32.</summary>
    private static (Tensor Scale, Tensor Shift) ScaleShift(BatchNormBase bn)
    {
        using var noGrad = Tensor.NoGrad();
        var var = bn.RunningVar!.Detach().To(DType.Float64);
        var mean = bn.RunningMean!.Detach().To(DType.Float64);
        var gamma = bn.Weight?.Detach().To(DType.Float64) ?? Tensor.OnesLike(var);
        var beta = bn.Bias?.Detach().To(DType.Float64) ?? Tensor.ZerosLike(var);
        var scale = gamma.Div(var.Add(bn.Eps).Sqrt());
        return (scale.To(DType.Float32), beta.Sub(mean.Mul(scale)).To(DType.Float32));
    }
}
