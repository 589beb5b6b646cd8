using System.Text.Json;
using System.Text.RegularExpressions;
using Xunit;
using static Ember.Tests.Cli.CliTests;

namespace Ember.Tests.Cli;

/// <summary>User errors on the command line: one line on stderr naming the option, exit code 2, never a stack trace.
/// The fuzz test reads every command's options from the command tree (and checks each is in the generated help), so a
/// new option is fuzzed without a test edit; it runs through <c>Program.Main</c>.</summary>
[Collection("console")]
public partial class CliErrorTests
{
    private const string Missing = "/nonexistent-ember-fuzz";

    /// <summary>Each command with arguments that make it fail fast, after its options are read, on something that is
    /// not an option (a missing file, an unknown milestone), so that an error not naming that sentinel must be the
    /// option's.</summary>
    private static readonly (string[] Command, string[] Base, string Sentinel)[] Commands =
    [
        (["quickstart"], ["--data", Missing], Missing),
        (["milestone"], ["nosuch-ember-fuzz"], "nosuch-ember-fuzz"),
        (["generate"], [Missing + "/model.safetensors"], Missing),
        (["train"], ["--data", Missing], Missing),
        (["evaluate"], [Missing + "/m.safetensors", "--data", Missing], Missing),
        (["predict"], [Missing + "/m.safetensors", "--data", Missing], Missing),
        (["export"], [Missing + "/m.safetensors"], Missing),
        (["serve"], [Missing + "/m.safetensors", "--port", "0"], Missing),
        (["profile"], [Missing + "/m.safetensors"], Missing),
        (["tabular", "train"], [Missing + ".csv", "--target", "y"], Missing),
        (["tabular", "predict"], [Missing + "/m.safetensors", Missing + ".csv"], Missing),
        (["tabular", "explain"], [Missing + "/m.safetensors", Missing + ".csv", "--row", "0"], Missing),
        (["beamforming", "simulate"], ["--preset", "nosuch-ember-fuzz", "--out", "/proc/version/ember-fuzz.mat"], "nosuch-ember-fuzz"),
        (["beamforming", "train"], ["--data", Missing + ".mat"], Missing),
        (["beamforming", "evaluate"], ["--data", Missing + ".mat"], Missing),
    ];

    // --download fetches from the network: left out (its value is checked like any choice, see DownloadIsAChoice).
    private static readonly HashSet<string> NotFuzzed = ["help", "download"];

    [GeneratedRegex(@"--([a-z][a-z0-9-]*)")]
    private static partial Regex OptionPattern();

    private static readonly string[] Values =
    [
        "", " ", "0", "1", "2", "-1", "-2147483648", "2147483647", "2147483648", "99999999999", "1e308", "-1e308", "1e-320",
        "NaN", "Infinity", "-Infinity", "0.5", "1.5", "-0", "abc", "a:5:c", "1:0:5", "5:1:1", "-35:5:5", "-1e9:1e-9:1e9", ",", "1,,2",
        "1,2", "0x10", "--", "--help", "🚀", "x=y", "\n",
    ];

