using System.Text;
using Ember.Text;
using Xunit;

namespace Ember.Tests.Text;

public class TokenizerTests
{
    private static readonly Lazy<string> s_kjv = new(() =>
    {
        using var gz = new System.IO.Compression.GZipStream(File.OpenRead(Path.Combine(Ember.Tests.Data.DataTests.SharedData("kjv"), "kjv.txt.gz")),
            System.IO.Compression.CompressionMode.Decompress);
        return new StreamReader(gz).ReadToEnd();
    });

    private static readonly string[] Samples =
    [
        "", " ", "In the beginning God created the heaven and the earth.",
        "naïve café — 東京 🚀🔥 e\u0301 \t\n\r\n  trailing   ", "'s 're 've ll'd 123 4.5e-3 $%&", "Ω≈ç√∫˜µ≤≥÷ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    ];

    [Fact]
    public void CharTokenizerRoundTripsAndRejectsUnknown()
    {
        var tok = CharTokenizer.FromCorpus("hello world 🚀");
        Assert.Equal(9, tok.VocabSize);   // ' ', d, e, h, l, o, r, w, 🚀
        Assert.Equal("hello 🚀", tok.Decode(tok.Encode("hello 🚀")));
        var e = Assert.Throws<ArgumentException>(() => tok.Encode("help"));
        Assert.Contains("'p'", e.Message);
        var withUnk = CharTokenizer.FromCorpus("abc", unknown: '?');
        Assert.Equal("a??c", withUnk.Decode(withUnk.Encode("axyc")));
        var path = Path.Combine(Directory.CreateTempSubdirectory("ember-tok").FullName, "chars.json");
        tok.Save(path);
        var back = CharTokenizer.Load(path);
        Assert.Equal(tok.Vocabulary, back.Vocabulary);
        Assert.Equal(tok.Encode("world 🚀"), back.Encode("world 🚀"));
    }

    [Fact]
    public void BpeLearnsFrequentPairsAndRoundTripsAnyText()
    {
        var corpus = string.Concat(Enumerable.Repeat("low lower lowest newer wider new ", 50));
        var tok = BpeTokenizer.Train(corpus, 300, ["<|endoftext|>"]);
        // Training stops early once no pair occurs twice: every word is then a single token.
        Assert.InRange(tok.VocabSize, 257, 300);
        Assert.All(new[] { " lower", " lowest", " newer", " wider", " new" }, w => Assert.Single(tok.Encode(w)));
        // " low" occurs 150 times: it is one token after training.
        var ids = tok.Encode(" low");
        Assert.Single(ids);
        Assert.Equal(" low", Encoding.UTF8.GetString(tok.TokenBytes(ids[0])));
        foreach (var text in Samples)
            Assert.Equal(text, tok.Decode(tok.Encode(text)));
        var withSpecial = tok.Encode("new<|endoftext|>low");
        Assert.Contains(tok.SpecialTokens["<|endoftext|>"], withSpecial);
        Assert.Equal("new<|endoftext|>low", tok.Decode(withSpecial));
        Assert.DoesNotContain(tok.SpecialTokens["<|endoftext|>"], tok.Encode("new<|endoftext|>low", allowSpecial: false));
    }

    [Fact]
    public void BpeOnKjvCompressesAndRoundTrips()
    {
        var text = s_kjv.Value[..300_000];
        var tok = BpeTokenizer.Train(text, 1024);
        Assert.Equal(1024, tok.VocabSize);
        var sample = s_kjv.Value[1_000_000..1_020_000];   // unseen verses
        var ids = tok.Encode(sample);
        Assert.Equal(sample, tok.Decode(ids));
        double bytesPerToken = (double)Encoding.UTF8.GetByteCount(sample) / ids.Length;
        // Byte and character tokens give 1.0; 1,024 learned tokens cover the common words and their leading space
        // (measured 2.78 on these verses; verse references such as "Ge12:3" stay fragmented).
        Assert.True(bytesPerToken > 2.5, $"bytes per token {bytesPerToken:F2}");
        foreach (var t in Samples) Assert.Equal(t, tok.Decode(tok.Encode(t)));
    }

    [Fact]
    public void BpeSavesAndLoadsGpt2Files()
    {
        var tok = BpeTokenizer.Train(string.Concat(Enumerable.Repeat("the cat sat on the mat. ", 40)), 280, ["<|endoftext|>"]);
        var dir = Directory.CreateTempSubdirectory("ember-bpe").FullName;
        tok.Save(dir);
        var merges = File.ReadAllLines(Path.Combine(dir, "merges.txt"));
        Assert.Equal("#version: 0.2", merges[0]);
        Assert.Equal(tok.MergeCount, merges.Length - 1);
        Assert.Contains("Ġ", File.ReadAllText(Path.Combine(dir, "vocab.json")));   // GPT-2's printable alphabet for the space byte
        var back = BpeTokenizer.Load(dir);
        foreach (var text in Samples.Append("the cat<|endoftext|>sat"))
            Assert.Equal(tok.Encode(text), back.Encode(text));
    }

    [Fact]
    public void BpeLoadsAHandWrittenGpt2Vocabulary()
    {
        // A GPT-2-style pair of files written by hand: the 256 byte tokens, then "Ġt", "he", "Ġthe" by merges.
        var dir = Directory.CreateTempSubdirectory("ember-gpt2").FullName;
        var alphabet = new List<string>();
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            alphabet.Add(((char)(printable ? b : next++)).ToString());
        }
        var vocab = alphabet.Select((s, i) => (s, i)).ToDictionary(p => p.s, p => p.i);
        vocab["Ġt"] = 256; vocab["he"] = 257; vocab["Ġthe"] = 258; vocab["<|endoftext|>"] = 259;
        File.WriteAllText(Path.Combine(dir, "vocab.json"), System.Text.Json.JsonSerializer.Serialize(vocab));
        File.WriteAllText(Path.Combine(dir, "merges.txt"), "#version: 0.2\nĠ t\nh e\nĠt he\n");
        var tok = BpeTokenizer.Load(dir);
        Assert.Equal(new[] { 258, 258 }, tok.Encode(" the the"));
        Assert.Equal(new[] { 'a', 256, 'o', 259 }.Select(Convert.ToInt32), tok.Encode("a to<|endoftext|>").Select(i => i));
        File.WriteAllText(Path.Combine(dir, "merges.txt"), "#version: 0.2\nĠ zz\n");
        Assert.Contains("line 2", Assert.Throws<InvalidDataException>(() => BpeTokenizer.Load(dir)).Message);
    }
}
