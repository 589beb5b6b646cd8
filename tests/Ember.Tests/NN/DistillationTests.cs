using System.Text.Json;
using Ember;
using Ember.NN;
using Xunit;

namespace Ember.Tests.NN;

/// <summary>KL divergence and the distillation loss against PyTorch (Fixtures/gen_compression_fixtures.py; PyTorch computed
/// in float32, Ember here in float64, so agreement is to float32 rounding).</summary>
public class DistillationTests
{
    private static readonly Lazy<JsonElement> s_ref = new(() => JsonDocument.Parse(File.ReadAllText(
        Path.Combine(AppContext.BaseDirectory, "Fixtures", "compression_reference.json"))).RootElement.GetProperty("distillation"));

    private static Tensor T(string p, params int[] shape) =>
        Tensor.FromArray(s_ref.Value.GetProperty(p).EnumerateArray().Select(x => x.GetDouble()).ToArray(), shape);

    [Fact]
    public void KlDivMatchesPyTorchWithZerosInTheTargetAndLogTargets()
    {
        var c = s_ref.Value;
        var p = T("p", 4, 6);
        var q = T("q", 4, 6);
        Assert.Equal(c.GetProperty("kl_batchmean").GetDouble(), Functional.KlDiv(q, p, Reduction.BatchMean).Item(), 1e-6);
        Assert.Equal(c.GetProperty("kl_sum").GetDouble(), Functional.KlDiv(q, p, Reduction.Sum).Item(), 1e-6);
        TorchReference.Close(c.Doubles("kl_none"), Functional.KlDiv(q, p, Reduction.None).ToArray<double>(), 1e-6, "kl none");
        var logUniform = Tensor.Ones([4, 6], DType.Float64).LogSoftmax(1);
        Assert.Equal(c.GetProperty("kl_log_target").GetDouble(), Functional.KlDiv(q, logUniform, Reduction.Mean, logTarget: true).Item(), 1e-6);
    }

    [Fact]
    public void DistillationLossAndItsGradientMatchPyTorch()
    {
        var c = s_ref.Value;
        var s = T("student", 5, 7);
        s.RequiresGrad = true;
        var teacher = T("teacher", 5, 7);
        teacher.RequiresGrad = true;
        var y = Tensor.FromArray(c.Ints("target").Select(v => (long)v).ToArray(), 5);
        var loss = Functional.DistillationLoss(s, teacher, y, c.GetProperty("temperature").GetDouble(), c.GetProperty("alpha").GetDouble());
        Assert.Equal(c.GetProperty("loss").GetDouble(), loss.Item(), 1e-6);
        loss.Backward();
        TorchReference.Close(c.Doubles("grad"), s.Grad!.ToArray<double>(), 1e-5, "student gradient");
        Assert.Null(teacher.Grad);   // the teacher is a fixed target
        Assert.Throws<ArgumentException>(() => Functional.DistillationLoss(s, teacher, y, temperature: 0));
        Assert.Throws<ArgumentException>(() => Functional.DistillationLoss(s, teacher.Narrow(1, 0, 6), y));
    }
}
