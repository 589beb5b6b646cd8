using Ember;
using Xunit;

namespace Ember.Tests.Autograd;

public class EngineTests
{
    [Fact]
    public void LongChainDoesNotOverflowTheStack()
    {
        // 100,000 recorded ops: a recursive walk would overflow; the engine is iterative.
        var x = Tensor.Scalar(1.0, DType.Float64).RequiresGrad_();
        var y = x;
        for (int i = 0; i < 100_000; i++) y = y.Mul(1.0);
        y.Backward();
        Assert.Equal(1.0, x.Grad!.Item());
    }

    [Fact]
    public void GradientsAccumulateAcrossSharedSubgraphs()
    {
        // y = x·x + x: dy/dx = 2x + 1, reached through three paths into one leaf.
        var x = Tensor.FromArray(new double[] { 3 }).RequiresGrad_();
        var y = x.Mul(x).Add(x).Sum();
        y.Backward();
        Assert.Equal(7.0, x.Grad!.Item());
    }

    [Fact]
    public void DiamondGraphRunsEachNodeOnce()
    {
        var x = Tensor.FromArray(new double[] { 0.5 }).RequiresGrad_();
        var h = x.Exp();
        var y = h.Sin().Add(h.Cos()).Sum();   // dy/dx = (cos h − sin h)·h
        y.Backward();
        double hv = Math.Exp(0.5);
        Assert.Equal((Math.Cos(hv) - Math.Sin(hv)) * hv, x.Grad!.Item(), 12);
    }

    [Fact]
    public void SecondBackwardThroughFreedGraphIsAClearError()
    {
        var x = Tensor.FromArray(new double[] { 1, 2 }).RequiresGrad_();
        var y = x.Exp().Sum();
        y.Backward();
        var ex = Assert.Throws<InvalidOperationException>(() => y.Backward());
        Assert.Contains("second time", ex.Message);
        Assert.Contains("retainGraph", ex.Message);
        // The failed call did not add anything.
        var g = x.Grad!.ToArray<double>();
        Assert.Equal(Math.Exp(1), g[0], 14);
        Assert.Equal(Math.Exp(2), g[1], 14);
    }

    [Fact]
    public void RetainedGraphAccumulatesExactlyOncePerCall()
    {
        var x = Tensor.FromArray(new double[] { 1, 2 }).RequiresGrad_();
        var y = x.Mul(x).Sum();
        y.Backward(retainGraph: true);
        Assert.Equal(new double[] { 2, 4 }, x.Grad!.ToArray<double>());
        y.Backward();
        Assert.Equal(new double[] { 4, 8 }, x.Grad!.ToArray<double>());
    }

    [Fact]
    public void NonScalarBackwardNeedsAGradient()
    {
        var x = Tensor.Ones([2, 3], DType.Float64, requiresGrad: true);
        var y = x.Mul(2.0);
        var ex = Assert.Throws<ArgumentException>(() => y.Backward());
        Assert.Contains("[2, 3]", ex.Message);
        Assert.Contains("scalar", ex.Message);
        y.Backward(Tensor.Full([2, 3], 0.5, DType.Float64));
        Assert.All(x.Grad!.ToArray<double>(), g => Assert.Equal(1.0, g));
    }

    [Fact]
    public void ExplicitGradientMustMatchShape()
    {
        var x = Tensor.Ones([2, 3], DType.Float64, requiresGrad: true);
        var ex = Assert.Throws<ArgumentException>(() => x.Mul(2.0).Backward(Tensor.Ones([3, 2], DType.Float64)));
        Assert.Contains("[3, 2]", ex.Message);
        Assert.Contains("[2, 3]", ex.Message);
    }

    [Fact]
    public void NoGradScopeRecordsNothingAndRestores()
    {
        var x = Tensor.Ones([2], DType.Float64, requiresGrad: true);
        Tensor y;
        using (Tensor.NoGrad())
        {
            y = x.Mul(3.0);
            Assert.False(GradMode.IsEnabled);
        }
        Assert.True(GradMode.IsEnabled);
        Assert.False(y.RequiresGrad);
        Assert.Null(y.GradFn);
        Assert.True(x.Mul(3.0).RequiresGrad);
    }

    [Fact]
    public async Task NoGradFlowsThroughAsyncCode()
    {
        var x = Tensor.Ones([2], DType.Float64, requiresGrad: true);
        using (Tensor.NoGrad())
        {
            await Task.Yield();
            var y = await Task.Run(() => x.Mul(2.0));
            Assert.False(y.RequiresGrad);
        }
        Assert.True(GradMode.IsEnabled);
    }

