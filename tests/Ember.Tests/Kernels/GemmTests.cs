using Ember;
using Ember.Kernels;
using Xunit;

namespace Ember.Tests.Kernels;

/// <summary>The packed GEMM against the reference triple loop, over sizes with odd tails on every micro-kernel
/// path this machine supports (and, via <see cref="WidthPathTests"/>, in processes with AVX-512/AVX2 disabled).</summary>
public class GemmTests
{
    public static TheoryData<string> Paths()
    {
        var d = new TheoryData<string>();
        var best = Gemm.DetectPath();
        foreach (var p in new[] { GemmPath.Scalar, GemmPath.Vector128, GemmPath.Avx2, GemmPath.Avx512 })
            if (p <= best) d.Add(p.ToString());
        return d;
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void MatchesReferenceOnOddSizes(string path) => KernelChecks.Gemm(Enum.Parse<GemmPath>(path), quick: false);

    /// <summary>A weight-gradient product gᵀ·x can return Σ_rows g (the bias gradient) summed while gᵀ is packed: equal
    /// bit for bit to <c>g.Sum(0)</c> (both add the rows in order from zero), with one or two threads, across k slices,
    /// and over a Linear layer's backward; where the product is split along k (k = 4096 here), to the sums of the
    /// chunks' rows added in chunk order. Refused (clear error) where the packing path cannot sum rows.</summary>
    [Theory]
    [InlineData(8, 16, 5)]
    [InlineData(64, 100, 300)]
    [InlineData(128, 128, 4096)]
    [InlineData(136, 48, 777)]
    public unsafe void RowSumsWhilePackingEqualTheColumnSumOfG(int m, int n, int k)
    {
        var rng = new Generator(13);
        var g = Tensor.Randn([k, m], DType.Float32, rng);   // A = gᵀ: unit row stride
        var x = Tensor.Randn([k, n], DType.Float32, rng);
        var want = g.Sum(0).ToArray<float>();
        if (Gemm.KSplitApplies(m, n, k))
        {
            int depth = Gemm.KSplitDepth(k);
            want = g.Narrow(0, 0, depth).Sum(0).ToArray<float>();
            for (int p0 = depth; p0 < k; p0 += depth)
            {
                var part = g.Narrow(0, p0, Math.Min(depth, k - p0)).Sum(0).ToArray<float>();
                for (int i = 0; i < m; i++) want[i] += part[i];
            }
        }
        {
            foreach (int threads in new[] { 1, 2 })
            {
                using var scope = EmberSettings.Scope(EmberSettings.Current with { NumThreads = threads });
                if (!Gemm.CanSumRows(m, n, k, 1)) return;   // no 8-row AVX path on this machine
                var c = new float[m * n];
                var sums = new float[m];
                fixed (float* pg = g.Data<float>(), px = x.Data<float>(), pc = c, ps = sums)
                    Gemm.Sgemm(m, n, k, pg, 1, m, px, n, 1, pc, n, accumulate: false, rowSums: ps);
                Assert.Equal(want, sums);
                var product = g.T.Matmul(x).ToArray<float>();
                Assert.Equal(product, c);   // the product itself is unchanged
            }
        }
        var bad = new float[4];
        Assert.Throws<ArgumentException>(() =>
        {
            fixed (float* pg = g.Data<float>(), px = x.Data<float>(), ps = bad)
                Gemm.Sgemm(4, n, k, pg, 1, m, px, n, 1, (float*)null, n, accumulate: false, rowSums: ps);
        });
    }

    [Fact]
    public void LinearBiasGradientEqualsTheColumnSumOfItsOutputGradient()
    {
        var rng = new Generator(17);
        var lin = new Ember.NN.Linear(96, 64, generator: rng);
        var x = Tensor.Randn([300, 96], DType.Float32, rng);
        var gy = Tensor.Randn([300, 64], DType.Float32, rng);
        lin.Call(x).Backward(gy);
        Assert.Equal(gy.Sum(0).ToArray<float>(), lin.Bias!.Grad!.ToArray<float>());
    }

    /// <summary>A tall product with a small B packs B once for both threads and hands out row chunks: bit for bit what
    /// one thread computes, and what two threads each packing B compute, over edge panels (n not a multiple of the
    /// panel width, m not a multiple of the chunk), several depth blocks, a transposed B, bias rows, accumulation and
    /// row sums.</summary>
    [Theory]
    [InlineData(1000, 100, 300, false, false, false)]
    [InlineData(4096, 384, 128, true, false, false)]
    [InlineData(777, 65, 513, false, true, false)]
    [InlineData(1024, 130, 200, false, false, true)]
    [InlineData(4096, 128, 512, true, false, true)]
    public unsafe void SharedPackedBMatchesPerThreadPacking(int m, int n, int k, bool transposedB, bool accumulate, bool withBias)
    {
        var path = Gemm.DetectPath();
        Assert.True(Gemm.SharedBApplies(path, m, n, k, 2), $"the shape {m}x{n}x{k} should take the shared-B path");
        var rng = new Generator(21);
        var a = Tensor.Randn([m, k], DType.Float32, rng).ToArray<float>();
        var b = Tensor.Randn([k, n], DType.Float32, rng).ToArray<float>();
        var bt = new float[n * k];
        for (int p = 0; p < k; p++) for (int j = 0; j < n; j++) bt[j * k + p] = b[p * n + j];
        var bias = Tensor.Randn([n], DType.Float32, rng).ToArray<float>();
        var start = Tensor.Randn([m, n], DType.Float32, rng).ToArray<float>();
        bool sums = Gemm.CanSumRows(m, n, k, 1) && !withBias;
        var at = new float[k * m];   // A with unit row stride for the row sums
        for (int i = 0; i < m; i++) for (int p = 0; p < k; p++) at[p * m + i] = a[i * k + p];

        (float[] C, float[] Sums) Run(int threads, bool shared)
        {
            using (EmberSettings.Scope(EmberSettings.Current with { NumThreads = threads, GemmSharedB = shared }))
            {
                var c = (float[])start.Clone();
                var rowSums = new float[m];
                fixed (float* pa = a, pat = at, pb = b, pbt = bt, pc = c, pbias = bias, ps = rowSums)
                {
                    float* bb = transposedB ? pbt : pb;
                    int rsb = transposedB ? 1 : n, csb = transposedB ? k : 1;
                    if (sums) Gemm.Sgemm(m, n, k, pat, 1, m, bb, rsb, csb, pc, n, accumulate, rowSums: ps);
                    else Gemm.Sgemm(m, n, k, pa, k, 1, bb, rsb, csb, pc, n, accumulate, bias: withBias ? pbias : null);
                }
                return (c, rowSums);
            }
        }

        var (one, oneSums) = Run(1, true);
        var (shared, sharedSums) = Run(2, true);
        var (own, ownSums) = Run(2, false);
        Assert.Equal(one, shared);
        Assert.Equal(own, shared);
        Assert.Equal(oneSums, sharedSums);
        Assert.Equal(ownSums, sharedSums);
        // and it is the product: spot-check rows against float64
        foreach (int i in new[] { 0, m / 2, m - 1 })
            for (int j = 0; j < n; j += Math.Max(1, n / 7))
            {
                double want = (accumulate ? start[i * n + j] : 0) + (withBias && !sums ? bias[j] : 0);
                for (int p = 0; p < k; p++) want += (double)a[i * k + p] * b[p * n + j];
                Assert.True(Math.Abs(shared[i * n + j] - want) <= 1e-4 * Math.Sqrt(k) * 4, $"C[{i},{j}] = {shared[i * n + j]}, float64 {want}");
            }
    }

    /// <summary>A weight-gradient shape (k ≥ 8·max(m, n)) is computed as a sum over depth chunks: the same bits on one
    /// and two threads, within float32 rounding of float64, with accumulation, a bias row, a transposed operand and a
    /// depth that is not a multiple of the chunk. (The split is not switched off here: the switch is global, and other
    /// tests running meanwhile compare results bit for bit.)</summary>
    [Theory]
    [InlineData(128, 128, 4096, false, false)]
    [InlineData(65, 128, 4096, true, false)]
    [InlineData(24, 40, 3000, false, true)]
    public unsafe void DepthSplitMatchesTheUnsplitProduct(int m, int n, int k, bool accumulate, bool withBias)
    {
        Assert.True(Gemm.KSplitApplies(m, n, k));
        var rng = new Generator(23);
        var at = Tensor.Randn([k, m], DType.Float32, rng).ToArray<float>();   // A = atᵀ, as gᵀ in a weight gradient
        var b = Tensor.Randn([k, n], DType.Float32, rng).ToArray<float>();
        var bias = Tensor.Randn([n], DType.Float32, rng).ToArray<float>();
        var start = Tensor.Randn([m, n], DType.Float32, rng).ToArray<float>();
        float[] Run(int threads)
        {
            using (EmberSettings.Scope(EmberSettings.Current with { NumThreads = threads }))
            {
                var c = (float[])start.Clone();
                fixed (float* pa = at, pb = b, pc = c, pbias = bias)
                    Gemm.Sgemm(m, n, k, pa, 1, m, pb, n, 1, pc, n, accumulate, bias: withBias ? pbias : null);
                return c;
            }
        }
        var one = Run(1);
        var two = Run(2);
        Assert.Equal(one, two);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double want = (accumulate ? start[i * n + j] : 0) + (withBias ? bias[j] : 0);
                for (int p = 0; p < k; p++) want += (double)at[p * m + i] * b[p * n + j];
                float got = two[i * n + j];
                Assert.True(Math.Abs(got - want) <= 2e-5 * Math.Sqrt(k) * 4, $"C[{i},{j}] = {got}, float64 {want}");
            }
    }

