using System.Text.Json;
using Ember.Data;
using Ember.Models;
using Ember.NN;
using Xunit;

namespace Ember.Tests.Models;

/// <summary>The VAE and the Vision Transformer against PyTorch 1.13 (Fixtures/generative_reference.json, written by
/// Fixtures/gen_generative_fixtures.py from modules built with the same layout and parameter names).</summary>
public class GenerativeModelTests
{
    private static readonly Lazy<JsonElement> s_doc = new(() =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "generative_reference.json"))).RootElement);

    private static JsonElement Case(string name) => s_doc.Value.GetProperty(name);

    private static Tensor T(JsonElement e, string prop, int[] shape) => Tensor.FromArray(e.Doubles(prop).Select(v => (float)v).ToArray(), shape);

    private static Dictionary<string, Tensor> State(JsonElement c) => c.GetProperty("state").EnumerateObject().ToDictionary(p => p.Name,
        p => Tensor.FromArray(p.Value.Doubles("values").Select(v => (float)v).ToArray(), p.Value.Ints("shape")));

    private static double[] D(Tensor t) => t.Contiguous().ToArrayDouble();

    [Theory]
    [InlineData("vae_bernoulli", VaeLikelihood.Bernoulli)]
    [InlineData("vae_gaussian", VaeLikelihood.Gaussian)]
    public void VaeTermsAndGradientsEqualPyTorch(string name, VaeLikelihood likelihood)
    {
        var c = Case(name);
        var vae = new Vae(new VaeConfig(InChannels: 2, ImageSize: 8, LatentDim: 3, Width: 4, Hidden: 16, Likelihood: likelihood));
        vae.LoadStateDict(State(c));
        var x = T(c, "x", c.Ints("x_shape"));
        var eps = T(c, "eps", [3, 3]);
        var (mu, logVar) = vae.Encode(x);
        TorchReference.Close(c.Doubles("mu"), D(mu), 1e-5, "mu");
        TorchReference.Close(c.Doubles("logvar"), D(logVar), 1e-5, "logvar");
        var z = mu + (logVar * 0.5).Exp() * eps;
        var output = vae.Decode(z);
        TorchReference.Close(c.Doubles("output"), D(output), 1e-5, "decoder output");
        var logp = vae.LogLikelihood(output, x);
        TorchReference.Close(c.Doubles("log_likelihood"), D(logp), 1e-5, "log p(x|z)");
        var kl = Vae.KlToStandardNormal(mu, logVar);
        TorchReference.Close(c.Doubles("kl"), D(kl), 1e-5, "KL");
        var negElbo = (kl - logp).Mean();
        Assert.Equal(c.GetProperty("neg_elbo").GetDouble(), negElbo.Item(), 1e-3);
        negElbo.Backward();
        var grads = c.GetProperty("grads");
        foreach (var (pname, p) in vae.NamedParameters())
            TorchReference.Close(grads.Doubles(pname), D(p.Grad!), 2e-4, $"grad {pname}");
    }

    /// <summary>The importance-weighted estimate converges to the exact log p(x) of a 1-D-latent VAE (quadrature in
    /// PyTorch), from below: k = 1 (the ELBO) is lower on average, k = 2000 within 0.05 nats.</summary>
    [Fact]
    public void ImportanceWeightedEstimateConvergesToTheExactLogLikelihood()
    {
        var c = Case("vae_1d");
        var vae = new Vae(new VaeConfig(InChannels: 1, ImageSize: 8, LatentDim: 1, Width: 2, Hidden: 8));
        vae.LoadStateDict(State(c));
        var x = T(c, "x", c.Ints("x_shape"));
        var exact = c.Doubles("exact_log_px");
        var k2000 = D(vae.ImportanceWeightedLogLikelihood(x, 2000, new Generator(3), imagesPerChunk: 2));
        var k1 = Enumerable.Range(0, 200).Select(i => D(vae.ImportanceWeightedLogLikelihood(x, 1, new Generator((ulong)(10 + i))))).ToArray();
        for (int i = 0; i < exact.Length; i++)
        {
            Assert.True(Math.Abs(k2000[i] - exact[i]) < 0.05, $"image {i}: IWAE(k=2000) {k2000[i]:F4}, exact {exact[i]:F4}");
            double elbo = k1.Average(r => r[i]);
            Assert.True(elbo < exact[i], $"image {i}: the mean ELBO {elbo:F4} must lie below log p(x) = {exact[i]:F4}");
        }
    }

    [Fact]
    public void VaeRefusesBadShapesAndConfigs()
    {
        var vae = new Vae(new VaeConfig(ImageSize: 8, LatentDim: 2, Width: 2, Hidden: 4), new Generator(1));
        var e = Assert.Throws<ArgumentException>(() => vae.Encode(Tensor.Zeros(2, 1, 9, 9)));
        Assert.Contains("(N, 1, 8, 8)", e.Message);
        Assert.Throws<ArgumentException>(() => vae.Decode(Tensor.Zeros(2, 3)));
        Assert.Throws<ArgumentException>(() => new Vae(new VaeConfig(ImageSize: 10)));
        Assert.Throws<ArgumentException>(() => new Vae(new VaeConfig(Beta: -1)));
        var meta = new VaeConfig(LatentDim: 5, Likelihood: VaeLikelihood.Gaussian, Beta: 4).ToMetadata();
        Assert.Equal(new VaeConfig(LatentDim: 5, Likelihood: VaeLikelihood.Gaussian, Beta: 4), VaeConfig.FromMetadata(meta, "m.safetensors"));
        meta["likelihood"] = "poisson";
        Assert.Contains("poisson", Assert.Throws<InvalidDataException>(() => VaeConfig.FromMetadata(meta, "m.safetensors")).Message);
    }

    private static VisionTransformer TinyVit()
    {
        var vit = new VisionTransformer(new VitConfig(ImageSize: 8, PatchSize: 4, InChannels: 1, NumClasses: 3, Dim: 8, Depth: 2, Heads: 2, MlpDim: 16));
        vit.LoadStateDict(State(Case("vit")));
        return vit;
    }

    [Fact]
    public void VitLogitsAndGradientsEqualPyTorch()
    {
        var c = Case("vit");
        var vit = TinyVit();
        var x = T(c, "x", c.Ints("x_shape"));
        x.RequiresGrad = true;
        var logits = vit.Call(x);
        TorchReference.Close(c.Doubles("logits"), D(logits), 1e-5, "logits");
        logits.Backward(T(c, "grad_output", logits.Shape.ToArray()));
        TorchReference.Close(c.Doubles("grad_x"), D(x.Grad!), 1e-4, "grad x");
        var grads = c.GetProperty("grads");
        foreach (var (pname, p) in vit.NamedParameters())
            TorchReference.Close(grads.Doubles(pname), D(p.Grad!), 1e-4, $"grad {pname}");
    }

    [Fact]
    public void VitAttentionMapsAndRolloutEqualPyTorch()
    {
        var c = Case("vit");
        var vit = TinyVit();
        var x = T(c, "x", c.Ints("x_shape"));
        var maps = vit.AttentionMaps(x);
        var expected = c.GetProperty("attention").EnumerateArray().ToArray();
        Assert.Equal(expected.Length, maps.Count);
        for (int l = 0; l < maps.Count; l++)
            TorchReference.Close(expected[l].EnumerateArray().Select(v => v.GetDouble()).ToArray(), D(maps[l].Mean(1)), 1e-5, $"block {l} attention");
        var rollout = vit.AttentionRollout(x);
        Assert.Equal([2, 2, 2], rollout.Shape.ToArray());
        TorchReference.Close(c.Doubles("rollout"), D(rollout), 1e-5, "rollout");
        Assert.True(vit.Training);   // the helper restores the mode
    }

    [Fact]
    public void VitRefusesBadShapesAndConfigs()
    {
        var vit = new VisionTransformer(new VitConfig(ImageSize: 8, PatchSize: 4, Dim: 8, Depth: 1, Heads: 2, MlpDim: 8), new Generator(1));
        Assert.Contains("(N, 1, 8, 8)", Assert.Throws<ArgumentException>(() => vit.Call(Tensor.Zeros(1, 1, 12, 12))).Message);
        Assert.Throws<ArgumentException>(() => new VisionTransformer(new VitConfig(ImageSize: 10, PatchSize: 4)));
        Assert.Throws<ArgumentException>(() => new VisionTransformer(new VitConfig(Dim: 10, Heads: 4)));
        var cfg = new VitConfig(Dim: 32, Depth: 3, Dropout: 0.1);
        Assert.Equal(cfg, VitConfig.FromMetadata(cfg.ToMetadata(), "vit.safetensors"));
        // The hybrid: a stem halves 8×8 to 4×4, cut into 2×2 patches: 4 patches + the class token.
        var hybrid = new VitConfig(ImageSize: 8, PatchSize: 2, Dim: 8, Depth: 1, Heads: 2, MlpDim: 8, StemChannels: 4);
        Assert.Equal(5, hybrid.Tokens);
        Assert.Equal(hybrid, VitConfig.FromMetadata(hybrid.ToMetadata(), "vit.safetensors"));
        var hv = new VisionTransformer(hybrid, new Generator(2));
        Assert.Equal([3, 10], hv.Call(Tensor.Rand(3, 1, 8, 8)).Shape.ToArray());
        Assert.Equal([3, 2, 2], hv.AttentionRollout(Tensor.Rand(3, 1, 8, 8)).Shape.ToArray());
        Assert.Contains("stem.1.running_mean", hv.StateDict().Keys);
        Assert.Throws<ArgumentException>(() => new VisionTransformer(hybrid with { PatchSize = 3 }));
    }

    /// <summary>Mixup blends images and one-hot targets with the same λ; Beta(α, α) draws have the right mean and variance.</summary>
    [Fact]
    public void MixupBlendsImagesAndTargetsAlike()
    {
        var images = Tensor.FromArray(Enumerable.Range(0, 4 * 3).Select(i => (float)i).ToArray(), 4, 1, 1, 3);
        var labels = Tensor.FromArray(new long[] { 0, 1, 2, 1 }, 4);
        var (mixed, soft) = Transforms.Mixup(images, labels, 3, 0.4, new Generator(5));
        var s = soft.ToArray<float>();
        var m = mixed.ToArray<float>();
        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(1.0, s.Skip(3 * i).Take(3).Sum(), 5);
            // Each mixed row is λ·own + (1 − λ)·partner: with rows 3i..3i+2 = 3i + (0, 1, 2), the offset pattern is kept.
            Assert.Equal(m[3 * i] + 1, m[3 * i + 1], 4);
        }
        Assert.Throws<ArgumentException>(() => Transforms.Mixup(images, Tensor.FromArray(new long[] { 0, 1, 3, 1 }, 4), 3, 0.4));
        var g = new Generator(9);
        var draws = Enumerable.Range(0, 20000).Select(_ => g.NextBeta(2, 5)).ToArray();
        double mean = draws.Average(), variance = draws.Select(d => (d - mean) * (d - mean)).Average();
        // Within 4 standard errors of a/(a+b) and ab/((a+b)²(a+b+1)) = 0.02551 (the variance's SE ≈ 0.00025 here).
        const double betaVar = 2.0 * 5 / (49 * 8);
        Assert.InRange(mean, 2.0 / 7 - 4 * Math.Sqrt(betaVar / 20000), 2.0 / 7 + 4 * Math.Sqrt(betaVar / 20000));
        Assert.InRange(variance, betaVar - 0.001, betaVar + 0.001);
        var gam = Enumerable.Range(0, 20000).Select(_ => g.NextGamma(0.5)).ToArray();   // mean 0.5, variance 0.5
        Assert.InRange(gam.Average(), 0.5 - 4 * Math.Sqrt(0.5 / 20000), 0.5 + 4 * Math.Sqrt(0.5 / 20000));
    }
}

