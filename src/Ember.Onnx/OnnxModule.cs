using System.Runtime.InteropServices;
using Ember.NN;
using Ember.OnnxProto;

namespace Ember;

/// <summary>
/// An ONNX graph run by Ember's own ops (<see cref="Onnx.Load"/>): float initializers become trainable parameters
/// (named as in the file, dots turned into underscores), BatchNormalization statistics and integer constants become
/// buffers, and <see cref="Module.Forward(Tensor)"/> evaluates the nodes in order, so the result trains like any other
/// module. One input, one output. Covers what PyTorch's exporter writes for MLPs, CNNs and Transformer-style stacks (opsets
/// 13–17): Gemm, MatMul, the elementwise arithmetic and activations (incl. Erf-based GELU), Conv, BatchNormalization,
/// MaxPool, AveragePool, GlobalAveragePool, Pad, Flatten, Reshape, Transpose, Softmax, LogSoftmax, LayerNormalization,
/// ReduceMean, Shape, Gather, Unsqueeze, Squeeze, Concat, Slice, Constant, ConstantOfShape, Cast, Where, Equal, Range.
/// </summary>
public sealed class OnnxModule : Module
{
    private readonly GraphProto _graph;
    private readonly Dictionary<string, Tensor> _initializers = new();
    private readonly int _opset;
    private readonly string _source;

    /// <summary>The graph's input name.</summary>
    public string InputName { get; }

    /// <summary>The graph's output name.</summary>
    public string OutputName { get; }

    /// <summary>The input's shape as the file declares it (−1 for a symbolic dimension such as the batch).</summary>
    public int[] InputShape { get; }

    /// <summary>The output's shape as the file declares it (−1 for a symbolic dimension).</summary>
    public int[] OutputShape { get; }

    private static int[] Dims(ValueInfoProto v) =>
        v.Type?.TensorType?.Shape?.Dim.Select(d => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue ? (int)d.DimValue : -1).ToArray() ?? [];

    internal OnnxModule(ModelProto model, string source)
    {
        _source = source;
        _graph = model.Graph ?? throw new InvalidDataException($"{source}: the ONNX model has no graph.");
        _opset = (int)(model.OpsetImport.FirstOrDefault(o => o.Domain is "" or "ai.onnx")?.Version ?? 0);
        if (_opset is < 13 or > 17)
            throw new NotSupportedException($"{source}: opset {_opset} is not supported; Onnx.Load reads opsets 13 to 17.");
        var initializerNames = _graph.Initializer.Select(i => i.Name).ToHashSet();
        var inputs = _graph.Input.Where(i => !initializerNames.Contains(i.Name)).ToList();
        if (inputs.Count != 1 || _graph.Output.Count != 1)
            throw new NotSupportedException($"{source}: Onnx.Load takes graphs of one input and one output, this one has {inputs.Count} and {_graph.Output.Count}.");
        InputName = inputs[0].Name;
        OutputName = _graph.Output[0].Name;
        InputShape = Dims(inputs[0]);
        OutputShape = Dims(_graph.Output[0]);
        var statistics = _graph.Node.Where(n => n.OpType == "BatchNormalization").SelectMany(n => n.Input.Skip(3)).ToHashSet();
        // Recurrent nodes become Ember RNN/LSTM/GRU modules holding their weights (trainable there).
        var initializers = _graph.Initializer.ToDictionary(i => i.Name);
        var consumed = new HashSet<string>();
        foreach (var node in _graph.Node.Where(n => n.OpType is "LSTM" or "GRU" or "RNN"))
        {
            _recurrent[node] = RegisterModule($"recurrent_{_recurrent.Count}", BuildRecurrent(node, initializers, source));
            foreach (var name in node.Input.Skip(1).Take(3)) if (name.Length > 0) consumed.Add(name);
        }
        var taken = new HashSet<string>();
        foreach (var init in _graph.Initializer)
        {
            if (consumed.Contains(init.Name)) continue;
            var t = ToTensor(init, source);
            string name = init.Name.Replace('.', '_');
            if (name.Length == 0 || !taken.Add(name)) name = $"initializer_{taken.Count}";
            taken.Add(name);
            bool trainable = t.DType == DType.Float32 && !statistics.Contains(init.Name);
            _initializers[init.Name] = trainable ? RegisterParameter(name, t)! : RegisterBuffer(name, t)!;
        }
    }