    [Fact]
    public void DetachCutsTheGraphButSharesStorage()
    {
        var x = Tensor.FromArray(new double[] { 1, 2 }).RequiresGrad_();
        var y = x.Mul(2.0);
        var d = y.Detach();
        Assert.False(d.RequiresGrad);
        Assert.True(d.IsLeaf);
        Assert.True(d.SharesStorageWith(y));
        var z = x.Mul(d).Sum();   // d is a constant here
        z.Backward();
        Assert.Equal(new double[] { 2, 4 }, x.Grad!.ToArray<double>());
    }

    [Fact]
    public void RequiresGradPropagatesAndZeroGradClears()
    {
        var a = Tensor.Ones([2]);
        var b = Tensor.Ones([2], requiresGrad: true);
        Assert.False(a.Add(a).RequiresGrad);
        Assert.True(a.Add(b).RequiresGrad);
        a.Add(b).Sum().Backward();
        Assert.NotNull(b.Grad);
        b.ZeroGrad();
        Assert.Null(b.Grad);
        Assert.Throws<InvalidOperationException>(() => a.Add(b).RequiresGrad = false);
        Assert.Throws<ArgumentException>(() => Tensor.Zeros([2], DType.Int64).RequiresGrad = true);
    }

    [Fact]
    public void InPlaceOnLeafRequiringGradIsRefused()
    {
        var w = Tensor.Ones([2], requiresGrad: true);
        var ex = Assert.Throws<InvalidOperationException>(() => w.AddInPlace(1.0));
        Assert.Contains("AddInPlace", ex.Message);
        using (Tensor.NoGrad()) w.AddInPlace(1.0);   // the optimizer's path
        Assert.Equal(new float[] { 2, 2 }, w.ToArray<float>());
    }

    [Fact]
    public void RetainGradKeepsIntermediateGradients()
    {
        var x = Tensor.FromArray(new double[] { 1, 2 }).RequiresGrad_();
        var h = x.Mul(3.0).RetainGrad();
        h.Sum().Backward();
        Assert.Equal(new double[] { 1, 1 }, h.Grad!.ToArray<double>());
        Assert.Equal(new double[] { 3, 3 }, x.Grad!.ToArray<double>());
    }

    [Fact]
    public void GradientOfFloat32MatchesFloat64()
    {
        var x64 = GradCheck.Leaf(5, 4, 3);
        var x32 = x64.Detach().To(DType.Float32).RequiresGrad_();
        x64.Matmul(x64.T).Tanh().Sum().Backward();
        x32.Matmul(x32.T).Tanh().Sum().Backward();
        var g64 = x64.Grad!.ToArray<double>();
        var g32 = x32.Grad!.ToArray<float>();
        for (int i = 0; i < g64.Length; i++) Assert.Equal(g64[i], g32[i], 4);
    }

    [Fact]
    public void ModifyingASavedTensorInPlaceIsDetected()
    {
        var x = Tensor.FromArray(new double[] { 1, 2 }).RequiresGrad_();
        var y = x.Exp();                         // ExpBackward reads y
        var loss = y.Sum();
        using (Tensor.NoGrad()) y.AddInPlace(1.0);
        var e = Assert.Throws<InvalidOperationException>(() => loss.Backward());
        Assert.Contains("ExpBackward", e.Message);
        Assert.Contains("modified in place", e.Message);

        var w = Tensor.FromArray(new double[] { 3, 4 });
        var z = x.Mul(w).Sum();                  // MulBackward reads w
        w.MulInPlace(2.0);
        Assert.Throws<InvalidOperationException>(() => z.Backward());
    }

    [Fact]
    public void ModifyingATensorTheGradientDoesNotNeedIsAllowed()
    {
        var x = Tensor.FromArray(new double[] { 1, 2 }).RequiresGrad_();
        var c = Tensor.FromArray(new double[] { 5, 6 });
        var loss = x.Add(c).Sum();               // AddBackward reads nothing
        c.Fill(0);
        loss.Backward();
        Assert.Equal(new double[] { 1, 1 }, x.Grad!.ToArray<double>());
    }

    [Fact]
    public void DTypeConversionPassesGradientsBack()
    {
        var x = Tensor.FromArray(new double[] { 0.5, -1 }).RequiresGrad_();
        x.To(DType.Float32).Mul(3.0).Sum().Backward();
        Assert.Equal(DType.Float64, x.Grad!.DType);
        Assert.Equal(new double[] { 3, 3 }, x.Grad.ToArray<double>());
    }