    [Fact]
    public void EveryOptionOfEveryCommandFailsCleanlyOnBadValues()
    {
        var rng = new Random(42);
        int runs = 0;
        foreach (var (command, baseArgs, sentinel) in Commands)
        {
            var (helpCode, help, _) = Run([.. command, "--help"]);
            Assert.Equal(0, helpCode);
            // Every option of the command tree, and each one is in the generated help.
            System.CommandLine.Command node = Ember.Cli.Program.CreateRoot();
            foreach (var name in command) node = node.Subcommands.Single(c => c.Name == name);
            var options = node.Options.Where(o => o is not System.CommandLine.Help.HelpOption).Select(o => o.Name[2..]).Where(o => !NotFuzzed.Contains(o)).ToList();
            Assert.True(options.Count > 0, $"{string.Join(" ", command)}: no options");
            foreach (var o in options) Assert.Contains("--" + o, OptionPattern().Matches(help).Select(m => m.Value));
            foreach (var option in options)
            {
                var values = Values.Concat(Enumerable.Range(0, 4).Select(_ => RandomText(rng))).ToList();
                foreach (var value in values)
                {
                    string[] args = [.. command, .. baseArgs.Where((_, i) => !(baseArgs[i] == "--" + option || (i > 0 && baseArgs[i - 1] == "--" + option))), "--" + option + "=" + value];
                    runs++;
                    int code;
                    string output, error;
                    try { (code, output, error) = Run(args); }
                    catch (Exception e) { Assert.Fail($"ember {Show(args)}: unhandled {e.GetType().Name}: {e.Message}\n{e.StackTrace}"); return; }
                    Assert.True(code == 2, $"ember {Show(args)}: exit code {code} (expected 2: the sentinel {sentinel} cannot succeed)\n{output}\n{error}");
                    var lines = error.TrimEnd('\n').Split('\n');
                    Assert.True(lines.Length == 1 && lines[0].StartsWith("ember: "), $"ember {Show(args)}: stderr is not one 'ember: ' line:\n{error}");
                    if (!error.Contains(sentinel))
                        Assert.True(error.Contains("--" + option) || (value.Trim().Length > 2 && error.Contains(value)),
                            $"ember {Show(args)}: the error names neither --{option} nor {sentinel}: {error}");
                }
            }
        }
        Assert.True(runs > 1000, $"{runs} runs");
    }

    private static string RandomText(Random rng)
    {
        const string alphabet = "0123456789-+.,:eExaz _/\\'\"é東";
        return new string(Enumerable.Range(0, rng.Next(1, 12)).Select(_ => alphabet[rng.Next(alphabet.Length)]).ToArray());
    }

    private static string Show(string[] args) => string.Join(" ", args.Select(a => a.Length == 0 || a.Contains(' ') ? JsonSerializer.Serialize(a) : a));

    [Fact]
    public void ReportedDefectsAreOneLineErrorsNamingTheOption()
    {
        var mat = Path.Combine(AppContext.BaseDirectory, "Fixtures", "beamforming", "thesis_v6_single.mat");
        var outDir = Directory.CreateTempSubdirectory("ember-cli-err").FullName;
        // Was an unhandled FormatException (exit 134).
        var (code, _, err) = Run("beamforming", "evaluate", "--data", mat, "--h", "Hs", "--snr", "a:5:c", "--out", outDir);
        Assert.Equal(2, code);
        Assert.Contains("--snr a:5:c", err);
        // Was an unhandled AggregateException around OMP's ArgumentException.
        (code, _, err) = Run("beamforming", "evaluate", "--data", mat, "--h", "Hs", "--nrf", "1", "--out", outDir);
        Assert.Equal(2, code);
        Assert.Contains("--nrf 1", err);
        Assert.Contains("Ns = 2", err);
        // Was "BatchNorm: expected more than 1 value per channel".
        (code, _, err) = Run("beamforming", "train", "--data", mat, "--h", "Hs", "--batch", "0");
        Assert.Equal(2, code);
        Assert.Contains("--batch 0", err);
        (code, _, err) = Run("beamforming", "train", "--data", mat, "--h", "Hs", "--batch", "1");
        Assert.Contains("--batch 1", err);
        // No command and no subcommand are both usage errors.
        Assert.Equal(2, Run().Code);
        Assert.Equal(2, Run("beamforming").Code);
        Assert.Equal(2, Run("tabular").Code);
        var (helpCode, help, _) = Run("--help");
        Assert.Equal(0, helpCode);
        Assert.Contains("tabular train|predict|explain", help);
        // Extra positionals and repeated options are errors, not silently dropped.
        (code, _, err) = Run("milestone", "perceptron", "xor");
        Assert.Equal(2, code);
        Assert.Contains("unexpected argument 'xor'", err);
        (code, _, err) = Run("milestone", "perceptron", "--seed", "1", "--seed", "2");
        Assert.Contains("--seed is given more than once", err);
    }

