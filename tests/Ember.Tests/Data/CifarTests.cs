using System.Formats.Tar;
using System.IO.Compression;
using Ember.Data;
using Xunit;

namespace Ember.Tests.Data;

/// <summary>The CIFAR binary reader on files written byte by byte in the published format.</summary>
public class CifarTests
{
    // Record i: label (i % 10); red plane = i, green plane = 100 + row, blue plane = 200 + column.
    private static byte[] Batch(int n, int labelBytes)
    {
        var bytes = new List<byte>();
        for (int i = 0; i < n; i++)
        {
            if (labelBytes == 2) bytes.Add((byte)(i % 20));
            bytes.Add((byte)(labelBytes == 2 ? (i * 7) % 100 : i % 10));
            for (int p = 0; p < 1024; p++) bytes.Add((byte)i);
            for (int p = 0; p < 1024; p++) bytes.Add((byte)(100 + p / 32));
            for (int p = 0; p < 1024; p++) bytes.Add((byte)(200 + p % 32));
        }
        return bytes.ToArray();
    }

    [Fact]
    public void ReadsChannelPlanesRowMajor()
    {
        var dir = Directory.CreateTempSubdirectory("ember-cifar").FullName;
        var path = Path.Combine(dir, "data_batch_1.bin");
        File.WriteAllBytes(path, Batch(12, 1));
        var (x, y) = Cifar.ReadBinary(path);
        Assert.Equal(new[] { 12, 3, 32, 32 }, x.Shape);
        Assert.Equal(Enumerable.Range(0, 12).Select(i => (long)(i % 10)).ToArray(), y.ToArray<long>());
        Assert.Equal(5 / 255.0, x[5, 0, 17, 3].Item(), 5);
        Assert.Equal(117 / 255.0, x[5, 1, 17, 3].Item(), 5);   // green = 100 + row
        Assert.Equal(203 / 255.0, x[5, 2, 17, 3].Item(), 5);   // blue = 200 + column
    }

    [Fact]
    public void ReadsCifar100FineAndCoarseLabels()
    {
        var path = Path.Combine(Directory.CreateTempSubdirectory("ember-cifar").FullName, "train.bin");
        File.WriteAllBytes(path, Batch(5, 2));
        Assert.Equal(new long[] { 0, 7, 14, 21, 28 }, Cifar.ReadBinary(path, labelBytes: 2).Labels.ToArray<long>());
        Assert.Equal(new long[] { 0, 1, 2, 3, 4 }, Cifar.ReadBinary(path, labelBytes: 2, fineLabels: false).Labels.ToArray<long>());
    }

    [Fact]
    public void RejectsTruncatedFilesAndBadLabels()
    {
        var dir = Directory.CreateTempSubdirectory("ember-cifar").FullName;
        var path = Path.Combine(dir, "bad.bin");
        File.WriteAllBytes(path, Batch(2, 1)[..^5]);
        var e = Assert.Throws<InvalidDataException>(() => Cifar.ReadBinary(path));
        Assert.Contains("3073-byte records", e.Message);
        var bad = Batch(1, 1);
        bad[0] = 12;
        File.WriteAllBytes(path, bad);
        Assert.Contains("label 12", Assert.Throws<InvalidDataException>(() => Cifar.ReadBinary(path)).Message);
        Assert.Throws<FileNotFoundException>(() => Cifar.Cifar10(dir, train: false));
    }

    [Fact]
    public async Task DownloadsAndExtractsTheArchive()
    {
        // Build cifar-10-binary.tar.gz as distributed: a cifar-10-batches-bin folder with the six batches.
        var src = Directory.CreateTempSubdirectory("ember-cifar-src").FullName;
        var batches = Directory.CreateDirectory(Path.Combine(src, "cifar-10-batches-bin")).FullName;
        foreach (var f in Cifar.Cifar10TrainFiles) File.WriteAllBytes(Path.Combine(batches, f), Batch(3, 1));
        File.WriteAllBytes(Path.Combine(batches, "test_batch.bin"), Batch(4, 1));
        var archive = new MemoryStream();
        using (var gz = new GZipStream(archive, CompressionLevel.Fastest, leaveOpen: true))
            TarFile.CreateFromDirectory(batches, gz, includeBaseDirectory: true);
        var payload = archive.ToArray();

        var listener = DataTests.Loopback(out int port);
        var served = Task.Run(async () =>
        {
            var ctx = await listener.GetContextAsync();
            ctx.Response.ContentLength64 = payload.Length;
            await ctx.Response.OutputStream.WriteAsync(payload);
            ctx.Response.Close();
        });
        try
        {
            var dest = Directory.CreateTempSubdirectory("ember-cifar-dst").FullName;
            var (x, y) = Cifar.Cifar10(dest, train: true, download: true, url: $"http://127.0.0.1:{port}/kriz/cifar-10-binary.tar.gz");
            Assert.Equal(new[] { 15, 3, 32, 32 }, x.Shape);
            Assert.Equal(15, y.NumEl);
            Assert.False(File.Exists(Path.Combine(dest, "cifar-10-binary.tar.gz")));
            var (xt, _) = Cifar.Cifar10(dest, train: false);   // now offline
            Assert.Equal(4, xt.Size(0));
            await served.WaitAsync(TimeSpan.FromSeconds(10));
        }
        finally { listener.Stop(); }
    }
}
