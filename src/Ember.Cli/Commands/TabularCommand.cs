using System.CommandLine;

namespace Ember.Cli.Commands;

/// <summary><c>ember tabular train|predict|explain</c>: hybrid Transformer+MLP models for tables with text columns.</summary>
internal static class TabularCommand
{
    public static Command Create() => new("tabular",
        "Hybrid Transformer+MLP models for tables with text columns: cross-validated comparison against baselines, " +
        "predictions, explanations of one prediction.")
    {
        TabularTrainCommand.Create(), TabularPredictCommand.Create(), TabularExplainCommand.Create(),
    };
}
