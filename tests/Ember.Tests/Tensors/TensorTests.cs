using Ember;
using Xunit;

namespace Ember.Tests.Tensors;

public class CreationTests
{
    [Fact]
    public void FactoriesProduceExpectedValues()
    {
        Assert.Equal(new float[] { 0, 0, 0, 0, 0, 0 }, Tensor.Zeros(2, 3).ToArray<float>());
        Assert.Equal(new float[] { 1, 1 }, Tensor.Ones(2).ToArray<float>());
        Assert.Equal(new double[] { 2.5, 2.5 }, Tensor.Full([2], 2.5, DType.Float64).ToArray<double>());
        Assert.Equal(new long[] { 2, 4, 6, 8 }, Tensor.Arange(2, 10, 2, DType.Int64).ToArray<long>());
        Assert.Equal(new float[] { 0, 0.5f, 1 }, Tensor.Arange(0, 1.5, 0.5).ToArray<float>());
        Assert.Equal(new double[] { 0, 0.25, 0.5, 0.75, 1 }, Tensor.Linspace(0, 1, 5, DType.Float64).ToArray<double>());
        Assert.Equal(new float[] { 1, 0, 0, 0, 1, 0 }, Tensor.Eye(2, 3).ToArray<float>());
        Assert.Equal([2, 3], Tensor.Eye(2, 3).Shape);
    }

    [Fact]
    public void SameSeedSameNumbers()
    {
        var a = Tensor.Randn([100], DType.Float32, new Generator(42)).ToArray<float>();
        var b = Tensor.Randn([100], DType.Float32, new Generator(42)).ToArray<float>();
        var c = Tensor.Randn([100], DType.Float32, new Generator(43)).ToArray<float>();
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        Tensor.ManualSeed(7);
        var d = Tensor.Rand(5).ToArray<float>();
        Tensor.ManualSeed(7);
        Assert.Equal(d, Tensor.Rand(5).ToArray<float>());
    }

    [Fact]
    public void RandomDistributionsHaveTheRightMoments()
    {
        var g = new Generator(1);
        var n = Tensor.Randn([200_000], DType.Float64, g);
        Assert.InRange(n.Mean().Item(), -0.01, 0.01);
        Assert.InRange(n.Std().Item(), 0.99, 1.01);
        var u = Tensor.Rand([200_000], DType.Float64, g);
        Assert.InRange(u.Mean().Item(), 0.497, 0.503);
        Assert.InRange(u.Min().Item(), 0, 1e-3);
        Assert.InRange(u.Max().Item(), 0.999, 1);
        var ri = Tensor.RandInt(-3, 4, [70_000], g).ToArray<long>();
        Assert.Equal(-3, ri.Min());
        Assert.Equal(3, ri.Max());
        for (long v = -3; v <= 3; v++) Assert.InRange(ri.Count(x => x == v), 9_500, 10_500);
        var b = Tensor.Bernoulli([100_000], 0.3, DType.Float32, g);
        Assert.InRange(b.Mean().Item(), 0.295, 0.305);
        var perm = Tensor.RandPerm(50, g).ToArray<long>();
        Assert.Equal(Enumerable.Range(0, 50).Select(i => (long)i), perm.Order());
    }

    [Fact]
    public void FromArrayAndCopyOut()
    {
        var t = Tensor.FromArray(new float[] { 1, 2, 3, 4, 5, 6 }, 2, 3);
        Assert.Equal([2, 3], t.Shape);
        Assert.Equal(6f, t.GetItem(1, 2));
        Assert.Equal(6f, t.GetItem(-1, -1));
        var span = new float[6];
        t.T.CopyTo<float>(span);
        Assert.Equal(new float[] { 1, 4, 2, 5, 3, 6 }, span);
        Assert.Equal(new double[] { 1, 2, 3, 4 }, Tensor.FromArray(new double[,] { { 1, 2 }, { 3, 4 } }).ToArray<double>());
        Assert.Equal(3.5, Tensor.Scalar(3.5).Item());
        var ex = Assert.Throws<ArgumentException>(() => Tensor.FromArray(new float[5], 2, 3));
        Assert.Contains("[2, 3]", ex.Message);
    }

