using System.Globalization;
using Ember.NN;

namespace Ember.Models;

/// <summary>Hyperparameters of a DCGAN pair (Radford et al., 2016) for square images whose side is divisible by 4:
/// the generator maps z ~ N(0, I) through FC → (2w, S/4, S/4) and two stride-2 transposed convolutions (BatchNorm,
/// ReLU; tanh output in [−1, 1]); the discriminator mirrors it with stride-2 convolutions and LeakyReLU(0.2),
/// BatchNorm after the second (omitted for a WGAN-GP critic: the gradient penalty is per sample).</summary>
public sealed record DcganConfig(int LatentDim = 64, int Channels = 1, int ImageSize = 28, int GeneratorWidth = 64, int DiscriminatorWidth = 64,
    bool DiscriminatorBatchNorm = true)
{
    /// <summary>Checks the configuration (positive sizes, image side divisible by 4).</summary>
    public void Validate()
    {
        if (LatentDim < 1 || Channels < 1 || GeneratorWidth < 1 || DiscriminatorWidth < 1 || ImageSize < 4)
            throw new ArgumentException($"DcganConfig: sizes must be positive and the image at least 4 pixels, got {this}.");
        if (ImageSize % 4 != 0) throw new ArgumentException($"DcganConfig: the image side must be divisible by 4 (two stride-2 levels), got {ImageSize}.");
    }

    /// <summary>The configuration as checkpoint metadata.</summary>
    public Dictionary<string, string> ToMetadata() => new()
    {
        ["model"] = "dcgan", ["latent_dim"] = I(LatentDim), ["channels"] = I(Channels), ["image_size"] = I(ImageSize),
        ["generator_width"] = I(GeneratorWidth), ["discriminator_width"] = I(DiscriminatorWidth),
        ["discriminator_batchnorm"] = DiscriminatorBatchNorm ? "true" : "false",
    };

    private static string I(int v) => v.ToString(CultureInfo.InvariantCulture);

    /// <summary>The configuration stored in a checkpoint's metadata (<paramref name="source"/> names the file in errors).</summary>
    public static DcganConfig FromMetadata(IReadOnlyDictionary<string, string> meta, string source)
    {
        string Get(string k) => meta.TryGetValue(k, out var v) ? v : throw new InvalidDataException($"{source}: checkpoint metadata lacks '{k}' (not a DCGAN checkpoint?).");
        if (Get("model") != "dcgan") throw new InvalidDataException($"{source}: checkpoint holds a '{meta["model"]}' model, not a DCGAN.");
        int Int(string k) => int.TryParse(Get(k), NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v
            : throw new InvalidDataException($"{source}: metadata '{k}' = '{Get(k)}' is not an integer.");
        var c = new DcganConfig(Int("latent_dim"), Int("channels"), Int("image_size"), Int("generator_width"), Int("discriminator_width"),
            Get("discriminator_batchnorm") == "true");
        c.Validate();
        return c;
    }
}

/// <summary>The DCGAN generator: z (N, latent) → images (N, C, S, S) in [−1, 1]. Parameter names <c>project.*</c>,
/// <c>net.*</c>.</summary>
public sealed class DcganGenerator : Module
{
    /// <summary>The architecture's hyperparameters.</summary>
    public DcganConfig Config { get; }
    private readonly Sequential _project, _net;
    private readonly int _side, _width2;

    /// <summary>A generator of configuration <paramref name="config"/>, initialized from <paramref name="generator"/>.</summary>
    public DcganGenerator(DcganConfig config, Generator? generator = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        int w = config.GeneratorWidth;
        (_side, _width2) = (config.ImageSize / 4, 2 * w);
        _project = RegisterModule("project", new Sequential(
            new Linear(config.LatentDim, _width2 * _side * _side, bias: false, generator: generator), new BatchNorm1d(_width2 * _side * _side), new ReLU()));
        _net = RegisterModule("net", new Sequential(
            new ConvTranspose2d(_width2, w, 4, stride: 2, padding: 1, bias: false, generator: generator), new BatchNorm2d(w), new ReLU(),
            new ConvTranspose2d(w, config.Channels, 4, stride: 2, padding: 1, generator: generator), new Tanh()));
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        if (input.Dim != 2 || input.Size(1) != Config.LatentDim)
            throw new ArgumentException($"DcganGenerator: expected latent codes (N, {Config.LatentDim}), got {ShapeUtil.Str(input.Shape)}.");
        return _net.Call(_project.Call(input).View(input.Size(0), _width2, _side, _side));
    }

    /// <summary><paramref name="count"/> images from z ~ N(0, I) drawn from <paramref name="generator"/>, in eval mode
    /// without autograd, mapped from [−1, 1] to [0, 1].</summary>
    public Tensor Sample(int count, Generator? generator = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        bool was = Training;
        Eval();
        try
        {
            using var _ = Tensor.NoGrad();
            return Call(Tensor.Randn([count, Config.LatentDim], DType.Float32, generator)).Add(1).Mul(0.5);
        }
        finally { Train(was); }
    }
}

/// <summary>The DCGAN discriminator (or WGAN-GP critic, without BatchNorm): images (N, C, S, S) in [−1, 1] → one
/// logit (or critic score) per image, (N). Parameter names <c>net.*</c>.</summary>
public sealed class DcganDiscriminator : Module
{
    /// <summary>The architecture's hyperparameters.</summary>
    public DcganConfig Config { get; }
    private readonly Sequential _net;

    /// <summary>A discriminator of configuration <paramref name="config"/>, initialized from <paramref name="generator"/>.</summary>
    public DcganDiscriminator(DcganConfig config, Generator? generator = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        int w = config.DiscriminatorWidth, side = config.ImageSize / 4;
        _net = RegisterModule("net", new Sequential(
            new Conv2d(config.Channels, w, 4, stride: 2, padding: 1, generator: generator), new LeakyReLU(0.2),
            new Conv2d(w, 2 * w, 4, stride: 2, padding: 1, bias: !config.DiscriminatorBatchNorm, generator: generator),
            config.DiscriminatorBatchNorm ? new BatchNorm2d(2 * w) : new Identity(), new LeakyReLU(0.2),
            new Flatten(), new Linear(2 * w * side * side, 1, generator: generator)));
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        var c = Config;
        if (input.Dim != 4 || input.Size(1) != c.Channels || input.Size(2) != c.ImageSize || input.Size(3) != c.ImageSize)
            throw new ArgumentException($"DcganDiscriminator: expected images (N, {c.Channels}, {c.ImageSize}, {c.ImageSize}), got {ShapeUtil.Str(input.Shape)}.");
        return _net.Call(input).View(input.Size(0));
    }
}

/// <summary>GAN objectives: the non-saturating loss of Goodfellow et al. (2014) and the Wasserstein loss with gradient
/// penalty of Gulrajani et al. (2017).</summary>
public static class GanLosses
{
    /// <summary>The discriminator's loss: −log D(real) − log(1 − D(fake)), mean over the batch, from logits.</summary>
    public static Tensor Discriminator(Tensor realLogits, Tensor fakeLogits) =>
        Functional.BinaryCrossEntropyWithLogits(realLogits, Tensor.OnesLike(realLogits))
            .Add(Functional.BinaryCrossEntropyWithLogits(fakeLogits, Tensor.ZerosLike(fakeLogits)));

    /// <summary>The generator's non-saturating loss −log D(G(z)), mean over the batch, from the discriminator's logits.</summary>
    public static Tensor NonSaturatingGenerator(Tensor fakeLogits) =>
        Functional.BinaryCrossEntropyWithLogits(fakeLogits, Tensor.OnesLike(fakeLogits));

    /// <summary>The critic's Wasserstein loss E[D(fake)] − E[D(real)] (the generator minimizes −E[D(fake)]).</summary>
    public static Tensor WassersteinCritic(Tensor realScores, Tensor fakeScores) => fakeScores.Mean().Sub(realScores.Mean());

    /// <summary>The gradient penalty E[(‖∇ₓD(x̂)‖₂ − 1)²] at <paramref name="points"/> (a graph: differentiable with
    /// respect to the critic's parameters).</summary>
    public static Tensor GradientPenalty(Module critic, Tensor points)
    {
        ArgumentNullException.ThrowIfNull(critic);
        var x = points.Detach();
        x.RequiresGrad = true;
        var gx = Autograd.Grad.Of(critic.Call(x).Sum(), x, createGraph: true);
        return gx.Flatten(1).Pow(2).Sum(1).Add(1e-12).Sqrt().Sub(1).Pow(2).Mean();
    }

    /// <summary>The WGAN-GP penalty at x̂ = α·real + (1 − α)·fake, α ~ U(0, 1) per sample from <paramref name="generator"/>.</summary>
    public static Tensor GradientPenalty(Module critic, Tensor real, Tensor fake, Generator? generator = null)
    {
        if (!ShapeUtil.SameShape(real.Shape, fake.Shape))
            throw new ArgumentException($"GradientPenalty: real {ShapeUtil.Str(real.Shape)} and fake {ShapeUtil.Str(fake.Shape)} images differ in shape.");
        var shape = new int[real.Dim];
        Array.Fill(shape, 1);
        shape[0] = real.Size(0);
        var alpha = Tensor.Rand(shape, real.DType, generator);
        var points = real.Detach().Mul(alpha).Add(fake.Detach().Mul(alpha.Neg().Add(1)));
        return GradientPenalty(critic, points);
    }
}