    [Fact]
    public void ThreadCountDoesNotChangeResults()
    {
        var a = Tensor.Randn([300, 257], DType.Float32, new Generator(3));
        var b = Tensor.Randn([257, 301], DType.Float32, new Generator(4));
        float[] Product(int threads)
        {
            using var scope = EmberSettings.Scope(EmberSettings.Current with { NumThreads = threads });
            Assert.Equal(threads, Parallelism.NumThreads);
            return a.Matmul(b).ToArray<float>();
        }
        Assert.Equal(Product(1), Product(2));
        Assert.Throws<ArgumentOutOfRangeException>(() => Parallelism.NumThreads = 0);
        Assert.Throws<ArgumentOutOfRangeException>(() => EmberSettings.Current with { NumThreads = 0 });
    }
}

public class ElementwiseKernelTests
{
    [Fact]
    public void ElementwiseAndReductionsMatchScalarReference() => KernelChecks.Elementwise();

    [Fact]
    public void ConvolutionAndMaxPoolFloat32MatchFloat64() => KernelChecks.Vision();

    [Fact]
    public void LinearWithFewRowsMatchesFloat64() => KernelChecks.LinearFewRows();

    [Fact]
    public void Float32ErfAndGeluMatchFloat64() => KernelChecks.ErfAndGelu();

