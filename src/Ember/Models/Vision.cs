using Ember.NN;

namespace Ember.Models;

/// <summary>Squeeze-and-excitation (Hu et al., 2018): global average pool → FC (C → C/r) → ReLU → FC (C/r → C) →
/// sigmoid, and the input's channels scaled by the result. Shape: (N, C, H, W) → same.</summary>
public sealed class SqueezeExcitation : Module
{
    /// <summary>The squeeze: channels → channels/reduction.</summary>
    public Linear Reduce { get; }
    /// <summary>The excitation: channels/reduction → channels.</summary>
    public Linear Expand { get; }

    /// <summary>A squeeze-and-excitation gate over <paramref name="channels"/> channels (hidden width channels/<paramref name="reduction"/>).</summary>
    public SqueezeExcitation(int channels, int reduction = 16, Generator? generator = null)
    {
        if (channels < 1 || reduction < 1) throw new ArgumentException($"SqueezeExcitation: channels ({channels}) and reduction ({reduction}) must be positive.");
        int hidden = Math.Max(1, channels / reduction);
        Reduce = RegisterModule("fc1", new Linear(channels, hidden, generator: generator));
        Expand = RegisterModule("fc2", new Linear(hidden, channels, generator: generator));
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        if (input.Dim != 4) throw new ArgumentException($"SqueezeExcitation: expected (N, C, H, W), got {ShapeUtil.Str(input._shape)}.");
        var s = input.Mean([2, 3]);                                  // (N, C)
        var w = Expand.Call(Reduce.Call(s).Relu()).Sigmoid();
        return input.Mul(w.Unsqueeze(-1).Unsqueeze(-1));
    }
}

/// <summary>The residual block of ResNet-18/34 (He et al., 2016): 3×3 conv-BN-ReLU, 3×3 conv-BN, plus the input
/// (through a 1×1 conv-BN projection when the stride or width changes), then ReLU. Optional squeeze-excitation on
/// the residual branch. Shape: (N, inPlanes, H, W) → (N, planes, H/stride, W/stride).</summary>
public sealed class BasicBlock : Module
{
    /// <summary>Output channels per <c>planes</c>: 1 (two 3×3 convolutions keep the width).</summary>
    public const int Expansion = 1;
    private readonly Conv2d _conv1, _conv2;
    private readonly BatchNorm2d _bn1, _bn2;
    private readonly Sequential? _shortcut;
    private readonly SqueezeExcitation? _se;

    /// <summary>The parts in forward order, for exporters: (conv, bn) pairs, the optional squeeze-excitation and shortcut.</summary>
    internal (Conv2d Conv, BatchNorm2d Bn)[] Stages => [(_conv1, _bn1), (_conv2, _bn2)];
    internal SqueezeExcitation? Se => _se;
    internal Sequential? Shortcut => _shortcut;

    /// <summary>A basic block from <paramref name="inPlanes"/> to <paramref name="planes"/> channels; stride 2 halves the resolution (with a 1×1 projection shortcut).</summary>
    public BasicBlock(int inPlanes, int planes, int stride = 1, bool squeezeExcitation = false, Generator? generator = null)
    {
        _conv1 = RegisterModule("conv1", new Conv2d(inPlanes, planes, 3, stride: stride, padding: 1, bias: false, generator: generator));
        _bn1 = RegisterModule("bn1", new BatchNorm2d(planes));
        _conv2 = RegisterModule("conv2", new Conv2d(planes, planes, 3, padding: 1, bias: false, generator: generator));
        _bn2 = RegisterModule("bn2", new BatchNorm2d(planes));
        if (squeezeExcitation) _se = RegisterModule("se", new SqueezeExcitation(planes, generator: generator));
        if (stride != 1 || inPlanes != planes)
            _shortcut = RegisterModule("downsample", new Sequential(
                new Conv2d(inPlanes, planes, 1, stride: stride, bias: false, generator: generator), new BatchNorm2d(planes)));
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        var y = _bn1.Call(_conv1.Call(input)).Relu();
        y = _bn2.Call(_conv2.Call(y));
        if (_se is not null) y = _se.Call(y);
        return y.Add(_shortcut?.Call(input) ?? input).Relu();
    }
}

