using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using Ember.IO;
using Ember.Optim;
using Ember.Training;

namespace Ember.Wireless;

/// <summary>Options for <see cref="BeamformerTraining.Fit"/>.</summary>
public sealed record BeamformerTrainOptions
{
    public int Epochs { get; init; } = 4;
    public int BatchSize { get; init; } = 128;
    public double LearningRate { get; init; } = 1e-3;
    /// <summary>SNRs (dB) at which the rate loss is evaluated; each is scaled by the optimum's mean SE there.</summary>
    public double[] TrainSnrDb { get; init; } = [-35, -20, -5, 5];
    /// <summary>Epochs of the supervised phase-invariant loss (against Fopt/Wopt) before the rate loss; needs them in the data.</summary>
    public int SupervisedEpochs { get; init; }
    public ulong Seed { get; init; } = 1;
    public Action<string>? Log { get; init; }
    /// <summary>TensorBoard logs (null: none): the loss every 10 steps, each epoch's mean loss and the parameter
    /// histograms, the hyperparameters at the end.</summary>
    public Ember.Diagnostics.SummaryWriter? TensorBoard { get; init; }
}

/// <summary>Training, evaluation and checkpoints of <see cref="HybridBeamformerNet"/>.</summary>
public static class BeamformerTraining
{
    /// <summary>Trains on channels H [N, Nr, Nt] with the unsupervised rate loss (optionally after supervised epochs
    /// against <paramref name="fopt"/>/<paramref name="wopt"/>). Returns the mean training loss of each epoch.</summary>
    public static List<double> Fit(HybridBeamformerNet net, Tensor h, BeamformerTrainOptions o, Tensor? fopt = null, Tensor? wopt = null)
    {
        if (h.Dim != 3 || !h.IsComplex) throw new ArgumentException($"BeamformerTraining.Fit: expects complex channels [N, Nr, Nt], got {h.DType.Name()} [{string.Join(", ", h.Shape)}].");
        if (o.SupervisedEpochs > 0 && (fopt is null || wopt is null))
            throw new ArgumentException("BeamformerTraining.Fit: supervised epochs need Fopt and Wopt.");
        int n = h.Size(0);
        if (n < o.BatchSize) throw new ArgumentException($"BeamformerTraining.Fit: {n} channels are fewer than one batch of {o.BatchSize}.");
        var hc = h.To(DType.Complex64);
        var snrs = o.TrainSnrDb.Select(d => Math.Pow(10, d / 10)).ToArray();
        var scales = OptimalMeans(hc.Narrow(0, 0, Math.Min(n, 256)), net.Config.Streams, snrs);
        var opt = new Adam(net.Parameters(), lr: o.LearningRate);
        var g = new Generator(o.Seed);
        var losses = new List<double>();
        int total = o.SupervisedEpochs + o.Epochs;
        long step = 0, seen = 0;
        var clock = Stopwatch.StartNew();
        for (int ep = 0; ep < total; ep++)
        {
            bool supervised = ep < o.SupervisedEpochs;
            var sw = Stopwatch.StartNew();
            net.Train();
            var perm = Tensor.RandPerm(n, g);
            double sum = 0;
            int batches = 0;
            for (int s = 0; s + o.BatchSize <= n; s += o.BatchSize)
            {
                var idx = perm.Narrow(0, s, o.BatchSize);
                var hb = hc.IndexSelect(0, idx);
                var (f, w) = net.Predict(hb);
                var loss = supervised
                    ? BeamformingLosses.PhaseInvariant(f, w, fopt!.IndexSelect(0, idx), wopt!.IndexSelect(0, idx))
                    : BeamformingLosses.Rate(hb, f, w, snrs, scales);
                opt.ZeroGrad();
                loss.Backward();
                Optimizer.ClipGradNorm(net.Parameters(), 5.0);
                opt.Step();
                sum += loss.Item();
                batches++;
                step++;
                seen += o.BatchSize;
                if (o.TensorBoard is { } tb && step % 10 == 0) TensorBoardLog.Step(tb, step, loss.Item(), opt.LearningRate, seen / clock.Elapsed.TotalSeconds, "channels");
            }
            losses.Add(sum / batches);
            if (o.TensorBoard is { } writer)
            {
                writer.AddScalar(supervised ? "epoch/phase_invariant_loss" : "epoch/rate_loss", sum / batches, step);
                TensorBoardLog.Parameters(writer, net, step);
                writer.Flush();
            }
            o.Log?.Invoke($"  epoch {ep + 1}/{total} {(supervised ? "phase-invariant" : "rate")} loss {sum / batches:F4} ({sw.Elapsed.TotalSeconds:F1} s)");
        }
        net.Eval();
        if (o.TensorBoard is { } end)
        {
            var hp = new Dictionary<string, object>
            {
                ["backbone"] = net.Config.Backbone.ToString(), ["epochs"] = o.Epochs, ["supervised_epochs"] = o.SupervisedEpochs, ["batch_size"] = o.BatchSize,
                ["lr"] = o.LearningRate, ["seed"] = (double)o.Seed, ["train_snr_db"] = string.Join(",", o.TrainSnrDb),
            };
            end.AddHparams(hp, new Dictionary<string, double> { ["hparam/final_loss"] = losses[^1] }, step);
            end.Flush();
        }
        return losses;
    }

