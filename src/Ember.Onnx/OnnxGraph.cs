using System.Runtime.InteropServices;
using Ember.IO;
using Ember.Models;
using Ember.NN;
using Ember.OnnxProto;
using Google.Protobuf;

namespace Ember;

/// <summary>
/// One ONNX graph under construction: nodes, initializers and unique value names, with an emitter for every module
/// type <see cref="Onnx.Export"/> knows. <see cref="Onnx"/> uses it for the built-in architectures; an application
/// exports its own model class with it: declare the inputs (<see cref="AddInput"/>), emit the model's layers
/// (<see cref="Emit"/>, <see cref="EmitAttention"/>, <see cref="EmitEncoderLayer"/>) and the glue between them
/// (<see cref="Op"/>, <see cref="Initializer"/>, <see cref="Constant"/>), name the outputs (<see cref="AddOutput"/>) and
/// <see cref="Save"/>. Values are named by strings; emitters take a sample tensor of the value's shape where a layer's
/// ONNX form depends on it (only its shape is read).
/// </summary>
public sealed class OnnxGraph(Module root, int opset = Onnx.DefaultOpset)
{
    /// <summary>The graph so far (its nodes, initializers, inputs and outputs).</summary>
    public GraphProto Graph { get; } = new();

    /// <summary>Runs <paramref name="build"/> with <paramref name="module"/> in eval mode (dropout off, BatchNorm
    /// running statistics) and gradients off, as every export traces, then restores the module's mode.</summary>
    public static T InEvalMode<T>(Module module, Func<T> build)
    {
        ArgumentNullException.ThrowIfNull(module);
        bool wasTraining = module.Training;
        module.Eval();
        try
        {
            using var noGrad = Tensor.NoGrad();
            return build();
        }
        finally { module.Train(wasTraining); }
    }

    /// <summary>Runs <paramref name="build"/> as <see cref="InEvalMode{T}(Module, Func{T})"/> does.</summary>
    public static void InEvalMode(Module module, Action build) => InEvalMode(module, () =>
    {
        build();
        return 0;
    });
    private readonly Dictionary<Module, string> _paths = Paths(root);

    private static Dictionary<Module, string> Paths(Module root)
    {
        var paths = new Dictionary<Module, string>(ReferenceEqualityComparer.Instance);
        foreach (var (name, m) in root.NamedModules()) paths.TryAdd(m, name);
        return paths;
    }
    private int _counter;

    /// <summary>The module's path in the root module ("blocks.0.attn"), or "(root)"; names nodes and errors.</summary>
    public string PathOf(Module m) => _paths.TryGetValue(m, out var p) && p.Length > 0 ? p : "(root)";

    /// <summary>A value name not used before, starting with <paramref name="hint"/>.</summary>
    public string Fresh(string hint) => $"{hint}_{_counter++}";

    /// <summary>Adds a node of type <paramref name="op"/> with the given value names; <paramref name="name"/> prefixes the node's name.</summary>
    public void Node(string op, IEnumerable<string> inputs, IEnumerable<string> outputs, string name, params AttributeProto[] attributes)
    {
        var n = new NodeProto { OpType = op, Name = $"{name}/{op}_{_counter++}" };
        n.Input.AddRange(inputs);
        n.Output.AddRange(outputs);
        n.Attribute.AddRange(attributes);
        Graph.Node.Add(n);
    }

    /// <summary>Declares a graph input: float32 or int64 of <paramref name="shape"/>, the dimensions in
    /// <paramref name="dynamicAxes"/> symbolic.</summary>
    public string AddInput(string name, int[] shape, DType dtype, IReadOnlyDictionary<int, string>? dynamicAxes = null)
    {
        Graph.Input.Add(ValueInfo(name, shape, dtype, dynamicAxes ?? new Dictionary<int, string>()));
        return name;
    }

    /// <summary>Declares <paramref name="value"/> as the graph output <paramref name="name"/> (through an Identity node).</summary>
    public void AddOutput(string value, string name, int[] shape, DType dtype, IReadOnlyDictionary<int, string>? dynamicAxes = null)
    {
        Node("Identity", [value], [name], "output");
        Graph.Output.Add(ValueInfo(name, shape, dtype, dynamicAxes ?? new Dictionary<int, string>()));
    }

    /// <summary>The finished model (IR version 8, the opset given at construction), its graph named <paramref name="name"/>.</summary>
    public ModelProto ToModel(string name) => Wrap(Graph, name, opset);

    /// <summary>Writes the model to <paramref name="path"/> atomically (whole or not at all).</summary>
    public void Save(string path, string name)
    {
        var model = ToModel(name);
        AtomicFile.Write(path, stream => model.WriteTo(stream));
    }

    /// <summary>Adds a node of type <paramref name="op"/> (named under <paramref name="name"/>, a module path) and returns
    /// its one output's fresh name.</summary>
    public string Op(string op, string name, string[] inputs, params AttributeProto[] attributes)
    {
        string y = Fresh(name.Length == 0 ? op : name.Replace('.', '_') + "_" + op);
        Node(op, inputs, [y], name, attributes);
        return y;
    }

