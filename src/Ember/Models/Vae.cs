using System.Globalization;
using Ember.NN;

namespace Ember.Models;

/// <summary>How a VAE's decoder scores an image: independent Bernoulli pixels (binary images; the decoder gives
/// logits) or independent Gaussians with one learned standard deviation (the decoder gives means).</summary>
public enum VaeLikelihood
{
    /// <summary>log p(x|z) = Σ x·log σ(l) + (1 − x)·log(1 − σ(l)) over pixels (targets in {0, 1}, or in [0, 1]).</summary>
    Bernoulli,
    /// <summary>log p(x|z) = Σ log N(x; μ, σ²) over pixels, σ = exp(<c>log_scale</c>) learned.</summary>
    Gaussian,
}

/// <summary>Hyperparameters of a convolutional VAE (Kingma &amp; Welling, 2014) for square images whose side is
/// divisible by 4: encoder conv(4, s2)-ReLU ×2 → FC-ReLU → FC to (μ, log σ²); decoder the mirror image with
/// transposed convolutions. <see cref="Beta"/> weighs the KL term (β-VAE, Higgins et al., 2017).</summary>
public sealed record VaeConfig(int InChannels = 1, int ImageSize = 28, int LatentDim = 16, int Width = 32, int Hidden = 256,
    VaeLikelihood Likelihood = VaeLikelihood.Bernoulli, double Beta = 1.0)
{
    /// <summary>Checks the configuration (positive sizes, image side divisible by 4, β ≥ 0).</summary>
    public void Validate()
    {
        if (InChannels < 1 || LatentDim < 1 || Width < 1 || Hidden < 1 || ImageSize < 4)
            throw new ArgumentException($"VaeConfig: sizes must be positive and the image at least 4 pixels, got {this}.");
        if (ImageSize % 4 != 0) throw new ArgumentException($"VaeConfig: the image side must be divisible by 4 (two stride-2 levels), got {ImageSize}.");
        if (!(Beta >= 0) || double.IsInfinity(Beta)) throw new ArgumentException($"VaeConfig: beta must be a finite number >= 0, got {Beta}.");
    }

    /// <summary>The configuration as checkpoint metadata.</summary>
    public Dictionary<string, string> ToMetadata() => new()
    {
        ["model"] = "vae", ["in_channels"] = I(InChannels), ["image_size"] = I(ImageSize), ["latent_dim"] = I(LatentDim),
        ["width"] = I(Width), ["hidden"] = I(Hidden), ["likelihood"] = Likelihood.ToString().ToLowerInvariant(),
        ["beta"] = Beta.ToString("R", CultureInfo.InvariantCulture),
    };

    private static string I(int v) => v.ToString(CultureInfo.InvariantCulture);

    /// <summary>The configuration stored in a checkpoint's metadata (<paramref name="source"/> names the file in errors).</summary>
    public static VaeConfig FromMetadata(IReadOnlyDictionary<string, string> meta, string source)
    {
        string Get(string k) => meta.TryGetValue(k, out var v) ? v : throw new InvalidDataException($"{source}: checkpoint metadata lacks '{k}' (not a VAE checkpoint?).");
        if (Get("model") != "vae") throw new InvalidDataException($"{source}: checkpoint holds a '{meta["model"]}' model, not a VAE.");
        int Int(string k) => int.TryParse(Get(k), NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v
            : throw new InvalidDataException($"{source}: metadata '{k}' = '{Get(k)}' is not an integer.");
        var likelihood = Get("likelihood") switch
        {
            "bernoulli" => VaeLikelihood.Bernoulli,
            "gaussian" => VaeLikelihood.Gaussian,
            var s => throw new InvalidDataException($"{source}: metadata 'likelihood' = '{s}' is neither 'bernoulli' nor 'gaussian'."),
        };
        if (!double.TryParse(Get("beta"), NumberStyles.Float, CultureInfo.InvariantCulture, out double beta))
            throw new InvalidDataException($"{source}: metadata 'beta' = '{Get("beta")}' is not a number.");
        var c = new VaeConfig(Int("in_channels"), Int("image_size"), Int("latent_dim"), Int("width"), Int("hidden"), likelihood, beta);
        c.Validate();
        return c;
    }
}

/// <summary>The evidence lower bound of a batch, per image, in nats: <c>Loss</c> = reconstruction + β·KL is what
/// training minimizes (mean over the batch); <c>NegativeElbo</c> = reconstruction + KL (β = 1) is the bound on
/// −log p(x).</summary>
public sealed record VaeLoss(Tensor Loss, Tensor Reconstruction, Tensor Kl, Tensor NegativeElbo);

/// <summary>A convolutional variational autoencoder with a standard-normal prior and a diagonal Gaussian posterior,
/// trained through the reparameterization z = μ + σ·ε. Parameter names: <c>encoder.*</c>, <c>to_stats</c>,
/// <c>decoder_input.*</c>, <c>decoder.*</c> (and <c>log_scale</c> for a Gaussian decoder).
/// <para>Shape: images (N, C, S, S) → decoder output (N, C, S, S): Bernoulli logits or Gaussian means.</para></summary>
public sealed class Vae : Module
{
    /// <summary>The architecture's hyperparameters.</summary>
    public VaeConfig Config { get; }
    private readonly Sequential _encoder, _decoderInput, _decoder;
    private readonly Linear _toStats;
    private readonly Tensor? _logScale;
    private readonly int _side, _channels2;

    /// <summary>A VAE of configuration <paramref name="config"/>, initialized from <paramref name="generator"/>.</summary>
    public Vae(VaeConfig config, Generator? generator = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        int w = config.Width, w2 = 2 * w;
        _side = config.ImageSize / 4;
        _channels2 = w2;
        int flat = w2 * _side * _side;
        _encoder = RegisterModule("encoder", new Sequential(
            new Conv2d(config.InChannels, w, 4, stride: 2, padding: 1, generator: generator), new ReLU(),
            new Conv2d(w, w2, 4, stride: 2, padding: 1, generator: generator), new ReLU(),
            new Flatten(),
            new Linear(flat, config.Hidden, generator: generator), new ReLU()));
        _toStats = RegisterModule("to_stats", new Linear(config.Hidden, 2 * config.LatentDim, generator: generator));
        _decoderInput = RegisterModule("decoder_input", new Sequential(
            new Linear(config.LatentDim, config.Hidden, generator: generator), new ReLU(),
            new Linear(config.Hidden, flat, generator: generator), new ReLU()));
        _decoder = RegisterModule("decoder", new Sequential(
            new ConvTranspose2d(w2, w, 4, stride: 2, padding: 1, generator: generator), new ReLU(),
            new ConvTranspose2d(w, config.InChannels, 4, stride: 2, padding: 1, generator: generator)));
        if (config.Likelihood == VaeLikelihood.Gaussian) _logScale = RegisterParameter("log_scale", Tensor.Zeros([1], requiresGrad: true));
    }

    private void CheckImages(Tensor x, string op)
    {
        var c = Config;
        if (x.Dim != 4 || x.Size(1) != c.InChannels || x.Size(2) != c.ImageSize || x.Size(3) != c.ImageSize)
            throw new ArgumentException($"Vae.{op}: expected images (N, {c.InChannels}, {c.ImageSize}, {c.ImageSize}), got {ShapeUtil.Str(x.Shape)}.");
    }

    /// <summary>The posterior's mean and log-variance for images (N, C, S, S) → two (N, latent) tensors.</summary>
    public (Tensor Mean, Tensor LogVar) Encode(Tensor images)
    {
        CheckImages(images, nameof(Encode));
        var stats = _toStats.Call(_encoder.Call(images));
        int d = Config.LatentDim;
        return (stats.Narrow(1, 0, d), stats.Narrow(1, d, d));
    }

    /// <summary>The decoder's output for latent codes (N, latent): Bernoulli logits or Gaussian means (N, C, S, S).</summary>
    public Tensor Decode(Tensor z)
    {
        if (z.Dim != 2 || z.Size(1) != Config.LatentDim)
            throw new ArgumentException($"Vae.Decode: expected latent codes (N, {Config.LatentDim}), got {ShapeUtil.Str(z.Shape)}.");
        var h = _decoderInput.Call(z).View(z.Size(0), _channels2, _side, _side);
        return _decoder.Call(h);
    }

    /// <summary>z = μ + exp(½·log σ²)·ε with ε ~ N(0, I) from <paramref name="generator"/>: differentiable in μ and σ.</summary>
    public static Tensor Reparameterize(Tensor mean, Tensor logVar, Generator? generator = null)
    {
        var eps = Tensor.Randn(mean.Shape.ToArray(), mean.DType, generator);
        return mean + (logVar * 0.5).Exp() * eps;
    }

    /// <summary>The decoder's output for the images' sampled latent codes (training forward, one sample each).</summary>
    public override Tensor Forward(Tensor input)
    {
        var (mu, logVar) = Encode(input);
        return Decode(Reparameterize(mu, logVar));
    }

    /// <summary>log p(x|z) per image (N) for decoder output <paramref name="output"/> and images <paramref name="target"/>.</summary>
    public Tensor LogLikelihood(Tensor output, Tensor target)
    {
        int n = output.Size(0);
        if (Config.Likelihood == VaeLikelihood.Bernoulli)
            return -Functional.BinaryCrossEntropyWithLogits(output, target, reduction: Reduction.None).View(n, -1).Sum(1);
        // log N(x; μ, σ²) = −(x − μ)²/(2σ²) − log σ − ½ log 2π
        var logScale = _logScale!;
        var z = (target - output) * (-logScale).Exp();
        int pixels = output.NumEl / Math.Max(1, n);
        return (z * z * -0.5).View(n, -1).Sum(1) - logScale * pixels - 0.5 * Math.Log(2 * Math.PI) * pixels;
    }

    /// <summary>KL(N(μ, σ²) ‖ N(0, I)) per image (N) = ½ Σ (μ² + σ² − 1 − log σ²).</summary>
    public static Tensor KlToStandardNormal(Tensor mean, Tensor logVar)
        => ((mean * mean + logVar.Exp() - logVar - 1.0) * 0.5).Sum(1);

    /// <summary>The batch's ELBO terms with one posterior sample per image drawn from <paramref name="generator"/>.</summary>
    public VaeLoss Loss(Tensor images, Generator? generator = null)
    {
        var (mu, logVar) = Encode(images);
        var output = Decode(Reparameterize(mu, logVar, generator));
        var recon = -LogLikelihood(output, images);
        var kl = KlToStandardNormal(mu, logVar);
        var loss = Config.Beta == 1.0 ? recon + kl : recon + kl * Config.Beta;
        return new VaeLoss(loss.Mean(), recon.Mean(), kl.Mean(), (recon + kl).Mean());
    }

    /// <summary>The importance-weighted estimate of log p(x) per image (Burda et al., 2016):
    /// log (1/k) Σᵢ p(x|zᵢ)·p(zᵢ)/q(zᵢ|x) with zᵢ ~ q(z|x), evaluated without autograd in chunks of images.
    /// A lower bound on log p(x) that tightens as <paramref name="samples"/> grows (k = 1 is the ELBO).</summary>
    public Tensor ImportanceWeightedLogLikelihood(Tensor images, int samples = 100, Generator? generator = null, int imagesPerChunk = 16)
    {
        CheckImages(images, nameof(ImportanceWeightedLogLikelihood));
        ArgumentOutOfRangeException.ThrowIfLessThan(samples, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(imagesPerChunk, 1);
        using var _ = Tensor.NoGrad();
        int n = images.Size(0), d = Config.LatentDim;
        var result = new float[n];
        double logK = Math.Log(samples), halfLog2Pi = 0.5 * Math.Log(2 * Math.PI);
        for (int start = 0; start < n; start += imagesPerChunk)
        {
            int m = Math.Min(imagesPerChunk, n - start);
            var x = images.Narrow(0, start, m);
            var (mu, logVar) = Encode(x);
            // (m, k, d): k samples per image, image-major so that rows of one image stay together.
            var muK = mu.Unsqueeze(1).Expand(m, samples, d);
            var lvK = logVar.Unsqueeze(1).Expand(m, samples, d);
            var eps = Tensor.Randn([m, samples, d], mu.DType, generator);
            var z = muK + (lvK * 0.5).Exp() * eps;
            var logQ = ((eps * eps * -0.5) - lvK * 0.5).Sum(2) - halfLog2Pi * d;     // log N(z; μ, σ²)
            var logPz = (z * z * -0.5).Sum(2) - halfLog2Pi * d;                        // log N(z; 0, I)
            var xK = x.Unsqueeze(1).Expand(m, samples, x.Size(1), x.Size(2), x.Size(3)).Reshape(m * samples, x.Size(1), x.Size(2), x.Size(3));
            var logPx = LogLikelihood(Decode(z.Reshape(m * samples, d)), xK).View(m, samples);
            var w = (logPx + logPz - logQ).LogSumExp(1) - logK;
            w.To(DType.Float32).ToArray<float>().CopyTo(result, start);
        }
        return Tensor.FromArray(result, [n]);
    }

    /// <summary><paramref name="count"/> images decoded from prior samples z ~ N(0, I): Bernoulli means σ(logits)
    /// or Gaussian means, (count, C, S, S) in the data's range.</summary>
    public Tensor Sample(int count, Generator? generator = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        using var _ = Tensor.NoGrad();
        return Mean(Decode(Tensor.Randn([count, Config.LatentDim], DType.Float32, generator)));
    }

    /// <summary>The images' reconstructions from their posterior means (no sampling), in the data's range.</summary>
    public Tensor Reconstruct(Tensor images)
    {
        using var _ = Tensor.NoGrad();
        return Mean(Decode(Encode(images).Mean));
    }

    /// <summary>The decoder's output as the expected image: σ(logits) for Bernoulli, the means for Gaussian.</summary>
    public Tensor Mean(Tensor decoderOutput) => Config.Likelihood == VaeLikelihood.Bernoulli ? decoderOutput.Sigmoid() : decoderOutput;
}
