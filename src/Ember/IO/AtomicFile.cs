using System.Runtime.InteropServices;

namespace Ember.IO;

/// <summary>Writes a file so that readers see either the old file or the complete new one: the content goes to a
/// temporary file beside the target (<c>.NAME.XXXXXXXX.tmp</c>), is flushed to disk, then renamed over the target,
/// and the folder is flushed so that the rename itself survives a power cut. On an exception the temporary file is
/// removed and the target is untouched. A process killed midway cannot remove its temporary file; the next write
/// to the same target (and <see cref="Safetensors.Load(string)"/>) removes such leftovers
/// (<see cref="RemoveStaleTemporaries"/>).</summary>
public static partial class AtomicFile
{
    /// <summary>Writes <paramref name="path"/> through <paramref name="write"/> into a locked temporary file beside it, flushed to disk, then renamed over the target: readers see the old file or the whole new one, never a part; on failure the target is untouched and the temporary removed.</summary>
    public static void Write(string path, Action<Stream> write)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        RemoveStaleTemporaries(full);
        var tmp = Path.Combine(dir, "." + Path.GetFileName(full) + "." + Guid.NewGuid().ToString("N")[..8] + ".tmp");
        try
        {
            // The temporary stays open (a shared lock, FileShare.Delete so that it can be renamed while open) until
            // it has been renamed: RemoveStaleTemporaries in another writer cannot take it for a leftover meanwhile.
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.Delete))
            {
                write(fs);
                fs.Flush(flushToDisk: true);
                File.Move(tmp, full, overwrite: true);
            }
            SyncDirectory(dir);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    /// <summary>Writes <paramref name="text"/> (UTF-8) to <paramref name="path"/> atomically.</summary>
    public static void WriteAllText(string path, string text) =>
        Write(path, s =>
        {
            using var w = new StreamWriter(s, new System.Text.UTF8Encoding(false), leaveOpen: true);
            w.Write(text);
        });

    /// <summary>Removes the temporary files that writes of <paramref name="path"/> left behind when their process was
    /// killed. A temporary that a live writer holds (in any process) is locked and kept. Returns how many were removed.</summary>
    public static int RemoveStaleTemporaries(string path)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(dir)) return 0;
        int removed = 0;
        foreach (var f in Directory.EnumerateFiles(dir, "." + Path.GetFileName(full) + ".*.tmp"))
        {
            try
            {
                // An exclusive open fails while a writer holds the file (flock on Unix, share modes on Windows).
                using (new FileStream(f, FileMode.Open, FileAccess.ReadWrite, FileShare.None)) { }
                File.Delete(f);
                removed++;
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return removed;
    }

    /// <summary>fsync on the folder, so that a rename in it is on disk (POSIX; Windows commits renames with the file
    /// system's journal and has no folder handle to flush). Failure to flush is not an error: the data is already
    /// flushed, only the rename's durability is at stake.</summary>
    private static void SyncDirectory(string dir)
    {
        if (!(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD())) return;
        try
        {
            int fd = Open(dir, 0 /* O_RDONLY */);
            if (fd < 0) return;
            Fsync(fd);
            Close(fd);
        }
        catch (DllNotFoundException) { }
        catch (EntryPointNotFoundException) { }
    }

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync")]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
