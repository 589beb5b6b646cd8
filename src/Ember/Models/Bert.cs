using System.Globalization;
using Ember.NN;

namespace Ember.Models;

/// <summary>Hyperparameters of a BERT-style encoder (Devlin et al., 2019) with a sequence-classification head. The
/// defaults are a small model that trains on a CPU; BERT-base is (hidden 768, 12 layers, 12 heads, intermediate 3072).</summary>
public sealed record BertConfig(int VocabSize, int NumLabels = 2, int Hidden = 128, int Layers = 2, int Heads = 4, int Intermediate = 512,
    int MaxPositions = 512, int TypeVocabSize = 2, double Dropout = 0.1, double LayerNormEps = 1e-12, int PadId = 0)
{
    /// <summary>Checks the configuration (positive sizes, width divisible by heads).</summary>
    public void Validate()
    {
        if (VocabSize < 1 || NumLabels < 1 || Hidden < 1 || Layers < 1 || Heads < 1 || Intermediate < 1 || MaxPositions < 1 || TypeVocabSize < 1)
            throw new ArgumentException($"BertConfig: every size must be positive, got {this}.");
        if (Hidden % Heads != 0) throw new ArgumentException($"BertConfig: hidden {Hidden} must be divisible by heads {Heads}.");
        if (PadId < 0 || PadId >= VocabSize) throw new ArgumentException($"BertConfig: pad id {PadId} is outside the vocabulary [0, {VocabSize}).");
        if (Dropout is < 0 or >= 1) throw new ArgumentException($"BertConfig: dropout must be in [0, 1), got {Dropout}.");
    }

    /// <summary>The configuration as checkpoint metadata.</summary>
    public Dictionary<string, string> ToMetadata()
    {
        string I(int v) => v.ToString(CultureInfo.InvariantCulture);
        string D(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        return new()
        {
            ["model"] = "bert", ["vocab_size"] = I(VocabSize), ["num_labels"] = I(NumLabels), ["hidden"] = I(Hidden), ["layers"] = I(Layers),
            ["heads"] = I(Heads), ["intermediate"] = I(Intermediate), ["max_positions"] = I(MaxPositions), ["type_vocab_size"] = I(TypeVocabSize),
            ["dropout"] = D(Dropout), ["layer_norm_eps"] = D(LayerNormEps), ["pad_id"] = I(PadId),
        };
    }

    /// <summary>The configuration stored in a checkpoint's metadata (<paramref name="source"/> names the file in errors).</summary>
    public static BertConfig FromMetadata(IReadOnlyDictionary<string, string> meta, string source)
    {
        string Get(string k) => meta.TryGetValue(k, out var v) ? v : throw new InvalidDataException($"{source}: checkpoint metadata lacks '{k}' (not a BERT checkpoint?).");
        if (Get("model") != "bert") throw new InvalidDataException($"{source}: checkpoint holds a '{meta["model"]}' model, not a BERT encoder.");
        int I(string k) => int.TryParse(Get(k), NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v
            : throw new InvalidDataException($"{source}: metadata '{k}' = '{Get(k)}' is not an integer.");
        double D(string k) => double.TryParse(Get(k), NumberStyles.Float, CultureInfo.InvariantCulture, out double v) ? v
            : throw new InvalidDataException($"{source}: metadata '{k}' = '{Get(k)}' is not a number.");
        var c = new BertConfig(I("vocab_size"), I("num_labels"), I("hidden"), I("layers"), I("heads"), I("intermediate"), I("max_positions"),
            I("type_vocab_size"), D("dropout"), D("layer_norm_eps"), I("pad_id"));
        c.Validate();
        return c;
    }
}

/// <summary>A BERT encoder: word + position + token-type embeddings, LayerNorm and dropout, then post-norm Transformer
/// encoder layers with GELU; the pooler maps the first ([CLS]) token through Linear + tanh. Input ids are int64 (N, L);
/// the attention mask follows Hugging Face's convention (1 = a real token, 0 = padding) and defaults to
/// <c>ids != pad_id</c>. All matrices start from N(0, 0.02), biases at zero, as BERT does.
/// Shape: token ids (N, L) int64 → pooled output (N, hidden) (Encode also gives the hidden states (N, L, hidden)).</summary>
public sealed class BertModel : Module
{
    /// <summary>The configuration the model was built from.</summary>
    public BertConfig Config { get; }
    /// <summary>The encoder stack.</summary>
    public TransformerEncoder Encoder { get; }
    private readonly Embedding _word, _position, _tokenType;
    private readonly LayerNorm _embNorm;
    private readonly Dropout _embDropout;
    private readonly Linear _pooler;

    /// <summary>The parts, for exporters: word, position and token-type tables, the embedding norm, the pooler.</summary>
    internal (Embedding Word, Embedding Position, Embedding TokenType, LayerNorm EmbeddingNorm, Linear Pooler) Parts =>
        (_word, _position, _tokenType, _embNorm, _pooler);

    /// <summary>A BERT-style encoder of <paramref name="config"/>, initialized N(0, 0.02) from <paramref name="generator"/>.</summary>
    public BertModel(BertConfig config, Generator? generator = null)
    {
        config.Validate();
        Config = config;
        _word = RegisterModule("word_embeddings", new Embedding(config.VocabSize, config.Hidden, config.PadId, generator: generator));
        _position = RegisterModule("position_embeddings", new Embedding(config.MaxPositions, config.Hidden, generator: generator));
        _tokenType = RegisterModule("token_type_embeddings", new Embedding(config.TypeVocabSize, config.Hidden, generator: generator));
        _embNorm = RegisterModule("embeddings_norm", new LayerNorm(config.Hidden, config.LayerNormEps));
        _embDropout = RegisterModule("embeddings_dropout", new Dropout(config.Dropout, generator));
        Encoder = RegisterModule("encoder", new TransformerEncoder(
            () => new TransformerEncoderLayer(config.Hidden, config.Heads, config.Intermediate, config.Dropout, TransformerActivation.Gelu,
                config.LayerNormEps, batchFirst: true, generator: generator), config.Layers));
        _pooler = RegisterModule("pooler", new Linear(config.Hidden, config.Hidden, generator: generator));
        using (Tensor.NoGrad())
            foreach (var (name, p) in NamedParameters())
            {
                if (name.Contains("norm")) continue;                        // LayerNorm: weight 1, bias 0
                if (p.Dim == 1) Init.Zeros(p);
                else Init.Normal(p, 0, 0.02, generator);
            }
        using (Tensor.NoGrad()) _word.Weight.Select(0, config.PadId).Fill(0);
    }

    /// <summary>Pooled output (N, hidden) with the default mask and token types.</summary>
    public override Tensor Forward(Tensor input) => Encode(input).Pooled;

    /// <summary>The last hidden states (N, L, hidden) and the pooled [CLS] output (N, hidden).</summary>
    public (Tensor Hidden, Tensor Pooled) Encode(Tensor inputIds, Tensor? attentionMask = null, Tensor? tokenTypeIds = null)
    {
        const string op = "BertModel";
        if (inputIds.Dim != 2 || inputIds.DType != DType.Int64)
            throw new ArgumentException($"{op}: expected int64 input ids (N, L), got {inputIds.DType.Name()} {ShapeUtil.Str(inputIds._shape)}.");
        int n = inputIds.Size(0), l = inputIds.Size(1);
        if (l > Config.MaxPositions) throw new ArgumentException($"{op}: sequence length {l} exceeds max_positions {Config.MaxPositions}.");
        if (attentionMask is not null && (attentionMask.Dim != 2 || attentionMask.Size(0) != n || attentionMask.Size(1) != l))
            throw new ArgumentException($"{op}: attention mask must be (N, L) = ({n}, {l}), got {ShapeUtil.Str(attentionMask._shape)}.");
        if (tokenTypeIds is not null && (tokenTypeIds.Dim != 2 || tokenTypeIds.Size(0) != n || tokenTypeIds.Size(1) != l))
            throw new ArgumentException($"{op}: token type ids must be (N, L) = ({n}, {l}), got {ShapeUtil.Str(tokenTypeIds._shape)}.");
        var padding = attentionMask is null ? inputIds.Eq(Config.PadId) : attentionMask.Eq(0);   // true = may not be attended to
        var x = _word.Call(inputIds).Add(_position.Call(Tensor.Arange(0, l, 1, DType.Int64)));
        x = x.Add(tokenTypeIds is null ? _tokenType.Weight.Select(0, 0) : _tokenType.Call(tokenTypeIds));
        x = _embDropout.Call(_embNorm.Call(x));
        var hidden = Encoder.Forward(x, null, padding);
        var pooled = _pooler.Call(hidden.Select(1, 0)).Tanh();
        return (hidden, pooled);
    }
}

/// <summary>BERT with a classification head on the pooled [CLS] output (Hugging Face's
/// <c>BertForSequenceClassification</c>): dropout, then Linear(hidden → num_labels) logits.</summary>
public sealed class BertForSequenceClassification : Module
{
    /// <summary>The configuration the model was built from.</summary>
    public BertConfig Config { get; }
    /// <summary>The encoder.</summary>
    public BertModel Bert { get; }
    private readonly Dropout _dropout;
    private readonly Linear _classifier;

    /// <summary>The classification head, for exporters.</summary>
    internal Linear Classifier => _classifier;

    /// <summary>A BERT-style classifier of <paramref name="config"/>.</summary>
    public BertForSequenceClassification(BertConfig config, Generator? generator = null)
    {
        Bert = RegisterModule("bert", new BertModel(config, generator));
        Config = config;
        _dropout = RegisterModule("dropout", new Dropout(config.Dropout, generator));
        _classifier = RegisterModule("classifier", new Linear(config.Hidden, config.NumLabels, generator: generator));
        using (Tensor.NoGrad())
        {
            Init.Normal(_classifier.Weight, 0, 0.02, generator);
            Init.Zeros(_classifier.Bias!);
        }
    }

    /// <summary>Logits (N, num_labels) with the default mask (ids != pad) and token types (all 0).</summary>
    public override Tensor Forward(Tensor input) => Forward(input, null, null);

    /// <summary>Class logits (N, classes) for token ids (N, L), an attention mask (N, L) of 1 for real tokens and 0 for padding, and optional token types (N, L).</summary>
    public Tensor Forward(Tensor inputIds, Tensor? attentionMask, Tensor? tokenTypeIds = null) =>
        _classifier.Call(_dropout.Call(Bert.Encode(inputIds, attentionMask, tokenTypeIds).Pooled));

    /// <summary>The self-attention weights (N, H, L, L) of every layer (eval mode, no gradient).</summary>
    public IReadOnlyList<Tensor> AttentionMaps(Tensor inputIds, Tensor? attentionMask = null) =>
        AttentionCapture.Run(this, Bert.Encoder.Layers.Cast<TransformerEncoderLayer>().ToArray(), (l, k) => l.KeepAttentionWeights = k,
            l => l.AttentionWeights, () => Forward(inputIds, attentionMask));
}
