using System.Globalization;
using System.Text.Json;

namespace Ember.Recipes.Tabular;

/// <summary>How a CSV column is turned into features.</summary>
public enum ColumnKind { Numeric, Categorical, Text, Date }

/// <summary>
/// Turns CSV rows into tensors, fitted on the training rows only:
/// <list type="bullet">
/// <item><description>numeric columns standardized with the fitted mean and standard deviation; a missing cell becomes the
/// mean, plus a 0/1 "missing" feature when the column had gaps;</description></item>
/// <item><description>categorical columns: one-hot over the fitted vocabulary plus an unknown bucket (unseen and missing
/// values) for dense models, or the category index per column for embedding models;</description></item>
/// <item><description>date columns (yyyy-MM-dd or ISO 8601): the standardized year fraction and the sine and cosine of the
/// day of the year and of the weekday, plus a missing flag when needed;</description></item>
/// <item><description>text columns are left to a tokenizer (<see cref="TextFeaturizer"/>): they add no dense features.</description></item>
/// </list>
/// A categorical target becomes int64 class indices; a numeric target a float32 (N, 1) regression target. The fitted
/// state serializes to JSON, so prediction applies exactly the same steps.
/// </summary>
public sealed class TabularEncoder
{
    public sealed record Column(string Name, ColumnKind Kind, double Mean, double Std, bool HasMissing, string[] Vocabulary);

    public List<Column> Features { get; init; } = new();
    public string Target { get; init; } = "";
    public ColumnKind TargetKind { get; init; }
    public string[] Classes { get; init; } = [];

    /// <summary>Number of dense features after encoding (what an MLP or a linear model reads).</summary>
    public int Width => Features.Sum(DenseWidth);

    /// <summary>Number of scalar features (numeric, missing flags, date parts): the numeric tokens of a feature tokenizer.</summary>
    public int NumericWidth => Features.Where(c => c.Kind is ColumnKind.Numeric or ColumnKind.Date).Sum(DenseWidth);

    /// <summary>Vocabulary size + 1 (the unknown bucket) of each categorical column, in order.</summary>
    public int[] Cardinalities => Features.Where(c => c.Kind == ColumnKind.Categorical).Select(c => c.Vocabulary.Length + 1).ToArray();

    /// <summary>The text columns, in order.</summary>
    public string[] TextColumns => Features.Where(c => c.Kind == ColumnKind.Text).Select(c => c.Name).ToArray();

    private static int DenseWidth(Column c) => c.Kind switch
    {
        ColumnKind.Numeric => 1 + (c.HasMissing ? 1 : 0),
        ColumnKind.Date => 5 + (c.HasMissing ? 1 : 0),
        ColumnKind.Categorical => c.Vocabulary.Length + 1,
        _ => 0,
    };

    internal static bool TryDate(string s, out DateTime d) =>
        DateTime.TryParseExact(s.Trim(), ["yyyy-MM-dd", "yyyy-MM-ddTHH:mm:ss", "yyyy-MM-dd HH:mm:ss", "yyyy-MM-ddTHH:mm:ssK", "yyyy/MM/dd"],
            CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal, out d);

    /// <summary>The kind a column would get without overrides: numeric when every non-missing cell parses as a number,
    /// date when every one parses as a date, text when its values are mostly distinct multi-word strings (mean length
    /// ≥ 20 characters, more than half distinct, most holding a space), categorical otherwise.</summary>
    public static ColumnKind InferKind(CsvTable table, int col)
    {
        var cells = table.Rows.Select(r => r[col]).Where(c => !CsvTable.IsMissing(c)).ToList();
        if (cells.Count == 0 || cells.All(c => CsvTable.TryNumber(c, out _))) return ColumnKind.Numeric;
        if (cells.All(c => TryDate(c, out _))) return ColumnKind.Date;
        double meanLength = cells.Average(c => c.Length);
        double distinct = cells.Distinct().Count() / (double)cells.Count;
        double spaced = cells.Count(c => c.Trim().Contains(' ')) / (double)cells.Count;
        return meanLength >= 20 && distinct > 0.5 && spaced > 0.5 ? ColumnKind.Text : ColumnKind.Categorical;
    }

