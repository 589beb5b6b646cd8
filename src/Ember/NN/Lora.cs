using System.Text.Json;
using System.Text.Json.Nodes;
using Ember.IO;

namespace Ember.NN;

/// <summary>Which layers get adapters and how large: PEFT's <c>LoraConfig</c> (r, lora_alpha, lora_dropout,
/// target_modules). <paramref name="TargetModules"/> match the last component of a layer's dotted name (e.g.
/// <c>c_attn</c>, <c>c_proj</c>) or the whole name; null adapts every <see cref="Linear"/>.</summary>
public sealed record LoraConfig(int Rank = 8, double Alpha = 16, double Dropout = 0, IReadOnlyList<string>? TargetModules = null)
{
    /// <summary>True when the layer named <paramref name="name"/> is a target.</summary>
    public bool Targets(string name) => TargetModules is null
        || TargetModules.Any(t => name == t || name.EndsWith("." + t, StringComparison.Ordinal));
}

/// <summary>Low-rank adaptation of a whole model (PEFT's <c>get_peft_model</c>, <c>merge_and_unload</c>,
/// <c>save_pretrained</c>): adapters on the targeted Linear layers, the rest frozen; adapters saved alone in PEFT's
/// layout (<c>adapter_model.safetensors</c> with keys <c>base_model.model.{layer}.lora_A.weight</c>, and
/// <c>adapter_config.json</c>), loaded back onto a base model.</summary>
public static class Lora
{
    private const string PeftPrefix = "base_model.model.";

    /// <summary>Attaches adapters to every targeted Linear of <paramref name="model"/> and freezes every other
    /// parameter (biases included, PEFT's <c>bias="none"</c>). Returns the adapted layers' names.</summary>
    public static IReadOnlyList<string> Apply(Module model, LoraConfig config, Generator? generator = null)
    {
        var targets = model.NamedModules()
            .Where(x => x.Module is Linear && x.Name.Length > 0 && !IsAdapterPart(x.Name) && config.Targets(x.Name))
            .ToList();
        if (targets.Count == 0)
            throw new ArgumentException($"Lora.Apply: no Linear layer of {model.GetType().Name} matches target modules [{string.Join(", ", config.TargetModules ?? [])}].");
        foreach (var (_, m) in targets) ((Linear)m).AddLora(config.Rank, config.Alpha, config.Dropout, generator);
        foreach (var (name, p) in model.NamedParameters()) p.RequiresGrad = IsAdapterPart(name);
        return targets.Select(t => t.Name).ToList();
    }

    private static bool IsAdapterPart(string name) => name.Contains("lora_A") || name.Contains("lora_B");

    /// <summary>The parameters an optimizer should train: those that require gradients.</summary>
    public static IEnumerable<Tensor> TrainableParameters(Module model) => model.Parameters().Where(p => p.RequiresGrad);

    /// <summary>Adds every adapter into its base weight (<c>merge_and_unload</c> without the unload: see <see cref="Unload"/>).</summary>
    public static void Merge(Module model)
    {
        foreach (var l in Adapted(model)) l.MergeLora();
    }

    /// <summary>Undoes <see cref="Merge"/>.</summary>
    public static void Unmerge(Module model)
    {
        foreach (var l in Adapted(model)) l.UnmergeLora();
    }

    /// <summary>Merges every adapter and removes it: a plain model again, with every parameter trainable.</summary>
    public static void Unload(Module model)
    {
        foreach (var l in Adapted(model))
        {
            l.MergeLora();
            l.RemoveLora();
        }
        foreach (var p in model.Parameters()) p.RequiresGrad = true;
    }

    private static List<Linear> Adapted(Module model) => model.NamedModules().Select(x => x.Module).OfType<Linear>().Where(l => l.Lora is not null).ToList();

    /// <summary>The adapters' tensors under PEFT's names (<c>base_model.model.{layer}.lora_A.weight</c>).</summary>
    public static Dictionary<string, Tensor> AdapterState(Module model) =>
        model.NamedParameters().Where(x => IsAdapterPart(x.Name)).ToDictionary(x => PeftPrefix + x.Name, x => x.Parameter);

