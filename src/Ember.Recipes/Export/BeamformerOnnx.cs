using Ember.NN;
using Ember.Wireless;

namespace Ember.Recipes.Export;

/// <summary>
/// ONNX export of <see cref="HybridBeamformerNet"/> (every backbone, head and input): ONNX has no complex numbers, so
/// complex values travel as real pairs. Input <c>channel</c> float32 (batch, Nr, Nt, 2) — H's real and imaginary parts,
/// as <c>torch.view_as_real</c>; outputs <c>precoder</c> (batch, Nt, Ns, 2) and <c>combiner</c> (batch, Nr, Ns, 2), the
/// F and W of <see cref="HybridBeamformerNet.Predict"/>. Inside, complex products are four real products, complex
/// convolutions four real convolutions, complex batch normalization (eval) a per-channel 2×2 affine map folded at export,
/// the closed-form baseband's Gram–Schmidt and linear solve unrolled for the model's fixed RF-chain count (the solve
/// eliminates without pivoting: its matrix W_RFᴴW_RF is Hermitian positive definite).
/// </summary>
public static class BeamformerOnnx
{
    /// <summary>Writes <paramref name="net"/> to <paramref name="path"/> (atomically; nothing on failure).</summary>
    public static void Export(HybridBeamformerNet net, string path, int opset = Onnx.DefaultOpset)
    {
        ArgumentNullException.ThrowIfNull(net);
        OnnxGraph.InEvalMode(net, () =>
        {
            var g = new OnnxGraph(net, opset);
            var c = net.Config;
            var batch = new Dictionary<int, string> { [0] = "batch" };
            g.AddInput("channel", [1, c.Nr, c.Nt, 2], DType.Float32, batch);
            var (f, w) = new Builder(g, net).Predict("channel");
            g.AddOutput(f, "precoder", [1, c.Nt, c.Streams, 2], DType.Float32, batch);
            g.AddOutput(w, "combiner", [1, c.Nr, c.Streams, 2], DType.Float32, batch);
            g.Save(path, "HybridBeamformerNet");
        });
    }

    /// <summary>A complex value as the names of its real and imaginary parts.</summary>
    private readonly record struct C(string Re, string Im);

    private sealed class Builder(OnnxGraph g, HybridBeamformerNet net)
    {
        private readonly BeamformerConfig _c = net.Config;
        private const string P = "beamformer";

        private string Op(string op, params string[] inputs) => g.Op(op, P, inputs);
        private string Scalar(float v) => g.Constant("c", [v], []);
        private string Add(string a, string b) => Op("Add", a, b);
        private string Sub(string a, string b) => Op("Sub", a, b);
        private string Mul(string a, string b) => Op("Mul", a, b);

        private C CAdd(C a, C b) => new(Add(a.Re, b.Re), Add(a.Im, b.Im));
        private C CSub(C a, C b) => new(Sub(a.Re, b.Re), Sub(a.Im, b.Im));
        private C CMul(C a, C b) => new(Sub(Mul(a.Re, b.Re), Mul(a.Im, b.Im)), Add(Mul(a.Re, b.Im), Mul(a.Im, b.Re)));
        private C CScale(C a, string real) => new(Mul(a.Re, real), Mul(a.Im, real));
        private C Conj(C a) => new(a.Re, Op("Neg", a.Im));
        private C MatMul(C a, C b) => new(Sub(Op("MatMul", a.Re, b.Re), Op("MatMul", a.Im, b.Im)), Add(Op("MatMul", a.Re, b.Im), Op("MatMul", a.Im, b.Re)));
        private string Transpose(string x) => g.Op("Transpose", P, [x], OnnxGraph.Ints("perm", 0, 2, 1));
        private C H(C a) => new(Transpose(a.Re), Op("Neg", Transpose(a.Im)));                       // conjugate transpose of (B, m, n)
        private string AbsSquared(C a) => Add(Mul(a.Re, a.Re), Mul(a.Im, a.Im));
        private string Abs(C a) => Op("Sqrt", AbsSquared(a));
        private string Sum(string x, params long[] axes) => g.Op("ReduceSum", P, [x, g.Int64Constant("axes", axes)], OnnxGraph.Int("keepdims", 1));
        private C Constant(string name, Tensor complex) => new(g.Initializer(name + ".re", complex.Real()), g.Initializer(name + ".im", complex.Imag()));