    [Fact]
    public unsafe void Transpose4x4MovesRowsToColumns()
    {
        var src = new float[4 * 7];
        for (int i = 0; i < src.Length; i++) src[i] = i + 1;
        var dst = new float[4 * 5];
        fixed (float* ps = src, pd = dst) Gemm.Transpose4x4(ps + 2, 7, pd + 1, 5);   // strided rows on both sides
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 4; c++)
                Assert.Equal(src[c * 7 + 2 + r], dst[r * 5 + 1 + c]);
        Assert.Equal(0, dst[0]);                                                     // nothing outside the block written
        Assert.Equal(0, dst[5]);
    }

    [Fact]
    public void ExpTanhSigmoidWithinTwoUlpAndSoftmaxMatchesFloat64() => KernelChecks.Transcendentals();
}

/// <summary>Re-runs the kernel checks in child processes with wider instruction sets switched off
/// (ImageSharp's FeatureTestRunner idea), so the AVX2 and portable paths run on an AVX-512 machine.</summary>
public class WidthPathTests
{
    [Theory]
    [InlineData("DOTNET_EnableAVX512F", "Avx2")]
    [InlineData("DOTNET_EnableAVX2", "Vector128")]
    [InlineData("DOTNET_EnableAVX", "Vector128")]
    [InlineData("DOTNET_EnableHWIntrinsic", "Scalar")]
    public void KernelChecksPassWithInstructionSetDisabled(string variable, string expectedPath)
    {
        if (expectedPath == "Avx2" && Gemm.DetectPath() < GemmPath.Avx2) return;   // nothing wider to disable here
        var dll = typeof(WidthPathTests).Assembly.Location;
        var psi = new System.Diagnostics.ProcessStartInfo("dotnet", $"exec \"{dll}\" kernel-checks")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        psi.Environment[variable] = "0";
        // .NET 10 reads DOTNET_EnableAVX512 (it folded the AVX512F/BW/CD/DQ/VL knobs into one); set both names.
        if (variable == "DOTNET_EnableAVX512F") psi.Environment["DOTNET_EnableAVX512"] = "0";
        using var p = System.Diagnostics.Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"kernel checks failed with {variable}=0:\n{output}");
        Assert.Contains($"path={expectedPath}", output);
        Assert.Contains("kernel checks: ok", output);
    }
}
