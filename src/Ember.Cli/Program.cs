using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Parsing;
using System.Text.RegularExpressions;
using Ember.Cli.Commands;
using Ember.Cli.Infrastructure;

namespace Ember.Cli;

/// <summary>The <c>ember</c> command: one System.CommandLine command per file under Commands/, help generated from the
/// options, every user error one line on stderr with exit code 2.</summary>
public static partial class Program
{
    /// <summary>The command tree (tests read its options to fuzz them).</summary>
    public static RootCommand CreateRoot()
    {
        var root = new RootCommand(
            "Ember: deep learning from first principles, in C#. Commands with subcommands: tabular train|predict|explain, " +
            "beamforming simulate|train|evaluate. Tab completion: install dotnet-suggest and register 'ember'.")
        {
            QuickstartCommand.Create(),
            MilestoneCommand.Create(),
            GenerateCommand.Create(),
            TrainCommand.Create(),
            EvaluateCommand.Create(),
            PredictCommand.Create(),
            ExportCommand.Create(),
            CompressCommand.Create(),
            FinetuneCommand.Create(),
            DistillCommand.Create(),
            ServeCommand.Create(),
            ProfileCommand.Create(),
            TuneCommand.Create(),
            TabularCommand.Create(),
            BeamformingCommand.Create(),
            InfoCommand.Create(),
        };
        root.SetAction(_ =>
        {
            Console.Error.WriteLine("ember: missing command. Run 'ember --help' for the list.");
            return 2;
        });
        return root;
    }

    public static int Main(string[] args)
    {
        Arguments = args;
        return Infrastructure.MpiJob.Active ? Infrastructure.MpiJob.Run(() => Execute(args)) : Execute(args);
    }

    /// <summary>The arguments of the command being run (for commands that start copies of themselves: tune's workers).</summary>
    internal static string[] Arguments { get; private set; } = [];