        /// <summary>x[start:end] along <paramref name="axis"/>.</summary>
        private string Slice(string x, int start, int end, int axis) =>
            g.Op("Slice", P, [x, g.Int64Constant("start", [start]), g.Int64Constant("end", [end]), g.Int64Constant("axes", [axis])]);

        /// <summary>e^{jπ·phase}/√n elementwise: a phase-only entry of an n-antenna analog beamformer.</summary>
        private C Phasor(string phase, int n)
        {
            var angle = Mul(phase, Scalar(MathF.PI));
            var r = Scalar((float)(1 / Math.Sqrt(n)));
            return new(Mul(Op("Cos", angle), r), Mul(Op("Sin", angle), r));
        }

        /// <summary>x[..., k] of the last axis (which has size 2): the real (0) or imaginary (1) part.</summary>
        private string Part(string x, int k) => g.Op("Gather", P, [x, g.Int64Scalar("part", k)], OnnxGraph.Int("axis", -1));

        /// <summary>Outputs [at, at + count) of the head, reshaped to (B, dims…, 2), as a complex value (view_as_complex).</summary>
        private C Complex(string o, int at, int count, params long[] dims)
        {
            var shaped = g.Op("Reshape", P, [Slice(o, at, at + count, 1), g.Int64Constant("shape", [0, .. dims, 2])]);
            return new(Part(shaped, 0), Part(shaped, 1));
        }

        /// <summary>Interleaved (…, 2) from a complex value (view_as_real).</summary>
        private string Interleave(C a, long axis)
        {
            var axes = g.Int64Constant("axes", [axis]);
            return g.Op("Concat", P, [g.Op("Unsqueeze", P, [a.Re, axes]), g.Op("Unsqueeze", P, [a.Im, axes])], OnnxGraph.Int("axis", axis));
        }

        public (string F, string W) Predict(string channel)
        {
            var h = new C(Part(channel, 0), Part(channel, 1));                                         // (B, Nr, Nt)
            var (frf, fbb, wrf, wbb) = PredictParts(h);
            if (_c.ClosedFormBaseband) (fbb, wbb) = Baseband(h, frf, fbb, wrf);
            return (Interleave(Normalize(MatMul(frf, fbb)), 3), Interleave(Normalize(MatMul(wrf, wbb)), 3));
        }

        /// <summary>x·√Ns/√(‖x‖²_F + 1e-12) per batch element.</summary>
        private C Normalize(C x)
        {
            var norm = Op("Sqrt", Add(Sum(AbsSquared(x), 1, 2), Scalar(1e-12f)));
            return CScale(x, Op("Div", Scalar(MathF.Sqrt(_c.Streams)), norm));
        }

