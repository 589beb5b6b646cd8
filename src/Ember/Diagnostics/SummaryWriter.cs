using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using Ember.IO;

namespace Ember.Diagnostics;

/// <summary>
/// Writes TensorBoard event files, as <c>torch.utils.tensorboard.SummaryWriter</c> does: scalars, histograms,
/// images, text and hyperparameters, for <c>tensorboard --logdir DIR</c>. The core library has no protobuf
/// dependency, so the messages are encoded here from their definitions:
/// <list type="bullet">
/// <item>the file is a TFRecord stream: per record a little-endian uint64 length, the masked CRC-32C of those 8
/// bytes, the data, the masked CRC-32C of the data (<see cref="Crc32C.Mask"/>);</item>
/// <item>each record is an <c>Event</c> (tensorboard/compat/proto/event.proto: wall_time 1, step 2, file_version 3,
/// summary 5); the first says <c>file_version = "brain.Event:2"</c>;</item>
/// <item>a <c>Summary</c> (summary.proto) holds <c>Value</c>s: tag 1, simple_value 2, image 4, histo 5, tensor 8,
/// metadata 9 (plugin name and content, for the text and hparams plugins).</item>
/// </list>
/// Every record is flushed to the operating system when written (a crash loses at most the record being written;
/// TensorBoard skips a torn last record), and to disk on <see cref="Flush"/> and <see cref="Dispose"/>. Thread-safe.
/// </summary>
public sealed class SummaryWriter : IDisposable
{
    private static int s_counter;
    private readonly FileStream _stream;
    private readonly object _gate = new();
    private readonly HashSet<string> _tagsWithMetadata = new();
    private bool _disposed;

