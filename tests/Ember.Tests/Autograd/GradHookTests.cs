using Ember.NN;
using Xunit;

namespace Ember.Tests.Autograd;

/// <summary>Post-accumulate gradient hooks run once per backward pass per leaf, after the last contribution.</summary>
public class GradHookTests
{
    [Fact]
    public void HookRunsOnceAfterEveryContributionIsAccumulated()
    {
        var w = Tensor.FromArray(new[] { 1.0, 2.0, 3.0 }).RequiresGrad_();
        var seen = new List<double[]>();
        using (w.RegisterPostAccumulateGradHook(t => seen.Add(t.Grad!.ToArray<double>())))
        {
            // w is used three times (one through a view): the hook sees the full sum, once.
            var y = w.Mul(2).Sum().Add(w.Square().Sum()).Add(w.Narrow(0, 1, 2).Sum());
            y.Backward();
            Assert.Single(seen);
            Assert.Equal(new[] { 2 + 2.0, 2 + 4 + 1.0, 2 + 6 + 1.0 }, seen[0]);
            // A second pass: the hook runs again, with the accumulated gradient.
            w.Mul(3).Sum().Backward();
            Assert.Equal(2, seen.Count);
            Assert.Equal(new[] { 7.0, 10, 12 }, seen[1]);
        }
        // Removed: no more calls.
        w.Sum().Backward();
        Assert.Equal(2, seen.Count);
    }

    [Fact]
    public void HooksFireForEveryParameterOfAModelInBackwardOrder()
    {
        var model = new Sequential(new Linear(4, 8, generator: new Generator(1)), new ReLU(), new Linear(8, 2, generator: new Generator(2)));
        var order = new List<string>();
        var handles = model.NamedParameters().Select(p => p.Parameter.RegisterPostAccumulateGradHook(_ => order.Add(p.Name))).ToList();
        model.Call(Tensor.Randn([5, 4], DType.Float32, new Generator(3))).Sum().Backward();
        // Each once, Linear's weights too (their gradient is added straight into .Grad by the fused rule).
        Assert.Equal(["0.bias", "0.weight", "2.bias", "2.weight"], order.Order().ToArray());
        Assert.True(order.IndexOf("2.weight") < order.IndexOf("0.weight"), string.Join(",", order));
        foreach (var h in handles) h.Dispose();
        Assert.Throws<InvalidOperationException>(() => model.Call(Tensor.Randn([1, 4], DType.Float32, new Generator(3))).RegisterPostAccumulateGradHook(_ => { }));
    }

    [Fact]
    public void ParametersInsideACheckpointedSegmentFireOnce()
    {
        var gpt = new Ember.Models.Gpt(new Ember.Models.GptConfig(VocabSize: 7, ContextLength: 6, NLayer: 2, NHead: 1, NEmbd: 8), new Generator(1))
        {
            GradientCheckpointing = true,
        };
        var counts = new Dictionary<string, int>();
        var handles = gpt.NamedParameters().Select(p => p.Parameter.RegisterPostAccumulateGradHook(_ => counts[p.Name] = counts.GetValueOrDefault(p.Name) + 1)).ToList();
        gpt.Call(Tensor.FromArray(new long[] { 1, 2, 3, 4 }, [1, 4])).Sum().Backward();
        Assert.Equal(gpt.NamedParameters().Count(), counts.Count);
        Assert.All(counts, kv => Assert.True(kv.Value == 1, $"{kv.Key}: {kv.Value} calls"));
        foreach (var h in handles) h.Dispose();
    }
}
