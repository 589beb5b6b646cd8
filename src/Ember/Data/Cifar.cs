using System.Formats.Tar;
using System.IO.Compression;

namespace Ember.Data;

/// <summary>CIFAR-10 and CIFAR-100 in their binary distribution format (Krizhevsky, 2009): each record is the label
/// byte(s) followed by 3,072 pixel bytes, the 1,024 red values of the 32×32 image row by row, then green, then blue.
/// CIFAR-10 has one label byte (data_batch_1.bin … data_batch_5.bin, test_batch.bin); CIFAR-100 two (coarse, fine;
/// train.bin, test.bin).</summary>
public static class Cifar
{
    /// <summary>Image height and width.</summary>
    public const int Side = 32;
    /// <summary>Color channels (RGB).</summary>
    public const int Channels = 3;
    /// <summary>Bytes of one image in the binary batches (channel planes, row-major).</summary>
    public const int PixelBytes = Side * Side * Channels;

    /// <summary>Canonical download of the CIFAR-10 binary version (a .tar.gz of the folder cifar-10-batches-bin).</summary>
    public const string Cifar10Url = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";

    /// <summary>CIFAR-10's class names, in label order.</summary>
    public static readonly string[] Cifar10Classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

    /// <summary>The training batch files of CIFAR-10.</summary>
    public static readonly string[] Cifar10TrainFiles = ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"];
    /// <summary>The test batch file of CIFAR-10.</summary>
    public static readonly string[] Cifar10TestFiles = ["test_batch.bin"];

    /// <summary>Reads one binary batch file: images (N, 3, 32, 32) float32 in [0, 1] and labels (N) int64. For
    /// CIFAR-100 files (<paramref name="labelBytes"/> = 2) <paramref name="fineLabels"/> picks the fine (100-class)
    /// or the coarse (20-superclass) label.</summary>
    public static (Tensor Images, Tensor Labels) ReadBinary(string path, int labelBytes = 1, bool fineLabels = true)
    {
        if (labelBytes is not (1 or 2)) throw new ArgumentException($"Cifar.ReadBinary: labelBytes must be 1 (CIFAR-10) or 2 (CIFAR-100), got {labelBytes}.");
        var bytes = File.ReadAllBytes(path);
        int record = labelBytes + PixelBytes;
        if (bytes.Length == 0 || bytes.Length % record != 0)
            throw new InvalidDataException($"Cifar.ReadBinary: {path} has {bytes.Length} bytes, not a whole number of {record}-byte records " +
                $"({labelBytes} label byte(s) + {PixelBytes} pixels); is it a CIFAR{(labelBytes == 1 ? "-10" : "-100")} binary file?");
        int n = bytes.Length / record;
        var images = new float[n * PixelBytes];
        var labels = new long[n];
        int labelAt = labelBytes == 2 && fineLabels ? 1 : 0;
        int classes = labelBytes == 1 ? 10 : fineLabels ? 100 : 20;
        for (int i = 0; i < n; i++)
        {
            int off = i * record;
            labels[i] = bytes[off + labelAt];
            if (labels[i] >= classes)
                throw new InvalidDataException($"Cifar.ReadBinary: record {i} of {path} has label {labels[i]}, outside [0, {classes}).");
            var src = bytes.AsSpan(off + labelBytes, PixelBytes);
            var dst = images.AsSpan(i * PixelBytes, PixelBytes);
            for (int k = 0; k < PixelBytes; k++) dst[k] = src[k] * (1f / 255);
        }
        return (Tensor.FromArray(images, n, Channels, Side, Side), Tensor.FromArray(labels, n));
    }

    /// <summary>CIFAR-10's train (50,000) or test (10,000) split from <paramref name="folder"/> (the extracted
    /// cifar-10-batches-bin, or a folder containing it). With <paramref name="download"/>, a missing data set is
    /// fetched from <see cref="Cifar10Url"/> and extracted first.</summary>
    public static (Tensor Images, Tensor Labels) Cifar10(string folder, bool train, bool download = false, string? url = null, HttpClient? client = null)
    {
        var files = train ? Cifar10TrainFiles : Cifar10TestFiles;
        string? dir = FindBatches(folder, files);
        if (dir is null && download)
        {
            DownloadAndExtract(url ?? Cifar10Url, folder, client);
            dir = FindBatches(folder, files);
        }
        if (dir is null)
            throw new FileNotFoundException($"Cifar: {folder} has no {string.Join(", ", files)} (nor a cifar-10-batches-bin folder with them). " +
                $"Download {Cifar10Url} and extract it there, or pass download: true.");
        var parts = files.Select(f => ReadBinary(Path.Combine(dir, f))).ToList();
        return parts.Count == 1 ? parts[0] : (Tensor.Cat(parts.Select(p => p.Images).ToList()), Tensor.Cat(parts.Select(p => p.Labels).ToList()));
    }

    private static string? FindBatches(string folder, string[] files)
    {
        foreach (var dir in new[] { folder, Path.Combine(folder, "cifar-10-batches-bin") })
            if (files.All(f => File.Exists(Path.Combine(dir, f)))) return dir;
        return null;
    }

    /// <summary>Downloads a .tar.gz to <paramref name="folder"/> and extracts it there (the archive is removed after).</summary>
    internal static void DownloadAndExtract(string url, string folder, HttpClient? client)
    {
        var name = Path.GetFileName(new Uri(url).LocalPath);
        Downloads.EnsureFiles(folder, url[..^name.Length], [name], client: client);
        var archive = Path.Combine(folder, name);
        using (var file = File.OpenRead(archive))
        using (var gz = new GZipStream(file, CompressionMode.Decompress))
            TarFile.ExtractToDirectory(gz, folder, overwriteFiles: true);
        File.Delete(archive);
    }
}
