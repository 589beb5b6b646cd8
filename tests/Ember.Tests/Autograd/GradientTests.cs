using Ember;
using Xunit;
using static Ember.Tests.GradCheck;

namespace Ember.Tests.Autograd;

/// <summary>Every differentiable op against central finite differences in float64, on shapes that include
/// broadcasting and non-contiguous (transposed, sliced, expanded) inputs.</summary>
public class GradientTests
{
    public record Case(Func<Tensor[]> Inputs, Func<Tensor[], Tensor> F);

    private static readonly Dictionary<string, Case> Cases = new()
    {
        // Arithmetic with broadcasting.
        ["Add"] = new(() => [Leaf(1, 3, 4), Leaf(2, 4)], x => x[0].Add(x[1])),
        ["AddColRow"] = new(() => [Leaf(1, 3, 1), Leaf(2, 1, 4)], x => x[0] + x[1]),
        ["AddAlpha"] = new(() => [Leaf(1, 2, 3), Leaf(2, 2, 3)], x => x[0].Add(x[1], 2.5)),
        ["Sub"] = new(() => [Leaf(1, 2, 3, 4), Leaf(2, 3, 1)], x => x[0] - x[1]),
        ["RSubScalar"] = new(() => [Leaf(1, 5)], x => 2.0 - x[0]),
        ["Mul"] = new(() => [Leaf(1, 3, 4), Leaf(2, 2, 1, 4)], x => x[0] * x[1]),
        ["MulSelf"] = new(() => [Leaf(1, 3, 4)], x => x[0] * x[0]),
        ["MulScalar"] = new(() => [Leaf(1, 3)], x => x[0] * 3.0),
        ["Div"] = new(() => [Leaf(1, 3, 4), LeafIn(2, 0.5, 2, 4)], x => x[0] / x[1]),
        ["RDivScalar"] = new(() => [LeafIn(1, 0.5, 2, 4)], x => 3.0 / x[0]),
        ["Neg"] = new(() => [Leaf(1, 4)], x => -x[0]),
        ["PowScalar"] = new(() => [Leaf(1, 3, 4)], x => x[0].Pow(3)),
        ["PowFractional"] = new(() => [LeafIn(1, 0.5, 2, 3, 4)], x => x[0].Pow(1.7)),
        ["PowTensor"] = new(() => [LeafIn(1, 0.5, 2, 3, 4), Leaf(2, 4)], x => x[0].Pow(x[1])),
        ["Square"] = new(() => [Leaf(1, 5)], x => x[0].Square()),
        ["Maximum"] = new(() => [Leaf(1, 3, 4), Leaf(2, 4)], x => x[0].Maximum(x[1])),
        ["Minimum"] = new(() => [Leaf(1, 3, 4), Leaf(2, 3, 1)], x => x[0].Minimum(x[1])),
        ["Atan2"] = new(() => [Leaf(1, 3, 4), Leaf(2, 3, 4)], x => x[0].Atan2(x[1])),
        ["Reciprocal"] = new(() => [LeafIn(1, 0.5, 2, 6)], x => x[0].Reciprocal()),
        // Unary functions, some on non-contiguous (transposed) inputs.
        ["Exp"] = new(() => [Leaf(1, 3, 4)], x => x[0].T.Exp()),
        ["Log"] = new(() => [LeafIn(1, 0.5, 3, 3, 4)], x => x[0].Log()),
        ["Sqrt"] = new(() => [LeafIn(1, 0.5, 3, 3, 4)], x => x[0].T.Sqrt()),
        ["Rsqrt"] = new(() => [LeafIn(1, 0.5, 3, 3, 4)], x => x[0].Rsqrt()),
        ["Abs"] = new(() => [Leaf(1, 3, 4)], x => x[0].Abs()),
        ["Tanh"] = new(() => [Leaf(1, 3, 4)], x => x[0].T.Tanh()),
        ["Sigmoid"] = new(() => [Leaf(1, 3, 4)], x => x[0].Sigmoid()),
        ["Relu"] = new(() => [Leaf(1, 3, 4)], x => x[0].T.Relu()),
        ["Erf"] = new(() => [Leaf(1, 3, 4)], x => x[0].Erf()),
        ["Sin"] = new(() => [Leaf(1, 3, 4)], x => x[0].Sin()),
        ["Cos"] = new(() => [Leaf(1, 3, 4)], x => x[0].Cos()),
        ["Clamp"] = new(() => [Leaf(1, 4, 5)], x => x[0].Clamp(-0.5, 0.7)),
        ["ClampMinOnly"] = new(() => [Leaf(1, 4, 5)], x => x[0].Clamp(min: 0.1)),
        // Views.
        ["View"] = new(() => [Leaf(1, 2, 6)], x => x[0].View(3, 4).Exp()),
        ["ReshapeNonContiguous"] = new(() => [Leaf(1, 3, 4)], x => x[0].T.Reshape(2, 6).Sin()),
        ["Permute"] = new(() => [Leaf(1, 2, 3, 4)], x => x[0].Permute(2, 0, 1).Mul(Tensor.Arange(0, 24, 1, DType.Float64).Reshape(4, 2, 3))),
        ["Expand"] = new(() => [Leaf(1, 3, 1)], x => x[0].Expand(2, 3, 4).Sin()),
        ["Narrow"] = new(() => [Leaf(1, 5, 4)], x => x[0].Narrow(0, 1, 3).Exp()),
        ["SliceStep"] = new(() => [Leaf(1, 7, 3)], x => x[0].Slice(0, 1, 7, 2).Sin()),
        ["Select"] = new(() => [Leaf(1, 4, 3)], x => x[0].Select(1, 2).Exp()),
        ["Indexer"] = new(() => [Leaf(1, 4, 5)], x => x[0][1.., TensorIndex.Slice(0, 5, 2)].Sin()),
        ["SqueezeUnsqueeze"] = new(() => [Leaf(1, 3, 1, 4)], x => x[0].Squeeze(1).Unsqueeze(0).Exp()),
        ["Flatten"] = new(() => [Leaf(1, 2, 3, 4)], x => x[0].Flatten(1).Sin()),
        ["Cat"] = new(() => [Leaf(1, 2, 3), Leaf(2, 4, 3)], x => Tensor.Cat([x[0], x[1].Exp()], 0)),
        ["CatDim1"] = new(() => [Leaf(1, 2, 3), Leaf(2, 2, 2)], x => Tensor.Cat([x[0], x[1]], 1).Sin()),
        ["Stack"] = new(() => [Leaf(1, 2, 3), Leaf(2, 2, 3)], x => Tensor.Stack([x[0], x[1]], 1).Sin()),
        ["Split"] = new(() => [Leaf(1, 5, 3)], x => x[0].Split(2, 0)[2].Exp()),
        ["Chunk"] = new(() => [Leaf(1, 3, 6)], x => x[0].Chunk(3, 1)[1].Mul(x[0].Chunk(3, 1)[2])),
        ["Contiguous"] = new(() => [Leaf(1, 3, 4)], x => x[0].T.Contiguous().Sin()),
        ["Clone"] = new(() => [Leaf(1, 3, 4)], x => x[0].Clone().Sin()),
        // Reductions.
        ["SumAll"] = new(() => [Leaf(1, 3, 4)], x => x[0].Sin().Sum()),
        ["SumDims"] = new(() => [Leaf(1, 2, 3, 4)], x => x[0].Sum([0, 2])),
        ["SumKeepDim"] = new(() => [Leaf(1, 2, 3, 4)], x => x[0].Sum(1, keepDim: true).Sin()),
        ["SumLeading"] = new(() => [Leaf(1, 5, 4)], x => x[0].Sum(0)),
        ["SumTransposed"] = new(() => [Leaf(1, 3, 4)], x => x[0].T.Sum(1)),
        ["Mean"] = new(() => [Leaf(1, 3, 4)], x => x[0].Mean(1)),
        ["MeanAll"] = new(() => [Leaf(1, 3, 4)], x => x[0].Exp().Mean()),
        ["Prod"] = new(() => [Leaf(1, 3, 4)], x => x[0].Prod(1)),
        ["ProdAll"] = new(() => [Leaf(1, 2, 3)], x => x[0].Prod()),
        ["MaxAll"] = new(() => [Leaf(1, 3, 4)], x => x[0].Max()),
        ["Amax"] = new(() => [Leaf(1, 3, 4, 2)], x => x[0].Amax([0, 2])),
        ["Amin"] = new(() => [Leaf(1, 3, 4)], x => x[0].Amin([1], keepDim: true)),
        ["MaxDim"] = new(() => [Leaf(1, 3, 4)], x => x[0].Max(1).Values),
        ["MinDimKeep"] = new(() => [Leaf(1, 3, 4)], x => x[0].Min(0, keepDim: true).Values),
        ["Var"] = new(() => [Leaf(1, 3, 5)], x => x[0].Var(1)),
        ["VarBiasedAll"] = new(() => [Leaf(1, 3, 5)], x => x[0].Var(unbiased: false)),
        ["Std"] = new(() => [Leaf(1, 4, 5)], x => x[0].Std(0, keepDim: true)),
        ["LogSumExp"] = new(() => [Leaf(1, 3, 5)], x => x[0].LogSumExp(1)),
        ["Softmax"] = new(() => [Leaf(1, 3, 5)], x => x[0].Softmax(1)),
        ["SoftmaxDim0"] = new(() => [Leaf(1, 3, 5)], x => x[0].Softmax(0)),
        ["LogSoftmax"] = new(() => [Leaf(1, 3, 5)], x => x[0].LogSoftmax(-1)),
        ["LogSoftmaxTransposed"] = new(() => [Leaf(1, 4, 3)], x => x[0].T.LogSoftmax(1)),
        ["Norm2"] = new(() => [Leaf(1, 3, 4)], x => x[0].Norm()),
        ["Norm2Dim"] = new(() => [Leaf(1, 3, 4)], x => x[0].Norm(2, [1])),
        ["Norm1"] = new(() => [Leaf(1, 3, 4)], x => x[0].Norm(1, [0])),
        ["Norm3"] = new(() => [Leaf(1, 3, 4)], x => x[0].Norm(3, [1])),
        // Matrix products.
        ["Matmul2D"] = new(() => [Leaf(1, 3, 4), Leaf(2, 4, 5)], x => x[0].Matmul(x[1])),
        ["MatmulTransposed"] = new(() => [Leaf(1, 4, 3), Leaf(2, 5, 4)], x => x[0].T.Matmul(x[1].T)),
        ["MatmulVecMat"] = new(() => [Leaf(1, 4), Leaf(2, 4, 5)], x => x[0].Matmul(x[1])),
        ["MatmulMatVec"] = new(() => [Leaf(1, 3, 4), Leaf(2, 4)], x => x[0].Matmul(x[1])),
        ["Dot"] = new(() => [Leaf(1, 6), Leaf(2, 6)], x => x[0].Dot(x[1])),
        ["MatmulBatchBroadcast"] = new(() => [Leaf(1, 2, 1, 3, 4), Leaf(2, 5, 4, 2)], x => x[0].Matmul(x[1])),
        ["MatmulBatchTimesMatrix"] = new(() => [Leaf(1, 2, 3, 4), Leaf(2, 4, 5)], x => x[0].Matmul(x[1])),
        ["MatmulBatchVec"] = new(() => [Leaf(1, 2, 3, 4), Leaf(2, 4)], x => x[0].Matmul(x[1])),
        // Indexing and selection.
        ["Gather"] = new(() => [Leaf(1, 3, 4)], x => x[0].Gather(1, Tensor.FromArray(new long[] { 0, 3, 3, 1, 2, 2 }, 3, 2))),
        ["Scatter"] = new(() => [Leaf(1, 3, 4), Leaf(2, 3, 2)], x => x[0].Scatter(1, Tensor.FromArray(new long[] { 0, 3, 1, 2, 2, 0 }, 3, 2), x[1])),
        ["ScatterAdd"] = new(() => [Leaf(1, 3, 4), Leaf(2, 2, 4)], x => x[0].ScatterAdd(0, Tensor.FromArray(new long[] { 0, 2, 2, 1, 0, 0, 2, 1 }, 2, 4), x[1])),
        ["IndexSelect"] = new(() => [Leaf(1, 5, 3)], x => x[0].IndexSelect(0, Tensor.FromArray(new long[] { 4, 0, 4, 2 }))),
        ["IndexSelectDim1"] = new(() => [Leaf(1, 3, 5)], x => x[0].IndexSelect(1, Tensor.FromArray(new long[] { 1, 1, 3 }))),
        ["Where"] = new(() => [Leaf(1, 3, 4), Leaf(2, 4)], x => Tensor.Where(x[0].Detach().Gt(0), x[0], x[1])),
        ["MaskedFill"] = new(() => [Leaf(1, 3, 4)], x => x[0].MaskedFill(Tensor.FromArray(new[] { true, false, false, true }), -2.0).Exp()),
        // Composite chains.
        ["Chain"] = new(() => [Leaf(1, 4, 3), Leaf(2, 3)], x => x[0].Matmul(x[1].Unsqueeze(1)).Tanh().Add(x[1].Sum()).Softmax(0)),
    };

