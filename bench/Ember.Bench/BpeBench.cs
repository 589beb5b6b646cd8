using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using Ember.Text;

namespace Ember.Bench;

/// <summary>Byte-level BPE on the King James Bible (4.4 MB): training time to a 4,096-token vocabulary, encode
/// throughput, compression and an exact round trip: <c>bpe [--data ../shared/data/kjv/kjv.txt.gz]</c>.</summary>
internal static class BpeBench
{
    public static void Run(string[] args)
    {
        string path = args.Length >= 2 && args[0] == "--data" ? args[1] : Path.Combine("..", "shared", "data", "kjv", "kjv.txt.gz");
        string text;
        using (var gz = new GZipStream(File.OpenRead(path), CompressionMode.Decompress)) text = new StreamReader(gz).ReadToEnd();
        var sw = Stopwatch.StartNew();
        var tok = BpeTokenizer.Train(text, 4096, ["<|endoftext|>"]);
        double train = sw.Elapsed.TotalSeconds;
        sw.Restart();
        var ids = tok.Encode(text);
        double encode = sw.Elapsed.TotalSeconds;
        bool roundTrip = tok.Decode(ids) == text;
        int bytes = Encoding.UTF8.GetByteCount(text);
        Console.WriteLine($"bpe corpus_mb={bytes / 1e6:F1} vocab={tok.VocabSize} train_s={train:F1} encode_mb_per_s={bytes / 1e6 / encode:F1} " +
            $"bytes_per_token={(double)bytes / ids.Length:F2} round_trip={(roundTrip ? "exact" : "FAILED")}");
    }
}
