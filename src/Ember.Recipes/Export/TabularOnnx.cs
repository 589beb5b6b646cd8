using Ember.NN;
using Ember.Recipes.Tabular;

namespace Ember.Recipes.Export;

/// <summary>
/// ONNX export of <see cref="TabularModel"/>s of every kind and fusion. The graph's inputs are what the model reads, in
/// this order: <c>dense</c> float32 (batch, dense width) for the MLP branch; <c>numeric</c> float32 (batch, scalar
/// columns) and <c>categorical</c> int64 (batch, categorical columns) for feature tokens (FT-Transformer, cross fusion);
/// <c>text</c> int64 (batch, text length) padded with the pad id; <c>wide</c> float32 (batch, TF-IDF width) — the sparse
/// TF-IDF rows written out dense — when the model has a wide part. The output <c>output</c> is (batch, outputs): logits,
/// or the regression prediction. Eval mode; a text of padding only attends to nothing, as in Ember.
/// </summary>
public static class TabularOnnx
{
    /// <summary>The input names <paramref name="config"/>'s model reads, in the graph's order.</summary>
    public static IReadOnlyList<string> InputNames(TabularModelConfig config)
    {
        var names = new List<string>();
        bool features = config.Kind == TabularModelKind.FtTransformer || (config.Kind == TabularModelKind.Hybrid && config.Fusion == FusionKind.Cross);
        if (config.Kind is TabularModelKind.Mlp or TabularModelKind.Hybrid) names.Add("dense");
        if (features && config.NumericWidth > 0) names.Add("numeric");
        if (features && config.Cardinalities.Length > 0) names.Add("categorical");
        if (config.UsesText) names.Add("text");
        if (config.WideWidth > 0) names.Add("wide");
        return names;
    }

    /// <summary>Writes <paramref name="model"/> to <paramref name="path"/> (atomically; nothing on failure).</summary>
    public static void Export(TabularModel model, string path, int opset = Onnx.DefaultOpset)
    {
        ArgumentNullException.ThrowIfNull(model);
        OnnxGraph.InEvalMode(model, () =>
        {
            var g = new OnnxGraph(model, opset);
            var output = Emit(g, model);
            g.AddOutput(output, "output", [1, model.Config.Outputs], DType.Float32, Batch);
            g.Save(path, "TabularModel");
        });
    }

    private static readonly Dictionary<int, string> Batch = new() { [0] = "batch" };

