using System.Diagnostics;
using Xunit;

namespace Ember.Tests.Learn;

/// <summary>The learning path's examples (examples/NN-name.cs) run as .NET 10 file-based programs, each to its final
/// "ok" (every example checks its own numbers and throws otherwise), and every chapter of docs/learn has its example.</summary>
public class ExamplesTests
{
    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (Directory.Exists(Path.Combine(dir.FullName, "examples")) && Directory.Exists(Path.Combine(dir.FullName, "docs", "learn")))
                return dir.FullName;
        throw new DirectoryNotFoundException($"no repository root with examples/ and docs/learn/ above {AppContext.BaseDirectory}");
    }

    [Fact]
    public async Task EveryChapterHasItsExampleAndEveryExampleRuns()
    {
        string root = RepoRoot();
        var examples = Directory.GetFiles(Path.Combine(root, "examples"), "*.cs").Select(Path.GetFileName).Order().ToArray();
        var chapters = Directory.GetFiles(Path.Combine(root, "docs", "learn"), "??-*.md").Select(Path.GetFileNameWithoutExtension).Where(n => char.IsDigit(n![0]) && char.IsDigit(n[1])).Order().ToArray();
        Assert.True(examples.Length >= 9, $"{examples.Length} examples");
        Assert.Equal(chapters, examples.Select(e => Path.GetFileNameWithoutExtension(e!)).ToArray());
        string map = File.ReadAllText(Path.Combine(root, "docs", "learn", "README.md"));
        foreach (var c in chapters) Assert.Contains($"({c}.md)", map);
        foreach (var example in examples)
        {
            var psi = new ProcessStartInfo("dotnet", $"run \"{example}\"")
            {
                WorkingDirectory = Path.Combine(root, "examples"),
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            // The test host's MSBuild settings would point the nested build at the wrong SDK pieces.
            foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase) || k == "MSBUILD_EXE_PATH" || k == "DOTNET_HOST_PATH").ToList())
                psi.Environment.Remove(key);
            using var p = Process.Start(psi)!;
            var stderr = p.StandardError.ReadToEndAsync();
            var stdout = p.StandardOutput.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
            try { await p.WaitForExitAsync(timeout.Token); }
            catch (OperationCanceledException) { p.Kill(true); Assert.Fail($"{example} ran past 5 minutes"); }
            string output = await stdout;
            string last = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault()?.Trim() ?? "";
            Assert.True(p.ExitCode == 0 && last == "ok", $"{example} exited {p.ExitCode}:\n{output}\n{await stderr}");
        }
    }
}
