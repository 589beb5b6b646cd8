using NComplex = System.Numerics.Complex;

namespace Ember.Wireless;

/// <summary>A hybrid precoder F = F_RF·F_BB and combiner W = W_RF·W_BB (analog parts have unit-modulus entries up to the
/// 1/√N of the array responses; the precoder satisfies ‖F_RF F_BB‖²_F = Ns).</summary>
public sealed record HybridBeamformer(CMat Frf, CMat Fbb, CMat Wrf, CMat Wbb)
{
    public CMat F => Frf * Fbb;
    public CMat W => Wrf * Wbb;
}

/// <summary>
/// The classical baselines of hybrid beamforming: the unconstrained SVD optimum, spatially sparse precoding and combining
/// by orthogonal matching pursuit (El Ayach et al., IEEE TWC 2014, Algorithms 1 and 2), beam steering, and the spectral
/// efficiency of eq. (3).
/// </summary>
public static class Beamforming
{
    /// <summary>The optimal unconstrained precoder and combiner: the first <paramref name="ns"/> right and left singular
    /// vectors of H (Fopt = V₁, Wopt = U₁).</summary>
    public static (CMat Fopt, CMat Wopt) Optimal(CMat h, int ns)
    {
        CheckStreams(ns, h);
        var (u, _, vh) = Linalg.Svd(h.ToTensor());
        var fopt = CMat.FromTensor(vh.Narrow(0, 0, ns).MH.Contiguous());
        var wopt = CMat.FromTensor(u.Narrow(1, 0, ns).Contiguous());
        return (fopt, wopt);
    }

    /// <summary>Fopt [N, Nt, Ns] and Wopt [N, Nr, Ns] for a batch H [N, Nr, Nt] (complex), in parallel.</summary>
    public static (Tensor Fopt, Tensor Wopt) Optimal(Tensor h, int ns)
    {
        if (h.Dim != 3 || !h.IsComplex) throw new ArgumentException($"Beamforming.Optimal: expects complex channels [N, Nr, Nt], got {h.DType.Name()} [{string.Join(", ", h.Shape)}].");
        if (ns < 1 || ns > Math.Min(h.Size(1), h.Size(2))) throw new ArgumentException($"Beamforming.Optimal: Ns = {ns} streams do not fit a {h.Size(1)}x{h.Size(2)} channel.");
        var (u, _, vh) = Linalg.Svd(h.Detach());
        return (vh.Narrow(1, 0, ns).MH.Contiguous(), u.Narrow(2, 0, ns).Contiguous());
    }

    private static void CheckStreams(int ns, CMat h)
    {
        if (ns < 1 || ns > Math.Min(h.Rows, h.Cols))
            throw new ArgumentException($"Beamforming: Ns = {ns} streams do not fit a {h.Rows}x{h.Cols} channel.");
    }

    /// <summary>Spatially sparse precoding (El Ayach Algorithm 1): greedily picks <paramref name="nrf"/> columns of the
    /// dictionary <paramref name="at"/> (the channel's array responses) most correlated with the residual, solves the
    /// least-squares baseband precoder, and scales it so ‖F_RF F_BB‖²_F = Ns.</summary>
    public static (CMat Frf, CMat Fbb) OmpPrecoder(CMat fopt, CMat at, int nrf)
    {
        int ns = fopt.Cols;
        if (nrf < ns) throw new ArgumentException($"OmpPrecoder: N_RF = {nrf} RF chains cannot carry Ns = {ns} streams.");
        if (at.Rows != fopt.Rows) throw new ArgumentException($"OmpPrecoder: dictionary has {at.Rows} rows, Fopt {fopt.Rows}.");
        var (frf, fbb) = Pursue(fopt, at, nrf, metric: null);
        double norm = (frf * fbb).FrobeniusNorm();
        return (frf, (Math.Sqrt(ns) / norm) * fbb);
    }

    /// <summary>Hybrid combining by MMSE-guided matching pursuit (El Ayach Algorithm 2): approximates the MMSE combiner
    /// for the given precoder F at linear SNR ρ (noise power 1) in the metric of E[yyᴴ] = (ρ/Ns)HFFᴴHᴴ + I.</summary>
    public static (CMat Wrf, CMat Wbb) OmpCombiner(CMat h, CMat f, CMat ar, int nrf, double snr)
    {
        int ns = f.Cols, nr = h.Rows;
        if (nrf < ns) throw new ArgumentException($"OmpCombiner: N_RF = {nrf} RF chains cannot carry Ns = {ns} streams.");
        var hf = h * f;
        var eyy = (new NComplex(snr / ns, 0) * (hf * hf.H())) + CMat.Identity(nr);
        // W_MMSEᴴ = (1/√ρ)(FᴴHᴴHF + (Ns/ρ)I)⁻¹FᴴHᴴ, so W_MMSE = (1/√ρ)·HF·(FᴴHᴴHF + (Ns/ρ)I)⁻ᴴ (the inner matrix is Hermitian).
        var gram = hf.H() * hf + (new NComplex(ns / snr, 0) * CMat.Identity(ns));
        var wmmse = new NComplex(1 / Math.Sqrt(snr), 0) * CMat.Solve(gram, hf.H()).H();
        return Pursue(wmmse, ar, nrf, eyy);
    }

