using System.Diagnostics;

namespace Ember.Recipes;

/// <summary>The outcome of a milestone: a metric against a gate, and whether training actually moved the
/// parameters (a detached graph can still "train" a head).</summary>
public sealed record MilestoneResult(string Name, string Metric, double Value, double Gate, bool ParametersMoved, double Seconds, string Details)
{
    /// <summary>Further pass conditions besides the main metric (e.g. a speed requirement), false when any failed.</summary>
    public bool SideGatesPassed { get; init; } = true;

    /// <summary>Those conditions' figures, appended to the contract line (e.g. <c>speedup=3.2 speedup_gate=1</c>).</summary>
    public string SideGates { get; init; } = "";

    public bool Passed => Value >= Gate && ParametersMoved && SideGatesPassed;

    /// <summary>The contract line: <c>milestone NAME: PASS|FAIL metric=value gate=value</c>.</summary>
    public string Line => $"milestone {Name}: {(Passed ? "PASS" : "FAIL")} {Metric}={Value:F4} gate={Gate:F4}" + (SideGates.Length > 0 ? " " + SideGates : "")
        + (ParametersMoved ? "" : " (parameters did not move)");
}

/// <summary>Runnable, pass/fail curriculum milestones.</summary>
public static partial class Milestones
{
    internal static double[] Snapshot(Module m) => m.Parameters().SelectMany(p => p.ToArrayDouble()).ToArray();

    private static bool Moved(double[] before, Module m)
    {
        var after = Snapshot(m);
        double diff = 0;
        for (int i = 0; i < before.Length; i++) diff = Math.Max(diff, Math.Abs(after[i] - before[i]));
        return diff > 1e-6;
    }

    private static readonly float[] Inputs2 = [0, 0, 0, 1, 1, 0, 1, 1];

    /// <summary>Rosenblatt's task: a single linear unit with a threshold learns AND and OR (linearly separable)
    /// to 100%. Metric: the lower of the two accuracies.</summary>
    public static MilestoneResult Perceptron(ulong seed = 0)
    {
        var sw = Stopwatch.StartNew();
        var x = Tensor.FromArray(Inputs2, 4, 2);
        double worst = 1;
        bool moved = true;
        var details = new List<string>();
        foreach (var (name, targets) in new[] { ("AND", new float[] { 0, 0, 0, 1 }), ("OR", new float[] { 0, 1, 1, 1 }) })
        {
            var y = Tensor.FromArray(targets, 4, 1);
            var unit = new Linear(2, 1, generator: new Generator(seed));
            var before = Snapshot(unit);
            var opt = new SGD(unit.Parameters(), lr: 0.5);
            for (int step = 0; step < 500; step++)
            {
                var loss = Functional.BinaryCrossEntropyWithLogits(unit.Call(x), y);
                opt.ZeroGrad();
                loss.Backward();
                opt.Step();
            }
            double acc;
            using (Tensor.NoGrad()) acc = unit.Call(x).Gt(0).To(DType.Float32).Eq(y).To(DType.Float64).Mean().Item();
            worst = Math.Min(worst, acc);
            moved &= Moved(before, unit);
            details.Add($"{name} accuracy={acc:F4}");
        }
        return new MilestoneResult("perceptron", "accuracy", worst, 1.0, moved, sw.Elapsed.TotalSeconds, string.Join(", ", details));
    }

    /// <summary>Minsky &amp; Papert's point: no single linear unit separates XOR (at most 3 of 4 points), while a
    /// 2-layer MLP learns it. The metric is the MLP's accuracy; the gate also requires the linear model to stay
    /// at or below 75%.</summary>
    public static MilestoneResult Xor(ulong seed = 0)
    {
        var sw = Stopwatch.StartNew();
        var x = Tensor.FromArray(Inputs2, 4, 2);
        var y = Tensor.FromArray(new float[] { 0, 1, 1, 0 }, 4, 1);
        double Train(Module model, int steps, double lr)
        {
            var opt = new Adam(model.Parameters(), lr: lr);
            for (int step = 0; step < steps; step++)
            {
                var loss = Functional.BinaryCrossEntropyWithLogits(model.Call(x), y);
                opt.ZeroGrad();
                loss.Backward();
                opt.Step();
            }
            using (Tensor.NoGrad()) return model.Call(x).Gt(0).To(DType.Float32).Eq(y).To(DType.Float64).Mean().Item();
        }
        var linear = new Linear(2, 1, generator: new Generator(seed));
        double linearAcc = Train(linear, 2000, 0.05);
        var mlp = new Sequential(new Linear(2, 8, generator: new Generator(seed + 1)), new Tanh(), new Linear(8, 1, generator: new Generator(seed + 2)));
        var before = Snapshot(mlp);
        double mlpAcc = Train(mlp, 2000, 0.05);
        bool moved = Moved(before, mlp);
        // A linear model above 75% on XOR would mean the evaluation is broken: fail the gate then too.
        double value = linearAcc <= 0.75 ? mlpAcc : 0;
        return new MilestoneResult("xor", "accuracy", value, 1.0, moved, sw.Elapsed.TotalSeconds,
            $"single-layer accuracy={linearAcc:F4} (must be <= 0.75), 2-layer MLP accuracy={mlpAcc:F4}");
    }

