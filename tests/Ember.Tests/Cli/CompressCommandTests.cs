using System.Globalization;
using Ember.IO;
using Xunit;
using static Ember.Tests.Cli.CliTests;

namespace Ember.Tests.Cli;

/// <summary>`ember compress` on the checkpoints the other commands write, and those commands on its output.</summary>
[Collection("console")]
public class CompressCommandTests
{
    private static double Accuracy(string output) =>
        double.Parse(output.Split('\n').First(l => l.StartsWith("accuracy=")).Trim()["accuracy=".Length..], CultureInfo.InvariantCulture);

    [Fact]
    public void CompressedMlpCheckpointsEvaluateLikeTheOriginal()
    {
        var dir = Directory.CreateTempSubdirectory("ember-compress").FullName;
        var data = Ember.Tests.Data.DataTests.RepoData("mnist-10k");
        var (code, _, err) = Run("train", "--data", data, "--hidden", "128,64", "--epochs", "2", "--out", dir, "--quiet");
        Assert.True(code == 0, err);
        var model = Path.Combine(dir, "best.safetensors");
        (code, var output, err) = Run("evaluate", model, "--data", data);
        Assert.True(code == 0, err);
        double baseline = Accuracy(output);

        (code, output, err) = Run("compress", model);
        Assert.True(code == 0, err);
        var int8 = Path.Combine(dir, "best.int8.safetensors");
        Assert.Contains("wrote " + int8, output);
        Assert.Contains("quantized 3 layers to int8", output);
        var tensors = Safetensors.Load(int8, out var meta);
        Assert.Equal("dynamic-int8", meta["quantized"]);
        Assert.Equal(DType.Int8, tensors["net.1.weight"].DType);
        (code, output, err) = Run("evaluate", int8, "--data", data);
        Assert.True(code == 0, err);
        Assert.True(Math.Abs(Accuracy(output) - baseline) <= 0.01, $"int8 accuracy {Accuracy(output)} vs float {baseline}");

        var pruned = Path.Combine(dir, "small.safetensors");
        (code, output, err) = Run("compress", model, "--prune", "0.5", "--structured", "--quantize", "none", "--out", pruned);
        Assert.True(code == 0, err);
        Safetensors.Load(pruned, out meta);
        Assert.Equal("64,32", meta["hidden"]);
        (code, output, err) = Run("evaluate", pruned, "--data", data);
        Assert.True(code == 0, err);
        Assert.True(Accuracy(output) > 0.5, output);   // before any fine-tuning

        (code, output, err) = Run("compress", model, "--prune", "0.6", "--quantize", "none", "--out", Path.Combine(dir, "sparse.safetensors"));
        Assert.True(code == 0, err);
        Assert.Contains("60.0% of the weights are zero", output);

        (code, _, err) = Run("compress", int8);
        Assert.Equal(2, code);
        Assert.Contains("already quantized", err);

        var staticPath = Path.Combine(dir, "static.safetensors");
        (code, output, err) = Run("compress", model, "--calibrate", "8", "--data", data, "--calibration", "entropy", "--out", staticPath);
        Assert.True(code == 0, err);
        Assert.Contains("static int8, entropy calibration on 8 batches of 64", output);
        Assert.True(Safetensors.Load(staticPath).ContainsKey("net.1.input_scale"));
        (code, output, err) = Run("evaluate", staticPath, "--data", data);
        Assert.True(code == 0, err);
        Assert.True(Math.Abs(Accuracy(output) - baseline) <= 0.02, $"static int8 accuracy {Accuracy(output)} vs float {baseline}");
    }

    [Fact]
    public void CompressedGptGeneratesAndItsStructuredPruningLoadsBack()
    {
        var dir = Directory.CreateTempSubdirectory("ember-compress-gpt").FullName;
        var text = Path.Combine(dir, "verses.txt");
        File.WriteAllText(text, string.Concat(Enumerable.Range(0, 200).Select(i => $"Ge1:{i} In the beginning God created the heaven and the earth.\n")));
        var (code, _, err) = Run("milestone", "gpt", "--data", text, "--steps", "10", "--out", dir, "--quiet");
        Assert.True(code is 0 or 1, err);
        var model = Path.Combine(dir, "model.safetensors");
        var small = Path.Combine(dir, "small.safetensors");
        (code, var output, err) = Run("compress", model, "--prune", "0.5", "--structured", "--out", small);
        Assert.True(code == 0, err);
        Assert.Contains("h.0.mlp.0", output);
        var tensors = Safetensors.Load(small);
        Assert.Equal([256, 128], tensors["h.0.mlp.0.weight"].Shape);   // 4·128 hidden → 256
        Assert.Equal(DType.Int8, tensors["h.0.attn.c_attn.weight"].DType);
        (code, output, err) = Run("generate", small, "--prompt", "In the", "--tokens", "10", "--seed", "1");
        Assert.True(code == 0, err);
        Assert.StartsWith("In the", output);
    }

