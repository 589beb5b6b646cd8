using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Ember.Text;

/// <summary>A byte-level byte-pair-encoding tokenizer, as GPT-2's (Radford et al., 2019; Sennrich et al., 2016 for
/// BPE): text is split into words by GPT-2's pattern (<see cref="Gpt2PreTokenizer"/>), each word's UTF-8 bytes start
/// as the 256 byte tokens, and learned merges join adjacent pairs in the order they were learned. Every byte is a
/// token, so any text round-trips exactly. Special tokens (e.g. "&lt;|endoftext|&gt;") are matched before the split
/// and never merged. Files use GPT-2's format: vocab.json (token string → id, bytes shown through GPT-2's printable
/// byte alphabet; OpenAI's name for it is encoder.json) and merges.txt (one "left right" pair per line, in merge
/// order; OpenAI's vocab.bpe). With GPT-2's own files, <see cref="Encode"/> gives GPT-2's ids (tested against the
/// gpt-3-encoder reference and Microsoft.ML.Tokenizers).</summary>
public sealed class BpeTokenizer
{
    private const int MaxCachedWord = 64;      // longer words (rare: long digit or symbol runs) are not cached

    private readonly byte[][] _tokens;                         // id → bytes (special tokens: their UTF-8)
    private readonly int[] _byteIds;                           // byte value → id of its one-byte token
    private readonly Dictionary<long, (int Rank, int Id)> _merges;  // (left, right) → (rank, merged id)
    private readonly List<(int Left, int Right)> _mergeList;
    private readonly Dictionary<string, int> _special;
    private readonly Regex? _specialPattern;
    // Word → ids, read without locks (Encode is thread-safe); capped at MaxCacheEntries words.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int[]> _cache = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int[]>.AlternateLookup<ReadOnlySpan<char>> _cacheBySpan;
    private int _cacheCount;
    private const int MaxCacheEntries = 200_000;

    /// <summary>Number of tokens (bytes, merges and special tokens).</summary>
    public int VocabSize => _tokens.Length;
    /// <summary>Special tokens and their ids.</summary>
    public IReadOnlyDictionary<string, int> SpecialTokens => _special;
    /// <summary>Number of learned merges.</summary>
    public int MergeCount => _mergeList.Count;

    private BpeTokenizer(byte[][] tokens, int[] byteIds, List<(int, int)> merges, Dictionary<string, int> special)
    {
        _tokens = tokens;
        _byteIds = byteIds;
        _cacheBySpan = _cache.GetAlternateLookup<ReadOnlySpan<char>>();
        _mergeList = merges;
        _merges = new Dictionary<long, (int, int)>(merges.Count, PairComparer.Instance);
        var byBytes = new Dictionary<string, int>();
        for (int i = 0; i < tokens.Length; i++)
            if (!special.ContainsValue(i)) byBytes.TryAdd(Convert.ToHexString(tokens[i]), i);
        for (int r = 0; r < merges.Count; r++)
        {
            var (a, b) = merges[r];
            var merged = Convert.ToHexString([.. tokens[a], .. tokens[b]]);
            if (!byBytes.TryGetValue(merged, out int id))
                throw new InvalidDataException($"BpeTokenizer: merge {r} ({Show(tokens[a])} + {Show(tokens[b])}) produces a token missing from the vocabulary.");
            _merges.TryAdd(Key(a, b), (r, id));
        }
        _special = special;
        if (special.Count > 0)
            _specialPattern = new Regex(string.Join("|", special.Keys.OrderByDescending(k => k.Length).Select(Regex.Escape)), RegexOptions.CultureInvariant);
    }

    private static long Key(int a, int b) => ((long)a << 32) | (uint)b;

    // long's own hash is its halves XORed: for token pairs that is a ^ b, which sends every pair of byte tokens into
    // 256 buckets (and (a, b) with (b, a)); lookups of byte pairs then walked chains of dozens. Fibonacci hashing
    // spreads them (the cold encode of GPT-2's vocabulary measured 9-16 µs per distinct word with XOR).
    private sealed class PairComparer : IEqualityComparer<long>
    {
        public static readonly PairComparer Instance = new();
        public bool Equals(long x, long y) => x == y;
        public int GetHashCode(long key) => (int)(((ulong)key * 0x9E3779B97F4A7C15UL) >> 32);
    }