/// <summary>Diffusion schedules and samplers against the papers' equations evaluated in PyTorch (float64).</summary>
public class DiffusionTests
{
    private static JsonElement D => JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "generative_reference.json"))).RootElement.GetProperty("diffusion");

    private static Tensor T(JsonElement e, string p) => Tensor.FromArray(e.Doubles(p).Select(v => (float)v).ToArray(), 3, 1, 4, 4);

    [Fact]
    public void SchedulesNoisingAndStepsEqualTheEquations()
    {
        var c = D;
        int steps = c.GetProperty("steps").GetInt32();
        var lin = NoiseSchedule.Linear(steps);
        TorchReference.Close(c.Doubles("linear"), lin.Betas, 1e-12, "linear β");
        TorchReference.Close(c.Doubles("cosine"), NoiseSchedule.Cosine(steps).Betas, 1e-12, "cosine β");
        var ts = Tensor.FromArray(c.Ints("timesteps").Select(v => (long)v).ToArray(), 3);
        var xt = lin.AddNoise(T(c, "x0"), T(c, "eps"), ts);
        TorchReference.Close(c.Doubles("xt"), xt.ToArrayDouble(), 1e-6, "x_t");
        var ddpm = lin.DdpmStep(T(c, "xt"), T(c, "eps"), c.GetProperty("ddpm_t").GetInt32(), noise: T(c, "z"));
        TorchReference.Close(c.Doubles("ddpm"), ddpm.ToArrayDouble(), 1e-5, "DDPM step");
        var ddim = lin.DdimStep(T(c, "xt"), T(c, "eps"), c.GetProperty("ddim_t").GetInt32(), c.GetProperty("ddim_prev").GetInt32(),
            c.GetProperty("ddim_eta").GetDouble(), noise: T(c, "z"));
        TorchReference.Close(c.Doubles("ddim"), ddim.ToArrayDouble(), 1e-5, "DDIM step");
        var times = Tensor.FromArray(c.Doubles("sinusoid_times").Select(v => (long)v).ToArray(), 3);
        TorchReference.Close(c.Doubles("sinusoids"), TimestepEmbedding.Sinusoids(times, 16).ToArrayDouble(), 1e-6, "sinusoids");
        Assert.Equal([3, 64], new TimestepEmbedding(16).Call(times).Shape.ToArray());
    }

    /// <summary>DDIM with η = 0 and the true noise recovers x₀ exactly in one step from any t (x̂₀ is exact), and
    /// walking the whole timestep list with the true noise ends at x₀; the timesteps run from T−1 down to 0.</summary>
    [Fact]
    public void DdimWithTheTrueNoiseRecoversTheImage()
    {
        var s = NoiseSchedule.Cosine(100);
        var g = new Generator(2);
        var x0 = Tensor.Randn([2, 1, 3, 3], DType.Float64, g);
        var eps = Tensor.Randn([2, 1, 3, 3], DType.Float64, g);
        var xt = s.AddNoise(x0, eps, Tensor.FromArray(new long[] { 99, 99 }, 2));
        TorchReference.Close(x0.ToArrayDouble(), s.DdimStep(xt, eps, 99, -1).ToArrayDouble(), 1e-9, "one step");
        var steps = s.DdimTimesteps(10);
        Assert.Equal(99, steps[0]);
        Assert.Equal(0, steps[^1]);
        var x = xt;
        for (int i = 0; i < steps.Length; i++) x = s.DdimStep(x, eps, steps[i], i + 1 < steps.Length ? steps[i + 1] : -1);
        TorchReference.Close(x0.ToArrayDouble(), x.ToArrayDouble(), 1e-9, "walk");
        Assert.Throws<ArgumentException>(() => s.AddNoise(x0, eps, Tensor.FromArray(new long[] { 0, 100 }, 2)));
        Assert.Throws<ArgumentOutOfRangeException>(() => s.DdimStep(xt, eps, 5, 5));
    }
}