    /// <summary>Combining by plain matching pursuit on Wopt (the variant of Yu et al.'s reference code).</summary>
    public static (CMat Wrf, CMat Wbb) OmpCombinerSvd(CMat wopt, CMat ar, int nrf) => Pursue(wopt, ar, nrf, metric: null);

    /// <summary>Orthogonal matching pursuit of <paramref name="target"/> over dictionary columns, in the inner product
    /// ⟨x, y⟩ = xᴴ·M·y (M = I when null).</summary>
    private static (CMat Rf, CMat Bb) Pursue(CMat target, CMat dict, int nrf, CMat? metric)
    {
        var chosen = new List<int>();
        var res = target;
        CMat rf = new(dict.Rows, 0), bb = new(0, target.Cols);
        var dictH = dict.H();
        var mTarget = metric is null ? target : metric * target;
        for (int i = 0; i < nrf; i++)
        {
            var psi = dictH * (metric is null ? res : metric * res);   // L × Ns correlations
            int best = -1;
            double bestScore = -1;
            for (int l = 0; l < psi.Rows; l++)
            {
                double s = 0;
                for (int c = 0; c < psi.Cols; c++)
                {
                    double m = psi[l, c].Magnitude;
                    s += m * m;
                }
                if (s > bestScore) { bestScore = s; best = l; }
            }
            chosen.Add(best);
            rf = dict.Columns(chosen);
            var rfH = rf.H();
            var lhs = metric is null ? rfH * rf : rfH * metric * rf;
            bb = CMat.Solve(lhs, rfH * mTarget);
            var diff = target - rf * bb;
            double n = diff.FrobeniusNorm();
            if (n < 1e-14) break;
            res = new NComplex(1 / n, 0) * diff;
        }
        return (rf, bb);
    }

    /// <summary>Beam steering: F and W are the transmit and receive array responses of the <paramref name="ns"/> strongest
    /// paths (largest |α|), so ‖F‖²_F = Ns.</summary>
    public static (CMat F, CMat W) BeamSteering(ChannelRealization ch, int ns)
    {
        var order = Enumerable.Range(0, ch.Gains.Length).OrderByDescending(p => ch.Gains[p].Magnitude).Take(ns).ToArray();
        return (ch.At.Columns(order), ch.Ar.Columns(order));
    }

    /// <summary>Spectral efficiency in bit/s/Hz (El Ayach eq. 3) with noise power 1 and total transmit power ρ = SNR:
    /// log₂ det(I + (ρ/Ns) R_n⁻¹ WᴴHFFᴴHᴴW), R_n = WᴴW.</summary>
    public static double SpectralEfficiency(CMat h, CMat f, CMat w, double snr)
    {
        int ns = f.Cols;
        var m = w.H() * h * f;
        var rn = w.H() * w;
        var a = rn + (new NComplex(snr / ns, 0) * (m * m.H()));
        return CMat.Log2DetHpd(a) - CMat.Log2DetHpd(rn);
    }

    /// <summary>Differentiable batched spectral efficiency [B] (bit/s/Hz) for H [B, Nr, Nt], F [B, Nt, Ns] and
    /// W [B, Nr, Ns] (complex): log₂ det(R_n + (ρ/Ns)MMᴴ) − log₂ det R_n with M = WᴴHF, R_n = WᴴW. Its negative mean is
    /// the unsupervised rate loss.</summary>
    public static Tensor SpectralEfficiency(Tensor h, Tensor f, Tensor w, double snr)
    {
        if (h.Dim != 3 || f.Dim != 3 || w.Dim != 3 || f.Size(1) != h.Size(2) || w.Size(1) != h.Size(1) || f.Size(2) != w.Size(2))
            throw new ArgumentException($"SpectralEfficiency: expects H [B, Nr, Nt], F [B, Nt, Ns], W [B, Nr, Ns]; got [{string.Join(", ", h.Shape)}], [{string.Join(", ", f.Shape)}], [{string.Join(", ", w.Shape)}].");
        int ns = f.Size(2);
        var wh = w.MH;
        var m = wh.Matmul(h).Matmul(f);
        var rn = wh.Matmul(w);
        var a = rn.Add(m.Matmul(m.MH).Mul(snr / ns));
        return Linalg.LogDet(a).Sub(Linalg.LogDet(rn)).Real().Mul(1 / Math.Log(2));
    }
}
