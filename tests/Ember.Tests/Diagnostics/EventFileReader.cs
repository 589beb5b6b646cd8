using System.Buffers.Binary;
using Google.Protobuf;
using Ember.IO;

namespace Ember.Tests.Diagnostics;

/// <summary>A TensorBoard event-file reader written for the tests from the formats' definitions, independent of the
/// writer: TFRecord framing (length, masked CRC-32C of the length, data, masked CRC-32C of the data: TensorFlow's
/// record_writer.cc) and the messages decoded by Google.Protobuf's own wire reader with the field numbers of
/// tensorboard/compat/proto/{event,summary,histogram,tensor}.proto and plugins/hparams/{api,plugin_data}.proto.</summary>
internal static class EventFileReader
{
    public sealed record Histogram(double Min, double Max, double Num, double Sum, double SumSquares, double[] Limits, double[] Counts);

    public sealed record Image(int Height, int Width, int Colorspace, byte[] Png);

    public sealed record Value(string Tag, float? Simple, Histogram? Histo, Image? Image, string? PluginName, byte[]? PluginContent,
        int? TensorDType, List<string> TensorStrings);

    public sealed record Event(double WallTime, long Step, string? FileVersion, List<Value> Values);

    /// <summary>Every record's data, after checking both CRCs (an exception names the record and which check failed).</summary>
    public static List<byte[]> Records(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var list = new List<byte[]>();
        int at = 0;
        while (at < bytes.Length)
        {
            if (bytes.Length - at < 12) throw new InvalidDataException($"record {list.Count}: {bytes.Length - at} bytes left, a header needs 12");
            ulong len = BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(at));
            uint lenCrc = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 8));
            if (lenCrc != MaskedCrc(bytes.AsSpan(at, 8))) throw new InvalidDataException($"record {list.Count}: length CRC mismatch");
            at += 12;
            var data = bytes.AsSpan(at, checked((int)len)).ToArray();
            at += (int)len;
            uint dataCrc = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at));
            if (dataCrc != MaskedCrc(data)) throw new InvalidDataException($"record {list.Count}: data CRC mismatch");
            at += 4;
            list.Add(data);
        }
        return list;
    }

    /// <summary>The table-driven CRC-32C (the reference path, checked against RFC 3720's vectors) masked as TFRecord does.</summary>
    private static uint MaskedCrc(ReadOnlySpan<byte> data)
    {
        uint crc = Crc32C.ComputeReference(data);
        return unchecked(((crc >> 15) | (crc << 17)) + 0xa282ead8u);
    }

    public static List<Event> Read(string path) => Records(path).Select(ParseEvent).ToList();

    private static IEnumerable<(int Field, CodedInputStream In)> Fields(byte[] message)
    {
        var input = new CodedInputStream(message);
        while (!input.IsAtEnd)
        {
            uint tag = input.ReadTag();
            yield return (WireFormat.GetTagFieldNumber(tag), input);
        }
    }

    private static Event ParseEvent(byte[] data)
    {
        double wall = 0;
        long step = 0;
        string? version = null;
        var values = new List<Value>();
        foreach (var (f, input) in Fields(data))
        {
            switch (f)
            {
                case 1: wall = input.ReadDouble(); break;
                case 2: step = input.ReadInt64(); break;
                case 3: version = input.ReadString(); break;
                case 5:
                    foreach (var (sf, si) in Fields(input.ReadBytes().ToByteArray()))
                        if (sf == 1) values.Add(ParseValue(si.ReadBytes().ToByteArray()));
                        else throw new InvalidDataException($"Summary field {sf}");
                    break;
                default: throw new InvalidDataException($"Event field {f}");
            }
        }
        return new Event(wall, step, version, values);
    }

    private static Value ParseValue(byte[] data)
    {
        string tag = "";
        float? simple = null;
        Histogram? histo = null;
        Image? image = null;
        string? plugin = null;
        byte[]? content = null;
        int? dtype = null;
        var strings = new List<string>();
        foreach (var (f, input) in Fields(data))
        {
            switch (f)
            {
                case 1: tag = input.ReadString(); break;
                case 2: simple = input.ReadFloat(); break;
                case 4: image = ParseImage(input.ReadBytes().ToByteArray()); break;
                case 5: histo = ParseHistogram(input.ReadBytes().ToByteArray()); break;
                case 8:
                    foreach (var (tf, ti) in Fields(input.ReadBytes().ToByteArray()))
                        if (tf == 1) dtype = ti.ReadEnum();
                        else if (tf == 8) strings.Add(ti.ReadString());
                        else ti.SkipLastField();
                    break;
                case 9:
                    foreach (var (mf, mi) in Fields(input.ReadBytes().ToByteArray()))
                        if (mf == 1)
                            foreach (var (pf, pi) in Fields(mi.ReadBytes().ToByteArray()))
                                if (pf == 1) plugin = pi.ReadString();
                                else if (pf == 2) content = pi.ReadBytes().ToByteArray();
                                else pi.SkipLastField();
                        else mi.SkipLastField();
                    break;
                default: throw new InvalidDataException($"Value field {f}");
            }
        }
        return new Value(tag, simple, histo, image, plugin, content, dtype, strings);
    }

    private static Image ParseImage(byte[] data)
    {
        int h = 0, w = 0, c = 0;
        byte[] png = [];
        foreach (var (f, input) in Fields(data))
            switch (f)
            {
                case 1: h = input.ReadInt32(); break;
                case 2: w = input.ReadInt32(); break;
                case 3: c = input.ReadInt32(); break;
                case 4: png = input.ReadBytes().ToByteArray(); break;
                default: throw new InvalidDataException($"Image field {f}");
            }
        return new Image(h, w, c, png);
    }

    private static Histogram ParseHistogram(byte[] data)
    {
        double min = 0, max = 0, num = 0, sum = 0, sq = 0;
        var limits = new List<double>();
        var counts = new List<double>();
        foreach (var (f, input) in Fields(data))
            switch (f)
            {
                case 1: min = input.ReadDouble(); break;
                case 2: max = input.ReadDouble(); break;
                case 3: num = input.ReadDouble(); break;
                case 4: sum = input.ReadDouble(); break;
                case 5: sq = input.ReadDouble(); break;
                case 6: limits.AddRange(Packed(input.ReadBytes().ToByteArray())); break;
                case 7: counts.AddRange(Packed(input.ReadBytes().ToByteArray())); break;
                default: throw new InvalidDataException($"HistogramProto field {f}");
            }
        return new Histogram(min, max, num, sum, sq, limits.ToArray(), counts.ToArray());
    }

    private static IEnumerable<double> Packed(byte[] data)
    {
        var input = new CodedInputStream(data);
        var list = new List<double>();
        while (!input.IsAtEnd) list.Add(input.ReadDouble());
        return list;
    }

    /// <summary>The HParamsPluginData of an hparams summary: which of experiment (2), session_start_info (3),
    /// session_end_info (4) it holds, the hyperparameter names with their DataType (experiment), the values
    /// (session start: number 2, string 3, bool 4 of google.protobuf.Value), the metric tags and the end status.</summary>
    public sealed record Hparams(int Kind, Dictionary<string, int> Types, Dictionary<string, object> Values, List<string> MetricTags, int? Status);

    public static Hparams ParseHparams(byte[] content)
    {
        int kind = 0;
        int? status = null;
        var types = new Dictionary<string, int>();
        var values = new Dictionary<string, object>();
        var metrics = new List<string>();
        foreach (var (f, input) in Fields(content))
        {
            if (f == 1) { input.ReadInt32(); continue; }
            kind = f;
            var body = input.ReadBytes().ToByteArray();
            foreach (var (bf, bi) in Fields(body))
            {
                if (f == 2 && bf == 4)
                {
                    string name = "";
                    int type = 0;
                    foreach (var (hf, hi) in Fields(bi.ReadBytes().ToByteArray()))
                        if (hf == 1) name = hi.ReadString();
                        else if (hf == 4) type = hi.ReadEnum();
                        else hi.SkipLastField();
                    types[name] = type;
                }
                else if (f == 2 && bf == 5)
                {
                    foreach (var (mf, mi) in Fields(bi.ReadBytes().ToByteArray()))
                        if (mf == 1)
                            foreach (var (nf, ni) in Fields(mi.ReadBytes().ToByteArray()))
                                if (nf == 2) metrics.Add(ni.ReadString());
                                else ni.SkipLastField();
                        else mi.SkipLastField();
                }
                else if (f == 3 && bf == 1)
                {
                    string key = "";
                    object? value = null;
                    foreach (var (ef, ei) in Fields(bi.ReadBytes().ToByteArray()))
                        if (ef == 1) key = ei.ReadString();
                        else if (ef == 2)
                            foreach (var (vf, vi) in Fields(ei.ReadBytes().ToByteArray()))
                                value = vf switch { 2 => vi.ReadDouble(), 3 => vi.ReadString(), 4 => vi.ReadBool(), _ => throw new InvalidDataException($"Value field {vf}") };
                        else ei.SkipLastField();
                    values[key] = value!;
                }
                else if (f == 4 && bf == 1) status = bi.ReadEnum();
                else bi.SkipLastField();
            }
        }
        return new Hparams(kind, types, values, metrics, status);
    }
}