    /// <summary>Infers column kinds (overrides win) and fits on <paramref name="rows"/> (the training rows only). Categories
    /// seen fewer than <paramref name="minCategoryCount"/> times there go to the unknown bucket.</summary>
    public static TabularEncoder Fit(CsvTable table, string target, IEnumerable<int> rows, IReadOnlyDictionary<string, ColumnKind>? overrides = null,
        IEnumerable<string>? ignore = null, int minCategoryCount = 1)
    {
        if (minCategoryCount < 1) throw new ArgumentException($"TabularEncoder.Fit: the minimum category count must be at least 1, got {minCategoryCount}.");
        int ti = table.ColumnIndex(target);
        var fitRows = rows.ToArray();
        if (fitRows.Length == 0) throw new ArgumentException("TabularEncoder.Fit: no rows to fit on.");
        var skip = new HashSet<string>(ignore ?? []);
        foreach (var s in skip) table.ColumnIndex(s);
        if (overrides is not null) foreach (var name in overrides.Keys) table.ColumnIndex(name);
        ColumnKind Kind(int col) => overrides is not null && overrides.TryGetValue(table.Columns[col], out var k) ? k : InferKind(table, col);
        var features = new List<Column>();
        for (int col = 0; col < table.Columns.Length; col++)
        {
            if (col == ti || skip.Contains(table.Columns[col])) continue;
            var kind = Kind(col);
            string name = table.Columns[col];
            switch (kind)
            {
                case ColumnKind.Numeric:
                case ColumnKind.Date:
                {
                    var vals = new List<double>();
                    bool missing = false;
                    foreach (int r in fitRows)
                    {
                        var cell = table.Rows[r][col];
                        if (CsvTable.IsMissing(cell)) { missing = true; continue; }
                        vals.Add(Scalar(kind, name, cell, table.RowLines[r]));
                    }
                    double mean = vals.Count > 0 ? vals.Average() : 0;
                    double std = vals.Count > 1 ? Math.Sqrt(vals.Sum(v => (v - mean) * (v - mean)) / (vals.Count - 1)) : 1;
                    features.Add(new Column(name, kind, mean, std > 1e-12 ? std : 1, missing, []));
                    break;
                }
                case ColumnKind.Categorical:
                {
                    // Categories seen fewer than minCategoryCount times share the unknown bucket: an identifier-like column
                    // (a product id, unique per row) would otherwise let a model memorize the training rows.
                    var vocab = fitRows.Select(r => table.Rows[r][col].Trim()).Where(s => !CsvTable.IsMissing(s)).GroupBy(s => s, StringComparer.Ordinal)
                        .Where(g => g.Count() >= minCategoryCount).Select(g => g.Key).Order(StringComparer.Ordinal).ToArray();
                    features.Add(new Column(name, kind, 0, 1, false, vocab));
                    break;
                }
                default:
                    features.Add(new Column(name, kind, 0, 1, false, []));
                    break;
            }
        }
        var tk = overrides is not null && overrides.TryGetValue(target, out var tko) ? tko
            : table.Rows.All(r => CsvTable.IsMissing(r[ti]) || CsvTable.TryNumber(r[ti], out _)) ? ColumnKind.Numeric : ColumnKind.Categorical;
        if (tk is not (ColumnKind.Numeric or ColumnKind.Categorical))
            throw new ArgumentException($"TabularEncoder.Fit: the target '{target}' must be numeric (regression) or categorical (classification), not {tk}.");
        var classes = tk == ColumnKind.Categorical
            ? table.Rows.Select(r => r[ti].Trim()).Where(s => !CsvTable.IsMissing(s)).Distinct().Order(StringComparer.Ordinal).ToArray()
            : [];
        return new TabularEncoder { Features = features, Target = target, TargetKind = tk, Classes = classes };
    }

    /// <summary>A numeric cell's value, or a date's year fraction; an unparsable cell is an error naming the line.</summary>
    private static double Scalar(ColumnKind kind, string column, string cell, int line)
    {
        if (kind == ColumnKind.Numeric)
            return CsvTable.TryNumber(cell, out double v) ? v
                : throw new InvalidDataException($"CSV: column '{column}' is numeric but line {line} holds '{cell}'.");
        return TryDate(cell, out var d) ? d.Year + (d.DayOfYear - 1) / 366.0
            : throw new InvalidDataException($"CSV: column '{column}' holds dates but line {line} holds '{cell}'.");
    }

