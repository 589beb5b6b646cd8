using System.Text.Json;
using Ember.NN;
using Xunit;
using F = Ember.NN.Functional;

namespace Ember.Tests.NN;

/// <summary>Attention, transformer layers, embedding and RMSNorm against PyTorch (Fixtures/gen_sequence_fixtures.py):
/// each module gets PyTorch's state dict by name, then output, input gradients and parameter gradients must match.</summary>
public class SequenceReferenceTests
{
    private sealed class Stateless(Func<Tensor[], Tensor> f) : Module
    {
        public Tensor Run(Tensor[] x) => f(x);
    }

    private sealed class Rms : Module
    {
        public RMSNorm Norm { get; }
        public Rms() { Norm = RegisterModule("n", new RMSNorm(6, dtype: DType.Float64)); }
    }

    private static (Module Module, Func<Tensor[], Tensor> Run, Func<string, string> Rename) Build(string name)
    {
        var f64 = DType.Float64;
        switch (name)
        {
            case "mha_self":
            {
                var m = new MultiheadAttention(8, 2, dtype: f64);
                return (m, x => m.Attend(x[0], x[0], x[0], needWeights: false).Output, n => n);
            }
            case "mha_weights_avg":
            case "mha_weights_heads":
            {
                var m = new MultiheadAttention(8, 2, batchFirst: true, dtype: f64);
                bool avg = name.EndsWith("avg");
                return (m, x => m.Attend(x[0], x[0], x[0], averageAttnWeights: avg).Weights!, n => n);
            }
            case "mha_cross_masks":
            {
                var m = new MultiheadAttention(8, 4, kdim: 5, vdim: 6, batchFirst: true, dtype: f64);
                var kpm = Tensor.FromArray(new[] { false, false, false, false, false, false, false, false, false, false, true, true }, 2, 6);
                var am = new bool[4 * 6];
                for (int i = 0; i < 4; i++) for (int j = 0; j < 6; j++) am[i * 6 + j] = j - i >= 3;
                var attn = Tensor.FromArray(am, 4, 6);
                return (m, x => m.Attend(x[0], x[1], x[2], kpm, needWeights: false, attnMask: attn).Output, n => n);
            }
            case "mha_float_mask_nobias":
            {
                var m = new MultiheadAttention(8, 2, batchFirst: true, bias: false, dtype: f64);
                Tensor? mask = null;
                return (m, x => m.Attend(x[0], x[1], x[1], needWeights: false, attnMask: mask ??= FloatMask()).Output, n => n);
            }
            case "encoder_post_norm":
            {
                var m = new TransformerEncoderLayer(8, 2, 16, 0.0, batchFirst: true, dtype: f64);
                return (m, x => m.Forward(x[0], F.CausalMask(5, 5, f64), null, false), n => n);
            }
            case "encoder_pre_norm_gelu":
            {
                var m = new TransformerEncoderLayer(8, 2, 16, 0.0, TransformerActivation.Gelu, batchFirst: true, normFirst: true, dtype: f64);
                var kpm = Tensor.FromArray(new[] { false, false, false, false, false, false, false, false, true, true }, 2, 5);
                return (m, x => m.Forward(x[0], null, kpm, false), n => n);
            }
            case "decoder_post_norm":
            {
                var m = new TransformerDecoderLayer(8, 2, 16, 0.0, dtype: f64);
                return (m, x => m.Forward(x[0], x[1], F.CausalMask(5, 5, f64)), n => n);
            }
            case "decoder_pre_norm":
            {
                var m = new TransformerDecoderLayer(8, 2, 16, 0.0, batchFirst: true, normFirst: true, dtype: f64);
                return (m, x => m.Forward(x[0], x[1], F.CausalMask(5, 5, f64)), n => n);
            }
            case "embedding_padding":
            {
                var m = new Embedding(10, 4, paddingIdx: 2, dtype: f64);
                return (m, x => m.Call(x[0]), n => n);
            }
            case "sdpa_causal":
                return (new Stateless(_ => throw new InvalidOperationException()), x => F.ScaledDotProductAttention(x[0], x[1], x[2], isCausal: true), n => n);
            case "rms_norm":
            {
                var m = new Rms();
                return (m, x => m.Norm.Call(x[0]), n => "n." + n);
            }
            case "rnn_2layer_bidir":
            {
                var m = new RNN(3, 4, numLayers: 2, batchFirst: true, bidirectional: true, dtype: f64);
                return (m, x => { var (o, h) = m.Forward(x[0], null); return Flat(o, h); }, n => n);
            }
            case "lstm_2layer_bidir_state":
            {
                var m = new LSTM(3, 4, numLayers: 2, bidirectional: true, dtype: f64);
                return (m, x => { var (o, h, c) = m.Forward(x[0], x[1], x[2]); return Flat(o, h, c); }, n => n);
            }
            case "gru_unbatched":
            {
                var m = new GRU(3, 5, batchFirst: true, dtype: f64);
                return (m, x => { var (o, h) = m.Forward(x[0], x[1]); return Flat(o, h); }, n => n);
            }
            case "rnn_relu_nobias":
            {
                var m = new RNN(3, 4, relu: true, bias: false, dtype: f64);
                return (m, x => m.Call(x[0]), n => n);
            }
            case "rotary_offset3":
                return (new Stateless(_ => throw new InvalidOperationException()), x => Rotary.Apply(x[0], offset: 3), n => n);
            case "sinusoidal":
            {
                var m = new SinusoidalPositionalEncoding(6, maxLength: 16, dtype: f64);
                return (m, x => m.Call(x[0]), n => n);
            }
            case "transformer_full":
            {
                var m = new Transformer(8, 2, 2, 1, 16, 0.0, batchFirst: true, dtype: f64);
                var spm = Tensor.FromArray(new[] { false, false, false, false, false, false, false, false, false, false, true, true }, 2, 6);
                return (m, x => m.Forward(x[0], x[1], tgtMask: Transformer.GenerateSquareSubsequentMask(5, f64), srcKeyPaddingMask: spm, memoryKeyPaddingMask: spm), n => n);
            }
            case "transformer_pre_norm":
            {
                var m = new Transformer(8, 4, 1, 2, 12, 0.0, TransformerActivation.Gelu, normFirst: true, dtype: f64);
                return (m, x => m.Forward(x[0], x[1], tgtMask: Transformer.GenerateSquareSubsequentMask(5, f64)), n => n);
            }
            default: throw new ArgumentException(name);
        }
    }

