using System.Globalization;
using System.CommandLine;
using Ember.Cli.Infrastructure;
using Ember.IO;
using Ember.Models;
using Ember.Recipes;

namespace Ember.Cli.Commands;

/// <summary><c>ember distill TEACHER --data FOLDER --hidden 128</c>: a smaller MLP trained from a larger one's
/// softened outputs (knowledge distillation).</summary>
internal static class DistillCommand
{
    public static Command Create()
    {
        var teacher = new Argument<string>("TEACHER.safetensors") { Description = "an MLP checkpoint written by 'ember quickstart' or 'ember train'" };
        var data = Opt.ExistingPath("--data", "the training data: an MNIST-format folder (train split for training, test split for the report) or the CSV the teacher was trained on (last 20% of rows held out)", required: true);
        var hidden = Opt.IntList("--hidden", "128", "the student's hidden layer widths", min: 1, max: 1 << 16);
        var epochs = Opt.Int("--epochs", 10, "training epochs", min: 1);
        var temperature = Opt.Double("--temperature", 4, "softmax temperature of the soft targets", min: 0, exclusiveMin: true);
        var alpha = Opt.Double("--alpha", 0.9, "weight of the teacher's soft targets (1 − alpha on the labels)", min: 0, max: 1);
        var compare = Opt.Flag("--compare", "also train the same student on the labels alone, for the difference distillation makes");
        var seed = Opt.OptionalInt("--seed", "random seed [default: 1]");
        var outDir = Opt.Text("--out", Path.Combine("runs", "distill"), "output folder", "FOLDER");
        var quiet = Opt.Flag("--quiet", "no progress output");
        var tensorboard = Opt.TensorBoard();
        var command = new Command("distill",
            "Knowledge distillation (Hinton et al., 2015): trains a smaller MLP on the teacher's temperature-softened outputs " +
            "(KL divergence, scaled by T²) plus the labels, and saves it as model.safetensors, which the other commands load " +
            "like any MLP checkpoint. Reports the teacher's and the student's accuracy on held-out data and their sizes.")
        {
            teacher, data, hidden, epochs, temperature, alpha, compare, seed, outDir, quiet, tensorboard,
        };
        command.SetAction(p =>
        {
            var ui = new Terminal(p.GetValue(quiet));
            string path = p.GetValue(teacher)!;
            var (model, meta) = Checkpoints.LoadMlp(path);
            if (meta.TryGetValue("task", out var task) && task != "classification")
                throw new UsageException($"distill: {path} is a {task} model; distillation here is for classifiers");
            string folder = p.GetValue(data)!;
            Tensor xtr, ytr, xva, yva;
            if (meta.ContainsKey("tabular"))
            {
                var (x, y, _) = Checkpoints.LoadFor(folder, meta, path, train: true, withTarget: true);
                int cut = (int)(x.Size(0) * 0.8);
                (xtr, ytr, xva, yva) = (x.Narrow(0, 0, cut), y!.Narrow(0, 0, cut), x.Narrow(0, cut, x.Size(0) - cut), y.Narrow(0, cut, x.Size(0) - cut));
            }
            else
            {
                (xtr, ytr) = Checkpoints.LoadSplit(folder, train: true);
                (xva, yva) = Checkpoints.LoadSplit(folder, train: false);
            }
            var studentConfig = model.Config with { Hidden = p.GetValue(hidden)! };
            var recipe = new Milestones.DistillRecipe
            {
                Epochs = p.GetValue(epochs), Temperature = p.GetValue(temperature), Alpha = p.GetValue(alpha), Seed = (ulong)(p.GetValue(seed) ?? 1),
            };
            using var tb = Opt.OpenTensorBoard(p.GetValue(tensorboard));
            var run = Milestones.Distill(model, studentConfig, xtr, ytr, xva, yva, recipe, ui.Logger, tb);
            if (tb is not null) ui.Line($"TensorBoard logs in {tb.LogDir} (tensorboard --logdir {tb.LogDir})");
            string dir = p.GetValue(outDir)!;
            Directory.CreateDirectory(dir);
            var outPath = Path.Combine(dir, "model.safetensors");
            var outMeta = new Dictionary<string, string>(meta);
            foreach (var (k, v) in studentConfig.ToMetadata()) outMeta[k] = v;
            outMeta["distilled_from"] = Path.GetFileName(path);
            Safetensors.Save(outPath, run.Student.StateDict(), outMeta);
            ui.Line(FormattableString.Invariant($"saved {outPath}: {run.Student.ParameterCount:N0} parameters ({(double)model.ParameterCount / run.Student.ParameterCount:F1}x fewer than the teacher's {model.ParameterCount:N0}), {run.Seconds:F1}s"));
            if (p.GetValue(compare))
            {
                var plain = Milestones.Distill(model, studentConfig, xtr, ytr, xva, yva, recipe with { Alpha = 0 }, ui.Logger);
                ui.Line(FormattableString.Invariant($"labels_only_accuracy={plain.StudentAccuracy:F4}"));
            }
            ui.Line(FormattableString.Invariant($"teacher_accuracy={run.TeacherAccuracy:F4}"));
            ui.Line(FormattableString.Invariant($"accuracy={run.StudentAccuracy:F4}"));
            return 0;
        });
        return command;
    }
}
