using System.Globalization;
using Ember.NN;

namespace Ember.Models;

/// <summary>Hyperparameters of an encoder–decoder Transformer for sequence-to-sequence tasks (translation, reversal,
/// summarization): vocabularies, widths, depths, and the special token ids it pads, starts and ends with.</summary>
public sealed record Seq2SeqConfig(int SrcVocabSize, int TgtVocabSize, int DModel = 128, int NHead = 4, int EncoderLayers = 3,
    int DecoderLayers = 3, int DimFeedforward = 512, double Dropout = 0.1, int MaxLength = 256, int PadId = 0, int BosId = 1, int EosId = 2,
    bool NormFirst = false)
{
    /// <summary>Checks the configuration (positive sizes, width divisible by heads).</summary>
    public void Validate()
    {
        if (SrcVocabSize < 1 || TgtVocabSize < 1 || DModel < 1 || NHead < 1 || EncoderLayers < 1 || DecoderLayers < 1 || DimFeedforward < 1 || MaxLength < 1)
            throw new ArgumentException($"Seq2SeqConfig: every size must be positive, got {this}.");
        if (DModel % NHead != 0) throw new ArgumentException($"Seq2SeqConfig: d_model {DModel} must be divisible by n_head {NHead}.");
        foreach (var (name, id) in new[] { ("pad", PadId), ("bos", BosId), ("eos", EosId) })
            if (id < 0 || id >= TgtVocabSize) throw new ArgumentException($"Seq2SeqConfig: {name} id {id} is outside the target vocabulary [0, {TgtVocabSize}).");
        if (Dropout is < 0 or >= 1) throw new ArgumentException($"Seq2SeqConfig: dropout must be in [0, 1), got {Dropout}.");
    }

    /// <summary>The configuration as checkpoint metadata.</summary>
    public Dictionary<string, string> ToMetadata()
    {
        string I(int v) => v.ToString(CultureInfo.InvariantCulture);
        return new()
        {
            ["model"] = "seq2seq", ["src_vocab_size"] = I(SrcVocabSize), ["tgt_vocab_size"] = I(TgtVocabSize), ["d_model"] = I(DModel),
            ["n_head"] = I(NHead), ["encoder_layers"] = I(EncoderLayers), ["decoder_layers"] = I(DecoderLayers), ["dim_feedforward"] = I(DimFeedforward),
            ["dropout"] = Dropout.ToString("R", CultureInfo.InvariantCulture), ["max_length"] = I(MaxLength), ["pad_id"] = I(PadId),
            ["bos_id"] = I(BosId), ["eos_id"] = I(EosId), ["norm_first"] = NormFirst ? "true" : "false",
        };
    }

    /// <summary>The configuration stored in a checkpoint's metadata (<paramref name="source"/> names the file in errors).</summary>
    public static Seq2SeqConfig FromMetadata(IReadOnlyDictionary<string, string> meta, string source)
    {
        string Get(string k) => meta.TryGetValue(k, out var v) ? v : throw new InvalidDataException($"{source}: checkpoint metadata lacks '{k}' (not a seq2seq checkpoint?).");
        if (Get("model") != "seq2seq") throw new InvalidDataException($"{source}: checkpoint holds a '{meta["model"]}' model, not a seq2seq Transformer.");
        int I(string k) => int.TryParse(Get(k), NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v
            : throw new InvalidDataException($"{source}: metadata '{k}' = '{Get(k)}' is not an integer.");
        var c = new Seq2SeqConfig(I("src_vocab_size"), I("tgt_vocab_size"), I("d_model"), I("n_head"), I("encoder_layers"), I("decoder_layers"),
            I("dim_feedforward"), double.Parse(Get("dropout"), CultureInfo.InvariantCulture), I("max_length"), I("pad_id"), I("bos_id"), I("eos_id"),
            Get("norm_first") == "true");
        c.Validate();
        return c;
    }
}

/// <summary>An encoder–decoder Transformer (Vaswani et al., 2017): token embeddings scaled by √d_model plus sinusoidal
/// positions, <see cref="NN.Transformer"/> (batch-first) with padding masks built from the pad id and a causal mask on
/// the target, and a linear projection to target-vocabulary logits. Token ids are int64 (N, S) and (N, T).
/// Shape: source ids (N, S) and target ids (N, T), int64 → logits (N, T, vocab).</summary>
public sealed class Seq2SeqTransformer : Module
{
    /// <summary>The configuration the model was built from.</summary>
    public Seq2SeqConfig Config { get; }
    /// <summary>The encoder–decoder stack.</summary>
    public NN.Transformer Transformer { get; }
    private readonly Embedding _srcEmbed, _tgtEmbed;
    private readonly SinusoidalPositionalEncoding _positions;
    private readonly Linear _generator;
    private readonly double _scale;

    /// <summary>The parts, for exporters: embeddings, positions, the output projection and the √d_model scale.</summary>
    internal (Embedding Source, Embedding Target, SinusoidalPositionalEncoding Positions, Linear Generator, double Scale) Parts =>
        (_srcEmbed, _tgtEmbed, _positions, _generator, _scale);

    /// <summary>A sequence-to-sequence Transformer of <paramref name="config"/>, initialized from <paramref name="generator"/>.</summary>
    public Seq2SeqTransformer(Seq2SeqConfig config, Generator? generator = null)
    {
        config.Validate();
        Config = config;
        _srcEmbed = RegisterModule("src_embed", new Embedding(config.SrcVocabSize, config.DModel, config.PadId < config.SrcVocabSize ? config.PadId : null, generator: generator));
        _tgtEmbed = RegisterModule("tgt_embed", new Embedding(config.TgtVocabSize, config.DModel, config.PadId, generator: generator));
        _positions = RegisterModule("positions", new SinusoidalPositionalEncoding(config.DModel, config.MaxLength, config.Dropout, generator: generator));
        Transformer = RegisterModule("transformer", new NN.Transformer(config.DModel, config.NHead, config.EncoderLayers, config.DecoderLayers,
            config.DimFeedforward, config.Dropout, batchFirst: true, normFirst: config.NormFirst, generator: generator));
        _generator = RegisterModule("generator", new Linear(config.DModel, config.TgtVocabSize, generator: generator));
        // Xavier-uniform embeddings (as the annotated Transformer), so that √d_model scaling keeps them on the scale of the positions.
        using (Tensor.NoGrad())
            foreach (var e in new[] { _srcEmbed, _tgtEmbed })
            {
                Init.XavierUniform(e.Weight, g: generator);
                if (e.PaddingIdx is int p) e.Weight.Select(0, p).Fill(0);
            }
        _scale = Math.Sqrt(config.DModel);
    }

    /// <summary>Needs both sequences: use <see cref="Forward(Tensor, Tensor)"/>.</summary>
    public override Tensor Forward(Tensor input) =>
        throw new InvalidOperationException("Seq2SeqTransformer: call Forward(src, tgt); the model needs a source and a (shifted) target sequence.");

    /// <summary>Teacher-forced logits (N, T, V_tgt) for source ids (N, S) and target input ids (N, T) (the target
    /// shifted right, starting with BOS).</summary>
    public Tensor Forward(Tensor src, Tensor tgt)
    {
        var (memory, srcPad) = Encode(src);
        return Decode(tgt, memory, srcPad);
    }

    /// <summary>The encoder's memory (N, S, d_model) and the source padding mask (N, S) (true = pad).</summary>
    public (Tensor Memory, Tensor SrcPaddingMask) Encode(Tensor src)
    {
        CheckIds(src, "src");
        var srcPad = src.Eq(Config.PadId);
        var x = _positions.Call(_srcEmbed.Call(src).Mul(_scale));
        return (Transformer.Encoder.Forward(x, null, srcPad), srcPad);
    }

    /// <summary>Logits (N, T, V_tgt) of the decoder over <paramref name="memory"/> for target ids (N, T).</summary>
    public Tensor Decode(Tensor tgt, Tensor memory, Tensor srcPaddingMask)
    {
        CheckIds(tgt, "tgt");
        int t = tgt.Size(1);
        var y = _positions.Call(_tgtEmbed.Call(tgt).Mul(_scale));
        var h = Transformer.Decoder.Forward(y, memory, NN.Transformer.GenerateSquareSubsequentMask(t, y.DType), null, tgt.Eq(Config.PadId), srcPaddingMask);
        return _generator.Call(h);
    }

    /// <summary>Greedy decoding: starts every row from BOS and appends the most likely token until EOS or
    /// <paramref name="maxLength"/> generated tokens. Returns each row's tokens without BOS and EOS.</summary>
    public long[][] GreedyDecode(Tensor src, int maxLength)
    {
        if (maxLength < 1 || maxLength + 1 > Config.MaxLength)
            throw new ArgumentException($"Seq2SeqTransformer.GreedyDecode: max length {maxLength} must be in [1, {Config.MaxLength - 1}].");
        bool was = Training;
        Eval();
        try
        {
            using var _ = Tensor.NoGrad();
            var (memory, srcPad) = Encode(src);
            int n = src.Size(0);
            var rows = Enumerable.Range(0, n).Select(_ => new List<long> { Config.BosId }).ToArray();
            var done = new bool[n];
            for (int step = 0; step < maxLength && done.Contains(false); step++)
            {
                var ids = new long[n * rows[0].Count];
                for (int i = 0; i < n; i++) rows[i].CopyTo(ids, i * rows[i].Count);
                var logits = Decode(Tensor.FromArray(ids, n, rows[0].Count), memory, srcPad);
                var next = logits.Select(1, rows[0].Count - 1).ArgMax(-1).ToArray<long>();
                for (int i = 0; i < n; i++)
                {
                    long token = done[i] ? Config.PadId : next[i];
                    rows[i].Add(token);
                    if (token == Config.EosId) done[i] = true;
                }
            }
            return rows.Select(r => r.Skip(1).TakeWhile(tk => tk != Config.EosId && tk != Config.PadId).ToArray()).ToArray();
        }
        finally { Train(was); }
    }

    /// <summary>The cross-attention weights (N, H, T, S) of every decoder layer for a teacher-forced pass (eval mode, no gradient).</summary>
    public IReadOnlyList<Tensor> CrossAttentionMaps(Tensor src, Tensor tgt) =>
        AttentionCapture.Run(this, Transformer.Decoder.Layers.Cast<TransformerDecoderLayer>().ToArray(), (l, k) => l.KeepAttentionWeights = k,
            l => l.CrossAttentionWeights, () => Forward(src, tgt));

    private void CheckIds(Tensor ids, string what)
    {
        if (ids.Dim != 2 || ids.DType != DType.Int64)
            throw new ArgumentException($"Seq2SeqTransformer: expected int64 {what} ids (N, L), got {ids.DType.Name()} {ShapeUtil.Str(ids._shape)}.");
        if (ids.Size(1) > Config.MaxLength)
            throw new ArgumentException($"Seq2SeqTransformer: {what} length {ids.Size(1)} exceeds max_length {Config.MaxLength}.");
    }
}