    /// <summary>The bytes of token <paramref name="id"/>.</summary>
    public ReadOnlySpan<byte> TokenBytes(int id) => _tokens[CheckId(id, nameof(TokenBytes))];

    private int CheckId(int id, string op) => (uint)id < (uint)_tokens.Length ? id
        : throw new ArgumentOutOfRangeException(nameof(id), $"BpeTokenizer.{op}: id {id} is outside the vocabulary [0, {_tokens.Length}).");

    /// <summary>Learns merges on <paramref name="corpus"/> until the vocabulary (256 bytes + merges + special tokens)
    /// reaches <paramref name="vocabSize"/> or no pair occurs twice. Ties between equally frequent pairs go to the
    /// pair of smaller ids, so training is deterministic. Pair counts are updated only for the words a merge
    /// touches, so each merge costs time proportional to those words, not to the corpus.</summary>
    public static BpeTokenizer Train(string corpus, int vocabSize, IEnumerable<string>? specialTokens = null, TextWriter? log = null)
    {
        var special = (specialTokens ?? []).Distinct().ToList();
        if (vocabSize < 256 + special.Count)
            throw new ArgumentException($"BpeTokenizer.Train: vocab size {vocabSize} is below the 256 byte tokens plus {special.Count} special tokens.");
        var sw = Stopwatch.StartNew();
        // Word frequencies (special tokens are cut out of the corpus first: they never take part in merges).
        var counts = new Dictionary<string, int>();
        foreach (var piece in SplitSpecial(corpus, special))
            foreach (var word in Gpt2PreTokenizer.Split(piece))
            {
                string w = piece[word];
                counts[w] = counts.GetValueOrDefault(w) + 1;
            }
        var words = counts.Select(kv => (Symbols: Encoding.UTF8.GetBytes(kv.Key).Select(b => (int)b).ToList(), Count: kv.Value)).ToList();

        var pairCounts = new Dictionary<long, long>();
        var where = new Dictionary<long, HashSet<int>>();
        void AddWord(int w, int sign)
        {
            var s = words[w].Symbols;
            for (int i = 0; i + 1 < s.Count; i++)
            {
                long k = Key(s[i], s[i + 1]);
                long c = pairCounts.GetValueOrDefault(k) + sign * (long)words[w].Count;
                if (c == 0) pairCounts.Remove(k);   // keep the scan for the best pair over live pairs only
                else pairCounts[k] = c;
                if (sign > 0)
                {
                    if (!where.TryGetValue(k, out var set)) where[k] = set = new HashSet<int>();
                    set.Add(w);
                }
            }
        }
        for (int w = 0; w < words.Count; w++) AddWord(w, +1);

        var tokens = Enumerable.Range(0, 256).Select(b => new[] { (byte)b }).ToList();
        var merges = new List<(int, int)>();
        int targetMerges = vocabSize - 256 - special.Count;
        while (merges.Count < targetMerges)
        {
            long best = -1, bestCount = 1;
            foreach (var (k, c) in pairCounts)
                if (c > bestCount || (c == bestCount && best >= 0 && c > 1 && k < best)) { best = k; bestCount = c; }
            if (best < 0) break;   // no pair occurs twice: nothing left worth merging
            int a = (int)(best >> 32), b = (int)(best & 0xFFFFFFFF), id = tokens.Count;
            tokens.Add([.. tokens[a], .. tokens[b]]);
            merges.Add((a, b));
            foreach (int w in where[best].ToList())
            {
                var s = words[w].Symbols;
                bool has = false;
                for (int i = 0; i + 1 < s.Count && !has; i++) has = s[i] == a && s[i + 1] == b;
                if (!has) continue;
                AddWord(w, -1);
                for (int i = 0; i + 1 < s.Count; i++)
                    if (s[i] == a && s[i + 1] == b) { s[i] = id; s.RemoveAt(i + 1); }
                AddWord(w, +1);
            }
            pairCounts.Remove(best);
            where.Remove(best);
            if (log is not null && merges.Count % 500 == 0)
                log.WriteLine($"bpe: {merges.Count}/{targetMerges} merges, {sw.Elapsed.TotalSeconds:F1}s");
        }
        var specialIds = new Dictionary<string, int>();
        foreach (var t in special)
        {
            specialIds[t] = tokens.Count;
            tokens.Add(Encoding.UTF8.GetBytes(t));
        }
        return new BpeTokenizer(tokens.ToArray(), Enumerable.Range(0, 256).ToArray(), merges, specialIds);
    }

