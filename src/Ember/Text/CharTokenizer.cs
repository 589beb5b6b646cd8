using System.Text;
using System.Text.Json;

namespace Ember.Text;

/// <summary>A character-level tokenizer: one id per distinct character (Unicode scalar value) of the corpus it was
/// built from, in sorted order, as in Karpathy's char-level GPT. Text with characters outside the vocabulary is an
/// error unless an unknown token is configured.</summary>
public sealed class CharTokenizer
{
    private readonly Dictionary<int, int> _toId;
    private readonly int[] _chars;

    /// <summary>The characters, by id.</summary>
    public IReadOnlyList<string> Vocabulary => _chars.Select(char.ConvertFromUtf32).ToArray();
    /// <summary>Number of distinct characters.</summary>
    public int VocabSize => _chars.Length;
    /// <summary>The id used for characters outside the vocabulary, or null (then they are an error).</summary>
    public int? UnknownId { get; }

    private CharTokenizer(int[] chars, int? unknownId)
    {
        _chars = chars;
        _toId = new Dictionary<int, int>(chars.Length);
        for (int i = 0; i < chars.Length; i++) _toId[chars[i]] = i;
        UnknownId = unknownId;
    }

    /// <summary>Builds the vocabulary from the distinct characters of <paramref name="corpus"/> (sorted by code
    /// point). With <paramref name="unknown"/>, that character is added (if absent) and stands for unseen ones.</summary>
    public static CharTokenizer FromCorpus(string corpus, char? unknown = null)
    {
        var set = new SortedSet<int>();
        foreach (var r in corpus.EnumerateRunes()) set.Add(r.Value);
        if (unknown is char u) set.Add(u);
        var chars = set.ToArray();
        return new CharTokenizer(chars, unknown is char c ? Array.IndexOf(chars, (int)c) : null);
    }

    /// <summary>The ids of <paramref name="text"/>'s characters; an error naming a character not in the vocabulary.</summary>
    public int[] Encode(string text)
    {
        var ids = new List<int>(text.Length);
        int pos = 0;
        foreach (var r in text.EnumerateRunes())
        {
            if (_toId.TryGetValue(r.Value, out int id)) ids.Add(id);
            else if (UnknownId is int unk) ids.Add(unk);
            else
                throw new ArgumentException($"CharTokenizer.Encode: character '{r}' (U+{r.Value:X4}) at position {pos} is not in the {VocabSize}-character vocabulary.");
            pos += r.Utf16SequenceLength;
        }
        return ids.ToArray();
    }

    /// <summary>The text of <paramref name="ids"/>.</summary>
    public string Decode(IEnumerable<int> ids)
    {
        var sb = new StringBuilder();
        foreach (int id in ids)
        {
            if ((uint)id >= (uint)_chars.Length)
                throw new ArgumentOutOfRangeException(nameof(ids), $"CharTokenizer.Decode: id {id} is outside the vocabulary [0, {_chars.Length}).");
            sb.Append(char.ConvertFromUtf32(_chars[id]));
        }
        return sb.ToString();
    }

    /// <summary>Writes the vocabulary as JSON (<c>{"chars": [...], "unknown": id|null}</c>), atomically.</summary>
    public void Save(string path)
    {
        var json = JsonSerializer.Serialize(new Saved(Vocabulary.ToArray(), UnknownId));
        IO.AtomicFile.WriteAllText(path, json);
    }

    /// <summary>Loads a vocabulary saved by <see cref="Save"/>.</summary>
    public static CharTokenizer Load(string path)
    {
        Saved? s;
        try { s = JsonSerializer.Deserialize<Saved>(File.ReadAllText(path)); }
        catch (JsonException e) { throw new InvalidDataException($"CharTokenizer.Load: {path} is not a saved character vocabulary: {e.Message}", e); }
        if (s?.Chars is null) throw new InvalidDataException($"CharTokenizer.Load: {path} has no \"Chars\" list.");
        var chars = s.Chars.Select(c => char.ConvertToUtf32(c, 0)).ToArray();
        if (s.Unknown is int u && (uint)u >= (uint)chars.Length)
            throw new InvalidDataException($"CharTokenizer.Load: unknown id {u} is outside the {chars.Length}-character vocabulary in {path}.");
        return new CharTokenizer(chars, s.Unknown);
    }

    private sealed record Saved(string[] Chars, int? Unknown);
}
