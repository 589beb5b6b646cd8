using System.Text.Json;
using Ember;
using Ember.IO;
using Ember.Models;
using Ember.NN;
using Ember.Optim;
using Xunit;

namespace Ember.Tests.NN;

public class LoraTests
{
    private static readonly Lazy<JsonElement> s_ref = new(() => JsonDocument.Parse(File.ReadAllText(
        Path.Combine(AppContext.BaseDirectory, "Fixtures", "compression_reference.json"))).RootElement.GetProperty("lora"));

    private static Tensor T(JsonElement e, string p, params int[] shape) =>
        Tensor.FromArray(e.GetProperty(p).EnumerateArray().Select(x => (float)x.GetDouble()).ToArray(), shape);

    /// <summary>Forward, gradients of x, A and B, and the merged weight equal PyTorch's autograd on the same tensors
    /// (Fixtures/gen_compression_fixtures.py).</summary>
    [Fact]
    public void ForwardGradientsAndMergeMatchPyTorch()
    {
        var c = s_ref.Value;
        int n = c.GetProperty("n").GetInt32(), k = c.GetProperty("k").GetInt32(), m = c.GetProperty("m").GetInt32(), r = c.GetProperty("r").GetInt32();
        var layer = new Linear(k, m);
        var lora = layer.AddLora(r, c.GetProperty("alpha").GetDouble());
        using (Tensor.NoGrad())
        {
            layer.Weight.CopyFrom(T(c, "weight", m, k));
            layer.Bias!.CopyFrom(T(c, "bias", m));
            lora.A.Weight.CopyFrom(T(c, "lora_A", r, k));
            lora.B.Weight.CopyFrom(T(c, "lora_B", m, r));
        }
        layer.Weight.RequiresGrad = false;
        layer.Bias!.RequiresGrad = false;
        var x = T(c, "x", n, k);
        x.RequiresGrad = true;
        var y = layer.Call(x);
        TorchReference.Close(c.Doubles("y"), y.Double().ToArray<double>(), 1e-5, "lora y");
        y.Backward(T(c, "g", n, m));
        TorchReference.Close(c.Doubles("grad_x"), x.Grad!.Double().ToArray<double>(), 1e-5, "grad x");
        TorchReference.Close(c.Doubles("grad_A"), lora.A.Weight.Grad!.Double().ToArray<double>(), 1e-5, "grad A");
        TorchReference.Close(c.Doubles("grad_B"), lora.B.Weight.Grad!.Double().ToArray<double>(), 1e-5, "grad B");
        Assert.Null(layer.Weight.Grad);

        var before = layer.Weight.ToArray<float>();
        layer.Eval();
        var unmerged = layer.Infer(x.Detach()).ToArray<float>();
        layer.MergeLora();
        TorchReference.Close(c.Doubles("merged"), layer.Weight.Double().ToArray<double>(), 1e-6, "merged weight");
        var merged = layer.Infer(x.Detach()).ToArray<float>();
        for (int i = 0; i < merged.Length; i++) Assert.True(Math.Abs(unmerged[i] - merged[i]) <= 1e-5 * (1 + Math.Abs(unmerged[i])), $"merged [{i}]: {merged[i]} vs {unmerged[i]}");
        layer.UnmergeLora();
        var after = layer.Weight.ToArray<float>();
        for (int i = 0; i < before.Length; i++) Assert.True(Math.Abs(before[i] - after[i]) <= 1e-6 * (1 + Math.Abs(before[i])), $"unmerged weight [{i}]: {after[i]} vs {before[i]}");
    }

    private static Gpt SmallGpt(ulong seed) => new(new GptConfig(VocabSize: 30, ContextLength: 16, NLayer: 2, NHead: 2, NEmbd: 64), new Generator(seed));

