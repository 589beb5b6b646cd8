using System.Globalization;
using Ember.NN;

namespace Ember.Models;

/// <summary>Hyperparameters of a Vision Transformer (Dosovitskiy et al., 2021) for square images: non-overlapping
/// <see cref="PatchSize"/>² patches embedded by a strided convolution, a class token, learned positions, and
/// <see cref="Depth"/> pre-norm encoder blocks (GELU feed-forward of width <see cref="MlpDim"/>). With
/// <see cref="StemChannels"/> &gt; 0 it is the paper's hybrid (§3.1): the patches are cut from the feature map of a
/// small CNN stem, conv3×3-BN-ReLU then conv3×3/2-BN-ReLU (half the resolution), as in Xiao et al. (2021), "Early
/// convolutions help transformers see better".</summary>
public sealed record VitConfig(int ImageSize = 28, int PatchSize = 4, int InChannels = 1, int NumClasses = 10, int Dim = 64, int Depth = 6,
    int Heads = 4, int MlpDim = 128, double Dropout = 0.0, double AttentionDropout = 0.0, int StemChannels = 0)
{
    /// <summary>Side of the map the patches are cut from: the image, or half of it after the stem.</summary>
    public int FeatureSize => StemChannels > 0 ? ImageSize / 2 : ImageSize;

    /// <summary>Patches per side.</summary>
    public int GridSize => FeatureSize / PatchSize;

    /// <summary>Tokens per image: the patches and the class token.</summary>
    public int Tokens => GridSize * GridSize + 1;

    /// <summary>Checks the configuration (positive sizes, image side divisible by the patch, width by the heads).</summary>
    public void Validate()
    {
        if (ImageSize < 1 || PatchSize < 1 || InChannels < 1 || NumClasses < 1 || Dim < 1 || Depth < 1 || Heads < 1 || MlpDim < 1 || StemChannels < 0)
            throw new ArgumentException($"VitConfig: every size must be positive, got {this}.");
        if (StemChannels > 0 && ImageSize % 2 != 0) throw new ArgumentException($"VitConfig: the stem halves the image, so its size {ImageSize} must be even.");
        if (FeatureSize % PatchSize != 0)
            throw new ArgumentException($"VitConfig: {(StemChannels > 0 ? $"the stem's {FeatureSize}×{FeatureSize} map" : $"image size {ImageSize}")} is not divisible by patch size {PatchSize}.");
        if (Dim % Heads != 0) throw new ArgumentException($"VitConfig: dim {Dim} must be divisible by heads {Heads}.");
        if (Dropout is < 0 or >= 1 || AttentionDropout is < 0 or >= 1)
            throw new ArgumentException($"VitConfig: dropout rates must be in [0, 1), got {Dropout} and {AttentionDropout}.");
    }

    /// <summary>The configuration as checkpoint metadata.</summary>
    public Dictionary<string, string> ToMetadata() => new()
    {
        ["model"] = "vit", ["image_size"] = I(ImageSize), ["patch_size"] = I(PatchSize), ["in_channels"] = I(InChannels),
        ["num_classes"] = I(NumClasses), ["dim"] = I(Dim), ["depth"] = I(Depth), ["heads"] = I(Heads), ["mlp_dim"] = I(MlpDim),
        ["dropout"] = Dropout.ToString("R", CultureInfo.InvariantCulture), ["attention_dropout"] = AttentionDropout.ToString("R", CultureInfo.InvariantCulture),
        ["stem_channels"] = I(StemChannels),
    };

    private static string I(int v) => v.ToString(CultureInfo.InvariantCulture);

    /// <summary>The configuration stored in a checkpoint's metadata (<paramref name="source"/> names the file in errors).</summary>
    public static VitConfig FromMetadata(IReadOnlyDictionary<string, string> meta, string source)
    {
        string Get(string k) => meta.TryGetValue(k, out var v) ? v : throw new InvalidDataException($"{source}: checkpoint metadata lacks '{k}' (not a ViT checkpoint?).");
        if (Get("model") != "vit") throw new InvalidDataException($"{source}: checkpoint holds a '{meta["model"]}' model, not a ViT.");
        int Int(string k) => int.TryParse(Get(k), NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v
            : throw new InvalidDataException($"{source}: metadata '{k}' = '{Get(k)}' is not an integer.");
        double Real(string k) => double.TryParse(Get(k), NumberStyles.Float, CultureInfo.InvariantCulture, out double v) ? v
            : throw new InvalidDataException($"{source}: metadata '{k}' = '{Get(k)}' is not a number.");
        var c = new VitConfig(Int("image_size"), Int("patch_size"), Int("in_channels"), Int("num_classes"), Int("dim"), Int("depth"), Int("heads"),
            Int("mlp_dim"), Real("dropout"), Real("attention_dropout"), meta.ContainsKey("stem_channels") ? Int("stem_channels") : 0);
        c.Validate();
        return c;
    }
}

/// <summary>A Vision Transformer classifier. Parameter names: <c>stem.*</c> (hybrid only), <c>patch_embed.*</c> (conv, kernel = stride = patch),
/// <c>cls_token</c> (1, 1, D), <c>pos_embed</c> (1, tokens, D), <c>encoder.layers.i.*</c> (PyTorch's
/// <c>nn.TransformerEncoderLayer</c>, batch-first, pre-norm, GELU), <c>encoder.norm.*</c>, <c>head.*</c>: the state
/// dict of the same model built from PyTorch modules.
/// <para>Shape: images (N, C, S, S) → logits (N, classes), from the class token's final state.</para></summary>
public sealed class VisionTransformer : Module
{
    /// <summary>The architecture's hyperparameters.</summary>
    public VitConfig Config { get; }
    /// <summary>The encoder blocks and the final LayerNorm.</summary>
    public TransformerEncoder Encoder { get; }
    private readonly Conv2d _patchEmbed;
    private readonly Sequential? _stem;
    private readonly Tensor _clsToken, _posEmbed;
    private readonly Dropout _dropout;
    private readonly Linear _head;

    /// <summary>A ViT of configuration <paramref name="config"/>: class token and positions drawn from N(0, 0.02²) as
    /// in the reference implementations; the convolution, blocks and head keep PyTorch's default initialization.</summary>
    public VisionTransformer(VitConfig config, Generator? generator = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        int s = config.StemChannels;
        if (s > 0)
            _stem = RegisterModule("stem", new Sequential(
                new Conv2d(config.InChannels, s, 3, padding: 1, bias: false, generator: generator), new BatchNorm2d(s), new ReLU(),
                new Conv2d(s, s, 3, stride: 2, padding: 1, bias: false, generator: generator), new BatchNorm2d(s), new ReLU()));
        _patchEmbed = RegisterModule("patch_embed", new Conv2d(s > 0 ? s : config.InChannels, config.Dim, config.PatchSize, stride: config.PatchSize, generator: generator));
        _clsToken = RegisterParameter("cls_token", Tensor.Zeros([1, 1, config.Dim], requiresGrad: true))!;
        _posEmbed = RegisterParameter("pos_embed", Tensor.Zeros([1, config.Tokens, config.Dim], requiresGrad: true))!;
        using (Tensor.NoGrad())
        {
            Init.Normal(_clsToken, 0, 0.02, generator);
            Init.Normal(_posEmbed, 0, 0.02, generator);
        }
        _dropout = RegisterModule("dropout", new Dropout(config.Dropout, generator));
        Encoder = RegisterModule("encoder", new TransformerEncoder(
            () => new TransformerEncoderLayer(config.Dim, config.Heads, config.MlpDim, config.Dropout, TransformerActivation.Gelu, 1e-6,
                batchFirst: true, normFirst: true, generator: generator, attentionDropout: config.AttentionDropout),
            config.Depth, new LayerNorm(config.Dim, 1e-6)));
        _head = RegisterModule("head", new Linear(config.Dim, config.NumClasses, generator: generator));
    }

    /// <summary>In training, run each encoder block as a checkpointed segment (activations recomputed in backward).</summary>
    public bool GradientCheckpointing
    {
        get => Encoder.GradientCheckpointing;
        set => Encoder.GradientCheckpointing = value;
    }

    /// <summary>The token sequence entering the encoder: (N, tokens, D) = [class token; patch embeddings] + positions.</summary>
    public Tensor Embed(Tensor images)
    {
        var c = Config;
        if (images.Dim != 4 || images.Size(1) != c.InChannels || images.Size(2) != c.ImageSize || images.Size(3) != c.ImageSize)
            throw new ArgumentException($"VisionTransformer: expected images (N, {c.InChannels}, {c.ImageSize}, {c.ImageSize}), got {ShapeUtil.Str(images.Shape)}.");
        int n = images.Size(0);
        var patches = _patchEmbed.Call(_stem is null ? images : _stem.Call(images)).Flatten(2).Transpose(1, 2);   // (N, L, D)
        var tokens = Tensor.Cat([_clsToken.Expand(n, 1, c.Dim), patches], 1);
        return _dropout.Call(tokens + _posEmbed);
    }

    /// <summary>The encoder's final states (N, tokens, D), the class token first.</summary>
    public Tensor Features(Tensor images) => Encoder.Forward(Embed(images), null, null);

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => _head.Call(Features(input).Select(1, 0));

    /// <summary>The self-attention weights (N, H, tokens, tokens) of every block (eval mode, no gradient).</summary>
    public IReadOnlyList<Tensor> AttentionMaps(Tensor images) =>
        AttentionCapture.Run(this, Encoder.Layers.Cast<TransformerEncoderLayer>().ToArray(), (l, k) => l.KeepAttentionWeights = k,
            l => l.AttentionWeights, () => Forward(images));

    /// <summary>Attention rollout (Abnar &amp; Zuidema, 2020): each block's head-averaged attention with the residual
    /// added, 0.5·A + 0.5·I (rows still sum to 1), multiplied from the first block to the last; the class token's row
    /// over the patches, (N, grid, grid), tells how much each patch flowed into the prediction.</summary>
    public Tensor AttentionRollout(Tensor images)
    {
        var maps = AttentionMaps(images);
        using var _ = Tensor.NoGrad();
        int t = Config.Tokens, g = Config.GridSize;
        var eye = Tensor.Eye(t).Unsqueeze(0);
        Tensor? rollout = null;
        foreach (var map in maps)
        {
            var a = map.To(DType.Float32).Mean(1) * 0.5 + eye * 0.5;                     // (N, T, T)
            rollout = rollout is null ? a : a.Matmul(rollout);
        }
        return rollout!.Select(1, 0).Narrow(1, 1, t - 1).Reshape(images.Size(0), g, g);
    }
}
