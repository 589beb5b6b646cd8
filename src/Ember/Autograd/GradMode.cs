namespace Ember;

/// <summary>Whether operations record the autograd graph. Scoped per async flow (an <see cref="AsyncLocal{T}"/>),
/// so a <c>NoGrad</c> scope set before an <c>await</c> holds in the awaited code too.</summary>
public static class GradMode
{
    private static readonly AsyncLocal<bool> s_disabled = new();

    /// <summary>True when new operations record their backward rule.</summary>
    public static bool IsEnabled => !s_disabled.Value;

    internal static void Set(bool enabled) => s_disabled.Value = !enabled;
}

/// <summary>Restores the previous grad mode when disposed. Returned by <see cref="Tensor.NoGrad"/> and <see cref="Tensor.EnableGrad"/>.</summary>
public readonly struct GradModeScope : IDisposable
{
    private readonly bool _previous;

    internal GradModeScope(bool enabled)
    {
        _previous = GradMode.IsEnabled;
        GradMode.Set(enabled);
    }

    /// <summary>Restores the gradient mode that was in effect before the scope.</summary>
    public void Dispose() => GradMode.Set(_previous);
}