    /// <summary>Encodes rows as dense features; <paramref name="withTarget"/> also encodes the target (rows with a missing
    /// target are an error naming the line).</summary>
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
                if (c.Kind == ColumnKind.Categorical)
                {
                    x[o + Category(c, row[cols[f]])] = 1;
                    o += c.Vocabulary.Length + 1;
                }
                else if (c.Kind != ColumnKind.Text) o = WriteScalars(c, row[cols[f]], table.RowLines[rs[i]], x, o);
            }
        }
        var X = Tensor.FromArray(x, rs.Length, Width);
        return (X, withTarget ? TransformTarget(table, rs) : null);
    }

    /// <summary>Encodes rows column by column for embedding models: the scalar features (N, <see cref="NumericWidth"/>)
    /// and each categorical column's category index (N, number of categorical columns; the unknown bucket is the last).</summary>
    public (Tensor Numeric, Tensor Categorical) TransformColumns(CsvTable table, IEnumerable<int> rows)
    {
        var rs = rows.ToArray();
        int nw = NumericWidth, nc = Cardinalities.Length;
        var x = new float[rs.Length * nw];
        var k = new long[rs.Length * nc];
        var cols = Features.Select(f => table.ColumnIndex(f.Name)).ToArray();
        for (int i = 0; i < rs.Length; i++)
        {
            var row = table.Rows[rs[i]];
            int o = i * nw, oc = i * nc;
            for (int f = 0; f < Features.Count; f++)
            {
                var c = Features[f];
                if (c.Kind == ColumnKind.Categorical) k[oc++] = Category(c, row[cols[f]]);
                else if (c.Kind != ColumnKind.Text) o = WriteScalars(c, row[cols[f]], table.RowLines[rs[i]], x, o);
            }
        }
        return (Tensor.FromArray(x, rs.Length, nw), Tensor.FromArray(k, rs.Length, nc));
    }

    /// <summary>The cells of a text column for the rows (missing cells become empty strings).</summary>
    public static string[] TextCells(CsvTable table, string column, IEnumerable<int> rows)
    {
        int ci = table.ColumnIndex(column);
        return rows.Select(r => CsvTable.IsMissing(table.Rows[r][ci]) ? "" : table.Rows[r][ci]).ToArray();
    }

    private static int Category(Column c, string cell)
    {
        int k = Array.BinarySearch(c.Vocabulary, cell.Trim(), StringComparer.Ordinal);
        return k >= 0 ? k : c.Vocabulary.Length;   // the last slot is the unknown bucket (unseen or missing)
    }

    private static int WriteScalars(Column c, string cell, int line, float[] x, int o)
    {
        bool miss = CsvTable.IsMissing(cell);
        if (c.Kind == ColumnKind.Numeric)
        {
            double v = miss ? c.Mean : Scalar(c.Kind, c.Name, cell, line);
            x[o++] = (float)((v - c.Mean) / c.Std);
        }
        else
        {
            if (miss) o += 5;   // all zero: the standardized mean year and no seasonal signal
            else
            {
                if (!TryDate(cell, out var d)) Scalar(c.Kind, c.Name, cell, line);   // throws, naming the line
                double year = d.Year + (d.DayOfYear - 1) / 366.0;
                double doy = 2 * Math.PI * (d.DayOfYear - 1) / 366.0, dow = 2 * Math.PI * (int)d.DayOfWeek / 7.0;
                x[o++] = (float)((year - c.Mean) / c.Std);
                x[o++] = (float)Math.Sin(doy);
                x[o++] = (float)Math.Cos(doy);
                x[o++] = (float)Math.Sin(dow);
                x[o++] = (float)Math.Cos(dow);
            }
        }
        if (c.HasMissing) x[o++] = miss ? 1 : 0;
        return o;
    }

    /// <summary>Class indices (int64) or values (float32, (N, 1)) of the target for the rows.</summary>
    public Tensor TransformTarget(CsvTable table, IReadOnlyList<int> rs)
    {
        int ti = table.ColumnIndex(Target);
        if (TargetKind == ColumnKind.Categorical)
        {
            var y = new long[rs.Count];
            for (int i = 0; i < rs.Count; i++)
            {
                var cell = table.Rows[rs[i]][ti].Trim();
                int k = Array.IndexOf(Classes, cell);
                if (k < 0) throw new InvalidDataException($"CSV: target '{Target}' on line {table.RowLines[rs[i]]} is '{cell}', not one of the known classes ({string.Join(", ", Classes)}).");
                y[i] = k;
            }
            return Tensor.FromArray(y);
        }
        var yr = new float[rs.Count];
        for (int i = 0; i < rs.Count; i++)
        {
            var cell = table.Rows[rs[i]][ti];
            if (!CsvTable.TryNumber(cell, out double v))
                throw new InvalidDataException($"CSV: target '{Target}' on line {table.RowLines[rs[i]]} is '{cell}', not a number.");
            yr[i] = (float)v;
        }
        return Tensor.FromArray(yr, rs.Count, 1);
    }

    public string ToJson() => JsonSerializer.Serialize(this);

    public static TabularEncoder FromJson(string json, string source)
    {
        try { return JsonSerializer.Deserialize<TabularEncoder>(json) ?? throw new InvalidDataException($"{source}: empty preprocessing record."); }
        catch (JsonException e) { throw new InvalidDataException($"{source}: unreadable preprocessing record: {e.Message}", e); }
    }
}
