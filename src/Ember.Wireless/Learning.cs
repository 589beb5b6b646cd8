using Ember.Models;
using Ember.NN;
using NComplex = System.Numerics.Complex;

namespace Ember.Wireless;

/// <summary>What a learned beamformer sees of the channel.</summary>
public enum ChannelInput
{
    /// <summary>|H| in the antenna domain (the thesis' first variant).</summary>
    AntennaAbs,
    /// <summary>[Re H, Im H, |H|] in the antenna domain (the thesis' second variant).</summary>
    AntennaReImAbs,
    /// <summary>[Re, Im, |·|] of the beamspace channel D_rᴴ H D_t (2-D DFTs over both planar arrays), where the paths of
    /// a clustered channel show up as a few peaks.</summary>
    Beamspace,
}

/// <summary>How the network's outputs become a hybrid-feasible precoder and combiner.</summary>
public enum BeamformerHead
{
    /// <summary>One free phase per antenna and RF chain: F_RF = e^{jΘ}/√Nt (any unit-modulus analog beamformer).</summary>
    Phases,
    /// <summary>Each RF chain steers the planar array toward a direction (u, v) = (sin φ sin θ, cos θ) the network
    /// predicts: F_RF columns are array responses, unit-modulus by construction.</summary>
    Steering,
    /// <summary>Channel-informed phases: F_RF = e^{j∠(HᴴQ)}/√Nt and W_RF = e^{j∠(H F_RF R)}/√Nr, where the network predicts
    /// the receive-side weights Q [Nr×N_RF] and R [N_RF×N_RF]: each RF chain is the phase-only version of a beam matched
    /// to the channel (phase extraction as in Sohrabi and Yu's large-array heuristic, with learned weights). With
    /// <see cref="BeamformerConfig.AnalogIterations"/> &gt; 0, Q is first refined by that many unfolded subspace iterations
    /// on HHᴴ (the network supplies the starting subspace).</summary>
    ChannelPhase,
}

/// <summary>The backbone that maps channel features to a vector.</summary>
public enum BeamformerBackbone
{
    /// <summary>Real-valued residual CNN over the transmit array's physical grid (receive antennas × features as channels).</summary>
    Cnn,
    /// <summary>Complex CNN (complex convolutions, complex batch norm, CReLU) on the complex channel over the same grid.</summary>
    ComplexCnn,
    /// <summary>Transformer over transmit-antenna (or transmit-beam) tokens, each token the column of the channel it sees.</summary>
    Transformer,
    /// <summary>CNN stem whose grid positions become Transformer tokens.</summary>
    CnnTransformer,
}

/// <summary>Configuration of a learned hybrid beamformer.</summary>
public sealed record BeamformerConfig(
    ArrayGeometry Tx, ArrayGeometry Rx, int Streams = 2, int RfChains = 4,
    BeamformerBackbone Backbone = BeamformerBackbone.Cnn, BeamformerHead Head = BeamformerHead.Steering,
    ChannelInput Input = ChannelInput.Beamspace, int Width = 32, int Blocks = 2, int Hidden = 256, int Heads = 4, int Layers = 2,
    bool ClosedFormBaseband = true, int SubspaceIterations = 8, int AnalogIterations = 2)
{
    public int Nt => Tx.Count;
    public int Nr => Rx.Count;

    public void Validate()
    {
        if (Streams < 1 || RfChains < Streams)
            throw new ArgumentException($"BeamformerConfig: need 1 ≤ Ns ≤ N_RF, got Ns = {Streams}, N_RF = {RfChains}.");
        if (Width < 1 || Blocks < 0 || Hidden < 1) throw new ArgumentException($"BeamformerConfig: width, blocks and hidden must be positive (got {Width}, {Blocks}, {Hidden}).");
        if (Backbone is BeamformerBackbone.Transformer or BeamformerBackbone.CnnTransformer && (Heads < 1 || Hidden % Heads != 0))
            throw new ArgumentException($"BeamformerConfig: the Transformer width (Hidden = {Hidden}) must be divisible by the {Heads} attention heads.");
    }
}

