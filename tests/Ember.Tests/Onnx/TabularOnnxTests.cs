using Ember.Recipes.Export;
using Ember.Recipes.Tabular;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Xunit;

namespace Ember.Tests.Onnx;

/// <summary>Tabular models of every kind and fusion, exported and run in ONNX Runtime: equal to Ember's eval-mode
/// outputs within 1e-4 at batch sizes 1 and 5, with texts of different lengths, a text of padding only, and the wide
/// TF-IDF part.</summary>
public class TabularOnnxTests
{
    public static TheoryData<TabularModelKind, FusionKind, bool> Kinds => new()
    {
        { TabularModelKind.Mlp, FusionKind.Concat, false },
        { TabularModelKind.Text, FusionKind.Concat, false },
        { TabularModelKind.FtTransformer, FusionKind.Concat, false },
        { TabularModelKind.Hybrid, FusionKind.Concat, true },
        { TabularModelKind.Hybrid, FusionKind.Cross, false },
        { TabularModelKind.Hybrid, FusionKind.Gated, true },
    };

    [Theory]
    [MemberData(nameof(Kinds))]
    public void EveryKindAndFusionMatchesOnnxRuntime(TabularModelKind kind, FusionKind fusion, bool wide)
    {
        var config = new TabularModelConfig(kind, Outputs: 3, DenseWidth: 7, NumericWidth: 3, Cardinalities: [4, 5], TextVocab: 30, TextLength: 12,
            TextPadId: 0, Fusion: fusion, DModel: 16, Heads: 2, Layers: 2, Hidden: 24, MlpDepth: 2, Dropout: 0.1, WideWidth: wide ? 20 : 0);
        var model = new TabularModel(config, new Generator(7));
        if (wide)
            using (Tensor.NoGrad())
                foreach (var (name, parameter) in model.NamedParameters().Where(p => p.Name.StartsWith("wide.")))
                    parameter.CopyFrom(Tensor.Randn(parameter.Shape, DType.Float32, new Generator(9)).Mul(0.1));
        var path = Path.Combine(Directory.CreateTempSubdirectory("ember-onnx-tabular").FullName, "tabular.onnx");
        TabularOnnx.Export(model, path);
        model.Eval();
        using var session = new InferenceSession(path);
        Assert.Equal(TabularOnnx.InputNames(config), session.InputMetadata.Keys);
        foreach (int n in new[] { 1, 5 })
        {
            var g = new Generator((ulong)(n + 20));
            var dense = Tensor.Randn([n, 7], DType.Float32, g);
            var numeric = Tensor.Randn([n, 3], DType.Float32, g);
            var categorical = Tensor.Cat([Tensor.RandInt(0, 4, [n, 1], g), Tensor.RandInt(0, 5, [n, 1], g)], 1);
            int[] lengths = [12, 5, 0, 3, 9];
            var text = new long[n * 12];
            var rng = new Random(n);
            for (int r = 0; r < n; r++) for (int j = 0; j < lengths[r]; j++) text[r * 12 + j] = rng.Next(1, 30);
            var textT = Tensor.FromArray(text, n, 12);
            var wideDense = Tensor.Rand([n, 20], DType.Float32, g).Mul(Tensor.Rand([n, 20], DType.Float32, g).Gt(0.7).To(DType.Float32));
            var batch = new TabularBatch(dense, numeric, categorical, config.UsesText ? textT : null, wide ? CsrMatrix.FromDense(wideDense) : null);
            float[] want;
            using (Tensor.NoGrad()) want = model.Forward(batch).Contiguous().ToArray<float>();
            var inputs = new List<NamedOnnxValue>();
            foreach (var name in TabularOnnx.InputNames(config))
                inputs.Add(name switch
                {
                    "categorical" => NamedOnnxValue.CreateFromTensor(name, new DenseTensor<long>(categorical.Contiguous().ToArray<long>(), categorical.Shape)),
                    "text" => NamedOnnxValue.CreateFromTensor(name, new DenseTensor<long>(text, [n, 12])),
                    _ => NamedOnnxValue.CreateFromTensor(name, new DenseTensor<float>((name switch { "dense" => dense, "numeric" => numeric, _ => wideDense })
                        .Contiguous().ToArray<float>(), [n, name switch { "dense" => 7, "numeric" => 3, _ => 20 }])),
                });
            using var results = session.Run(inputs);
            var got = results.First().AsTensor<float>();
            Assert.Equal([n, 3], got.Dimensions.ToArray());
            var values = got.ToArray();
            for (int i = 0; i < want.Length; i++)
                Assert.True(Math.Abs(want[i] - values[i]) <= 1e-4 * Math.Max(1, Math.Abs(want[i])), $"{kind}/{fusion} batch {n}, element {i}: Ember {want[i]}, ONNX Runtime {values[i]}");
        }
    }
}
