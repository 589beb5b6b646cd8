using System.Text.Json;

namespace Ember.Tests;

/// <summary>Reads Fixtures/torch_reference.json, written by Fixtures/gen_fixtures.py with PyTorch.</summary>
public static class TorchReference
{
    private static readonly Lazy<JsonDocument> s_doc = new(() =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "torch_reference.json"))));

    private static readonly Lazy<JsonDocument> s_vision = new(() =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "vision_reference.json"))));

    private static readonly Lazy<JsonDocument> s_sequence = new(() =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "sequence_reference.json"))));

    public static JsonElement Root => s_doc.Value.RootElement;

    /// <summary>Fixtures/sequence_reference.json, written by Fixtures/gen_sequence_fixtures.py.</summary>
    public static JsonElement Sequence => s_sequence.Value.RootElement;

    /// <summary>Fixtures/vision_reference.json, written by Fixtures/gen_vision_fixtures.py.</summary>
    public static JsonElement Vision => s_vision.Value.RootElement;

    public static JsonElement Find(string section, string name)
        => Root.GetProperty(section).EnumerateArray().First(e => e.GetProperty("name").GetString() == name);

    public static IEnumerable<string> Names(string section)
        => Root.GetProperty(section).EnumerateArray().Select(e => e.GetProperty("name").GetString()!);

    public static double[] Doubles(this JsonElement e, string prop) => e.GetProperty(prop).EnumerateArray().Select(x => x.GetDouble()).ToArray();

    public static int[] Ints(this JsonElement e, string prop) => e.GetProperty(prop).EnumerateArray().Select(x => x.GetInt32()).ToArray();

    public static void Close(double[] expected, double[] actual, double tol, string what)
    {
        Xunit.Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Xunit.Assert.True(Math.Abs(expected[i] - actual[i]) <= tol * (1 + Math.Abs(expected[i])),
                $"{what}[{i}]: PyTorch {expected[i]:R}, Ember {actual[i]:R}");
    }
}
