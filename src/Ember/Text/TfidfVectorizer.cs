using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Ember.Text;

/// <summary>TF-IDF features as scikit-learn's <c>TfidfVectorizer(ngram_range=(1, n), min_df, sublinear_tf=True)</c>
/// computes them, and equal to it (tested against its output): lower-cased text split into tokens of two or more
/// word characters (its <c>(?u)\b\w\w+\b</c>: letters, digits and the underscore, read by code point), n-grams of
/// consecutive tokens joined by a space, a vocabulary of the terms in at least <c>minDf</c> fitting documents (the
/// <c>maxFeatures</c> most frequent by corpus count when capped) in code-point order, idf = ln((1 + n) / (1 + df)) + 1,
/// tf = 1 + ln(count), rows L2-normalized. Rows come out sparse (<see cref="CsrMatrix"/>).</summary>
public sealed partial class TfidfVectorizer
{
    /// <summary>The terms (words and word n-grams), in column order.</summary>
    public string[] Vocabulary { get; }
    /// <summary>Inverse document frequency per term (scikit-learn's smoothed idf).</summary>
    public double[] Idf { get; }
    /// <summary>Longest n-gram.</summary>
    public int NGrams { get; }
    /// <summary>False only for checkpoints written before the scikit-learn tokenization (words were runs of letters,
    /// digits and apostrophes, "&lt;br /&gt;" removed): they are read back with the tokenization they were fitted with.</summary>
    public bool SklearnTokens { get; }
    private readonly Dictionary<string, int> _index;

    private TfidfVectorizer(string[] vocabulary, double[] idf, int ngrams, bool sklearnTokens)
    {
        (Vocabulary, Idf, NGrams, SklearnTokens) = (vocabulary, idf, ngrams, sklearnTokens);
        _index = new Dictionary<string, int>(vocabulary.Length, StringComparer.Ordinal);
        for (int i = 0; i < vocabulary.Length; i++) _index[vocabulary[i]] = i;
    }

    [GeneratedRegex(@"[\p{L}\p{N}']+")]
    private static partial Regex LegacyWord();

    /// <summary>The tokens of <paramref name="text"/>: maximal runs of two or more word characters of the lower-cased text.</summary>
    public static List<string> Tokens(string text)
    {
        var lower = text.ToLowerInvariant();
        var tokens = new List<string>();
        int i = 0;
        while (i < lower.Length)
        {
            int start = i, runes = 0;
            while (i < lower.Length && IsWord(lower, i, out int width)) { i += width; runes++; }
            if (runes >= 2) tokens.Add(lower[start..i]);
            if (runes == 0) i += char.IsSurrogatePair(lower, i) ? 2 : 1;
        }
        return tokens;
    }

    // Python's \w on str: alphanumeric (letters of any case class, and characters with a numeric value) or '_'.
    private static bool IsWord(string s, int i, out int width)
    {
        char c = s[i];
        if (c < 0x80)
        {
            width = 1;
            return char.IsAsciiLetterOrDigit(c) || c == '_';
        }
        Rune.DecodeFromUtf16(s.AsSpan(i), out var r, out width);
        return Rune.IsLetter(r) || Rune.IsNumber(r);
    }

    private List<string> Terms(string text) => TermsOf(text, NGrams, SklearnTokens);

    private static List<string> TermsOf(string text, int ngrams, bool sklearnTokens)
    {
        var words = sklearnTokens ? Tokens(text)
            : LegacyWord().Matches(text.Replace("<br />", " ").ToLowerInvariant()).Select(m => m.Value).ToList();
        var terms = new List<string>(words.Count * ngrams);
        terms.AddRange(words);
        for (int n = 2; n <= ngrams; n++)
            for (int i = 0; i + n <= words.Count; i++) terms.Add(string.Join(' ', words.GetRange(i, n)));
        return terms;
    }

    /// <summary>Python's string order: by code point (UTF-16 order differs for characters beyond the BMP).</summary>
    private sealed class CodePointComparer : IComparer<string>
    {
        public static readonly CodePointComparer Instance = new();
        public int Compare(string? a, string? b)
        {
            var ea = a!.EnumerateRunes();
            var eb = b!.EnumerateRunes();
            while (true)
            {
                bool ha = ea.MoveNext(), hb = eb.MoveNext();
                if (!ha || !hb) return ha.CompareTo(hb);
                int c = ea.Current.Value.CompareTo(eb.Current.Value);
                if (c != 0) return c;
            }
        }
    }

