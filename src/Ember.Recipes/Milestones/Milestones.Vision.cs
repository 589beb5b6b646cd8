using System.Diagnostics;

namespace Ember.Recipes;

public static partial class Milestones
{
    /// <summary>Settings of the Fashion-MNIST CNN recipe (the fashion milestone and its shorter CI gate).</summary>
    public sealed record FashionRecipe
    {
        public int Epochs { get; init; } = 12;
        public int BatchSize { get; init; } = 128;
        public double MaxLearningRate { get; init; } = 3e-3;
        public double WeightDecay { get; init; } = 5e-4;
        public double LabelSmoothing { get; init; } = 0.1;
        public int ShiftPixels { get; init; } = 2;       // random translation
        public bool HorizontalFlip { get; init; } = true; // clothes are left-right symmetric
        public int Width { get; init; } = 32;             // channels of the first block; the second has twice as many
        public double Dropout { get; init; } = 0.3;
        public ulong Seed { get; init; } = 1;
        /// <summary>Train on the first N training images only (null: all 60,000).</summary>
        public int? TrainLimit { get; init; }
        /// <summary>Evaluate on the first N test images only (null: all 10,000).</summary>
        public int? TestLimit { get; init; }
        public double Gate { get; init; } = 0.93;
    }

    /// <summary>The recipe's CNN: two blocks of [3×3 conv-BN-ReLU]×2 + 2×2 max pool (w and 2w channels), then
    /// FC(7·7·2w → 256)-ReLU-dropout-FC(256 → 10). Input (N, 1, 28, 28).</summary>
    public static Sequential FashionCnn(FashionRecipe recipe, Generator? g = null)
    {
        int w = recipe.Width, w2 = 2 * w;
        Module Block(int cin, int cout) => new Sequential(
            new Conv2d(cin, cout, 3, padding: 1, bias: false, generator: g), new BatchNorm2d(cout), new ReLU(),
            new Conv2d(cout, cout, 3, padding: 1, bias: false, generator: g), new BatchNorm2d(cout), new ReLU(), new MaxPool2d(2));
        return new Sequential(Block(1, w), Block(w, w2), new Flatten(),
            new Linear(7 * 7 * w2, 256, generator: g), new ReLU(), new Dropout(recipe.Dropout, g), new Linear(256, 10, generator: g));
    }

    /// <summary>Checkpoint metadata of the recipe's CNN (what <see cref="FashionCnnFromMetadata"/> rebuilds it from).</summary>
    public static Dictionary<string, string> FashionMetadata(FashionRecipe recipe) => new()
    {
        ["model"] = "fashion-cnn",
        ["width"] = recipe.Width.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["dropout"] = recipe.Dropout.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
    };

    /// <summary>The CNN a fashion checkpoint describes (weights not loaded); a clear error for other checkpoints.</summary>
    public static Sequential FashionCnnFromMetadata(IReadOnlyDictionary<string, string> meta, string source)
    {
        if (!meta.TryGetValue("model", out var kind) || kind != "fashion-cnn")
            throw new InvalidDataException($"{source}: not a Fashion-MNIST CNN checkpoint (model={kind ?? "missing"}).");
        try
        {
            return FashionCnn(new FashionRecipe
            {
                Width = int.Parse(meta["width"], System.Globalization.CultureInfo.InvariantCulture),
                Dropout = double.Parse(meta["dropout"], System.Globalization.CultureInfo.InvariantCulture),
            });
        }
        catch (Exception e) when (e is KeyNotFoundException or FormatException or OverflowException)
        {
            throw new InvalidDataException($"{source}: the Fashion-MNIST CNN metadata is incomplete or malformed ({e.Message}).", e);
        }
    }

    /// <summary>Fashion-MNIST's training and test images and labels, each cut to its first N rows when a limit is given.</summary>
    internal static (Tensor TrainImages, Tensor TrainLabels, Tensor TestImages, Tensor TestLabels) FashionSplits(string folder, int? trainLimit, int? testLimit)
    {
        var (xtr, ytr) = ImageFolders.FashionMnist(folder, train: true);
        var (xte, yte) = ImageFolders.FashionMnist(folder, train: false);
        static Tensor First(Tensor t, int? n) => n is int k ? t.Narrow(0, 0, Math.Min(k, t.Size(0))) : t;
        return (First(xtr, trainLimit), First(ytr, trainLimit), First(xte, testLimit), First(yte, testLimit));
    }

