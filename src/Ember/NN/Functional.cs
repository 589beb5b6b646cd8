namespace Ember.NN;

/// <summary>How a loss reduces over elements.</summary>
public enum Reduction
{
    /// <summary>Per-element losses, unreduced.</summary>
    None,
    /// <summary>The mean over elements (weighted mean with class weights).</summary>
    Mean,
    /// <summary>The sum over elements.</summary>
    Sum,
    /// <summary>The sum divided by the batch size (the first dimension): <see cref="Functional.KlDiv"/> only, where it
    /// gives the true KL divergence per sample (PyTorch's <c>'batchmean'</c>).</summary>
    BatchMean,
}

/// <summary>Stateless layer functions (PyTorch's <c>torch.nn.functional</c>).</summary>
public static partial class Functional
{
    /// <summary>y = x·Wᵀ + b. Shape: x (…, in), W (out, in), b (out) → (…, out). The bias is written into the
    /// output before the matrix product accumulates onto it, so the layer costs one pass, not two.</summary>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias = null) => LinearCore(x, weight, bias, relu: false);

    /// <summary>ReLU(Linear(…)) in one op: the ReLU runs over the product's output while it is in cache and the backward
    /// masks the incoming gradient by the output; values and gradients equal <c>Linear(…).Relu()</c> bit for bit.
    /// <see cref="Sequential"/> uses it for a Linear followed by a ReLU.</summary>
    internal static Tensor LinearRelu(Tensor x, Tensor weight, Tensor? bias = null) => LinearCore(x, weight, bias, relu: true);

    private static Tensor LinearCore(Tensor x, Tensor weight, Tensor? bias, bool relu)
    {
        if (weight.Dim != 2)
            throw new ArgumentException($"Linear: weight must be 2-D (out, in), got {ShapeUtil.Str(weight.Shape)}.");
        if (x.Dim == 0 || x.Size(-1) != weight.Size(1))
            throw new ArgumentException($"Linear: input shape {ShapeUtil.Str(x.Shape)} does not end in in_features={weight.Size(1)} (weight {ShapeUtil.Str(weight.Shape)}).");
        if (bias is not null && (bias.Dim != 1 || bias.Size(0) != weight.Size(0)))
            throw new ArgumentException($"Linear: bias shape {ShapeUtil.Str(bias.Shape)} does not match out_features={weight.Size(0)}.");
        // 16-bit operands are widened (exactly) and the product runs in float32.
        if (x.DType.IsLowPrecision()) x = x.To(DType.Float32);
        if (weight.DType.IsLowPrecision()) weight = weight.To(DType.Float32);
        if (Autocast.Type is DType low && x.DType == DType.Float32 && weight.DType == DType.Float32 && x.Dim >= 2)
            return LinearAutocast(x, weight, bias, relu, low);
        if (x.DType != DType.Float32 || weight.DType != DType.Float32 || x.Dim == 1)
        {
            var y = x.Matmul(weight.T);
            y = bias is null ? y : y.Add(bias);
            return relu ? y.Relu() : y;
        }
        if (x.Dim == 2) return LinearFused(x, weight, bias, relu);
        // (…, in) → (rows, in): one fused product for all leading dims (a view when the rows are dense).
        var lead = x.Shape[..^1];
        var flat = x.Reshape(-1, x.Size(-1));
        return LinearFused(flat, weight, bias, relu).View([.. lead, weight.Size(0)]);
    }

