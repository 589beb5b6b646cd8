using Ember.NN;
using Xunit;
using F = Ember.NN.Functional;

namespace Ember.Tests.NN;

/// <summary>The fused float32 attention kernel (Kernels.Attention) against the composed float64 ops: outputs and the
/// gradients of q, k and v, on strided head views (as the GPT builds them), causal limits with and without an offset,
/// an additive mask with a fully masked row, and lengths below, at and above the kernel's 32-row blocks.</summary>
public class FusedAttentionTests
{
    public static TheoryData<int, int, string, int, int> Cases()
    {
        var d = new TheoryData<int, int, string, int, int>();
        foreach (var (l, s) in new[] { (1, 1), (5, 5), (32, 32), (33, 33), (70, 70), (7, 40), (40, 7) })
            foreach (var mode in new[] { "none", "causal", "mask" })
                d.Add(l, s, mode, 8, 5);
        d.Add(6, 20, "offset", 8, 5);
        d.Add(1, 50, "offset", 8, 5);
        d.Add(70, 70, "offset0", 8, 5);
        // Head widths of 32 and 64 (the unpacked SmallGemm products), with row counts that leave 8-row tiles partial
        // and column counts that are and are not multiples of 32.
        d.Add(37, 64, "mask", 32, 64);
        d.Add(64, 64, "causal", 64, 32);
        d.Add(33, 96, "none", 32, 32);
        d.Add(45, 45, "causal", 32, 32);
        return d;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesComposedFloat64(int l, int s, string mode, int e, int ev)
    {
        if (mode == "causal" && l != s) return;   // top-left causal with L != S is covered by "offset"
        const int b = 2, h = 3;
        var g = new Generator((ulong)(l * 100 + s));
        // Head views as in the GPT: (B, T, 3·H·E)-style storage, narrowed, viewed and transposed to (B, H, T, E).
        Tensor Heads(int t, int width, double mul) => Tensor.Randn([b, t, h * width + 3], DType.Float64, g).Mul(mul)
            .Narrow(2, 1, h * width).View(b, t, h, width).Transpose(1, 2);
        var q64 = Heads(l, e, 1.5); var k64 = Heads(s, e, 1.5); var v64 = Heads(s, ev, 1);
        Tensor? mask = null;
        int past = s - l;
        if (mode == "mask")
        {
            var m = new double[l * s];
            for (int i = 0; i < l; i++)
                for (int j = 0; j < s; j++)
                    m[i * s + j] = (i == l - 1 && l > 1) ? double.NegativeInfinity : (i + 2 * j) % 5 == 0 ? double.NegativeInfinity : (i - j) * 0.1;
            mask = Tensor.FromArray(m, l, s);
        }
        else if (mode is "offset" or "offset0")
        {
            if (mode == "offset0") past = 0;
            var m = new double[l * s];
            for (int i = 0; i < l; i++)
                for (int j = past + i + 1; j < s; j++) m[i * s + j] = double.NegativeInfinity;
            mask = Tensor.FromArray(m, l, s);
        }
        var leaves64 = new[] { q64, k64, v64 }.Select(t => t.Detach().RequiresGrad_()).ToArray();
        // float32 leaves as strided views too: convert the parent and take the same view.
        var leaves32 = new[] { q64, k64, v64 }.Select(t => t.Detach().To(DType.Float32).RequiresGrad_()).ToArray();
        Tensor y64, y32;
        if (mode is "offset" or "offset0")
        {
            y64 = F.ScaledDotProductAttention(leaves64[0], leaves64[1], leaves64[2], mask);
            y32 = F.FusedAttention(leaves32[0], leaves32[1], leaves32[2], null, 1 / Math.Sqrt(e), past)!;
        }
        else
        {
            y64 = F.ScaledDotProductAttention(leaves64[0], leaves64[1], leaves64[2], mask, isCausal: mode == "causal");
            y32 = F.ScaledDotProductAttention(leaves32[0], leaves32[1], leaves32[2], mask?.To(DType.Float32), isCausal: mode == "causal");
        }
        Assert.Equal("ScaledDotProductAttentionBackward", y32.GradFn!.Name);
        var gy = Tensor.Randn(y64.Shape, DType.Float64, g);
        y64.Backward(gy);
        y32.Backward(gy.To(DType.Float32));
        Close($"{mode} L={l} S={s} output", y64, y32);
        string[] names = ["q", "k", "v"];
        for (int i = 0; i < 3; i++) Close($"{mode} L={l} S={s} d{names[i]}", leaves64[i].Grad!, leaves32[i].Grad!);
    }

    [Theory]
    [InlineData(2, 5, 2, 4)]
    [InlineData(3, 40, 4, 8)]
    [InlineData(1, 70, 1, 16)]
    [InlineData(2, 45, 2, 32)]
    [InlineData(1, 64, 1, 64)]
    public void PackedCausalSelfAttentionMatchesComposedFloat64(int b, int t, int heads, int hd)
    {
        var g = new Generator((ulong)(b * 1000 + t));
        int e = heads * hd;
        // A non-contiguous packed input (a slice of a wider tensor) to exercise the strides.
        var wide = Tensor.Randn([b, t, 3 * e + 2], DType.Float64, g).Mul(1.5);
        var qkv64 = wide.Narrow(2, 1, 3 * e).Detach().RequiresGrad_();
        var qkv32 = wide.To(DType.Float32).Narrow(2, 1, 3 * e).Detach().RequiresGrad_();
        Tensor Heads(Tensor x, int i) => x.Narrow(2, i * e, e).View(b, t, heads, hd).Transpose(1, 2);
        var y64 = F.ScaledDotProductAttention(Heads(qkv64, 0), Heads(qkv64, 1), Heads(qkv64, 2), isCausal: true).Transpose(1, 2).Reshape(b, t, e);
        var y32 = F.PackedCausalSelfAttention(qkv32, heads)!;
        Assert.Equal(y64.Shape, y32.Shape);
        var gy = Tensor.Randn([b, t, e], DType.Float64, g);
        y64.Backward(gy);
        y32.Backward(gy.To(DType.Float32).Transpose(0, 1).Contiguous().Transpose(0, 1));   // a strided incoming gradient
        Close($"packed b={b} t={t} output", y64, y32);
        Close($"packed b={b} t={t} dqkv", qkv64.Grad!, qkv32.Grad!);
    }

    /// <summary>Key-padding masks (N, 1, 1, S) alone and added to an (L, S) mask, as MultiheadAttention builds them,
    /// including a sequence padded everywhere (its rows attend to nothing: zero output, zero gradients).</summary>
    [Theory]
    [InlineData(12, false)]
    [InlineData(40, true)]
    [InlineData(33, false)]
    public void KeyPaddingMasksRunFusedAndMatchComposedFloat64(int t, bool withAttnMask)
    {
        const int b = 3, h = 2, e = 8;
        var g = new Generator((ulong)t);
        var q64 = Tensor.Randn([b, h, t, e], DType.Float64, g).Mul(1.5);
        var k64 = Tensor.Randn([b, h, t, e], DType.Float64, g).Mul(1.5);
        var v64 = Tensor.Randn([b, h, t, e], DType.Float64, g);
        var pad = new double[b * t];
        int[] lengths = [t, t / 2, 0];
        for (int n = 0; n < b; n++)
            for (int j = lengths[n]; j < t; j++) pad[n * t + j] = double.NegativeInfinity;
        var mask = Tensor.FromArray(pad, b, 1, 1, t);
        if (withAttnMask) mask = mask.Add(F.CausalMask(t, t, DType.Float64));
        var leaves64 = new[] { q64, k64, v64 }.Select(x => x.Detach().RequiresGrad_()).ToArray();
        var leaves32 = new[] { q64, k64, v64 }.Select(x => x.Detach().To(DType.Float32).RequiresGrad_()).ToArray();
        var y64 = F.ScaledDotProductAttention(leaves64[0], leaves64[1], leaves64[2], mask);
        var y32 = F.ScaledDotProductAttention(leaves32[0], leaves32[1], leaves32[2], mask.To(DType.Float32));
        Assert.Equal("ScaledDotProductAttentionBackward", y32.GradFn!.Name);   // the fused kernel ran
        var gy = Tensor.Randn(y64.Shape, DType.Float64, g);
        y64.Backward(gy);
        y32.Backward(gy.To(DType.Float32));
        Close($"padding T={t} output", y64, y32);
        string[] names = ["q", "k", "v"];
        for (int i = 0; i < 3; i++) Close($"padding T={t} d{names[i]}", leaves64[i].Grad!, leaves32[i].Grad!);
        Assert.Equal(0.0, y32.Select(0, 2).Abs().Max().Item());   // the all-padding sequence
    }

    [Fact]
    public void GptUsesTheFusedKernelAndMatchesTheComposedPath()
    {
        var g = new Generator(4);
        var cfg = new Ember.Models.GptConfig(20, 16, 2, 2, 16);
        var model = new Ember.Models.Gpt(cfg, g);
        var x = Tensor.RandInt(0, 20, [3, 16], g);
        var fused = model.Call(x).ToArrayDouble();
        var captured = new List<Tensor>();
        foreach (var (_, blk) in model.NamedModules()) if (blk is Ember.Models.CausalSelfAttention a) a.Capture = captured;   // composed path
        var composed = model.Call(x).ToArrayDouble();
        Assert.Equal(2, captured.Count);
        for (int i = 0; i < fused.Length; i++)
            Assert.True(Math.Abs(fused[i] - composed[i]) <= 1e-5 * (1 + Math.Abs(composed[i])), $"logit {i}: fused {fused[i]}, composed {composed[i]}");
    }

    [Fact]
    public void SecondOrderGradientThroughTheFusedKernelIsRefusedClearly()
    {
        var g = new Generator(2);
        var q = Tensor.Randn([1, 4, 3], DType.Float32, g).RequiresGrad_();
        var y = F.ScaledDotProductAttention(q, q, q, isCausal: true).Sum();
        var ex = Assert.Throws<NotSupportedException>(() => y.Backward(createGraph: true));
        Assert.Contains("ScaledDotProductAttention", ex.Message);
    }

    private static void Close(string what, Tensor expected, Tensor actual)
    {
        var e = expected.Contiguous().ToArrayDouble();
        var a = actual.Contiguous().ToArrayDouble();
        Assert.Equal(e.Length, a.Length);
        for (int i = 0; i < e.Length; i++)
            if (!(Math.Abs(e[i] - a[i]) <= 2e-5 * (1 + Math.Abs(e[i]))))
                Assert.Fail($"{what}: element {i} = {a[i]}, expected {e[i]}");
    }
}

/// <summary>nn.MultiheadAttention's self-attention through one packed projection and the packed kernel equals the
/// per-head path (query, key and value passed as distinct tensors), forward and backward, causal or not.</summary>
public class PackedMultiheadAttentionTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void PackedSelfAttentionEqualsTheHeadPath(bool causal)
    {
        var mha = new Ember.NN.MultiheadAttention(24, 3, batchFirst: true, generator: new Generator(4));
        var x = Tensor.Randn([2, 7, 24], DType.Float32, new Generator(5));
        var g = Tensor.Randn([2, 7, 24], DType.Float32, new Generator(6));
        (double[] Y, double[] Gx, double[] Gw) Run(bool packed)
        {
            foreach (var p in mha.Parameters()) p.Grad = null;
            var xi = x.Clone();
            xi.RequiresGrad = true;
            var (y, _) = packed ? mha.Attend(xi, xi, xi, needWeights: false, isCausal: causal)
                : mha.Attend(xi, xi.View(2, 7, 24), xi.View(2, 7, 24), needWeights: false, isCausal: causal);   // distinct tensors: the head path
            y.Backward(g);
            return (y.ToArrayDouble(), xi.Grad!.ToArrayDouble(), mha.InProjWeight!.Grad!.ToArrayDouble());
        }
        var a = Run(true);
        var b = Run(false);
        TorchReference.Close(b.Y, a.Y, 1e-5, "output");
        TorchReference.Close(b.Gx, a.Gx, 1e-4, "grad x");
        TorchReference.Close(b.Gw, a.Gw, 1e-4, "grad in_proj_weight");
    }
}