    private readonly Dictionary<NodeProto, RecurrentBase> _recurrent = new(ReferenceEqualityComparer.Instance);

    /// <summary>An ONNX RNN/LSTM/GRU node as an Ember module: one layer, its W, R, B initializers with the gate blocks
    /// reordered from ONNX's (i, o, f, c) / (z, r, h) to PyTorch's (i, f, g, o) / (r, z, n).</summary>
    private static RecurrentBase BuildRecurrent(NodeProto node, Dictionary<string, TensorProto> initializers, string source)
    {
        NotSupportedException Refuse(string what) =>
            new($"{source}: node '{node.Name}' of type {node.OpType}: {what} is not supported by Onnx.Load.");
        Tensor Constant(int i) => i < node.Input.Count && initializers.TryGetValue(node.Input[i], out var t) ? ToTensor(t, source)
            : throw Refuse($"input {i} that is not an initializer");
        string Text(string name, string fallback) => node.Attribute.FirstOrDefault(a => a.Name == name)?.S.ToStringUtf8() ?? fallback;
        long Int(string name, long fallback) => node.Attribute.FirstOrDefault(a => a.Name == name)?.I ?? fallback;
        if (node.Input.Count > 4 && node.Input[4].Length > 0) throw Refuse("sequence_lens");
        if (node.Attribute.Any(a => a.Name is "clip" or "input_forget")) throw Refuse("clip and input_forget");
        string direction = Text("direction", "forward");
        if (direction == "reverse") throw Refuse("direction 'reverse'");
        bool bidirectional = direction == "bidirectional", batchFirst = Int("layout", 0) == 1;
        var w = Constant(1); var r = Constant(2);
        Tensor? b = node.Input.Count > 3 && node.Input[3].Length > 0 ? Constant(3) : null;
        int hidden = (int)Int("hidden_size", r.Size(2)), input = w.Size(2);
        int[] order;
        RecurrentBase module;
        switch (node.OpType)
        {
            case "LSTM":
                order = [0, 2, 3, 1];   // i, f, g(c), o from i, o, f, c
                module = new LSTM(input, hidden, 1, b is not null, batchFirst, bidirectional: bidirectional);
                break;
            case "GRU":
                if (Int("linear_before_reset", 0) != 1) throw Refuse("linear_before_reset = 0 (PyTorch's GRU applies the reset after the product)");
                order = [1, 0, 2];      // r, z, n from z, r, h
                module = new GRU(input, hidden, 1, b is not null, batchFirst, bidirectional: bidirectional);
                break;
            default:
                var activations = node.Attribute.FirstOrDefault(a => a.Name == "activations")?.Strings.Select(x => x.ToStringUtf8()).Distinct().ToArray() ?? ["Tanh"];
                if (activations.Length != 1 || activations[0] is not ("Tanh" or "Relu")) throw Refuse("activations other than Tanh or Relu");
                order = [0];
                module = new RNN(input, hidden, 1, relu: activations[0] == "Relu", bias: b is not null, batchFirst: batchFirst, bidirectional: bidirectional);
                break;
        }
        Tensor Reorder(Tensor t) => Tensor.Cat(order.Select(g => t.Narrow(0, g * hidden, hidden)).ToArray(), 0);
        var state = new Dictionary<string, Tensor>();
        int gates = order.Length;
        for (int d = 0; d < (bidirectional ? 2 : 1); d++)
        {
            string suffix = "_l0" + (d == 1 ? "_reverse" : "");
            state["weight_ih" + suffix] = Reorder(w.Select(0, d)).To(DType.Float32);
            state["weight_hh" + suffix] = Reorder(r.Select(0, d)).To(DType.Float32);
            if (b is not null)
            {
                state["bias_ih" + suffix] = Reorder(b.Select(0, d).Narrow(0, 0, gates * hidden)).To(DType.Float32);
                state["bias_hh" + suffix] = Reorder(b.Select(0, d).Narrow(0, gates * hidden, gates * hidden)).To(DType.Float32);
            }
        }
        module.LoadStateDict(state);
        return module;
    }