    /// <summary>Linear under <see cref="Autocast"/>: the input, weight and bias rounded to the 16-bit type, the product
    /// accumulated in float32 and rounded to the 16-bit type; the input kept for backward in 16 bits. Backward rounds the
    /// incoming gradient, and the input and weight gradients it produces, to the 16-bit type (as a 16-bit product
    /// would give them); the weight gradient reaches the float32 master weight.</summary>
    private static Tensor LinearAutocast(Tensor x, Tensor weight, Tensor? bias, bool relu, DType low)
    {
        // (…, in) → (rows, in) without a graph node: a view node would hold x's float32 values alive.
        int k = x.Size(-1), m = weight.Size(0);
        var inShape = x.Shape;
        var flat = x.Detach().Reshape(-1, k);
        int n = flat.Size(0);
        Diagnostics.Profiler.AddFlops(2L * n * k * m);
        var xLow = flat.To(low);                        // (N, in), 16 bits: what backward keeps
        var wLow = weight.Detach().To(low);             // (out, in)
        var y2 = Tensor.Empty(DType.Float32, [n, m]);
        Kernels.LinearKernels.Forward(xLow.To(DType.Float32), wLow.To(DType.Float32), bias?.Detach().To(low).To(DType.Float32), y2, relu);
        Autocast.RoundInPlace(y2, low);
        var y = x.Dim == 2 ? y2 : y2.View([.. inShape[..^1], m]);
        bool needX = x.RequiresGrad, needW = weight.RequiresGrad, needB = bias?.RequiresGrad ?? false;
        if (!(GradMode.IsEnabled && (needX || needW || needB))) return y;
        // The graph keeps x's node, not its float32 values: backward reads the 16-bit copy.
        Tensor[] inputs = bias is null ? [x.GraphShell(), weight] : [x.GraphShell(), weight, bias];
        var output = relu ? y2 : null;   // only ReLU's rule reads the output (a capture would keep it alive)
        bool hasBias = bias is not null;
        return y.Record(relu ? "LinearReluAutocastBackward" : "LinearAutocastBackward", inputs, g =>
        {
            if (GradMode.IsEnabled)
                throw new NotSupportedException("Linear under autocast: higher-order gradients (createGraph) are not supported (backward reads 16-bit copies); differentiate twice in float32.");
            g = g.Reshape(-1, m);
            if (output is not null) g = Kernels.Elementwise.Backward("ReluBackward", new Kernels.ReluBackwardOp<float>(), g, output);
            var g16 = Autocast.RoundedCopy(g, low);
            Tensor? gx = null, gw = null;
            if (needX)
            {
                gx = g16.Matmul(wLow.To(DType.Float32));                     // (N, out)·(out, in)
                Autocast.RoundInPlace(gx, low);
                gx = gx.View(inShape);
            }
            if (needW)
            {
                gw = g16.T.Matmul(xLow.To(DType.Float32));                   // (out, N)·(N, in)
                Autocast.RoundInPlace(gw, low);
            }
            if (!hasBias) return [gx, gw];
            Tensor? gb = null;
            if (needB)
            {
                gb = g16.Sum(0);
                Autocast.RoundInPlace(gb, low);
            }
            return [gx, gw, gb];
        }, output is null ? [] : [output]);
    }

    private static Tensor LinearFused(Tensor x, Tensor weight, Tensor? bias, bool relu)
    {
        Tensor.CheckSameDType("Linear", x, weight);
        int n = x.Size(0), k = x.Size(1), m = weight.Size(0);
        Diagnostics.Profiler.AddFlops(2L * n * k * m);
        var y = Tensor.Empty(DType.Float32, [n, m]);
        Kernels.LinearKernels.Forward(x, weight, bias?.Contiguous(), y, relu);
        if (!(GradMode.IsEnabled && (x.RequiresGrad || weight.RequiresGrad || (bias?.RequiresGrad ?? false)))) return y;
        Tensor[] inputs = bias is null ? [x, weight] : [x, weight, bias];
        var output = y.Detach();
        return y.Record(relu ? "LinearReluBackward" : "LinearBackward", inputs, g =>
        {
            if (GradMode.IsEnabled) return LinearBackwardRecorded(g, x, weight, bias, relu ? output : null);
            // ReLU's rule from the output: relu(c) > 0 exactly where c > 0.
            if (relu) g = Kernels.Elementwise.Backward("ReluBackward", new Kernels.ReluBackwardOp<float>(), g, output);
            var gx = x.RequiresGrad ? g.Matmul(weight.Detach()) : null;                // (N, out)·(out, in)
            Tensor? gw = null;
            // The bias gradient Σ_rows g is summed while the weight-gradient product packs gᵀ (same order, same bits).
            var biasSums = bias is { RequiresGrad: true } && weight.RequiresGrad && g.DType == DType.Float32
                && Kernels.LinearKernels.CanSumBias(m, k, n, g) ? new float[m] : null;
            if (weight.RequiresGrad)
            {
                if (AccumulateWeightGrad(weight, g, x, biasSums)) Diagnostics.Profiler.AddFlops(2L * n * k * m);
                else
                {
                    gw = g.T.Matmul(x.Detach());                                      // (out, N)·(N, in)
                    biasSums = null;
                }
            }
            if (bias is null) return [gx, gw];
            return [gx, gw, bias.RequiresGrad ? (biasSums is not null ? Tensor.FromArray(biasSums) : g.Sum(0)) : null];
        }, relu ? [x, weight, y] : [x, weight]);
    }