    [Fact]
    public void TyposGetSuggestionsAndTabCompletionOffersOptions()
    {
        var (code, _, err) = Run("train", "--data", Missing, "--epocs", "3");
        Assert.Equal(2, code);
        Assert.Contains("unknown option --epocs (did you mean --epochs?)", err);
        (code, _, err) = Run("quickstrat");
        Assert.Equal(2, code);
        Assert.Contains("did you mean 'quickstart'?", err);
        (code, _, err) = Run("quickstart", "--quiet=yes please");
        Assert.Equal(2, code);
        Assert.Contains("--quiet is a flag", err);
        // dotnet-suggest's protocol: the [suggest:POSITION] directive lists the completions of the partial word.
        var (scode, suggestions, _) = Run("[suggest:16]", "ember train --op");
        Assert.Equal(0, scode);
        Assert.Equal("--optimizer", suggestions.Trim());
        (_, suggestions, _) = Run("[suggest:25]", "ember train --optimizer r");
        Assert.Equal("rmsprop", suggestions.Trim());
    }

    [Fact]
    public void DownloadIsAChoice()
    {
        var (code, _, err) = Run("train", "--data", Missing, "--download", "cifar");
        Assert.Equal(2, code);
        Assert.Contains("--download cifar", err);
    }

    [Fact]
    public void BeamformingReadsAThesisFileUnderOtherNamesAndMatchesTheReferenceOmp()
    {
        var dir = Path.Combine(AppContext.BaseDirectory, "Fixtures", "beamforming");
        var mat = Path.Combine(dir, "thesis_v6_single.mat");
        var expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "expected.json"))).RootElement;
        var outDir = Directory.CreateTempSubdirectory("ember-bf-ref").FullName;
        // Without --h the CLI says which variable is missing and how to name it.
        var (code, _, err) = Run("beamforming", "evaluate", "--data", mat, "--out", outDir);
        Assert.Equal(2, code);
        Assert.Contains("'H'", err);
        Assert.Contains("--h", err);
        (code, var output, err) = Run("beamforming", "evaluate", "--data", mat, "--h", "Hs", "--nrf", expected.GetProperty("nrf").GetInt32().ToString(), "--out", outDir);
        Assert.True(code == 0, err);
        Assert.Contains("OMP dictionary: the data set's array responses At/Ar (12 and 12 paths per channel)", output);
        Assert.Contains("At/Ar", File.ReadAllText(Path.Combine(outDir, "report.txt")));
        var csv = File.ReadAllLines(Path.Combine(outDir, "report.csv"));
        var header = csv[0].Split(',');
        int refCol = Array.IndexOf(header, Ember.Wireless.BaselineEvaluation.ReferenceOmpName), optCol = Array.IndexOf(header, "Optimal (SVD)");
        Assert.True(refCol > 0 && optCol > 0, csv[0]);
        var snr = expected.GetProperty("snr_db").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        var omp = expected.GetProperty("omp_reference").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        var opt = expected.GetProperty("optimal").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        Assert.Equal(snr.Length, csv.Length - 1);
        for (int s = 0; s < snr.Length; s++)
        {
            var row = csv[s + 1].Split(',').Select(v => double.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
            Assert.Equal(snr[s], row[0]);
            // The CSV keeps 4 decimals: within 1e-4 absolute of the NumPy reference, or 1e-4 relative at high SNR.
            Assert.True(Math.Abs(row[refCol] - omp[s]) <= 1e-4 + 1e-4 * omp[s], $"SNR {snr[s]}: reference OMP {omp[s]}, Ember {row[refCol]}");
            Assert.True(Math.Abs(row[optCol] - opt[s]) <= 1e-4 + 1e-4 * opt[s], $"SNR {snr[s]}: optimum {opt[s]}, Ember {row[optCol]}");
        }
    }
}