    /// <summary>Runs a recurrent node: ONNX's Y (L, D, N, H) — (N, L, D, H) with layout 1 —, Y_h and Y_c (D, N, H).</summary>
    private Tensor[] RunRecurrent(NodeProto node, Tensor x, Tensor? h0, Tensor? c0)
    {
        var module = _recurrent[node];
        int d = module.Bidirectional ? 2 : 1, h = module.HiddenSize;
        Tensor output, hn;
        Tensor? cn = null;
        if (module.BatchFirst && h0 is not null) h0 = h0.Permute(1, 0, 2).Contiguous();
        if (module.BatchFirst && c0 is not null) c0 = c0.Permute(1, 0, 2).Contiguous();
        switch (module)
        {
            case LSTM lstm: (output, hn, cn) = lstm.Forward(x, h0, c0); break;
            case GRU gru: (output, hn) = gru.Forward(x, h0); break;
            default: (output, hn) = ((RNN)module).Forward(x, h0); break;
        }
        // Ember: (L, N, D·H), or (N, L, D·H) batch-first.
        var y = module.BatchFirst ? output.Reshape(output.Size(0), output.Size(1), d, h)
            : output.Reshape(output.Size(0), output.Size(1), d, h).Permute(0, 2, 1, 3);
        Tensor State(Tensor t) => module.BatchFirst ? t.Permute(1, 0, 2) : t;
        return cn is null ? [y, State(hn)] : [y, State(hn), State(cn)];
    }

    /// <summary>Reads an ONNX tensor (raw data or typed fields) as an Ember tensor (float, double and integer types).</summary>
    internal static Tensor ToTensor(TensorProto t, string source)
    {
        var result = ToTensorOrVector(t, source);
        return t.Dims.Count == 0 ? result.Reshape(Array.Empty<int>()) : result;   // dims [] is a scalar (0-d)
    }

    private static Tensor ToTensorOrVector(TensorProto t, string source)
    {
        int[] shape = t.Dims.Select(d => checked((int)d)).ToArray();
        long count = shape.Aggregate(1L, (a, b) => a * b);
        var type = (TensorProto.Types.DataType)t.DataType;
        byte[] raw = t.RawData.ToByteArray();
        switch (type)
        {
            case TensorProto.Types.DataType.Float:
            {
                var v = raw.Length > 0 ? MemoryMarshal.Cast<byte, float>(raw).ToArray() : t.FloatData.ToArray();
                Check(v.Length);
                return Tensor.FromArray(v.Select(x => (double)x).ToArray(), shape).To(DType.Float32);
            }
            case TensorProto.Types.DataType.Double:
            {
                var v = raw.Length > 0 ? MemoryMarshal.Cast<byte, double>(raw).ToArray() : t.DoubleData.ToArray();
                Check(v.Length);
                return Tensor.FromArray(v, shape);
            }
            case TensorProto.Types.DataType.Int64:
            {
                var v = raw.Length > 0 ? MemoryMarshal.Cast<byte, long>(raw).ToArray() : t.Int64Data.ToArray();
                Check(v.Length);
                return Tensor.FromArray(v, shape);
            }
            case TensorProto.Types.DataType.Int32:
            {
                var v = raw.Length > 0 ? MemoryMarshal.Cast<byte, int>(raw).ToArray() : t.Int32Data.ToArray();
                Check(v.Length);
                return Tensor.FromArray(v.Select(x => (long)x).ToArray(), shape);
            }
            case TensorProto.Types.DataType.Bool:
            {
                var v = raw.Length > 0 ? raw.Select(b => b != 0).ToArray() : t.Int32Data.Select(x => x != 0).ToArray();
                Check(v.Length);
                return Tensor.FromArray(v, shape);
            }
            default:
                throw new NotSupportedException($"{source}: tensor '{t.Name}' has element type {type}; Onnx.Load reads float, double, int32, int64 and bool.");
        }
        void Check(long n)
        {
            if (n != count) throw new InvalidDataException($"{source}: tensor '{t.Name}' holds {n} values for shape [{string.Join(", ", shape)}].");
        }
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        var values = new Dictionary<string, Tensor>(_initializers) { [InputName] = input };
        foreach (var node in _graph.Node)
        {
            var outputs = Run(node, values);
            for (int i = 0; i < outputs.Length && i < node.Output.Count; i++)
                if (node.Output[i].Length > 0) values[node.Output[i]] = outputs[i];
        }
        return values.TryGetValue(OutputName, out var y) ? y
            : throw new InvalidDataException($"{_source}: no node produces the output '{OutputName}'.");
    }