/// <summary>
/// A neural network from channels H [B, Nr, Nt] (complex) to a hybrid precoder F = F_RF F_BB [B, Nt, Ns] with
/// ‖F‖²_F = Ns and a hybrid combiner W = W_RF W_BB [B, Nr, Ns], analog parts unit-modulus (up to 1/√N), N_RF chains.
/// Train it with <see cref="BeamformingLosses.Rate"/> (unsupervised) or <see cref="BeamformingLosses.PhaseInvariant"/>
/// (supervised by Fopt/Wopt).
/// </summary>
public sealed class HybridBeamformerNet : Module
{
    public BeamformerConfig Config { get; }
    private readonly Module _backbone;
    private readonly Linear _head;
    private readonly Tensor _dtr, _dtt;          // UPA DFT matrices (complex64), for beamspace input
    private readonly Tensor _iyT, _izT, _iyR, _izR;

    /// <summary>The parts, for the ONNX exporter: backbone, head, the UPA DFT matrices, the antenna index columns.</summary>
    internal (Module Backbone, Linear Head, Tensor DftRx, Tensor DftTx, Tensor IyT, Tensor IzT, Tensor IyR, Tensor IzR) Parts =>
        (_backbone, _head, _dtr, _dtt, _iyT, _izT, _iyR, _izR);

    public HybridBeamformerNet(BeamformerConfig config, Generator? generator = null)
    {
        config.Validate();
        Config = config;
        int featureChannels = config.Input == ChannelInput.AntennaAbs ? 1 : 3;
        int gridH = config.Tx.Horizontal, gridW = config.Tx.Vertical;
        _backbone = config.Backbone switch
        {
            BeamformerBackbone.Cnn => RegisterModule("backbone", new CnnBackbone(featureChannels * config.Nr, gridH, gridW, config.Width, config.Blocks, config.Hidden, generator)),
            BeamformerBackbone.ComplexCnn => RegisterModule("backbone", new ComplexCnnBackbone(config.Nr, gridH, gridW, config.Width, config.Blocks, config.Hidden, generator)),
            BeamformerBackbone.Transformer => RegisterModule("backbone", new TokenTransformerBackbone(featureChannels * config.Nr, config.Nt, config.Hidden, config.Heads, config.Layers, generator)),
            _ => RegisterModule("backbone", new CnnTransformerBackbone(featureChannels * config.Nr, gridH, gridW, config.Width, config.Hidden, config.Heads, config.Layers, generator)),
        };
        int nrf = config.RfChains, ns = config.Streams;
        int analog = AnalogOutputs(config);
        _head = RegisterModule("head", new Linear(config.Hidden, analog + 2 * 2 * nrf * ns, generator: generator));
        InitHead(generator);
        _dtt = UpaDft(config.Tx);
        _dtr = UpaDft(config.Rx);
        (_iyT, _izT) = Indices(config.Tx);
        (_iyR, _izR) = Indices(config.Rx);
    }

    /// <summary>Outputs of the head before the baseband parts (the analog parameters).</summary>
    internal static int AnalogOutputs(BeamformerConfig c) => c.Head switch
    {
        BeamformerHead.Steering => 4 * c.RfChains,
        BeamformerHead.Phases => (c.Nt + c.Nr) * c.RfChains,
        _ => 2 * (c.Nr * c.RfChains + c.RfChains * c.RfChains),
    };

    /// <summary>Small output weights; steering directions start spread over the visible region so the RF chains begin
    /// pointing at different beams, baseband parts near [I; 0].</summary>
    private void InitHead(Generator? g)
    {
        using var _ = Tensor.NoGrad();
        _head.Weight.MulInPlace(0.1);
        var bias = _head.Bias!;
        bias.Zero();
        int nrf = Config.RfChains, ns = Config.Streams;
        int offset = AnalogOutputs(Config);
        var gen = g ?? new Generator(17);
        // Random starting directions/phases/weights, so the RF chains start different from one another.
        for (int i = 0; i < offset; i++) bias.SetItem(gen.NextDouble() * 2 - 1, i);
        for (int part = 0; part < 2; part++)   // F_BB then W_BB: real parts of the leading identity
        {
            for (int k = 0; k < Math.Min(nrf, ns); k++) bias.SetItem(1, offset + (k * ns + k) * 2);
            offset += 2 * nrf * ns;
        }
    }