    [Fact]
    public void DTypeConversions()
    {
        var t = Tensor.FromArray(new float[] { -1.5f, 0, 2.7f });
        Assert.Equal(new double[] { -1.5, 0, 2.700000047683716 }, t.To(DType.Float64).ToArray<double>());
        Assert.Equal(new long[] { -1, 0, 2 }, t.To(DType.Int64).ToArray<long>());
        Assert.Equal(new[] { true, false, true }, t.To(DType.Bool).ToArray<bool>());
        Assert.Equal(new float[] { 1, 0, 1 }, t.To(DType.Bool).To(DType.Float32).ToArray<float>());
    }
}

public class ViewTests
{
    [Fact]
    public void ViewsShareStorageAndHaveExpectedStrides()
    {
        var t = Tensor.Arange(24).Reshape(2, 3, 4);
        Assert.Equal([12, 4, 1], t.Strides);
        var p = t.Permute(2, 0, 1);
        Assert.Equal([4, 2, 3], p.Shape);
        Assert.Equal([1, 12, 4], p.Strides);
        Assert.True(p.SharesStorageWith(t));
        Assert.False(p.IsContiguous);
        var e = Tensor.Ones(3, 1).Expand(2, 3, 4);
        Assert.Equal([0, 1, 0], e.Strides);
        var s = t.Select(1, 2);
        Assert.Equal([2, 4], s.Shape);
        Assert.Equal(8, s.StorageOffset);
        Assert.Equal(new float[] { 8, 9, 10, 11, 20, 21, 22, 23 }, s.ToArray<float>());
    }

    [Fact]
    public void WritesThroughAViewReachTheBase()
    {
        var t = Tensor.Zeros(3, 4);
        t[1, ..] = Tensor.Full([4], 7);
        t[.., 3] = Tensor.Full([3], 5);
        Assert.Equal(new float[] { 0, 0, 0, 5, 7, 7, 7, 5, 0, 0, 0, 5 }, t.ToArray<float>());
        t.Narrow(0, 2, 1).Fill(1);
        Assert.Equal(new float[] { 1, 1, 1, 1 }, t.Select(0, 2).ToArray<float>());
    }

    [Fact]
    public void ViewOfNonContiguousFollowsPyTorchRules()
    {
        var t = Tensor.Arange(24).Reshape(2, 3, 4);
        // Splitting a dim of a permuted tensor is still a view...
        var p = t.Permute(1, 0, 2);                  // (3, 2, 4), strides (4, 12, 1)
        var v = p.View(3, 2, 2, 2);
        Assert.True(v.SharesStorageWith(t));
        // ...but merging dims that are not adjacent in memory is not.
        var ex = Assert.Throws<InvalidOperationException>(() => p.View(6, 4));
        Assert.Contains("Reshape", ex.Message);
        var r = p.Reshape(6, 4);                     // copies
        Assert.False(r.SharesStorageWith(t));
        Assert.Equal(new float[] { 0, 1, 2, 3, 12, 13, 14, 15 }, r.Narrow(0, 0, 2).ToArray<float>());
        Assert.Equal([4, 6], t.Reshape(4, -1).Shape);
    }

    [Fact]
    public void IndexingLikePyTorch()
    {
        var t = Tensor.Arange(20).Reshape(4, 5);
        Assert.Equal(new float[] { 6, 8 }, t[1, TensorIndex.Slice(1, 5, 2)].ToArray<float>());
        Assert.Equal(new float[] { 16, 17, 18, 19 }, t[^1, 1..].ToArray<float>());
        Assert.Equal([4, 1, 5], t[.., TensorIndex.NewAxis].Shape);
        Assert.Equal(new float[] { 4, 9, 14, 19 }, t[TensorIndex.Ellipsis, -1].ToArray<float>());
        Assert.Equal([2, 5], t[1..3].Shape);
        Assert.Throws<IndexOutOfRangeException>(() => t[4]);
    }

