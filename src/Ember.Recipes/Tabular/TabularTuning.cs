using Ember.Tuning;

namespace Ember.Recipes.Tabular;

/// <summary>
/// The tabular model as a tuning objective (issue 23's "real" objective): learning rate (log scale), width (hidden
/// units of the MLP branch, or d_model of the Transformer branches), dropout and weight decay, on a fixed seeded
/// split of the table (the test fraction held out and never touched, then a validation split of the rest). Each
/// epoch's validation score is reported (ROC AUC, maximized, for classification; RMSE, minimized, for regression)
/// so that a pruner can stop a poor trial early; the value is the best epoch's.
/// </summary>
public sealed class TabularTuning
{
    private readonly TabularCompareOptions _o;
    private readonly TabularPreprocessor _prep;
    private readonly TabularData _train, _valid;

    /// <summary>Prepares the split and the preprocessing of <paramref name="table"/> once for every trial.</summary>
    public TabularTuning(CsvTable table, TabularCompareOptions options)
    {
        _o = options;
        (_prep, _train, _valid) = TabularExperiment.SearchSplit(table, options);   // the split ember tabular train --search uses
    }

    /// <summary>Maximize AUC (classification) or minimize RMSE (regression).</summary>
    public StudyDirection Direction => _prep.Classification ? StudyDirection.Maximize : StudyDirection.Minimize;

    /// <summary>Training rows, validation rows.</summary>
    public (int Train, int Validation) Rows => (_train.Count, _valid.Count);

    /// <summary>One trial: suggest, train with per-epoch reports, return the best validation score.</summary>
    public double Objective(Trial trial)
    {
        double lr = trial.SuggestFloat("lr", 1e-4, 3e-2, log: true);
        long width = trial.SuggestInt("width", 16, 256, log: true);
        double dropout = trial.SuggestFloat("dropout", 0.0, 0.5);
        double weightDecay = trial.SuggestFloat("weight_decay", 1e-6, 1e-1, log: true);
        return Evaluate(lr, (int)width, dropout, weightDecay, trial);
    }

    /// <summary>The validation score of one setting (<paramref name="trial"/> null: no reports, no pruning).</summary>
    public double Evaluate(double lr, int width, double dropout, double weightDecay, Trial? trial = null)
    {
        bool transformer = _o.Kind != TabularModelKind.Mlp;
        // Transformer widths must divide by the heads (4): round to a multiple of 4.
        int dModel = transformer ? Math.Max(4, width / 4 * 4) : _o.DModel;
        var config = _prep.ModelConfig(_o.Kind, _o.Fusion, dModel, _o.Layers, transformer ? _o.Hidden : width, dropout, _o.Wide);
        var fit = _o.Fit with
        {
            LearningRate = lr, WeightDecay = weightDecay, Seed = _o.Seed,
            OnEpoch = trial is null ? null : (epoch, scores) =>
            {
                trial.Report(TabularExperiment.Primary(scores), epoch);
                if (trial.ShouldPrune()) throw new TrialPrunedException($"pruned at epoch {epoch}");
            },
        };
        var (_, _, best) = TabularTraining.Fit(config, _train, _valid, fit);
        return TabularExperiment.Primary(best);
    }
}
