using Ember.NN;

namespace Ember.Models;

/// <summary>Hyperparameters of a decoder-only GPT (Radford et al., 2018/2019; the layout of Karpathy's nanoGPT).</summary>
public sealed record GptConfig(int VocabSize, int ContextLength = 128, int NLayer = 4, int NHead = 4, int NEmbd = 128, double Dropout = 0.0, bool Bias = true)
{
    /// <summary>Checks the configuration (positive sizes, width divisible by heads, dropout in [0, 1)).</summary>
    public void Validate()
    {
        if (VocabSize < 1 || ContextLength < 1 || NLayer < 1 || NHead < 1 || NEmbd < 1)
            throw new ArgumentException($"GptConfig: every size must be positive, got {this}.");
        if (NEmbd % NHead != 0) throw new ArgumentException($"GptConfig: n_embd {NEmbd} must be divisible by n_head {NHead}.");
    }

    /// <summary>The configuration as checkpoint metadata.</summary>
    public Dictionary<string, string> ToMetadata() => new()
    {
        ["model"] = "gpt", ["vocab_size"] = VocabSize.ToString(), ["context_length"] = ContextLength.ToString(), ["n_layer"] = NLayer.ToString(),
        ["n_head"] = NHead.ToString(), ["n_embd"] = NEmbd.ToString(), ["dropout"] = Dropout.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
        ["bias"] = Bias ? "true" : "false",
    };

    /// <summary>The configuration stored in a checkpoint's metadata (<paramref name="source"/> names the file in errors).</summary>
    public static GptConfig FromMetadata(IReadOnlyDictionary<string, string> meta, string source)
    {
        string Get(string k) => meta.TryGetValue(k, out var v) ? v : throw new InvalidDataException($"{source}: checkpoint metadata lacks '{k}' (not a GPT checkpoint?).");
        if (Get("model") != "gpt") throw new InvalidDataException($"{source}: checkpoint holds a '{meta["model"]}' model, not a GPT.");
        int I(string k) => int.TryParse(Get(k), out int v) ? v : throw new InvalidDataException($"{source}: metadata '{k}' = '{Get(k)}' is not an integer.");
        var c = new GptConfig(I("vocab_size"), I("context_length"), I("n_layer"), I("n_head"), I("n_embd"),
            double.Parse(Get("dropout"), System.Globalization.CultureInfo.InvariantCulture), Get("bias") == "true");
        c.Validate();
        return c;
    }
}

/// <summary>Keys and values of every layer for the tokens seen so far, so that generation feeds only the new token.</summary>
public sealed class KvCache
{
    internal readonly Tensor?[] Keys, Values;
    // Without autograd the keys and values live in buffers with room to grow (capacity doubling), and Keys/Values are
    // views of their filled part: appending one token copies one token, not the whole cache.
    private readonly Tensor?[] _keyBuffers, _valueBuffers;

    /// <summary>Tokens cached so far.</summary>
    public int Length { get; internal set; }

    /// <summary>An empty cache for <paramref name="layers"/> layers.</summary>
    public KvCache(int layers)
    {
        Keys = new Tensor?[layers];
        Values = new Tensor?[layers];
        _keyBuffers = new Tensor?[layers];
        _valueBuffers = new Tensor?[layers];
    }

    /// <summary>Forgets every cached key and value.</summary>
    public void Clear()
    {
        Array.Clear(Keys);
        Array.Clear(Values);
        Array.Clear(_keyBuffers);
        Array.Clear(_valueBuffers);
        Length = 0;
    }

