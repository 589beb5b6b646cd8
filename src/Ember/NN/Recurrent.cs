namespace Ember.NN;

/// <summary>Which recurrent cell a <see cref="RecurrentBase"/> runs.</summary>
public enum RecurrentMode
{
    /// <summary>Elman RNN with tanh.</summary>
    RnnTanh,
    /// <summary>Elman RNN with ReLU.</summary>
    RnnRelu,
    /// <summary>Long short-term memory (gates i, f, g, o).</summary>
    Lstm,
    /// <summary>Gated recurrent unit (gates r, z, n).</summary>
    Gru,
}

/// <summary>Multi-layer, optionally bidirectional recurrent networks with PyTorch's semantics, shapes and parameter
/// names (weight_ih_l{k}[_reverse], weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k}; gate order i, f, g, o for LSTM and
/// r, z, n for GRU). Input (L, N, H_in), or (N, L, H_in) with <c>batchFirst</c>, or unbatched (L, H_in). Each layer
/// projects the whole input sequence at once, then steps through time with the hidden-to-hidden product;
/// gradients flow through time by autograd. Dropout (training only) applies between layers.
/// Shape: input (L, N, H_in) → output (L, N, D·H_out) with D = 2 when bidirectional (batch-first: N first; unbatched: no N), and the final hidden (and LSTM cell) state (D·num_layers, N, H_out).</summary>
public abstract class RecurrentBase : Module
{
    /// <summary>Features of the input H_in.</summary>
    public int InputSize { get; }
    /// <summary>Features of the hidden state H_out.</summary>
    public int HiddenSize { get; }
    /// <summary>Stacked layers.</summary>
    public int NumLayers { get; }
    /// <summary>Run each layer in both directions (outputs concatenated: 2·H_out features).</summary>
    public bool Bidirectional { get; }
    /// <summary>Input and output are (N, L, H) instead of (L, N, H).</summary>
    public bool BatchFirst { get; }
    /// <summary>Dropout between layers (training only).</summary>
    public double DropoutP { get; }
    /// <summary>The cell type.</summary>
    public RecurrentMode Mode { get; }
    private readonly int _gates;
    private readonly Generator? _generator;
    internal override Generator? RandomSource => DropoutP > 0 ? _generator ?? Generator.Default : null;
    private readonly List<(Tensor Wih, Tensor Whh, Tensor? Bih, Tensor? Bhh)> _weights = new();
    private List<(Quantization.Int8Weight Ih, Quantization.Int8Weight Hh)>? _int8;

    /// <summary>True once <see cref="QuantizeInt8"/> has made the weights int8.</summary>
    public bool IsQuantized => _int8 is not null;

    /// <summary>A recurrent network of <paramref name="numLayers"/> layers of the <paramref name="mode"/> cell.</summary>
    protected RecurrentBase(RecurrentMode mode, int inputSize, int hiddenSize, int numLayers, bool bias, bool batchFirst, double dropout,
        bool bidirectional, DType dtype, Generator? generator)
    {
        string name = GetType().Name;
        if (inputSize < 1 || hiddenSize < 1 || numLayers < 1)
            throw new ArgumentException($"{name}: input_size ({inputSize}), hidden_size ({hiddenSize}) and num_layers ({numLayers}) must be positive.");
        if (dropout is < 0 or > 1) throw new ArgumentException($"{name}: dropout must be in [0, 1], got {dropout}.");
        (Mode, InputSize, HiddenSize, NumLayers, BatchFirst, DropoutP, Bidirectional, _generator) =
            (mode, inputSize, hiddenSize, numLayers, batchFirst, dropout, bidirectional, generator);
        _gates = mode switch { RecurrentMode.Lstm => 4, RecurrentMode.Gru => 3, _ => 1 };
        double bound = 1 / Math.Sqrt(hiddenSize);
        for (int layer = 0; layer < numLayers; layer++)
            for (int dir = 0; dir < (bidirectional ? 2 : 1); dir++)
            {
                string suffix = $"_l{layer}" + (dir == 1 ? "_reverse" : "");
                int inSize = layer == 0 ? inputSize : hiddenSize * (bidirectional ? 2 : 1);
                Tensor P(string n, int[] shape)
                {
                    var t = RegisterParameter(n + suffix, Tensor.Empty(dtype, shape, zero: true))!;
                    Init.Uniform(t, -bound, bound, generator);
                    return t;
                }
                var wih = P("weight_ih", [_gates * hiddenSize, inSize]);
                var whh = P("weight_hh", [_gates * hiddenSize, hiddenSize]);
                var bih = bias ? P("bias_ih", [_gates * hiddenSize]) : null;
                var bhh = bias ? P("bias_hh", [_gates * hiddenSize]) : null;
                _weights.Add((wih, whh, bih, bhh));
            }
    }