        private (C Frf, C Fbb, C Wrf, C Wbb) PredictParts(C h)
        {
            var (backbone, head, _, _, iyT, izT, iyR, izR) = net.Parts;
            var features = Features(h);
            var z = EmitBackbone(backbone, features);
            var o = g.Emit(head, z, Tensor.Zeros([1, _c.Hidden])).Name;
            int nrf = _c.RfChains, ns = _c.Streams;
            C frf, wrf;
            int offset;
            if (_c.Head == BeamformerHead.Steering)
            {
                // Directions (u_T, v_T, u_R, v_R) per RF chain → array responses e^{jπ(iy·u + iz·v)}/√N.
                var dirs = g.Op("Reshape", P, [Slice(o, 0, 4 * nrf, 1), g.Int64Constant("shape", [0, 4, 1, nrf])]);
                string Dir(int k) => g.Op("Gather", P, [dirs, g.Int64Scalar("k", k)], OnnxGraph.Int("axis", 1));     // (B, 1, N_RF)
                C Steer(string u, string v, Tensor iy, Tensor iz, int n) =>
                    Phasor(Add(Mul(g.Initializer(g.Fresh("iy"), iy), u), Mul(g.Initializer(g.Fresh("iz"), iz), v)), n);
                frf = Steer(Dir(0), Dir(1), iyT, izT, _c.Nt);
                wrf = Steer(Dir(2), Dir(3), iyR, izR, _c.Nr);
                offset = 4 * nrf;
            }
            else if (_c.Head == BeamformerHead.ChannelPhase)
            {
                var q = Complex(o, 0, 2 * _c.Nr * nrf, _c.Nr, nrf);
                if (_c.AnalogIterations > 0)
                {
                    var hh = MatMul(h, H(h));
                    for (int it = 0; it < _c.AnalogIterations; it++) q = Orthonormalize(MatMul(hh, q), nrf);
                }
                var r = Complex(o, 2 * _c.Nr * nrf, 2 * nrf * nrf, nrf, nrf);
                frf = PhaseOnly(MatMul(H(h), q), _c.Nt);
                wrf = PhaseOnly(MatMul(MatMul(h, frf), r), _c.Nr);
                offset = HybridBeamformerNet.AnalogOutputs(_c);
            }
            else
            {
                C Phases(int at, int n) => Phasor(g.Op("Reshape", P, [Slice(o, at, at + n * nrf, 1), g.Int64Constant("shape", [0, n, nrf])]), n);
                frf = Phases(0, _c.Nt);
                wrf = Phases(_c.Nt * nrf, _c.Nr);
                offset = (_c.Nt + _c.Nr) * nrf;
            }
            return (frf, Complex(o, offset, 2 * nrf * ns, nrf, ns), wrf, Complex(o, offset + 2 * nrf * ns, 2 * nrf * ns, nrf, ns));
        }

        /// <summary>z/(|z| + 1e-6)/√n elementwise.</summary>
        private C PhaseOnly(C z, int n) => CScale(z, Op("Div", Scalar((float)(1 / Math.Sqrt(n))), Add(Abs(z), Scalar(1e-6f))));

        /// <summary>Gram–Schmidt on the <paramref name="k"/> columns of (B, n, k), as the network runs it.</summary>
        private C Orthonormalize(C x, int k)
        {
            var cols = new List<C>();
            for (int j = 0; j < k; j++)
            {
                var v = new C(Column(x.Re, j), Column(x.Im, j));
                foreach (var q in cols)
                {
                    var dot = CMul(Conj(q), v);
                    v = CSub(v, CMul(q, new C(Sum(dot.Re, 1), Sum(dot.Im, 1))));
                }
                cols.Add(CScale(v, Op("Reciprocal", Op("Sqrt", Add(Sum(AbsSquared(v), 1), Scalar(1e-20f))))));
            }
            return new(g.Op("Concat", P, [.. cols.Select(q => q.Re)], OnnxGraph.Int("axis", 2)), g.Op("Concat", P, [.. cols.Select(q => q.Im)], OnnxGraph.Int("axis", 2)));
        }

        private string Column(string x, int j) => Slice(x, j, j + 1, 2);

        /// <summary>The closed-form baseband: F_BB by subspace iteration on F_RFᴴHᴴHF_RF, W_BB = (W_RFᴴW_RF)⁻¹W_RFᴴHF.</summary>
        private (C Fbb, C Wbb) Baseband(C h, C frf, C fbb0, C wrf)
        {
            var hf = MatMul(h, frf);
            var a = MatMul(H(hf), hf);
            var x = fbb0;
            for (int it = 0; it < _c.SubspaceIterations; it++) x = Orthonormalize(MatMul(a, x), _c.Streams);
            var f = MatMul(frf, x);
            return (x, Solve(MatMul(H(wrf), wrf), MatMul(MatMul(H(wrf), h), f), _c.RfChains));
        }