    /// <summary>Appends (B, H, T, hd) keys and values for one layer; returns all cached keys and values (B, H, S, hd).</summary>
    internal (Tensor K, Tensor V) Append(int layer, Tensor k, Tensor v)
    {
        var pk = Keys[layer];
        if (GradMode.IsEnabled && (k.RequiresGrad || v.RequiresGrad))
        {
            // Recorded: concatenate, so that earlier views saved for backward are never written into.
            if (pk is not null) { k = Tensor.Cat([pk, k], 2); v = Tensor.Cat([Values[layer]!, v], 2); }
            Keys[layer] = k.Detach();
            Values[layer] = v.Detach();
            _keyBuffers[layer] = _valueBuffers[layer] = null;
            return (k, v);
        }
        int past = pk?.Size(2) ?? 0, t = k.Size(2), need = past + t;
        var kb = _keyBuffers[layer];
        if (kb is null || kb.Size(2) < need || kb.Size(0) != k.Size(0) || kb.Size(1) != k.Size(1) || kb.Size(3) != k.Size(3) || kb.DType != k.DType)
        {
            int cap = Math.Max(need, kb is null ? 64 : 2 * kb.Size(2));
            var nk = Tensor.Empty(k.DType, [k.Size(0), k.Size(1), cap, k.Size(3)]);
            var nv = Tensor.Empty(v.DType, [v.Size(0), v.Size(1), cap, v.Size(3)]);
            if (past > 0)
            {
                nk.Narrow(2, 0, past).CopyFrom(pk!);
                nv.Narrow(2, 0, past).CopyFrom(Values[layer]!);
            }
            _keyBuffers[layer] = kb = nk;
            _valueBuffers[layer] = nv;
        }
        var vb = _valueBuffers[layer]!;
        kb.Narrow(2, past, t).CopyFrom(k);
        vb.Narrow(2, past, t).CopyFrom(v);
        Keys[layer] = kb.Narrow(2, 0, need);
        Values[layer] = vb.Narrow(2, 0, need);
        return (Keys[layer]!, Values[layer]!);
    }
}

/// <summary>Causal self-attention of one GPT block: a packed (E → 3E) projection, heads, causal attention, output
/// projection. With a <see cref="KvCache"/>, new keys and values are appended and the new queries attend to all.</summary>
public sealed class CausalSelfAttention : Module
{
    private readonly Linear _attn, _proj;
    private readonly Dropout _residDropout;
    private readonly int _heads;
    private readonly double _dropout;
    private readonly Generator? _generator;
    internal override Generator? RandomSource => _dropout > 0 ? _generator ?? Generator.Default : null;

    /// <summary>When set, each forward appends its attention weights (B, H, T, S) here.</summary>
    internal List<Tensor>? Capture { get; set; }

    /// <summary>The parts, for exporters: the packed q/k/v projection, the output projection, the head count.</summary>
    internal (Linear Qkv, Linear Proj, int Heads) Parts => (_attn, _proj, _heads);

    /// <summary>False unless attention weights are being captured.</summary>
    public override bool HoldsActivations => Capture is not null;

    /// <summary>The attention block of a GPT configured by <paramref name="c"/>.</summary>
    public CausalSelfAttention(GptConfig c, Generator? g)
    {
        _attn = RegisterModule("c_attn", new Linear(c.NEmbd, 3 * c.NEmbd, c.Bias, generator: g));
        _proj = RegisterModule("c_proj", new Linear(c.NEmbd, c.NEmbd, c.Bias, generator: g));
        _residDropout = RegisterModule("resid_dropout", new Dropout(c.Dropout, g));
        (_heads, _dropout, _generator) = (c.NHead, c.Dropout, g);
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Forward(input, null, 0);

    internal Tensor Forward(Tensor x, KvCache? cache, int layer)
    {
        int b = x.Size(0), t = x.Size(1), e = x.Size(2), hd = e / _heads;
        var qkv = _attn.Call(x);
        double dropout = Training ? _dropout : 0;
        if (cache is null && Capture is null && dropout == 0
            && Functional.PackedCausalSelfAttention(qkv, _heads) is Tensor packed)
        {
            return _residDropout.Call(_proj.Call(packed));
        }
        Tensor Heads(int i) => qkv.Narrow(2, i * e, e).View(b, t, _heads, hd).Transpose(1, 2);   // (B, H, T, hd)
        var q = Heads(0); var k = Heads(1); var v = Heads(2);
        int past = 0;
        if (cache is not null)
        {
            past = cache.Length;
            (k, v) = cache.Append(layer, k, v);
        }
        // New query i sits at absolute position past + i and may attend keys 0 … past + i.
        if (Capture is null && dropout == 0
            && Functional.FusedAttention(q, k, v, null, 1 / Math.Sqrt(hd), past) is Tensor fused)
            return _residDropout.Call(_proj.Call(fused.Transpose(1, 2).Reshape(b, t, e)));
        Tensor? mask = null;
        int s = k.Size(2);
        if (t > 1 || past == 0)
        {
            var m = new double[t * s];
            for (int i = 0; i < t; i++)
                for (int j = past + i + 1; j < s; j++) m[i * s + j] = double.NegativeInfinity;
            mask = Tensor.FromArray(m, t, s).To(x.DType);
        }
        Tensor y;
        if (Capture is not null)
        {
            var (o, w) = Functional.Attention(q, k, v, mask, dropout, generator: _generator);
            Capture.Add(w!.Detach());
            y = o;
        }
        else y = Functional.ScaledDotProductAttention(q, k, v, mask, dropout, generator: _generator);
        return _residDropout.Call(_proj.Call(y.Transpose(1, 2).Reshape(b, t, e)));
    }
}

/// <summary>One pre-norm GPT block: x + attn(ln_1(x)), then x + mlp(ln_2(x)) with a 4× GELU MLP.
/// Shape: (B, T, E) → (B, T, E).</summary>
public sealed class GptBlock : Module
{
    private readonly LayerNorm _ln1, _ln2;
    private readonly CausalSelfAttention _attn;
    private readonly Sequential _mlp;