    private Tensor[] Run(NodeProto node, Dictionary<string, Tensor> values)
    {
        Tensor In(int i) => i < node.Input.Count && node.Input[i].Length > 0 && values.TryGetValue(node.Input[i], out var t) ? t
            : throw new InvalidDataException($"{_source}: node '{node.Name}' ({node.OpType}) reads '{(i < node.Input.Count ? node.Input[i] : $"input {i}")}', which no earlier node or initializer provides.");
        Tensor? Opt(int i) => i < node.Input.Count && node.Input[i].Length > 0 ? In(i) : null;
        AttributeProto? A(string name) => node.Attribute.FirstOrDefault(a => a.Name == name);
        long I(string name, long fallback) => A(name)?.I ?? fallback;
        float F(string name, float fallback) => A(name) is { } a ? a.F : fallback;
        long[]? Ints(string name) => A(name)?.Ints.ToArray();
        long[] Longs(Tensor t) => t.To(DType.Int64).Contiguous().ToArray<long>();
        int Axis(long axis, int rank) => (int)(axis < 0 ? axis + rank : axis);
        var x = node.Input.Count > 0 && node.Input[0].Length > 0 ? In(0) : null;

        switch (node.OpType)
        {
            case "Identity":
            case "Dropout":
                return [x!];
            case "Add": return [Promote(x!, In(1), (a, b) => a.Add(b))];
            case "Sub": return [Promote(x!, In(1), (a, b) => a.Sub(b))];
            case "Mul": return [Promote(x!, In(1), (a, b) => a.Mul(b))];
            case "Div": return [Promote(x!, In(1), (a, b) => a.DType == DType.Int64 ? IntegerDivide(a, b) : a.Div(b))];
            case "Pow": return [x!.Pow(In(1).To(x!.DType))];
            case "Neg": return [x!.Neg()];
            case "Sqrt": return [x!.Sqrt()];
            case "Exp": return [x!.Exp()];
            case "Log": return [x!.Log()];
            case "Abs": return [x!.Abs()];
            case "Reciprocal": return [x!.Reciprocal()];
            case "Relu": return [x!.Relu()];
            case "Sigmoid": return [x!.Sigmoid()];
            case "Tanh": return [x!.Tanh()];
            case "Erf": return [x!.Erf()];
            case "LeakyRelu": return [Functional.LeakyRelu(x!, F("alpha", 0.01f))];
            case "Elu": return [Functional.Elu(x!, F("alpha", 1f))];
            case "Softmax": return [x!.Softmax(Axis(I("axis", -1), x!.Dim))];
            case "LogSoftmax": return [x!.LogSoftmax(Axis(I("axis", -1), x!.Dim))];
            case "MatMul": return [x!.Matmul(In(1))];
            case "Gemm":
            {
                var a = I("transA", 0) != 0 ? x!.T : x!;
                var b = I("transB", 0) != 0 ? In(1).T : In(1);
                var y = a.Matmul(b);
                float alpha = F("alpha", 1f), beta = F("beta", 1f);
                if (alpha != 1) y = y.Mul(alpha);
                var c = Opt(2);
                if (c is not null) y = y.Add(beta == 1 ? c : c.Mul(beta));
                return [y];
            }
            case "Conv": return [Conv(node, x!, In(1), Opt(2), Ints("pads"), Ints("strides"), Ints("dilations"), (int)I("group", 1))];
            case "BatchNormalization":
                return [Functional.BatchNorm(x!, In(3), In(4), In(1), In(2), training: false, eps: F("epsilon", 1e-5f))];
            case "LayerNormalization":
            {
                int axis = Axis(I("axis", -1), x!.Dim);
                return [Functional.LayerNorm(x!, x!.Shape[axis..], In(1), Opt(2), F("epsilon", 1e-5f))];
            }
            case "MaxPool":
            case "AveragePool":
                return [Pool(node, x!, Ints("kernel_shape")!, Ints("pads"), Ints("strides"), Ints("dilations"), I("ceil_mode", 0) != 0,
                    I("count_include_pad", 0) != 0)];
            case "GlobalAveragePool": return [x!.Mean(Enumerable.Range(2, x!.Dim - 2).ToArray(), keepDim: true)];
            case "Pad":
            {
                if (A("mode") is { } mode && mode.S.ToStringUtf8() != "constant") throw Unsupported(node, "Pad modes other than constant");
                var pads = Longs(In(1));
                int rank = x!.Dim;
                double fill = Opt(2) is { } v ? v.To(DType.Float64).Item() : 0;
                // ONNX: all begins then all ends; Ember (PyTorch): last dim first, (begin, end) pairs.
                var torchPads = new List<int>();
                for (int d = rank - 1; d >= 0; d--) { torchPads.Add((int)pads[d]); torchPads.Add((int)pads[d + rank]); }
                while (torchPads.Count > 2 && torchPads[^1] == 0 && torchPads[^2] == 0) torchPads.RemoveRange(torchPads.Count - 2, 2);
                return [Functional.Pad(x, [.. torchPads], fill)];
            }
            case "Flatten":
            {
                int axis = Axis(I("axis", 1), x!.Dim);
                int lead = x!.Shape[..axis].Aggregate(1, (a, b) => a * b);
                return [x!.Reshape(lead, -1)];
            }
            case "Reshape":
            {
                var shape = Longs(In(1));
                var target = shape.Select((s, i) => s == 0 && I("allowzero", 0) == 0 ? x!.Size(i) : (int)s).ToArray();
                return [x!.Reshape(target)];
            }
            case "Transpose":
            {
                var perm = Ints("perm") ?? Enumerable.Range(0, x!.Dim).Reverse().Select(i => (long)i).ToArray();
                return [x!.Permute(perm.Select(p => (int)p).ToArray())];
            }
            case "ReduceMean":
            {
                var axes = (Ints("axes") ?? Enumerable.Range(0, x!.Dim).Select(i => (long)i).ToArray()).Select(a => Axis(a, x!.Dim)).ToArray();
                return [x!.Mean(axes, keepDim: I("keepdims", 1) != 0)];
            }
            case "Shape": return [Tensor.FromArray(x!.Shape.Select(d => (long)d).ToArray())];
            case "Constant":
                return [A("value") is { } value ? ToTensor(value.T, _source)
                    : A("value_float") is { } vf ? Tensor.Scalar(vf.F, DType.Float32)
                    : A("value_int") is { } vi ? Tensor.Scalar(vi.I, DType.Int64)
                    : A("value_ints") is { } vis ? Tensor.FromArray(vis.Ints.ToArray())
                    : throw Unsupported(node, "Constant without value, value_float, value_int or value_ints")];
            case "ConstantOfShape":
            {
                var shape = Longs(x!).Select(d => (int)d).ToArray();
                var fillValue = A("value") is { } v ? ToTensor(v.T, _source) : Tensor.Zeros([1]);
                return [fillValue.Reshape(-1).Expand(shape.Length == 0 ? [1] : shape).Contiguous().Reshape(shape)];
            }
            case "Gather":
            {
                int axis = Axis(I("axis", 0), x!.Dim);
                var idx = In(1).To(DType.Int64);
                var flat = idx.Dim == 0 ? idx.Reshape(1) : idx.Reshape(-1);
                // Negative indices count from the end.
                var wrapped = Tensor.Where(flat.Lt(0), flat.Add(x!.Size(axis)), flat);
                var g = x!.IndexSelect(axis, wrapped);
                if (idx.Dim == 0) return [g.Squeeze(axis)];                       // a scalar index drops the axis
                var outShape = x!.Shape[..axis].Concat(idx.Shape).Concat(x!.Shape[(axis + 1)..]).ToArray();
                return [g.Reshape(outShape)];
            }
            case "Unsqueeze":
            {
                var axes = Longs(In(1)).Select(a => (int)a).ToArray();
                int rank = x!.Dim + axes.Length;
                var y = x!;
                foreach (int a in axes.Select(a => a < 0 ? a + rank : a).Order()) y = y.Unsqueeze(a);
                return [y];
            }
            case "Squeeze":
            {
                var y = x!;
                if (Opt(1) is { } axesTensor)
                    foreach (int a in Longs(axesTensor).Select(a => Axis(a, x!.Dim)).OrderDescending()) y = y.Squeeze(a);
                else y = y.Squeeze();
                return [y];
            }
            case "Concat":
            {
                var parts = Enumerable.Range(0, node.Input.Count).Select(In).ToList();
                int axis = Axis(I("axis", 0), parts[0].Dim);
                var dtype = parts.Any(p => p.DType == DType.Float32) ? DType.Float32 : parts[0].DType;
                return [Tensor.Cat(parts.Select(p => p.To(dtype)).ToList(), axis)];
            }
            case "Slice":
            {
                var starts = Longs(In(1)); var ends = Longs(In(2));
                var axes = Opt(3) is { } at ? Longs(at) : Enumerable.Range(0, starts.Length).Select(i => (long)i).ToArray();
                var steps = Opt(4) is { } st ? Longs(st) : Enumerable.Repeat(1L, starts.Length).ToArray();
                var y = x!;
                for (int i = 0; i < starts.Length; i++)
                {
                    if (steps[i] != 1) throw Unsupported(node, "Slice with steps other than 1");
                    int axis = Axis(axes[i], y.Dim), size = y.Size(axis);
                    long s = starts[i] < 0 ? starts[i] + size : starts[i], e = ends[i] < 0 ? ends[i] + size : ends[i];
                    s = Math.Clamp(s, 0, size); e = Math.Clamp(e, 0, size);
                    y = y.Narrow(axis, (int)s, (int)Math.Max(0, e - s));
                }
                return [y];
            }
            case "Cast":
            {
                var to = (TensorProto.Types.DataType)I("to", 1);
                return [to switch
                {
                    TensorProto.Types.DataType.Float => x!.To(DType.Float32),
                    TensorProto.Types.DataType.Double => x!.To(DType.Float64),
                    TensorProto.Types.DataType.Int64 or TensorProto.Types.DataType.Int32 => x!.To(DType.Int64),
                    TensorProto.Types.DataType.Bool => x!.To(DType.Bool),
                    _ => throw Unsupported(node, $"Cast to {to}"),
                }];
            }
            case "Equal": return [Promote(x!, In(1), (a, b) => a.Eq(b))];
            case "Where":
            {
                var a = In(1); var b = In(2);
                var dtype = a.DType == DType.Float32 || b.DType == DType.Float32 ? DType.Float32 : a.DType;
                return [Tensor.Where(x!.To(DType.Bool), a.To(dtype), b.To(dtype))];
            }
            case "Range":
            {
                double start = x!.To(DType.Float64).Item(), limit = In(1).To(DType.Float64).Item(), delta = In(2).To(DType.Float64).Item();
                return [Tensor.Arange(start, limit, delta, x!.DType == DType.Int64 ? DType.Int64 : DType.Float32)];
            }
            case "LSTM":
            case "GRU":
            case "RNN":
                return RunRecurrent(node, x!, Opt(5), Opt(6));
            default:
                throw Unsupported(node, "this op type");
        }
    }

