using System.Globalization;

namespace Ember.Cli;

/// <summary>A user-facing error: printed as one line, exit code 2 (no stack trace).</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>Minimal GNU-style option parsing: <c>--name value</c>, <c>--name=value</c>, <c>--flag</c>, positionals.
/// Every typed getter checks its value's range and names the option in its error, so that a bad value is reported
/// as the option the user gave, not as whatever it breaks deeper down.</summary>
public sealed class Args
{
    private readonly Dictionary<string, string?> _options = new();
    private readonly HashSet<string> _used = new();
    public List<string> Positionals { get; } = new();

    public Args(IEnumerable<string> args, IEnumerable<string> flags)
    {
        var flagSet = flags.ToHashSet();
        flagSet.Add("help");
        var list = args.ToList();
        for (int i = 0; i < list.Count; i++)
        {
            var a = list[i];
            if (a is "-h") { _options["help"] = null; continue; }
            if (!a.StartsWith("--") || a == "--") { Positionals.Add(a); continue; }
            var name = a[2..];
            if (name.Contains('='))
            {
                var kv = name.Split('=', 2);
                if (flagSet.Contains(kv[0])) throw new UsageException($"option --{kv[0]} is a flag and takes no value");
                Set(kv[0], kv[1]);
                continue;
            }
            if (flagSet.Contains(name)) { Set(name, null); continue; }
            if (i + 1 >= list.Count) throw new UsageException($"option --{name} needs a value");
            Set(name, list[++i]);
        }
    }

    private void Set(string name, string? value)
    {
        if (name.Length == 0) throw new UsageException("an option name is missing after '--'");
        if (!_options.TryAdd(name, value) && name != "help") throw new UsageException($"option --{name} is given more than once");
    }

    public bool Help => _options.ContainsKey("help");

    public bool Flag(string name) { _used.Add(name); return _options.ContainsKey(name); }

    public string? Get(string name) { _used.Add(name); return _options.TryGetValue(name, out var v) ? v : null; }

    public string Get(string name, string fallback) => Get(name) ?? fallback;

    /// <summary>A path option that must name an existing file or folder (null when absent). It is checked in
    /// <see cref="RejectUnknown"/>, after every option's value: a bad value of another option is reported first.</summary>
    public string? GetExistingPath(string name)
    {
        var v = Get(name);
        if (v is not null) _paths.Add((name, v));
        return v;
    }

    private readonly List<(string Name, string Value)> _paths = new();

    /// <summary>An integer option in [<paramref name="min"/>, <paramref name="max"/>], or <paramref name="fallback"/>
    /// when absent.</summary>
    public int GetInt(string name, int fallback, int min = 0, int max = int.MaxValue) => GetOptionalInt(name, min, max) ?? fallback;

    /// <summary>An integer option in [<paramref name="min"/>, <paramref name="max"/>], or null when absent.</summary>
    public int? GetOptionalInt(string name, int min = 0, int max = int.MaxValue)
    {
        var v = Get(name);
        if (v is null) return null;
        if (!int.TryParse(v, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int r))
            throw new UsageException($"--{name} expects an integer{Range(min, max)}, got '{v}'");
        if (r < min || r > max) throw new UsageException($"--{name} {v}: must be{Range(min, max)}");
        return r;
    }

    /// <summary>A finite number option in [<paramref name="min"/>, <paramref name="max"/>] (excluding the ends where
    /// <paramref name="exclusiveMin"/>/<paramref name="exclusiveMax"/>), or <paramref name="fallback"/> when absent.</summary>
    public double GetDouble(string name, double fallback, double min = double.NegativeInfinity, double max = double.PositiveInfinity,
        bool exclusiveMin = false, bool exclusiveMax = false)
        => GetOptionalDouble(name, min, max, exclusiveMin, exclusiveMax) ?? fallback;

    public double? GetOptionalDouble(string name, double min = double.NegativeInfinity, double max = double.PositiveInfinity,
        bool exclusiveMin = false, bool exclusiveMax = false)
    {
        var v = Get(name);
        if (v is null) return null;
        string range = RangeText(min, max, exclusiveMin, exclusiveMax);
        if (!TryNumber(v, out double r)) throw new UsageException($"--{name} expects a number{range}, got '{v}'");
        if (r < min || r > max || (exclusiveMin && r == min) || (exclusiveMax && r == max)) throw new UsageException($"--{name} {v}: must be{range}");
        return r;
    }

