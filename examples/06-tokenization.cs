#:project ../src/Ember/Ember.csproj
// Chapter 6: tokenization. Byte-pair encoding learned from a text: merges of frequent pairs, encode and decode.
using Ember.Text;

string corpus = string.Concat(Enumerable.Repeat(
    "In the beginning God created the heaven and the earth. And the earth was without form, and void; " +
    "and darkness was upon the face of the deep. And the Spirit of God moved upon the face of the waters. ", 20));
var bpe = BpeTokenizer.Train(corpus, vocabSize: 300);
string line = "And God said, Let there be light: and there was light.";
var ids = bpe.Encode(line);
Console.WriteLine($"{line.Length} characters -> {ids.Length} tokens: [{string.Join(", ", ids)}]");
Console.WriteLine("pieces: " + string.Join(" | ", ids.Select(i => bpe.Decode([i]))));
string back = bpe.Decode(ids);
if (back != line) throw new Exception("decode(encode(x)) must give x back");
if (ids.Length >= line.Length) throw new Exception("merges should make fewer tokens than bytes");
Console.WriteLine("ok");