    private static Tensor UpaDft(ArrayGeometry a)
    {
        int n = a.Count;
        var d = new NComplex[n * n];
        double scale = 1 / Math.Sqrt(n);
        for (int iy = 0; iy < a.Horizontal; iy++)
            for (int iz = 0; iz < a.Vertical; iz++)
                for (int ky = 0; ky < a.Horizontal; ky++)
                    for (int kz = 0; kz < a.Vertical; kz++)
                    {
                        double ph = 2 * Math.PI * ((double)iy * ky / a.Horizontal + (double)iz * kz / a.Vertical);
                        d[(iy * a.Vertical + iz) * n + ky * a.Vertical + kz] = NComplex.FromPolarCoordinates(scale, ph);
                    }
        return Tensor.FromArray(d, n, n).To(DType.Complex64);
    }

    private static (Tensor Iy, Tensor Iz) Indices(ArrayGeometry a)
    {
        var iy = new float[a.Count];
        var iz = new float[a.Count];
        for (int y = 0; y < a.Horizontal; y++)
            for (int z = 0; z < a.Vertical; z++) { iy[y * a.Vertical + z] = y; iz[y * a.Vertical + z] = z; }
        return (Tensor.FromArray(iy, 1, a.Count, 1), Tensor.FromArray(iz, 1, a.Count, 1));
    }

    /// <summary>The network input for channels H [B, Nr, Nt]: real [B, C·Nr, Ht, Wt] for the real backbones, complex
    /// [B, Nr, Ht, Wt] for the complex CNN. Antenna-domain entries already have unit variance (E‖H‖²_F = NtNr); the
    /// beamspace channel, whose energy gathers in a few peaks, is divided by (NtNr)^¼.</summary>
    public Tensor Features(Tensor h)
    {
        if (h.Dim != 3 || !h.IsComplex || h.Size(1) != Config.Nr || h.Size(2) != Config.Nt)
            throw new ArgumentException($"HybridBeamformerNet: expects complex channels [B, {Config.Nr}, {Config.Nt}], got {h.DType.Name()} [{string.Join(", ", h.Shape)}].");
        var x = h.To(DType.Complex64);
        if (Config.Input == ChannelInput.Beamspace) x = _dtr.MH.Matmul(x).Matmul(_dtt).Mul(1.0 / Math.Sqrt(Math.Sqrt(Config.Nt * (double)Config.Nr)));
        int b = h.Size(0), gh = Config.Tx.Horizontal, gw = Config.Tx.Vertical;
        if (Config.Backbone == BeamformerBackbone.ComplexCnn) return x.Reshape(b, Config.Nr, gh, gw);
        var mag = x.Abs();
        var parts = Config.Input == ChannelInput.AntennaAbs ? [mag] : new[] { x.Real(), x.Imag(), mag };
        return Tensor.Cat(parts.Select(p => p.Reshape(b, Config.Nr, gh, gw)).ToArray(), 1);
    }

    /// <summary>Hybrid precoder F [B, Nt, Ns] and combiner W [B, Nr, Ns] (complex64) for channels H [B, Nr, Nt].</summary>
    public (Tensor F, Tensor W) Predict(Tensor h)
    {
        var (frf, fbb, wrf, wbb) = PredictParts(h);
        if (Config.ClosedFormBaseband) (fbb, wbb) = Baseband(h.To(DType.Complex64), frf, fbb, wrf);
        var f = frf.Matmul(fbb);
        var norm = f.Abs().Square().Sum([1, 2], keepDim: true).Add(1e-12).Sqrt();
        f = f.Mul(norm.Reciprocal().Mul(Math.Sqrt(Config.Streams)));
        var w = wrf.Matmul(wbb);
        var wn = w.Abs().Square().Sum([1, 2], keepDim: true).Add(1e-12).Sqrt();
        return (f, w.Mul(wn.Reciprocal().Mul(Math.Sqrt(Config.Streams))));
    }

