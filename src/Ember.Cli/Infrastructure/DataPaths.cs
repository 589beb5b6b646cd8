namespace Ember.Cli.Infrastructure;

/// <summary>Where the data sets shipped with the repository are.</summary>
internal static class DataPaths
{
    /// <summary>data/NAME in the repository, or shared/data/NAME beside it (searched upward from the working directory
    /// and the program).</summary>
    public static string Find(string name)
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                foreach (var candidate in new[] { Path.Combine(dir.FullName, "data", name), Path.Combine(dir.FullName, "shared", "data", name) })
                    if (Directory.Exists(candidate)) return candidate;
        throw new UsageException($"cannot find data/{name}; run from the repository or pass --data FOLDER");
    }

    /// <summary>True for .csv and .csv.gz files.</summary>
    public static bool IsCsv(string data) =>
        data.EndsWith(".csv", StringComparison.OrdinalIgnoreCase) || data.EndsWith(".csv.gz", StringComparison.OrdinalIgnoreCase);
}
