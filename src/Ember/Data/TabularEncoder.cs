using System.Globalization;
using System.Text.Json;
using Ember.IO;

namespace Ember.Data;

/// <summary>How a CSV column is turned into features.</summary>
public enum ColumnKind { Numeric, Categorical }

/// <summary>
/// Turns CSV rows into a float32 feature matrix and a target: numeric columns standardized with the mean and
/// standard deviation of the fitting rows (missing values → the fitted mean, plus a 0/1 "missing" feature when
/// the column had gaps), categorical columns one-hot over their fitted vocabulary plus an unknown bucket. A
/// categorical target becomes int64 class indices; a numeric target a float32 (N, 1) regression target. The
/// fitted state serializes to JSON so prediction applies exactly the same steps.
/// </summary>
public sealed class TabularEncoder
{
    public sealed record Column(string Name, ColumnKind Kind, double Mean, double Std, bool HasMissing, string[] Vocabulary);

    public List<Column> Features { get; init; } = new();
    public string Target { get; init; } = "";
    public ColumnKind TargetKind { get; init; }
    public string[] Classes { get; init; } = [];

    /// <summary>Number of feature columns after encoding.</summary>
    public int Width => Features.Sum(c => c.Kind == ColumnKind.Numeric ? 1 + (c.HasMissing ? 1 : 0) : c.Vocabulary.Length + 1);

    /// <summary>Infers column kinds (numeric when every non-missing cell parses as a number; overrides win) and fits
    /// on <paramref name="rows"/> (the training rows only).</summary>
    public static TabularEncoder Fit(CsvTable table, string target, IEnumerable<int> rows, IReadOnlyDictionary<string, ColumnKind>? overrides = null, IEnumerable<string>? ignore = null)
    {
        int ti = table.ColumnIndex(target);
        var fitRows = rows.ToArray();
        var skip = new HashSet<string>(ignore ?? []);
        foreach (var s in skip) table.ColumnIndex(s);
        ColumnKind Kind(int col)
        {
            if (overrides is not null && overrides.TryGetValue(table.Columns[col], out var k)) return k;
            return table.Rows.All(r => CsvTable.IsMissing(r[col]) || CsvTable.TryNumber(r[col], out _)) ? ColumnKind.Numeric : ColumnKind.Categorical;
        }
        var features = new List<Column>();
        for (int col = 0; col < table.Columns.Length; col++)
        {
            if (col == ti || skip.Contains(table.Columns[col])) continue;
            var kind = Kind(col);
            if (kind == ColumnKind.Numeric)
            {
                var vals = new List<double>();
                bool missing = false;
                foreach (int r in fitRows)
                {
                    var cell = table.Rows[r][col];
                    if (CsvTable.IsMissing(cell)) { missing = true; continue; }
                    if (!CsvTable.TryNumber(cell, out double v))
                        throw new InvalidDataException($"CSV: column '{table.Columns[col]}' is numeric but line {table.RowLines[r]} holds '{cell}'.");
                    vals.Add(v);
                }
                double mean = vals.Count > 0 ? vals.Average() : 0;
                double std = vals.Count > 1 ? Math.Sqrt(vals.Sum(v => (v - mean) * (v - mean)) / (vals.Count - 1)) : 1;
                features.Add(new Column(table.Columns[col], kind, mean, std > 1e-12 ? std : 1, missing, []));
            }
            else
            {
                var vocab = fitRows.Select(r => table.Rows[r][col].Trim()).Where(s => !CsvTable.IsMissing(s)).Distinct().Order(StringComparer.Ordinal).ToArray();
                features.Add(new Column(table.Columns[col], kind, 0, 1, false, vocab));
            }
        }
        var tk = Kind(ti);
        var classes = tk == ColumnKind.Categorical
            ? table.Rows.Select(r => r[ti].Trim()).Where(s => !CsvTable.IsMissing(s)).Distinct().Order(StringComparer.Ordinal).ToArray()
            : [];
        return new TabularEncoder { Features = features, Target = target, TargetKind = tk, Classes = classes };
    }

    /// <summary>Encodes rows; <paramref name="withTarget"/> also encodes the target (rows with a missing target are
    /// an error naming the line).</summary>
    public (Tensor X, Tensor? Y) Transform(CsvTable table, IEnumerable<int> rows, bool withTarget = true)
    {
        var rs = rows.ToArray();
        var x = new float[rs.Length * Width];
        var cols = Features.Select(f => table.ColumnIndex(f.Name)).ToArray();
        for (int i = 0; i < rs.Length; i++)
        {
            var row = table.Rows[rs[i]];
            int o = i * Width;
            for (int f = 0; f < Features.Count; f++)
            {
                var c = Features[f];
                var cell = row[cols[f]];
                if (c.Kind == ColumnKind.Numeric)
                {
                    bool miss = CsvTable.IsMissing(cell);
                    double v = c.Mean;
                    if (!miss && !CsvTable.TryNumber(cell, out v))
                        throw new InvalidDataException($"CSV: column '{c.Name}' is numeric but line {table.RowLines[rs[i]]} holds '{cell}'.");
                    x[o++] = (float)((v - c.Mean) / c.Std);
                    if (c.HasMissing) x[o++] = miss ? 1 : 0;
                }
                else
                {
                    int k = Array.BinarySearch(c.Vocabulary, cell.Trim(), StringComparer.Ordinal);
                    x[o + (k >= 0 ? k : c.Vocabulary.Length)] = 1;   // the last slot is the unknown bucket
                    o += c.Vocabulary.Length + 1;
                }
            }
        }
        var X = Tensor.FromArray(x, rs.Length, Width);
        if (!withTarget) return (X, null);
        int ti = table.ColumnIndex(Target);
        if (TargetKind == ColumnKind.Categorical)
        {
            var y = new long[rs.Length];
            for (int i = 0; i < rs.Length; i++)
            {
                var cell = table.Rows[rs[i]][ti].Trim();
                int k = Array.IndexOf(Classes, cell);
                if (k < 0) throw new InvalidDataException($"CSV: target '{Target}' on line {table.RowLines[rs[i]]} is '{cell}', not one of the known classes ({string.Join(", ", Classes)}).");
                y[i] = k;
            }
            return (X, Tensor.FromArray(y));
        }
        var yr = new float[rs.Length];
        for (int i = 0; i < rs.Length; i++)
        {
            var cell = table.Rows[rs[i]][ti];
            if (!CsvTable.TryNumber(cell, out double v))
                throw new InvalidDataException($"CSV: target '{Target}' on line {table.RowLines[rs[i]]} is '{cell}', not a number.");
            yr[i] = (float)v;
        }
        return (X, Tensor.FromArray(yr, rs.Length, 1));
    }

    public string ToJson() => JsonSerializer.Serialize(this);

    public static TabularEncoder FromJson(string json, string source)
    {
        try { return JsonSerializer.Deserialize<TabularEncoder>(json) ?? throw new InvalidDataException($"{source}: empty preprocessing record."); }
        catch (JsonException e) { throw new InvalidDataException($"{source}: unreadable preprocessing record: {e.Message}", e); }
    }
}