    private static Tensor Flat(params Tensor[] parts) => Tensor.Cat(parts.Select(p => p.Reshape(-1)).ToList());

    /// <summary>The (4, 6) float attention mask the generator used (stored beside the case).</summary>
    private static Tensor FloatMask() => FromJson(Case("mha_float_mask_nobias").GetProperty("mask"));

    public static IEnumerable<object[]> Cases() =>
        TorchReference.Sequence.GetProperty("cases").EnumerateArray().Select(c => new object[] { c.GetProperty("name").GetString()! });

    private static JsonElement Case(string name) =>
        TorchReference.Sequence.GetProperty("cases").EnumerateArray().First(c => c.GetProperty("name").GetString() == name);

    private static Tensor FromJson(JsonElement e)
    {
        var shape = e.Ints("shape");
        var dtype = e.GetProperty("dtype").GetString();
        var values = e.Doubles("values");
        return dtype switch
        {
            "int64" => Tensor.FromArray(values.Select(v => (long)v).ToArray(), shape),
            "bool" => Tensor.FromArray(values.Select(v => v != 0).ToArray(), shape),
            _ => Tensor.FromArray(values, shape),
        };
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesPyTorch(string name)
    {
        var c = Case(name);
        var (module, run, rename) = Build(name);
        // Buffers PyTorch's reference modules do not have (the sinusoidal table) are left as Ember builds them.
        var state = c.GetProperty("state").EnumerateObject().ToDictionary(p => rename(p.Name), p => FromJson(p.Value));
        if (state.Count == 0 && module.StateDict().Count > 0) state = module.StateDict();
        module.LoadStateDict(state);
        module.Eval();
        var inputs = c.GetProperty("inputs").EnumerateArray().Select(FromJson).ToArray();
        foreach (var x in inputs) if (x.DType == DType.Float64) x.RequiresGrad_();
        var y = run(inputs);
        var expected = c.GetProperty("output");
        Assert.Equal(expected.Ints("shape"), y.Shape);
        TorchReference.Close(expected.Doubles("values"), y.ToArrayDouble(), 1e-10, $"{name} output");
        y.Backward(Tensor.FromArray(c.Doubles("grad_output"), y.Shape));
        var grads = c.GetProperty("grads").EnumerateArray().ToArray();
        for (int i = 0; i < inputs.Length; i++)
            if (grads[i].ValueKind != JsonValueKind.Null)
                TorchReference.Close(grads[i].EnumerateArray().Select(v => v.GetDouble()).ToArray(), inputs[i].Grad!.ToArrayDouble(), 1e-9, $"{name} input {i} grad");
        var parameters = module.NamedParameters().ToDictionary(p => p.Name, p => p.Parameter);
        foreach (var p in c.GetProperty("param_grads").EnumerateObject())
            TorchReference.Close(p.Value.EnumerateArray().Select(v => v.GetDouble()).ToArray(), parameters[rename(p.Name)].Grad!.ToArrayDouble(), 1e-9, $"{name} grad of {p.Name}");
    }
}