    /// <summary>ONNX's integer division (truncating toward zero, as C#'s), elementwise with broadcasting.</summary>
    private static Tensor IntegerDivide(Tensor a, Tensor b)
    {
        var shape = ShapeOf(a, b);
        var x = a.Expand(shape).Contiguous().ToArray<long>();
        var y = b.Expand(shape).Contiguous().ToArray<long>();
        var q = Tensor.FromArray(x.Select((v, i) => v / y[i]).ToArray(), shape.Length == 0 ? [1] : shape);
        return shape.Length == 0 ? q.Reshape(Array.Empty<int>()) : q;
    }

    private static int[] ShapeOf(Tensor a, Tensor b)
    {
        int rank = Math.Max(a.Dim, b.Dim);
        var shape = new int[rank];
        for (int i = 0; i < rank; i++)
        {
            int da = i - (rank - a.Dim) >= 0 ? a.Size(i - (rank - a.Dim)) : 1, db = i - (rank - b.Dim) >= 0 ? b.Size(i - (rank - b.Dim)) : 1;
            shape[i] = Math.Max(da, db);
        }
        return shape;
    }

    private NotSupportedException Unsupported(NodeProto node, string what) =>
        new($"{_source}: node '{node.Name}' of type {node.OpType} (opset {_opset}): {what} is not supported by Onnx.Load.");

