using Ember;
using Ember.Wireless;
using Xunit;
using NComplex = System.Numerics.Complex;

namespace Ember.Tests.Wireless;

public class WirelessTests
{
    [Fact]
    public void ChannelsAreNormalizedSeededAndBuiltFromTheirPaths()
    {
        var cfg = ChannelConfig.Yu144x36;
        var a = ChannelGenerator.Draw(cfg, 300, 7);
        var b = ChannelGenerator.Draw(cfg, 300, 7);
        Assert.Equal(a[5].H.Data, b[5].H.Data);
        Assert.NotEqual(a[5].H.Data, a[6].H.Data);
        // E‖H‖²_F = Nt·Nr for unit-norm responses and CN(0, 1) gains.
        double mean = a.Average(c => Math.Pow(c.H.FrobeniusNorm(), 2));
        Assert.InRange(mean / (144 * 36), 0.9, 1.1);
        var ch = a[0];
        Assert.Equal((36, 144), (ch.H.Rows, ch.H.Cols));
        Assert.Equal((144, 50), (ch.At.Rows, ch.At.Cols));
        for (int l = 0; l < 50; l++)
        {
            Assert.Equal(1.0, ch.At.ColumnRange(l, 1).FrobeniusNorm(), 12);
            Assert.Equal(1 / 12.0, ch.At[17, l].Magnitude, 12);   // unit modulus up to 1/√Nt
        }
        // H = γ Σ α a_r a_tᴴ.
        var rebuilt = new CMat(36, 144);
        double gamma = Math.Sqrt(144.0 * 36 / 50);
        for (int l = 0; l < 50; l++) rebuilt = rebuilt + (gamma * ch.Gains[l]) * (ch.Ar.ColumnRange(l, 1) * ch.At.ColumnRange(l, 1).H());
        Assert.True((rebuilt - ch.H).FrobeniusNorm() < 1e-9);
    }

    /// <summary>The check against El Ayach et al. 2014, Fig. 3 (64×16, Ns = 2, N_RF = 4): optimal 14.74 and OMP
    /// 13.96 bit/s/Hz at 0 dB, 2.89 and 2.47 at −20 dB, each within ±0.3 over 500 channels.</summary>
    [Fact]
    public void ElAyachFigure3ValuesAreReproduced()
    {
        var data = BeamformingDataset.Generate(ChannelConfig.ElAyach64x16, 500, 2, seed: 2014);
        var curves = BaselineEvaluation.Evaluate(data, [-20, 0], nrf: 4);
        var opt = curves.Single(c => c.Name.StartsWith("Optimal"));
        var omp = curves.Single(c => c.Name == "OMP");
        var steer = curves.Single(c => c.Name == "Beam steering");
        Assert.InRange(opt.Mean[1], 14.74 - 0.3, 14.74 + 0.3);
        Assert.InRange(omp.Mean[1], 13.96 - 0.3, 13.96 + 0.3);
        Assert.InRange(opt.Mean[0], 2.89 - 0.3, 2.89 + 0.3);
        Assert.InRange(omp.Mean[0], 2.47 - 0.3, 2.47 + 0.3);
        Assert.True(steer.Mean[1] < omp.Mean[1] && omp.Mean[1] < opt.Mean[1]);
    }

    /// <summary>Without path dictionaries (a user's H-only file), OMP and beam steering fall back to oversampled UPA
    /// codebooks: still feasible, between beam steering... and the optimum, and close to OMP with the true paths.</summary>
    [Fact]
    public void OmpFallsBackToCodebooksWithoutPathDictionaries()
    {
        var data = BeamformingDataset.Generate(ChannelConfig.ElAyach64x16, 60, 2, seed: 4);
        var bare = new BeamformingDataset(data.H, data.Fopt, data.Wopt);
        var withPaths = BaselineEvaluation.Evaluate(data, [-10, 0], 4);
        var codebook = BaselineEvaluation.Evaluate(bare, [-10, 0], 4);
        for (int s = 0; s < 2; s++)
        {
            double opt = codebook[0].Mean[s], omp = codebook[1].Mean[s], steer = codebook[2].Mean[s];
            Assert.Equal(withPaths[0].Mean[s], opt, 12);
            Assert.True(omp <= opt && omp > 0.85 * withPaths[1].Mean[s], $"codebook OMP {omp} vs path OMP {withPaths[1].Mean[s]}");
            Assert.True(steer < omp, $"beam steering {steer} vs OMP {omp}");
        }
    }