/// <summary>The bottleneck block of ResNet-50 and deeper: 1×1 (reduce) → 3×3 (stride) → 1×1 (expand ×4), each with
/// BN, ReLU between, plus the (projected) input, then ReLU.</summary>
public sealed class Bottleneck : Module
{
    /// <summary>Output channels per <c>planes</c>: 4 (the last 1×1 convolution expands).</summary>
    public const int Expansion = 4;
    private readonly Conv2d _conv1, _conv2, _conv3;
    private readonly BatchNorm2d _bn1, _bn2, _bn3;
    private readonly Sequential? _shortcut;
    private readonly SqueezeExcitation? _se;

    /// <summary>The parts in forward order, for exporters: (conv, bn) pairs, the optional squeeze-excitation and shortcut.</summary>
    internal (Conv2d Conv, BatchNorm2d Bn)[] Stages => [(_conv1, _bn1), (_conv2, _bn2), (_conv3, _bn3)];
    internal SqueezeExcitation? Se => _se;
    internal Sequential? Shortcut => _shortcut;

    /// <summary>A bottleneck block from <paramref name="inPlanes"/> to 4·<paramref name="planes"/> channels; stride 2 halves the resolution.</summary>
    public Bottleneck(int inPlanes, int planes, int stride = 1, bool squeezeExcitation = false, Generator? generator = null)
    {
        int outPlanes = planes * Expansion;
        _conv1 = RegisterModule("conv1", new Conv2d(inPlanes, planes, 1, bias: false, generator: generator));
        _bn1 = RegisterModule("bn1", new BatchNorm2d(planes));
        _conv2 = RegisterModule("conv2", new Conv2d(planes, planes, 3, stride: stride, padding: 1, bias: false, generator: generator));
        _bn2 = RegisterModule("bn2", new BatchNorm2d(planes));
        _conv3 = RegisterModule("conv3", new Conv2d(planes, outPlanes, 1, bias: false, generator: generator));
        _bn3 = RegisterModule("bn3", new BatchNorm2d(outPlanes));
        if (squeezeExcitation) _se = RegisterModule("se", new SqueezeExcitation(outPlanes, generator: generator));
        if (stride != 1 || inPlanes != outPlanes)
            _shortcut = RegisterModule("downsample", new Sequential(
                new Conv2d(inPlanes, outPlanes, 1, stride: stride, bias: false, generator: generator), new BatchNorm2d(outPlanes)));
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        var y = _bn1.Call(_conv1.Call(input)).Relu();
        y = _bn2.Call(_conv2.Call(y)).Relu();
        y = _bn3.Call(_conv3.Call(y));
        if (_se is not null) y = _se.Call(y);
        return y.Add(_shortcut?.Call(input) ?? input).Relu();
    }
}