    [Fact]
    public void CatStackSplitChunk()
    {
        var a = Tensor.FromArray(new float[] { 1, 2, 3, 4 }, 2, 2);
        var b = Tensor.FromArray(new float[] { 5, 6 }, 1, 2);
        Assert.Equal(new float[] { 1, 2, 3, 4, 5, 6 }, Tensor.Cat([a, b]).ToArray<float>());
        Assert.Equal(new float[] { 1, 2, 1, 3, 4, 3 }, Tensor.Cat([a, a.Narrow(1, 0, 1)], 1).ToArray<float>());
        var s = Tensor.Stack([a, a], 2);
        Assert.Equal([2, 2, 2], s.Shape);
        Assert.Equal(new float[] { 1, 1, 2, 2, 3, 3, 4, 4 }, s.ToArray<float>());
        var parts = Tensor.Arange(7).Split(3);
        Assert.Equal(new[] { 3, 3, 1 }, parts.Select(p => p.NumEl));
        var chunks = Tensor.Arange(10).Chunk(4);
        Assert.Equal(new[] { 3, 3, 3, 1 }, chunks.Select(p => p.NumEl));
        Assert.Equal(new[] { 2, 5 }, Tensor.Arange(7).Split([2, 5]).Select(p => p.NumEl));
    }
}

public class MathTests
{
    private static void Close(double[] expected, Tensor actual, double tol = 1e-6)
    {
        var a = actual.ToArrayDouble();
        Assert.Equal(expected.Length, a.Length);
        for (int i = 0; i < a.Length; i++) Assert.True(Math.Abs(expected[i] - a[i]) <= tol * (1 + Math.Abs(expected[i])), $"element {i}: expected {expected[i]}, got {a[i]}");
    }

    [Fact]
    public void ElementwiseHandComputed()
    {
        var x = Tensor.FromArray(new double[] { -2, -0.5, 0, 0.5, 2 });
        Close([2, 0.5, 0, 0.5, 2], x.Abs());
        Close([-1, -1, 0, 1, 1], x.Sign());
        Close([0, 0, 0, 0.5, 2], x.Relu());
        Close([-0.964027580075817, -0.46211715726001, 0, 0.46211715726001, 0.964027580075817], x.Tanh(), 1e-12);
        Close([0.119202922022118, 0.377540668798145, 0.5, 0.622459331201855, 0.880797077977882], x.Sigmoid(), 1e-12);
        Close([-0.995322265018953, -0.520499877813047, 0, 0.520499877813047, 0.995322265018953], x.Erf(), 1e-14);
        Close([-0.5, -0.5, 0, 0.5, 0.5], x.Clamp(-0.5, 0.5));
        Close([4, 0.25, 0, 0.25, 4], x.Pow(2));
        var y = Tensor.FromArray(new double[] { 1, 4, 9 });
        Close([1, 2, 3], y.Sqrt());
        Close([1, 0.5, 1 / 3.0], y.Rsqrt(), 1e-15);
        Close([0, Math.Log(4), Math.Log(9)], y.Log(), 1e-15);
        Close([1, 4, 9], y.Log().Exp(), 1e-14);
    }

    [Fact]
    public void Float32ErfIsAccurate()
    {
        var x = Tensor.Linspace(-5, 5, 1001, DType.Float64);
        var e64 = x.Erf().ToArray<double>();
        var e32 = x.To(DType.Float32).Erf().ToArray<float>();
        for (int i = 0; i < e64.Length; i++) Assert.True(Math.Abs(e64[i] - e32[i]) < 2e-7, $"x={x.GetItem(i)}");
        Assert.Equal(0.8427007929497149, Tensor.Scalar(1, DType.Float64).Erf().Item(), 15);
    }

    [Fact]
    public void BroadcastingArithmetic()
    {
        var a = Tensor.FromArray(new float[] { 1, 2, 3 }, 3, 1);
        var b = Tensor.FromArray(new float[] { 10, 20 }, 1, 2);
        Assert.Equal(new float[] { 11, 21, 12, 22, 13, 23 }, (a + b).ToArray<float>());
        Assert.Equal(new float[] { 10, 20, 20, 40, 30, 60 }, (a * b).ToArray<float>());
        Assert.Equal(new float[] { 0, 1, 2 }, (a - 1).Reshape(3).ToArray<float>());
        Assert.Equal(new float[] { 1, 0.5f, 1 / 3f }, (1.0 / a).Reshape(3).ToArray<float>());
        Assert.Equal(new float[] { 3, 3, 3 }, a.Maximum(Tensor.Scalar(3)).Reshape(3).ToArray<float>());
        var ex = Assert.Throws<ArgumentException>(() => Tensor.Ones(2, 3).Add(Tensor.Ones(4)));
        Assert.Contains("[2, 3]", ex.Message);
        Assert.Contains("[4]", ex.Message);
        Assert.Contains("Add", ex.Message);
    }