    /// <summary>Dynamic int8 quantization (PyTorch's quantized dynamic LSTM/GRU): every weight_ih and weight_hh becomes
    /// int8 per gate row (<c>weight_ih_l0</c> int8 with <c>weight_ih_l0_scale</c>, …); the input projection of all
    /// time steps and each step's hidden projection run through the int8 product, inputs and hidden states quantized
    /// per row; biases and the gate arithmetic stay float32. Gradients reach the inputs through the dequantized
    /// weights; the int8 weights are not trained. Idempotent.</summary>
    public void QuantizeInt8()
    {
        if (_int8 is not null) return;
        var quantized = new List<(Quantization.Int8Weight, Quantization.Int8Weight)>();
        int dirs = Bidirectional ? 2 : 1;
        for (int k = 0; k < _weights.Count; k++)
        {
            string suffix = $"_l{k / dirs}" + (k % dirs == 1 ? "_reverse" : "");
            Quantization.Int8Weight Swap(string name, Tensor w)
            {
                if (w.DType != DType.Float32) throw new NotSupportedException($"{GetType().Name}.QuantizeInt8: {name} is {w.DType.Name()}; int8 quantization starts from float32.");
                var q = Quantization.Int8Weight.Quantize(w);
                RemoveParameter(name);
                RegisterBuffer(name, q.Values);
                RegisterBuffer(name + "_scale", q.Scales);
                return q;
            }
            quantized.Add((Swap("weight_ih" + suffix, _weights[k].Wih), Swap("weight_hh" + suffix, _weights[k].Whh)));
            _weights[k] = (Tensor.Empty(DType.Float32, [0]), Tensor.Empty(DType.Float32, [0]), _weights[k].Bih, _weights[k].Bhh);
        }
        _int8 = quantized;
    }

    /// <summary>The output sequence only (zero initial state).</summary>
    public override Tensor Forward(Tensor input) => Run(input, null, null).Output;

    /// <summary>Runs the network. <paramref name="h0"/> (and <paramref name="c0"/> for LSTM) are
    /// (num_layers·directions, N, H), or without N for unbatched input; null means zeros. Returns the output
    /// (L, N, directions·H) and the final states.</summary>
    protected (Tensor Output, Tensor H, Tensor? C) Run(Tensor input, Tensor? h0, Tensor? c0)
    {
        string name = GetType().Name;
        bool batched = input.Dim == 3;
        if (input.Dim is not (2 or 3) || input.Size(-1) != InputSize)
            throw new ArgumentException($"{name}: expected input (L, N, {InputSize}) (or batch-first / unbatched), got {ShapeUtil.Str(input.Shape)}.");
        var x = !batched ? input.Unsqueeze(1) : BatchFirst ? input.Transpose(0, 1) : input;   // (L, N, in)
        int len = x.Size(0), n = x.Size(1), dirs = Bidirectional ? 2 : 1;
        Tensor? State(Tensor? s, string what)
        {
            if (s is null) return null;
            var st = batched ? s : s.Unsqueeze(1);
            if (st.Dim != 3 || st.Size(0) != NumLayers * dirs || st.Size(1) != n || st.Size(2) != HiddenSize)
                throw new ArgumentException($"{name}: {what} must be ({NumLayers * dirs}, {n}, {HiddenSize}), got {ShapeUtil.Str(s.Shape)}.");
            return st;
        }
        var h0s = State(h0, "h0");
        var c0s = State(c0, "c0");
        var hs = new List<Tensor>();
        var cs = new List<Tensor>();
        for (int layer = 0; layer < NumLayers; layer++)
        {
            var outs = new List<Tensor>();
            for (int dir = 0; dir < dirs; dir++)
            {
                int k = layer * dirs + dir;
                var (seq, h, c) = Direction(x, _weights[k], _int8?[k], h0s?.Select(0, k), c0s?.Select(0, k), reverse: dir == 1, n);
                outs.Add(seq);
                hs.Add(h);
                if (c is not null) cs.Add(c);
            }
            x = dirs == 1 ? outs[0] : Tensor.Cat(outs, 2);
            if (layer < NumLayers - 1 && DropoutP > 0 && Training) x = Functional.Dropout(x, DropoutP, true, _generator);
        }
        var output = !batched ? x.Squeeze(1) : BatchFirst ? x.Transpose(0, 1) : x;
        var hn = Tensor.Stack(hs, 0);
        var cn = cs.Count > 0 ? Tensor.Stack(cs, 0) : null;
        if (!batched) { hn = hn.Squeeze(1); cn = cn?.Squeeze(1); }
        return (output, hn, cn);
    }