    [Fact]
    public void FinetuneWithLoraSavesPeftAdaptersAndAMergedModel()
    {
        var dir = Directory.CreateTempSubdirectory("ember-finetune").FullName;
        var text = Path.Combine(dir, "verses.txt");
        File.WriteAllText(text, string.Concat(Enumerable.Range(0, 200).Select(i => $"Ge1:{i} In the beginning God created the heaven and the earth.\n")));
        var (code, _, err) = Run("milestone", "gpt", "--data", text, "--steps", "10", "--out", dir, "--quiet");
        Assert.True(code is 0 or 1, err);
        var csv = Path.Combine(dir, "reviews.csv");
        File.WriteAllText(csv, "id,review\n" + string.Concat(Enumerable.Range(0, 120).Select(i => $"{i},\"the heaven was good, the earth was fine. Zebra {i}!<br />yes\"\n")));
        var outDir = Path.Combine(dir, "lora");
        (code, var output, err) = Run("finetune", Path.Combine(dir, "model.safetensors"), "--data", csv, "--column", "review", "--lora", "4",
            "--steps", "30", "--batch", "4", "--out", outDir, "--quiet");
        Assert.True(code == 0, err);
        double before = double.Parse(output.Split('\n').First(l => l.StartsWith("val_loss_before=")).Trim()["val_loss_before=".Length..], CultureInfo.InvariantCulture);
        double after = double.Parse(output.Split('\n').First(l => l.StartsWith("val_loss=")).Trim()["val_loss=".Length..], CultureInfo.InvariantCulture);
        Assert.True(after < before, output);
        Assert.True(File.Exists(Path.Combine(outDir, "adapter_config.json")));
        Assert.Contains("base_model.model.h.0.attn.c_attn.lora_A.weight", Safetensors.Load(Path.Combine(outDir, "adapter_model.safetensors")).Keys);
        Assert.Contains("(adapters merged)", output);
        (code, output, err) = Run("generate", Path.Combine(outDir, "model.safetensors"), "--prompt", "the", "--tokens", "5");
        Assert.True(code == 0, err);

        (code, _, err) = Run("finetune", Path.Combine(dir, "model.safetensors"), "--data", csv, "--steps", "1");
        Assert.Equal(2, code);
        Assert.Contains("--column", err);
    }

    [Fact]
    public void DistillTrainsASmallerStudentAndCompressFineTunesAPrunedModel()
    {
        var dir = Directory.CreateTempSubdirectory("ember-distill").FullName;
        var data = Ember.Tests.Data.DataTests.RepoData("mnist-10k");
        var (code, _, err) = Run("train", "--data", data, "--hidden", "256", "--epochs", "3", "--out", dir, "--quiet");
        Assert.True(code == 0, err);
        var teacher = Path.Combine(dir, "best.safetensors");
        var outDir = Path.Combine(dir, "student");
        (code, var output, err) = Run("distill", teacher, "--data", data, "--hidden", "32", "--epochs", "3", "--out", outDir, "--quiet");
        Assert.True(code == 0, err);
        double student = double.Parse(output.Split('\n').First(l => l.StartsWith("accuracy=")).Trim()["accuracy=".Length..], CultureInfo.InvariantCulture);
        double teacherAccuracy = double.Parse(output.Split('\n').First(l => l.StartsWith("teacher_accuracy=")).Trim()["teacher_accuracy=".Length..], CultureInfo.InvariantCulture);
        Assert.True(student > 0.85 && student > teacherAccuracy - 0.08, output);
        Safetensors.Load(Path.Combine(outDir, "model.safetensors"), out var meta);
        Assert.Equal("32", meta["hidden"]);
        (code, output, err) = Run("evaluate", Path.Combine(outDir, "model.safetensors"), "--data", data);
        Assert.True(code == 0, err);

        (code, output, err) = Run("compress", teacher, "--prune", "0.75", "--structured", "--fine-tune", data, "--epochs", "1",
            "--out", Path.Combine(dir, "pruned.safetensors"));
        Assert.True(code == 0, err);
        Assert.Contains("fine-tuned 1 epochs with the original as teacher", output);
        (code, _, err) = Run("compress", teacher, "--fine-tune", data);
        Assert.Equal(2, code);
        Assert.Contains("--fine-tune", err);

        // Quantization-aware fine-tuning, then int8: the file holds int8 layers and evaluates like the fake-quantized model.
        var qat = Path.Combine(dir, "qat.safetensors");
        (code, output, err) = Run("compress", teacher, "--fine-tune", data, "--epochs", "1", "--qat", "--out", qat);
        Assert.True(code == 0, err);
        Assert.Contains("quantization-aware fine-tuning of 2 layers", output);   // 784-256-10
        var fakeAccuracy = double.Parse(System.Text.RegularExpressions.Regex.Match(output, @"accuracy (0\.\d+) \(fake-quantized\)").Groups[1].Value, CultureInfo.InvariantCulture);
        var tensors = Safetensors.Load(qat, out var qmeta);
        Assert.Equal("dynamic-int8", qmeta["quantized"]);
        Assert.Equal(2, tensors.Values.Count(t => t.DType == DType.Int8));
        (code, output, err) = Run("evaluate", qat, "--data", data);
        Assert.True(code == 0, err);
        double int8Accuracy = double.Parse(output.TrimEnd().Split('\n')[^1]["accuracy=".Length..], CultureInfo.InvariantCulture);
        Assert.True(Math.Abs(int8Accuracy - fakeAccuracy) <= 0.002, $"int8 {int8Accuracy} vs fake-quantized {fakeAccuracy}");
        (code, _, err) = Run("compress", teacher, "--qat");
        Assert.Equal(2, code);
        Assert.Contains("--qat needs", err);
    }
}