    private static string Emit(OnnxGraph g, TabularModel model)
    {
        var c = model.Config;
        var (mlp, tokens, positions, textEncoder, features, cls, ftEncoder, cross, crossNorm, gateProj, gate, head, wide) = model.Parts;
        var names = InputNames(c);
        string? dense = names.Contains("dense") ? g.AddInput("dense", [1, c.DenseWidth], DType.Float32, Batch) : null;
        string? numeric = names.Contains("numeric") ? g.AddInput("numeric", [1, c.NumericWidth], DType.Float32, Batch) : null;
        string? categorical = names.Contains("categorical") ? g.AddInput("categorical", [1, c.Cardinalities.Length], DType.Int64, Batch) : null;
        string? text = names.Contains("text") ? g.AddInput("text", [1, c.TextLength], DType.Int64, Batch) : null;
        string? wideIn = names.Contains("wide") ? g.AddInput("wide", [1, c.WideWidth], DType.Float32, Batch) : null;
        string p = "";
        var d = Tensor.Zeros([1, 2, c.DModel]);   // stand-in samples: the emitters read only their shapes
        var hidden = Tensor.Zeros([1, c.Hidden]);

        string Mlp() => g.Emit(mlp!, dense!, Tensor.Zeros([1, c.DenseWidth])).Name;

        // The text branch: token + learned position embeddings, pre-norm encoder with the padding mask, final norm.
        (string Tokens, string Keep, string Mask, string Alive) Text()
        {
            var h = g.Op("Gather", g.PathOf(tokens!), [g.Initializer(g.PathOf(tokens!) + ".weight", tokens!.Weight), text!], OnnxGraph.Int("axis", 0));
            var table = positions!.Positions.Weight.Narrow(0, 0, c.TextLength);
            h = g.Op("Add", g.PathOf(positions), [h, g.Initializer(g.PathOf(positions) + ".table", table)]);
            var mask = g.PaddingMask(text!, c.TextPadId, p);
            var alive = g.AliveRows(text!, c.TextPadId, p);
            foreach (var layer in textEncoder!.Layers.Cast<TransformerEncoderLayer>()) h = g.EmitEncoderLayer(layer, h, d, mask, alive);
            if (textEncoder.Norm is LayerNorm norm) h = g.Emit(norm, h, d).Name;
            var notPad = g.Op("Not", p, [g.Op("Equal", p, [text!, g.Int64Scalar("pad", c.TextPadId)])]);
            var keep = g.Op("Unsqueeze", p, [g.Op("Cast", p, [notPad], OnnxGraph.Int("to", 1)), g.Int64Constant("axes", [2])]);   // (N, L, 1) float
            return (h, keep, mask, alive);
        }

        // Mean over the tokens that are not padding (a text of padding only: zero).
        string MaskedMean(string h, string keep)
        {
            var sum = g.Op("ReduceSum", p, [g.Op("Mul", p, [h, keep]), g.Int64Constant("axes", [1])], OnnxGraph.Int("keepdims", 0));
            var count = g.Op("ReduceSum", p, [keep, g.Int64Constant("axes", [1])], OnnxGraph.Int("keepdims", 0));
            return g.Op("Div", p, [sum, g.Op("Max", p, [count, g.Constant("one", [1f], [])])]);
        }

        // Feature tokens (N, Kn + Kc, d): x_j·W_j + b_j for scalars, the category's embedding + b_j for categories.
        string FeatureTokens()
        {
            var (nw, nb, categories, offsets, cb) = features!.Parts;
            string fp = g.PathOf(features);
            var parts = new List<string>();
            if (nw is not null)
                parts.Add(g.Op("Add", fp, [g.Op("Mul", fp, [g.Op("Unsqueeze", fp, [numeric!, g.Int64Constant("axes", [2])]), g.Initializer(fp + ".numeric_weight", nw)]),
                    g.Initializer(fp + ".numeric_bias", nb!)]));
            if (categories is not null)
            {
                var index = g.Op("Add", fp, [categorical!, g.Int64Constant("offsets", offsets)]);
                parts.Add(g.Op("Add", fp, [g.Op("Gather", fp, [g.Initializer(fp + ".categories.weight", categories.Weight), index], OnnxGraph.Int("axis", 0)),
                    g.Initializer(fp + ".categorical_bias", cb!)]));
            }
            return parts.Count == 1 ? parts[0] : g.Op("Concat", fp, [.. parts], OnnxGraph.Int("axis", 1));
        }

        string embedding;
        switch (c.Kind)
        {
            case TabularModelKind.Mlp:
                embedding = Mlp();
                break;
            case TabularModelKind.Text:
            {
                var (h, keep, _, _) = Text();
                embedding = MaskedMean(h, keep);
                break;
            }
            case TabularModelKind.FtTransformer:
            {
                var tokensIn = FeatureTokens();
                var shape = g.Op("Shape", p, [tokensIn]);
                var batch = g.Op("Gather", p, [shape, g.Int64Constant("zero", [0])], OnnxGraph.Int("axis", 0));
                var clsShape = g.Op("Concat", p, [batch, g.Int64Constant("rest", [1, c.DModel])], OnnxGraph.Int("axis", 0));
                var clsTokens = g.Op("Expand", p, [g.Initializer("cls", cls!), clsShape]);
                var h = g.Op("Concat", p, [clsTokens, tokensIn], OnnxGraph.Int("axis", 1));
                var noMask = g.Constant("no_mask", [0f], []);
                foreach (var layer in ftEncoder!.Layers.Cast<TransformerEncoderLayer>()) h = g.EmitEncoderLayer(layer, h, d, noMask);
                if (ftEncoder.Norm is LayerNorm norm) h = g.Emit(norm, h, d).Name;
                embedding = g.Op("Gather", p, [h, g.Int64Scalar("first", 0)], OnnxGraph.Int("axis", 1));
                break;
            }
            default:
            {
                var s = Mlp();
                var (h, keep, mask, alive) = Text();
                switch (c.Fusion)
                {
                    case FusionKind.Concat:
                        embedding = g.Op("Concat", p, [s, MaskedMean(h, keep)], OnnxGraph.Int("axis", 1));
                        break;
                    case FusionKind.Cross:
                    {
                        var q = FeatureTokens();
                        var attended = g.EmitAttention(cross!, q, h, mask, d, alive);
                        var fused = g.Emit(crossNorm!, g.Op("Add", p, [q, attended]), d).Name;
                        fused = g.Op("ReduceMean", p, [fused], OnnxGraph.Ints("axes", 1), OnnxGraph.Int("keepdims", 0));
                        embedding = g.Op("Concat", p, [s, fused], OnnxGraph.Int("axis", 1));
                        break;
                    }
                    default:
                    {
                        var sp = g.Emit(gateProj!, s, hidden).Name;
                        var t = MaskedMean(h, keep);
                        var gt = g.Op("Sigmoid", p, [g.Emit(gate!, g.Op("Concat", p, [sp, t], OnnxGraph.Int("axis", 1)), Tensor.Zeros([1, 2 * c.DModel])).Name]);
                        var oneMinus = g.Op("Sub", p, [g.Constant("one", [1f], []), gt]);
                        embedding = g.Op("Add", p, [g.Op("Mul", p, [gt, sp]), g.Op("Mul", p, [oneMinus, t])]);
                        break;
                    }
                }
                break;
            }
        }
        int headIn = head[0] is Linear first ? first.InFeatures : throw g.Unsupported(head, "the head must start with a Linear layer");
        var y = g.Emit(head, embedding, Tensor.Zeros([1, headIn])).Name;
        if (wide is null) return y;
        // The wide (TF-IDF) part: 30·(x·Wᵀ) + b, added to the logits.
        var w = g.Op("Mul", g.PathOf(wide), [g.Op("MatMul", g.PathOf(wide), [wideIn!, g.Initializer(g.PathOf(wide) + ".weight_t", wide.Weight.T)]),
            g.Constant("scale", [(float)TabularModel.WideScale], [])]);
        return g.Op("Add", p, [y, g.Op("Add", g.PathOf(wide), [w, g.Initializer(g.PathOf(wide) + ".bias", wide.Bias!)])]);
    }
}