    /// <summary>Linear's backward as recorded ops (createGraph): the gradients depend on the input, the weight and the
    /// incoming gradient in the new graph, so they can be differentiated again (gradient penalties, Hessian-vector
    /// products). A fused ReLU masks the gradient by its output (a constant: ReLU's second derivative is zero).</summary>
    private static Tensor?[] LinearBackwardRecorded(Tensor g, Tensor x, Tensor weight, Tensor? bias, Tensor? reluOutput)
    {
        if (reluOutput is not null) g = g.Mul(reluOutput.Gt(0).To(g.DType));
        var gx = x.RequiresGrad ? g.Matmul(weight) : null;
        var gw = weight.RequiresGrad ? g.T.Matmul(x) : null;
        if (bias is null) return [gx, gw];
        return [gx, gw, bias.RequiresGrad ? g.Sum(0) : null];
    }

    /// <summary>For a float32 leaf weight, adds gᵀ·x straight into <c>weight.Grad</c> with an accumulating GEMM
    /// (allocating it as zeros the first time), so the backward pass neither allocates a gradient nor adds it.
    /// Returns false when the general path must run: non-leaf weight, a recorded backward (createGraph), or a
    /// gradient buffer that is not a dense float32 tensor of the weight's shape.</summary>
    private static bool AccumulateWeightGrad(Tensor weight, Tensor g, Tensor x, float[]? rowSums = null)
    {
        if (!weight.IsLeaf || GradMode.IsEnabled || Engine.Capturing || weight.DType != DType.Float32 || g.DType != DType.Float32 || x.DType != DType.Float32)
            return false;
        var grad = weight.Grad;
        if (grad is not null && (grad.DType != DType.Float32 || !grad.IsContiguous || !ShapeUtil.SameShape(grad.Shape, weight.Shape)))
            return false;
        grad ??= weight.Grad = Tensor.Zeros(weight.Shape);
        Kernels.LinearKernels.AddWeightGrad(g, x, grad, rowSums);
        grad.MarkModified();   // a written gradient has a new version (post-accumulate hooks see the write)
        return true;
    }

    /// <summary>max(x, 0), elementwise (<c>F.relu</c>).</summary>
    public static Tensor Relu(Tensor x) => x.Relu();

    /// <summary>max(x, 0) + slope·min(x, 0).</summary>
    public static Tensor LeakyRelu(Tensor x, double negativeSlope = 0.01) => Tensor.Where(x.Gt(0), x, x.Mul(negativeSlope));

    /// <summary>x for x &gt; 0, α(eˣ − 1) otherwise.</summary>
    public static Tensor Elu(Tensor x, double alpha = 1) => Tensor.Where(x.Gt(0), x, x.Exp().Sub(1).Mul(alpha));

