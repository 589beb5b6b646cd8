using System.Globalization;
using System.Text.RegularExpressions;

namespace Ember.Recipes.Tabular;

/// <summary>Turns a text column into fixed-length token-id rows for a Transformer: light normalization (HTML line
/// breaks to spaces, optional lower-casing), a byte-level BPE tokenizer trained on the training texts only, a leading
/// [CLS] token, truncation to <see cref="MaxTokens"/> and right padding with [PAD]. Serializes into checkpoint metadata.</summary>
public sealed partial class TextFeaturizer
{
    public const string Pad = "<pad>", Cls = "<cls>";
    public BpeTokenizer Tokenizer { get; }
    public int MaxTokens { get; }
    public bool Lowercase { get; }
    public int PadId { get; }
    public int ClsId { get; }
    public int VocabSize => Tokenizer.VocabSize;

    private TextFeaturizer(BpeTokenizer tokenizer, int maxTokens, bool lowercase)
    {
        if (maxTokens < 2) throw new ArgumentException($"TextFeaturizer: max tokens must be at least 2 ([CLS] and one token), got {maxTokens}.");
        (Tokenizer, MaxTokens, Lowercase) = (tokenizer, maxTokens, lowercase);
        PadId = tokenizer.SpecialTokens.TryGetValue(Pad, out int p) ? p : throw new InvalidDataException($"TextFeaturizer: the tokenizer has no {Pad} token.");
        ClsId = tokenizer.SpecialTokens.TryGetValue(Cls, out int c) ? c : throw new InvalidDataException($"TextFeaturizer: the tokenizer has no {Cls} token.");
    }

    [GeneratedRegex(@"<br\s*/?>", RegexOptions.IgnoreCase)]
    private static partial Regex LineBreak();

    private string Normalize(string text) => Normalize(text, Lowercase);

    private static string Normalize(string text, bool lowercase)
    {
        var t = LineBreak().Replace(text, " ");
        return lowercase ? t.ToLowerInvariant() : t;
    }

    /// <summary>Trains the tokenizer on <paramref name="texts"/> (the training rows) to <paramref name="vocabSize"/> tokens.</summary>
    public static TextFeaturizer Fit(IEnumerable<string> texts, int vocabSize = 2000, int maxTokens = 128, bool lowercase = true)
    {
        if (vocabSize < 258) throw new ArgumentException($"TextFeaturizer: a byte-level vocabulary needs at least 258 tokens (256 bytes and 2 specials), got {vocabSize}.");
        var corpus = string.Join("\n", texts.Select(t => Normalize(t, lowercase)));
        return new TextFeaturizer(BpeTokenizer.Train(corpus, vocabSize, [Pad, Cls]), maxTokens, lowercase);
    }

    /// <summary>Token ids (N, MaxTokens), int64: [CLS], the first MaxTokens − 1 tokens, then [PAD].</summary>
    public Tensor Transform(IReadOnlyList<string> texts)
    {
        var ids = new long[texts.Count * MaxTokens];
        Array.Fill(ids, PadId);
        for (int i = 0; i < texts.Count; i++)
        {
            ids[i * MaxTokens] = ClsId;
            var tokens = Tokenizer.Encode(Normalize(texts[i]), allowSpecial: false);
            int n = Math.Min(tokens.Length, MaxTokens - 1);
            for (int j = 0; j < n; j++) ids[i * MaxTokens + 1 + j] = tokens[j];
        }
        return Tensor.FromArray(ids, texts.Count, MaxTokens);
    }

    /// <summary>The tokens of one text as strings (for explanations and plots), [CLS] first, without padding.</summary>
    public string[] TokenStrings(string text)
    {
        var tokens = Tokenizer.Encode(Normalize(text), allowSpecial: false).Take(MaxTokens - 1);
        return new[] { Cls }.Concat(tokens.Select(t => Tokenizer.Decode([t]))).ToArray();
    }

    public void WriteMetadata(IDictionary<string, string> meta, string prefix)
    {
        var (vocab, merges) = Tokenizer.ToStrings();
        meta[prefix + "vocab"] = vocab;
        meta[prefix + "merges"] = merges;
        meta[prefix + "max_tokens"] = MaxTokens.ToString(CultureInfo.InvariantCulture);
        meta[prefix + "lowercase"] = Lowercase ? "true" : "false";
    }

    public static TextFeaturizer FromMetadata(IReadOnlyDictionary<string, string> meta, string prefix, string source)
    {
        string Get(string k) => meta.TryGetValue(prefix + k, out var v) ? v : throw new InvalidDataException($"{source}: checkpoint metadata lacks '{prefix + k}'.");
        var tok = BpeTokenizer.FromStrings(Get("vocab"), Get("merges"), [Pad, Cls], source + ":" + prefix + "vocab", source + ":" + prefix + "merges");
        int max = int.TryParse(Get("max_tokens"), NumberStyles.Integer, CultureInfo.InvariantCulture, out int m) ? m
            : throw new InvalidDataException($"{source}: metadata '{prefix}max_tokens' is not an integer.");
        return new TextFeaturizer(tok, max, Get("lowercase") == "true");
    }
}
