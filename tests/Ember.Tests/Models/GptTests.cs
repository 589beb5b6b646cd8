using Ember.Models;
using Ember.NN;
using Ember.Optim;
using Xunit;

namespace Ember.Tests.Models;

public class GptTests
{
    private static Gpt Small(int context = 16) => new(new GptConfig(VocabSize: 11, ContextLength: context, NLayer: 2, NHead: 2, NEmbd: 16), new Generator(1));

    [Fact]
    public void KvCacheLogitsEqualTheUncachedForwardPass()
    {
        var model = Small();
        model.Eval();
        var tokens = Tensor.FromArray(new long[] { 3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8 }, 1, 12);
        using var _ = Tensor.NoGrad();
        var full = model.Call(tokens);                           // (1, 12, 11)
        var cache = new KvCache(2);
        var prompt = model.Forward(tokens.Narrow(1, 0, 4), cache);   // a 4-token prompt, then one token at a time
        Assert.True(prompt.Sub(full.Narrow(1, 0, 4)).Abs().Max().Item() < 1e-5);
        for (int t = 4; t < 12; t++)
        {
            var step = model.Forward(tokens.Narrow(1, t, 1), cache);
            double diff = step.Select(1, 0).Sub(full.Select(1, t)).Abs().Max().Item();
            Assert.True(diff < 1e-5, $"position {t}: max |cached − uncached| = {diff}");
        }
        Assert.Equal(12, cache.Length);
        Assert.Throws<ArgumentException>(() => model.Forward(Tensor.Zeros([1, 5], DType.Int64), cache));   // 17 > context 16
    }

    /// <summary>The cache keeps keys and values in buffers that double when full (64, 128, 256 positions): logits stay
    /// equal to the uncached pass across both regrowths, and a cache filled with autograd on (concatenating instead)
    /// gives the same logits.</summary>
    [Fact]
    public void KvCacheBuffersGrowWithoutChangingTheLogits()
    {
        var model = Small(context: 160);
        model.Eval();
        var tokens = Tensor.RandInt(0, 11, [2, 140], new Generator(6));
        Tensor full;
        using (Tensor.NoGrad()) full = model.Call(tokens);
        foreach (bool grad in new[] { false, true })
        {
            var cache = new KvCache(2);
            using var mode = grad ? Tensor.EnableGrad() : Tensor.NoGrad();
            var prompt = model.Forward(tokens.Narrow(1, 0, 10), cache);
            Assert.True(prompt.Sub(full.Narrow(1, 0, 10)).Abs().Max().Item() < 1e-5);
            for (int t = 10; t < (grad ? 70 : 140); t++)
            {
                var step = model.Forward(tokens.Narrow(1, t, 1), cache);
                double diff = step.Select(1, 0).Sub(full.Select(1, t)).Abs().Max().Item();
                Assert.True(diff < 1e-5, $"grad={grad} position {t}: max |cached − uncached| = {diff}");
            }
        }
    }

    [Fact]
    public void GenerationWithAndWithoutCacheAgreeAcrossTheContextLimit()
    {
        var model = Small(context: 8);
        var prompt = Tensor.FromArray(new long[] { 1, 2, 3, 4, 5, 6 }, 2, 3);
        var greedy = new SamplingOptions(Temperature: 0);
        var a = model.Generate(prompt, 20, greedy, useCache: true);
        var b = model.Generate(prompt, 20, greedy, useCache: false);
        Assert.Equal(new[] { 2, 23 }, a.Shape);
        Assert.Equal(b.ToArray<long>(), a.ToArray<long>());
        var s1 = model.Generate(prompt, 12, new SamplingOptions(0.8, TopK: 5, TopP: 0.9), useCache: true, generator: new Generator(4));
        var s2 = model.Generate(prompt, 12, new SamplingOptions(0.8, TopK: 5, TopP: 0.9), useCache: false, generator: new Generator(4));
        Assert.Equal(s2.ToArray<long>(), s1.ToArray<long>());
        Assert.True(model.Training);   // Generate restores the mode it found
    }

