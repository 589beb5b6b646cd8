using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace Ember.Cli.Infrastructure;

/// <summary>A user-facing error: printed as one line, exit code 2 (no stack trace).</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>
/// Typed options for the commands, on System.CommandLine. Each parser checks its value's range and names the option
/// in its error ("--epochs 0: must be >= 1"), so a bad value is reported as the option the user gave, not as whatever
/// it breaks deeper down; the help text shows each option's default and range, generated from the same call.
/// </summary>
internal static class Opt
{
    private static string Value(ArgumentResult r) => r.Tokens.Count > 0 ? r.Tokens[^1].Value : "";

    private static string Name(ArgumentResult r) => r.Parent is OptionResult o ? o.Option.Name : r.Argument.Name;

    /// <summary>An integer in [<paramref name="min"/>, <paramref name="max"/>], <paramref name="fallback"/> when absent.</summary>
    public static Option<int> Int(string name, int fallback, string description, int min = 0, int max = int.MaxValue) => new(name)
    {
        Description = description + (RangeNote(min, max) is { Length: > 0 } n ? $" [{n.TrimStart(',', ' ')}]" : ""),
        HelpName = "N",
        DefaultValueFactory = _ => fallback,
        CustomParser = r => ParseInt(r, min, max) ?? fallback,
    };

    /// <summary>An integer in [<paramref name="min"/>, <paramref name="max"/>], or null when absent.</summary>
    public static Option<int?> OptionalInt(string name, string description, int min = 0, int max = int.MaxValue) => new(name)
    {
        Description = description + (RangeNote(min, max) is { Length: > 0 } n ? $" [{n.TrimStart(',', ' ')}]" : ""),
        HelpName = "N",
        CustomParser = r => ParseInt(r, min, max),
    };

    private static int? ParseInt(ArgumentResult r, int min, int max)
    {
        string v = Value(r), name = Name(r);
        if (!int.TryParse(v, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int x))
        {
            r.AddError($"{name} expects an integer{Range(min, max)}, got '{v}'");
            return null;
        }
        if (x < min || x > max)
        {
            r.AddError($"{name} {v}: must be{Range(min, max)}");
            return null;
        }
        return x;
    }

    /// <summary>A finite number in the given range (ends excluded where asked), <paramref name="fallback"/> when absent.</summary>
    public static Option<double> Double(string name, double fallback, string description, double min = double.NegativeInfinity,
        double max = double.PositiveInfinity, bool exclusiveMin = false, bool exclusiveMax = false) => new(name)
    {
        Description = description + (RangeText(min, max, exclusiveMin, exclusiveMax) is { Length: > 0 } range ? $" [{range.Trim()}]" : ""),
        HelpName = "X",
        DefaultValueFactory = _ => fallback,
        CustomParser = r => ParseDouble(r, min, max, exclusiveMin, exclusiveMax) ?? fallback,
    };

    /// <summary>A finite number in the given range, or null when absent.</summary>
    public static Option<double?> OptionalDouble(string name, string description, double min = double.NegativeInfinity,
        double max = double.PositiveInfinity, bool exclusiveMin = false, bool exclusiveMax = false) => new(name)
    {
        Description = description,
        HelpName = "X",
        CustomParser = r => ParseDouble(r, min, max, exclusiveMin, exclusiveMax),
    };

    private static double? ParseDouble(ArgumentResult r, double min, double max, bool exMin, bool exMax)
    {
        string v = Value(r), name = Name(r), range = RangeText(min, max, exMin, exMax);
        if (!TryNumber(v, out double x))
        {
            r.AddError($"{name} expects a number{range}, got '{v}'");
            return null;
        }
        if (x < min || x > max || (exMin && x == min) || (exMax && x == max))
        {
            r.AddError($"{name} {v}: must be{range}");
            return null;
        }
        return x;
    }

    /// <summary>One of <paramref name="choices"/> (offered to tab completion), <paramref name="fallback"/> when absent.</summary>
    public static Option<string> Choice(string name, string fallback, string description, params string[] choices)
    {
        var o = new Option<string>(name)
        {
            Description = $"{description} [{string.Join("|", choices)}]",
            HelpName = "NAME",
            DefaultValueFactory = _ => fallback,
            CustomParser = r => ParseChoice(r, choices) ?? fallback,
        };
        o.CompletionSources.Add(choices);
        return o;
    }

