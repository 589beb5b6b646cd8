using Ember.NN;

namespace Ember.Models;

/// <summary>The sequence architectures of the forecasting comparison.</summary>
public enum ForecasterKind
{
    /// <summary>An LSTM over the window.</summary>
    Lstm,
    /// <summary>A GRU over the window.</summary>
    Gru,
    /// <summary>A 1-D convolutional network over the window.</summary>
    Cnn,
    /// <summary>A Transformer encoder over the window.</summary>
    Transformer,
}

/// <summary>One-step-ahead forecasters over a window of past observations: input (N, W, F) (batch-first: W time steps
/// of F features), output (N, outputs). Four architectures that read the same window:
/// <list type="bullet">
/// <item><description>LSTM / GRU: a recurrent stack; the last step's hidden state feeds a linear head.</description></item>
/// <item><description>CNN: two 1-D convolutions (kernel 5, same padding, ReLU) over time, flattened into a linear head.</description></item>
/// <item><description>Transformer: features projected to d_model, learned positions, a pre-norm encoder with causal
/// self-attention; the last step feeds the head.</description></item>
/// </list> Shape: window (N, W, F), and for a hybrid the forecast day's covariates (N, C) → (N, outputs).</summary>
public sealed class Forecaster : Module
{
    /// <summary>The sequence backbone.</summary>
    public ForecasterKind Kind { get; }
    /// <summary>Days (steps) of history the model reads.</summary>
    public int Window { get; }
    /// <summary>Features per step.</summary>
    public int Features { get; }
    private readonly RecurrentBase? _rnn;
    private readonly Sequential? _conv;
    private readonly Linear? _inProj;
    private readonly LearnedPositionalEncoding? _positions;
    private readonly TransformerEncoder? _encoder;
    private readonly Linear _head;

    /// <summary>A one-step forecaster reading <paramref name="window"/> steps of <paramref name="features"/> features.</summary>
    public Forecaster(ForecasterKind kind, int window, int features, int hidden = 64, int layers = 1, int outputs = 1, double dropout = 0.1,
        Generator? generator = null, int covariates = 0)
    {
        if (covariates < 0) throw new ArgumentException($"Forecaster: covariates must not be negative, got {covariates}.");
        Covariates = covariates;
        if (window < 1 || features < 1 || hidden < 1 || layers < 1 || outputs < 1)
            throw new ArgumentException($"Forecaster: window ({window}), features ({features}), hidden ({hidden}), layers ({layers}) and outputs ({outputs}) must be positive.");
        (Kind, Window, Features) = (kind, window, features);
        int headIn = hidden;
        switch (kind)
        {
            case ForecasterKind.Lstm:
                _rnn = RegisterModule("rnn", new LSTM(features, hidden, layers, batchFirst: true, dropout: layers > 1 ? dropout : 0, generator: generator));
                break;
            case ForecasterKind.Gru:
                _rnn = RegisterModule("rnn", new GRU(features, hidden, layers, batchFirst: true, dropout: layers > 1 ? dropout : 0, generator: generator));
                break;
            case ForecasterKind.Cnn:
                int channels = Math.Max(8, hidden / 2);
                _conv = RegisterModule("conv", new Sequential(
                    new Conv1d(features, channels, 5, padding: Padding.Same, generator: generator), new ReLU(),
                    new Conv1d(channels, channels, 5, padding: Padding.Same, generator: generator), new ReLU(),
                    new Flatten(), new Dropout(dropout, generator)));
                headIn = channels * window;
                break;
            case ForecasterKind.Transformer:
                if (hidden % 4 != 0) throw new ArgumentException($"Forecaster: the transformer's width ({hidden}) must be divisible by its 4 heads.");
                _inProj = RegisterModule("in_proj", new Linear(features, hidden, generator: generator));
                _positions = RegisterModule("positions", new LearnedPositionalEncoding(hidden, window, generator: generator));
                _encoder = RegisterModule("encoder", new TransformerEncoder(
                    () => new TransformerEncoderLayer(hidden, 4, 2 * hidden, dropout, TransformerActivation.Gelu, batchFirst: true, normFirst: true, generator: generator),
                    layers, new LayerNorm(hidden)));
                break;
            default:
                throw new ArgumentException($"Forecaster: unknown kind {kind}.");
        }
        if (covariates > 0)
        {
            // Hybrid: an MLP embeds the covariates known for the forecast day (weather, calendar), concatenated with
            // the sequence branch's summary before the head.
            _covariateMlp = RegisterModule("covariate_mlp", new Sequential(new Linear(covariates, hidden, generator: generator), new ReLU(),
                new Dropout(dropout, generator), new Linear(hidden, hidden, generator: generator), new ReLU()));
            headIn += hidden;
        }
        _head = RegisterModule("head", new Linear(headIn, outputs, generator: generator));
    }

    /// <summary>Covariates per forecast (0: a sequence-only model).</summary>
    public int Covariates { get; }
    private readonly Sequential? _covariateMlp;

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input) => Forward(input, null);

    /// <summary>The forecast from a window (N, W, F) and, for a hybrid, the forecast day's covariates (N, C).</summary>
    public Tensor Forward(Tensor input, Tensor? covariates)
    {
        if ((covariates is null) != (Covariates == 0) || covariates is not null && (covariates.Dim != 2 || covariates.Size(0) != input.Size(0) || covariates.Size(1) != Covariates))
            throw new ArgumentException($"Forecaster ({Kind}): expected covariates (N, {Covariates}){(Covariates == 0 ? " to be absent" : "")}, got {(covariates is null ? "none" : ShapeUtil.Str(covariates._shape))}.");
        if (input.Dim != 3 || input.Size(1) != Window || input.Size(2) != Features)
            throw new ArgumentException($"Forecaster ({Kind}): expected (N, {Window}, {Features}), got {ShapeUtil.Str(input._shape)}.");
        Tensor last;
        if (_rnn is not null) last = _rnn.Call(input).Select(1, -1);
        else if (_conv is not null) last = _conv.Call(input.Transpose(1, 2));
        else
        {
            var x = _positions!.Call(_inProj!.Call(input));
            last = _encoder!.Forward(x, null, null, isCausal: true).Select(1, -1);
        }
        if (_covariateMlp is not null) last = Tensor.Cat([last, _covariateMlp.Call(covariates!)], 1);
        return _head.Call(last);
    }

    /// <inheritdoc/>
    protected override string ExtraRepr() => $"{Kind}, window={Window}, features={Features}";
}