    [Fact]
    public void ComparisonsWhereMaskedFill()
    {
        var x = Tensor.FromArray(new float[] { 1, 5, 3 });
        Assert.Equal(new[] { false, true, false }, x.Gt(3).ToArray<bool>());
        Assert.Equal(new[] { true, false, true }, x.Le(3).ToArray<bool>());
        Assert.Equal(new[] { false, false, true }, x.Eq(3).ToArray<bool>());
        Assert.Equal(new float[] { 0, 5, 0 }, Tensor.Where(x.Gt(3), x, Tensor.Zeros(3)).ToArray<float>());
        Assert.Equal(new float[] { -1, 5, -1 }, x.MaskedFill(x.Lt(4), -1).ToArray<float>());
        Assert.Equal(new[] { true, false, true }, x.Gt(3).LogicalNot().ToArray<bool>());
    }

    [Fact]
    public void InPlaceVariants()
    {
        var x = Tensor.FromArray(new float[] { 1, 2, 3, 4 }, 2, 2);
        x.AddInPlace(Tensor.FromArray(new float[] { 10, 20 })).MulInPlace(2).SubInPlace(1);
        Assert.Equal(new float[] { 21, 43, 25, 47 }, x.ToArray<float>());
        x.T.Select(0, 0).Fill(0);   // the first column, through a transposed view
        Assert.Equal(new float[] { 0, 43, 0, 47 }, x.ToArray<float>());
        x.ClampInPlace(max: 45).ReluInPlace();
        Assert.Equal(new float[] { 0, 43, 0, 45 }, x.ToArray<float>());
        var ex = Assert.Throws<ArgumentException>(() => Tensor.Ones(3).AddInPlace(Tensor.Ones(2, 3)));
        Assert.Contains("[3]", ex.Message);
    }
}

public class ReductionTests
{
    /// <summary>Sums over leading dims (the bias-gradient reduction): float32 blocks of 64 columns in registers plus a
    /// scalar remainder, against float64; one and two reduced leading dims; a gradient-sized (4,096 × 384) case.</summary>
    [Theory]
    [InlineData(300, 133)]
    [InlineData(4096, 384)]
    [InlineData(7, 5)]
    public void SumOverLeadingDimsMatchesFloat64(int rows, int cols)
    {
        var x64 = Tensor.Randn([rows, cols], DType.Float64, new Generator((ulong)cols));
        var x32 = x64.To(DType.Float32);
        TorchReference.Close(x64.Sum(0).ToArrayDouble(), x32.Sum(0).ToArrayDouble(), 1e-5 * Math.Sqrt(rows), "sum(0)");
        var y64 = x64.Reshape(1, rows, cols).Expand(3, rows, cols).Contiguous();
        TorchReference.Close(y64.Sum([0, 1]).ToArrayDouble(), y64.To(DType.Float32).Sum([0, 1]).ToArrayDouble(), 3e-5 * Math.Sqrt(rows), "sum(0, 1)");
    }

    [Fact]
    public void SumMeanProdOverDims()
    {
        var t = Tensor.Arange(24, DType.Float64).Reshape(2, 3, 4);
        Assert.Equal(276, t.Sum().Item());
        Assert.Equal(new double[] { 60, 92, 124 }, t.Sum([0, 2]).ToArray<double>());
        Assert.Equal([2, 1, 4], t.Sum(1, keepDim: true).Shape);
        Assert.Equal(new double[] { 1.5, 5.5, 9.5, 13.5, 17.5, 21.5 }, t.Mean(2).Reshape(-1).ToArray<double>());
        Assert.Equal(new double[] { 0, 1 * 5 * 9, 2 * 6 * 10, 3 * 7 * 11 }, t.Select(0, 0).Prod(0).ToArray<double>());
        Assert.Equal(new double[] { 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34 }, t.Sum(0).Reshape(-1).ToArray<double>());
        Assert.Equal(0.0, Tensor.Zeros([0, 3]).Sum().Item());
    }