    private (Tensor Seq, Tensor H, Tensor? C) Direction(Tensor x, (Tensor Wih, Tensor Whh, Tensor? Bih, Tensor? Bhh) w,
        (Quantization.Int8Weight Ih, Quantization.Int8Weight Hh)? q, Tensor? h0, Tensor? c0, bool reverse, int n)
    {
        int len = x.Size(0), hsz = HiddenSize;
        // All time steps' input projections in one product: (L, N, gates·H).
        var xp = q is var (qih, _) ? Quantization.QuantizedOps.Linear(x, qih, w.Bih, relu: false) : Functional.Linear(x, w.Wih, w.Bih);
        var h = h0 ?? Tensor.Zeros([n, hsz], x.DType);
        var c = Mode == RecurrentMode.Lstm ? c0 ?? Tensor.Zeros([n, hsz], x.DType) : null;
        var steps = new Tensor[len];
        for (int s = 0; s < len; s++)
        {
            int t = reverse ? len - 1 - s : s;
            var gx = xp.Select(0, t);
            var gh = q is var (_, qhh) ? Quantization.QuantizedOps.Linear(h, qhh, w.Bhh, relu: false) : Functional.Linear(h, w.Whh, w.Bhh);
            switch (Mode)
            {
                case RecurrentMode.RnnTanh: h = gx.Add(gh).Tanh(); break;
                case RecurrentMode.RnnRelu: h = gx.Add(gh).Relu(); break;
                case RecurrentMode.Lstm:
                {
                    var g = gx.Add(gh);
                    var i = g.Narrow(1, 0, hsz).Sigmoid();
                    var f = g.Narrow(1, hsz, hsz).Sigmoid();
                    var gg = g.Narrow(1, 2 * hsz, hsz).Tanh();
                    var o = g.Narrow(1, 3 * hsz, hsz).Sigmoid();
                    c = f.Mul(c!).Add(i.Mul(gg));
                    h = o.Mul(c.Tanh());
                    break;
                }
                case RecurrentMode.Gru:
                {
                    var r = gx.Narrow(1, 0, hsz).Add(gh.Narrow(1, 0, hsz)).Sigmoid();
                    var z = gx.Narrow(1, hsz, hsz).Add(gh.Narrow(1, hsz, hsz)).Sigmoid();
                    var nn = gx.Narrow(1, 2 * hsz, hsz).Add(r.Mul(gh.Narrow(1, 2 * hsz, hsz))).Tanh();
                    h = nn.Add(z.Mul(h.Sub(nn)));          // (1 − z)·n + z·h
                    break;
                }
            }
            steps[t] = h;
        }
        return (Tensor.Stack(steps, 0), h, c);
    }

    /// <inheritdoc/>
    protected override string ExtraRepr() =>
        $"{InputSize}, {HiddenSize}" + (_int8 is not null ? ", dtype=qint8" : "") + (NumLayers != 1 ? $", num_layers={NumLayers}" : "") + (BatchFirst ? ", batch_first=True" : "") +
        (DropoutP > 0 ? $", dropout={DropoutP}" : "") + (Bidirectional ? ", bidirectional=True" : "");
}

/// <summary>Elman RNN: h_t = tanh (or ReLU)(x_t·W_ihᵀ + b_ih + h_{t−1}·W_hhᵀ + b_hh).</summary>
public sealed class RNN(int inputSize, int hiddenSize, int numLayers = 1, bool relu = false, bool bias = true, bool batchFirst = false,
    double dropout = 0, bool bidirectional = false, DType dtype = DType.Float32, Generator? generator = null)
    : RecurrentBase(relu ? RecurrentMode.RnnRelu : RecurrentMode.RnnTanh, inputSize, hiddenSize, numLayers, bias, batchFirst, dropout, bidirectional, dtype, generator)
{
    /// <summary>Output sequence and final hidden state h_n.</summary>
    public (Tensor Output, Tensor Hidden) Forward(Tensor input, Tensor? h0)
    {
        var (o, h, _) = Run(input, h0, null);
        return (o, h);
    }
}

/// <summary>Long short-term memory (Hochreiter &amp; Schmidhuber, 1997) with PyTorch's gate layout (i, f, g, o).</summary>
public sealed class LSTM(int inputSize, int hiddenSize, int numLayers = 1, bool bias = true, bool batchFirst = false,
    double dropout = 0, bool bidirectional = false, DType dtype = DType.Float32, Generator? generator = null)
    : RecurrentBase(RecurrentMode.Lstm, inputSize, hiddenSize, numLayers, bias, batchFirst, dropout, bidirectional, dtype, generator)
{
    /// <summary>Output sequence and final (h_n, c_n).</summary>
    public (Tensor Output, Tensor Hidden, Tensor Cell) Forward(Tensor input, Tensor? h0, Tensor? c0)
    {
        var (o, h, c) = Run(input, h0, c0);
        return (o, h, c!);
    }
}

/// <summary>Gated recurrent unit (Cho et al., 2014) with PyTorch's gate layout (r, z, n).</summary>
public sealed class GRU(int inputSize, int hiddenSize, int numLayers = 1, bool bias = true, bool batchFirst = false,
    double dropout = 0, bool bidirectional = false, DType dtype = DType.Float32, Generator? generator = null)
    : RecurrentBase(RecurrentMode.Gru, inputSize, hiddenSize, numLayers, bias, batchFirst, dropout, bidirectional, dtype, generator)
{
    /// <summary>Output sequence and final hidden state h_n.</summary>
    public (Tensor Output, Tensor Hidden) Forward(Tensor input, Tensor? h0)
    {
        var (o, h, _) = Run(input, h0, null);
        return (o, h);
    }
}
