using Ember.Recipes.Export;
using Ember.Wireless;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Xunit;

namespace Ember.Tests.Onnx;

/// <summary>Learned hybrid beamformers (every backbone, head and input; complex values as real pairs) exported and run in
/// ONNX Runtime: precoder and combiner equal Ember's <c>Predict</c> within 1e-4 at batch sizes 1 and 3, with batch-norm
/// running statistics moved away from their initial values.</summary>
public class BeamformerOnnxTests
{
    public static TheoryData<BeamformerBackbone, BeamformerHead, ChannelInput, bool> Configs => new()
    {
        { BeamformerBackbone.Cnn, BeamformerHead.ChannelPhase, ChannelInput.AntennaReImAbs, true },
        { BeamformerBackbone.ComplexCnn, BeamformerHead.ChannelPhase, ChannelInput.AntennaReImAbs, true },
        { BeamformerBackbone.Transformer, BeamformerHead.ChannelPhase, ChannelInput.Beamspace, true },
        { BeamformerBackbone.CnnTransformer, BeamformerHead.ChannelPhase, ChannelInput.AntennaReImAbs, true },
        { BeamformerBackbone.Cnn, BeamformerHead.Steering, ChannelInput.Beamspace, true },
        { BeamformerBackbone.ComplexCnn, BeamformerHead.Phases, ChannelInput.Beamspace, false },
        { BeamformerBackbone.Cnn, BeamformerHead.Phases, ChannelInput.AntennaAbs, false },
    };

    [Theory]
    [MemberData(nameof(Configs))]
    public void PrecoderAndCombinerMatchOnnxRuntime(BeamformerBackbone backbone, BeamformerHead head, ChannelInput input, bool closedForm)
    {
        var config = new BeamformerConfig(new ArrayGeometry(4, 4), new ArrayGeometry(2, 2), Streams: 2, RfChains: 3, backbone, head, input,
            Width: 6, Blocks: 1, Hidden: 32, Heads: 2, Layers: 1, ClosedFormBaseband: closedForm, SubspaceIterations: 4, AnalogIterations: 2);
        var net = new HybridBeamformerNet(config, new Generator(3));
        Tensor Channels(int b, ulong seed)
        {
            var g = new Generator(seed);
            return Tensor.Complex(Tensor.Randn([b, 4, 16], DType.Float32, g), Tensor.Randn([b, 4, 16], DType.Float32, g)).Mul(1 / Math.Sqrt(2));
        }
        net.Train();
        using (Tensor.NoGrad()) for (int i = 0; i < 3; i++) net.Predict(Channels(8, (ulong)(50 + i)));   // move the running statistics
        var path = Path.Combine(Directory.CreateTempSubdirectory("ember-onnx-bf").FullName, "beamformer.onnx");
        BeamformerOnnx.Export(net, path);
        net.Eval();
        using var session = new InferenceSession(path);
        foreach (int b in new[] { 1, 3 })
        {
            var h = Channels(b, (ulong)b);
            Tensor f, w;
            using (Tensor.NoGrad()) (f, w) = net.Predict(h);
            var pairs = h.ViewAsReal().Contiguous();
            using var results = session.Run([NamedOnnxValue.CreateFromTensor("channel", new DenseTensor<float>(pairs.ToArray<float>(), pairs.Shape))]);
            foreach (var (name, want) in new[] { ("precoder", f), ("combiner", w) })
            {
                var got = results.First(r => r.Name == name).AsTensor<float>();
                var expected = want.ViewAsReal().Contiguous();
                Assert.Equal(expected.Shape, got.Dimensions.ToArray());
                var e = expected.ToArray<float>();
                var a = got.ToArray();
                for (int i = 0; i < e.Length; i++)
                    Assert.True(Math.Abs(e[i] - a[i]) <= 1e-4 * Math.Max(1, Math.Abs(e[i])), $"{backbone}/{head}/{input} {name} batch {b}, element {i}: Ember {e[i]}, ONNX Runtime {a[i]}");
            }
        }
    }
}
