using System.CommandLine;
using Ember.Cli.Infrastructure;
using Ember.Wireless;

namespace Ember.Cli.Commands;

/// <summary><c>ember beamforming train --data FILE.mat</c>.</summary>
internal static class BeamformingTrainCommand
{
    public static Command Create()
    {
        var data = Opt.ExistingPath("--data", "the MAT-file (H required; v7.3 files must be re-saved as -v7)", required: true);
        var outPath = Opt.Text("--out", Path.Combine("runs", "beamforming", "model.safetensors"), "where the model goes", "FILE");
        var model = Opt.Choice("--model", "cnn", "backbone", "cnn", "complex-cnn", "transformer", "cnn-transformer");
        var epochs = Opt.Int("--epochs", 4, "training epochs", min: 1);
        // Batches of at least 2: the backbones' BatchNorm layers need two values per channel to normalize.
        var batch = Opt.Int("--batch", 128, "minibatch size", min: 2);
        var lr = Opt.Double("--lr", 1e-3, "learning rate", 0, 10, exclusiveMin: true);
        var supervised = Opt.Int("--supervised", 0, "epochs of the phase-invariant loss against Fopt/Wopt first");
        var seed = Opt.Int("--seed", 1, "random seed");
        var snr = Opt.DoubleList("--snr", "-35,-20,-5,5", "training SNRs in dB");
        var nrf = Opt.Int("--nrf", 4, "RF chains", min: 1);
        var ns = Opt.OptionalInt("--ns", "streams [default: from the file]", min: 1);
        var tx = Opt.Text("--tx", "transmit planar array shape HxV [default: square]", "HxV");
        var rx = Opt.Text("--rx", "receive planar array shape HxV [default: square]", "HxV");
        var input = Opt.Choice("--input", "reimabs", "network input: [Re H, Im H, |H|], |H| alone, or the 2-D-DFT beamspace", "reimabs", "abs", "beamspace");
        var head = Opt.Choice("--head", "channel", "output head: channel-informed phases, free phases, or beam directions", "channel", "phases", "steering");
        var tensorboard = Opt.TensorBoard();
        var command = new Command("train", "Trains a learned hybrid beamformer on a MAT-file.")
        {
            data, outPath, model, epochs, batch, lr, supervised, seed, snr, nrf, ns, tx, rx, input, head, tensorboard,
        };
        var variables = new BeamformingCommand.VariableOptions(command);
        command.SetAction(p =>
        {
            var ui = new Terminal(quiet: false);
            using var tb = Opt.OpenTensorBoard(p.GetValue(tensorboard));
            var options = new BeamformerTrainOptions
            {
                TensorBoard = tb,
                Epochs = p.GetValue(epochs), BatchSize = p.GetValue(batch), LearningRate = p.GetValue(lr),
                SupervisedEpochs = p.GetValue(supervised), Seed = (ulong)p.GetValue(seed), Log = ui.Line, TrainSnrDb = p.GetValue(snr)!,
            };
            string modelName = p.GetValue(model)!;
            var backbone = modelName switch
            {
                "cnn" => BeamformerBackbone.Cnn,
                "complex-cnn" => BeamformerBackbone.ComplexCnn,
                "transformer" => BeamformerBackbone.Transformer,
                _ => BeamformerBackbone.CnnTransformer,
            };
            var channelInput = p.GetValue(input) switch { "reimabs" => ChannelInput.AntennaReImAbs, "abs" => ChannelInput.AntennaAbs, _ => ChannelInput.Beamspace };
            var outputHead = p.GetValue(head) switch { "channel" => BeamformerHead.ChannelPhase, "phases" => BeamformerHead.Phases, _ => BeamformerHead.Steering };
            int chains = p.GetValue(nrf);
            var set = BeamformingDataset.Load(p.GetValue(data)!, p.GetValue(ns), variables.Get(p));
            if (chains < set.Ns || chains > Math.Min(set.Nt, set.Nr))
                throw new UsageException($"--nrf {chains}: must be at least the Ns = {set.Ns} streams and at most the {Math.Min(set.Nt, set.Nr)} antennas of the smaller array");
            var config = new BeamformerConfig(BeamformingCommand.Geometry(p.GetValue(tx), set.Nt, "tx"), BeamformingCommand.Geometry(p.GetValue(rx), set.Nr, "rx"),
                set.Ns, chains, backbone, outputHead, channelInput);
            if (backbone is BeamformerBackbone.Transformer or BeamformerBackbone.CnnTransformer) config = config with { Hidden = 64 };
            if (backbone == BeamformerBackbone.ComplexCnn) config = BeamformerConfigs.MatchComplexWidth(config with { Backbone = BeamformerBackbone.Cnn });
            var net = new HybridBeamformerNet(config, new Generator(options.Seed));
            ui.Line($"{set.Count} channels {set.Nr}x{set.Nt}, Ns = {set.Ns}, N_RF = {chains}; model {modelName} with {BeamformerConfigs.ParameterCount(net):N0} parameters");
            BeamformerTraining.Fit(net, set.H, options, set.Fopt, set.Wopt);
            string output = p.GetValue(outPath)!;
            BeamformerTraining.Save(net, output);
            ui.Line($"saved {output}");
            if (tb is not null) ui.Line($"TensorBoard logs in {tb.LogDir} (tensorboard --logdir {tb.LogDir})");
            return 0;
        });
        return command;
    }
}