    [Fact]
    public void MaxMinArgmax()
    {
        var t = Tensor.FromArray(new float[] { 3, 9, 1, 9, 2, 0 }, 2, 3);
        var (v, i) = t.Max(1);
        Assert.Equal(new float[] { 9, 9 }, v.ToArray<float>());
        Assert.Equal(new long[] { 1, 0 }, i.ToArray<long>());
        Assert.Equal(new long[] { 2, 2 }, t.ArgMin(1).ToArray<long>());
        Assert.Equal(1, t.ArgMax().Item<long>());
        Assert.Equal(0, t.Min().Item());
        Assert.Equal(new float[] { 9, 9, 1 }, t.Amax([0]).ToArray<float>());
        Assert.True(double.IsNaN(Tensor.FromArray(new float[] { 1, float.NaN, 3 }).Max().Item()));
        var ex = Assert.Throws<ArgumentException>(() => Tensor.Zeros(0, 3).Max(0));
        Assert.Contains("zero-size", ex.Message);
    }

    [Fact]
    public void VarStdNormLogSumExpSoftmax()
    {
        var t = Tensor.FromArray(new double[] { 1, 2, 3, 4 });
        Assert.Equal(5 / 3.0, t.Var().Item(), 14);
        Assert.Equal(1.25, t.Var(unbiased: false).Item(), 14);
        Assert.Equal(Math.Sqrt(5 / 3.0), t.Std().Item(), 14);
        Assert.Equal(Math.Sqrt(30), t.Norm().Item(), 14);
        Assert.Equal(10, t.Norm(1).Item(), 14);
        Assert.Equal(4, t.Norm(double.PositiveInfinity).Item(), 14);
        double lse = Math.Log(Math.Exp(1) + Math.Exp(2) + Math.Exp(3) + Math.Exp(4));
        Assert.Equal(lse, t.LogSumExp(0).Item(), 14);
        // Stable for huge values where a naive exp overflows.
        var big = Tensor.FromArray(new double[] { 1000, 1000 });
        Assert.Equal(1000 + Math.Log(2), big.LogSumExp(0).Item(), 10);
        Assert.Equal(new double[] { 0.5, 0.5 }, big.Softmax(0).ToArray<double>());
        Assert.Equal(-Math.Log(2), big.LogSoftmax(0).ToArray<double>()[0], 14);
        var sm = t.Softmax(0).ToArray<double>();
        for (int k = 0; k < 4; k++) Assert.Equal(Math.Exp(k + 1 - lse), sm[k], 14);
        // A fully masked row (all −∞) is NaN, exactly as in PyTorch; a partly masked one is exact.
        Assert.All(Tensor.Full([3], double.NegativeInfinity, DType.Float64).Softmax(0).ToArray<double>(), p => Assert.True(double.IsNaN(p)));
        Assert.Equal(new double[] { 0.5, 0, 0.5 }, Tensor.FromArray(new[] { 1.0, double.NegativeInfinity, 1.0 }).Softmax(0).ToArray<double>());
        var m2 = Tensor.FromArray(new double[] { 1, 2, 3, 4, 5, 6 }, 2, 3).Softmax(0).ToArray<double>();
        Assert.Equal(1 / (1 + Math.Exp(3)), m2[0], 14);
    }
}