    [Fact]
    public void OmpIsHybridFeasibleAndNeverBeatsTheOptimum()
    {
        var ch = ChannelGenerator.Draw(ChannelConfig.Yu144x36, new Generator(3));
        var (fopt, wopt) = Beamforming.Optimal(ch.H, 2);
        var eye = CMat.Identity(2);
        Assert.True((fopt.H() * fopt - eye).FrobeniusNorm() < 1e-12);
        Assert.True((wopt.H() * wopt - eye).FrobeniusNorm() < 1e-12);
        var (frf, fbb) = Beamforming.OmpPrecoder(fopt, ch.At, 4);
        Assert.Equal((144, 4, 4, 2), (frf.Rows, frf.Cols, fbb.Rows, fbb.Cols));
        Assert.All(frf.Data, z => Assert.Equal(1 / 12.0, z.Magnitude, 12));
        Assert.Equal(2.0, Math.Pow((frf * fbb).FrobeniusNorm(), 2), 10);
        foreach (double snrDb in new[] { -30.0, -10, 0, 5 })
        {
            double snr = Math.Pow(10, snrDb / 10);
            var (wrf, wbb) = Beamforming.OmpCombiner(ch.H, frf * fbb, ch.Ar, 4, snr);
            Assert.All(wrf.Data, z => Assert.Equal(1 / 6.0, z.Magnitude, 12));
            double ro = Beamforming.SpectralEfficiency(ch.H, fopt, wopt, snr);
            double rh = Beamforming.SpectralEfficiency(ch.H, frf * fbb, wrf * wbb, snr);
            Assert.True(rh <= ro + 1e-9 && rh > 0.5 * ro, $"{snrDb} dB: OMP {rh} vs optimal {ro}");
        }
        Assert.Throws<ArgumentException>(() => Beamforming.OmpPrecoder(fopt, ch.At, 1));
    }

    [Fact]
    public void TensorSpectralEfficiencyMatchesAndIsDifferentiable()
    {
        var data = BeamformingDataset.Generate(ChannelConfig.Yu144x36, 3, 2, seed: 5);
        var se = Beamforming.SpectralEfficiency(data.H, data.Fopt, data.Wopt, 10).ToArrayDouble();
        for (int i = 0; i < 3; i++)
            Assert.Equal(Beamforming.SpectralEfficiency(data.Channel(i), CMat.FromTensor(data.Fopt.Select(0, i)), CMat.FromTensor(data.Wopt.Select(0, i)), 10), se[i], 9);
        // The SVD optimum is a stationary point of the rate in F (for W = Wopt): the gradient vanishes up to the phase and
        // power directions; at a random F it does not. Check the gradient itself against finite differences.
        var small = ChannelGenerator.Draw(ChannelConfig.ElAyach64x16 with { Tx = new ArrayGeometry(2, 2), Rx = new ArrayGeometry(2, 1) }, new Generator(1));
        var h = small.H.ToTensor().Unsqueeze(0);
        GradCheck.CheckComplex(x => Beamforming.SpectralEfficiency(h, x[0], x[1], 3.0),
            [Tensor.Randn([1, 4, 2], DType.Complex128, new Generator(2)), Tensor.Randn([1, 2, 2], DType.Complex128, new Generator(3))]);
    }

    [Fact]
    public void DatasetsRoundTripThroughTheThesisMatLayout()
    {
        var dir = Directory.CreateTempSubdirectory("ember-bf").FullName;
        var data = BeamformingDataset.Generate(ChannelConfig.Yu144x36, 4, 2, seed: 9);
        var path = Path.Combine(dir, "train.mat");
        data.Save(path);
        var infos = Ember.IO.MatFile.List(path).ToDictionary(v => v.Name);
        Assert.Equal(new[] { 36, 144, 4 }, infos["H"].Dims);
        Assert.Equal(new[] { 144, 2, 4 }, infos["Fopt"].Dims);
        Assert.Equal(new[] { 36, 2, 4 }, infos["Wopt"].Dims);
        var back = BeamformingDataset.Load(path);
        Assert.Equal(data.H.ToComplexArray(), back.H.ToComplexArray());
        Assert.Equal(data.Fopt.ToComplexArray(), back.Fopt.ToComplexArray());
        Assert.NotNull(back.At);

        // A file with H only (the SciPy fixture's 3x4x2 'H'): Fopt/Wopt come from the SVD.
        var fixture = BeamformingDataset.Load(Path.Combine(AppContext.BaseDirectory, "Fixtures", "io", "scipy_v7.mat"), ns: 1);
        Assert.Equal(new[] { 2, 3, 4 }, fixture.H.Shape);
        Assert.Equal(new[] { 2, 4, 1 }, fixture.Fopt.Shape);
        var noH = Path.Combine(dir, "noh.mat");
        Ember.IO.MatFile.Save(noH, new Dictionary<string, Tensor> { ["X"] = Tensor.Ones(2, 2) });
        var e = Assert.Throws<ArgumentException>(() => BeamformingDataset.Load(noH));
        Assert.Contains("thesis layout", e.Message);
        Assert.Contains("X: 2x2 single", e.Message);
    }
}