/// <summary>A ResNet for small images (CIFAR-style, He et al. 2016 §4.2): a 3×3 stem without max pooling, then stages
/// of residual blocks that halve the resolution and double the width, global average pooling and a linear head.</summary>
/// <param name="InChannels">Input image channels (3 for RGB).</param>
/// <param name="NumClasses">Outputs of the linear head.</param>
/// <param name="Layers">Blocks per stage, e.g. [3, 3, 3] (ResNet-20) or [2, 2, 2, 2] (ResNet-18).</param>
/// <param name="BaseWidth">Channels of the first stage (16 for ResNet-20, 64 for ResNet-18).</param>
/// <param name="Bottleneck">1×1–3×3–1×1 bottleneck blocks (ResNet-50 style) instead of two 3×3 convolutions.</param>
/// <param name="SqueezeExcitation">A squeeze-and-excitation gate (Hu et al. 2018) in every block.</param>
public sealed record ResNetConfig(int InChannels = 3, int NumClasses = 10, int[]? Layers = null, int BaseWidth = 16,
    bool Bottleneck = false, bool SqueezeExcitation = false)
{
    /// <summary>Blocks per stage ([3, 3, 3] when <see cref="Layers"/> is null).</summary>
    public int[] StageBlocks => Layers ?? [3, 3, 3];

    /// <summary>ResNet-20 of He et al. for 32×32 images (0.27 M parameters).</summary>
    public static ResNetConfig ResNet20(int inChannels = 3, int numClasses = 10) => new(inChannels, numClasses, [3, 3, 3], 16);

    /// <summary>ResNet-18 adapted to small images (3×3 stem, no max pool).</summary>
    public static ResNetConfig ResNet18(int inChannels = 3, int numClasses = 10) => new(inChannels, numClasses, [2, 2, 2, 2], 64);
}

/// <summary>ResNet built from a <see cref="ResNetConfig"/>. Shape: (N, C, H, W) → (N, classes).</summary>
public sealed class ResNet : Module
{
    /// <summary>The configuration the network was built from.</summary>
    public ResNetConfig Config { get; }
    private readonly Sequential _stem, _stages;
    private readonly Linear _fc;

    /// <summary>The parts in forward order, for exporters.</summary>
    internal (Sequential Stem, Sequential Stages, Linear Fc) Parts => (_stem, _stages, _fc);

    /// <summary>In training, run each residual block as a checkpointed segment (<see cref="Autograd.Checkpoint"/>);
    /// BatchNorm statistics are updated once per step, as without it.</summary>
    public bool GradientCheckpointing { get; set; }

    /// <summary>Builds the network of <paramref name="config"/>.</summary>
    public ResNet(ResNetConfig config, Generator? generator = null)
    {
        Config = config;
        if (config.StageBlocks.Length == 0 || config.StageBlocks.Any(b => b < 1))
            throw new ArgumentException($"ResNet: every stage needs at least one block, got [{string.Join(", ", config.StageBlocks)}].");
        int width = config.BaseWidth;
        _stem = RegisterModule("stem", new Sequential(
            new Conv2d(config.InChannels, width, 3, padding: 1, bias: false, generator: generator), new BatchNorm2d(width), new ReLU()));
        _stages = RegisterModule("layers", new Sequential());
        int inPlanes = width;
        for (int s = 0; s < config.StageBlocks.Length; s++)
        {
            int planes = width << s;
            var stage = new Sequential();
            for (int b = 0; b < config.StageBlocks[s]; b++)
            {
                int stride = b == 0 && s > 0 ? 2 : 1;
                Module block = config.Bottleneck
                    ? new Bottleneck(inPlanes, planes, stride, config.SqueezeExcitation, generator)
                    : new BasicBlock(inPlanes, planes, stride, config.SqueezeExcitation, generator);
                stage.Append(block);
                inPlanes = planes * (config.Bottleneck ? Bottleneck.Expansion : BasicBlock.Expansion);
            }
            _stages.Append(stage);
        }
        _fc = RegisterModule("fc", new Linear(inPlanes, config.NumClasses, generator: generator));
        foreach (var (name, p) in NamedParameters())
            if (p.Dim == 4) Init.KaimingNormal(p, mode: FanMode.FanOut, nonlinearity: Nonlinearity.Relu, g: generator);
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        if (input.Dim != 4 || input.Size(1) != Config.InChannels)
            throw new ArgumentException($"ResNet: expected (N, {Config.InChannels}, H, W), got {ShapeUtil.Str(input._shape)}.");
        var y = _stem.Call(input);
        if (GradientCheckpointing && Training)
        {
            foreach (var (_, stage) in _stages.NamedChildren())
                foreach (var (_, block) in stage.NamedChildren()) y = Autograd.Checkpoint.Run(block, y);
        }
        else y = _stages.Call(y);
        return _fc.Call(y.Mean([2, 3]));
    }
}