    internal CausalSelfAttention Attention => _attn;

    /// <summary>The parts in forward order, for exporters.</summary>
    internal (LayerNorm Ln1, CausalSelfAttention Attention, LayerNorm Ln2, Sequential Mlp) Parts => (_ln1, _attn, _ln2, _mlp);

    /// <summary>False unless attention weights are being captured.</summary>
    public override bool HoldsActivations => _attn.HoldsActivations;

    /// <summary>A GPT block configured by <paramref name="c"/>.</summary>
    public GptBlock(GptConfig c, Generator? g)
    {
        _ln1 = RegisterModule("ln_1", new LayerNorm(c.NEmbd, bias: c.Bias));
        _attn = RegisterModule("attn", new CausalSelfAttention(c, g));
        _ln2 = RegisterModule("ln_2", new LayerNorm(c.NEmbd, bias: c.Bias));
        _mlp = RegisterModule("mlp", new Sequential(new Linear(c.NEmbd, 4 * c.NEmbd, c.Bias, generator: g), new GELU(),
            new Linear(4 * c.NEmbd, c.NEmbd, c.Bias, generator: g), new Dropout(c.Dropout, g)));
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Forward(input, null, 0);

    internal Tensor Forward(Tensor x, KvCache? cache, int layer)
    {
        var h1 = _ln1.Call(x);
        var a = _attn.Forward(h1, cache, layer);
        var x1 = x.Add(a);
        var h2 = _ln2.Call(x1);
        var m = _mlp.Call(h2);
        return x1.Add(m);
    }
}

/// <summary>A decoder-only transformer language model: token and learned position embeddings, pre-norm blocks, a
/// final LayerNorm and an output projection tied to the token embedding. Input int64 (B, T) → logits (B, T, V).
/// Initialization as GPT-2: N(0, 0.02) weights, zero biases, residual projections scaled by 1/√(2·layers).</summary>
public sealed class Gpt : Module
{
    /// <summary>The configuration the model was built from.</summary>
    public GptConfig Config { get; }

    /// <summary>The parts in forward order, for exporters: token and position tables, blocks, final norm.</summary>
    internal (Embedding Wte, Embedding Wpe, ModuleList Blocks, LayerNorm LnF) Parts => (_wte, _wpe, _blocks, _lnF);
    private readonly Embedding _wte, _wpe;
    private readonly ModuleList _blocks;
    private readonly LayerNorm _lnF;
    private readonly Dropout _drop;

    /// <summary>False unless attention weights are being captured: every activation but the logits stays inside the
    /// model, and is recycled after backward.</summary>
    public override bool HoldsActivations => _blocks.Any(b => b.HoldsActivations);

