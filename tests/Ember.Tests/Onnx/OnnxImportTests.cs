using Ember.IO;
using Ember.NN;
using Ember.Optim;
using Xunit;

namespace Ember.Tests.Onnx;

/// <summary>ONNX import: models exported by PyTorch 1.13's own exporter (Fixtures/onnx, from gen_onnx_fixtures.py)
/// give PyTorch's outputs within 1e-4 relative, the imported module trains, Ember's own exports load back, and what it
/// cannot read is an error naming the op, the node and the opset.</summary>
public class OnnxImportTests
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "onnx", name);

    [Theory]
    [InlineData("mlp_opset13")]
    [InlineData("cnn_opset17")]
    [InlineData("seq_opset17")]
    [InlineData("encoder_opset17")]
    [InlineData("recurrent_opset17")]
    public void PyTorchExportsGivePyTorchsOutputs(string name)
    {
        var model = Ember.Onnx.Load(Fixture(name + ".onnx"));
        var x = Npy.Load(Fixture(name + "_input.npy"));
        var want = Npy.Load(Fixture(name + "_output.npy")).ToArray<float>();
        float[] got;
        using (Tensor.NoGrad()) got = model.Call(x).ToArray<float>();
        Assert.Equal(want.Length, got.Length);
        for (int i = 0; i < want.Length; i++)
            Assert.True(Math.Abs(want[i] - got[i]) <= 1e-4 * Math.Max(1, Math.Abs(want[i])), $"{name}: element {i}: PyTorch {want[i]}, Ember {got[i]}");
        Assert.NotEmpty(model.Parameters());
    }

    [Fact]
    public void AnImportedModelFineTunes()
    {
        var model = Ember.Onnx.Load(Fixture("mlp_opset13.onnx"));
        var g = new Generator(3);
        var x = Tensor.Randn([32, 20], DType.Float32, g);
        var y = Tensor.Randn([32, 5], DType.Float32, g);
        var opt = new Adam(model.Parameters(), lr: 1e-2);
        double first = 0, last = 0;
        for (int step = 0; step < 20; step++)
        {
            var loss = Functional.MseLoss(model.Call(x), y);
            if (step == 0) first = loss.Item();
            last = loss.Item();
            opt.ZeroGrad();
            loss.Backward();
            opt.Step();
        }
        Assert.True(last < 0.7 * first, $"loss {first} -> {last}");
    }

    [Fact]
    public void EmberExportsLoadBackAndAgree()
    {
        var g = new Generator(4);
        var model = new Sequential(new Conv2d(2, 4, 3, padding: Padding.Same, generator: g), new BatchNorm2d(4), new GELU(), new MaxPool2d(2),
            new Flatten(), new Linear(4 * 4 * 4, 6, generator: g), new LayerNorm(6), new LogSoftmax(1));
        var dir = Directory.CreateTempSubdirectory("ember-onnx-rt").FullName;
        var path = Path.Combine(dir, "m.onnx");
        Ember.Onnx.Export(model, Tensor.Randn([2, 2, 8, 8]), path);
        var back = Ember.Onnx.Load(path);
        model.Eval();
        var x = Tensor.Randn([5, 2, 8, 8], DType.Float32, g);
        using var noGrad = Tensor.NoGrad();
        var want = model.Call(x).ToArray<float>();
        var got = back.Call(x).ToArray<float>();
        for (int i = 0; i < want.Length; i++) Assert.True(Math.Abs(want[i] - got[i]) <= 1e-5 * Math.Max(1, Math.Abs(want[i])), $"{i}: {want[i]} vs {got[i]}");
    }

    [Theory]
    [InlineData("lstm", true, false)]
    [InlineData("gru", false, true)]
    [InlineData("rnn", true, true)]
    public void EmberRecurrentExportsLoadBackAndAgree(string kind, bool bidirectional, bool batchFirst)
    {
        var g = new Generator(8);
        Module rnn = kind switch
        {
            "lstm" => new LSTM(4, 6, 2, batchFirst: batchFirst, bidirectional: bidirectional, generator: g),
            "gru" => new GRU(4, 6, 2, batchFirst: batchFirst, bidirectional: bidirectional, generator: g),
            _ => new RNN(4, 6, 2, relu: true, batchFirst: batchFirst, bidirectional: bidirectional, generator: g),
        };
        var model = new Sequential(rnn, new Tanh());
        var dir = Directory.CreateTempSubdirectory("ember-onnx-rnn").FullName;
        var path = Path.Combine(dir, "r.onnx");
        Ember.Onnx.Export(model, Tensor.Randn(batchFirst ? [2, 5, 4] : [5, 2, 4]), path);
        var back = Ember.Onnx.Load(path);
        Assert.Equal(2, back.NamedChildren().Count());                             // one module per exported layer
        model.Eval();
        var x = Tensor.Randn(batchFirst ? [3, 5, 4] : [5, 3, 4], DType.Float32, g);
        using var noGrad = Tensor.NoGrad();
        var want = model.Call(x).ToArray<float>();
        var got = back.Call(x).ToArray<float>();
        for (int i = 0; i < want.Length; i++) Assert.True(Math.Abs(want[i] - got[i]) <= 1e-5, $"{kind} {i}: {want[i]} vs {got[i]}");
    }

    [Fact]
    public void UnreadableFilesAndOpsAreNamed()
    {
        var dir = Directory.CreateTempSubdirectory("ember-onnx-bad-import").FullName;
        var junk = Path.Combine(dir, "junk.onnx");
        File.WriteAllBytes(junk, [0xFF, 0xFF, 0xFF, 0x07, 0x01]);
        Assert.Throws<InvalidDataException>(() => Ember.Onnx.Load(junk));
        Assert.Throws<FileNotFoundException>(() => Ember.Onnx.Load(Path.Combine(dir, "missing.onnx")));
        // A graph with an op Onnx.Load does not run.
        var model = new Ember.OnnxProto.ModelProto { IrVersion = 8, Graph = new Ember.OnnxProto.GraphProto { Name = "g" } };
        model.OpsetImport.Add(new Ember.OnnxProto.OperatorSetIdProto { Domain = "", Version = 17 });
        model.Graph.Input.Add(new Ember.OnnxProto.ValueInfoProto { Name = "x" });
        model.Graph.Output.Add(new Ember.OnnxProto.ValueInfoProto { Name = "y" });
        var node = new Ember.OnnxProto.NodeProto { OpType = "NonMaxSuppression", Name = "nms_0" };
        node.Input.Add("x");
        node.Output.Add("y");
        model.Graph.Node.Add(node);
        var path = Path.Combine(dir, "nms.onnx");
        using (var s = File.Create(path)) Google.Protobuf.MessageExtensions.WriteTo(model, s);
        var loaded = Ember.Onnx.Load(path);
        var e = Assert.Throws<NotSupportedException>(() => loaded.Call(Tensor.Zeros([1, 4])));
        Assert.Contains("NonMaxSuppression", e.Message);
        Assert.Contains("nms_0", e.Message);
        Assert.Contains("opset 17", e.Message);
        model.OpsetImport[0].Version = 9;
        using (var s = File.Create(path)) Google.Protobuf.MessageExtensions.WriteTo(model, s);
        Assert.Contains("opset 9", Assert.Throws<NotSupportedException>(() => Ember.Onnx.Load(path)).Message);
    }
}