    /// <summary>The analog and baseband parts: F_RF [B, Nt, N_RF], F_BB [B, N_RF, Ns], W_RF [B, Nr, N_RF], W_BB.</summary>
    public (Tensor Frf, Tensor Fbb, Tensor Wrf, Tensor Wbb) PredictParts(Tensor h)
    {
        var z = _backbone.Call(Features(h));
        var o = _head.Call(z);
        int b = o.Size(0), nrf = Config.RfChains, ns = Config.Streams;
        int offset;
        Tensor frf, wrf;
        if (Config.Head == BeamformerHead.Steering)
        {
            var dirs = o.Narrow(1, 0, 4 * nrf).Reshape(b, 4, 1, nrf);
            frf = Steer(dirs.Select(1, 0), dirs.Select(1, 1), _iyT, _izT, Config.Nt);
            wrf = Steer(dirs.Select(1, 2), dirs.Select(1, 3), _iyR, _izR, Config.Nr);
            offset = 4 * nrf;
        }
        else if (Config.Head == BeamformerHead.ChannelPhase)
        {
            var hc = h.To(DType.Complex64);
            var q = Tensor.ViewAsComplex(o.Narrow(1, 0, 2 * Config.Nr * nrf).Reshape(b, Config.Nr, nrf, 2));
            if (Config.AnalogIterations > 0)
            {
                // Unfolded subspace iterations on HHᴴ refine the network's receive subspace toward the channel's dominant
                // left singular vectors (whose phase-only transmit beams e^{j∠HᴴU} are near-optimal for large arrays).
                var hh = hc.Matmul(hc.MH);
                for (int it = 0; it < Config.AnalogIterations; it++) q = Orthonormalize(hh.Matmul(q));
            }
            var r = Tensor.ViewAsComplex(o.Narrow(1, 2 * Config.Nr * nrf, 2 * nrf * nrf).Reshape(b, nrf, nrf, 2));
            frf = PhaseOnly(hc.MH.Matmul(q), Config.Nt);
            wrf = PhaseOnly(hc.Matmul(frf).Matmul(r), Config.Nr);
            offset = AnalogOutputs(Config);
        }
        else
        {
            var pt = o.Narrow(1, 0, Config.Nt * nrf).Reshape(b, Config.Nt, nrf);
            var pr = o.Narrow(1, Config.Nt * nrf, Config.Nr * nrf).Reshape(b, Config.Nr, nrf);
            frf = Tensor.Polar(Tensor.Full([1], 1 / Math.Sqrt(Config.Nt)), pt.Mul(Math.PI));
            wrf = Tensor.Polar(Tensor.Full([1], 1 / Math.Sqrt(Config.Nr)), pr.Mul(Math.PI));
            offset = (Config.Nt + Config.Nr) * nrf;
        }
        Tensor Baseband(int at) => Tensor.ViewAsComplex(o.Narrow(1, at, 2 * nrf * ns).Reshape(b, nrf, ns, 2));
        return (frf, Baseband(offset), wrf, Baseband(offset + 2 * nrf * ns));
    }

    /// <summary>Baseband parts in closed form, differentiable: F_BB spans the dominant Ns-dimensional eigenspace of
    /// F_RFᴴHᴴHF_RF (subspace iteration from the network's F_BB, Gram–Schmidt each step), and W_BB =
    /// (W_RFᴴW_RF)⁻¹W_RFᴴHF projects the received signal subspace onto the analog combiner's span, which maximizes the
    /// spectral efficiency for the given W_RF and F at any SNR.</summary>
    private (Tensor Fbb, Tensor Wbb) Baseband(Tensor h, Tensor frf, Tensor fbb0, Tensor wrf)
    {
        var hf = h.Matmul(frf);                      // [B, Nr, N_RF]
        var a = hf.MH.Matmul(hf);                    // [B, N_RF, N_RF]
        var x = fbb0;
        for (int it = 0; it < Config.SubspaceIterations; it++) x = Orthonormalize(a.Matmul(x));
        var f = frf.Matmul(x);
        var wbb = Linalg.Solve(wrf.MH.Matmul(wrf), wrf.MH.Matmul(h).Matmul(f));
        return (x, wbb);
    }