    [Fact]
    public void LeafGradientNeverAliasesAnotherBuffer()
    {
        // d(sum x)/dx is an expanded view of one scalar; the leaf must get its own dense buffer.
        foreach (bool createGraph in new[] { false, true })
        {
            var x = Tensor.Zeros([3], DType.Float64, requiresGrad: true);
            var s = x.Sum();
            s.Backward(createGraph: createGraph);
            Assert.True(x.Grad!.IsContiguous);
            Assert.Equal([1], x.Grad.Strides);
            using (Tensor.NoGrad()) x.Grad.Zero();
            Assert.Equal(new double[] { 0, 0, 0 }, x.Grad.ToArray<double>());
        }
    }

    /// <summary>Partial views (Select/Narrow/Slice) add their gradients straight into the input's gradient buffer; the
    /// sums must equal the dense rule's, whichever consumer comes first, for leaves and intermediate tensors alike.</summary>
    [Fact]
    public void PartialViewGradientsScatterIntoOneBuffer()
    {
        // 8 × 4: row selects and the leaf's row/column views are at most a quarter of their input (the engine's direct
        // path); the two-column Narrow and the every-other-column Slice are half (the dense rule). Both mix here.
        var x = Tensor.Arange(1, 33, 1, DType.Float64).Reshape(8, 4).RequiresGrad_();
        var y = x.Mul(2);                                   // intermediate: its gradient buffer is the engine's
        var loss = y.Select(0, 0).Sum()                     // rows 0 and 2 by Select, columns 1–2 by Narrow,
            .Add(y.Select(0, 2).Mul(3).Sum())               // every other column by Slice, and y as a whole (a dense
            .Add(y.Narrow(1, 1, 2).Pow(2).Sum())            // gradient accumulated before or after the views)
            .Add(y.Slice(1, 0, 4, 2).Sum())
            .Add(y.Sum())
            .Add(x.Narrow(0, 1, 1).Mul(10).Sum())           // a partial view of the leaf itself
            .Add(x.Select(1, 3).Sum());
        loss.Backward();
        var expected = new double[32];
        var yv = new double[32];
        for (int k = 0; k < 32; k++) yv[k] = 2 * (k + 1);
        for (int r = 0; r < 8; r++)
            for (int c = 0; c < 4; c++)
            {
                double dy = (r == 0 ? 1 : 0) + (r == 2 ? 3 : 0) + (c is 1 or 2 ? 2 * yv[r * 4 + c] : 0) + (c % 2 == 0 ? 1 : 0) + 1;
                expected[r * 4 + c] = 2 * dy + (r == 1 ? 10 : 0) + (c == 3 ? 1 : 0);
            }
        Assert.Equal(expected, x.Grad!.ToArrayDouble());
    }

    [Fact]
    public void PartialViewGradientsKeepRetainGraphAndRetainGradSemantics()
    {
        var x = Tensor.Ones([4, 4], DType.Float64).RequiresGrad_();
        var y = x.Mul(3);
        var z = x.Mul(2);
        y.RetainGrad();
        var loss = y.Select(0, 1).Sum().Add(y.Narrow(1, 0, 1).Sum()).Add(z.Select(0, 2).Sum()).Add(z.Select(0, 2).Sum());
        loss.Backward(retainGraph: true);
        var yg = new double[16];
        for (int i = 0; i < 16; i++) yg[i] = (i / 4 == 1 ? 1 : 0) + (i % 4 == 0 ? 1 : 0);
        Assert.Equal(yg, y.Grad!.ToArrayDouble());          // a retained gradient still sees every view's contribution
        var xg = yg.Select((v, i) => 3 * v + (i / 4 == 2 ? 4 : 0)).ToArray();
        Assert.Equal(xg, x.Grad!.ToArrayDouble());
        loss.Backward();                                    // retained: a second pass adds exactly once more
        Assert.Equal(xg.Select(v => 2 * v), x.Grad!.ToArrayDouble());
        var e = Assert.Throws<InvalidOperationException>(() => loss.Backward());
        Assert.Contains("second time", e.Message);
        // The gradient the user sees is never a buffer the engine keeps writing into.
        var a = Tensor.Arange(0, 8, 1, DType.Float64).RequiresGrad_();
        var b = a.Mul(1);
        b.Narrow(0, 0, 2).Sum().Add(b.Narrow(0, 1, 2).Sum()).Add(b.Select(0, 7).Mul(5)).Backward();
        Assert.Equal(new double[] { 1, 2, 1, 0, 0, 0, 0, 5 }, a.Grad!.ToArrayDouble());
    }
}