public class IndexingTests
{
    [Fact]
    public void GatherScatterIndexSelectOneHot()
    {
        var t = Tensor.FromArray(new float[] { 1, 2, 3, 4, 5, 6 }, 2, 3);
        var idx = Tensor.FromArray(new long[] { 2, 0, 1, 1 }, 2, 2);
        Assert.Equal(new float[] { 3, 1, 5, 5 }, t.Gather(1, idx).ToArray<float>());
        var s = Tensor.Zeros(2, 3).Scatter(1, idx, Tensor.FromArray(new float[] { 7, 8, 9, 10 }, 2, 2));
        Assert.Equal(new float[] { 8, 0, 7, 0, 10, 0 }, s.ToArray<float>());
        var sa = Tensor.Zeros(2, 3).ScatterAdd(1, idx, Tensor.FromArray(new float[] { 7, 8, 9, 10 }, 2, 2));
        Assert.Equal(new float[] { 8, 0, 7, 0, 19, 0 }, sa.ToArray<float>());
        Assert.Equal(new float[] { 4, 5, 6, 1, 2, 3, 4, 5, 6 }, t.IndexSelect(0, Tensor.FromArray(new long[] { 1, 0, 1 })).ToArray<float>());
        Assert.Equal(new float[] { 3, 1, 6, 4 }, t.IndexSelect(1, Tensor.FromArray(new long[] { 2, 0 })).ToArray<float>());
        Assert.Equal(new long[] { 0, 1, 0, 1, 0, 0, 0, 0, 1 }, Tensor.FromArray(new long[] { 1, 0, 2 }).OneHot(3).ToArray<long>());
        var bad = Assert.Throws<IndexOutOfRangeException>(() => t.Gather(1, Tensor.FromArray(new long[] { 3 }, 1, 1)));
        Assert.Contains("Gather", bad.Message);
        Assert.Throws<IndexOutOfRangeException>(() => t.IndexSelect(0, Tensor.FromArray(new long[] { 2 })));
        Assert.Throws<ArgumentException>(() => t.Gather(1, Tensor.FromArray(new float[] { 0 }, 1, 1)));
    }

    /// <summary>IndexAddInPlace along dim 0 of dense rows (the embedding gradient's fast path) and along dim 1 (the
    /// general path): repeated and negative indices accumulate, float32 and float64 agree with a plain loop, a bad
    /// index throws before anything is written.</summary>
    [Theory]
    [InlineData("float32")]
    [InlineData("float64")]
    public void IndexAddAccumulatesRepeatedAndNegativeIndices(string dtypeName)
    {
        var dtype = dtypeName == "float32" ? DType.Float32 : DType.Float64;
        var g = new Generator(9);
        var src = Tensor.Randn([6, 3, 2], dtype, g);
        long[] idx = [1, -1, 1, 0, 3, 1];
        var dst = Tensor.Randn([4, 3, 2], dtype, g);
        var expected = dst.ToArrayDouble();
        var sv = src.ToArrayDouble();
        for (int i = 0; i < idx.Length; i++)
        {
            long k = idx[i] < 0 ? idx[i] + 4 : idx[i];
            for (int j = 0; j < 6; j++) expected[k * 6 + j] += sv[i * 6 + j];
        }
        dst.IndexAddInPlace(0, Tensor.FromArray(idx), src);
        TorchReference.Close(expected, dst.ToArrayDouble(), 1e-6, "dim 0");

        var cols = Tensor.Zeros([3, 4], dtype);
        cols.IndexAddInPlace(1, Tensor.FromArray(new long[] { 2, 2, -4 }), Tensor.Ones([3, 3], dtype));
        Assert.Equal(new double[] { 1, 0, 2, 0, 1, 0, 2, 0, 1, 0, 2, 0 }, cols.ToArrayDouble());

        var before = dst.ToArrayDouble();
        var bad = Assert.Throws<IndexOutOfRangeException>(() => dst.IndexAddInPlace(0, Tensor.FromArray(new long[] { 0, 0, 0, 0, 0, 4 }), src));
        Assert.Contains("IndexAddInPlace", bad.Message);
        Assert.Equal(before, dst.ToArrayDouble());
    }
}