        /// <summary>A⁻¹B for Hermitian positive definite A (B, n, n), unrolled Gauss–Jordan elimination on rows.</summary>
        private C Solve(C a, C b, int n)
        {
            C Row(C m, int i) => new(Slice(m.Re, i, i + 1, 1), Slice(m.Im, i, i + 1, 1));
            C Entry(C row, int j) => new(Column(row.Re, j), Column(row.Im, j));                                  // (B, 1, 1)
            C Inverse(C z)
            {
                var d = AbsSquared(z);
                return new(Op("Div", z.Re, d), Op("Div", Op("Neg", z.Im), d));
            }
            var ar = Enumerable.Range(0, n).Select(i => Row(a, i)).ToArray();
            var br = Enumerable.Range(0, n).Select(i => Row(b, i)).ToArray();
            for (int p = 0; p < n; p++)
            {
                var inv = Inverse(Entry(ar[p], p));
                ar[p] = CMul(ar[p], inv);
                br[p] = CMul(br[p], inv);
                for (int i = 0; i < n; i++)
                {
                    if (i == p) continue;
                    var factor = Entry(ar[i], p);
                    ar[i] = CSub(ar[i], CMul(factor, ar[p]));
                    br[i] = CSub(br[i], CMul(factor, br[p]));
                }
            }
            return new(g.Op("Concat", P, [.. br.Select(r => r.Re)], OnnxGraph.Int("axis", 1)), g.Op("Concat", P, [.. br.Select(r => r.Im)], OnnxGraph.Int("axis", 1)));
        }

        /// <summary>The network input: beamspace or antenna domain; complex (B, Nr, Ht, Wt) for the complex CNN, else the
        /// real [Re, Im, |H|] (or [|H|]) channels (B, C·Nr, Ht, Wt). Returns the real input, or the complex one's parts.</summary>
        private object Features(C h)
        {
            var (_, _, dtr, dtt, _, _, _, _) = net.Parts;
            var x = h;
            if (_c.Input == ChannelInput.Beamspace)
                x = CScale(MatMul(MatMul(H2(Constant("dft_rx", dtr)), x), Constant("dft_tx", dtt)), Scalar((float)(1 / Math.Sqrt(Math.Sqrt(_c.Nt * (double)_c.Nr)))));
            var grid = g.Int64Constant("grid", [0, _c.Nr, _c.Tx.Horizontal, _c.Tx.Vertical]);
            string Grid(string t) => g.Op("Reshape", P, [t, grid]);
            if (_c.Backbone == BeamformerBackbone.ComplexCnn) return new C(Grid(x.Re), Grid(x.Im));
            var mag = Grid(Abs(x));
            return _c.Input == ChannelInput.AntennaAbs ? mag : g.Op("Concat", P, [Grid(x.Re), Grid(x.Im), mag], OnnxGraph.Int("axis", 1));
        }

        /// <summary>Conjugate transpose of a constant 2-D matrix.</summary>
        private C H2(C a) => new(g.Op("Transpose", P, [a.Re]), Op("Neg", g.Op("Transpose", P, [a.Im])));

