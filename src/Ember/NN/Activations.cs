namespace Ember.NN;

/// <summary>Activation layers: elementwise functions with no parameters (PyTorch's <c>nn.ReLU</c>, <c>nn.GELU</c>, …).
/// Shape: input (*) → output (*), the same shape (Softmax and LogSoftmax normalize along <c>dim</c>).</summary>
public abstract class Activation : Module
{
    /// <inheritdoc/>
    public override bool HoldsActivations => false;
}

/// <summary>max(x, 0) (PyTorch's <c>nn.ReLU</c>). Shape: (*) → (*).</summary>
public sealed class ReLU : Activation
{
    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => input.Relu();
}

/// <summary>1 / (1 + e^−x) (PyTorch's <c>nn.Sigmoid</c>). Shape: (*) → (*).</summary>
public sealed class Sigmoid : Activation
{
    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => input.Sigmoid();
}

/// <summary>tanh(x) (PyTorch's <c>nn.Tanh</c>). Shape: (*) → (*).</summary>
public sealed class Tanh : Activation
{
    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => input.Tanh();
}

/// <summary>x · sigmoid(x) (PyTorch's <c>nn.SiLU</c>). Shape: (*) → (*).</summary>
public sealed class SiLU : Activation
{
    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Functional.Silu(input);
}

/// <summary>x for x ≥ 0, negativeSlope · x below (PyTorch's <c>nn.LeakyReLU</c>). Shape: (*) → (*).</summary>
public sealed class LeakyReLU(double negativeSlope = 0.01) : Activation
{
    /// <summary>The slope below zero.</summary>
    public double NegativeSlope { get; } = negativeSlope;
    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Functional.LeakyRelu(input, NegativeSlope);
    /// <inheritdoc/>
    protected override string ExtraRepr() => $"negative_slope={NegativeSlope}";
}

/// <summary>x for x &gt; 0, alpha · (e^x − 1) below (PyTorch's <c>nn.ELU</c>). Shape: (*) → (*).</summary>
public sealed class ELU(double alpha = 1) : Activation
{
    /// <summary>The saturation value below zero is −alpha.</summary>
    public double Alpha { get; } = alpha;
    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Functional.Elu(input, Alpha);
    /// <inheritdoc/>
    protected override string ExtraRepr() => $"alpha={Alpha}";
}

/// <summary>GELU, exact (erf) or with the tanh approximation (PyTorch's <c>nn.GELU</c>). Shape: (*) → (*).</summary>
public sealed class GELU(bool tanhApproximation = false) : Activation
{
    /// <summary>The tanh approximation instead of the exact (erf) form.</summary>
    public bool TanhApproximation { get; } = tanhApproximation;
    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Functional.Gelu(input, TanhApproximation);
    /// <inheritdoc/>
    protected override string ExtraRepr() => TanhApproximation ? "approximate='tanh'" : "";
}

/// <summary>Softmax along <c>dim</c> (PyTorch's <c>nn.Softmax</c>). Shape: (*) → (*).</summary>
public sealed class Softmax(int dim) : Activation
{
    /// <summary>The dimension normalized over.</summary>
    public int Dim { get; } = dim;
    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => input.Softmax(Dim);
    /// <inheritdoc/>
    protected override string ExtraRepr() => $"dim={Dim}";
}

/// <summary>Log-softmax along <c>dim</c> (PyTorch's <c>nn.LogSoftmax</c>). Shape: (*) → (*).</summary>
public sealed class LogSoftmax(int dim) : Activation
{
    /// <summary>The dimension normalized over.</summary>
    public int Dim { get; } = dim;
    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => input.LogSoftmax(Dim);
    /// <inheritdoc/>
    protected override string ExtraRepr() => $"dim={Dim}";
}