/// <summary>Two 3×3 conv-BN-ReLU layers, the unit of U-Net's encoder and decoder.
/// Shape: (N, C_in, H, W) → (N, C_out, H, W).</summary>
public sealed class DoubleConv : Module
{
    private readonly Sequential _body;

    /// <summary>The layers, for exporters.</summary>
    internal Sequential Body => _body;

    /// <summary>Two 3×3 convolutions with batch norm and ReLU, <paramref name="inChannels"/> → <paramref name="outChannels"/>.</summary>
    public DoubleConv(int inChannels, int outChannels, Generator? generator = null)
    {
        _body = RegisterModule("block", new Sequential(
            new Conv2d(inChannels, outChannels, 3, padding: 1, bias: false, generator: generator), new BatchNorm2d(outChannels), new ReLU(),
            new Conv2d(outChannels, outChannels, 3, padding: 1, bias: false, generator: generator), new BatchNorm2d(outChannels), new ReLU()));
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => _body.Call(input);
}

/// <summary>U-Net (Ronneberger et al., 2015): an encoder of <c>depth</c> DoubleConv + 2×2 max-pool levels, a
/// bottleneck, and a decoder that upsamples with 2×2 stride-2 transposed convolutions, concatenates the encoder's
/// feature map of the same level (the skip connection) and applies a DoubleConv; a 1×1 conv gives the per-pixel
/// output. Inputs of any size work: an upsampled map that is a pixel short of its skip is zero-padded to match.
/// Shape: (N, C_in, H, W) → (N, C_out, H, W).</summary>
public sealed class UNet : Module
{
    private readonly ModuleList _down, _up, _upConv;
    private readonly DoubleConv _bottleneck;
    private readonly Conv2d _head;

    /// <summary>The parts, for exporters: per level the down block, the upsampling and the up block; bottleneck; head.</summary>
    internal (ModuleList Down, ModuleList Up, ModuleList UpConv, DoubleConv Bottleneck, Conv2d Head) Parts => (_down, _up, _upConv, _bottleneck, _head);
    /// <summary>Downsampling levels.</summary>
    public int Depth { get; }

    /// <summary>A U-Net with <paramref name="depth"/> downsampling levels, <paramref name="baseWidth"/> channels at the top, doubling per level.</summary>
    public UNet(int inChannels, int outChannels, int baseWidth = 16, int depth = 3, Generator? generator = null)
    {
        if (depth < 1) throw new ArgumentException($"UNet: depth must be at least 1, got {depth}.");
        Depth = depth;
        _down = RegisterModule("down", new ModuleList());
        _up = RegisterModule("up", new ModuleList());
        _upConv = RegisterModule("up_conv", new ModuleList());
        int c = inChannels;
        for (int i = 0; i < depth; i++)
        {
            _down.Add(new DoubleConv(c, baseWidth << i, generator));
            c = baseWidth << i;
        }
        _bottleneck = RegisterModule("bottleneck", new DoubleConv(c, baseWidth << depth, generator));
        c = baseWidth << depth;
        for (int i = depth - 1; i >= 0; i--)
        {
            int skip = baseWidth << i;
            _up.Add(new ConvTranspose2d(c, skip, 2, stride: 2, generator: generator));
            _upConv.Add(new DoubleConv(2 * skip, skip, generator));
            c = skip;
        }
        _head = RegisterModule("head", new Conv2d(c, outChannels, 1, generator: generator));
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        if (input.Dim != 4) throw new ArgumentException($"UNet: expected (N, C, H, W), got {ShapeUtil.Str(input._shape)}.");
        if (input.Size(2) < 1 << Depth || input.Size(3) < 1 << Depth)
            throw new ArgumentException($"UNet: input {ShapeUtil.Str(input._shape)} is smaller than 2^depth = {1 << Depth} pixels per side.");
        var skips = new List<Tensor>();
        var x = input;
        for (int i = 0; i < Depth; i++)
        {
            x = _down[i].Call(x);
            skips.Add(x);
            x = Functional.MaxPool2d(x, 2);
        }
        x = _bottleneck.Call(x);
        for (int i = 0; i < Depth; i++)
        {
            var skip = skips[Depth - 1 - i];
            x = _up[i].Call(x);
            int dh = skip.Size(2) - x.Size(2), dw = skip.Size(3) - x.Size(3);
            if (dh != 0 || dw != 0) x = Functional.Pad(x, [dw / 2, dw - dw / 2, dh / 2, dh - dh / 2]);
            x = _upConv[i].Call(Tensor.Cat([skip, x], 1));
        }
        return _head.Call(x);
    }
}

/// <summary>A convolutional autoencoder: an encoder of stride-2 conv-BN-ReLU layers down to a latent map, and a
/// mirror decoder of stride-2 transposed convolutions ending in a sigmoid (images in [0, 1]).
/// Shape: (N, C, H, W) with H, W divisible by 2^levels → same; <see cref="Encode"/> gives the latent map.</summary>
public sealed class ConvAutoencoder : Module
{
    private readonly Sequential _encoder, _decoder;