    /// <summary>Settings of the MNIST MLP recipe (quickstart and the mnist milestone).</summary>
    public sealed record MnistRecipe
    {
        public int Epochs { get; init; } = 25;
        public int BatchSize { get; init; } = 128;
        public double MaxLearningRate { get; init; } = 2e-3;
        public double WeightDecay { get; init; } = 1e-4;
        public int ShiftPixels { get; init; } = 2;           // random translation augmentation
        public MlpConfig Model { get; init; } = new();
        public ulong Seed { get; init; } = 1;
    }

    /// <summary>Trains the recipe's MLP on an MNIST-format folder and returns the trained model, the trainer (with its
    /// history) and the test evaluation.</summary>
    public static (Mlp Model, Trainer Trainer, Evaluation Test) TrainMnist(string folder, MnistRecipe recipe, TrainerOptions options)
    {
        var (xtr, ytr) = ImageFolders.LoadMnistFormat(folder, train: true);
        var (xte, yte) = ImageFolders.LoadMnistFormat(folder, train: false);
        var g = new Generator(recipe.Seed);
        var model = new Mlp(recipe.Model with { InFeatures = xtr.NumEl / xtr.Size(0) }, g);
        var opt = new AdamW(model.Parameters(), lr: recipe.MaxLearningRate, weightDecay: recipe.WeightDecay);
        var aug = new Generator(recipe.Seed + 100);
        var train = new DataLoader(new TensorDataset(xtr, ytr), recipe.BatchSize, shuffle: true, seed: recipe.Seed)
        {
            BatchTransform = recipe.ShiftPixels > 0 ? b => [Transforms.RandomShift(b[0], recipe.ShiftPixels, aug), b[1]] : null,
        };
        var test = new DataLoader(new TensorDataset(xte, yte), 500);
        var trainer = new Trainer(model, opt, (o, y) => Functional.CrossEntropy(o, y));
        var schedule = new OneCycleLR(opt, recipe.MaxLearningRate, recipe.Epochs * train.Count);
        trainer.Scheduler = schedule;
        var meta = model.Config.ToMetadata();
        int side = (int)Math.Round(Math.Sqrt(xtr.NumEl / Math.Max(1, xtr.Size(0))));
        trainer.Fit(train, test, options with
        {
            Epochs = recipe.Epochs, Metadata = options.Metadata ?? meta,
            InputImageShape = options.InputImageShape ?? (side * side == xtr.NumEl / Math.Max(1, xtr.Size(0)) ? [1, side, side] : null),
            Hparams = options.Hparams ?? new Dictionary<string, object>
            {
                ["batch_size"] = recipe.BatchSize, ["max_lr"] = recipe.MaxLearningRate, ["weight_decay"] = recipe.WeightDecay,
                ["shift_pixels"] = recipe.ShiftPixels, ["seed"] = (double)recipe.Seed,
            },
        });
        return (model, trainer, trainer.Evaluate(test));
    }

    /// <summary>The MLP recipe on the MNIST 10k subset: gate 97% on its 2,000 test digits.</summary>
    public static MilestoneResult Mnist(string folder, MnistRecipe? recipe = null, bool progress = true, ITrainingProgress? reporter = null,
        Diagnostics.SummaryWriter? tensorboard = null)
    {
        var sw = Stopwatch.StartNew();
        recipe ??= new MnistRecipe();
        // Parameters are compared against a freshly built model with the same seed: the initialization the run started from.
        var initial = Snapshot(new Mlp(recipe.Model, new Generator(recipe.Seed)));
        var (model, _, test) = TrainMnist(folder, recipe, new TrainerOptions { Progress = progress, ProgressReporter = reporter, TensorBoard = tensorboard });
        var after = Snapshot(model);
        bool moved = initial.Length == after.Length && initial.Zip(after).Any(p => Math.Abs(p.First - p.Second) > 1e-6);
        return new MilestoneResult("mnist", "test_accuracy", test.Accuracy, 0.97, moved, sw.Elapsed.TotalSeconds,
            $"{test.Count} test digits, {recipe.Epochs} epochs, {sw.Elapsed.TotalSeconds:F1}s");
    }
}
