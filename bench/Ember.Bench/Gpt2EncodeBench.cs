using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using Ember.Text;
using TiktokenTokenizer = Microsoft.ML.Tokenizers.TiktokenTokenizer;
using BpeTokenizer = Ember.Text.BpeTokenizer;

namespace Ember.Bench;

/// <summary>GPT-2 encoding of the King James Bible (4.4 MB) with GPT-2's own vocabulary: Ember's
/// <see cref="BpeTokenizer"/> against Microsoft.ML.Tokenizers (TiktokenTokenizer for "gpt2") in this process and
/// against the npm package gpt-3-encoder in node (a port of OpenAI's encoder.py), same text, ids compared:
/// <c>gpt2-encode [--node-modules DIR] [--node-chars 500000] [--data KJV.gz] [--rounds 5]</c>. DIR holds gpt-3-encoder
/// (<c>npm install gpt-3-encoder@1.1.4</c>); without it the node column is skipped. gpt-3-encoder appends each
/// word's ids with Array.concat, quadratic in the output (the whole text did not finish in 12 minutes), so node
/// encodes the text's first --node-chars characters, and Ember is timed on the same prefix for its ratio.
/// Throughput is the median over rounds of a whole-text encode with a fresh tokenizer ("cold": every distinct word
/// goes through BPE once) and with the same tokenizer again ("warm": word cache filled).</summary>
internal static class Gpt2EncodeBench
{
    public static void Run(string[] args)
    {
        string Opt(string name, string fallback) { int i = Array.IndexOf(args, name); return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback; }
        string kjvPath = Opt("--data", Path.Combine("..", "shared", "data", "kjv", "kjv.txt.gz"));
        string nodeModules = Opt("--node-modules", "");
        int rounds = int.Parse(Opt("--rounds", "5"));
        string text;
        using (var gz = new GZipStream(File.OpenRead(kjvPath), CompressionMode.Decompress)) text = new StreamReader(gz).ReadToEnd();
        double mb = Encoding.UTF8.GetByteCount(text) / 1e6;
        string vocabDir = ExtractGpt2Files();
        Console.WriteLine($"gpt2-encode cpu=\"{Program.CpuModel()}\" corpus_mb={mb:F2} rounds={rounds}");

        int[] emberIds = [];
        var emberCold = new List<double>(); var emberWarm = new List<double>();
        var mlCold = new List<double>(); var mlWarm = new List<double>();
        IReadOnlyList<int> mlIds = [];
        for (int r = 0; r < rounds; r++)
        {
            var sw = Stopwatch.StartNew();
            var tok = BpeTokenizer.Load(vocabDir);
            double load = sw.Elapsed.TotalSeconds;
            sw.Restart(); emberIds = tok.Encode(text, allowSpecial: false); emberCold.Add(sw.Elapsed.TotalSeconds);
            sw.Restart(); tok.Encode(text, allowSpecial: false); emberWarm.Add(sw.Elapsed.TotalSeconds);
            sw.Restart();
            var ml = TiktokenTokenizer.CreateForModel("gpt2");
            double mlLoad = sw.Elapsed.TotalSeconds;
            sw.Restart(); mlIds = ml.EncodeToIds(text); mlCold.Add(sw.Elapsed.TotalSeconds);
            sw.Restart(); ml.EncodeToIds(text); mlWarm.Add(sw.Elapsed.TotalSeconds);
            Console.WriteLine($"round={r} ember_load_s={load:F2} ember_cold_mb_s={mb / emberCold[^1]:F1} ember_warm_mb_s={mb / emberWarm[^1]:F1} " +
                $"mltok_load_s={mlLoad:F2} mltok_cold_mb_s={mb / mlCold[^1]:F1} mltok_warm_mb_s={mb / mlWarm[^1]:F1}");
        }
        bool sameAsMl = mlIds.SequenceEqual(emberIds);
        Console.WriteLine($"ember     cold_mb_s={mb / Median(emberCold):F1} warm_mb_s={mb / Median(emberWarm):F1} ids={emberIds.Length}");
        Console.WriteLine($"mltok     cold_mb_s={mb / Median(mlCold):F1} warm_mb_s={mb / Median(mlWarm):F1} ids={mlIds.Count} ids_equal_ember={sameAsMl}");
        Console.WriteLine($"ratio     ember/mltok cold={Median(mlCold) / Median(emberCold):F2} warm={Median(mlWarm) / Median(emberWarm):F2}");
        if (nodeModules.Length > 0) Node(nodeModules, text[..Math.Min(text.Length, int.Parse(Opt("--node-chars", "500000")))], vocabDir);
        Directory.Delete(vocabDir, recursive: true);
    }

    private static void Node(string nodeModules, string prefix, string vocabDir)
    {
        double mb = Encoding.UTF8.GetByteCount(prefix) / 1e6;
        var sw = Stopwatch.StartNew();
        var emberIds = BpeTokenizer.Load(vocabDir).Encode(prefix, allowSpecial: false);   // cold, as node's
        double emberCold = sw.Elapsed.TotalSeconds;
        // One node process: load the encoder, encode the prefix once (its cache starts empty, like "cold").
        string idsPath = Path.GetTempFileName(), textPath = Path.GetTempFileName();
        File.WriteAllText(textPath, prefix);
        string script = """
            const fs = require('fs');
            const enc = require('gpt-3-encoder');
            const text = fs.readFileSync(process.argv[1], 'utf-8');
            const t0 = process.hrtime.bigint();
            const ids = enc.encode(text);
            const s = Number(process.hrtime.bigint() - t0) / 1e9;
            fs.writeFileSync(process.argv[2], JSON.stringify(ids));
            console.log(s);
            """;
        var psi = new ProcessStartInfo("node", ["-e", script, textPath, idsPath]) { RedirectStandardOutput = true };
        psi.Environment["NODE_PATH"] = Path.GetFullPath(nodeModules);
        using var p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) { Console.WriteLine($"node      failed (exit {p.ExitCode})"); return; }
        double seconds = double.Parse(output.Trim(), System.Globalization.CultureInfo.InvariantCulture);
        var ids = JsonSerializer.Deserialize<int[]>(File.ReadAllText(idsPath))!;
        File.Delete(idsPath);
        File.Delete(textPath);
        Console.WriteLine($"node      prefix_mb={mb:F2} cold_mb_s={mb / seconds:F2} ids={ids.Length} ids_equal_ember={ids.SequenceEqual(emberIds)} " +
            $"ember_cold_mb_s={mb / emberCold:F1} ratio_ember/node={seconds / emberCold:F1}");
    }

    private static double Median(List<double> xs) { var s = xs.Order().ToArray(); return s[s.Length / 2]; }

    private static string ExtractGpt2Files()
    {
        string src = Path.Combine("tests", "Ember.Tests", "Fixtures", "gpt2");
        string dir = Directory.CreateTempSubdirectory("ember-bench-gpt2").FullName;
        foreach (var name in new[] { "encoder.json", "vocab.bpe" })
        {
            using var gz = new GZipStream(File.OpenRead(Path.Combine(src, name + ".gz")), CompressionMode.Decompress);
            using var f = File.Create(Path.Combine(dir, name));
            gz.CopyTo(f);
        }
        return dir;
    }
}