    /// <summary>A binary op on two tensors of possibly different dtypes (float32 wins over integers, as ONNX exporters
    /// emit consistent types but constants may come as double).</summary>
    private static Tensor Promote(Tensor a, Tensor b, Func<Tensor, Tensor, Tensor> op)
    {
        if (a.DType == b.DType) return op(a, b);
        var dtype = a.DType == DType.Float32 || b.DType == DType.Float32 ? DType.Float32 : a.DType == DType.Float64 || b.DType == DType.Float64 ? DType.Float64 : a.DType;
        return op(a.To(dtype), b.To(dtype));
    }

    private Tensor Conv(NodeProto node, Tensor x, Tensor w, Tensor? b, long[]? pads, long[]? strides, long[]? dilations, int group)
    {
        int spatial = x.Dim - 2;
        if (spatial is not (1 or 2)) throw Unsupported(node, $"{spatial}-D convolution");
        pads ??= new long[2 * spatial];
        strides ??= Enumerable.Repeat(1L, spatial).ToArray();
        dilations ??= Enumerable.Repeat(1L, spatial).ToArray();
        bool symmetric = Enumerable.Range(0, spatial).All(i => pads[i] == pads[i + spatial]);
        if (!symmetric)
        {
            var torchPads = new List<int>();
            for (int d = spatial - 1; d >= 0; d--) { torchPads.Add((int)pads[d]); torchPads.Add((int)pads[d + spatial]); }
            x = Functional.Pad(x, [.. torchPads]);
            pads = new long[2 * spatial];
        }
        return spatial == 2
            ? Functional.Conv2d(x, w, b, new Size2((int)strides[0], (int)strides[1]), new Padding((int)pads[0], (int)pads[1]),
                new Size2((int)dilations[0], (int)dilations[1]), group)
            : Functional.Conv1d(x, w, b, (int)strides[0], new Padding((int)pads[0], 0), (int)dilations[0], group);
    }

