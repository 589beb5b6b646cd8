namespace Ember;

/// <summary>
/// Mixed precision for training (<c>torch.autocast</c>): inside a scope, Linear layers (and convolutions) compute their products from
/// operands rounded to a 16-bit type (bfloat16 or float16) with float32 accumulation, round their outputs to it, and
/// keep their inputs for backward in it (half the memory of float32 activations); their backward rounds the incoming
/// gradient and the gradients it produces the same way. Everything else (norms, softmax, attention, reductions,
/// losses, the optimizer) stays float32, and the weights stay float32: they are the master copy the optimizer updates,
/// rounded per product. With float16 use <see cref="Optim.GradScaler"/>, as small gradients underflow its range.
/// <para>On CPUs without 16-bit arithmetic (AVX-512 BF16, AMX, ARM BF16 — not used by these kernels) the gain is
/// memory, not speed: the conversions cost time. Convolutions compute from 16-bit operands too (rounded float32
/// copies: the numerics, not the memory saving); <see cref="Tensor.Matmul(Tensor)"/> outside Linear layers is not cast.</para>
/// </summary>
public static class Autocast
{
    [ThreadStatic] private static DType? t_type;

    /// <summary>The 16-bit type products use on this thread, or null outside a scope.</summary>
    public static DType? Type => t_type;

    /// <summary>Enables autocast to <paramref name="dtype"/> (bfloat16 or float16) on this thread until disposed.</summary>
    public static IDisposable Enable(DType dtype = DType.BFloat16)
    {
        if (!dtype.IsLowPrecision()) throw new ArgumentException($"Autocast: the type must be bfloat16 or float16, got {dtype.Name()}", nameof(dtype));
        var previous = t_type;
        t_type = dtype;
        return new Scope(previous);
    }

    /// <summary>A scope that turns autocast off (a part of the model that must stay float32).</summary>
    public static IDisposable Disable()
    {
        var previous = t_type;
        t_type = null;
        return new Scope(previous);
    }

    private sealed class Scope(DType? previous) : IDisposable
    {
        private bool _done;

        public void Dispose()
        {
            if (_done) return;
            _done = true;
            t_type = previous;
        }
    }

    /// <summary>A float32 copy of <paramref name="x"/> rounded to the values of <paramref name="dtype"/> (a cast to the
    /// 16-bit type and back); the gradient is rounded the same way on its way back, as a 16-bit cast's would be.</summary>
    internal static Tensor Rounded(Tensor x, DType dtype)
    {
        var r = RoundedCopy(x.Detach(), dtype);
        if (!(GradMode.IsEnabled && x.RequiresGrad)) return r;
        return r.Record("AutocastRoundBackward", x, g => RoundedCopy(g, dtype));
    }

    /// <summary>A new contiguous float32 tensor holding <paramref name="x"/>'s values rounded to <paramref name="dtype"/>
    /// (one copy: <see cref="Tensor.Contiguous"/>'s when it made one).</summary>
    internal static Tensor RoundedCopy(Tensor x, DType dtype)
    {
        var r = x.Contiguous();
        if (r.SharesStorageWith(x)) r = r.Clone();
        RoundInPlace(r, dtype);
        return r;
    }

    /// <summary>Rounds float32 values in place to the nearest values of <paramref name="dtype"/>.</summary>
    internal static void RoundInPlace(Tensor t, DType dtype)
    {
        if (dtype == DType.BFloat16) Kernels.LowPrecision.RoundToBFloat16(t.Span<float>());
        else Kernels.LowPrecision.RoundToHalf(t.Span<float>());
    }
}
