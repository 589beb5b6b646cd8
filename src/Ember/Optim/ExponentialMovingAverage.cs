using Ember.NN;

namespace Ember.Optim;

/// <summary>An exponential moving average of a module's weights (the "EMA weights" GANs and diffusion models sample
/// with): shadow ← decay·shadow + (1 − decay)·θ after each optimizer step, buffers (BatchNorm statistics) copied as
/// they are. With <c>warmup</c>, the decay used at update t is min(decay, (1 + t)/(10 + t)), so early averages are not
/// dominated by the random initialization. <see cref="Apply"/> swaps the averaged weights in for evaluation and puts
/// the trained ones back when disposed.</summary>
public sealed class ExponentialMovingAverage
{
    private readonly (string Name, Tensor Live, Tensor Shadow)[] _parameters, _buffers;

    /// <summary>The module the average follows.</summary>
    public Module Module { get; }
    /// <summary>The target decay (0 ≤ decay &lt; 1).</summary>
    public double Decay { get; }
    /// <summary>Whether the decay ramps up as (1 + t)/(10 + t).</summary>
    public bool Warmup { get; }
    /// <summary>Updates done so far.</summary>
    public long Updates { get; private set; }

    /// <summary>An average of <paramref name="module"/>'s floating-point parameters, starting at their current values.</summary>
    public ExponentialMovingAverage(Module module, double decay = 0.999, bool warmup = false)
    {
        ArgumentNullException.ThrowIfNull(module);
        if (!(decay >= 0 && decay < 1)) throw new ArgumentOutOfRangeException(nameof(decay), decay, "ExponentialMovingAverage: decay must be in [0, 1).");
        (Module, Decay, Warmup) = (module, decay, warmup);
        using (Tensor.NoGrad())
        {
            _parameters = module.NamedParameters().Where(p => p.Parameter.DType.IsFloatingPoint())
                .Select(p => (p.Name, p.Parameter, p.Parameter.Detach().Clone())).ToArray();
            _buffers = module.NamedBuffers().Select(b => (b.Name, b.Buffer, b.Buffer.Detach().Clone())).ToArray();
        }
    }

    /// <summary>The decay the next update uses.</summary>
    public double CurrentDecay => Warmup ? Math.Min(Decay, (1.0 + Updates) / (10.0 + Updates)) : Decay;

    /// <summary>Folds the module's current weights into the average (call after each optimizer step).</summary>
    public void Update()
    {
        double d = CurrentDecay;
        using (Tensor.NoGrad())
        {
            foreach (var (_, live, shadow) in _parameters)
                shadow.MulInPlace(d).AddInPlace(live.Detach(), 1 - d);
            foreach (var (_, live, shadow) in _buffers) shadow.CopyFrom(live);
        }
        Updates++;
    }

    /// <summary>The averaged weights and buffers under the module's state-dict names (to save them as a checkpoint).</summary>
    public Dictionary<string, Tensor> StateDict()
    {
        var d = new Dictionary<string, Tensor>();
        foreach (var (name, _, shadow) in _parameters) d[name] = shadow;
        foreach (var (name, _, shadow) in _buffers) d[name] = shadow;
        return d;
    }

    /// <summary>Copies the averaged weights into the module for good.</summary>
    public void CopyTo()
    {
        using (Tensor.NoGrad())
        {
            foreach (var (_, live, shadow) in _parameters) live.CopyFrom(shadow);
            foreach (var (_, live, shadow) in _buffers) live.CopyFrom(shadow);
        }
    }

    /// <summary>Puts the averaged weights into the module until the returned scope is disposed, then restores the
    /// trained weights (evaluate or sample with the average, keep training the originals).</summary>
    public IDisposable Apply()
    {
        Tensor[] saved;
        using (Tensor.NoGrad())
        {
            saved = _parameters.Select(p => p.Live.Detach().Clone()).Concat(_buffers.Select(b => b.Live.Detach().Clone())).ToArray();
            CopyTo();
        }
        return new Restore(this, saved);
    }

    private sealed class Restore(ExponentialMovingAverage ema, Tensor[] saved) : IDisposable
    {
        private bool _done;

        public void Dispose()
        {
            if (_done) return;
            _done = true;
            using (Tensor.NoGrad())
            {
                int i = 0;
                foreach (var (_, live, _) in ema._parameters) live.CopyFrom(saved[i++]);
                foreach (var (_, live, _) in ema._buffers) live.CopyFrom(saved[i++]);
            }
        }
    }

}