        private string EmitBackbone(Module backbone, object features)
        {
            int gh = _c.Tx.Horizontal, gw = _c.Tx.Vertical;
            switch (backbone)
            {
                case CnnBackbone cnn:
                {
                    var (stem, bn, blocks, fc) = cnn.Parts;
                    var x = (string)features;
                    var sample = Tensor.Zeros([1, stem.Weight.Size(1), gh, gw]);
                    (x, sample) = g.Emit(stem, x, sample);
                    (x, sample) = g.Emit(bn, x, sample);
                    x = g.Op("Relu", P, [x]);
                    foreach (var block in blocks) (x, sample) = g.Emit(block, x, sample);
                    var flat = g.Op("Flatten", P, [x], OnnxGraph.Int("axis", 1));
                    return g.Op("Relu", P, [g.Emit(fc, flat, Tensor.Zeros([1, fc.InFeatures])).Name]);
                }
                case ComplexCnnBackbone complex:
                {
                    var (convs, norms, fc) = complex.Parts;
                    var y = (C)features;
                    C Layer(int i, C v) => ComplexNorm((ComplexBatchNorm2d)norms[i], ComplexConv((ComplexConv2d)convs[i], v));
                    C CRelu(C v) => new(Op("Relu", v.Re), Op("Relu", v.Im));
                    y = CRelu(Layer(0, y));
                    for (int i = 1; i + 1 < convs.Count; i += 2)
                    {
                        var r = Layer(i + 1, CRelu(Layer(i, y)));
                        y = CRelu(CAdd(r, y));
                    }
                    var flat = g.Op("Flatten", P, [Interleave(y, 4)], OnnxGraph.Int("axis", 1));
                    return g.Op("Relu", P, [g.Emit(fc, flat, Tensor.Zeros([1, fc.InFeatures])).Name]);
                }
                case TokenTransformerBackbone transformer:
                    return Tokens(transformer, (string)features);
                case CnnTransformerBackbone hybrid:
                {
                    var (stem, bn, block, transformer) = hybrid.Parts;
                    var x = (string)features;
                    var sample = Tensor.Zeros([1, stem.Weight.Size(1), gh, gw]);
                    (x, sample) = g.Emit(stem, x, sample);
                    (x, sample) = g.Emit(bn, x, sample);
                    (x, _) = g.Emit(block, g.Op("Relu", P, [x]), sample.Relu());
                    return Tokens(transformer, x);
                }
                default:
                    throw g.Unsupported(backbone, "an unknown beamformer backbone");
            }
        }

        /// <summary>A token Transformer over (B, C, Ht, Wt): one token per grid position, a class token, learned positions,
        /// pre-norm encoder layers, the class token's output normalized.</summary>
        private string Tokens(TokenTransformerBackbone t, string x)
        {
            var (embed, pos, cls, encoder, norm) = t.Parts;
            int d = embed.OutFeatures;
            var tokens = g.Op("Transpose", P, [g.Op("Reshape", P, [x, g.Int64Constant("shape", [0, embed.InFeatures, -1])])],
                OnnxGraph.Ints("perm", 0, 2, 1));                                                                // (B, HW, C)
            var e = g.Emit(embed, tokens, Tensor.Zeros([1, 2, embed.InFeatures])).Name;
            var batch = g.Op("Gather", P, [g.Op("Shape", P, [e]), g.Int64Constant("zero", [0])], OnnxGraph.Int("axis", 0));
            var clsTokens = g.Op("Expand", P, [g.Initializer(g.PathOf(t) + ".cls", cls), g.Op("Concat", P, [batch, g.Int64Constant("rest", [1, d])], OnnxGraph.Int("axis", 0))]);
            var h = Add(g.Op("Concat", P, [clsTokens, e], OnnxGraph.Int("axis", 1)), g.Initializer(g.PathOf(t) + ".pos", pos));
            var sample = Tensor.Zeros([1, 2, d]);
            var noMask = Scalar(0f);
            foreach (var layer in encoder.Layers.Cast<TransformerEncoderLayer>()) h = g.EmitEncoderLayer(layer, h, sample, noMask);
            if (encoder.Norm is LayerNorm final) h = g.Emit(final, h, sample).Name;
            var first = g.Op("Gather", P, [h, g.Int64Scalar("first", 0)], OnnxGraph.Int("axis", 1));
            return g.Emit(norm, first, Tensor.Zeros([1, d])).Name;
        }