public class MatmulTests
{
    [Fact]
    public void MatmulShapesFollowTorch()
    {
        Assert.Equal([], Tensor.Ones(3).Matmul(Tensor.Ones(3)).Shape);
        Assert.Equal(3.0, Tensor.Ones(3).Matmul(Tensor.Ones(3)).Item());
        Assert.Equal([5], Tensor.Ones(3).Matmul(Tensor.Ones(3, 5)).Shape);
        Assert.Equal([2], Tensor.Ones(2, 3).Matmul(Tensor.Ones(3)).Shape);
        Assert.Equal([7, 2, 5], Tensor.Ones(7, 2, 3).Matmul(Tensor.Ones(3, 5)).Shape);
        Assert.Equal([4, 7, 2, 5], Tensor.Ones(1, 7, 2, 3).Matmul(Tensor.Ones(4, 1, 3, 5)).Shape);
        Assert.Equal([7, 2], Tensor.Ones(7, 2, 3).Matmul(Tensor.Ones(3)).Shape);
        Assert.Equal([7, 5], Tensor.Ones(3).Matmul(Tensor.Ones(7, 3, 5)).Shape);
        var a = Tensor.FromArray(new float[] { 1, 2, 3, 4, 5, 6 }, 2, 3);
        var b = Tensor.FromArray(new float[] { 7, 8, 9, 10, 11, 12 }, 3, 2);
        Assert.Equal(new float[] { 58, 64, 139, 154 }, a.Matmul(b).ToArray<float>());
        Assert.Equal(new float[] { 58, 139, 64, 154 }, b.T.Matmul(a.T).ToArray<float>());
        var ex = Assert.Throws<ArgumentException>(() => a.Matmul(a));
        Assert.Contains("[2, 3]", ex.Message);
        Assert.Contains("Matmul", ex.Message);
        Assert.Throws<ArgumentException>(() => a.Matmul(b.To(DType.Float64)));
    }