    /// <summary>A GPT of <paramref name="config"/>, initialized as GPT-2 from <paramref name="generator"/> (or <see cref="Generator.Default"/>).</summary>
    public Gpt(GptConfig config, Generator? generator = null)
    {
        config.Validate();
        Config = config;
        _wte = RegisterModule("wte", new Embedding(config.VocabSize, config.NEmbd, generator: generator));
        _wpe = RegisterModule("wpe", new Embedding(config.ContextLength, config.NEmbd, generator: generator));
        _drop = RegisterModule("drop", new Dropout(config.Dropout, generator));
        _blocks = RegisterModule("h", new ModuleList());
        for (int i = 0; i < config.NLayer; i++) _blocks.Add(new GptBlock(config, generator));
        _lnF = RegisterModule("ln_f", new LayerNorm(config.NEmbd, bias: config.Bias));
        double residualStd = 0.02 / Math.Sqrt(2 * config.NLayer);
        foreach (var (name, p) in NamedParameters())
        {
            if (name.EndsWith("bias") && !name.Contains("ln")) Init.Zeros(p);
            else if (p.Dim == 2) Init.Normal(p, 0, name.EndsWith("c_proj.weight") || name.EndsWith("mlp.2.weight") ? residualStd : 0.02, generator);
        }
    }

    /// <summary>In training, run each block as a checkpointed segment (<see cref="Autograd.Checkpoint"/>): only the
    /// blocks' inputs are kept for backward, each block's forward runs again during backward (dropout replayed), and
    /// the gradients equal those of the plain run.</summary>
    public bool GradientCheckpointing { get; set; }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Forward(input, null);

    /// <summary>Logits for <paramref name="idx"/> (B, T). With a cache, <paramref name="idx"/> holds only the tokens
    /// after the cached ones, and the cache is extended by them.</summary>
    public Tensor Forward(Tensor idx, KvCache? cache)
    {
        if (idx.Dim != 2 || idx.DType != DType.Int64)
            throw new ArgumentException($"Gpt: expected int64 token ids (B, T), got {idx.DType.Name()} {ShapeUtil.Str(idx._shape)}.");
        int t = idx.Size(1), past = cache?.Length ?? 0;
        if (past + t > Config.ContextLength)
            throw new ArgumentException($"Gpt: {past + t} positions exceed the context length {Config.ContextLength}.");
        var pos = Tensor.Arange(past, past + t, 1, DType.Int64);
        var tok = _wte.Call(idx);
        var x = _drop.Call(tok.Add(_wpe.Call(pos)));
        for (int i = 0; i < _blocks.Count; i++)
        {
            var block = (GptBlock)_blocks[i];
            x = GradientCheckpointing && Training && cache is null
                ? Autograd.Checkpoint.Run(block, x)
                : block.Forward(x, cache, i);
        }
        if (cache is not null) cache.Length = past + t;
        return Functional.Linear(_lnF.Call(x), _wte.Weight);   // output projection tied to the token embedding
    }

    /// <summary>The attention weights of every layer for <paramref name="idx"/> (B, T): a list of (B, H, T, T), one per
    /// layer (eval mode, no gradient).</summary>
    public IReadOnlyList<Tensor> AttentionMaps(Tensor idx)
    {
        var maps = new List<Tensor>();
        bool wasTraining = Training;
        Eval();
        try
        {
            for (int i = 0; i < _blocks.Count; i++) ((GptBlock)_blocks[i]).Attention.Capture = maps;
            using (Tensor.NoGrad()) Forward(idx, null);
        }
        finally
        {
            for (int i = 0; i < _blocks.Count; i++) ((GptBlock)_blocks[i]).Attention.Capture = null;
            Train(wasTraining);
        }
        return maps;
    }