    [Fact]
    public void SamplingFollowsTemperatureTopKAndTopP()
    {
        var logits = Tensor.FromArray(new[] { 0.0, Math.Log(3), -1.0, -50.0 }, 1, 4);
        var g = new Generator(7);
        int n = 4000;
        var counts = new int[4];
        for (int i = 0; i < n; i++) counts[Sampling.Sample(logits, new SamplingOptions(TopK: 2), g).Item<long>()]++;
        Assert.Equal(0, counts[2] + counts[3]);                          // top-k = 2 keeps tokens 1 and 0
        Assert.InRange(counts[1] / (double)n, 0.72, 0.78);               // 3 : 1 after renormalizing
        Assert.Equal(1L, Sampling.Sample(logits, new SamplingOptions(TopP: 0.5), g).Item<long>());   // 0.70 ≥ 0.5: only token 1
        Assert.Equal(1L, Sampling.Sample(logits, new SamplingOptions(Temperature: 0), g).Item<long>());
        // Temperature 2 flattens the distribution: p(1) = 3^½ / (1 + 3^½ + e^-½ + e^-25).
        var counts2 = new int[4];
        for (int i = 0; i < n; i++) counts2[Sampling.Sample(logits, new SamplingOptions(Temperature: 2), g).Item<long>()]++;
        double expected = Math.Sqrt(3) / (1 + Math.Sqrt(3) + Math.Exp(-0.5) + Math.Exp(-25));
        Assert.InRange(counts2[1] / (double)n, expected - 0.03, expected + 0.03);
        Assert.Throws<ArgumentException>(() => Sampling.Sample(logits, new SamplingOptions(TopP: 0), g));
    }

    [Fact]
    public void LearnsARepeatingSequence()
    {
        var model = Small();
        var data = Tensor.FromArray(Enumerable.Range(0, 17).Select(i => (long)(i % 5)).ToArray(), 1, 17);
        var x = data.Narrow(1, 0, 16);
        var y = data.Narrow(1, 1, 16);
        var opt = new AdamW(model.Parameters(), lr: 1e-2);
        double first = 0, last = 0;
        for (int step = 0; step < 60; step++)
        {
            var loss = Functional.CrossEntropy(model.Call(x).Reshape(-1, 11), y.Reshape(-1));
            if (step == 0) first = loss.Item();
            last = loss.Item();
            opt.ZeroGrad();
            loss.Backward();
            opt.Step();
        }
        Assert.True(first > 2.0 && last < 0.1, $"loss {first} -> {last}");
        var next = model.Generate(Tensor.FromArray(new long[] { 0, 1, 2 }, 1, 3), 7, new SamplingOptions(Temperature: 0));
        Assert.Equal(new long[] { 0, 1, 2, 3, 4, 0, 1, 2, 3, 4 }, next.ToArray<long>());
    }

    [Fact]
    public void AttentionMapsAreCausalDistributions()
    {
        var model = Small();
        var maps = model.AttentionMaps(Tensor.FromArray(new long[] { 1, 2, 3, 4, 5 }, 1, 5));
        Assert.Equal(2, maps.Count);
        foreach (var m in maps)
        {
            Assert.Equal(new[] { 1, 2, 5, 5 }, m.Shape);
            Assert.All(m.Sum(-1).ToArrayDouble(), s => Assert.Equal(1.0, s, 5));
            for (int i = 0; i < 5; i++)
                for (int j = i + 1; j < 5; j++) Assert.Equal(0.0, m[0, 1, i, j].Item());
        }
        Assert.True(model.Training);
    }

    [Fact]
    public void ConfigRoundTripsThroughCheckpointMetadata()
    {
        var c = new GptConfig(65, 128, 4, 4, 128, 0.1, false);
        Assert.Equal(c, GptConfig.FromMetadata(c.ToMetadata(), "test"));
        Assert.Throws<ArgumentException>(() => new Gpt(new GptConfig(10, NEmbd: 30, NHead: 4)));
        var model = new Gpt(new GptConfig(65));
        // nanoGPT's 4-layer, 128-channel model with a 65-token vocabulary and tied output: 0.82 M parameters.
        Assert.InRange(model.ParameterCount, 800_000, 830_000);
    }
}