    private static int Execute(string[] args)
    {
        try
        {
            var parse = CreateRoot().Parse(args);
            if (parse.Action is not HelpAction && parse.Errors.Count > 0) return Fail(MisusedFlag(parse, args) ?? Describe(parse, parse.Errors[0]));
            return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false, Output = Console.Out, Error = Console.Error });
        }
        catch (Exception e) when (UserError(e) is Exception user) { return Fail(user.Message); }
    }

    /// <summary>The exception to report as a user error (one line, exit code 2), or null for a bug (which propagates
    /// with its stack trace). Errors from parallel loops arrive wrapped: the first inner one is what went wrong.</summary>
    private static Exception? UserError(Exception e)
    {
        if (e is AggregateException agg) return agg.InnerExceptions.Count > 0 ? UserError(agg.InnerExceptions[0]) : null;
        return e is UsageException or IOException or InvalidDataException or ArgumentException or KeyNotFoundException or NotSupportedException
            or System.Text.Json.JsonException ? e : null;
    }

    private static int Fail(string message)
    {
        // One line: line breaks and other control characters from echoed values are shown escaped.
        var line = string.Concat(message.Select(c => c switch { '\n' => "\\n", '\r' => "\\r", '\t' => "\\t", _ when char.IsControl(c) => $"\\u{(int)c:x4}", _ => c.ToString() }));
        Console.Error.WriteLine("ember: " + line);
        return 2;
    }

    [GeneratedRegex(@"^Unrecognized command or argument '(.*)'\.$", RegexOptions.Singleline)]
    private static partial Regex Unrecognized();

    [GeneratedRegex(@"^Option '(--[a-z0-9-]+)' expects a single argument but \d+ were provided\.$")]
    private static partial Regex Repeated();

    [GeneratedRegex(@"^Option '(--[a-z0-9-]+)' is required\.$")]
    private static partial Regex RequiredOption();

    [GeneratedRegex(@"^Required argument '([^']*)' missing")]
    private static partial Regex MissingArgument();

    /// <summary>"--quiet=x": a value given to an on/off switch (the parser would report the value as a stray argument).</summary>
    private static string? MisusedFlag(ParseResult parse, string[] args)
    {
        var command = parse.CommandResult.Command;
        foreach (var a in args)
        {
            if (!a.StartsWith("--", StringComparison.Ordinal) || a.IndexOf('=') is not (> 2 and var eq)) continue;
            string name = a[..eq];
            if (command.Options.FirstOrDefault(o => o.Name == name) is Option<bool>)
                return $"{CommandPrefix(command)}{name} is a flag and takes no value";
        }
        return null;
    }

    private static string CommandPrefix(Command command) => CommandPath(command) is { Length: > 0 } path ? path + ": " : "";

    /// <summary>A parse error in Ember's words: the command, the option or argument, and a suggestion for a typo.</summary>
    private static string Describe(ParseResult parse, ParseError error)
    {
        var command = parse.CommandResult.Command;
        string path = CommandPath(command), see = path.Length == 0 ? "'ember --help'" : $"'ember {path} --help'";
        string prefix = path.Length == 0 ? "" : path + ": ";
        string message = error.Message;
        if (Unrecognized().Match(message) is { Success: true } u)
        {
            string token = u.Groups[1].Value;
            if (token.StartsWith('-'))
            {
                string name = token.Split('=', 2)[0];
                string? guess = Closest(name, command.Options.SelectMany(o => o.Aliases.Append(o.Name)));
                return $"{prefix}unknown option {name}{(guess is null ? "" : $" (did you mean {guess}?)")}; see {see}";
            }
            if (command.Subcommands.Count > 0 && command.Arguments.Count == 0)
            {
                string? guess = Closest(token, command.Subcommands.Select(c => c.Name));
                return path.Length == 0
                    ? $"unknown command '{token}'{(guess is null ? "" : $" (did you mean '{guess}'?)")}. Run 'ember --help' for the list."
                    : $"{prefix}unknown subcommand '{token}' ({string.Join(", ", command.Subcommands.Select(c => c.Name))}); see {see}";
            }
            return $"{prefix}unexpected argument '{token}' (see {see})";
        }
        if (Repeated().Match(message) is { Success: true } r) return $"{prefix}{r.Groups[1].Value} is given more than once";
        if (RequiredOption().Match(message) is { Success: true } q) return $"{prefix}{q.Groups[1].Value} is required (see {see})";
        if (message.StartsWith("Required command was not provided", StringComparison.Ordinal))
            return $"{prefix}missing subcommand ({string.Join(", ", command.Subcommands.Select(c => c.Name))}); see {see}";
        if (MissingArgument().Match(message) is { Success: true } m) return $"{prefix}missing {m.Groups[1].Value} (see {see})";
        return message;
    }

    private static string CommandPath(Command command)
    {
        var names = new List<string>();
        for (Symbol? s = command; s is Command c && s is not RootCommand; s = c.Parents.FirstOrDefault()) names.Insert(0, c.Name);
        return string.Join(" ", names);
    }

    /// <summary>The candidate within edit distance 2 of <paramref name="token"/> (or a third of its length), if any.</summary>
    private static string? Closest(string token, IEnumerable<string> candidates)
    {
        string? best = null;
        int bestDistance = Math.Max(2, token.Length / 3) + 1;
        foreach (var c in candidates.Distinct())
        {
            int d = Distance(token, c);
            if (d < bestDistance) (best, bestDistance) = (c, d);
        }
        return best;
    }

    private static int Distance(string a, string b)
    {
        var row = Enumerable.Range(0, b.Length + 1).ToArray();
        for (int i = 1; i <= a.Length; i++)
        {
            int diag = row[0];
            row[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int up = row[j];
                row[j] = Math.Min(Math.Min(row[j] + 1, row[j - 1] + 1), diag + (a[i - 1] == b[j - 1] ? 0 : 1));
                diag = up;
            }
        }
        return row[b.Length];
    }
}
