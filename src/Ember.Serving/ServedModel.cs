using Ember.Models;
using Ember.NN;

namespace Ember.Serving;

/// <summary>A model as the server sees it: the shape of one instance, what the outputs mean, and a batched forward pass
/// (called from one thread at a time, under no-grad, in eval mode).</summary>
public sealed class ServedModel
{
    /// <summary>A short kind ("mlp", "onnx", …) for /v1/model.</summary>
    public required string Kind { get; init; }

    /// <summary>Where it came from (a file name), for /v1/model and logs.</summary>
    public required string Source { get; init; }

    /// <summary>The shape of one instance (without the batch dimension).</summary>
    public required int[] InstanceShape { get; init; }

    /// <summary>Class names for a classifier (their order is the output's), or null for regression.</summary>
    public string[]? Labels { get; init; }

    /// <summary>Outputs per instance.</summary>
    public required int Outputs { get; init; }

    /// <summary>The batched forward pass: (N, instance shape…) float32 → (N, outputs).</summary>
    public required Func<Tensor, Tensor> Forward { get; init; }

    /// <summary>The same model description with another forward pass (tests, wrappers).</summary>
    public ServedModel With(Func<Tensor, Tensor> forward) => new()
    {
        Kind = Kind, Source = Source, InstanceShape = InstanceShape, Labels = Labels, Outputs = Outputs, Forward = forward,
    };

    /// <summary>Values per instance.</summary>
    public int InstanceSize => InstanceShape.Aggregate(1, (a, b) => a * b);

    /// <summary>A classifier or regressor module: eval mode, instances of <paramref name="instanceShape"/>.</summary>
    public static ServedModel FromModule(Module module, int[] instanceShape, int outputs, string[]? labels, string kind, string source)
    {
        module.Eval();
        return new ServedModel
        {
            Kind = kind, Source = source, InstanceShape = instanceShape, Outputs = outputs, Labels = labels,
            Forward = x =>
            {
                using var noGrad = Tensor.NoGrad();
                return module.Call(x);
            },
        };
    }

    /// <summary>An MLP: a classifier when <paramref name="classification"/> (labels default to "0", "1", …).</summary>
    public static ServedModel FromMlp(Mlp model, bool classification, string[]? labels, string source) =>
        FromModule(model, [model.Config.InFeatures], model.Config.OutFeatures,
            classification ? labels ?? Enumerable.Range(0, model.Config.OutFeatures).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray() : null,
            "mlp", source);
}
