using System.CommandLine;
using Ember.Data;
using Ember.IO;
using Ember.Models;
using Ember.NN;
using Ember.Recipes.Tabular;
using Ember.Training;

namespace Ember.Cli.Infrastructure;

/// <summary>Loading the checkpoints and data sets the commands take.</summary>
internal static class Checkpoints
{
    /// <summary>The arguments 'ember evaluate' and 'ember predict' share: the checkpoint, --data and --split, added to
    /// <paramref name="command"/>.</summary>
    public sealed class MlpDataArguments
    {
        public Argument<string> Checkpoint { get; } = new("CHECKPOINT") { Description = "a checkpoint written by 'ember train'" };
        public Option<string?> Data { get; } = Opt.ExistingPath("--data", "an MNIST-format folder or a CSV file", required: true);
        public Option<string> Split { get; } = Opt.Choice("--split", "test", "which IDX split to read", "test", "train");

        public MlpDataArguments(Command command)
        {
            command.Add(Checkpoint);
            command.Add(Data);
            command.Add(Split);
        }

        /// <summary>The model and its metadata, and the data through its preprocessing.</summary>
        public (Models.Mlp Model, Dictionary<string, string> Meta, Tensor X, Tensor? Y, TabularEncoder? Encoder) Load(ParseResult p, bool withTarget)
        {
            string path = p.GetValue(Checkpoint)!;
            var (model, meta) = LoadMlp(path);
            var (x, y, enc) = LoadFor(p.GetValue(Data)!, meta, path, p.GetValue(Split) == "train", withTarget);
            return (model, meta, x, y, enc);
        }
    }

    /// <summary>The GPT of a checkpoint written by 'ember milestone gpt' (already loaded as <paramref name="tensors"/>
    /// and <paramref name="meta"/>).</summary>
    public static Gpt LoadGpt(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string> meta)
    {
        var gpt = new Gpt(GptConfig.FromMetadata(meta, path));
        FollowPruning(gpt, tensors, meta);
        Trainer.LoadModelState(gpt, tensors, path);
        return gpt;
    }

    /// <summary>A GPT checkpoint with the character tokenizer saved beside it (chars.json), as 'ember milestone gpt' and
    /// 'ember finetune' write them.</summary>
    public static (Gpt Model, Ember.Text.CharTokenizer Tokenizer, Dictionary<string, string> Meta) LoadGptWithTokenizer(string path)
    {
        if (!File.Exists(path)) throw new UsageException($"no such checkpoint: {path}");
        var tensors = Safetensors.Load(path, out var meta);
        var (model, tokenizer) = LoadGptWithTokenizer(path, tensors, meta);
        return (model, tokenizer, meta);
    }

    /// <summary><see cref="LoadGptWithTokenizer(string)"/> for a checkpoint already read.</summary>
    public static (Gpt Model, Ember.Text.CharTokenizer Tokenizer) LoadGptWithTokenizer(string path, IReadOnlyDictionary<string, Tensor> tensors,
        IReadOnlyDictionary<string, string> meta)
    {
        var charsPath = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, "chars.json");
        if (!File.Exists(charsPath)) throw new UsageException($"no chars.json beside {path}: the tokenizer is saved there by 'ember milestone gpt'");
        return (LoadGpt(path, tensors, meta), Ember.Text.CharTokenizer.Load(charsPath));
    }

    /// <summary>A checkpoint written by 'ember compress --structured' holds smaller layers than its configuration
    /// builds: shrink them to the checkpoint's shapes before loading.</summary>
    public static void FollowPruning(NN.Module model, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string> meta)
    {
        if (meta.TryGetValue("pruned", out var pruned) && pruned.StartsWith("structured", StringComparison.Ordinal))
            NN.Pruning.ShrinkToMatch(model, tensors.Keys.Any(k => k.StartsWith("model.", StringComparison.Ordinal))
                ? tensors.Where(kv => kv.Key.StartsWith("model.", StringComparison.Ordinal)).ToDictionary(kv => kv.Key["model.".Length..], kv => kv.Value)
                : tensors);
    }

    /// <summary>An MLP checkpoint written by 'ember train', in eval mode, with its metadata.</summary>
    public static (Mlp Model, Dictionary<string, string> Meta) LoadMlp(string path)
    {
        if (!File.Exists(path)) throw new UsageException($"no such checkpoint: {path}");
        var tensors = Safetensors.Load(path, out var meta);
        var model = new Mlp(MlpConfig.FromMetadata(meta, path));
        FollowPruning(model, tensors, meta);
        Trainer.LoadModelState(model, tensors, path);
        model.Eval();
        return (model, meta);
    }

    /// <summary>A Fashion-MNIST CNN checkpoint written by 'ember milestone fashion' (or compressed from one), in eval mode.</summary>
    public static Sequential LoadFashionCnn(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string> meta)
    {
        var model = Ember.Recipes.Milestones.FashionCnnFromMetadata(meta, path);
        if (meta.TryGetValue("folded", out var folded) && folded == "batchnorm") Folding.FoldBatchNorm(model);
        FollowPruning(model, tensors, meta);
        Trainer.LoadModelState(model, tensors, path);
        model.Eval();
        return model;
    }

    /// <summary>A tabular model with its preprocessing, written by 'ember tabular train'.</summary>
    public static (TabularModel Model, TabularPreprocessor Prep) LoadTabular(string checkpoint)
    {
        if (!File.Exists(checkpoint)) throw new UsageException($"no such checkpoint: {checkpoint}");
        var tensors = Safetensors.Load(checkpoint, out var meta);
        var config = TabularModelConfig.FromMetadata(meta, checkpoint);
        var prep = TabularPreprocessor.FromMetadata(meta, checkpoint);
        var model = new TabularModel(config);
        Trainer.LoadModelState(model, tensors, checkpoint);
        return (model, prep);
    }

    /// <summary>One split of an MNIST-format (IDX) folder.</summary>
    public static (Tensor X, Tensor Y) LoadSplit(string data, bool train)
    {
        if (DataPaths.IsCsv(data)) throw new UsageException("this command reads CSV through a checkpoint's preprocessing; pass the checkpoint");
        if (!Directory.Exists(data)) throw new UsageException($"no such data folder: {data}");
        return ImageFolders.LoadMnistFormat(data, train);
    }

    /// <summary>Features (and target) for a checkpoint: CSV through its stored preprocessing, or an IDX folder split.</summary>
    public static (Tensor X, Tensor? Y, TabularEncoder? Encoder) LoadFor(string data, Dictionary<string, string> meta, string checkpoint, bool train, bool withTarget)
    {
        if (meta.TryGetValue("tabular", out var json))
        {
            if (!DataPaths.IsCsv(data)) throw new UsageException($"{checkpoint} was trained on CSV data; pass a .csv file to --data");
            if (!File.Exists(data)) throw new UsageException($"no such file: {data}");
            var enc = TabularEncoder.FromJson(json, checkpoint);
            var table = CsvTable.Read(data);
            bool hasTarget = table.Columns.Contains(enc.Target);
            if (withTarget && !hasTarget) throw new UsageException($"{data} has no target column '{enc.Target}'");
            var (x, y) = enc.Transform(table, Enumerable.Range(0, table.Rows.Count), withTarget && hasTarget);
            return (x, y, enc);
        }
        var (xi, yi) = LoadSplit(data, train);
        return (xi, yi, null);
    }
}