    /// <summary>One of <paramref name="choices"/>, or null when absent.</summary>
    public static Option<string?> OptionalChoice(string name, string description, params string[] choices)
    {
        var o = new Option<string?>(name)
        {
            Description = $"{description} [{string.Join("|", choices)}]",
            HelpName = "NAME",
            CustomParser = r => ParseChoice(r, choices),
        };
        o.CompletionSources.Add(choices);
        return o;
    }

    private static string? ParseChoice(ArgumentResult r, string[] choices)
    {
        string v = Value(r);
        if (choices.Contains(v)) return v;
        r.AddError($"{Name(r)} {v}: choose {string.Join(", ", choices.SkipLast(1))} or {choices[^1]}");
        return null;
    }

    /// <summary>Free text, or null when absent.</summary>
    public static Option<string?> Text(string name, string description, string helpName = "TEXT") => new(name)
    {
        Description = description,
        HelpName = helpName,
    };

    /// <summary>Free text, <paramref name="fallback"/> when absent.</summary>
    public static Option<string> Text(string name, string fallback, string description, string helpName = "TEXT") => new(name)
    {
        Description = description,
        HelpName = helpName,
        DefaultValueFactory = _ => fallback,
    };

    /// <summary>A required value.</summary>
    /// <summary>The <c>--precision</c> option of the training commands: fp32, or bf16/fp16 mixed precision.</summary>
    public static Option<string> Precision() =>
        Choice("--precision", "fp32", "arithmetic of the products: float32, or mixed precision (bf16, or fp16 with loss scaling): Linear layers in 16 bits, the rest float32", "fp32", "bf16", "fp16");

    /// <summary>The dtype of a <see cref="Precision"/> value (null: float32).</summary>
    public static DType? PrecisionType(string value) => value switch { "bf16" => DType.BFloat16, "fp16" => DType.Float16, _ => null };

    /// <summary>The <c>--tensorboard DIR</c> option of the training commands.</summary>
    public static Option<string?> TensorBoard(string? which = null) =>
        Text("--tensorboard", "write TensorBoard logs (losses, learning rate, metrics, histograms, images, hyperparameters) to this folder; view them with 'tensorboard --logdir DIR'"
            + (which is null ? "" : $" ({which})"), "DIR");

    /// <summary>A TensorBoard writer in <paramref name="dir"/> (null: none), the folder error reported as the option's.</summary>
    public static Ember.Diagnostics.SummaryWriter? OpenTensorBoard(string? dir)
    {
        if (dir is null) return null;
        try { return new Ember.Diagnostics.SummaryWriter(dir); }
        catch (IOException e) { throw new UsageException($"--tensorboard '{dir}': {e.Message}"); }
        catch (UnauthorizedAccessException e) { throw new UsageException($"--tensorboard '{dir}': {e.Message}"); }
    }

    public static Option<string> Required(string name, string description, string helpName = "TEXT") => new(name)
    {
        Description = description,
        HelpName = helpName,
        Required = true,
    };

    /// <summary>A path that must name an existing file or folder, or null when absent.</summary>
    public static Option<string?> ExistingPath(string name, string description, bool required = false) => new(name)
    {
        Description = description,
        HelpName = "PATH",
        Required = required,
        CustomParser = r => ParseExisting(r),
    };

    private static string? ParseExisting(ArgumentResult r)
    {
        string v = Value(r);
        if (v.Length > 0 && (File.Exists(v) || Directory.Exists(v))) return v;
        r.AddError($"{Name(r)} '{v}': no such file or folder");
        return null;
    }

    /// <summary>An on/off switch.</summary>
    public static Option<bool> Flag(string name, string description) => new(name) { Description = description };

    /// <summary>Comma-separated integers, each in [<paramref name="min"/>, <paramref name="max"/>].</summary>
    public static Option<int[]> IntList(string name, string fallback, string description, int min = 0, int max = int.MaxValue) => new(name)
    {
        Description = description,
        HelpName = "N,N,…",
        DefaultValueFactory = _ => ParseIntList(fallback, min, max)!,
        CustomParser = r =>
        {
            var list = ParseIntList(Value(r), min, max);
            if (list is null) r.AddError($"{Name(r)} {Value(r)}: expected comma-separated integers{Range(min, max)}");
            return list ?? [];
        },
    };