    /// <summary>Fits the vocabulary and idf on <paramref name="texts"/>: terms in at least <paramref name="minDf"/> texts, up to <paramref name="ngrams"/> words, the <paramref name="maxFeatures"/> most frequent.</summary>
    public static TfidfVectorizer Fit(IReadOnlyList<string> texts, int? maxFeatures = null, int minDf = 2, int ngrams = 2)
    {
        if (ngrams is < 1 or > 3) throw new ArgumentException($"TfidfVectorizer: n-grams must be 1 to 3, got {ngrams}.");
        if (minDf < 1) throw new ArgumentException($"TfidfVectorizer: min_df must be at least 1, got {minDf}.");
        var df = new Dictionary<string, int>(StringComparer.Ordinal);
        var total = maxFeatures is null ? null : new Dictionary<string, long>(StringComparer.Ordinal);   // corpus counts, for the cap
        foreach (var t in texts)
        {
            var terms = TermsOf(t, ngrams, sklearnTokens: true);
            if (total is not null) foreach (var term in terms) total[term] = total.GetValueOrDefault(term) + 1;
            foreach (var term in new HashSet<string>(terms, StringComparer.Ordinal)) df[term] = df.GetValueOrDefault(term) + 1;
        }
        IEnumerable<string> kept = df.Where(p => p.Value >= minDf).Select(p => p.Key);
        if (maxFeatures is int cap)
            kept = kept.OrderByDescending(k => total![k]).ThenBy(k => k, CodePointComparer.Instance).Take(cap);
        var vocab = kept.OrderBy(k => k, CodePointComparer.Instance).ToArray();
        var idf = vocab.Select(t => Math.Log((1.0 + texts.Count) / (1.0 + df[t])) + 1).ToArray();
        return new TfidfVectorizer(vocab, idf, ngrams, sklearnTokens: true);
    }

    /// <summary>Stores the vocabulary and idf in checkpoint metadata under <paramref name="prefix"/>.</summary>
    public void WriteMetadata(IDictionary<string, string> meta, string prefix)
    {
        meta[prefix + "terms"] = string.Join("\n", Vocabulary);
        meta[prefix + "idf"] = string.Join(",", Idf.Select(v => v.ToString("R", CultureInfo.InvariantCulture)));
        meta[prefix + "ngrams"] = NGrams.ToString(CultureInfo.InvariantCulture);
        meta[prefix + "tokens"] = "sklearn";
    }

    /// <summary>A vectorizer stored by <see cref="WriteMetadata"/>.</summary>
    public static TfidfVectorizer FromMetadata(IReadOnlyDictionary<string, string> meta, string prefix, string source)
    {
        string Get(string k) => meta.TryGetValue(prefix + k, out var v) ? v : throw new InvalidDataException($"{source}: checkpoint metadata lacks '{prefix + k}'.");
        var terms = Get("terms").Length == 0 ? [] : Get("terms").Split('\n');
        var idf = Get("idf").Length == 0 ? [] : Get("idf").Split(',').Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        if (terms.Length != idf.Length) throw new InvalidDataException($"{source}: {terms.Length} TF-IDF terms but {idf.Length} idf values.");
        bool sklearn = meta.TryGetValue(prefix + "tokens", out var tokens) && tokens == "sklearn";
        return new TfidfVectorizer(terms, idf, int.Parse(Get("ngrams"), CultureInfo.InvariantCulture), sklearn);
    }

    /// <summary>The TF-IDF rows of <paramref name="texts"/>, (N, vocabulary), sparse.</summary>
    public CsrMatrix Transform(IReadOnlyList<string> texts)
    {
        var ptr = new int[texts.Count + 1];
        var idx = new List<int>();
        var val = new List<float>();
        var counts = new Dictionary<int, int>();
        for (int i = 0; i < texts.Count; i++)
        {
            counts.Clear();
            foreach (var term in Terms(texts[i]))
                if (_index.TryGetValue(term, out int k)) counts[k] = counts.GetValueOrDefault(k) + 1;
            var row = counts.Keys.Order().ToArray();
            var w = new double[row.Length];
            double norm = 0;
            for (int j = 0; j < row.Length; j++)
            {
                w[j] = (1 + Math.Log(counts[row[j]])) * Idf[row[j]];
                norm += w[j] * w[j];
            }
            double inv = norm > 0 ? 1 / Math.Sqrt(norm) : 0;
            for (int j = 0; j < row.Length; j++) { idx.Add(row[j]); val.Add((float)(w[j] * inv)); }
            ptr[i + 1] = idx.Count;
        }
        return new CsrMatrix(texts.Count, Vocabulary.Length, ptr, idx.ToArray(), val.ToArray());
    }
}