    /// <summary>Gram–Schmidt on the columns of [B, n, k].</summary>
    private static Tensor Orthonormalize(Tensor x)
    {
        var cols = new List<Tensor>();
        for (int k = 0; k < x.Size(2); k++)
        {
            var v = x.Narrow(2, k, 1);
            foreach (var q in cols) v = v.Sub(q.Mul(q.Conj().Mul(v).Sum(1, keepDim: true)));
            cols.Add(v.Mul(v.Abs().Square().Sum(1, keepDim: true).Add(1e-20).Rsqrt()));
        }
        return Tensor.Cat(cols.ToArray(), 2);
    }

    /// <summary>e^{j∠z}/√N elementwise (z/|z|, with a small floor so the gradient stays finite).</summary>
    private static Tensor PhaseOnly(Tensor z, int n)
    {
        var mag = z.Abs().Add(1e-6);
        return z.Mul(mag.Reciprocal().Mul(1 / Math.Sqrt(n)));
    }

    /// <summary>Array responses e^{jπ(iy·u + iz·v)}/√N for directions u, v [B, 1, N_RF] → [B, N, N_RF].</summary>
    private static Tensor Steer(Tensor u, Tensor v, Tensor iy, Tensor iz, int n)
    {
        var phase = iy.Mul(u).Add(iz.Mul(v)).Mul(Math.PI);
        return Tensor.Polar(Tensor.Full([1], 1 / Math.Sqrt(n)), phase);
    }

    public override Tensor Forward(Tensor input) => throw new NotSupportedException("HybridBeamformerNet: call Predict(H), which returns (F, W).");
}

/// <summary>Ready-made configurations.</summary>
public static class BeamformerConfigs
{
    /// <summary>Number of real parameters (a complex parameter counts twice).</summary>
    public static long ParameterCount(Module m) => m.Parameters().Sum(p => (long)p.NumEl * (p.IsComplex ? 2 : 1));

    /// <summary>The complex CNN width whose real parameter count is closest to the real CNN of <paramref name="real"/>.</summary>
    public static BeamformerConfig MatchComplexWidth(BeamformerConfig real)
    {
        long target = ParameterCount(new HybridBeamformerNet(real));
        var best = real with { Backbone = BeamformerBackbone.ComplexCnn };
        long bestDiff = long.MaxValue;
        for (int w = Math.Max(1, real.Width / 4); w <= real.Width; w++)
        {
            var c = real with { Backbone = BeamformerBackbone.ComplexCnn, Width = w };
            long diff = Math.Abs(ParameterCount(new HybridBeamformerNet(c)) - target);
            if (diff < bestDiff) { bestDiff = diff; best = c; }
        }
        return best;
    }

    /// <summary>The four models of the beamforming milestone for arrays tx/rx: the thesis' real residual CNN on
    /// [Re, Im, |H|], a complex CNN with matched parameter count, a Transformer over transmit-antenna tokens and a
    /// CNN+Transformer hybrid, all with the channel-informed head and closed-form baseband.</summary>
    public static IReadOnlyList<(string Name, BeamformerConfig Config)> Milestone(ArrayGeometry tx, ArrayGeometry rx, int ns = 2, int nrf = 4)
    {
        var cnn = new BeamformerConfig(tx, rx, ns, nrf, BeamformerBackbone.Cnn, BeamformerHead.ChannelPhase, ChannelInput.AntennaReImAbs, Width: 32, Blocks: 2, Hidden: 256);
        return
        [
            ("real CNN", cnn),
            ("complex CNN", MatchComplexWidth(cnn)),
            ("Transformer", cnn with { Backbone = BeamformerBackbone.Transformer, Hidden = 64, Heads = 4, Layers = 2 }),
            ("CNN+Transformer", cnn with { Backbone = BeamformerBackbone.CnnTransformer, Width = 32, Hidden = 64, Heads = 4, Layers = 2 }),
        ];
    }
}