    /// <summary>Mean SE of the SVD optimum at each SNR over a few channels (the loss scales).</summary>
    private static double[] OptimalMeans(Tensor h, int ns, double[] snrs)
    {
        using var _ = Tensor.NoGrad();
        var hd = h.To(DType.Complex128);
        var (fo, wo) = Beamforming.Optimal(hd, ns);
        return snrs.Select(s => Beamforming.SpectralEfficiency(hd, fo, wo, s).Mean().Item()).ToArray();
    }

    /// <summary>Mean spectral efficiency of the network on a data set at each SNR, and its inference time per channel
    /// (wall clock for the whole set in batches of <paramref name="batchSize"/>, divided by the count).</summary>
    public static SpectralEfficiencyCurve Evaluate(HybridBeamformerNet net, BeamformingDataset data, double[] snrDb, string name, int batchSize = 500)
    {
        net.Eval();
        using var _ = Tensor.NoGrad();
        var h = data.H.To(DType.Complex64);
        net.Predict(h.Narrow(0, 0, Math.Min(8, data.Count)));   // warm-up (JIT, buffers)
        var fs = new List<Tensor>();
        var ws = new List<Tensor>();
        var sw = Stopwatch.StartNew();
        for (int s = 0; s < data.Count; s += batchSize)
        {
            var (f, w) = net.Predict(h.Narrow(0, s, Math.Min(batchSize, data.Count - s)));
            fs.Add(f);
            ws.Add(w);
        }
        double ms = sw.Elapsed.TotalMilliseconds / data.Count;
        var F = Tensor.Cat(fs.ToArray(), 0).To(DType.Complex128);
        var W = Tensor.Cat(ws.ToArray(), 0).To(DType.Complex128);
        var mean = snrDb.Select(d => Beamforming.SpectralEfficiency(data.H, F, W, Math.Pow(10, d / 10)).Mean().Item()).ToArray();
        return new SpectralEfficiencyCurve(name, snrDb, mean, ms);
    }

    /// <summary>Wall-clock time per channel of the OMP pipeline on a data set (SVD for Fopt/Wopt, then El Ayach's precoder
    /// and MMSE combiner at 0 dB), over <see cref="Parallelism.NumThreads"/> threads like the network's batched inference.</summary>
    public static double OmpMillisecondsPerChannel(BeamformingDataset data, int nrf, ArrayGeometry? tx = null, ArrayGeometry? rx = null)
    {
        var dictionary = BaselineEvaluation.DictionaryFor(data, tx, rx);
        var chans = Enumerable.Range(0, data.Count).Select(data.Channel).ToArray();
        var dicts = Enumerable.Range(0, data.Count).Select(dictionary).ToArray();
        var sw = Stopwatch.StartNew();
        Parallel.For(0, data.Count, new ParallelOptions { MaxDegreeOfParallelism = Parallelism.NumThreads }, i =>
        {
            var (fopt, _) = Beamforming.Optimal(chans[i], data.Ns);
            var (at, ar) = dicts[i];
            var (frf, fbb) = Beamforming.OmpPrecoder(fopt, at, nrf);
            Beamforming.OmpCombiner(chans[i], frf * fbb, ar, nrf, 1.0);
        });
        return sw.Elapsed.TotalMilliseconds / data.Count;
    }

    private static readonly JsonSerializerOptions s_json = new() { Converters = { new JsonStringEnumConverter() } };

    /// <summary>Saves the weights with the configuration in the safetensors metadata (key <c>beamformer</c>).</summary>
    public static void Save(HybridBeamformerNet net, string path)
        => Safetensors.Save(path, net.StateDict(), new Dictionary<string, string> { ["beamformer"] = JsonSerializer.Serialize(net.Config, s_json) });

    /// <summary>Loads a network saved by <see cref="Save"/>.</summary>
    public static HybridBeamformerNet Load(string path)
    {
        var tensors = Safetensors.Load(path, out var meta);
        if (!meta.TryGetValue("beamformer", out var json))
            throw new InvalidDataException($"BeamformerTraining.Load: '{path}' has no 'beamformer' metadata; it was not saved by 'ember beamforming train'.");
        var config = JsonSerializer.Deserialize<BeamformerConfig>(json, s_json)
            ?? throw new InvalidDataException($"BeamformerTraining.Load: '{path}' has empty beamformer metadata.");
        var net = new HybridBeamformerNet(config);
        net.LoadStateDict(tensors);
        net.Eval();
        return net;
    }
}
