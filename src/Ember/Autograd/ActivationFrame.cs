using Ember.NN;

namespace Ember.Autograd;

/// <summary>
/// Recycling of intermediate activations as one mechanism. While a module that declares
/// <see cref="Module.HoldsActivations"/> false runs its forward through <see cref="Module.Call(Tensor)"/> with autograd
/// on, a frame collects every tensor the ops record; when the forward returns, each collected tensor that shares no
/// buffer with the module's input or output is marked to go back to the buffer pool once the op that made it has run
/// backward (<see cref="Engine.RecycleAfterBackward"/>): only the module's own ops read it. Frames nest: a transparent
/// child hands its output to the parent's frame; a child that may hold activations suspends collection for its
/// forward. Off while a profiler or a summary trace looks at every layer, and with
/// <see cref="EmberSettings.RecycleActivations"/> off.
/// </summary>
internal sealed class ActivationFrame
{
    [ThreadStatic] private static ActivationFrame? t_top;

    private readonly ActivationFrame? _parent;
    private readonly Tensor _input;
    private readonly List<Tensor>? _made;   // null: a barrier (the module may keep what it makes)

    private ActivationFrame(ActivationFrame? parent, Tensor input, bool collect)
    {
        _parent = parent;
        _input = input;
        _made = collect ? new List<Tensor>() : null;
    }

    /// <summary>Opens a frame for <paramref name="module"/>'s forward on <paramref name="input"/>, or returns null
    /// when nothing is collected here and no frame is open to shield.</summary>
    public static ActivationFrame? Open(Module module, Tensor input)
    {
        bool collect = !module.HoldsActivations && GradMode.IsEnabled && !Diagnostics.Profiler.Enabled && !Module.Tracing
            && Engine.RecycleEnabled;
        if (!collect && t_top is null) return null;
        return t_top = new ActivationFrame(t_top, input, collect);
    }

    /// <summary>Called by every recorded op: its output joins the innermost collecting frame.</summary>
    public static void Made(Tensor output) => t_top?._made?.Add(output);

    /// <summary>Ends the frame after a forward that returned <paramref name="output"/>.</summary>
    public void Close(Tensor output)
    {
        t_top = _parent;
        if (_made is null) return;
        foreach (var t in _made)
            if (!ReferenceEquals(t._storage, _input._storage) && !ReferenceEquals(t._storage, output._storage))
                Engine.RecycleAfterBackward(t);
        _parent?._made?.Add(output);
    }

    /// <summary>Ends the frame after a forward that threw: nothing is marked.</summary>
    public void Abandon() => t_top = _parent;
}