/// <summary>Training objectives for learned beamformers.</summary>
public static class BeamformingLosses
{
    /// <summary>The unsupervised rate loss: minus the spectral efficiency averaged over the batch and the given SNRs
    /// (linear). With <paramref name="scales"/>, the SE at SNR s is divided by scales[s] (e.g. the optimum's mean SE
    /// there), so low SNRs, whose rates are small in bit/s/Hz, weigh as much as high ones.</summary>
    public static Tensor Rate(Tensor h, Tensor f, Tensor w, IReadOnlyList<double> snrs, IReadOnlyList<double>? scales = null)
    {
        if (scales is not null && scales.Count != snrs.Count)
            throw new ArgumentException($"BeamformingLosses.Rate: {scales.Count} scales for {snrs.Count} SNRs.");
        Tensor? total = null;
        var hc = h.To(f.DType);
        for (int i = 0; i < snrs.Count; i++)
        {
            var se = Beamforming.SpectralEfficiency(hc, f, w, snrs[i]).Mean();
            if (scales is not null) se = se.Mul(1 / scales[i]);
            total = total is null ? se : total.Add(se);
        }
        return total!.Mul(-1.0 / snrs.Count);
    }

    /// <summary>A supervised loss blind to the phase of each singular vector: Σₖ (1 − |f_optₖᴴ fₖ|²/‖fₖ‖²) for F and
    /// likewise for W, averaged over the batch (0 when every column matches its target up to a phase).</summary>
    public static Tensor PhaseInvariant(Tensor f, Tensor w, Tensor fopt, Tensor wopt)
    {
        Tensor Term(Tensor x, Tensor target)
        {
            var t = target.To(x.DType);
            var inner = t.Conj().Mul(x).Sum(1).Abs().Square();             // |t_kᴴ x_k|² [B, Ns]
            var norms = x.Abs().Square().Sum(1).Add(1e-12);                 // ‖x_k‖²
            return inner.Div(norms).Neg().Add(1).Sum(1).Mean();
        }
        return Term(f, fopt).Add(Term(w, wopt));
    }
}

internal sealed class CnnBackbone : Module
{
    private readonly Conv2d _stem;
    private readonly BatchNorm2d _bn;
    private readonly ModuleList _blocks;
    private readonly Linear _fc;
    internal (Conv2d Stem, BatchNorm2d Bn, ModuleList Blocks, Linear Fc) Parts => (_stem, _bn, _blocks, _fc);

    public CnnBackbone(int inChannels, int gh, int gw, int width, int blocks, int hidden, Generator? g)
    {
        _stem = RegisterModule("stem", new Conv2d(inChannels, width, 3, padding: 1, bias: false, generator: g));
        _bn = RegisterModule("bn", new BatchNorm2d(width));
        _blocks = RegisterModule("blocks", new ModuleList());
        for (int i = 0; i < blocks; i++) _blocks.Add(new BasicBlock(width, width, generator: g));
        _fc = RegisterModule("fc", new Linear(width * gh * gw, hidden, generator: g));
    }

    public override Tensor Forward(Tensor x)
    {
        var y = _bn.Call(_stem.Call(x)).Relu();
        foreach (var b in _blocks) y = b.Call(y);
        return _fc.Call(y.Flatten(1)).Relu();
    }
}

internal sealed class ComplexCnnBackbone : Module
{
    private readonly ModuleList _convs, _norms;
    private readonly Linear _fc;
    internal (ModuleList Convs, ModuleList Norms, Linear Fc) Parts => (_convs, _norms, _fc);

