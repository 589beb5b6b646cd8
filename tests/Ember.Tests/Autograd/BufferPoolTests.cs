using Ember.NN;
using Ember.Optim;
using Xunit;

namespace Ember.Tests.Autograd;

/// <summary>The engine hands float32 gradient temporaries back to BufferPool once nothing refers to them, and any
/// allocation may reuse them. These tests run real graphs with large tensors (above the pool's 64K-float minimum)
/// whose gradients are shared, viewed, summed and retained, and require results identical to a run without the pool.</summary>
[Collection("BufferPool")]
public class BufferPoolTests
{
    private static (double[][] Grads, long Returned) Run(bool pool)
    {
        using var scope = EmberSettings.Scope(EmberSettings.Current with { BufferPool = pool });
        BufferPool.Clear();
        long before = BufferPool.ReturnedHere;
        {
            var g = new Generator(3);
            var a = Tensor.Randn([300, 400], DType.Float32, g).RequiresGrad_();
            var b = Tensor.Randn([300, 400], DType.Float32, g).RequiresGrad_();
            var results = new List<double[]>();
            for (int round = 0; round < 3; round++)
            {
                a.Grad = null; b.Grad = null;
                var h = a.Mul(b).Tanh();                     // large temporaries
                var s = h.Add(h);                            // one gradient to the same input twice
                var mid = s.Exp().Mul(a);                    // a used twice (leaf fan-out)
                mid.RetainGrad();
                var v = mid.View(600, 200).Narrow(0, 100, 400).Sum(1);   // views of a large gradient
                var w = mid.T.Contiguous().Sigmoid().Sum();
                var loss = v.Sum().Add(w).Add(h.Mul(h).Mean());
                loss.Backward();
                results.Add(a.Grad!.ToArrayDouble());
                results.Add(b.Grad!.ToArrayDouble());
                results.Add(mid.Grad!.ToArrayDouble());
            }
            return (results.ToArray(), BufferPool.ReturnedHere - before);
        }
    }

    [Fact]
    public void GradientsAreIdenticalWithAndWithoutRecycling()
    {
        var (without, returnedOff) = Run(pool: false);
        var (with, returnedOn) = Run(pool: true);
        Assert.Equal(0, returnedOff);
        Assert.True(returnedOn > 0, "the pool was never used: the test would not cover it");
        Assert.Equal(without.Length, with.Length);
        for (int i = 0; i < without.Length; i++) Assert.Equal(without[i], with[i]);
        // Rounds repeat the same computation: recycled buffers from round 1 must not leak into round 2's values.
        Assert.Equal(with[0], with[3]);
        Assert.Equal(with[2], with[8]);
    }

    [Fact]
    public void TrainingWithRecyclingMatchesTrainingWithoutBitForBit()
    {
        float[][] Train(bool pool)
        {
            using var scope = EmberSettings.Scope(EmberSettings.Current with { BufferPool = pool });
            BufferPool.Clear();
            {
                var g = new Generator(8);
                var model = new Sequential(new Linear(300, 512, generator: g), new ReLU(), new Linear(512, 256, generator: g), new GELU(), new Linear(256, 10, generator: g));
                var opt = new Adam(model.Parameters(), lr: 1e-3);
                var x = Tensor.Randn([256, 300], DType.Float32, g);
                var y = Tensor.RandInt(0, 10, [256], g);
                for (int step = 0; step < 5; step++)
                {
                    var loss = Functional.CrossEntropy(model.Call(x), y);
                    opt.ZeroGrad();
                    loss.Backward();
                    opt.Step();
                }
                return model.Parameters().Select(p => p.ToArray<float>()).ToArray();
            }
        }
        var off = Train(false);
        var on = Train(true);
        for (int i = 0; i < off.Length; i++) Assert.Equal(off[i], on[i]);
    }

