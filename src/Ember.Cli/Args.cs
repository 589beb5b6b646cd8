namespace Ember.Cli;

/// <summary>A user-facing error: printed as one line, exit code 2 (no stack trace).</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>Minimal GNU-style option parsing: <c>--name value</c>, <c>--flag</c>, positionals.</summary>
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
            if (!a.StartsWith("--")) { Positionals.Add(a); continue; }
            var name = a[2..];
            if (name.Contains('=')) { var kv = name.Split('=', 2); _options[kv[0]] = kv[1]; continue; }
            if (flagSet.Contains(name)) { _options[name] = null; continue; }
            if (i + 1 >= list.Count) throw new UsageException($"option --{name} needs a value");
            _options[name] = list[++i];
        }
    }

    public bool Help => _options.ContainsKey("help");

    public bool Flag(string name) { _used.Add(name); return _options.ContainsKey(name); }

    public string? Get(string name) { _used.Add(name); return _options.TryGetValue(name, out var v) ? v : null; }

    public string Get(string name, string fallback) => Get(name) ?? fallback;

    public int GetInt(string name, int fallback)
    {
        var v = Get(name);
        if (v is null) return fallback;
        return int.TryParse(v, out int r) && r >= 0 ? r : throw new UsageException($"--{name} expects a non-negative integer, got '{v}'");
    }

    public double GetDouble(string name, double fallback)
    {
        var v = Get(name);
        if (v is null) return fallback;
        return double.TryParse(v, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double r) && double.IsFinite(r)
            ? r : throw new UsageException($"--{name} expects a number, got '{v}'");
    }

    /// <summary>Fails on options nobody asked for (typos), after a command has read its options.</summary>
    public void RejectUnknown(string command)
    {
        var unknown = _options.Keys.Where(k => !_used.Contains(k) && k != "help").ToList();
        if (unknown.Count > 0) throw new UsageException($"{command}: unknown option --{unknown[0]} (see 'ember {command} --help')");
    }
}
