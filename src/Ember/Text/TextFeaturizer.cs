using System.Globalization;
using System.Text.RegularExpressions;

namespace Ember.Text;

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

/// <summary>TF-IDF features (scikit-learn's TfidfVectorizer defaults, with sublinear tf): lower-cased word unigrams
/// (and bigrams), vocabulary from the fitting texts (terms in at least <c>minDf</c> documents, the
/// <c>maxFeatures</c> most frequent), idf = ln((1 + n) / (1 + df)) + 1, tf = 1 + ln(count), rows L2-normalized.</summary>
public sealed partial class TfidfVectorizer
{
    public string[] Vocabulary { get; }
    public double[] Idf { get; }
    public int NGrams { get; }
    private readonly Dictionary<string, int> _index;

    private TfidfVectorizer(string[] vocabulary, double[] idf, int ngrams)
    {
        (Vocabulary, Idf, NGrams) = (vocabulary, idf, ngrams);
        _index = vocabulary.Select((t, i) => (t, i)).ToDictionary(p => p.t, p => p.i);
    }

    [GeneratedRegex(@"[\p{L}\p{N}']+")]
    private static partial Regex Word();

    private IEnumerable<string> Terms(string text) => TermsOf(text, NGrams);

    private static IEnumerable<string> TermsOf(string text, int ngrams)
    {
        var words = Word().Matches(text.Replace("<br />", " ").ToLowerInvariant()).Select(m => m.Value).ToArray();
        foreach (var w in words) yield return w;
        if (ngrams >= 2)
            for (int i = 0; i + 1 < words.Length; i++) yield return words[i] + " " + words[i + 1];
    }

    public static TfidfVectorizer Fit(IReadOnlyList<string> texts, int maxFeatures = 8192, int minDf = 2, int ngrams = 2)
    {
        if (ngrams is < 1 or > 2) throw new ArgumentException($"TfidfVectorizer: n-grams must be 1 or 2, got {ngrams}.");
        var df = new Dictionary<string, int>();
        foreach (var t in texts)
            foreach (var term in TermsOf(t, ngrams).Distinct())
                df[term] = df.GetValueOrDefault(term) + 1;
        var vocab = df.Where(p => p.Value >= minDf).OrderByDescending(p => p.Value).ThenBy(p => p.Key, StringComparer.Ordinal)
            .Take(maxFeatures).Select(p => p.Key).OrderBy(k => k, StringComparer.Ordinal).ToArray();
        var idf = vocab.Select(t => Math.Log((1.0 + texts.Count) / (1.0 + df[t])) + 1).ToArray();
        return new TfidfVectorizer(vocab, idf, ngrams);
    }

    public void WriteMetadata(IDictionary<string, string> meta, string prefix)
    {
        meta[prefix + "terms"] = string.Join("\n", Vocabulary);
        meta[prefix + "idf"] = string.Join(",", Idf.Select(v => v.ToString("R", CultureInfo.InvariantCulture)));
        meta[prefix + "ngrams"] = NGrams.ToString(CultureInfo.InvariantCulture);
    }

    public static TfidfVectorizer FromMetadata(IReadOnlyDictionary<string, string> meta, string prefix, string source)
    {
        string Get(string k) => meta.TryGetValue(prefix + k, out var v) ? v : throw new InvalidDataException($"{source}: checkpoint metadata lacks '{prefix + k}'.");
        var terms = Get("terms").Length == 0 ? [] : Get("terms").Split('\n');
        var idf = Get("idf").Length == 0 ? [] : Get("idf").Split(',').Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        if (terms.Length != idf.Length) throw new InvalidDataException($"{source}: {terms.Length} TF-IDF terms but {idf.Length} idf values.");
        return new TfidfVectorizer(terms, idf, int.Parse(Get("ngrams"), CultureInfo.InvariantCulture));
    }

    /// <summary>(N, vocabulary) float32 rows.</summary>
    public Tensor Transform(IReadOnlyList<string> texts)
    {
        int v = Vocabulary.Length;
        var x = new float[texts.Count * v];
        for (int i = 0; i < texts.Count; i++)
        {
            var counts = new Dictionary<int, int>();
            foreach (var term in Terms(texts[i]))
                if (_index.TryGetValue(term, out int k)) counts[k] = counts.GetValueOrDefault(k) + 1;
            double norm = 0;
            foreach (var (k, c) in counts)
            {
                double w = (1 + Math.Log(c)) * Idf[k];
                x[i * v + k] = (float)w;
                norm += w * w;
            }
            if (norm > 0)
            {
                float inv = (float)(1 / Math.Sqrt(norm));
                foreach (var k in counts.Keys) x[i * v + k] *= inv;
            }
        }
        return Tensor.FromArray(x, texts.Count, v);
    }
}