    private Tensor Pool(NodeProto node, Tensor x, long[] kernel, long[]? pads, long[]? strides, long[]? dilations, bool ceil, bool countIncludePad)
    {
        int spatial = kernel.Length;
        if (spatial is not (1 or 2)) throw Unsupported(node, $"{spatial}-D pooling");
        pads ??= new long[2 * spatial];
        strides ??= Enumerable.Repeat(1L, spatial).ToArray();
        dilations ??= Enumerable.Repeat(1L, spatial).ToArray();
        if (Enumerable.Range(0, spatial).Any(i => pads[i] != pads[i + spatial])) throw Unsupported(node, "asymmetric pooling pads");
        bool max = node.OpType == "MaxPool";
        if (!max && dilations.Any(d => d != 1)) throw Unsupported(node, "dilated average pooling");
        if (spatial == 2)
        {
            var k = new Size2((int)kernel[0], (int)kernel[1]);
            var s = new Size2((int)strides[0], (int)strides[1]);
            var p = new Size2((int)pads[0], (int)pads[1]);
            return max ? Functional.MaxPool2d(x, k, s, p, new Size2((int)dilations[0], (int)dilations[1]), ceil)
                : Functional.AvgPool2d(x, k, s, p, ceil, countIncludePad);
        }
        return max ? Functional.MaxPool1d(x, (int)kernel[0], (int)strides[0], (int)pads[0], (int)dilations[0], ceil)
            : Functional.AvgPool1d(x, (int)kernel[0], (int)strides[0], (int)pads[0], ceil, countIncludePad);
    }
}