    /// <summary>Opens a new event file in <paramref name="logDir"/> (created if missing), named as TensorFlow names
    /// them: <c>events.out.tfevents.{unix seconds}.{host}.{pid}.{n}{suffix}</c>.</summary>
    public SummaryWriter(string logDir, string filenameSuffix = "")
    {
        ArgumentException.ThrowIfNullOrEmpty(logDir);
        LogDir = Path.GetFullPath(logDir);
        try { Directory.CreateDirectory(LogDir); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"SummaryWriter: cannot create the log folder '{LogDir}': {e.Message}", e);
        }
        long seconds = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        string host = SafeHost();
        FilePath = Path.Combine(LogDir, $"events.out.tfevents.{seconds:D10}.{host}.{Environment.ProcessId}.{Interlocked.Increment(ref s_counter)}{filenameSuffix}");
        _stream = new FileStream(FilePath, FileMode.CreateNew, FileAccess.Write, FileShare.Read);
        // The first record, as every TensorFlow writer begins: wall time and file_version (24 bytes).
        WriteRecord(new ProtoWriter().Double(1, WallTime()).String(3, "brain.Event:2").Span);
    }

    /// <summary>The folder the event file is in.</summary>
    public string LogDir { get; }

    /// <summary>The event file.</summary>
    public string FilePath { get; }

    private static string SafeHost()
    {
        var name = Environment.MachineName;
        var sb = new StringBuilder(name.Length);
        foreach (char ch in name) sb.Append(char.IsAsciiLetterOrDigit(ch) || ch is '-' or '_' ? ch : '_');
        return sb.Length > 0 ? sb.ToString() : "host";
    }

    private static double WallTime() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;

    /// <summary>A scalar point of the series <paramref name="tag"/> ("train/loss") at <paramref name="step"/>.</summary>
    public void AddScalar(string tag, double value, long step, double? wallTime = null)
    {
        CheckTag(tag, nameof(AddScalar));
        WriteSummary(new ProtoWriter().String(1, tag).Float(2, (float)value), step, wallTime);
    }

    /// <summary>A histogram of <paramref name="values"/> (any shape) in <paramref name="bins"/> equal-width buckets
    /// between their minimum and maximum, with count, sum and sum of squares (TensorBoard's HistogramProto: bucket
    /// i counts the values in (limit[i−1], limit[i]], the first from the minimum). Non-finite values are refused,
    /// naming the tag and how many there are.</summary>
    public void AddHistogram(string tag, Tensor values, long step, int bins = 30, double? wallTime = null)
    {
        CheckTag(tag, nameof(AddHistogram));
        ArgumentNullException.ThrowIfNull(values);
        ArgumentOutOfRangeException.ThrowIfLessThan(bins, 1);
        var v = values.Detach().To(DType.Float64).Contiguous().ToArray<double>();
        if (v.Length == 0) throw new ArgumentException($"SummaryWriter.AddHistogram('{tag}'): no values", nameof(values));
        double min = double.PositiveInfinity, max = double.NegativeInfinity, sum = 0, sumSq = 0;
        int nonFinite = 0;
        foreach (double d in v)
        {
            if (!double.IsFinite(d)) { nonFinite++; continue; }
            if (d < min) min = d;
            if (d > max) max = d;
            sum += d;
            sumSq += d * d;
        }
        if (nonFinite > 0)
            throw new ArgumentException($"SummaryWriter.AddHistogram('{tag}'): {nonFinite} of {v.Length} values are NaN or infinite", nameof(values));
        var limits = new double[bins];
        var counts = new double[bins];
        double width = (max - min) / bins;
        for (int i = 0; i < bins; i++) limits[i] = i == bins - 1 ? max : min + width * (i + 1);
        foreach (double d in v)
        {
            // Bucket i holds (limit[i-1], limit[i]]: the smallest i with d <= limit[i] (the minimum goes to bucket 0).
            int i = width > 0 ? (int)Math.Ceiling((d - min) / width) - 1 : 0;
            i = Math.Clamp(i, 0, bins - 1);
            while (i > 0 && d <= limits[i - 1]) i--;
            while (i < bins - 1 && d > limits[i]) i++;
            counts[i]++;
        }
        var histo = new ProtoWriter().Double(1, min).Double(2, max).Double(3, v.Length).Double(4, sum).Double(5, sumSq)
            .PackedDoubles(6, limits).PackedDoubles(7, counts);
        WriteSummary(new ProtoWriter().String(1, tag).Message(5, histo), step, wallTime);
    }

    /// <summary>An image, (H, W) or (C, H, W) with 1, 2, 3 or 4 channels and values in [0, 1], stored as PNG.</summary>
    public void AddImage(string tag, Tensor image, long step, double? wallTime = null)
    {
        CheckTag(tag, nameof(AddImage));
        ArgumentNullException.ThrowIfNull(image);
        var img = image.Detach();
        byte[] png;
        try { png = Png.Encode(img); }
        catch (ArgumentException e) { throw new ArgumentException($"SummaryWriter.AddImage('{tag}'): {e.Message}", nameof(image), e); }
        int c = img.Dim == 2 ? 1 : img.Size(0), h = img.Size(-2), w = img.Size(-1);
        var im = new ProtoWriter().Int(1, h).Int(2, w).Int(3, c).Bytes(4, png);
        WriteSummary(new ProtoWriter().String(1, tag).Message(4, im), step, wallTime);
    }

    /// <summary>A batch of images (N, C, H, W) or (N, H, W) in [0, 1] as one grid image (<see cref="Images.Grid"/>).</summary>
    public void AddImages(string tag, Tensor images, long step, int columns = 8, double? wallTime = null) =>
        AddImage(tag, Images.Grid(images, columns), step, wallTime);

    /// <summary>A matrix (a confusion matrix, attention weights) drawn as a heat map (<see cref="Images.Heatmap"/>).</summary>
    public void AddHeatmap(string tag, Tensor matrix, long step, int cell = 8, double? wallTime = null) =>
        AddImage(tag, Images.Heatmap(matrix, cell), step, wallTime);

    /// <summary>A text (Markdown) for TensorBoard's text plugin: a DT_STRING tensor of shape [1].</summary>
    public void AddText(string tag, string text, long step, double? wallTime = null)
    {
        CheckTag(tag, nameof(AddText));
        ArgumentNullException.ThrowIfNull(text);
        // TensorProto: dtype 1 (DT_STRING = 7), tensor_shape 2 { dim 2 { size 1 } }, string_val 8.
        var tensor = new ProtoWriter().Int(1, 7)
            .Message(2, new ProtoWriter().Message(2, new ProtoWriter().Int(1, 1)))
            .String(8, text);
        var value = new ProtoWriter().String(1, tag);
        if (FirstUse(tag)) value.Message(9, PluginMetadata("text", ReadOnlySpan<byte>.Empty));
        WriteSummary(value.Message(8, tensor), step, wallTime);
    }

    /// <summary>One run's hyperparameters and final metrics for TensorBoard's HParams dashboard, as
    /// <c>SummaryWriter.add_hparams</c> writes them: the experiment (every hyperparameter's name and type, every
    /// metric's tag), the session's start (the values) and end (success), and each metric as a scalar at
    /// <paramref name="step"/>. Values may be numbers, booleans or strings.</summary>
    public void AddHparams(IReadOnlyDictionary<string, object> hparams, IReadOnlyDictionary<string, double> metrics, long step = 0)
    {
        ArgumentNullException.ThrowIfNull(hparams);
        ArgumentNullException.ThrowIfNull(metrics);
        double now = WallTime();
        var experiment = new ProtoWriter();
        var start = new ProtoWriter();
        foreach (var (name, raw) in hparams)
        {
            var (kind, value) = HparamValue(name, raw);
            experiment.Message(4, new ProtoWriter().String(1, name).Int(4, kind));
            start.Message(1, new ProtoWriter().String(1, name).Message(2, value));
        }
        foreach (var tag in metrics.Keys)
            experiment.Message(5, new ProtoWriter().Message(1, new ProtoWriter().String(2, tag)));
        start.Double(5, now);
        var end = new ProtoWriter().Int(1, 1).Double(2, now);   // STATUS_SUCCESS
        // HParamsPluginData: version 1 (0 today), experiment 2 / session_start_info 3 / session_end_info 4.
        WriteHparams("_hparams_/experiment", new ProtoWriter().Int(1, 0).Message(2, experiment), step);
        WriteHparams("_hparams_/session_start_info", new ProtoWriter().Int(1, 0).Message(3, start), step);
        WriteHparams("_hparams_/session_end_info", new ProtoWriter().Int(1, 0).Message(4, end), step);
        foreach (var (tag, value) in metrics) AddScalar(tag, value, step);
    }

    private void WriteHparams(string tag, ProtoWriter content, long step) =>
        WriteSummary(new ProtoWriter().String(1, tag).Message(9, PluginMetadata("hparams", content.Span)), step, null);

    // google.protobuf.Value: number_value 2, string_value 3, bool_value 4; the HParams DataType: STRING 1, BOOL 2, FLOAT64 3.
    private static (int Kind, ProtoWriter Value) HparamValue(string name, object raw) => raw switch
    {
        bool b => (2, new ProtoWriter().Int(4, b ? 1 : 0)),
        string s => (1, new ProtoWriter().String(3, s)),
        Enum e => (1, new ProtoWriter().String(3, e.ToString())),
        IConvertible c when raw is double or float or int or long or short or byte or uint or ulong or decimal =>
            (3, new ProtoWriter().Double(2, c.ToDouble(CultureInfo.InvariantCulture))),
        null => throw new ArgumentException($"SummaryWriter.AddHparams: hyperparameter '{name}' is null"),
        _ => throw new ArgumentException($"SummaryWriter.AddHparams: hyperparameter '{name}' is a {raw.GetType().Name}; use a number, a bool or a string"),
    };

    private static ProtoWriter PluginMetadata(string plugin, ReadOnlySpan<byte> content) =>
        new ProtoWriter().Message(1, new ProtoWriter().String(1, plugin).Bytes(2, content));

    private bool FirstUse(string tag)
    {
        lock (_gate) return _tagsWithMetadata.Add(tag);
    }

    private static void CheckTag(string tag, string op)
    {
        if (string.IsNullOrWhiteSpace(tag)) throw new ArgumentException($"SummaryWriter.{op}: the tag is empty", nameof(tag));
    }

    private void WriteSummary(ProtoWriter value, long step, double? wallTime)
    {
        var ev = new ProtoWriter().Double(1, wallTime ?? WallTime()).Int(2, step)
            .Message(5, new ProtoWriter().Message(1, value));
        WriteRecord(ev.Span);
    }

    private void WriteRecord(ReadOnlySpan<byte> data)
    {
        Span<byte> header = stackalloc byte[12];
        BinaryPrimitives.WriteUInt64LittleEndian(header, (ulong)data.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(header[8..], Crc32C.Masked(header[..8]));
        Span<byte> footer = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(footer, Crc32C.Masked(data));
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _stream.Write(header);
            _stream.Write(data);
            _stream.Write(footer);
            _stream.Flush(flushToDisk: false);
        }
    }

    /// <summary>Flushes the event file to disk.</summary>
    public void Flush()
    {
        lock (_gate)
        {
            if (!_disposed) _stream.Flush(flushToDisk: true);
        }
    }

    /// <summary>Flushes and closes the event file.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            _stream.Flush(flushToDisk: true);
            _stream.Dispose();
        }
    }
}
