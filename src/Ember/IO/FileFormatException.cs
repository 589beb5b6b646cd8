namespace Ember.IO;

/// <summary>A file that Ember's readers (<see cref="Idx"/>, <see cref="Npy"/>, <see cref="Safetensors"/>,
/// <see cref="MatFile"/>, <see cref="CsvTable"/>, <see cref="Png"/>) cannot read because of what it holds: damaged, truncated, longer
/// than its header declares, not of the format at all, or of a variant Ember does not read. It is the one exception
/// type those readers throw for a file's content (a missing file is a <see cref="FileNotFoundException"/>); the
/// message names the format, the file, the entry where there is one, and what is wrong. An <see cref="IOException"/>:
/// reading the file failed.</summary>
public sealed class FileFormatException : IOException
{
    /// <summary>A reader's failure on <paramref name="path"/>; <paramref name="entry"/> is the tensor, variable or array
    /// name where the problem lies (null for the file as a whole), <paramref name="entryKind"/> what such an entry is
    /// called in the format ("tensor", "variable", "array").</summary>
    public FileFormatException(string format, string path, string problem, string? entry = null, string entryKind = "entry", Exception? inner = null)
        : base($"{format}: '{path}'{(entry is null ? "" : $", {entryKind} '{entry}'")}: {problem}", inner)
    {
        Format = format;
        FilePath = path;
        Entry = entry;
    }

    /// <summary>The reader ("Idx", "Npy", "Safetensors", "MatFile", "CSV", "Png").</summary>
    public string Format { get; }

    /// <summary>The file (or, inside an archive, "archive:member").</summary>
    public string FilePath { get; }

    /// <summary>The tensor, variable or array at fault, when the problem lies in one.</summary>
    public string? Entry { get; }
}