    /// <summary>One of <paramref name="choices"/>, or <paramref name="fallback"/> when absent.</summary>
    public string GetChoice(string name, string fallback, params string[] choices)
    {
        var v = Get(name) ?? fallback;
        return choices.Contains(v) ? v : throw new UsageException($"--{name} {v}: choose {string.Join(", ", choices.SkipLast(1))} or {choices[^1]}");
    }

    /// <summary>Comma-separated integers, each in [<paramref name="min"/>, <paramref name="max"/>].</summary>
    public int[] GetIntList(string name, string fallback, int min = 0, int max = int.MaxValue)
    {
        var v = Get(name) ?? fallback;
        if (v.Length == 0) return [];
        var parts = v.Split(',');
        var r = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i].Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out r[i]) || r[i] < min || r[i] > max)
                throw new UsageException($"--{name} {v}: expected comma-separated integers{Range(min, max)}");
        return r;
    }

    /// <summary>Comma-separated finite numbers.</summary>
    public double[] GetDoubleList(string name, string fallback)
    {
        var v = Get(name) ?? fallback;
        var parts = v.Split(',');
        var r = new double[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!TryNumber(parts[i].Trim(), out r[i])) throw new UsageException($"--{name} {v}: expected comma-separated numbers");
        return r;
    }

    /// <summary>FROM:STEP:TO (STEP &gt; 0, TO ≥ FROM, at most <paramref name="maxCount"/> values) or a comma-separated list.</summary>
    public double[] GetRange(string name, string fallback, int maxCount = 1000)
    {
        var v = Get(name) ?? fallback;
        var p = v.Split(':');
        if (p.Length == 1) return GetDoubleList(name, fallback);
        if (p.Length != 3 || !TryNumber(p[0], out double from) || !TryNumber(p[1], out double step) || !TryNumber(p[2], out double to))
            throw new UsageException($"--{name} {v}: expected FROM:STEP:TO (e.g. -35:5:5) or comma-separated numbers");
        if (step <= 0 || to < from) throw new UsageException($"--{name} {v}: expected FROM:STEP:TO with STEP > 0 and TO >= FROM");
        if ((to - from) / step + 1 > maxCount) throw new UsageException($"--{name} {v}: more than {maxCount} values");
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

    private static string RangeText(double min, double max, bool exMin, bool exMax)
    {
        bool lo = !double.IsNegativeInfinity(min), hi = !double.IsPositiveInfinity(max);
        string f(double x) => x.ToString(CultureInfo.InvariantCulture);
        if (lo && hi) return $" in {(exMin ? "(" : "[")}{f(min)}, {f(max)}{(exMax ? ")" : "]")}";
        if (lo) return exMin ? $" > {f(min)}" : $" >= {f(min)}";
        if (hi) return exMax ? $" < {f(max)}" : $" <= {f(max)}";
        return "";
    }

    /// <summary>Fails on options nobody asked for (typos) and on more than <paramref name="positionals"/> positional
    /// arguments, after a command has read its options.</summary>
    public void RejectUnknown(string command, int positionals = 0)
    {
        var unknown = _options.Keys.Where(k => !_used.Contains(k) && k != "help").ToList();
        if (unknown.Count > 0) throw new UsageException($"{command}: unknown option --{unknown[0]} (see 'ember {command} --help')");
        foreach (var (name, v) in _paths)
            if (v.Length == 0 || !(File.Exists(v) || Directory.Exists(v))) throw new UsageException($"--{name} '{v}': no such file or folder");
        if (Positionals.Count > positionals)
            throw new UsageException($"{command}: unexpected argument '{Positionals[positionals]}' (it takes {(positionals == 0 ? "no" : positionals.ToString(CultureInfo.InvariantCulture))} positional argument{(positionals == 1 ? "" : "s")}; see 'ember {command} --help')");
    }
}