    private static IEnumerable<string> SplitSpecial(string text, List<string> special)
    {
        if (special.Count == 0) { yield return text; yield break; }
        var pattern = new Regex(string.Join("|", special.OrderByDescending(k => k.Length).Select(Regex.Escape)));
        int pos = 0;
        foreach (Match m in pattern.Matches(text))
        {
            if (m.Index > pos) yield return text[pos..m.Index];
            pos = m.Index + m.Length;
        }
        if (pos < text.Length) yield return text[pos..];
    }

    /// <summary>Token ids of <paramref name="text"/>. Special tokens in the text map to their ids when
    /// <paramref name="allowSpecial"/> (else they are encoded as ordinary text). Thread-safe.</summary>
    public int[] Encode(string text, bool allowSpecial = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(text.Length / 4 + 4);
        int pos = 0;
        if (allowSpecial && _specialPattern is not null)
            foreach (Match m in _specialPattern.Matches(text))
            {
                EncodeOrdinary(text.AsSpan(pos, m.Index - pos), ids);
                ids.Add(_special[m.Value]);
                pos = m.Index + m.Length;
            }
        EncodeOrdinary(text.AsSpan(pos), ids);
        return ids.ToArray();
    }

    private void EncodeOrdinary(ReadOnlySpan<char> text, List<int> ids)
    {
        int pos = 0;
        while (pos < text.Length)
        {
            int end = Gpt2PreTokenizer.WordEnd(text, pos);
            var word = text[pos..end];
            pos = end;
            bool cacheable = word.Length <= MaxCachedWord;
            if (!cacheable || !_cacheBySpan.TryGetValue(word, out var cached))
            {
                cached = EncodeWord(word);
                if (cacheable && Volatile.Read(ref _cacheCount) < MaxCacheEntries && _cacheBySpan.TryAdd(word, cached))
                    Interlocked.Increment(ref _cacheCount);
            }
            ids.AddRange(cached);
        }
    }

    private int[] EncodeWord(ReadOnlySpan<char> word)
    {
        int max = Encoding.UTF8.GetMaxByteCount(word.Length);
        Span<byte> bytes = max <= 1024 ? stackalloc byte[max] : new byte[max];
        int n = Encoding.UTF8.GetBytes(word, bytes);   // an unpaired surrogate becomes U+FFFD's bytes, as in GPT-2
        var symbols = new int[n];
        for (int i = 0; i < n; i++) symbols[i] = _byteIds[bytes[i]];
        return n <= 32 ? MergeByScan(symbols) : MergeByRounds(symbols);
    }

    // GPT-2's rule (encoder.py, bpe()): find the adjacent pair of lowest merge rank, merge all its occurrences left to
    // right (non-overlapping), repeat until no adjacent pair has a rank. O(n) per round: for short words.
    private int[] MergeByScan(int[] s)
    {
        int len = s.Length;
        while (len > 1)
        {
            int bestRank = int.MaxValue, bestId = -1, a = 0, b = 0;
            for (int i = 0; i + 1 < len; i++)
                if (_merges.TryGetValue(Key(s[i], s[i + 1]), out var m) && m.Rank < bestRank)
                    (bestRank, bestId, a, b) = (m.Rank, m.Id, s[i], s[i + 1]);
            if (bestId < 0) break;
            int w = 0;
            for (int i = 0; i < len;)
                if (i + 1 < len && s[i] == a && s[i + 1] == b) { s[w++] = bestId; i += 2; }
                else s[w++] = s[i++];
            len = w;
        }
        return len == s.Length ? s : s[..len];
    }

