using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Ember.Tuning;

/// <summary>The range of one hyperparameter (Optuna's distributions). Values travel inside a study in an internal form,
/// a double: the number itself for floats and integers, the index of the choice for categories.</summary>
public abstract record ParamDistribution
{
    /// <summary>True when <paramref name="internalValue"/> is a value of this distribution.</summary>
    public abstract bool Contains(double internalValue);

    /// <summary>The distribution as JSON (stored with every parameter of a trial).</summary>
    public abstract string ToJson();

    /// <summary>Reads <see cref="ToJson"/>'s output.</summary>
    public static ParamDistribution FromJson(string json)
    {
        var o = JsonNode.Parse(json)!.AsObject();
        return (string?)o["type"] switch
        {
            "float" => new FloatDistribution((double)o["low"]!, (double)o["high"]!, (bool)o["log"]!, o["step"] is { } s ? (double)s : null),
            "int" => new IntDistribution((long)o["low"]!, (long)o["high"]!, (bool)o["log"]!, (long)o["step"]!),
            "categorical" => new CategoricalDistribution(o["choices"]!.AsArray().Select(c => (string)c!).ToArray()),
            var t => throw new InvalidDataException($"ParamDistribution: unknown type '{t}' in {json}"),
        };
    }

    /// <summary>The value as a user sees it (double, long or string).</summary>
    public abstract object ToExternal(double internalValue);

    /// <summary>The value as text (tables, CSV).</summary>
    public string Format(double internalValue) => ToExternal(internalValue) switch
    {
        double d => d.ToString("G6", CultureInfo.InvariantCulture),
        long l => l.ToString(CultureInfo.InvariantCulture),
        var o => o.ToString() ?? "",
    };
}

/// <summary>A real number in [<paramref name="Low"/>, <paramref name="High"/>], on a log scale or on a grid of
/// <paramref name="Step"/> (not both).</summary>
public sealed record FloatDistribution(double Low, double High, bool Log = false, double? Step = null) : ParamDistribution
{
    internal void Validate(string name)
    {
        if (!double.IsFinite(Low) || !double.IsFinite(High) || Low > High)
            throw new ArgumentException($"SuggestFloat('{name}'): low {Low} must be finite and at most high {High}");
        if (Log && Low <= 0) throw new ArgumentException($"SuggestFloat('{name}'): a log scale needs low > 0, got {Low}");
        if (Log && Step is not null) throw new ArgumentException($"SuggestFloat('{name}'): step and log cannot be used together");
        if (Step is double s && !(s > 0)) throw new ArgumentException($"SuggestFloat('{name}'): step must be positive, got {s}");
    }

    /// <inheritdoc/>
    public override bool Contains(double v) => v >= Low && v <= High;

    /// <inheritdoc/>
    public override object ToExternal(double v) => v;

    /// <inheritdoc/>
    public override string ToJson() => new JsonObject { ["type"] = "float", ["low"] = Low, ["high"] = High, ["log"] = Log, ["step"] = Step }.ToJsonString();
}

/// <summary>An integer in [<paramref name="Low"/>, <paramref name="High"/>], on a log scale or every <paramref name="Step"/>.</summary>
public sealed record IntDistribution(long Low, long High, bool Log = false, long Step = 1) : ParamDistribution
{
    internal void Validate(string name)
    {
        if (Low > High) throw new ArgumentException($"SuggestInt('{name}'): low {Low} must be at most high {High}");
        if (Log && Low < 1) throw new ArgumentException($"SuggestInt('{name}'): a log scale needs low >= 1, got {Low}");
        if (Step < 1) throw new ArgumentException($"SuggestInt('{name}'): step must be at least 1, got {Step}");
        if (Log && Step != 1) throw new ArgumentException($"SuggestInt('{name}'): step and log cannot be used together");
    }

    /// <inheritdoc/>
    public override bool Contains(double v) => v >= Low && v <= High && Math.Abs(v - Math.Round(v)) < 1e-9;

    /// <inheritdoc/>
    public override object ToExternal(double v) => (long)Math.Round(v);

    /// <inheritdoc/>
    public override string ToJson() => new JsonObject { ["type"] = "int", ["low"] = Low, ["high"] = High, ["log"] = Log, ["step"] = Step }.ToJsonString();
}

/// <summary>One of <paramref name="Choices"/>.</summary>
public sealed record CategoricalDistribution(IReadOnlyList<string> Choices) : ParamDistribution
{
    internal void Validate(string name)
    {
        if (Choices.Count == 0) throw new ArgumentException($"SuggestCategorical('{name}'): no choices");
        if (Choices.Distinct().Count() != Choices.Count) throw new ArgumentException($"SuggestCategorical('{name}'): the choices repeat ({string.Join(", ", Choices)})");
    }

    /// <inheritdoc/>
    public override bool Contains(double v) => v >= 0 && v < Choices.Count && v == Math.Floor(v);

    /// <inheritdoc/>
    public override object ToExternal(double v) => Choices[(int)v];

    /// <inheritdoc/>
    public override string ToJson() => new JsonObject { ["type"] = "categorical", ["choices"] = new JsonArray(Choices.Select(c => (JsonNode)JsonValue.Create(c)!).ToArray()) }.ToJsonString();

    /// <summary>Same choices in the same order (records compare lists by reference).</summary>
    public bool Equals(CategoricalDistribution? other) => other is not null && Choices.SequenceEqual(other.Choices);

    /// <inheritdoc/>
    public override int GetHashCode() => Choices.Aggregate(17, (h, c) => h * 31 + c.GetHashCode());
}