    /// <summary>The parts in forward order, for exporters.</summary>
    internal (Sequential Encoder, Sequential Decoder) Parts => (_encoder, _decoder);

    /// <summary>Downsampling levels of the encoder (each halves the resolution).</summary>
    public int Levels { get; }

    /// <summary>A convolutional autoencoder: <paramref name="levels"/> strided convolutions down to <paramref name="latentChannels"/> channels, and transposed convolutions back.</summary>
    public ConvAutoencoder(int inChannels = 1, int baseWidth = 16, int latentChannels = 8, int levels = 2, Generator? generator = null)
    {
        if (levels < 1) throw new ArgumentException($"ConvAutoencoder: levels must be at least 1, got {levels}.");
        Levels = levels;
        _encoder = RegisterModule("encoder", new Sequential());
        int c = inChannels;
        for (int i = 0; i < levels; i++)
        {
            int w = baseWidth << i;
            _encoder.Append(new Conv2d(c, w, 3, stride: 2, padding: 1, generator: generator)).Append(new BatchNorm2d(w)).Append(new ReLU());
            c = w;
        }
        _encoder.Append(new Conv2d(c, latentChannels, 1, generator: generator));
        _decoder = RegisterModule("decoder", new Sequential(new Conv2d(latentChannels, c, 1, generator: generator), new ReLU()));
        for (int i = levels - 1; i >= 0; i--)
        {
            int w = i == 0 ? inChannels : baseWidth << (i - 1);
            _decoder.Append(new ConvTranspose2d(c, w, 3, stride: 2, padding: 1, outputPadding: 1, generator: generator));
            if (i > 0) _decoder.Append(new BatchNorm2d(w)).Append(new ReLU());
            c = w;
        }
        _decoder.Append(new Sigmoid());
    }

    /// <summary>The latent code of <paramref name="input"/> (N, C, H, W) → (N, latent, H/2^levels, W/2^levels).</summary>
    public Tensor Encode(Tensor input)
    {
        if (input.Dim != 4 || input.Size(2) % (1 << Levels) != 0 || input.Size(3) % (1 << Levels) != 0)
            throw new ArgumentException($"ConvAutoencoder: expected (N, C, H, W) with H and W divisible by {1 << Levels}, got {ShapeUtil.Str(input._shape)}.");
        return _encoder.Call(input);
    }

    /// <summary>The reconstruction of a latent code.</summary>
    public Tensor Decode(Tensor latent) => _decoder.Call(latent);

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Decode(Encode(input));
}
