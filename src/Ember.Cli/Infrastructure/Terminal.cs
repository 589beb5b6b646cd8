using Ember.Training;
using Spectre.Console;

namespace Ember.Cli.Infrastructure;

/// <summary>
/// Where the commands write: result tables on stdout, progress and log lines on stderr. On a terminal, tables are
/// Spectre.Console tables and training shows live progress bars (epoch and batch, ETA, live loss); when a stream is
/// redirected (a pipe, a log file, CI) the same content is plain aligned text, one line per event, and
/// <c>--quiet</c> drops the progress. Created per invocation, over the current <see cref="Console.Out"/> and
/// <see cref="Console.Error"/>.
/// </summary>
internal sealed class Terminal
{
    private readonly IAnsiConsole _err;
    private readonly IAnsiConsole _out;

    /// <summary>No progress or log lines (results and errors still print).</summary>
    public bool Quiet { get; }

    /// <summary>Tables are drawn with box characters (stdout is a terminal).</summary>
    public bool RichOutput { get; }

    /// <summary>Live progress bars (stderr is a terminal and not quiet).</summary>
    public bool LiveProgress { get; }

    public Terminal(bool quiet)
    {
        Quiet = quiet;
        bool dumb = Environment.GetEnvironmentVariable("TERM") is "dumb" || Environment.GetEnvironmentVariable("NO_COLOR") is not null
            || Environment.GetEnvironmentVariable("CI") is not null;
        RichOutput = !Console.IsOutputRedirected && !dumb;
        LiveProgress = !quiet && !Console.IsErrorRedirected && !dumb;
        _out = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(Console.Out),
            Ansi = RichOutput ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = RichOutput ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = RichOutput ? InteractionSupport.Detect : InteractionSupport.No,
        });
        _err = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(Console.Error),
            Ansi = LiveProgress ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = LiveProgress ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = LiveProgress ? InteractionSupport.Detect : InteractionSupport.No,
        });
    }

    /// <summary>A result line on stdout.</summary>
    public void Line(string text = "") => Console.Out.WriteLine(text);

    /// <summary>A progress or log line on stderr (dropped with --quiet).</summary>
    public void Log(string text)
    {
        if (!Quiet) Console.Error.WriteLine(text);
    }

    /// <summary>The log sink for recipes that report as they go (null with --quiet).</summary>
    public Action<string>? Logger => Quiet ? null : Log;

    /// <summary>A table on stdout: a Spectre table on a terminal, aligned plain columns otherwise; with
    /// <paramref name="numeric"/>, every column but the first is right-aligned.</summary>
    public void Table(IReadOnlyList<string> headers, IEnumerable<IReadOnlyList<string>> rows, string? title = null, bool numeric = true)
    {
        var data = rows.ToList();
        if (RichOutput)
        {
            var t = new Table { Border = TableBorder.Rounded };
            if (title is not null) t.Title = new TableTitle(Markup.Escape(title));
            for (int c = 0; c < headers.Count; c++)
            {
                var col = new TableColumn(Markup.Escape(headers[c]));
                t.AddColumn(c == 0 || !numeric ? col.LeftAligned() : col.RightAligned());
            }
            foreach (var r in data) t.AddRow(r.Select(v => new Spectre.Console.Text(v)).ToArray<Spectre.Console.Rendering.IRenderable>());
            _out.Write(t);
            return;
        }
        if (title is not null) Console.Out.WriteLine(title);
        var widths = headers.Select((h, c) => Math.Max(h.Length, data.Count == 0 ? 0 : data.Max(r => c < r.Count ? r[c].Length : 0))).ToArray();
        string Format(IReadOnlyList<string> cells) => string.Join("  ", cells.Select((v, c) => c == 0 || !numeric ? v.PadRight(widths[c]) : v.PadLeft(widths[c]))).TrimEnd();
        Console.Out.WriteLine(Format(headers));
        foreach (var r in data) Console.Out.WriteLine(Format(r));
    }

    /// <summary>Runs <paramref name="work"/> under a spinner with <paramref name="status"/> on a terminal; plain otherwise.</summary>
    public T Status<T>(string status, Func<T> work)
    {
        if (!LiveProgress) return work();
        T result = default!;
        _err.Status().Spinner(Spinner.Known.Dots).Start(Markup.Escape(status), _ => result = work());
        return result;
    }

    /// <summary>Runs a training under live progress bars on a terminal (or plain per-epoch lines, or nothing with
    /// --quiet); <paramref name="work"/> receives what to pass as <see cref="TrainerOptions.ProgressReporter"/>.</summary>
    public T Training<T>(Func<ITrainingProgress?, T> work)
    {
        if (Quiet) return work(null);
        if (!LiveProgress) return work(new PlainProgress(this));
        T result = default!;
        _err.Progress()
            .AutoClear(true)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                new ElapsedTimeColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx => result = work(new LiveTrainingProgress(ctx, _err)));
        return result;
    }

    /// <summary>One line per epoch on stderr (CI logs stay readable).</summary>
    private sealed class PlainProgress(Terminal terminal) : ITrainingProgress
    {
        public void EpochStarted(int epoch, int epochs, int steps) { }
        public void StepCompleted(int epoch, int step, int steps, double meanLoss, double samplesPerSecond) { }
        public void EpochCompleted(EpochMetrics metrics, int epochs, bool classification) =>
            terminal.Log(ConsoleTrainingProgress.Describe(metrics, epochs, classification));
        public void Note(string message) => terminal.Log(message);
    }

    /// <summary>Two bars: the epochs, and the batches of the current epoch with its live loss and throughput; each
    /// finished epoch leaves its summary line above them.</summary>
    private sealed class LiveTrainingProgress(ProgressContext ctx, IAnsiConsole console) : ITrainingProgress
    {
        private ProgressTask? _epochs, _batches;
        private DateTime _lastDraw;

        public void EpochStarted(int epoch, int epochs, int steps)
        {
            _epochs ??= ctx.AddTask("epochs", maxValue: epochs);
            _epochs.Value = epoch - 1;
            _epochs.Description = $"epoch {epoch}/{epochs}";
            _batches ??= ctx.AddTask("batches", maxValue: Math.Max(1, steps));
            _batches.MaxValue = Math.Max(1, steps);
            _batches.Value = 0;
            _batches.StartTask();
        }

        public void StepCompleted(int epoch, int step, int steps, double meanLoss, double samplesPerSecond)
        {
            if (_batches is null) return;
            _batches.Value = step;
            var now = DateTime.UtcNow;
            if (now - _lastDraw < TimeSpan.FromMilliseconds(100) && step != steps) return;
            _lastDraw = now;
            _batches.Description = $"batch {step}/{steps}  loss {meanLoss:F4}  {samplesPerSecond:N0}/s";
        }

        public void EpochCompleted(EpochMetrics metrics, int epochs, bool classification)
        {
            if (_epochs is not null) _epochs.Value = metrics.Epoch;
            console.WriteLine(ConsoleTrainingProgress.Describe(metrics, epochs, classification));
        }

        public void Note(string message) => console.WriteLine(message);
    }
}
