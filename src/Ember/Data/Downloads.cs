using System.Diagnostics;

namespace Ember.Data;

/// <summary>Fetches missing data-set files from their canonical address into a folder, with a progress line.
/// Each file is downloaded to a temporary name and moved into place only when complete.</summary>
public static class Downloads
{
    /// <summary>Makes sure <paramref name="folder"/> holds every file in <paramref name="files"/>, downloading the
    /// missing ones from <paramref name="baseUrl"/> + name. Progress goes to <paramref name="log"/> (stderr by default).</summary>
    public static void EnsureFiles(string folder, string baseUrl, IEnumerable<string> files, TextWriter? log = null, HttpClient? client = null)
    {
        log ??= Console.Error;
        Directory.CreateDirectory(folder);
        var missing = files.Where(f => !File.Exists(Path.Combine(folder, f))).ToList();
        if (missing.Count == 0) return;
        using var own = client is null ? new HttpClient { Timeout = TimeSpan.FromMinutes(10) } : null;
        var http = client ?? own!;
        foreach (var name in missing)
        {
            var url = baseUrl.TrimEnd('/') + "/" + name;
            var target = Path.Combine(folder, name);
            var tmp = target + ".part";
            try
            {
                using var response = http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead).GetAwaiter().GetResult();
                if (!response.IsSuccessStatusCode)
                    throw new IOException($"download of {url} failed: HTTP {(int)response.StatusCode} {response.ReasonPhrase}");
                long? total = response.Content.Headers.ContentLength;
                using (var src = response.Content.ReadAsStream())
                using (var dst = File.Create(tmp))
                {
                    var buf = new byte[1 << 16];
                    long done = 0;
                    var sw = Stopwatch.StartNew();
                    var lastReport = TimeSpan.Zero;
                    int n;
                    while ((n = src.Read(buf)) > 0)
                    {
                        dst.Write(buf, 0, n);
                        done += n;
                        if (sw.Elapsed - lastReport > TimeSpan.FromMilliseconds(200) || done == total)
                        {
                            lastReport = sw.Elapsed;
                            log.Write("\r" + ProgressLine(name, done, total, sw.Elapsed.TotalSeconds));
                        }
                    }
                    log.WriteLine("\r" + ProgressLine(name, done, total, sw.Elapsed.TotalSeconds));
                    if (total is long t && done != t) throw new IOException($"download of {url} ended after {done} of {t} bytes");
                }
                File.Move(tmp, target, overwrite: true);
            }
            catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException)
            {
                try { File.Delete(tmp); } catch (IOException) { }
                throw new IOException($"Downloads: could not fetch {name} into {folder}: {e.Message}. Place the file there by hand to use it offline.", e);
            }
        }
    }

    internal static string ProgressLine(string name, long done, long? total, double seconds)
    {
        double mb = done / 1e6, rate = seconds > 0 ? mb / seconds : 0;
        if (total is long t && t > 0)
        {
            int width = 30, filled = (int)(width * done / t);
            return $"{name} [{new string('#', filled)}{new string('.', width - filled)}] {100.0 * done / t,5:F1}% {mb:F1}/{t / 1e6:F1} MB {rate:F1} MB/s";
        }
        return $"{name} {mb:F1} MB {rate:F1} MB/s";
    }
}

/// <summary>MNIST-format image sets (MNIST, Fashion-MNIST) from a folder of the four IDX files, raw or gzip.</summary>
public static class ImageFolders
{
    /// <summary>The four files of an MNIST-format data set (training and test images and labels, gzip).</summary>
    public static readonly string[] IdxFiles = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"];

    /// <summary>Canonical download address of Fashion-MNIST (Zalando Research).</summary>
    public const string FashionMnistUrl = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com";

    /// <summary>The MNIST mirror torchvision downloads from (the original host is often unavailable).</summary>
    public const string MnistUrl = "https://ossci-datasets.s3.amazonaws.com/mnist";

    /// <summary>Fashion-MNIST's ten classes, by label.</summary>
    public static readonly string[] FashionMnistClasses =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    /// <summary>Fashion-MNIST (Xiao, Rasul &amp; Vollgraf, 2017) from <paramref name="folder"/>: images (N, 1, 28, 28) in
    /// [0, 1] and labels; with <paramref name="download"/>, missing files are fetched from Zalando's address first.</summary>
    public static (Tensor Images, Tensor Labels) FashionMnist(string folder, bool train, bool download = false)
        => LoadMnistFormat(folder, train, download ? FashionMnistUrl : null);

    /// <summary>The download address of a named MNIST-format data set: "mnist" or "fashion-mnist".</summary>
    public static string UrlFor(string name) => name switch
    {
        "mnist" => MnistUrl,
        "fashion-mnist" => FashionMnistUrl,
        _ => throw new ArgumentException($"ImageFolders: no download address for '{name}' (known: mnist, fashion-mnist)."),
    };

    /// <summary>Loads (images as float32 in [0, 1] of shape (N, 1, 28, 28), labels int64 (N)) for the train or test split.
    /// When <paramref name="downloadUrl"/> is given, missing files are fetched from it first.</summary>
    public static (Tensor Images, Tensor Labels) LoadMnistFormat(string folder, bool train, string? downloadUrl = null)
    {
        if (downloadUrl is not null) Downloads.EnsureFiles(folder, downloadUrl, IdxFiles);
        string prefix = train ? "train" : "t10k";
        string img = Find(folder, $"{prefix}-images-idx3-ubyte"), lbl = Find(folder, $"{prefix}-labels-idx1-ubyte");
        var images = IO.Idx.Read(img, asFloat: true);
        var labels = IO.Idx.Read(lbl);
        if (images.Dim != 3 || labels.Dim != 1 || images.Size(0) != labels.Size(0))
            throw new InvalidDataException($"ImageFolders: {img} has shape {ShapeUtil.Str(images._shape)} and {lbl} has {ShapeUtil.Str(labels._shape)}; expected (N, H, W) images and N labels.");
        using (Tensor.NoGrad()) images = images.DivInPlace(255).Unsqueeze(1);
        return (images, labels);
    }

    private static string Find(string folder, string stem)
    {
        foreach (var candidate in new[] { stem + ".gz", stem, stem.Replace("-idx", ".idx") + ".gz", stem.Replace("-idx", ".idx") })
        {
            var p = Path.Combine(folder, candidate);
            if (File.Exists(p)) return p;
        }
        throw new FileNotFoundException($"ImageFolders: {folder} has no {stem}.gz (or {stem}). Expected the four MNIST-format IDX files there.");
    }
}
