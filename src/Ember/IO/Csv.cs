using System.Globalization;
using System.IO.Compression;
using System.Text;

namespace Ember.IO;

/// <summary>A CSV file as text cells: a header and rows of equal width.</summary>
public sealed class CsvTable
{
    /// <summary>A table of <paramref name="columns"/> and <paramref name="rows"/>; <paramref name="rowLines"/> holds each row's line in the file (for error messages).</summary>
    public CsvTable(string[] columns, List<string[]> rows, List<int> rowLines)
    {
        Columns = columns;
        Rows = rows;
        RowLines = rowLines;
    }

    /// <summary>The header's column names.</summary>
    public string[] Columns { get; }
    /// <summary>The data rows, one string per column.</summary>
    public List<string[]> Rows { get; }
    /// <summary>The 1-based line on which each row starts (for error messages).</summary>
    public List<int> RowLines { get; }

    /// <summary>The index of column <paramref name="name"/>; an error naming the file and the columns when there is none.</summary>
    public int ColumnIndex(string name)
    {
        int i = Array.IndexOf(Columns, name);
        if (i < 0) throw new ArgumentException($"CSV: no column '{name}'. Columns: {string.Join(", ", Columns)}.");
        return i;
    }

    /// <summary>Reads RFC 4180 CSV (quoted fields with "" escapes, delimiters and newlines inside quotes),
    /// gzip-compressed when the file starts with the gzip signature. Rows whose field count differs from the
    /// header are errors naming their line; nothing is dropped silently. Errors in the file are
    /// <see cref="FileFormatException"/>s.</summary>
    public static CsvTable Read(string path, char delimiter = ',', bool header = true)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"CSV: no such file: {path}", path);
        using var fs = File.OpenRead(path);
        Stream s = fs;
        if (fs.Length >= 2)
        {
            int b0 = fs.ReadByte(), b1 = fs.ReadByte();
            fs.Position = 0;
            if (b0 == 0x1f && b1 == 0x8b) s = new GZipStream(fs, CompressionMode.Decompress);
        }
        using var reader = new StreamReader(s, Encoding.UTF8);
        return Parse(reader, path, delimiter, header);
    }

    /// <summary>Parses CSV text (RFC 4180 quoting) from <paramref name="reader"/>; <paramref name="source"/> names it in errors.</summary>
    public static CsvTable Parse(TextReader reader, string source, char delimiter = ',', bool header = true)
    {
        var records = new List<(string[] Fields, int Line)>();
        var field = new StringBuilder();
        var fields = new List<string>();
        int line = 1, recordLine = 1;
        bool inQuotes = false, fieldStarted = false, any = false;
        int c;
        while ((c = reader.Read()) >= 0)
        {
            char ch = (char)c;
            any = true;
            if (inQuotes)
            {
                if (ch == '"')
                {
                    if (reader.Peek() == '"') { reader.Read(); field.Append('"'); }
                    else inQuotes = false;
                }
                else
                {
                    if (ch == '\n') line++;
                    field.Append(ch);
                }
                continue;
            }
            if (ch == '"' && !fieldStarted) { inQuotes = true; fieldStarted = true; continue; }
            if (ch == delimiter) { fields.Add(field.ToString()); field.Clear(); fieldStarted = false; continue; }
            if (ch == '\r') continue;
            if (ch == '\n')
            {
                fields.Add(field.ToString());
                field.Clear();
                fieldStarted = false;
                if (!(fields.Count == 1 && fields[0].Length == 0)) records.Add((fields.ToArray(), recordLine));
                fields.Clear();
                line++;
                recordLine = line;
                continue;
            }
            field.Append(ch);
            fieldStarted = true;
        }
        if (inQuotes) throw new FileFormatException("CSV", source, $"a quoted field opened on line {recordLine} is never closed.");
        if (any && (field.Length > 0 || fields.Count > 0))
        {
            fields.Add(field.ToString());
            records.Add((fields.ToArray(), recordLine));
        }
        if (records.Count == 0) throw new FileFormatException("CSV", source, "is empty.");
        string[] columns;
        int start = 0;
        if (header)
        {
            columns = records[0].Fields.Select(f => f.Trim()).ToArray();
            start = 1;
            var dup = columns.GroupBy(x => x).FirstOrDefault(g => g.Count() > 1);
            if (dup is not null) throw new FileFormatException("CSV", source, "appears more than once in the header.", dup.Key, "column");
        }
        else columns = Enumerable.Range(0, records[0].Fields.Length).Select(i => $"c{i}").ToArray();
        var rows = new List<string[]>();
        var lines = new List<int>();
        var bad = new List<string>();
        for (int r = start; r < records.Count; r++)
        {
            if (records[r].Fields.Length != columns.Length)
            {
                if (bad.Count < 10) bad.Add($"line {records[r].Line}: {records[r].Fields.Length} fields");
                else if (bad.Count == 10) bad.Add("…");
                continue;
            }
            rows.Add(records[r].Fields);
            lines.Add(records[r].Line);
        }
        if (bad.Count > 0)
            throw new FileFormatException("CSV", source, $"rows with a field count other than the header's {columns.Length}: {string.Join("; ", bad)}.");
        return new CsvTable(columns, rows, lines);
    }

    /// <summary>Parses a cell as a number (invariant culture, surrounding spaces allowed).</summary>
    public static bool TryNumber(string s, out double v)
        => double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out v);

    /// <summary>True for an empty cell or one of NA, NaN, null (any case): a missing value.</summary>
    public static bool IsMissing(string s)
    {
        var t = s.Trim();
        return t.Length == 0 || t.Equals("NA", StringComparison.OrdinalIgnoreCase) || t.Equals("NaN", StringComparison.OrdinalIgnoreCase) || t.Equals("null", StringComparison.OrdinalIgnoreCase);
    }
}