        /// <summary>A complex convolution as four real ones: (W_r∗x_r − W_i∗x_i) + j(W_r∗x_i + W_i∗x_r), plus the bias.</summary>
        private C ComplexConv(ComplexConv2d conv, C x)
        {
            if (conv.Padding.IsSame) throw g.Unsupported(conv, "'same' padding");
            string p = g.PathOf(conv);
            var wr = g.Initializer(p + ".weight.re", conv.Weight.Real());
            var wi = g.Initializer(p + ".weight.im", conv.Weight.Imag());
            string Conv(string input, string w) => g.Op("Conv", p, [input, w],
                OnnxGraph.Ints("kernel_shape", conv.Weight.Size(2), conv.Weight.Size(3)), OnnxGraph.Ints("strides", conv.Stride.H, conv.Stride.W),
                OnnxGraph.Ints("dilations", conv.Dilation.H, conv.Dilation.W), OnnxGraph.Int("group", conv.Groups),
                OnnxGraph.Ints("pads", conv.Padding.H, conv.Padding.W, conv.Padding.H, conv.Padding.W));
            var y = new C(Sub(Conv(x.Re, wr), Conv(x.Im, wi)), Add(Conv(x.Im, wr), Conv(x.Re, wi)));
            if (conv.Bias is null) return y;
            var shape = new[] { 1, conv.Bias.Size(0), 1, 1 };
            return CAdd(y, new C(g.Initializer(p + ".bias.re", conv.Bias.Real().Reshape(shape)), g.Initializer(p + ".bias.im", conv.Bias.Imag().Reshape(shape))));
        }

        /// <summary>Complex batch normalization in eval mode folded into y = A·(x − μ) + β per channel, A = Γ·V^(−1/2) (2×2).</summary>
        private C ComplexNorm(ComplexBatchNorm2d bn, C x)
        {
            int ch = bn.NumFeatures;
            var arr = new double[ch]; var ari = new double[ch]; var air = new double[ch]; var aii = new double[ch];
            var cr = new double[ch]; var ci = new double[ch];
            var mean = bn.RunningMean.To(DType.Complex128).ToArray<System.Numerics.Complex>();
            var vrr = bn.RunningVrr.ToArrayDouble(); var vri = bn.RunningVri.ToArrayDouble(); var vii = bn.RunningVii.ToArrayDouble();
            var grr = bn.GammaRr.ToArrayDouble(); var gri = bn.GammaRi.ToArrayDouble(); var gii = bn.GammaIi.ToArrayDouble();
            var beta = bn.Beta.To(DType.Complex128).ToArray<System.Numerics.Complex>();
            for (int k = 0; k < ch; k++)
            {
                double a = vrr[k] + bn.Eps, c = vii[k] + bn.Eps, b = vri[k];
                double s = Math.Sqrt(a * c - b * b), t = Math.Sqrt(a + c + 2 * s), inv = 1 / (s * t);
                double wrr = (c + s) * inv, wii = (a + s) * inv, wri = -b * inv;
                arr[k] = grr[k] * wrr + gri[k] * wri; ari[k] = grr[k] * wri + gri[k] * wii;
                air[k] = gri[k] * wrr + gii[k] * wri; aii[k] = gri[k] * wri + gii[k] * wii;
                cr[k] = beta[k].Real - (arr[k] * mean[k].Real + ari[k] * mean[k].Imaginary);
                ci[k] = beta[k].Imaginary - (air[k] * mean[k].Real + aii[k] * mean[k].Imaginary);
            }
            string p = g.PathOf(bn);
            string K(string name, double[] v) => g.Initializer($"{p}.{name}", Tensor.FromArray(v, 1, ch, 1, 1).To(DType.Float32));
            return new(Add(Add(Mul(K("a_rr", arr), x.Re), Mul(K("a_ri", ari), x.Im)), K("c_r", cr)),
                Add(Add(Mul(K("a_ir", air), x.Re), Mul(K("a_ii", aii), x.Im)), K("c_i", ci)));
        }
    }
}