    /// <summary>The recipes' augmentation of a batch of images: a random horizontal flip, then a random shift.</summary>
    internal static Tensor FlipAndShift(Tensor x, bool flip, int shiftPixels, Generator g)
    {
        if (flip) x = Transforms.RandomHorizontalFlipBatch(x, 0.5, g);
        return shiftPixels > 0 ? Transforms.RandomShift(x, shiftPixels, g) : x;
    }

    /// <summary>Trains the recipe on a Fashion-MNIST folder, evaluating on the test images after every epoch.</summary>
    public static (Sequential Model, Trainer Trainer, Evaluation Test) TrainFashion(string folder, FashionRecipe recipe, TrainerOptions options)
    {
        var (xtr, ytr, xte, yte) = FashionSplits(folder, recipe.TrainLimit, recipe.TestLimit);
        var g = new Generator(recipe.Seed);
        var model = FashionCnn(recipe, g);
        var opt = new AdamW(model.Parameters(), lr: recipe.MaxLearningRate, weightDecay: recipe.WeightDecay);
        var aug = new Generator(recipe.Seed + 100);
        var train = new DataLoader(new TensorDataset(xtr, ytr), recipe.BatchSize, shuffle: true, seed: recipe.Seed)
        {
            BatchTransform = b => [FlipAndShift(b[0], recipe.HorizontalFlip, recipe.ShiftPixels, aug), b[1]],
        };
        var test = new DataLoader(new TensorDataset(xte, yte), 500);
        var trainer = new Trainer(model, opt, (o, y) => Functional.CrossEntropy(o, y, labelSmoothing: recipe.LabelSmoothing));
        var schedule = new OneCycleLR(opt, recipe.MaxLearningRate, recipe.Epochs * train.Count);
        trainer.Scheduler = schedule;
        trainer.Fit(train, test, options with
        {
            Epochs = recipe.Epochs,
            Metadata = options.Metadata ?? FashionMetadata(recipe),
            Hparams = options.Hparams ?? new Dictionary<string, object>
            {
                ["batch_size"] = recipe.BatchSize, ["max_lr"] = recipe.MaxLearningRate, ["weight_decay"] = recipe.WeightDecay,
                ["label_smoothing"] = recipe.LabelSmoothing, ["flip"] = recipe.HorizontalFlip, ["shift_pixels"] = recipe.ShiftPixels,
                ["seed"] = (double)recipe.Seed,
            },
        });
        return (model, trainer, trainer.Evaluate(test));
    }

    /// <summary>The Fashion-MNIST milestone: the CNN recipe trained from scratch; gate 93% on the 10,000 test images.
    /// Details report the wall time and the training time until the test accuracy first reached the gate.</summary>
    public static MilestoneResult Fashion(string folder, FashionRecipe? recipe = null, TrainerOptions? options = null)
        => FashionRun(folder, recipe, options).Result;

    /// <summary>The outcome of a fashion run: the milestone line and what the plots need.</summary>
    public sealed record FashionOutcome(MilestoneResult Result, Sequential Model, Trainer Trainer, Evaluation Test);

    /// <summary><see cref="Fashion"/>, also returning the trained model, its trainer and the test evaluation.</summary>
    public static FashionOutcome FashionRun(string folder, FashionRecipe? recipe = null, TrainerOptions? options = null)
    {
        var sw = Stopwatch.StartNew();
        recipe ??= new FashionRecipe();
        var initial = Snapshot(FashionCnn(recipe, new Generator(recipe.Seed)));
        var (model, trainer, test) = TrainFashion(folder, recipe, options ?? new TrainerOptions());
        var after = Snapshot(model);
        bool moved = initial.Length == after.Length && initial.Zip(after).Any(p => Math.Abs(p.First - p.Second) > 1e-6);
        double elapsed = 0;
        string reached = "not reached";
        foreach (var e in trainer.History)
        {
            elapsed += e.Seconds;
            if (e.ValAccuracy >= recipe.Gate)
            {
                reached = $"{elapsed:F1}s (epoch {e.Epoch})";
                break;
            }
        }
        var result = new MilestoneResult("fashion", "test_accuracy", test.Accuracy, recipe.Gate, moved, sw.Elapsed.TotalSeconds,
            $"{test.Count} test images, {recipe.Epochs} epochs, {trainer.History.Sum(h => h.Seconds):F1}s training, time to {recipe.Gate * 100:F0}%: {reached}");
        return new FashionOutcome(result, model, trainer, test);
    }
}