    /// <summary>Appends <paramref name="maxNewTokens"/> sampled tokens to each row of <paramref name="idx"/> (B, T).
    /// With <paramref name="useCache"/>, each step feeds only the newest token (keys and values of the others are
    /// cached); once the context is full the window slides and each step recomputes it, as the uncached path does.
    /// <paramref name="onStep"/>, when given, receives each step's new token of every row as it is drawn (streaming) and
    /// stops the generation by returning false.</summary>
    public Tensor Generate(Tensor idx, int maxNewTokens, SamplingOptions? sampling = null, bool useCache = true, Generator? generator = null,
        Func<long[], bool>? onStep = null)
    {
        sampling ??= new SamplingOptions();
        var g = generator ?? Generator.Default;
        bool wasTraining = Training;
        Eval();
        try
        {
            using var _ = Tensor.NoGrad();
            var seq = idx;
            var cache = useCache ? new KvCache(Config.NLayer) : null;
            Tensor? feed = null;
            for (int step = 0; step < maxNewTokens; step++)
            {
                Tensor logits;
                if (cache is null)
                {
                    var ctx = seq.Size(1) > Config.ContextLength ? seq.Narrow(1, seq.Size(1) - Config.ContextLength, Config.ContextLength) : seq;
                    logits = Forward(ctx, null);
                }
                else
                {
                    if (feed is null || cache.Length + 1 > Config.ContextLength)
                    {
                        // Positions are absolute: once the window slides, cached keys no longer fit. Restart from
                        // the last ContextLength tokens, exactly the context the uncached path sees.
                        cache.Clear();
                        int keep = Math.Min(seq.Size(1), Config.ContextLength);
                        feed = seq.Narrow(1, seq.Size(1) - keep, keep);
                    }
                    logits = Forward(feed, cache);
                }
                var last = logits.Select(1, logits.Size(1) - 1);   // (B, V)
                var next = Sampling.Sample(last, sampling, g);        // (B, 1)
                seq = Tensor.Cat([seq, next], 1);
                feed = next;
                if (onStep is not null && !onStep(next.Reshape(-1).ToArray<long>())) break;
            }
            return seq;
        }
        finally { Train(wasTraining); }
    }
}

/// <summary>How the next token is drawn: temperature scaling, then top-k and nucleus (top-p) filtering; temperature 0
/// is greedy (argmax).</summary>
public sealed record SamplingOptions(double Temperature = 1.0, int? TopK = null, double? TopP = null);

/// <summary>Token sampling from logits.</summary>
public static class Sampling
{
    /// <summary>One token per row of <paramref name="logits"/> (B, V) → int64 (B, 1).</summary>
    public static Tensor Sample(Tensor logits, SamplingOptions options, Generator g)
    {
        if (options.Temperature < 0) throw new ArgumentException($"Sampling: temperature must be >= 0, got {options.Temperature}.");
        if (options.TopK is < 1) throw new ArgumentException($"Sampling: top_k must be at least 1, got {options.TopK}.");
        if (options.TopP is <= 0 or > 1) throw new ArgumentException($"Sampling: top_p must be in (0, 1], got {options.TopP}.");
        int b = logits.Size(0), v = logits.Size(1);
        var all = logits.Contiguous().ToArrayDouble();
        var result = new long[b];
        for (int r = 0; r < b; r++)
        {
            var row = all.AsSpan(r * v, v);
            if (options.Temperature == 0)
            {
                int best = 0;
                for (int i = 1; i < v; i++) if (row[i] > row[best]) best = i;
                result[r] = best;
                continue;
            }
            var order = Enumerable.Range(0, v).OrderByDescending(i => all[r * v + i]).ToArray();
            int keep = Math.Min(v, options.TopK ?? v);
            double max = row[order[0]];
            var p = new double[keep];
            double sum = 0;
            for (int i = 0; i < keep; i++) { p[i] = Math.Exp((row[order[i]] - max) / options.Temperature); sum += p[i]; }
            for (int i = 0; i < keep; i++) p[i] /= sum;
            sum = 1;
            if (options.TopP is double topP)
            {
                // Smallest prefix of the sorted distribution whose mass reaches top_p (always at least one token).
                double cum = 0;
                int n = 0;
                while (n < keep && (n == 0 || cum < topP)) cum += p[n++];
                keep = n;
                sum = cum;
            }
            double u = g.NextDouble() * sum, acc = 0;
            int pick = keep - 1;
            for (int i = 0; i < keep; i++)
            {
                acc += p[i];
                if (u < acc) { pick = i; break; }
            }
            result[r] = order[pick];
        }
        return Tensor.FromArray(result, b, 1);
    }
}
