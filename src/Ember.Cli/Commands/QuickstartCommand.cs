using System.CommandLine;
using System.Diagnostics;
using Ember.Cli.Infrastructure;
using Ember.IO;
using Ember.Recipes;
using Ember.Training;

namespace Ember.Cli.Commands;

/// <summary><c>ember quickstart</c>: the README's main job.</summary>
internal static class QuickstartCommand
{
    public static Command Create()
    {
        var data = Opt.ExistingPath("--data", "MNIST-format folder [default: data/mnist-10k]");
        var outDir = Opt.Text("--out", Path.Combine("runs", "quickstart"), "output folder", "FOLDER");
        var epochs = Opt.Int("--epochs", 25, "training epochs", min: 1);
        var seed = Opt.Int("--seed", 1, "random seed");
        var quiet = Opt.Flag("--quiet", "no progress output");
        var tensorboard = Opt.TensorBoard();
        var command = new Command("quickstart",
            "Trains a 784-1024-512-10 MLP (ReLU, dropout 0.3, AdamW with a one-cycle schedule, ±2 px shifts) on the 8,000 " +
            "training digits of the MNIST subset in data/mnist-10k and evaluates it on the 2,000 test digits. Writes " +
            "model.safetensors, metrics.csv and curves.png to --out. The last line is test_accuracy=<value>.")
        {
            data, outDir, epochs, seed, quiet, tensorboard,
        };
        command.SetAction(p =>
        {
            var ui = new Terminal(p.GetValue(quiet));
            string folder = p.GetValue(data) ?? DataPaths.Find("mnist-10k");
            string dir = p.GetValue(outDir)!;
            var recipe = new Milestones.MnistRecipe { Epochs = p.GetValue(epochs), Seed = (ulong)p.GetValue(seed) };
            Directory.CreateDirectory(dir);
            ui.Line($"Ember quickstart: MLP {string.Join("-", new[] { 784 }.Concat(recipe.Model.Hidden).Append(10))} on {folder}");
            ui.Line($"{Parallelism.NumThreads} threads, gemm path {Ember.Kernels.GemmInfo.Path}, {recipe.Epochs} epochs");
            var sw = Stopwatch.StartNew();
            var metrics = Path.Combine(dir, "metrics.csv");
            using var tb = Opt.OpenTensorBoard(p.GetValue(tensorboard));
            var (model, trainer, test) = ui.Training(reporter =>
                Milestones.TrainMnist(folder, recipe, new TrainerOptions { Progress = reporter is not null, ProgressReporter = reporter, MetricsCsv = metrics, TensorBoard = tb }));
            double seconds = sw.Elapsed.TotalSeconds;
            var modelPath = Path.Combine(dir, "model.safetensors");
            var plotPath = Path.Combine(dir, "curves.png");
            Safetensors.Save(modelPath, model.StateDict(), model.Config.ToMetadata());
            Plots.LearningCurves(trainer.History, plotPath, "MNIST MLP");
            ui.Line($"trained in {seconds:F1}s; saved {modelPath}, {metrics}, {plotPath}");
            if (tb is not null) ui.Line($"TensorBoard logs in {tb.LogDir} (tensorboard --logdir {tb.LogDir})");
            ui.Line($"test_accuracy={test.Accuracy:F4}");
            return 0;
        });
        return command;
    }
}