    /// <summary>Adds <paramref name="t"/> as a float32 initializer named <paramref name="name"/> (which must be new) and returns the name.</summary>
    public string Initializer(string name, Tensor t)
    {
        var data = t.Detach().Contiguous().To(DType.Float32).ToArray<float>();
        var proto = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        proto.Dims.AddRange(t.Shape.Select(d => (long)d));
        proto.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(data.AsSpan()));
        Graph.Initializer.Add(proto);
        return name;
    }

    /// <summary>A float32 initializer of <paramref name="values"/> in <paramref name="shape"/> (empty: a scalar, or 1-D when several values).</summary>
    public string Constant(string hint, float[] values, params int[] shape) =>
        Initializer(Fresh(hint), Tensor.FromArray(values.Select(v => (double)v).ToArray(), shape.Length == 0 ? [values.Length] : shape).To(DType.Float32));

    /// <summary>A 1-D int64 initializer (shapes, axes, indices).</summary>
    public string Int64Constant(string hint, long[] values)
    {
        var proto = new TensorProto { Name = Fresh(hint), DataType = (int)TensorProto.Types.DataType.Int64 };
        proto.Dims.Add(values.Length);
        proto.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan()));
        Graph.Initializer.Add(proto);
        return proto.Name;
    }

    /// <summary>A 0-d int64 initializer.</summary>
    public string Int64Scalar(string hint, long value)
    {
        var proto = new TensorProto { Name = Fresh(hint), DataType = (int)TensorProto.Types.DataType.Int64 };
        proto.RawData = ByteString.CopyFrom(BitConverter.GetBytes(value));
        Graph.Initializer.Add(proto);
        return proto.Name;
    }

    private string[] Ops(string op, string name, string[] inputs, int outputs, params AttributeProto[] attributes)
    {
        var ys = Enumerable.Range(0, outputs).Select(_ => Fresh(name.Replace('.', '_') + "_" + op)).ToArray();
        Node(op, inputs, ys, name, attributes);
        return ys;
    }

    /// <summary>A BERT encoder on int64 ids (N, L) with its default mask (padding ids may not be attended to) and token
    /// type 0: embeddings, LayerNorm, the encoder layers with the key-padding mask, the pooled [CLS] output (N, hidden).</summary>
    private (string, Tensor) EmitBert(BertModel bert, string ids, Tensor sample)
    {
        var (word, position, tokenType, embNorm, pooler) = bert.Parts;
        string p = PathOf(bert);
        var length = Op("Gather", p, [Op("Shape", p, [ids]), Int64Scalar("one", 1)], Int("axis", 0));
        var positions = Op("Range", p, [Int64Scalar("zero", 0), length, Int64Scalar("one", 1)]);
        var h = Op("Add", p, [Op("Gather", p, [Initializer(PathOf(word) + ".weight", word.Weight), ids], Int("axis", 0)),
            Op("Gather", p, [Initializer(PathOf(position) + ".weight", position.Weight), positions], Int("axis", 0))]);
        h = Op("Add", p, [h, Initializer(PathOf(tokenType) + ".row0", tokenType.Weight.Select(0, 0))]);
        var hs = bert.Encode(sample).Hidden;                      // shapes only below: (N, L, hidden)
        (h, _) = Emit(embNorm, h, hs);
        // Key padding: −∞ where ids == pad, as (N, 1, 1, L).
        var mask = PaddingMask(ids, bert.Config.PadId, p);
        var alive = AliveRows(ids, bert.Config.PadId, p);   // a row of padding only attends to nothing, as in Ember
        foreach (var layer in bert.Encoder.Layers.Cast<TransformerEncoderLayer>()) h = EmitEncoderLayer(layer, h, hs, mask, alive);
        if (bert.Encoder.Norm is LayerNorm norm) (h, _) = Emit(norm, h, hs);
        var cls = Op("Gather", p, [h, Int64Scalar("first", 0)], Int("axis", 1));                     // (N, hidden)
        var (pooled, _) = Emit(pooler, cls, hs.Select(1, 0));
        return (Op("Tanh", p, [pooled]), bert.Call(sample));
    }

    /// <summary>Batch-first multi-head attention of <paramref name="query"/> (N, T, E) over <paramref name="keyValue"/>
    /// (N, S, E) with an additive mask broadcasting to (N, H, T, S); the output projection included. With
    /// <paramref name="alive"/> (bool, broadcasting to (N, 1, 1, 1); see <see cref="AliveRows"/>), a sequence whose keys are
    /// all masked attends to nothing (zero weights, as Ember) instead of the softmax of −∞ (NaN).</summary>
    public string EmitAttention(MultiheadAttention attention, string query, string keyValue, string mask, Tensor xs, string? alive = null)
    {
        if (!attention.BatchFirst) throw Unsupported(attention, "only batch-first attention exports");
        if (attention.InProjWeight is null) throw Unsupported(attention, "keys and values of other widths than the queries");
        string p = PathOf(attention);
        int e = attention.EmbedDim, heads = attention.NumHeads, hd = attention.HeadDim;
        var w = attention.InProjWeight;
        var b = attention.InProjBias;
        string Project(string a, int part, long[] perm)
        {
            var y = Op("MatMul", p, [a, Initializer($"{p}.in_proj_{part}_t", w.Narrow(0, part * e, e).T)]);
            if (b is not null) y = Op("Add", p, [y, Initializer($"{p}.in_proj_bias_{part}", b.Narrow(0, part * e, e))]);
            return Op("Transpose", p, [Op("Reshape", p, [y, Int64Constant("heads", [0, 0, heads, hd])])], Ints("perm", perm));
        }
        var q = Project(query, 0, [0, 2, 1, 3]); var kT = Project(keyValue, 1, [0, 2, 3, 1]); var v = Project(keyValue, 2, [0, 2, 1, 3]);
        var scores = Op("Add", p, [Op("Mul", p, [Op("MatMul", p, [q, kT]), Constant("scale", [1 / MathF.Sqrt(hd)], [])]), mask]);
        string weights;
        if (alive is null) weights = Op("Softmax", p, [scores], Int("axis", -1));
        else
        {
            var zero = Constant("zero", [0f], []);
            weights = Op("Where", p, [alive, Op("Softmax", p, [Op("Where", p, [alive, scores, zero])], Int("axis", -1)), zero]);
        }
        var o = Op("MatMul", p, [weights, v]);
        var merged = Op("Reshape", p, [Op("Transpose", p, [o], Ints("perm", 0, 2, 1, 3)), Int64Constant("merged", [0, 0, e])]);
        return Emit(attention.OutProj, merged, xs).Name;
    }

    private string FeedForward(Linear linear1, Linear linear2, TransformerActivation activation, string a, Tensor xs, string p)
    {
        var (f, fs) = Emit(linear1, a, xs);
        f = activation == TransformerActivation.Gelu ? GeluErf(f, p) : Op("Relu", p, [f]);
        return Emit(linear2, f, fs).Name;
    }

    /// <summary>One batch-first encoder layer (post- or pre-norm, ReLU or GELU) with an additive mask (N, 1, 1, S)
    /// (and <paramref name="alive"/> as in <see cref="EmitAttention"/>).</summary>
    public string EmitEncoderLayer(TransformerEncoderLayer layer, string x, Tensor xs, string mask, string? alive = null)
    {
        var (linear1, linear2, norm1, norm2, activation) = layer.Parts;
        var attention = layer.SelfAttn;
        string p = PathOf(layer);
        string SelfAttention(string a) => EmitAttention(attention, a, a, mask, xs, alive);
        string Ff(string a) => FeedForward(linear1, linear2, activation, a, xs, p);
        if (layer.NormFirst)
        {
            var h1 = Op("Add", p, [x, SelfAttention(Emit(norm1, x, xs).Name)]);
            return Op("Add", p, [h1, Ff(Emit(norm2, h1, xs).Name)]);
        }
        var n1 = Emit(norm1, Op("Add", p, [x, SelfAttention(x)]), xs).Name;
        return Emit(norm2, Op("Add", p, [n1, Ff(n1)]), xs).Name;
    }

    /// <summary>One batch-first decoder layer: masked self-attention (<paramref name="selfMask"/>, (N, 1, T, T)),
    /// cross-attention over <paramref name="memory"/> (<paramref name="memoryMask"/>, (N, 1, 1, S)), feed-forward.</summary>
    private string EmitDecoderLayer(TransformerDecoderLayer layer, string x, Tensor xs, string selfMask, string memory, string memoryMask)
    {
        var (linear1, linear2, norm1, norm2, norm3, activation) = layer.Parts;
        string p = PathOf(layer);
        string Sa(string a) => EmitAttention(layer.SelfAttn, a, a, selfMask, xs);
        string Ca(string a) => EmitAttention(layer.MultiheadAttn, a, memory, memoryMask, xs);
        string Ff(string a) => FeedForward(linear1, linear2, activation, a, xs, p);
        if (layer.NormFirst)
        {
            var h1 = Op("Add", p, [x, Sa(Emit(norm1, x, xs).Name)]);
            var h2 = Op("Add", p, [h1, Ca(Emit(norm2, h1, xs).Name)]);
            return Op("Add", p, [h2, Ff(Emit(norm3, h2, xs).Name)]);
        }
        var n1 = Emit(norm1, Op("Add", p, [x, Sa(x)]), xs).Name;
        var n2 = Emit(norm2, Op("Add", p, [n1, Ca(n1)]), xs).Name;
        return Emit(norm3, Op("Add", p, [n2, Ff(n2)]), xs).Name;
    }

    /// <summary>−∞ where <paramref name="ids"/> equal the padding id, as an additive key mask (N, 1, 1, L).</summary>
    public string PaddingMask(string ids, long padId, string p)
    {
        var isPad = Op("Equal", p, [ids, Int64Scalar("pad", padId)]);
        var additive = Op("Where", p, [isPad, Constant("neg_inf", [float.NegativeInfinity], []), Constant("zero", [0f], [])]);
        return Op("Unsqueeze", p, [additive, Int64Constant("axes", [1, 2])]);
    }

    /// <summary>True (N, 1, 1, 1) for the rows of <paramref name="ids"/> (N, L) that hold a token other than the padding id.</summary>
    public string AliveRows(string ids, long padId, string p)
    {
        var tokens = Op("Cast", p, [Op("Not", p, [Op("Equal", p, [ids, Int64Scalar("pad", padId)])])], Int("to", (int)TensorProto.Types.DataType.Float));
        var any = Op("ReduceMax", p, [tokens], Ints("axes", 1), Int("keepdims", 1));                                    // (N, 1)
        return Op("Unsqueeze", p, [Op("Greater", p, [any, Constant("zero", [0f], [])]), Int64Constant("axes", [2, 3])]);
    }

    /// <summary>Token embeddings × √d plus the sinusoidal encodings of positions 0 … L−1 (dropout is off).</summary>
    private string EmbedWithPositions(Embedding embedding, SinusoidalPositionalEncoding positions, double scale, string ids, string p)
    {
        var length = Op("Gather", p, [Op("Shape", p, [ids]), Int64Constant("one", [1])], Int("axis", 0));   // [L]
        var table = Op("Slice", p, [Initializer(PathOf(positions) + ".pe", positions.Encodings), Int64Constant("zero", [0]), length, Int64Constant("axes", [0])]);
        var tokens = Op("Gather", PathOf(embedding), [Initializer(PathOf(embedding) + ".weight", embedding.Weight), ids], Int("axis", 0));
        return Op("Add", p, [Op("Mul", p, [tokens, Constant("scale", [(float)scale], [])]), table]);
    }

    /// <summary>The encoder graph of a <see cref="Seq2SeqTransformer"/>: source ids (N, S) → memory (N, S, d).</summary>
    public string EmitSeq2SeqEncoder(Seq2SeqTransformer model, string src)
    {
        var (source, _, positions, _, scale) = model.Parts;
        string p = PathOf(model);
        var xs = Tensor.Zeros([1, 2, model.Config.DModel]);   // a stand-in sample: the emitters need only its shape
        var h = EmbedWithPositions(source, positions, scale, src, p);
        var mask = PaddingMask(src, model.Config.PadId, p);
        var alive = AliveRows(src, model.Config.PadId, p);
        var encoder = model.Transformer.Encoder;
        foreach (var layer in encoder.Layers.Cast<TransformerEncoderLayer>()) h = EmitEncoderLayer(layer, h, xs, mask, alive);
        return encoder.Norm is LayerNorm norm ? Emit(norm, h, xs).Name : h;
    }

    /// <summary>The decoder graph: target ids so far (N, T), the memory (N, S, d) and the source ids (N, S, for their
    /// padding) → logits (N, T, V) under the causal mask and the target's own padding.</summary>
    public string EmitSeq2SeqDecoder(Seq2SeqTransformer model, string tgt, string memory, string src)
    {
        var (_, target, positions, generator, scale) = model.Parts;
        string p = PathOf(model);
        var xs = Tensor.Zeros([1, 2, model.Config.DModel]);
        var h = EmbedWithPositions(target, positions, scale, tgt, p);
        int max = model.Config.MaxLength;
        var table = new double[max * max];
        for (int i = 0; i < max; i++) for (int j = i + 1; j < max; j++) table[i * max + j] = double.NegativeInfinity;
        var length = Op("Gather", p, [Op("Shape", p, [tgt]), Int64Constant("one", [1])], Int("axis", 0));
        var ends = Op("Concat", p, [length, length], Int("axis", 0));
        var causal = Op("Slice", p, [Initializer(Fresh("causal_mask"), Tensor.FromArray(table, max, max).To(DType.Float32)),
            Int64Constant("starts", [0, 0]), ends, Int64Constant("axes", [0, 1])]);                                       // (T, T)
        var selfMask = Op("Add", p, [causal, PaddingMask(tgt, model.Config.PadId, p)]);                                 // (N, 1, T, T)
        var memoryMask = PaddingMask(src, model.Config.PadId, p);
        var decoder = model.Transformer.Decoder;
        foreach (var layer in decoder.Layers.Cast<TransformerDecoderLayer>()) h = EmitDecoderLayer(layer, h, xs, selfMask, memory, memoryMask);
        if (decoder.Norm is LayerNorm norm) h = Emit(norm, h, xs).Name;
        return Emit(generator, h, xs).Name;
    }

    /// <summary>A U-Net: down blocks with 2×2 max pooling, the bottleneck, then per level a transposed convolution,
    /// the skip concatenated in front (channels), the up block; the 1×1 head. Inputs whose sides are multiples of
    /// 2^depth (no padding of the upsampled maps; otherwise the export refuses).</summary>
    private (string, Tensor) EmitUNet(UNet unet, string x, Tensor sample)
    {
        var (down, up, upConv, bottleneck, head) = unet.Parts;
        string p = PathOf(unet);
        int depth = down.Count;
        if (sample.Size(2) % (1 << depth) != 0 || sample.Size(3) % (1 << depth) != 0)
            throw Unsupported(unet, $"the traced input's sides must be multiples of 2^depth = {1 << depth} (the upsampled maps are then never padded)");
        var skips = new List<(string Name, Tensor Sample)>();
        for (int i = 0; i < depth; i++)
        {
            (x, sample) = Emit(down[i], x, sample);
            skips.Add((x, sample));
            x = Op("MaxPool", p, [x], Ints("kernel_shape", 2, 2), Ints("strides", 2, 2));
            sample = Functional.MaxPool2d(sample, 2);
        }
        (x, sample) = Emit(bottleneck, x, sample);
        for (int i = 0; i < depth; i++)
        {
            var (skip, skipSample) = skips[depth - 1 - i];
            (x, sample) = Emit(up[i], x, sample);
            x = Op("Concat", p, [skip, x], Int("axis", 1));
            sample = Tensor.Cat([skipSample, sample], 1);
            (x, sample) = Emit(upConv[i], x, sample);
        }
        return Emit(head, x, sample);
    }

    /// <summary>A GPT: token and position embeddings (positions from the input's dynamic length), pre-norm blocks with
    /// causal attention (the mask sliced to the length from a context-sized table), the final norm and the tied output
    /// projection. Input int64 (B, T) → logits (B, T, V).</summary>
    private (string, Tensor) EmitGpt(Gpt gpt, string x, Tensor sample)
    {
        var (wte, wpe, blocks, lnF) = gpt.Parts;
        string p = PathOf(gpt);
        var shape = Op("Shape", p, [x]);
        var length = Op("Gather", p, [shape, Int64Scalar("one", 1)], Int("axis", 0));                  // T, a scalar
        var length1 = Op("Gather", p, [shape, Int64Constant("one", [1])], Int("axis", 0));             // [T]
        var positions = Op("Range", p, [Int64Scalar("zero", 0), length, Int64Scalar("one", 1)]);
        var tok = Op("Gather", PathOf(wte), [Initializer(PathOf(wte) + ".weight", wte.Weight), x], Int("axis", 0));
        var pos = Op("Gather", PathOf(wpe), [Initializer(PathOf(wpe) + ".weight", wpe.Weight), positions], Int("axis", 0));
        string h = Op("Add", p, [tok, pos]);
        int context = gpt.Config.ContextLength;
        var mask = new double[context * context];
        for (int i = 0; i < context; i++) for (int j = i + 1; j < context; j++) mask[i * context + j] = double.NegativeInfinity;
        var table = Initializer(Fresh("causal_mask"), Tensor.FromArray(mask, context, context).To(DType.Float32));
        var ends = Op("Concat", p, [length1, length1], Int("axis", 0));
        var causal = Op("Slice", p, [table, Int64Constant("starts", [0, 0]), ends, Int64Constant("axes", [0, 1])]);
        using var noGrad = Tensor.NoGrad();
        var pos0 = Tensor.Arange(0, sample.Size(1), 1, DType.Int64);
        var hs = wte.Call(sample).Add(wpe.Call(pos0));
        for (int i = 0; i < blocks.Count; i++) (h, hs) = EmitGptBlock((GptBlock)blocks[i], h, hs, causal);
        (h, hs) = Emit(lnF, h, hs);
        var logits = Op("MatMul", p, [h, Initializer(PathOf(wte) + ".weight_t", wte.Weight.T)]);
        return (logits, gpt.Call(sample));
    }

    /// <summary>The decode-step graph's body (see <see cref="Onnx.ExportDecoderStep"/>): positions and the causal mask
    /// offset by the cached length, each block's keys and values appended to its past.</summary>
    public (string Logits, List<(string Key, string Value)> Presents) EmitGptStep(Gpt gpt, string ids, List<(string Key, string Value)> pasts)
    {
        var (wte, wpe, blocks, lnF) = gpt.Parts;
        string p = PathOf(gpt);
        var length = Op("Gather", p, [Op("Shape", p, [ids]), Int64Scalar("one", 1)], Int("axis", 0));                   // T
        var past = Op("Gather", p, [Op("Shape", p, [pasts[0].Key]), Int64Scalar("two", 2)], Int("axis", 0));           // P
        var total = Op("Add", p, [past, length]);                                                                        // P + T
        var positions = Op("Range", p, [past, total, Int64Scalar("one", 1)]);
        var tok = Op("Gather", PathOf(wte), [Initializer(PathOf(wte) + ".weight", wte.Weight), ids], Int("axis", 0));
        var pos = Op("Gather", PathOf(wpe), [Initializer(PathOf(wpe) + ".weight", wpe.Weight), positions], Int("axis", 0));
        string h = Op("Add", p, [tok, pos]);
        // Rows P … P+T−1, columns 0 … P+T−1 of the context-sized causal table.
        int context = gpt.Config.ContextLength;
        var mask = new double[context * context];
        for (int i = 0; i < context; i++) for (int j = i + 1; j < context; j++) mask[i * context + j] = double.NegativeInfinity;
        var table = Initializer(Fresh("causal_mask"), Tensor.FromArray(mask, context, context).To(DType.Float32));
        var unsq = Int64Constant("axes", [0]);
        var starts = Op("Concat", p, [Op("Unsqueeze", p, [past, unsq]), Int64Constant("zero", [0])], Int("axis", 0));
        var total1 = Op("Unsqueeze", p, [total, unsq]);
        var ends = Op("Concat", p, [total1, total1], Int("axis", 0));
        var causal = Op("Slice", p, [table, starts, ends, Int64Constant("axes", [0, 1])]);
        var hs = Tensor.Zeros([1, 2, gpt.Config.NEmbd]);   // a stand-in sample: the emitters need only its shape
        var presents = new List<(string, string)>();
        for (int i = 0; i < blocks.Count; i++)
        {
            (h, hs, var present) = EmitGptBlock((GptBlock)blocks[i], h, hs, causal, pasts[i]);
            presents.Add(present!.Value);
        }
        (h, _) = Emit(lnF, h, hs);
        return (Op("MatMul", p, [h, Initializer(PathOf(wte) + ".weight_t", wte.Weight.T)]), presents);
    }

    private (string, Tensor) EmitGptBlock(GptBlock block, string h, Tensor hs, string causal)
    {
        var (y, ys, _) = EmitGptBlock(block, h, hs, causal, null);
        return (y, ys);
    }

    private (string, Tensor, (string Key, string Value)?) EmitGptBlock(GptBlock block, string h, Tensor hs, string causal, (string Key, string Value)? past)
    {
        var (ln1, attention, ln2, mlp) = block.Parts;
        string p = PathOf(block);
        var (a, aSample) = Emit(ln1, h, hs);
        var (qkvLayer, proj, heads) = attention.Parts;
        string pa = PathOf(attention);
        int e = aSample.Size(2), hd = e / heads;
        var (qkv, _) = Emit(qkvLayer, a, aSample);
        var qkvParts = Ops("Split", pa, [qkv, Int64Constant("split", [e, e, e])], 3, Int("axis", 2));
        var headShape = Int64Constant("heads", [0, 0, heads, hd]);
        string Heads(string t, long[] perm) => Op("Transpose", pa, [Op("Reshape", pa, [t, headShape])], Ints("perm", perm));
        var q = Heads(qkvParts[0], [0, 2, 1, 3]);
        string kT, v;
        (string Key, string Value)? present = null;
        if (past is var (pastKey, pastValue))
        {
            // (B, H, P, hd) ++ (B, H, T, hd) along the sequence.
            var k = Op("Concat", pa, [pastKey, Heads(qkvParts[1], [0, 2, 1, 3])], Int("axis", 2));
            v = Op("Concat", pa, [pastValue, Heads(qkvParts[2], [0, 2, 1, 3])], Int("axis", 2));
            present = (k, v);
            kT = Op("Transpose", pa, [k], Ints("perm", 0, 1, 3, 2));
        }
        else
        {
            kT = Heads(qkvParts[1], [0, 2, 3, 1]);
            v = Heads(qkvParts[2], [0, 2, 1, 3]);
        }
        var scores = Op("Add", pa, [Op("Mul", pa, [Op("MatMul", pa, [q, kT]), Constant("scale", [1 / MathF.Sqrt(hd)], [])]), causal]);
        var attended = Op("MatMul", pa, [Op("Softmax", pa, [scores], Int("axis", -1)), v]);
        var merged = Op("Reshape", pa, [Op("Transpose", pa, [attended], Ints("perm", 0, 2, 1, 3)), Int64Constant("merged", [0, 0, e])]);
        Tensor attSample;
        using (Tensor.NoGrad()) attSample = attention.Call(aSample);
        var (att, _) = Emit(proj, merged, attSample);
        var h1 = Op("Add", p, [h, att]);
        var h1s = hs.Add(attSample);
        var (b, bSample) = Emit(ln2, h1, h1s);
        var (m, mSample) = Emit(mlp, b, bSample);
        return (Op("Add", p, [h1, m]), h1s.Add(mSample), present);
    }

    /// <summary>An integer-list attribute.</summary>
    public static AttributeProto Ints(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    private static AttributeProto Text(string name, string value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) };

    private static AttributeProto Texts(string name, params string[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Strings };
        a.Strings.AddRange(values.Select(ByteString.CopyFromUtf8));
        return a;
    }

    /// <summary>RNN, LSTM or GRU as ONNX's ops, one node per layer: the gate blocks reordered from PyTorch's (i, f, g, o)
    /// and (r, z, n) to ONNX's (i, o, f, c) and (z, r, h), GRU with linear_before_reset (PyTorch's form), the output
    /// (L, D, N, H) brought back to (L, N, D·H); batch-first inputs transposed in and out.</summary>
    private string EmitRecurrent(RecurrentBase r, string x, Tensor sample, string p)
    {
        if (sample.Dim != 3) throw Unsupported(r, "only batched (3-D) sequences export");
        if (r.IsQuantized) throw Unsupported(r, "int8 recurrent layers have no ONNX form (ONNX's LSTM/GRU take float weights); export the float model");
        var parameters = r.NamedParameters().ToDictionary(t => t.Name, t => t.Parameter);
        int hidden = r.HiddenSize, dirs = r.Bidirectional ? 2 : 1;
        int[] order = r.Mode switch
        {
            RecurrentMode.Lstm => [0, 3, 1, 2],        // i, o, f, c from i, f, g, o
            RecurrentMode.Gru => [1, 0, 2],            // z, r, h from r, z, n
            _ => [0],
        };
        Tensor Reorder(Tensor w) => Tensor.Cat(order.Select(g => w.Narrow(0, g * hidden, hidden)).ToArray(), 0);
        string y = r.BatchFirst ? Op("Transpose", p, [x], Ints("perm", 1, 0, 2)) : x;
        for (int layer = 0; layer < r.NumLayers; layer++)
        {
            var suffixes = Enumerable.Range(0, dirs).Select(d => $"_l{layer}" + (d == 1 ? "_reverse" : "")).ToArray();
            Tensor Stack(string name) => Tensor.Stack(suffixes.Select(sfx => Reorder(parameters[name + sfx].Detach())).ToArray(), 0);
            var w = Initializer($"{p}.W_l{layer}", Stack("weight_ih"));
            var rec = Initializer($"{p}.R_l{layer}", Stack("weight_hh"));
            var inputs = new List<string> { y, w, rec };
            if (parameters.ContainsKey("bias_ih_l0"))
                inputs.Add(Initializer($"{p}.B_l{layer}", Tensor.Stack(suffixes.Select(sfx =>
                    Tensor.Cat([Reorder(parameters["bias_ih" + sfx].Detach()), Reorder(parameters["bias_hh" + sfx].Detach())], 0)).ToArray(), 0)));
            var attributes = new List<AttributeProto> { Int("hidden_size", hidden), Text("direction", dirs == 2 ? "bidirectional" : "forward") };
            string op = r.Mode switch { RecurrentMode.Lstm => "LSTM", RecurrentMode.Gru => "GRU", _ => "RNN" };
            if (r.Mode == RecurrentMode.Gru) attributes.Add(Int("linear_before_reset", 1));
            if (r.Mode is RecurrentMode.RnnTanh or RecurrentMode.RnnRelu)
                attributes.Add(Texts("activations", Enumerable.Repeat(r.Mode == RecurrentMode.RnnRelu ? "Relu" : "Tanh", dirs).ToArray()));
            var outputs = Ops(op, p, [.. inputs], r.Mode == RecurrentMode.Lstm ? 3 : 2, [.. attributes]);
            y = Op("Reshape", p, [Op("Transpose", p, [outputs[0]], Ints("perm", 0, 2, 1, 3)), Int64Constant("shape", [0, 0, -1])]);
        }
        return r.BatchFirst ? Op("Transpose", p, [y], Ints("perm", 1, 0, 2)) : y;
    }

    /// <summary>An integer attribute.</summary>
    public static AttributeProto Int(string name, long value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    /// <summary>A float attribute.</summary>
    public static AttributeProto Float(string name, double value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = (float)value };

    /// <summary>The error for a module the graph cannot express: it names the module's path and type.</summary>
    public NotSupportedException Unsupported(Module m, string why) =>
        new($"Onnx.Export: cannot export module '{PathOf(m)}' ({m.GetType().Name}): {why}.");

    /// <summary>Emits <paramref name="m"/> applied to the graph value <paramref name="x"/> whose sample is
    /// <paramref name="sample"/>; returns the output's name and sample.</summary>
    public (string Name, Tensor Sample) Emit(Module m, string x, Tensor sample)
    {
        switch (m)
        {
            case Sequential seq:
                for (int i = 0; i < seq.Count; i++) (x, sample) = Emit(seq[i], x, sample);
                return (x, sample);
            case Mlp mlp:
                return Emit(mlp.Network, x, sample);
            case ResNet net:
            {
                var (stem, stages, fc) = net.Parts;
                (x, sample) = Emit(stem, x, sample);
                (x, sample) = Emit(stages, x, sample);
                x = Op("ReduceMean", PathOf(net), [x], Ints("axes", 2, 3), Int("keepdims", 0));
                return Emit(fc, x, sample.Mean([2, 3]));
            }
            case BasicBlock b:
                return EmitResidual(b, x, sample, b.Stages, b.Se, b.Shortcut);
            case Bottleneck b:
                return EmitResidual(b, x, sample, b.Stages, b.Se, b.Shortcut);
            case SqueezeExcitation se:
            {
                string p0 = PathOf(se);
                var pooled = Op("ReduceMean", p0, [x], Ints("axes", 2, 3), Int("keepdims", 0));
                var (h, hs) = Emit(se.Reduce, pooled, sample.Mean([2, 3]));
                h = Op("Relu", p0, [h]);
                var (w, _) = Emit(se.Expand, h, hs.Relu());
                w = Op("Unsqueeze", p0, [Op("Sigmoid", p0, [w]), Int64Constant("axes", [2, 3])]);
                return (Op("Mul", p0, [x, w]), se.Call(sample));
            }
            case Gpt gpt:
                return EmitGpt(gpt, x, sample);
            case BertForSequenceClassification bert:
            {
                var (pooled, pooledSample) = EmitBert(bert.Bert, x, sample);
                return Emit(bert.Classifier, pooled, pooledSample);
            }
            case BertModel bert:
                return EmitBert(bert, x, sample);
            case DoubleConv dc:
                return Emit(dc.Body, x, sample);
            case UNet unet:
                return EmitUNet(unet, x, sample);
            case ConvAutoencoder ae:
            {
                var (encoder, decoder) = ae.Parts;
                (x, sample) = Emit(encoder, x, sample);
                return Emit(decoder, x, sample);
            }
        }
        var y = m.Call(sample);
        string p = PathOf(m);
        string name = m switch
        {
            Linear l => EmitLinear(l, x, sample, p),
            Conv2d { Int8: not null } c => throw Unsupported(c, "int8 convolutions (per-pixel dynamic quantization) have no ONNX form yet; export the float model"),
            Conv2d c => EmitConv(c, x, p, c.Weight, c.Bias, [c.KernelSize.H, c.KernelSize.W], [c.Stride.H, c.Stride.W],
                [c.Dilation.H, c.Dilation.W], c.Groups, Pads2(c.Padding, c.KernelSize, c.Dilation)),
            Conv1d c => EmitConv(c, x, p, c.Weight, c.Bias, [c.KernelSize], [c.Stride], [c.Dilation], c.Groups,
                Pads1(c.Padding, c.KernelSize, c.Dilation)),
            ConvTranspose2d c => Op("ConvTranspose", p, c.Bias is null ? [x, Initializer(p + ".weight", c.Weight)]
                    : [x, Initializer(p + ".weight", c.Weight), Initializer(p + ".bias", c.Bias)],
                Ints("kernel_shape", c.KernelSize.H, c.KernelSize.W), Ints("strides", c.Stride.H, c.Stride.W),
                Ints("pads", c.Padding.H, c.Padding.W, c.Padding.H, c.Padding.W), Ints("output_padding", c.OutputPadding.H, c.OutputPadding.W),
                Ints("dilations", c.Dilation.H, c.Dilation.W), Int("group", c.Groups)),
            ReLU => Op("Relu", p, [x]),
            Sigmoid => Op("Sigmoid", p, [x]),
            Tanh => Op("Tanh", p, [x]),
            SiLU => Op("Mul", p, [x, Op("Sigmoid", p, [x])]),
            LeakyReLU lr => Op("LeakyRelu", p, [x], Float("alpha", lr.NegativeSlope)),
            ELU e => Op("Elu", p, [x], Float("alpha", e.Alpha)),
            GELU g => g.TanhApproximation ? GeluTanh(x, p) : GeluErf(x, p),
            Softmax s => Op("Softmax", p, [x], Int("axis", s.Dim)),
            LogSoftmax s => Op("LogSoftmax", p, [x], Int("axis", s.Dim)),
            MaxPool2d mp => Op("MaxPool", p, [x], Ints("kernel_shape", mp.KernelSize.H, mp.KernelSize.W), Ints("strides", mp.Stride.H, mp.Stride.W),
                Ints("pads", mp.Padding.H, mp.Padding.W, mp.Padding.H, mp.Padding.W), Ints("dilations", mp.Dilation.H, mp.Dilation.W), Int("ceil_mode", mp.CeilMode ? 1 : 0)),
            MaxPool1d mp => Op("MaxPool", p, [x], Ints("kernel_shape", mp.KernelSize), Ints("strides", mp.Stride), Ints("pads", mp.Padding, mp.Padding),
                Ints("dilations", mp.Dilation), Int("ceil_mode", mp.CeilMode ? 1 : 0)),
            AvgPool2d ap => Op("AveragePool", p, [x], Ints("kernel_shape", ap.KernelSize.H, ap.KernelSize.W), Ints("strides", ap.Stride.H, ap.Stride.W),
                Ints("pads", ap.Padding.H, ap.Padding.W, ap.Padding.H, ap.Padding.W), Int("ceil_mode", ap.CeilMode ? 1 : 0),
                Int("count_include_pad", ap.CountIncludePad ? 1 : 0)),
            AvgPool1d ap => Op("AveragePool", p, [x], Ints("kernel_shape", ap.KernelSize), Ints("strides", ap.Stride), Ints("pads", ap.Padding, ap.Padding),
                Int("ceil_mode", ap.CeilMode ? 1 : 0), Int("count_include_pad", ap.CountIncludePad ? 1 : 0)),
            AdaptiveAvgPool2d ap => AdaptivePool(m, x, p, sample.Shape[^2..], [ap.OutputSize.H, ap.OutputSize.W]),
            AdaptiveAvgPool1d ap => AdaptivePool(m, x, p, sample.Shape[^1..], [ap.OutputSize]),
            BatchNormBase bn => EmitBatchNorm(bn, x, p),
            RecurrentBase r => EmitRecurrent(r, x, sample, p),
            LayerNorm ln => EmitLayerNorm(ln, x, p),
            Flatten f => EmitFlatten(f, x, sample, p),
            Dropout or Dropout2d or Identity => Op("Identity", p, [x]),
            _ => throw Unsupported(m, "no ONNX form for this module type yet (exportable: Sequential and Mlp stacks of Linear, " +
                "Conv1d/2d, BatchNorm, LayerNorm, pools, Flatten, Dropout and the common activations)"),
        };
        return (name, y);
    }

    /// <summary>A residual block: (conv → BN → ReLU) stages, the last without ReLU, optional squeeze-excitation,
    /// plus the shortcut (or the input), then ReLU — as <see cref="BasicBlock"/> and <see cref="Bottleneck"/> run.</summary>
    private (string, Tensor) EmitResidual(Module block, string x, Tensor sample, (Conv2d Conv, BatchNorm2d Bn)[] stages,
        SqueezeExcitation? se, Sequential? shortcut)
    {
        string p = PathOf(block);
        string y = x;
        var ys = sample;
        for (int i = 0; i < stages.Length; i++)
        {
            (y, ys) = Emit(stages[i].Conv, y, ys);
            (y, ys) = Emit(stages[i].Bn, y, ys);
            if (i < stages.Length - 1)
            {
                y = Op("Relu", p, [y]);
                ys = ys.Relu();
            }
        }
        if (se is not null) (y, ys) = Emit(se, y, ys);
        string skip = x;
        if (shortcut is not null) (skip, _) = Emit(shortcut, x, sample);
        return (Op("Relu", p, [Op("Add", p, [y, skip])]), block.Call(sample));
    }

    private string EmitLinear(Linear l, string x, Tensor sample, string p)
    {
        if (l.Int8 is { } q)
            return l.Lora is { Merged: false } ? throw Unsupported(l, "an int8 layer with an unmerged LoRA adapter has no ONNX form; merge the adapter before quantizing")
                : EmitLinearInt8(l, q, x, sample, p);
        // An unmerged LoRA adapter is exported merged: W + (α/r)·B·A.
        var weight = l.Lora is { Merged: false } lora ? l.Weight.Add(lora.Delta()) : l.Weight;
        if (sample.Dim == 2)
        {
            string[] inputs = l.Bias is null ? [x, Initializer(p + ".weight", weight)] : [x, Initializer(p + ".weight", weight), Initializer(p + ".bias", l.Bias)];
            return Op("Gemm", p, inputs, Int("transB", 1));
        }
        var y = Op("MatMul", p, [x, Initializer(p + ".weight_t", weight.T)]);
        return l.Bias is null ? y : Op("Add", p, [y, Initializer(p + ".bias", l.Bias)]);
    }

    /// <summary>A dynamically quantized Linear in QDQ form: the weight stays int8 in the file behind a per-channel
    /// DequantizeLinear; each input row gets Ember's scale and zero point (range [min(0, min), max(0, max)] over 127
    /// levels), goes through a per-row QuantizeLinear, is clipped to 0…127 (Ember's 7-bit levels) and dequantized; the
    /// product and bias then run in float32, which equals Ember's exact int32 sums up to float rounding.</summary>
    private string EmitLinearInt8(Linear l, Quantization.Int8Weight q, string x, Tensor sample, string p)
    {
        if (opset < 13) throw new NotSupportedException($"Onnx.Export: '{p}' is int8; per-row QuantizeLinear needs opset 13 or later, asked for {opset}.");
        int k = l.InFeatures, m = l.OutFeatures;
        var rows = sample.Dim == 2 ? x : Op("Reshape", p, [x, Int64Constant("rows", [-1, k])]);
        string scale, zp;
        if (l.InputRange is { } range)
        {
            // Static: the calibrated scale and zero point, the same for every row.
            scale = Constant("input_scale", [range.Scale], []);
            zp = ByteScalar("input_zero_point", range.ZeroPoint);
        }
        else
        {
            var zero = Constant("zero", [0f], []);
            var one = Constant("one", [1f], []);
            var lo = Op("Min", p, [Op("ReduceMin", p, [rows], Ints("axes", 1), Int("keepdims", 0)), zero]);
            var hi = Op("Max", p, [Op("ReduceMax", p, [rows], Ints("axes", 1), Int("keepdims", 0)), zero]);
            var raw = Op("Div", p, [Op("Sub", p, [hi, lo]), Constant("levels", [Kernels.Int8Gemm.ActivationMax], [])]);
            var positive = Op("Greater", p, [raw, zero]);
            scale = Op("Where", p, [positive, raw, one]);
            var zpFloat = Op("Where", p, [positive, Op("Clip", p, [Op("Round", p, [Op("Div", p, [Op("Neg", p, [lo]), scale])]), zero,
                Constant("levels", [Kernels.Int8Gemm.ActivationMax], [])]), zero]);
            zp = Op("Cast", p, [zpFloat], Int("to", (int)TensorProto.Types.DataType.Uint8));
        }
        var quantized = Op("QuantizeLinear", p, [rows, scale, zp], Int("axis", 0));
        quantized = Op("Clip", p, [quantized, ByteScalar("u8_min", 0), ByteScalar("u8_max", Kernels.Int8Gemm.ActivationMax)]);
        var xd = Op("DequantizeLinear", p, [quantized, scale, zp], Int("axis", 0));
        var wd = Op("DequantizeLinear", p, [Int8Initializer(p + ".weight_quantized", q.Values), Initializer(p + ".weight_scale", q.Scales),
            Int8Initializer(p + ".weight_zero_point", Tensor.Zeros([m], DType.Int8))], Int("axis", 0));
        string[] inputs = l.Bias is null ? [xd, wd] : [xd, wd, Initializer(p + ".bias", l.Bias)];
        var y = Op("Gemm", p, inputs, Int("transB", 1));
        if (sample.Dim == 2) return y;
        var lead = Op("Slice", p, [Op("Shape", p, [x]), Int64Constant("start", [0]), Int64Constant("end", [-1])]);
        return Op("Reshape", p, [y, Op("Concat", p, [lead, Int64Constant("out", [m])], Int("axis", 0))]);
    }

    private string Int8Initializer(string name, Tensor t)
    {
        var proto = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int8 };
        proto.Dims.AddRange(t.Shape.Select(d => (long)d));
        proto.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(t.Contiguous().ToArray<sbyte>().AsSpan()));
        Graph.Initializer.Add(proto);
        return name;
    }

    private string ByteScalar(string hint, int value)
    {
        var proto = new TensorProto { Name = Fresh(hint), DataType = (int)TensorProto.Types.DataType.Uint8 };
        proto.RawData = ByteString.CopyFrom([(byte)value]);
        Graph.Initializer.Add(proto);
        return proto.Name;
    }

    private string EmitConv(Module c, string x, string p, Tensor weight, Tensor? bias, long[] kernel, long[] strides, long[] dilations, int groups, long[] pads)
    {
        string[] inputs = bias is null ? [x, Initializer(p + ".weight", weight)] : [x, Initializer(p + ".weight", weight), Initializer(p + ".bias", bias)];
        return Op("Conv", p, inputs, Ints("kernel_shape", kernel), Ints("strides", strides), Ints("dilations", dilations), Int("group", groups), Ints("pads", pads));
    }

    /// <summary>ONNX pads [top, left, bottom, right]; "same" puts the odd pixel below/right, as PyTorch.</summary>
    private static long[] Pads2(Padding padding, Size2 kernel, Size2 dilation)
    {
        if (!padding.IsSame) return [padding.H, padding.W, padding.H, padding.W];
        int th = dilation.H * (kernel.H - 1), tw = dilation.W * (kernel.W - 1);
        return [th / 2, tw / 2, th - th / 2, tw - tw / 2];
    }

    private static long[] Pads1(Padding padding, int kernel, int dilation)
    {
        if (!padding.IsSame) return [padding.H, padding.H];
        int t = dilation * (kernel - 1);
        return [t / 2, t - t / 2];
    }

    private string GeluErf(string x, string p)
    {
        // 0.5·x·(1 + erf(x/√2)): the graph PyTorch's exporter writes for exact GELU below opset 20.
        var erf = Op("Erf", p, [Op("Div", p, [x, Constant("sqrt2", [MathF.Sqrt(2)], [])])]);
        var onePlus = Op("Add", p, [erf, Constant("one", [1f], [])]);
        return Op("Mul", p, [Op("Mul", p, [x, onePlus]), Constant("half", [0.5f], [])]);
    }

    private string GeluTanh(string x, string p)
    {
        // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
        var cube = Op("Mul", p, [Op("Mul", p, [x, x]), x]);
        var inner = Op("Add", p, [x, Op("Mul", p, [cube, Constant("c", [0.044715f], [])])]);
        var t = Op("Tanh", p, [Op("Mul", p, [inner, Constant("k", [MathF.Sqrt(2 / MathF.PI)], [])])]);
        var onePlus = Op("Add", p, [t, Constant("one", [1f], [])]);
        return Op("Mul", p, [Op("Mul", p, [x, onePlus]), Constant("half", [0.5f], [])]);
    }

    private string AdaptivePool(Module m, string x, string p, int[] input, int[] output)
    {
        if (output.All(o => o == 1)) return Op("GlobalAveragePool", p, [x]);
        for (int i = 0; i < input.Length; i++)
            if (input[i] % output[i] != 0)
                throw Unsupported(m, $"adaptive pooling of size {string.Join("x", input)} to {string.Join("x", output)} has uneven windows; " +
                    "ONNX exports only output sizes that divide the input");
        var k = input.Select((v, i) => (long)(v / output[i])).ToArray();
        return Op("AveragePool", p, [x], Ints("kernel_shape", k), Ints("strides", k));
    }

    private string EmitBatchNorm(BatchNormBase bn, string x, string p)
    {
        if (bn.RunningMean is null || bn.RunningVar is null)
            throw Unsupported(bn, "without tracked running statistics it normalizes by batch statistics even in eval mode");
        var scale = bn.Weight ?? Tensor.Ones([bn.NumFeatures]);
        var shift = bn.Bias ?? Tensor.Zeros([bn.NumFeatures]);
        return Op("BatchNormalization", p, [x, Initializer(p + ".weight", scale), Initializer(p + ".bias", shift),
            Initializer(p + ".running_mean", bn.RunningMean), Initializer(p + ".running_var", bn.RunningVar)], Float("epsilon", bn.Eps));
    }

    private string EmitLayerNorm(LayerNorm ln, string x, string p)
    {
        if (opset < 17) throw Unsupported(ln, $"LayerNormalization needs opset 17 (asked for {opset})");
        int[] shape = ln.NormalizedShape;
        var scale = ln.Weight ?? Tensor.Ones(shape);
        string[] inputs = ln.Bias is null ? [x, Initializer(p + ".weight", scale)] : [x, Initializer(p + ".weight", scale), Initializer(p + ".bias", ln.Bias)];
        return Op("LayerNormalization", p, inputs, Int("axis", -shape.Length), Float("epsilon", ln.Eps));
    }

    private string EmitFlatten(Flatten f, string x, Tensor sample, string p)
    {
        int rank = sample.Dim;
        int start = f.StartDim < 0 ? f.StartDim + rank : f.StartDim, end = f.EndDim < 0 ? f.EndDim + rank : f.EndDim;
        if (start == 1 && end == rank - 1) return Op("Flatten", p, [x], Int("axis", 1));
        if (start == 0) throw Unsupported(f, "flattening the batch dimension would fix the batch size");
        // Reshape: 0 copies a leading dim (the batch stays dynamic), −1 is the merged run, the rest are fixed.
        var shape = new List<long>();
        for (int d = 0; d < start; d++) shape.Add(0);
        shape.Add(-1);
        for (int d = end + 1; d < rank; d++) shape.Add(sample.Shape[d]);
        return Op("Reshape", p, [x, Int64Constant("shape", [.. shape])]);
    }

    internal static ValueInfoProto ValueInfo(string name, int[] shape, DType dtype, IReadOnlyDictionary<int, string> dynamicAxes)
    {
        var elem = dtype == DType.Int64 ? TensorProto.Types.DataType.Int64 : TensorProto.Types.DataType.Float;
        var type = new TypeProto.Types.Tensor { ElemType = (int)elem, Shape = new TensorShapeProto() };
        for (int d = 0; d < shape.Length; d++)
            type.Shape.Dim.Add(dynamicAxes.TryGetValue(d, out var symbol) ? new TensorShapeProto.Types.Dimension { DimParam = symbol }
                : new TensorShapeProto.Types.Dimension { DimValue = shape[d] });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = type } };
    }

    internal static ModelProto Wrap(GraphProto graph, string name, int opset)
    {
        graph.Name = name;
        var model = new ModelProto
        {
            IrVersion = 8,
            ProducerName = "Ember",
            ProducerVersion = typeof(Tensor).Assembly.GetName().Version?.ToString() ?? "",
            Graph = graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
        return model;
    }
}