    /// <summary>GELU's derivative as recorded ops of x (for createGraph): Φ(x) + x·φ(x) exactly, or the derivative of
    /// ½x(1 + tanh u), u = √(2/π)(x + 0.044715x³).</summary>
    private static Tensor GeluDerivative(Tensor x, bool tanhApproximation)
    {
        if (!tanhApproximation)
        {
            var cdf = x.Mul(1 / Math.Sqrt(2)).Erf().Add(1).Mul(0.5);
            var pdf = x.Mul(x).Mul(-0.5).Exp().Mul(1 / Math.Sqrt(2 * Math.PI));
            return cdf.Add(x.Mul(pdf));
        }
        double c = Math.Sqrt(2 / Math.PI);
        var t = x.Add(x.Pow(3).Mul(0.044715)).Mul(c).Tanh();
        var du = x.Mul(x).Mul(3 * 0.044715).Add(1).Mul(c);
        return t.Add(1).Mul(0.5).Add(x.Mul(0.5).Mul(t.Mul(t).Neg().Add(1)).Mul(du));
    }

    /// <summary>GELU: x·Φ(x) exactly (with erf), or the tanh approximation of Hendrycks &amp; Gimpel (2016).</summary>
    public static Tensor Gelu(Tensor x, bool tanhApproximation = false)
    {
        if (x.DType == DType.Float32)
        {
            // Fused kernels: one output allocation forward, one backward (the composition below costs 6–10).
            var y = Kernels.Elementwise.Unary<float, float, Kernels.GeluOp>(new(tanhApproximation), x);
            if (!(GradMode.IsEnabled && x.RequiresGrad)) return y;
            if (Autocast.Type is DType low) return GeluAutocast(x, y, tanhApproximation, low);
            return y.Record("GeluBackward", x, g => GradMode.IsEnabled ? g.Mul(GeluDerivative(x, tanhApproximation))   // createGraph: recorded ops
                : Kernels.Elementwise.Backward("GeluBackward", new Kernels.GeluBackwardOp(tanhApproximation), g, x.Detach()), x);
        }
        if (!tanhApproximation) return x.Mul(x.Mul(1 / Math.Sqrt(2)).Erf().Add(1)).Mul(0.5);
        var inner = x.Add(x.Pow(3).Mul(0.044715)).Mul(Math.Sqrt(2 / Math.PI));
        return x.Mul(inner.Tanh().Add(1)).Mul(0.5);
    }

    /// <summary>GELU's record under autocast: the input kept in 16 bits (exact when it comes from an autocast Linear,
    /// whose outputs are 16-bit values) and the graph holding only its node. A method of its own so that the rule's
    /// closure cannot capture the float32 input (C# lambdas of one method share the captured variables).</summary>
    private static Tensor GeluAutocast(Tensor x, Tensor y, bool tanhApproximation, DType low)
    {
        var xLow = x.Detach().To(low);
        return y.Record("GeluAutocastBackward", [x.GraphShell()], g => GradMode.IsEnabled
            ? throw new NotSupportedException("GELU under autocast: higher-order gradients (createGraph) are not supported (backward reads a 16-bit copy); differentiate twice in float32.")
            : [Kernels.Elementwise.Backward("GeluBackward", new Kernels.GeluBackwardOp(tanhApproximation), g, xLow.To(DType.Float32))]);
    }

    /// <summary>SiLU (swish): x·σ(x).</summary>
    public static Tensor Silu(Tensor x) => x.Mul(x.Sigmoid());

    /// <summary>Inverted dropout: zeroes each element with probability p and scales the rest by 1/(1 − p) in
    /// training; identity otherwise.</summary>
    public static Tensor Dropout(Tensor x, double p = 0.5, bool training = true, Generator? generator = null)
    {
        if (p < 0 || p > 1) throw new ArgumentException($"Dropout: probability must be in [0, 1], got {p}.");
        if (!training || p == 0) return x;
        if (p == 1) return x.Mul(0.0);
        return x.Mul(Tensor.ScaledBernoulli(x.Shape, 1 - p, 1 / (1 - p), x.DType, generator));
    }
}