    /// <summary>Writes the adapters alone to <paramref name="directory"/>: <c>adapter_model.safetensors</c> and
    /// <c>adapter_config.json</c> (PEFT's fields: peft_type, r, lora_alpha, lora_dropout, target_modules, bias).</summary>
    public static void SaveAdapters(Module model, LoraConfig config, string directory)
    {
        var state = AdapterState(model);
        if (state.Count == 0) throw new InvalidOperationException($"Lora.SaveAdapters: {model.GetType().Name} has no adapters.");
        Directory.CreateDirectory(directory);
        var targets = config.TargetModules ?? model.NamedModules().Where(x => x.Module is Linear { Lora: not null }).Select(x => x.Name.Split('.')[^1]).Distinct().ToList();
        var json = new JsonObject
        {
            ["peft_type"] = "LORA",
            ["r"] = config.Rank,
            ["lora_alpha"] = config.Alpha,
            ["lora_dropout"] = config.Dropout,
            ["target_modules"] = new JsonArray(targets.Select(t => (JsonNode)t!).ToArray()),
            ["bias"] = "none",
            ["fan_in_fan_out"] = false,
            ["base_model_class"] = model.GetType().Name,
        };
        Safetensors.Save(Path.Combine(directory, "adapter_model.safetensors"), state, new Dictionary<string, string> { ["format"] = "pt" });
        AtomicFile.WriteAllText(Path.Combine(directory, "adapter_config.json"), json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>Reads <c>adapter_config.json</c> and <c>adapter_model.safetensors</c> from <paramref name="directory"/>,
    /// attaches adapters of that configuration to <paramref name="model"/> and loads their weights. Every adapter the
    /// file holds must land on a layer, and every layer adapted must get its weights.</summary>
    public static LoraConfig LoadAdapters(Module model, string directory)
    {
        string configPath = Path.Combine(directory, "adapter_config.json"), weightsPath = Path.Combine(directory, "adapter_model.safetensors");
        if (!File.Exists(configPath)) throw new FileNotFoundException($"Lora.LoadAdapters: no adapter_config.json in {directory}.", configPath);
        LoraConfig config;
        try
        {
            var json = JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
            if ((string?)json["peft_type"] is { } type && type != "LORA")
                throw new FileFormatException("LoRA adapter config", configPath, $"has peft_type '{type}'; only LORA adapters load here.");
            config = new LoraConfig((int)json["r"]!, (double)json["lora_alpha"]!, (double?)json["lora_dropout"] ?? 0,
                json["target_modules"] is JsonArray arr ? arr.Select(n => (string)n!).ToList() : null);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or NullReferenceException or FormatException)
        {
            throw new FileFormatException("LoRA adapter config", configPath, $"is not a LoRA config with r and lora_alpha: {e.Message}", inner: e);
        }
        var tensors = Safetensors.Load(weightsPath);
        Apply(model, config);
        try
        {
            var own = AdapterState(model);
            var missing = own.Keys.Where(k => !tensors.ContainsKey(k)).ToList();
            var unexpected = tensors.Keys.Where(k => !own.ContainsKey(k)).ToList();
            var problems = own.Where(kv => tensors.TryGetValue(kv.Key, out var t) && !ShapeUtil.SameShape(t.Shape, kv.Value.Shape))
                .Select(kv => $"'{kv.Key}' is {ShapeUtil.Str(tensors[kv.Key].Shape)} in the file, {ShapeUtil.Str(kv.Value.Shape)} in the model").ToList();
            if (missing.Count > 0) problems.Add("missing: " + string.Join(", ", missing.Take(5)));
            if (unexpected.Count > 0) problems.Add("unexpected: " + string.Join(", ", unexpected.Take(5)));
            if (problems.Count > 0)
                throw new ArgumentException($"Lora.LoadAdapters: {weightsPath} does not fit {model.GetType().Name}: {string.Join("; ", problems)}.");
            using (Tensor.NoGrad())
                foreach (var (k, t) in own) t.CopyFrom(tensors[k]);
        }
        catch
        {
            // Leave the model as it came: no adapters, every parameter trainable.
            foreach (var l in Adapted(model)) l.RemoveLora();
            foreach (var p in model.Parameters()) p.RequiresGrad = true;
            throw;
        }
        return config;
    }
}
