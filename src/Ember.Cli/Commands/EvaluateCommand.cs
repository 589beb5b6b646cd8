using System.CommandLine;
using Ember.Cli.Infrastructure;
using Ember.Data;
using Ember.NN;
using Ember.Optim;
using Ember.Training;

namespace Ember.Cli.Commands;

/// <summary><c>ember evaluate CHECKPOINT</c>: loss, accuracy and the confusion matrix on a data set.</summary>
internal static class EvaluateCommand
{
    public static Command Create()
    {
        var command = new Command("evaluate", "Reports a checkpoint's loss, accuracy and confusion matrix on a data set.");
        var inputs = new Checkpoints.MlpDataArguments(command);
        command.SetAction(p =>
        {
            var ui = new Terminal(quiet: false);
            var (model, _, x, yMaybe, enc) = inputs.Load(p, withTarget: true);
            var y = yMaybe!;
            if (x.NumEl / x.Size(0) != model.Config.InFeatures)
                throw new UsageException($"evaluate: the checkpoint expects {model.Config.InFeatures} input features, the data has {x.NumEl / x.Size(0)}");
            bool classification = y.DType == DType.Int64;
            var trainer = new Trainer(model, new SGD(model.Parameters(), 0), classification ? (o, t) => Functional.CrossEntropy(o, t) : (o, t) => Functional.MseLoss(o, t));
            var ev = trainer.Evaluate(new DataLoader(new TensorDataset(x, y), 512));
            if (!classification)
            {
                ui.Line($"examples={ev.Count} mse={ev.Loss:G5}");
                ui.Line($"rmse={Math.Sqrt(ev.Loss):G5}");
                return 0;
            }
            ui.Line(Metrics.Format(Metrics.ConfusionMatrix(ev.Predictions, ev.Targets, model.Config.OutFeatures), enc?.Classes));
            ui.Line($"examples={ev.Count} loss={ev.Loss:F4}");
            ui.Line($"accuracy={ev.Accuracy:F4}");
            return 0;
        });
        return command;
    }
}