    [Fact]
    public void AdaptersStartAsIdentityTrainAloneAndSaveInPeftLayout()
    {
        var gpt = SmallGpt(1);
        var ids = Tensor.RandInt(0, 30, [4, 16], new Generator(2));
        gpt.Eval();
        var before = gpt.Infer(ids).ToArray<float>();
        var config = new LoraConfig(Rank: 4, Alpha: 8, TargetModules: ["c_attn", "c_proj"]);
        var adapted = Lora.Apply(gpt, config, new Generator(3));
        Assert.Equal(["h.0.attn.c_attn", "h.0.attn.c_proj", "h.1.attn.c_attn", "h.1.attn.c_proj"], adapted);
        Assert.Equal(before, gpt.Infer(ids).ToArray<float>());          // B = 0: the model is unchanged

        var trainable = Lora.TrainableParameters(gpt).ToList();
        long trainableCount = trainable.Sum(p => (long)p.NumEl), total = gpt.ParameterCount;
        Assert.Equal(2 * (4 * 64 + 4 * 192) + 2 * (4 * 64 + 4 * 64), trainableCount);
        var frozen = gpt.NamedParameters().Where(p => !p.Name.Contains("lora_")).Select(p => p.Parameter.Clone()).ToList();

        gpt.Train();
        var opt = new AdamW(trainable, lr: 1e-2);
        var targets = ids.Narrow(1, 1, 15);
        double first = 0, last = 0;
        for (int step = 0; step < 30; step++)
        {
            var loss = Functional.CrossEntropy(gpt.Call(ids.Narrow(1, 0, 15)).Reshape(-1, 30), targets.Reshape(-1));
            if (step == 0) first = loss.Item();
            last = loss.Item();
            opt.ZeroGrad();
            loss.Backward();
            opt.Step();
        }
        Assert.True(last < first - 0.3, $"LoRA training: loss {first:F3} → {last:F3}");
        var frozenAfter = gpt.NamedParameters().Where(p => !p.Name.Contains("lora_")).Select(p => p.Parameter).ToList();
        for (int i = 0; i < frozen.Count; i++) Assert.Equal(frozen[i].ToArray<float>(), frozenAfter[i].ToArray<float>());

        var dir = Directory.CreateTempSubdirectory("ember-lora").FullName;
        try
        {
            gpt.Eval();
            var tuned = gpt.Infer(ids).ToArray<float>();
            Lora.SaveAdapters(gpt, config, dir);
            var keys = Safetensors.Load(Path.Combine(dir, "adapter_model.safetensors")).Keys.Order().ToList();
            Assert.Contains("base_model.model.h.0.attn.c_attn.lora_A.weight", keys);
            Assert.Contains("base_model.model.h.1.attn.c_proj.lora_B.weight", keys);
            Assert.Equal(8, keys.Count);
            var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "adapter_config.json"))).RootElement;
            Assert.Equal("LORA", json.GetProperty("peft_type").GetString());
            Assert.Equal(4, json.GetProperty("r").GetInt32());

            var fresh = SmallGpt(1);
            Lora.LoadAdapters(fresh, dir);
            fresh.Eval();
            Assert.Equal(tuned, fresh.Infer(ids).ToArray<float>());
            Lora.Unload(fresh);
            Assert.DoesNotContain(fresh.StateDict().Keys, k => k.Contains("lora_"));
            var merged = fresh.Infer(ids).ToArray<float>();
            for (int i = 0; i < merged.Length; i++) Assert.True(Math.Abs(merged[i] - tuned[i]) < 1e-4, $"merged [{i}]: {merged[i]} vs {tuned[i]}");

            var other = new Gpt(new GptConfig(VocabSize: 30, ContextLength: 16, NLayer: 2, NHead: 2, NEmbd: 32), new Generator(1));
            var e = Assert.Throws<ArgumentException>(() => Lora.LoadAdapters(other, dir));
            Assert.Contains("in the file", e.Message);
            Assert.All(other.Parameters(), p => Assert.True(p.RequiresGrad));
            Assert.DoesNotContain(other.StateDict().Keys, k => k.Contains("lora_"));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void AdapterOverAnInt8BaseTrains()
    {
        var gpt = SmallGpt(4);
        Ember.Quantization.Quantize.Dynamic(gpt);
        Lora.Apply(gpt, new LoraConfig(Rank: 4, Alpha: 8, TargetModules: ["c_attn"]), new Generator(5));
        gpt.Train();
        var ids = Tensor.RandInt(0, 30, [4, 16], new Generator(6));
        var opt = new AdamW(Lora.TrainableParameters(gpt), lr: 1e-2);
        double first = 0, last = 0;
        for (int step = 0; step < 20; step++)
        {
            var loss = Functional.CrossEntropy(gpt.Call(ids.Narrow(1, 0, 15)).Reshape(-1, 30), ids.Narrow(1, 1, 15).Reshape(-1));
            if (step == 0) first = loss.Item();
            last = loss.Item();
            opt.ZeroGrad();
            loss.Backward();
            opt.Step();
        }
        Assert.True(last < first - 0.2, $"QLoRA-style training: loss {first:F3} → {last:F3}");
        Assert.Throws<InvalidOperationException>(() => Lora.Merge(gpt));
    }

    [Fact]
    public void BadConfigurationsAreClearErrors()
    {
        var layer = new Linear(8, 4);
        Assert.Contains("rank", Assert.Throws<ArgumentException>(() => layer.AddLora(5, 8)).Message);
        layer.AddLora(2, 4);
        Assert.Throws<InvalidOperationException>(() => layer.AddLora(2, 4));
        var e = Assert.Throws<ArgumentException>(() => Lora.Apply(SmallGpt(1), new LoraConfig(TargetModules: ["q_proj"])));
        Assert.Contains("q_proj", e.Message);
    }
}