    // The same rule for long words in O(n log n): pairs sit in a heap ordered by (rank, position), symbols in a linked
    // list. Popping one rank's entries in position order merges that pair's occurrences left to right, skipping
    // entries a merge made stale (the left symbol or its right neighbour changed). The pairs a merge creates wait in
    // `pending` until the round of the current rank is over, exactly as GPT-2 only looks for a new best pair after
    // merging every occurrence of the current one (a created pair can have a lower rank than the current one when a
    // vocabulary builds a token by two merges).
    private int[] MergeByRounds(int[] sym)
    {
        int n = sym.Length;
        var next = new int[n];
        var prev = new int[n];
        for (int i = 0; i < n; i++) { next[i] = i + 1; prev[i] = i - 1; }
        var heap = new PriorityQueue<(int Left, int A, int B, int Merged), (int Rank, int Pos)>();
        void Push(int l)
        {
            int r = next[l];
            if (r < n && _merges.TryGetValue(Key(sym[l], sym[r]), out var m)) heap.Enqueue((l, sym[l], sym[r], m.Id), (m.Rank, l));
        }
        for (int i = 0; i + 1 < n; i++) Push(i);
        var pending = new List<int>();
        int round = -1;
        while (true)
        {
            bool any = heap.TryPeek(out var e, out var p);
            if (pending.Count > 0 && (!any || p.Rank != round))
            {
                foreach (int l in pending) if (sym[l] >= 0) Push(l);
                pending.Clear();
                continue;
            }
            if (!any) break;
            heap.Dequeue();
            round = p.Rank;
            int left = e.Left, right = next[left];
            if (sym[left] != e.A || right >= n || sym[right] != e.B) continue;   // stale
            sym[left] = e.Merged;
            sym[right] = -1;
            next[left] = next[right];
            if (next[right] < n) prev[next[right]] = left;
            pending.Add(left);
            if (prev[left] >= 0) pending.Add(prev[left]);
        }
        var result = new List<int>(n);
        for (int i = 0; i < n; i = next[i]) result.Add(sym[i]);
        return result.ToArray();
    }

    /// <summary>The text of <paramref name="ids"/>: their bytes concatenated and read as UTF-8 (a sequence cut inside a
    /// multi-byte character decodes that character as U+FFFD).</summary>
    public string Decode(IEnumerable<int> ids)
    {
        var bytes = new List<byte>();
        foreach (int id in ids)
        {
            bytes.AddRange(_tokens[CheckId(id, nameof(Decode))]);
        }
        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    // ------------------------------------------------------------------ GPT-2 files

    // GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the other bytes map to 256, 257, …
    private static readonly char[] s_byteToChar = BuildByteAlphabet();
    private static readonly Dictionary<char, byte> s_charToByte = Enumerable.Range(0, 256).ToDictionary(b => s_byteToChar[b], b => (byte)b);

    private static char[] BuildByteAlphabet()
    {
        var map = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            map[b] = printable ? (char)b : (char)next++;
        }
        return map;
    }

    private static string Show(byte[] bytes) => new(bytes.Select(b => s_byteToChar[b]).ToArray());

    private string TokenString(int id) => _special.ContainsValue(id) ? Encoding.UTF8.GetString(_tokens[id]) : Show(_tokens[id]);

    /// <summary>Writes vocab.json and merges.txt into <paramref name="folder"/> (each atomically), in GPT-2's format.</summary>
    public void Save(string folder)
    {
        Directory.CreateDirectory(folder);
        var (vocab, merges) = ToStrings();
        IO.AtomicFile.WriteAllText(Path.Combine(folder, "vocab.json"), vocab);
        IO.AtomicFile.WriteAllText(Path.Combine(folder, "merges.txt"), merges);
    }

    /// <summary>The contents of vocab.json and merges.txt (to embed the tokenizer in a checkpoint's metadata).</summary>
    public (string VocabJson, string Merges) ToStrings()
    {
        var vocab = new Dictionary<string, int>();
        for (int i = 0; i < _tokens.Length; i++) vocab[TokenString(i)] = i;
        // Characters written as themselves (GPT-2's files show "Ġthe", not "\u0120the").
        var options = new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        var sb = new StringBuilder("#version: 0.2\n");
        foreach (var (a, b) in _mergeList) sb.Append(Show(_tokens[a])).Append(' ').Append(Show(_tokens[b])).Append('\n');
        return (JsonSerializer.Serialize(vocab, options), sb.ToString());
    }

