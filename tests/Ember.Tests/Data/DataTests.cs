using System.Net;
using Ember;
using Ember.Data;
using Ember.IO;
using Xunit;

namespace Ember.Tests.Data;

public class DataTests
{
    /// <summary>A shared data set: ../shared/data/NAME beside the repository (where the project's real data sets live).</summary>
    internal static string SharedData(string name)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var p = Path.Combine(dir.FullName, "shared", "data", name);
            if (Directory.Exists(p)) return p;
        }
        throw new DirectoryNotFoundException($"shared/data/{name} (expected beside the repository, see ../shared/data/README.md)");
    }

    internal static string RepoData(string name)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var p = Path.Combine(dir.FullName, "data", name);
            if (Directory.Exists(p)) return p;
        }
        throw new DirectoryNotFoundException("data/" + name);
    }

    [Fact]
    public void ReadsTheRealMnistSubset()
    {
        var (x, y) = ImageFolders.LoadMnistFormat(RepoData("mnist-10k"), train: true);
        Assert.Equal([8000, 1, 28, 28], x.Shape);
        Assert.Equal([8000], y.Shape);
        Assert.InRange(x.Min().Item(), 0, 0);
        Assert.InRange(x.Max().Item(), 1, 1);
        var (xt, yt) = ImageFolders.LoadMnistFormat(RepoData("mnist-10k"), train: false);
        Assert.Equal(2000, xt.Size(0));
        Assert.Equal(2000, yt.Size(0));
        // Class counts of the shipped files (read independently with Python's gzip module). The subset is not
        // exactly 1,000 per class, whatever its description says.
        int[] Count(Tensor labels) => Enumerable.Range(0, 10).Select(k => labels.ToArray<long>().Count(v => v == k)).ToArray();
        Assert.Equal([792, 904, 788, 829, 787, 697, 829, 835, 757, 782], Count(y));
        Assert.Equal([209, 223, 203, 203, 193, 166, 185, 235, 187, 196], Count(yt));
    }

    [Fact]
    public void IdxRawAndGzipAgreeAndErrorsAreClear()
    {
        var dir = Directory.CreateTempSubdirectory("ember-idx").FullName;
        var data = Enumerable.Range(0, 24).Select(i => (byte)(i * 10)).ToArray();
        Idx.WriteBytes(Path.Combine(dir, "a.idx"), data, 2, 3, 4);
        Idx.WriteBytes(Path.Combine(dir, "a.idx.gz"), data, 2, 3, 4);
        var raw = Idx.Read(Path.Combine(dir, "a.idx"));
        var gz = Idx.Read(Path.Combine(dir, "a.idx.gz"));
        Assert.Equal([2, 3, 4], raw.Shape);
        Assert.Equal(raw.ToArray<long>(), gz.ToArray<long>());
        Assert.Equal(230, raw.GetItem(1, 2, 3));
        File.WriteAllBytes(Path.Combine(dir, "bad.idx"), [0, 0, 8, 1, 0, 0, 0, 9, 1, 2]);
        var e = Assert.Throws<FileFormatException>(() => Idx.Read(Path.Combine(dir, "bad.idx")));
        Assert.Contains("[9]", e.Message);
        Assert.Throws<FileNotFoundException>(() => Idx.Read(Path.Combine(dir, "missing.idx")));
    }

    [Fact]
    public void DataLoaderBatchesShufflesAndDropsLast()
    {
        var ds = new TensorDataset(Tensor.Arange(10).Reshape(10, 1), Tensor.Arange(10, DType.Int64));
        var plain = new DataLoader(ds, 4).ToList();
        Assert.Equal([4, 4, 2], plain.Select(b => b[0].Size(0)));
        Assert.Equal(Enumerable.Range(0, 10).Select(i => (long)i), plain.SelectMany(b => b[1].ToArray<long>()));
        Assert.Equal(2, new DataLoader(ds, 4, dropLast: true).Count);
        Assert.Equal(2, new DataLoader(ds, 4, dropLast: true).Count());

        var s1 = new DataLoader(ds, 3, shuffle: true, seed: 42);
        var s2 = new DataLoader(ds, 3, shuffle: true, seed: 42);
        var e1 = s1.SelectMany(b => b[1].ToArray<long>()).ToArray();
        var e2 = s2.SelectMany(b => b[1].ToArray<long>()).ToArray();
        Assert.Equal(e1, e2);                                  // same seed, same order
        Assert.NotEqual(Enumerable.Range(0, 10).Select(i => (long)i), e1);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => (long)i), e1.Order());
        var epoch2 = s1.SelectMany(b => b[1].ToArray<long>()).ToArray();
        Assert.NotEqual(e1, epoch2);                           // a new permutation each epoch
        var noPrefetch = new DataLoader(ds, 3, shuffle: true, seed: 42, prefetch: 0).SelectMany(b => b[1].ToArray<long>());
        Assert.Equal(e1, noPrefetch);
        Assert.All(plain, b => Assert.Equal(b[0].Reshape(-1).ToArray<float>(), b[1].To(DType.Float32).ToArray<float>()));
    }

    [Fact]
    public void RandomSplitIsDisjointAndComplete()
    {
        var ds = new TensorDataset(Tensor.Arange(100).Reshape(100, 1));
        var parts = ds.RandomSplit([0.8, 0.2], new Generator(1));
        Assert.Equal(80, parts[0].Count);
        Assert.Equal(20, parts[1].Count);
        Assert.Equal(Enumerable.Range(0, 100), parts.SelectMany(p => p.Indices).Order());
        Assert.Throws<ArgumentException>(() => ds.RandomSplit([50, 40]));
    }

    [Fact]
    public void TransformsBehave()
    {
        var img = Tensor.Arange(9).Reshape(1, 3, 3);
        Assert.Equal(new float[] { 2, 1, 0, 5, 4, 3, 8, 7, 6 }, Transforms.RandomHorizontalFlip(1.0)(img).ToArray<float>());
        Assert.Equal(img.ToArray<float>(), Transforms.RandomHorizontalFlip(0.0)(img).ToArray<float>());
        var crop = Transforms.RandomCrop(3, padding: 1, new Generator(3))(img);
        Assert.Equal([1, 3, 3], crop.Shape);
        var norm = Transforms.Normalize([4], [2])(img);
        Assert.Equal(new float[] { -2, -1.5f, -1, -0.5f, 0, 0.5f, 1, 1.5f, 2 }, norm.ToArray<float>());
        var batch = Tensor.Ones(50, 1, 5, 5);
        var shifted = Transforms.RandomShift(batch, 1, new Generator(2));
        Assert.Equal(batch.Shape, shifted.Shape);
        var perImage = shifted.Sum([1, 2, 3]).ToArray<float>();
        Assert.All(perImage, s => Assert.Contains(s, new float[] { 25, 20, 16 }));   // shifts by 0 or 1 in each axis
        Assert.Contains(16f, perImage);
    }

    /// <summary>An HTTP listener on a free loopback port.</summary>
    internal static HttpListener Loopback(out int port)
    {
        for (int attempt = 0; attempt < 20; attempt++)
        {
            port = Random.Shared.Next(20000, 60000);
            var l = new HttpListener();
            l.Prefixes.Add($"http://127.0.0.1:{port}/");
            try { l.Start(); return l; } catch (HttpListenerException) { l.Close(); }
        }
        throw new InvalidOperationException("no free loopback port for the test server");
    }

    [Fact]
    public async Task DownloadsMissingFilesFromALoopbackServer()
    {
        var listener = Loopback(out int port);
        var payload = Enumerable.Range(0, 300_000).Select(i => (byte)i).ToArray();
        var served = Task.Run(async () =>
        {
            for (int i = 0; i < 2; i++)
            {
                var ctx = await listener!.GetContextAsync();
                if (ctx.Request.Url!.AbsolutePath.EndsWith("present.bin"))
                {
                    ctx.Response.ContentLength64 = payload.Length;
                    await ctx.Response.OutputStream.WriteAsync(payload);
                }
                else ctx.Response.StatusCode = 404;
                ctx.Response.Close();
            }
        });
        try
        {
            var dir = Directory.CreateTempSubdirectory("ember-dl").FullName;
            var log = new StringWriter();
            Downloads.EnsureFiles(dir, $"http://127.0.0.1:{port}/data", ["present.bin"], log);
            Assert.Equal(payload, File.ReadAllBytes(Path.Combine(dir, "present.bin")));
            Assert.Contains("100.0%", log.ToString());
            Downloads.EnsureFiles(dir, $"http://127.0.0.1:{port}/data", ["present.bin"], log);   // already there: no request
            var e = Assert.Throws<IOException>(() => Downloads.EnsureFiles(dir, $"http://127.0.0.1:{port}/data", ["absent.bin"], log));
            Assert.Contains("404", e.Message);
            Assert.False(File.Exists(Path.Combine(dir, "absent.bin")));
            Assert.False(File.Exists(Path.Combine(dir, "absent.bin.part")));
            await served.WaitAsync(TimeSpan.FromSeconds(10));
        }
        finally { listener!.Stop(); }
    }
}
