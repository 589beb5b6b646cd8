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

    /// <summary>The batched forward pass: (N, instance shape…) float32 → (N, outputs); null for a model that only
    /// generates text.</summary>
    public Func<Tensor, Tensor>? Forward { get; init; }

    /// <summary>True when the forward pass keeps no tensor it makes (a module whose
    /// <see cref="Module.HoldsActivations"/> is false): the server then takes each pass's activations from Ember's buffer
    /// pool and gives them back once the answers are copied out, instead of fresh large allocations every pass.</summary>
    public bool RecyclesActivations { get; init; }

    /// <summary>Text generation (GPT models): streams each new piece of text to the callback, which returns false to
    /// stop; null for models that do not generate.</summary>
    public Action<GenerateRequest, Func<string, bool>>? Generate { get; init; }

    /// <summary>Checks a prompt before generation starts (characters the vocabulary lacks); returns the problem or null.</summary>
    public Func<string, string?>? CheckPrompt { get; init; }

    /// <summary>For a model of table rows: the columns an instance given as a JSON object must have (by name).</summary>
    public string[]? Columns { get; init; }

    /// <summary>For a model of table rows: encodes rows given by column name (values as text, "" for missing) into
    /// instances; throws <see cref="ArgumentException"/> or <see cref="InvalidDataException"/> naming a bad value.</summary>
    public Func<IReadOnlyList<IReadOnlyDictionary<string, string>>, float[][]>? EncodeRows { get; init; }

    /// <summary>The longest generation a request may ask for.</summary>
    public int MaxNewTokens { get; init; } = 1024;

    /// <summary>The same model description with another forward pass (tests, wrappers); the new pass is not assumed to
    /// leave its activations free (<see cref="RecyclesActivations"/> false).</summary>
    public ServedModel With(Func<Tensor, Tensor> forward) => new()
    {
        Kind = Kind, Source = Source, InstanceShape = InstanceShape, Labels = Labels, Outputs = Outputs, Forward = forward,
        Generate = Generate, CheckPrompt = CheckPrompt, MaxNewTokens = MaxNewTokens, Columns = Columns, EncodeRows = EncodeRows,
    };

    /// <summary>A character-level GPT with its tokenizer: /v1/generate streams text; generations run one at a time.</summary>
    public static ServedModel FromGpt(Gpt gpt, Ember.Text.CharTokenizer tokenizer, string source)
    {
        gpt.Eval();
        var gate = new object();
        return new ServedModel
        {
            Kind = "gpt", Source = source, InstanceShape = [gpt.Config.ContextLength], Outputs = gpt.Config.VocabSize,
            MaxNewTokens = 4096,
            CheckPrompt = prompt =>
            {
                if (prompt.Length == 0) return "\"prompt\" must not be empty";
                try
                {
                    tokenizer.Encode(prompt);
                    return null;
                }
                catch (ArgumentException e) { return "\"prompt\": " + e.Message; }
            },
            Generate = (request, emit) =>
            {
                var ids = tokenizer.Encode(request.Prompt);
                var idx = Tensor.FromArray(ids.Select(i => (long)i).ToArray(), 1, ids.Length);
                lock (gate)   // the model's mode and caches are per call, but one generation at a time keeps latency fair
                    gpt.Generate(idx, request.MaxTokens, new SamplingOptions(request.Temperature, request.TopK, request.TopP), useCache: true,
                        generator: new Generator(request.Seed), onStep: next => emit(tokenizer.Decode([(int)next[0]])));
            },
        };
    }

    /// <summary>Values per instance.</summary>
    public int InstanceSize => InstanceShape.Aggregate(1, (a, b) => a * b);

    /// <summary>A classifier or regressor module: eval mode, instances of <paramref name="instanceShape"/>.</summary>
    public static ServedModel FromModule(Module module, int[] instanceShape, int outputs, string[]? labels, string kind, string source)
    {
        module.Eval();
        return new ServedModel
        {
            Kind = kind, Source = source, InstanceShape = instanceShape, Outputs = outputs, Labels = labels,
            RecyclesActivations = !module.HoldsActivations,
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

/// <summary>A /v1/generate request: the prompt, how many tokens, and the sampling settings.</summary>
public sealed record GenerateRequest(string Prompt, int MaxTokens, double Temperature, int? TopK, double? TopP, ulong Seed);