/// <summary>Box operations against torchvision 0.14's ops (Debian python3-torchvision), with a duplicate box and a
/// score tie among 40 overlapping boxes.</summary>
public class BoxesTests
{
    private static JsonElement B => JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "generative_reference.json"))).RootElement.GetProperty("boxes");

    [Fact]
    public void ConversionIouAndNmsEqualTorchvision()
    {
        var c = B;
        var boxes = Tensor.FromArray(c.Doubles("boxes"), 40, 4);
        var scores = Tensor.FromArray(c.Doubles("scores"), 40);
        var boxes2 = Tensor.FromArray(c.Doubles("boxes2"), 9, 4);
        TorchReference.Close(c.Doubles("cxcywh"), Boxes.Convert(boxes, BoxFormat.Xyxy, BoxFormat.Cxcywh).ToArrayDouble(), 1e-6, "cxcywh");
        TorchReference.Close(c.Doubles("xywh"), Boxes.Convert(boxes, BoxFormat.Xyxy, BoxFormat.Xywh).ToArrayDouble(), 1e-6, "xywh");
        TorchReference.Close(c.Doubles("boxes"), Boxes.Convert(Boxes.Convert(boxes, BoxFormat.Xyxy, BoxFormat.Cxcywh), BoxFormat.Cxcywh, BoxFormat.Xyxy).ToArrayDouble(), 1e-6, "round trip");
        var first9 = boxes.Narrow(0, 0, 9);
        TorchReference.Close(c.Doubles("iou"), Boxes.Iou(first9, boxes2).ToArrayDouble(), 1e-5, "IoU");
        TorchReference.Close(c.Doubles("giou"), Boxes.GeneralizedIou(first9, boxes2).ToArrayDouble(), 1e-5, "GIoU");
        foreach (var th in c.GetProperty("nms").EnumerateObject())
            Assert.Equal(th.Value.EnumerateArray().Select(v => v.GetInt64()).ToArray(),
                Boxes.Nms(boxes, scores, double.Parse(th.Name, System.Globalization.CultureInfo.InvariantCulture)).ToArray<long>());
        var classes = Tensor.FromArray(c.Ints("classes").Select(v => (long)v).ToArray(), 40);
        Assert.Equal(c.GetProperty("batched_nms").EnumerateArray().Select(v => v.GetInt64()).ToArray(), Boxes.BatchedNms(boxes, scores, classes, 0.3).ToArray<long>());
    }

    [Fact]
    public void IouIsDifferentiableAndInputsAreChecked()
    {
        var a = Tensor.FromArray(new double[] { 0, 0, 2, 2 }, 1, 4);
        var b = Tensor.FromArray(new double[] { 1, 1, 3, 3 }, 1, 4);
        a.RequiresGrad = true;
        var iou = Boxes.Iou(a, b);
        Assert.Equal(1.0 / 7, iou.Item(), 12);                   // intersection 1, union 4 + 4 − 1
        iou.Sum().Backward();
        // d IoU / d x2 of box a: the intersection grows by 1 (height of the overlap), the union by 2 − 1 = 1.
        Assert.Equal((1.0 * 7 - 1 * 1) / 49, a.Grad!.ToArrayDouble()[2], 12);
        Assert.Contains("(N, 4)", Assert.Throws<ArgumentException>(() => Boxes.Iou(Tensor.Zeros(2, 3), b)).Message);
        Assert.Throws<ArgumentException>(() => Boxes.Nms(Tensor.Zeros(2, 4), Tensor.Zeros(3), 0.5));
    }
}