    [Fact]
    public void InferenceScopeRecyclesActivationsWithoutChangingResults()
    {
        // An MLP in eval mode without gradients at batch 64: its activations (64x1024 floats) are large buffers. Passes
        // inside ReturnAfter take them from the pool and give them back; every pass equals a pass without it, and a pass
        // on new inputs after recycled ones is not contaminated by the previous pass's values.
        var model = new Ember.Models.Mlp(new Ember.Models.MlpConfig { Hidden = [1024, 1024] }, new Generator(4));   // two activations of one size per pass
        model.Eval();
        BufferPool.Clear();
        var inputs = Enumerable.Range(0, 4).Select(i => Tensor.Randn([64, 784], DType.Float32, new Generator((ulong)(10 + i)))).ToArray();
        float[][] want;
        using (Tensor.NoGrad()) want = inputs.Select(x => model.Call(x).ToArray<float>()).ToArray();
        long before = BufferPool.ReturnedHere;
        for (int round = 0; round < 2; round++)
            for (int i = 0; i < inputs.Length; i++)
            {
                float[] got;
                using (Tensor.NoGrad())
                using (BufferPool.ReturnAfter())
                    got = model.Call(inputs[i]).ToArray<float>();
                Assert.Equal(want[i], got);
            }
        Assert.True(BufferPool.ReturnedHere - before >= 8 * 2, $"{BufferPool.ReturnedHere - before} buffers came back: the scope did not recycle");
        // Once warm, a pass allocates no large buffers of its own.
        long allocated = GC.GetAllocatedBytesForCurrentThread();
        using (Tensor.NoGrad())
        using (BufferPool.ReturnAfter())
            model.Call(inputs[0]).ToArray<float>();
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - allocated < 85_000, $"{GC.GetAllocatedBytesForCurrentThread() - allocated} bytes allocated by a warm pass");
    }

    [Fact]
    public void InferKeepsItsOutputAndRecyclesTheRest()
    {
        // Outputs as large as the activations (pooled sizes): each output Infer returns must keep its values while
        // later calls reuse the intermediates' buffers; every output equals Call under no-grad bit for bit.
        var model = new Ember.Models.Mlp(new Ember.Models.MlpConfig { InFeatures = 300, Hidden = [1024, 1024], OutFeatures = 1024 }, new Generator(8));
        model.Eval();
        var inputs = Enumerable.Range(0, 5).Select(i => Tensor.Randn([64, 300], DType.Float32, new Generator((ulong)(30 + i)))).ToArray();
        long before = BufferPool.ReturnedHere;
        var outputs = inputs.Select(model.Infer).ToArray();
        Assert.True(BufferPool.ReturnedHere - before >= 4, "Infer gave nothing back to the pool: the test would not cover it");
        for (int i = 0; i < inputs.Length; i++)
        {
            float[] want;
            using (Tensor.NoGrad()) want = model.Call(inputs[i]).ToArray<float>();
            Assert.Equal(want, outputs[i].ToArray<float>());
            Assert.False(outputs[i].RequiresGrad);
        }
        // A module that may keep what it makes (the default for user modules) gets no recycling.
        Assert.True(new Holder().HoldsActivations);
    }

    private sealed class Holder : Ember.NN.Module
    {
        public override Tensor Forward(Tensor input) => input;
    }
}

/// <summary>Linear's weight gradient overwrites a .Grad that ZeroGrad just cleared instead of adding to it; anything
/// written to it since (a second backward, an in-place edit) must still be added to.</summary>
public class ZeroedGradientTests
{
    [Fact]
    public void LinearWeightGradientAccumulatesExceptRightAfterZeroGrad()
    {
        var g = new Generator(2);
        var lin = new Linear(40, 30, generator: g);
        var opt = new SGD(lin.Parameters(), lr: 0.1);
        var x = Tensor.Randn([50, 40], DType.Float32, g);
        lin.Call(x).Sum().Backward();
        var once = lin.Weight.Grad!.ToArray<float>();
        opt.ZeroGrad();
        Assert.True(lin.Weight.Grad!.IsKnownZero);
        lin.Call(x).Sum().Backward();
        Assert.False(lin.Weight.Grad!.IsKnownZero);
        Assert.Equal(once, lin.Weight.Grad!.ToArray<float>());                 // overwrite after ZeroGrad
        lin.Call(x).Sum().Backward();
        Assert.Equal(once.Select(v => 2 * v).ToArray(), lin.Weight.Grad!.ToArray<float>());   // then accumulate
        opt.ZeroGrad();
        using (Tensor.NoGrad()) lin.Weight.Grad!.AddInPlace(Tensor.Ones([30, 40]));   // an edit after zeroing
        lin.Call(x).Sum().Backward();
        Assert.Equal(once.Select(v => v + 1).ToArray(), lin.Weight.Grad!.ToArray<float>());
    }

    /// <summary>Elementwise backward rules (ReLU, tanh, sigmoid, GELU exact and tanh) write over an incoming gradient the
    /// engine owns outright. Chains, a gradient fanned out to several rules (which must not be overwritten while another
    /// rule still needs it), a retained gradient and views must give the same gradients bit for bit as without reuse.</summary>
    [Fact]
    public void RulesThatOverwriteTheirIncomingGradientChangeNoGradient()
    {
        double[][] Run(bool reuse)
        {
            Engine.ReuseEnabled = reuse;
            try
            {
                var g = new Generator(5);
                var x = Tensor.Randn([256, 200], DType.Float32, g).RequiresGrad_();
                var w = Tensor.Randn([256, 200], DType.Float32, g).RequiresGrad_();
                var p = Tensor.Randn([256, 200], DType.Float32, g);
                var h = x.Mul(w);
                var chain = Functional.Gelu(h.Mul(p).Relu().Tanh().Sigmoid().Mul(p));
                var fan = h.Relu().Mul(p);
                var both = fan.Add(fan.Tanh()).Add(Functional.Gelu(fan, tanhApproximation: true));   // one gradient, three rules
                var kept = h.Sigmoid();
                kept.RetainGrad();
                var loss = chain.Mul(p).Sum().Add(both.Mul(p).Sum()).Add(kept.View(512, 100).Narrow(0, 10, 300).Square().Sum());
                loss.Backward();
                return [x.Grad!.ToArrayDouble(), w.Grad!.ToArrayDouble(), kept.Grad!.ToArrayDouble()];
            }
            finally { Engine.ReuseEnabled = true; }
        }
        var without = Run(reuse: false);
        long before = Engine.Reused;
        var with = Run(reuse: true);
        Assert.True(Engine.Reused - before >= 5, $"only {Engine.Reused - before} rules wrote over their gradient: the test would not cover reuse");
        for (int i = 0; i < without.Length; i++) Assert.Equal(without[i], with[i]);
    }
}
