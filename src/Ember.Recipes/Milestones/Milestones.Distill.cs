using System.Diagnostics;

namespace Ember.Recipes;

public static partial class Milestones
{
    /// <summary>Settings of knowledge distillation into a smaller MLP.</summary>
    public sealed record DistillRecipe
    {
        public int Epochs { get; init; } = 10;
        public int BatchSize { get; init; } = 128;
        public double LearningRate { get; init; } = 2e-3;
        public double WeightDecay { get; init; } = 1e-4;
        public double Temperature { get; init; } = 4;
        /// <summary>Weight of the soft (teacher) term; 1 − α goes to the hard labels. 0 trains on labels alone.</summary>
        public double Alpha { get; init; } = 0.9;
        public ulong Seed { get; init; } = 1;
    }

    /// <summary>A student trained by <see cref="Distill"/>, its accuracy and the teacher's on the held-out rows.</summary>
    public sealed record DistillOutcome(Mlp Student, double TeacherAccuracy, double StudentAccuracy, double Seconds);

    /// <summary>Trains a student MLP of <paramref name="student"/>'s shape from <paramref name="teacher"/>'s softened
    /// outputs plus the labels (<see cref="Functional.DistillationLoss"/>), AdamW with cosine decay, and reports both
    /// models' accuracy on (<paramref name="xValid"/>, <paramref name="yValid"/>).</summary>
    public static DistillOutcome Distill(Module teacher, MlpConfig student, Tensor xTrain, Tensor yTrain, Tensor xValid, Tensor yValid,
        DistillRecipe recipe, Action<string>? log = null, Diagnostics.SummaryWriter? tensorboard = null)
        => DistillInto(teacher, new Mlp(student, new Generator(recipe.Seed)), xTrain, yTrain, xValid, yValid, recipe, log, tensorboard: tensorboard);

    /// <summary><see cref="Distill"/> into an existing <paramref name="model"/> (a pruned copy of the teacher, say);
    /// <paramref name="afterStep"/> runs after every optimizer step (<see cref="PruningMasks.Apply"/> keeps pruned
    /// weights at zero).</summary>
    public static DistillOutcome DistillInto(Module teacher, Mlp model, Tensor xTrain, Tensor yTrain, Tensor xValid, Tensor yValid,
        DistillRecipe recipe, Action<string>? log = null, Action? afterStep = null, Diagnostics.SummaryWriter? tensorboard = null)
    {
        var sw = Stopwatch.StartNew();
        teacher.Eval();
        var opt = new AdamW(model.Parameters(), lr: recipe.LearningRate, weightDecay: recipe.WeightDecay);
        var loader = new DataLoader(new TensorDataset(xTrain, yTrain), recipe.BatchSize, shuffle: true, seed: recipe.Seed);
        var schedule = new CosineWithWarmup(opt, Math.Min(100, loader.Count), recipe.Epochs * loader.Count);
        long step = 0, seen = 0;
        for (int epoch = 0; epoch < recipe.Epochs; epoch++)
        {
            model.Train();
            double total = 0;
            int batches = 0;
            foreach (var b in loader)
            {
                var soft = teacher.Infer(b[0]);
                var loss = recipe.Alpha > 0
                    ? Functional.DistillationLoss(model.Call(b[0]), soft, b[1], recipe.Temperature, recipe.Alpha)
                    : Functional.CrossEntropy(model.Call(b[0]), b[1]);
                opt.ZeroGrad();
                loss.Backward();
                opt.Step();
                afterStep?.Invoke();
                schedule.Step();
                total += loss.Item();
                batches++;
                step++;
                seen += b[0].Size(0);
                if (tensorboard is not null && step % 10 == 0) TensorBoardLog.Step(tensorboard, step, loss.Item(), opt.LearningRate, seen / sw.Elapsed.TotalSeconds);
            }
            log?.Invoke($"epoch {epoch + 1}/{recipe.Epochs} loss {total / batches:F4} {sw.Elapsed.TotalSeconds:F0}s");
            if (tensorboard is not null)
            {
                tensorboard.AddScalar("epoch/train_loss", total / batches, step);
                tensorboard.AddScalar("epoch/val_accuracy", Accuracy(model, xValid, yValid), step);
                TensorBoardLog.Parameters(tensorboard, model, step);
                tensorboard.Flush();
            }
        }
        if (tensorboard is not null)
        {
            var hp = TensorBoardLog.Hparams(model.Config.ToMetadata());
            hp["temperature"] = recipe.Temperature;
            hp["alpha"] = recipe.Alpha;
            hp["epochs"] = recipe.Epochs;
            hp["lr"] = recipe.LearningRate;
            hp["batch_size"] = recipe.BatchSize;
            tensorboard.AddHparams(hp, new Dictionary<string, double> { ["hparam/val_accuracy"] = Accuracy(model, xValid, yValid) }, step);
        }
        model.Eval();
        return new DistillOutcome(model, Accuracy(teacher, xValid, yValid), Accuracy(model, xValid, yValid), sw.Elapsed.TotalSeconds);
    }
}
