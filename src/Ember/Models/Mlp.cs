using System.Globalization;
using Ember.NN;

namespace Ember.Models;

/// <summary>Configuration of a multilayer perceptron. Defaults are the quickstart recipe's.</summary>
public sealed record MlpConfig
{
    /// <summary>Flattened input size (28·28 for MNIST).</summary>
    public int InFeatures { get; init; } = 784;
    /// <summary>Widths of the hidden layers.</summary>
    public int[] Hidden { get; init; } = [1024, 512];
    /// <summary>Classes (or regression targets).</summary>
    public int OutFeatures { get; init; } = 10;
    /// <summary>Dropout probability after every hidden activation; 0 disables.</summary>
    public double Dropout { get; init; } = 0.3;
    /// <summary>Hidden activation: "relu", "gelu", "tanh" or "silu".</summary>
    public string Activation { get; init; } = "relu";

    /// <summary>The architecture as checkpoint metadata (arch=mlp, in, hidden, out, dropout, activation).</summary>
    public Dictionary<string, string> ToMetadata() => new()
    {
        ["arch"] = "mlp",
        ["in"] = InFeatures.ToString(CultureInfo.InvariantCulture),
        ["hidden"] = string.Join(",", Hidden),
        ["out"] = OutFeatures.ToString(CultureInfo.InvariantCulture),
        ["dropout"] = Dropout.ToString("R", CultureInfo.InvariantCulture),
        ["activation"] = Activation,
    };

    /// <summary>Rebuilds a config from checkpoint metadata; a clear error if it does not describe an MLP.</summary>
    public static MlpConfig FromMetadata(IReadOnlyDictionary<string, string> meta, string source)
    {
        if (!meta.TryGetValue("arch", out var arch) || arch != "mlp")
            throw new InvalidDataException($"{source}: the checkpoint does not record an MLP architecture (arch={(arch ?? "missing")}).");
        try
        {
            return new MlpConfig
            {
                InFeatures = int.Parse(meta["in"], CultureInfo.InvariantCulture),
                Hidden = meta["hidden"].Length == 0 ? [] : meta["hidden"].Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray(),
                OutFeatures = int.Parse(meta["out"], CultureInfo.InvariantCulture),
                Dropout = double.Parse(meta["dropout"], CultureInfo.InvariantCulture),
                Activation = meta.TryGetValue("activation", out var a) ? a : "relu",
            };
        }
        catch (Exception e) when (e is KeyNotFoundException or FormatException)
        {
            throw new InvalidDataException($"{source}: incomplete MLP metadata ({e.Message}).", e);
        }
    }
}

/// <summary>Flatten → [Linear → activation → Dropout] × hidden → Linear.
/// Shape: input (N, …) with InFeatures elements per example → output (N, OutFeatures).</summary>
public sealed class Mlp : Module
{
    private readonly Sequential _net;

    /// <summary>The configuration the model was built from.</summary>
    public MlpConfig Config { get; }

    /// <summary>The layers: Flatten, then [Linear, activation, Dropout] per hidden width, then the output Linear.</summary>
    public Sequential Network => _net;

    /// <summary>The network of <paramref name="config"/>, initialized from <paramref name="generator"/>.</summary>
    public Mlp(MlpConfig config, Generator? generator = null)
    {
        Config = config;
        var layers = new List<Module> { new Flatten() };
        int width = config.InFeatures;
        int seed = 0;
        foreach (int h in config.Hidden)
        {
            layers.Add(new Linear(width, h, generator: generator));
            layers.Add(config.Activation switch
            {
                "relu" => new ReLU(),
                "gelu" => new GELU(),
                "tanh" => new Tanh(),
                "silu" => new SiLU(),
                _ => throw new ArgumentException($"Mlp: unknown activation '{config.Activation}' (relu, gelu, tanh, silu)."),
            });
            if (config.Dropout > 0) layers.Add(new Dropout(config.Dropout, generator is null ? null : new Generator(generator.NextUInt64() + (ulong)seed++)));
            width = h;
        }
        layers.Add(new Linear(width, config.OutFeatures, generator: generator));
        _net = RegisterModule("net", new Sequential(layers.ToArray()));
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => _net.Call(input);

    /// <inheritdoc/>
    public override bool HoldsActivations => _net.HoldsActivations;
}