    public static TheoryData<string> Names() => new(Cases.Keys);

    [Theory]
    [MemberData(nameof(Names))]
    public void MatchesFiniteDifferences(string name)
    {
        var c = Cases[name];
        Check(c.F, c.Inputs());
    }

    [Fact]
    public void ProdWithZerosHasExactGradient()
    {
        // d/dx_i Π x = Π_{j≠i} x_j, also where some x_j = 0 (no division).
        var x = Tensor.FromArray(new double[] { 2, 0, 3, 0, 5, 7 }, 2, 3).RequiresGrad_();
        x.Prod(1).Sum().Backward();
        Assert.Equal(new double[] { 0, 6, 0, 35, 0, 0 }, x.Grad!.ToArray<double>());
    }

    [Fact]
    public void NormGradientAtZeroIsZero()
    {
        var x = Tensor.Zeros([3], DType.Float64, requiresGrad: true);
        x.Norm().Backward();
        Assert.Equal(new double[] { 0, 0, 0 }, x.Grad!.ToArray<double>());
    }

    [Fact]
    public void MaxTiesShareGradient()
    {
        var x = Tensor.FromArray(new double[] { 1, 3, 3 }).RequiresGrad_();
        x.Max().Backward();
        Assert.Equal(new double[] { 0, 0.5, 0.5 }, x.Grad!.ToArray<double>());
    }
}