    private static int[]? ParseIntList(string v, int min, int max)
    {
        if (v.Length == 0) return [];
        var parts = v.Split(',');
        var r = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i].Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out r[i]) || r[i] < min || r[i] > max)
                return null;
        return r;
    }

    /// <summary>Comma-separated names (columns), empty when absent.</summary>
    public static Option<string[]> NameList(string name, string description) => new(name)
    {
        Description = description,
        HelpName = "COL,COL,…",
        DefaultValueFactory = _ => [],
        CustomParser = r => Value(r).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
    };

    /// <summary>Comma-separated finite numbers.</summary>
    public static Option<double[]> DoubleList(string name, string fallback, string description) => new(name)
    {
        Description = description,
        HelpName = "X,X,…",
        DefaultValueFactory = _ => ParseDoubleList(fallback)!,
        CustomParser = r =>
        {
            var list = ParseDoubleList(Value(r));
            if (list is null) r.AddError($"{Name(r)} {Value(r)}: expected comma-separated numbers");
            return list ?? [];
        },
    };

    private static double[]? ParseDoubleList(string v)
    {
        var parts = v.Split(',');
        var r = new double[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!TryNumber(parts[i].Trim(), out r[i])) return null;
        return r;
    }

    /// <summary>FROM:STEP:TO (STEP &gt; 0, TO ≥ FROM, at most <paramref name="maxCount"/> values) or comma-separated numbers.</summary>
    public static Option<double[]> Range(string name, string fallback, string description, int maxCount = 1000) => new(name)
    {
        Description = description,
        HelpName = "FROM:STEP:TO",
        DefaultValueFactory = _ => ParseRange(fallback, maxCount, out string? _)!,
        CustomParser = r =>
        {
            var values = ParseRange(Value(r), maxCount, out string? problem);
            if (values is null) r.AddError($"{Name(r)} {Value(r)}: {problem}");
            return values ?? [];
        },
    };

    private static double[]? ParseRange(string v, int maxCount, out string? problem)
    {
        problem = null;
        var p = v.Split(':');
        if (p.Length == 1)
        {
            problem = "expected comma-separated numbers";
            return ParseDoubleList(v);
        }
        if (p.Length != 3 || !TryNumber(p[0], out double from) || !TryNumber(p[1], out double step) || !TryNumber(p[2], out double to))
        {
            problem = "expected FROM:STEP:TO (e.g. -35:5:5) or comma-separated numbers";
            return null;
        }
        if (step <= 0 || to < from)
        {
            problem = "expected FROM:STEP:TO with STEP > 0 and TO >= FROM";
            return null;
        }
        if ((to - from) / step + 1 > maxCount)
        {
            problem = $"more than {maxCount} values";
            return null;
        }
        var r = new List<double>();
        for (int i = 0; from + i * step <= to + 1e-9 * Math.Max(1, Math.Abs(to)); i++) r.Add(from + i * step);
        return r.ToArray();
    }

    private static bool TryNumber(string s, out double r) =>
        double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out r) && double.IsFinite(r);

    private static string Range(int min, int max) => (min, max) switch
    {
        (int.MinValue, int.MaxValue) => "",
        (_, int.MaxValue) => $" >= {min}",
        _ => $" in [{min}, {max}]",
    };

    private static string RangeNote(int min, int max) => (min, max) switch
    {
        (int.MinValue, int.MaxValue) or (0, int.MaxValue) => "",
        (_, int.MaxValue) => $", >= {min}",
        _ => $", {min} to {max}",
    };

    private static string RangeText(double min, double max, bool exMin, bool exMax)
    {
        bool lo = !double.IsNegativeInfinity(min), hi = !double.IsPositiveInfinity(max);
        string f(double x) => x.ToString(CultureInfo.InvariantCulture);
        if (lo && hi) return $" in {(exMin ? "(" : "[")}{f(min)}, {f(max)}{(exMax ? ")" : "]")}";
        if (lo) return exMin ? $" > {f(min)}" : $" >= {f(min)}";
        if (hi) return exMax ? $" < {f(max)}" : $" <= {f(max)}";
        return "";
    }
}