    public ComplexCnnBackbone(int inChannels, int gh, int gw, int width, int blocks, int hidden, Generator? g)
    {
        _convs = RegisterModule("convs", new ModuleList());
        _norms = RegisterModule("norms", new ModuleList());
        // width counts complex channels (each two real numbers); BeamformerConfigs.MatchComplexWidth picks the width whose
        // parameter count matches a real CNN's.
        int cw = width;
        for (int i = 0; i <= 2 * blocks; i++)
        {
            _convs.Add(new ComplexConv2d(i == 0 ? inChannels : cw, cw, 3, padding: 1, bias: false, generator: g));
            _norms.Add(new ComplexBatchNorm2d(cw));
        }
        _fc = RegisterModule("fc", new Linear(2 * cw * gh * gw, hidden, generator: g));
    }

    public override Tensor Forward(Tensor x)
    {
        var y = Functional.CRelu(_norms[0].Call(_convs[0].Call(x)));
        for (int i = 1; i + 1 < _convs.Count; i += 2)
        {
            var r = Functional.CRelu(_norms[i].Call(_convs[i].Call(y)));
            r = _norms[i + 1].Call(_convs[i + 1].Call(r));
            y = Functional.CRelu(r.Add(y));
        }
        return _fc.Call(y.ViewAsReal().Flatten(1)).Relu();
    }
}

internal sealed class TokenTransformerBackbone : Module
{
    private readonly Linear _embed;
    private readonly Tensor _pos, _cls;
    private readonly TransformerEncoder _encoder;
    private readonly LayerNorm _norm;
    internal (Linear Embed, Tensor Pos, Tensor Cls, TransformerEncoder Encoder, LayerNorm Norm) Parts => (_embed, _pos, _cls, _encoder, _norm);

    public TokenTransformerBackbone(int tokenFeatures, int tokens, int d, int heads, int layers, Generator? g)
    {
        _embed = RegisterModule("embed", new Linear(tokenFeatures, d, generator: g));
        _pos = RegisterParameter("pos", Tensor.Randn([1, tokens + 1, d], generator: g).Mul(0.02).Detach())!;
        _cls = RegisterParameter("cls", Tensor.Zeros([1, 1, d]))!;
        _encoder = RegisterModule("encoder", new TransformerEncoder(() => new TransformerEncoderLayer(d, heads, 2 * d, 0.0,
            TransformerActivation.Gelu, batchFirst: true, normFirst: true, generator: g), layers));
        _norm = RegisterModule("norm", new LayerNorm(d));
    }

    /// <summary>x: [B, C, Ht, Wt] → tokens [B, Ht·Wt, C] (one per transmit antenna or beam).</summary>
    public override Tensor Forward(Tensor x)
    {
        int b = x.Size(0);
        var tokens = x.Flatten(2).Transpose(1, 2);
        var e = _embed.Call(tokens);
        e = Tensor.Cat([_cls.Expand(b, 1, _cls.Size(2)), e], 1).Add(_pos);
        var y = _encoder.Call(e);
        return _norm.Call(y.Select(1, 0));
    }
}

internal sealed class CnnTransformerBackbone : Module
{
    private readonly Conv2d _stem;
    private readonly BatchNorm2d _bn;
    private readonly BasicBlock _block;
    private readonly TokenTransformerBackbone _transformer;
    internal (Conv2d Stem, BatchNorm2d Bn, BasicBlock Block, TokenTransformerBackbone Transformer) Parts => (_stem, _bn, _block, _transformer);

    public CnnTransformerBackbone(int inChannels, int gh, int gw, int width, int d, int heads, int layers, Generator? g)
    {
        _stem = RegisterModule("stem", new Conv2d(inChannels, width, 3, padding: 1, bias: false, generator: g));
        _bn = RegisterModule("bn", new BatchNorm2d(width));
        _block = RegisterModule("block", new BasicBlock(width, width, generator: g));
        _transformer = RegisterModule("transformer", new TokenTransformerBackbone(width, gh * gw, d, heads, layers, g));
    }

    public override Tensor Forward(Tensor x) => _transformer.Call(_block.Call(_bn.Call(_stem.Call(x)).Relu()));
}