    /// <summary>Loads GPT-2-format files from <paramref name="folder"/>: vocab.json and merges.txt (as saved by
    /// <see cref="Save"/> and by Hugging Face), or OpenAI's names for the same files, encoder.json and vocab.bpe.
    /// Vocabulary entries that are not byte-alphabet strings, and the names in <paramref name="specialTokens"/>, are
    /// special tokens.</summary>
    public static BpeTokenizer Load(string folder, IEnumerable<string>? specialTokens = null)
    {
        foreach (var (vocab, merges) in new[] { ("vocab.json", "merges.txt"), ("encoder.json", "vocab.bpe") })
        {
            string vocabPath = Path.Combine(folder, vocab), mergesPath = Path.Combine(folder, merges);
            if (File.Exists(vocabPath) && File.Exists(mergesPath)) return Load(vocabPath, mergesPath, specialTokens);
        }
        throw new FileNotFoundException($"BpeTokenizer.Load: {folder} must hold vocab.json and merges.txt (or OpenAI's encoder.json and vocab.bpe).");
    }

    /// <summary>Loads a GPT-2-format vocabulary (token → id JSON) and merge list from the two files named.</summary>
    public static BpeTokenizer Load(string vocabPath, string mergesPath, IEnumerable<string>? specialTokens = null) =>
        FromStrings(File.ReadAllText(vocabPath), File.ReadAllText(mergesPath), specialTokens, vocabPath, mergesPath);

    /// <summary>A tokenizer from the contents of vocab.json and merges.txt (<see cref="ToStrings"/>); the names are used
    /// in error messages.</summary>
    public static BpeTokenizer FromStrings(string vocabJson, string mergesText, IEnumerable<string>? specialTokens = null,
        string vocabPath = "vocab.json", string mergesPath = "merges.txt")
    {
        Dictionary<string, int>? vocab;
        try { vocab = JsonSerializer.Deserialize<Dictionary<string, int>>(vocabJson); }
        catch (JsonException e) { throw new InvalidDataException($"BpeTokenizer.Load: {vocabPath} is not a JSON object of token → id: {e.Message}", e); }
        if (vocab is null || vocab.Count == 0) throw new InvalidDataException($"BpeTokenizer.Load: {vocabPath} is empty.");
        int size = vocab.Values.Max() + 1;
        if (vocab.Values.Distinct().Count() != vocab.Count || vocab.Values.Min() < 0 || size != vocab.Count)
            throw new InvalidDataException($"BpeTokenizer.Load: the ids in {vocabPath} must be 0…{vocab.Count - 1}, each once.");
        for (int b = 0; b < 256; b++)
            if (!vocab.ContainsKey(s_byteToChar[b].ToString()))
                throw new InvalidDataException($"BpeTokenizer.Load: {vocabPath} lacks the byte token for 0x{b:X2} ('{s_byteToChar[b]}'); byte-level BPE needs all 256.");
        var merges = new List<(int, int)>();
        var produced = new HashSet<string>();
        int lineNo = 0;
        foreach (var raw in mergesText.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            lineNo++;
            if (line.StartsWith("#version") || line.Length == 0) continue;
            var parts = line.Split(' ');
            if (parts.Length != 2 || !vocab.TryGetValue(parts[0], out int a) || !vocab.TryGetValue(parts[1], out int b))
                throw new InvalidDataException($"BpeTokenizer.Load: {mergesPath} line {lineNo} ('{line}') is not two vocabulary tokens separated by a space.");
            merges.Add((a, b));
            produced.Add(parts[0] + parts[1]);
        }
        // In byte-level BPE every multi-byte token comes from a merge; an entry no merge produces (GPT-2's
        // "<|endoftext|>") was added as a special token. Names in specialTokens are special in any case.
        var declared = new HashSet<string>(specialTokens ?? []);
        var tokens = new byte[size][];
        var special = new Dictionary<string, int>();
        foreach (var (text, id) in vocab)
        {
            bool isByteToken = text.Length == 1 && s_charToByte.ContainsKey(text[0]);
            bool ordinary = !declared.Contains(text) && text.All(s_charToByte.ContainsKey) && (isByteToken || produced.Contains(text));
            if (ordinary) tokens[id] = text.Select(c => s_charToByte[c]).ToArray();
            else { tokens[id] = Encoding.UTF8.GetBytes(text); special[text] = id; }
        }
        var byteIds = new int[256];
        for (int b = 0; b < 256; b++) byteIds[b] = vocab[s_byteToChar[b].ToString()];
        return new BpeTokenizer(tokens, byteIds, merges, special);
    }
}