    [Fact]
    public void MatmulIntoDestinationLikeTorchOut()
    {
        // Hand-computed: [[1,2,3],[4,5,6]]·[[7,8],[9,10],[11,12]] = [[58,64],[139,154]].
        var a = Tensor.FromArray(new float[] { 1, 2, 3, 4, 5, 6 }, 2, 3);
        var b = Tensor.FromArray(new float[] { 7, 8, 9, 10, 11, 12 }, 3, 2);
        var dst = Tensor.Full([2, 2], 99f);
        Assert.Same(dst, a.Matmul(b, dst));
        Assert.Equal(new float[] { 58, 64, 139, 154 }, dst.ToArray<float>());
        // Transposed operands, float64, a broadcast batch, and a destination that is a contiguous slice (non-zero offset):
        // the same bits as the allocating product, and the rows around the slice untouched.
        foreach (var dtype in new[] { DType.Float32, DType.Float64 })
        {
            var x = Tensor.Randn([3, 37, 70], dtype, new Generator(1));
            var w = Tensor.Randn([90, 70], dtype, new Generator(2));
            var big = Tensor.Full([5, 37, 90], -7.0, dtype);
            var slot = big.Narrow(0, 1, 3);
            Assert.True(slot.IsContiguous);
            x.Matmul(w.T, slot);
            Assert.Equal(x.Matmul(w.T).ToArrayDouble(), slot.ToArrayDouble());
            Assert.All(big.Narrow(0, 0, 1).ToArrayDouble(), v => Assert.Equal(-7.0, v));
            Assert.All(big.Narrow(0, 4, 1).ToArrayDouble(), v => Assert.Equal(-7.0, v));
        }
        // An empty inner dimension writes zeros, as torch.matmul(out=) does.
        var z = Tensor.Full([2, 4], 5f);
        Tensor.Ones(2, 0).Matmul(Tensor.Ones(0, 4), z);
        Assert.All(z.ToArray<float>(), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void MatmulDestinationRefusesWhatTorchRefuses()
    {
        var a = Tensor.Ones(2, 3);
        var b = Tensor.Ones(3, 4);
        var wrongShape = Assert.Throws<ArgumentException>(() => a.Matmul(b, Tensor.Zeros(4, 2)));
        Assert.Contains("[4, 2]", wrongShape.Message);
        Assert.Contains("[2, 4]", wrongShape.Message);
        Assert.Throws<ArgumentException>(() => a.Matmul(b, Tensor.Zeros([2, 4], DType.Float64)));
        var notContiguous = Assert.Throws<ArgumentException>(() => a.Matmul(b, Tensor.Zeros(4, 2).T));
        Assert.Contains("contiguous", notContiguous.Message);
        var square = Tensor.Ones(3, 3);
        Assert.Throws<ArgumentException>(() => square.Matmul(Tensor.Ones(3, 3), square));
        var leaf = Tensor.Ones(2, 3).RequiresGrad_();
        var grad = Assert.Throws<InvalidOperationException>(() => leaf.Matmul(b, Tensor.Zeros(2, 4)));
        Assert.Contains("automatic differentiation", grad.Message);
        using (Tensor.NoGrad())
            Assert.Equal(3f, leaf.Matmul(b, Tensor.Zeros(2, 4)).ToArray<float>()[0]);
    }
}

public class FormatTests
{
    [Fact]
    public void PrintsLikePyTorch()
    {
        Assert.Equal("tensor([[0., 1., 2.],\n        [3., 4., 5.]], shape=[2, 3], dtype=float32)", Tensor.Arange(6).Reshape(2, 3).ToString());
        Assert.Equal("tensor([ 1.5000, -2.2500], shape=[2], dtype=float64)", Tensor.FromArray(new double[] { 1.5, -2.25 }).ToString());
        Assert.Equal("tensor([1.0000e-05, 1.0000e+03], shape=[2], dtype=float32)", Tensor.FromArray(new float[] { 1e-5f, 1000 }).ToString());
        Assert.Equal("tensor([ True, False], shape=[2], dtype=bool)", Tensor.FromArray(new[] { true, false }).ToString());
        Assert.Equal("tensor(3, shape=[], dtype=int64)", Tensor.Scalar(3, DType.Int64).ToString());
        Assert.Contains("requires_grad=True", Tensor.Ones([1], requiresGrad: true).ToString());
        Assert.Contains("grad_fn=<MulBackward>", Tensor.Ones([1], requiresGrad: true).Mul(2.0).ToString());
        var big = Tensor.Arange(10_000).Reshape(100, 100).ToString();
        Assert.Contains("...", big);
        // Integer values spanning more than 1000x switch to scientific notation, as torch._tensor_str does.
        Assert.StartsWith("tensor([[0.0000e+00, 1.0000e+00, 2.0000e+00,", big);
        Assert.Equal("tensor([[   0.,    1.],\n        [1000.,  999.]], shape=[2, 2], dtype=float32)", Tensor.FromArray(new float[] { 0, 1, 1000, 999 }, 2, 2).ToString());
        Assert.True(big.Length < 1000, "large tensors are elided");
    }
}

public class ErrorTests
{
    [Fact]
    public void BadDimsNameTheOpAndTheShape()
    {
        var t = Tensor.Ones(2, 3);
        foreach (var act in new Action[] { () => t.Sum(2), () => t.Softmax(-3), () => t.Transpose(0, 2), () => t.Select(5, 0), () => t.Narrow(1, 2, 2), () => t.Unsqueeze(4), () => Tensor.Cat([t, t], 3), () => t.Max(2) })
        {
            var e = Assert.ThrowsAny<ArgumentException>(act);
            Assert.Matches(@"^(Sum|Softmax|Transpose|Select|Narrow|Unsqueeze|Cat|Max): ", e.Message.Split('\n')[0]);
        }
        Assert.Throws<IndexOutOfRangeException>(() => t.Select(0, 2));
        var mix = Assert.Throws<ArgumentException>(() => t.Add(Tensor.Ones([2, 3], DType.Float64)));
        Assert.Contains("float32", mix.Message);
        Assert.Contains("float64", mix.Message);
        Assert.Throws<NotSupportedException>(() => Tensor.Ones([2], DType.Int64).Exp());
    }

    [Fact]
    public void WrapSharesTheArrayLikeFromNumpy()
    {
        var data = new float[] { 1, 2, 3, 4, 5, 6 };
        var t = Tensor.Wrap(data, 2, 3);
        data[4] = 50;
        Assert.Equal(50f, t.Select(0, 1).ToArray<float>()[1]);
        t.Narrow(0, 0, 1).MulInPlace(10);                     // writes through to the array
        Assert.Equal(new float[] { 10, 20, 30, 4, 50, 6 }, data);
        Assert.Equal([6], Tensor.Wrap(data).Shape);
        var e = Assert.Throws<ArgumentException>(() => Tensor.Wrap(data, 4, 2));
        Assert.Contains("Wrap: 6 values cannot fill shape", e.Message);
    }
}
