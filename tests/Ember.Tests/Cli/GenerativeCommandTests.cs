using Ember.IO;
using Xunit;

namespace Ember.Tests.Cli;

/// <summary>`ember milestone vae|vit` and `ember generate` on a VAE, on small copies of the real data sets.</summary>
[Collection("console")]
public class GenerativeCommandTests
{
    /// <summary>The first <paramref name="train"/> training and <paramref name="test"/> test images of an IDX folder,
    /// written as a new folder in the same format.</summary>
    internal static string SmallIdxCopy(string folder, int train, int test)
    {
        var dir = Directory.CreateTempSubdirectory("ember-idx").FullName;
        foreach (var (prefix, n) in new[] { ("train", train), ("t10k", test) })
        {
            var images = Idx.Read(Path.Combine(folder, $"{prefix}-images-idx3-ubyte.gz")).Narrow(0, 0, n);
            var labels = Idx.Read(Path.Combine(folder, $"{prefix}-labels-idx1-ubyte.gz")).Narrow(0, 0, n);
            Idx.WriteBytes(Path.Combine(dir, $"{prefix}-images-idx3-ubyte.gz"), images.Contiguous().ToArray<long>().Select(v => (byte)v).ToArray(), images.Shape.ToArray());
            Idx.WriteBytes(Path.Combine(dir, $"{prefix}-labels-idx1-ubyte.gz"), labels.Contiguous().ToArray<long>().Select(v => (byte)v).ToArray(), labels.Shape.ToArray());
        }
        return dir;
    }

    private static void AssertPng(string path, int width, int height)
    {
        var image = Png.Read(path);
        Assert.Equal(width, image.Size(-1));
        Assert.Equal(height, image.Size(-2));
    }

    [Fact]
    public void VaeMilestoneWritesModelPicturesAndMetricsAndGenerateSamplesFromIt()
    {
        var data = SmallIdxCopy(Ember.Tests.Data.DataTests.RepoData("mnist-10k"), 512, 64);
        var dir = Path.Combine(data, "out");
        var (code, output, _) = CliTests.Run("milestone", "vae", "--data", data, "--epochs", "2", "--out", dir, "--quiet");
        Assert.Equal(1, code);   // the gate belongs to the 30-epoch recipe on 8,000 images
        Assert.Contains("milestone vae: FAIL neg_elbo_margin=", output);
        Assert.Contains("512 training / 64 test images", output);
        // 8 columns of 28-pixel digits with 2-pixel padding: 8·30 + 2 = 242 wide; 8 rows (4 pairs) tall.
        AssertPng(Path.Combine(dir, "reconstructions.png"), 242, 242);
        AssertPng(Path.Combine(dir, "samples.png"), 242, 242);
        Assert.True(new FileInfo(Path.Combine(dir, "latent_map.png")).Length > 1000);
        var lines = File.ReadAllLines(Path.Combine(dir, "metrics.csv"));
        Assert.Equal("epoch,train_neg_elbo,test_neg_elbo,test_reconstruction,test_kl,seconds", lines[0]);
        Assert.Equal(3, lines.Length);
        var grid = Path.Combine(dir, "gen.png");
        var (gcode, gout, _) = CliTests.Run("generate", Path.Combine(dir, "model.safetensors"), "--samples", "10", "--out", grid);
        Assert.Equal(0, gcode);
        Assert.Contains("saved 10 samples", gout);
        AssertPng(grid, 242, 62);   // 10 images: 8 in the first row, 2 in the second
    }

    [Fact]
    public void VitMilestoneWritesModelRolloutAndCurves()
    {
        var data = SmallIdxCopy(Ember.Tests.Data.DataTests.SharedData("fashion-mnist"), 256, 64);
        var dir = Path.Combine(data, "out");
        var (code, output, _) = CliTests.Run("milestone", "vit", "--data", data, "--epochs", "1", "--out", dir, "--quiet");
        Assert.Equal(1, code);
        Assert.Contains("milestone vit: FAIL test_accuracy=", output);
        Assert.Contains("64 test images", output);
        AssertPng(Path.Combine(dir, "attention_rollout.png"), 242, 62);   // 8 images over their 8 rollout maps
        Assert.True(File.Exists(Path.Combine(dir, "curves.png")));
        var tensors = Safetensors.Load(Path.Combine(dir, "model.safetensors"), out var meta);
        Assert.Equal("vit", meta["model"]);
        Assert.Equal([1, 50, 64], tensors["pos_embed"].Shape.ToArray());
    }
}
