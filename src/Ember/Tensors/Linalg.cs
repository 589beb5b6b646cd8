using Ember.Kernels;
using NComplex = System.Numerics.Complex;

namespace Ember;

/// <summary>
/// Dense linear algebra on real and complex matrices (<c>torch.linalg</c>): SVD, solve, inverse, pseudo-inverse and
/// log-determinants, batched over leading dims. Factorizations run in double precision whatever the input type
/// (float32 inputs are widened, results narrowed back). Gradients follow PyTorch's conventions (for complex inputs
/// the conjugate Wirtinger derivative).
/// </summary>
public static class Linalg
{
    // ---------------------------------------------------------------- batching helpers

    /// <summary>The matrices of a (..., m, n) tensor as row-major complex arrays.</summary>
    private static (NComplex[][] Mats, int[] Batch, int M, int N) Unpack(string op, Tensor a)
    {
        if (a.Dim < 2)
            throw new ArgumentException($"{op}: expects a matrix or a batch of matrices (..., m, n), got shape {ShapeUtil.Str(a.Shape)}.");
        if (!a.DType.IsFloatingPoint() && !a.IsComplex)
            throw new ArgumentException($"{op}: expects a float or complex tensor, got {a.DType.Name()} {ShapeUtil.Str(a.Shape)}.");
        var shape = a.Shape;
        int m = shape[^2], n = shape[^1];
        var batch = shape[..^2];
        var flat = a.Detach().ToComplexArray();
        int count = ShapeUtil.NumEl(batch);
        var mats = new NComplex[count][];
        for (int b = 0; b < count; b++) mats[b] = flat.AsSpan(b * m * n, m * n).ToArray();
        return (mats, batch, m, n);
    }

    /// <summary>Packs row-major matrices into a tensor of <paramref name="dtype"/> (real types take the real parts).</summary>
    private static Tensor Pack(NComplex[][] mats, int[] batch, int m, int n, DType dtype)
    {
        var shape = batch.Append(m).Append(n).ToArray();
        return PackFlat(mats.SelectMany(x => x).ToArray(), shape, dtype);
    }

    private static Tensor PackFlat(NComplex[] flat, int[] shape, DType dtype) => dtype switch
    {
        DType.Complex128 => Tensor.FromSpan<NComplex>(flat, shape),
        DType.Complex64 => Tensor.FromSpan<Complex64>(Array.ConvertAll(flat, z => (Complex64)z), shape),
        DType.Float64 => Tensor.FromSpan<double>(Array.ConvertAll(flat, z => z.Real), shape),
        _ => Tensor.FromSpan<float>(Array.ConvertAll(flat, z => (float)z.Real), shape),
    };

    private static void ForEach(int count, Action<int> body)
    {
        if (count <= 1) { for (int i = 0; i < count; i++) body(i); return; }
        Parallelism.For(count, 1, (s, e) => { for (int i = s; i < e; i++) body(i); });
    }

    private static void CheckSquare(string op, int m, int n, Tensor a)
    {
        if (m != n) throw new ArgumentException($"{op}: expects square matrices, got shape {ShapeUtil.Str(a.Shape)}.");
    }

    // ---------------------------------------------------------------- SVD

    /// <summary>Singular value decomposition A = U·diag(S)·Vh (<c>torch.linalg.svd</c>). Singular values are real and
    /// descending; U and Vh have A's dtype. With <paramref name="fullMatrices"/> false (the default here, as in
    /// <c>full_matrices=False</c>) U is m×k and Vh is k×n with k = min(m, n). One-sided Jacobi in double precision:
    /// accurate to working precision even for tiny singular values. Singular vectors are unique only up to a phase
    /// per pair (a sign for real input); Ember makes the largest-magnitude entry of each column of V real and positive.
    /// Differentiable (reduced SVD only) for losses that do not depend on that phase, with distinct nonzero singular
    /// values, by PyTorch's formula (<c>svd_backward</c>).</summary>
    public static (Tensor U, Tensor S, Tensor Vh) Svd(Tensor a, bool fullMatrices = false)
    {
        bool grad = a.RequiresGrad && GradMode.IsEnabled;
        if (grad && fullMatrices)
            throw new NotSupportedException($"Svd: gradients need the reduced SVD (fullMatrices: false); input {ShapeUtil.Str(a.Shape)}.");
        var (mats, batch, m, n) = Unpack("Svd", a);
        int k = Math.Min(m, n), uc = fullMatrices ? m : k, vr = fullMatrices ? n : k;
        var us = new NComplex[mats.Length][];
        var ss = new double[mats.Length][];
        var vhs = new NComplex[mats.Length][];
        ForEach(mats.Length, b =>
        {
            var (u, s, v) = SvdOne(mats[b], m, n);
            if (fullMatrices) { u = Complete(u, m, k); v = Complete(v, n, k); }
            us[b] = u;
            ss[b] = s;
            // Vh = Vᴴ: (vr × n) from V (n × vr).
            var vh = new NComplex[vr * n];
            for (int i = 0; i < vr; i++)
                for (int j = 0; j < n; j++) vh[i * n + j] = NComplex.Conjugate(v[j * vr + i]);
            vhs[b] = vh;
        });
        var realType = a.DType.ToReal();
        var sFlat = ss.SelectMany(x => x).ToArray();
        var S = realType == DType.Float64 ? Tensor.FromArray(sFlat, batch.Append(k).ToArray()) : Tensor.FromArray(Array.ConvertAll(sFlat, x => (float)x), batch.Append(k).ToArray());
        var U = Pack(us, batch, m, uc, a.DType);
        var Vh = Pack(vhs, batch, vr, n, a.DType);
        if (!grad) return (U, S, Vh);
        var (u0, s0, vh0) = (U.Detach(), S.Detach(), Vh.Detach());
        U.Record("SvdBackward", a, g => SvdBackward(a, u0, s0, vh0, g, null, null), u0, vh0);
        S.Record("SvdBackward", a, g => SvdBackward(a, u0, s0, vh0, null, g, null), u0, vh0);
        Vh.Record("SvdBackward", a, g => SvdBackward(a, u0, s0, vh0, null, null, g), u0, vh0);
        return (U, S, Vh);
    }

    /// <summary>The gradient of a reduced SVD A = U diag(S) Vh for output gradients gU, gS, gVh (any may be null):
    /// gA = U[(skew(UᴴgU)/E)S + S(skew(VᴴgV)/E) + diag(gS) + i·Im diag(UᴴgU − VᴴgV)/(2S)]Vh + (I − UUᴴ)gU S⁻¹Vh +
    /// U S⁻¹ gVᴴ(I − VVᴴ), skew(X) = X − Xᴴ, E_jk = S_k² − S_j² (1 on the diagonal). The formula is linear in the
    /// output gradients, so each output's node adds its own part.</summary>
    private static Tensor SvdBackward(Tensor a, Tensor u, Tensor s, Tensor vh, Tensor? gU, Tensor? gS, Tensor? gVh)
    {
        int m = u.Size(-2), n = vh.Size(-1), k = s.Size(-1);
        bool complex = a.IsComplex;
        Tensor C(Tensor t) => complex && !t.IsComplex ? t.To(a.DType) : t;
        var v = vh.MH;
        var s2 = s.Mul(s);
        var eye = Tensor.Eye(k, dtype: s.DType);
        var e = s2.Unsqueeze(-2).Sub(s2.Unsqueeze(-1)).Add(eye);
        var sRow = s.Unsqueeze(-2);                 // scales columns
        var sCol = s.Unsqueeze(-1);                 // scales rows
        Tensor inner;
        Tensor gA;
        if (gS is not null)
        {
            inner = C(gS.Unsqueeze(-1).Mul(eye));
            return u.Matmul(inner).Matmul(vh);
        }
        if (gU is not null)
        {
            var uhgu = u.MH.Matmul(gU);
            inner = uhgu.Sub(uhgu.MH).Mul(C(sRow.Div(e)));
            if (complex) inner = inner.Add(Tensor.Complex(Tensor.ZerosLike(s), uhgu.Imag().Mul(eye).Sum(-1).Div(s.Mul(2))).Unsqueeze(-1).Mul(C(eye)));
            gA = u.Matmul(inner).Matmul(vh);
            if (m > k) gA = gA.Add(gU.Sub(u.Matmul(uhgu)).Mul(C(sRow.Reciprocal())).Matmul(vh));
            return gA;
        }
        var gV = gVh!.MH;
        var vhgv = v.MH.Matmul(gV);
        inner = C(sCol.Div(e)).Mul(vhgv.Sub(vhgv.MH));
        if (complex) inner = inner.Sub(Tensor.Complex(Tensor.ZerosLike(s), vhgv.Imag().Mul(eye).Sum(-1).Div(s.Mul(2))).Unsqueeze(-1).Mul(C(eye)));
        gA = u.Matmul(inner).Matmul(vh);
        if (n > k) gA = gA.Add(u.Matmul(gV.Sub(v.Matmul(vhgv)).Mul(C(sRow.Reciprocal())).MH));
        return gA;
    }

    /// <summary>Singular values only, descending (<c>torch.linalg.svdvals</c>); differentiable: dσᵢ = Re(uᵢᴴ dA vᵢ),
    /// so grad A = U·diag(g)·Vh.</summary>
    public static Tensor SvdVals(Tensor a)
    {
        Tensor u, s, vh;
        using (Tensor.NoGrad()) (u, s, vh) = Svd(a.Detach());
        if (!(a.RequiresGrad && GradMode.IsEnabled)) return s;
        return s.Record("SvdValsBackward", a, g =>
        {
            var gd = a.IsComplex ? g.To(a.DType) : g;
            return u.Mul(gd.Unsqueeze(-2)).Matmul(vh);
        });
    }

    /// <summary>Thin SVD of one m×n matrix: U (m×k), S (k), V (n×k), k = min(m, n), row-major.</summary>
    internal static (NComplex[] U, double[] S, NComplex[] V) SvdOne(NComplex[] a, int m, int n)
    {
        if (m < n)
        {
            // A = (Aᴴ)ᴴ: the SVD of Aᴴ (n×m, tall) gives A's with U and V swapped.
            var ah = new NComplex[n * m];
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) ah[j * m + i] = NComplex.Conjugate(a[i * n + j]);
            var (u2, s2, v2) = SvdOne(ah, n, m);
            return (v2, s2, u2);
        }
        if (2 * m > 3 * n) return SvdTallViaQr(a, m, n);
        // (Nearly) square: one-sided Jacobi on the columns of G = A·V. Column-major copies keep columns contiguous.
        var g = new NComplex[n][];
        var v = new NComplex[n][];
        for (int j = 0; j < n; j++)
        {
            g[j] = new NComplex[m];
            for (int i = 0; i < m; i++) g[j][i] = a[i * n + j];
            v[j] = new NComplex[n];
            v[j][j] = 1;
        }
        var norm2 = new double[n];
        for (int j = 0; j < n; j++) norm2[j] = SqNorm(g[j]);
        const double tol = 1e-15;
        for (int sweep = 0; sweep < 80; sweep++)
        {
            bool rotated = false;
            for (int p = 0; p < n - 1; p++)
                for (int q = p + 1; q < n; q++)
                {
                    double alpha = norm2[p], beta = norm2[q];
                    var gamma = Dot(g[p], g[q]);           // g_pᴴ g_q
                    double mag = gamma.Magnitude;
                    if (mag == 0 || mag <= tol * Math.Sqrt(alpha * beta)) continue;
                    rotated = true;
                    // J = diag(1, e^{-iφ})·[[c, s], [−s, c]] diagonalizes [[α, γ], [γ̄, β]].
                    double zeta = (beta - alpha) / (2 * mag);
                    double t = (zeta >= 0 ? 1 : -1) / (Math.Abs(zeta) + Math.Sqrt(1 + zeta * zeta));
                    double c = 1 / Math.Sqrt(1 + t * t), s = c * t;
                    var phase = NComplex.Conjugate(gamma) / mag;   // e^{-iφ}
                    Rotate(g[p], g[q], c, s, phase);
                    Rotate(v[p], v[q], c, s, phase);
                    norm2[p] = alpha - t * mag;
                    norm2[q] = beta + t * mag;
                }
            if (!rotated) break;
            // Refresh norms once per sweep against drift of the running updates.
            for (int j = 0; j < n; j++) norm2[j] = SqNorm(g[j]);
        }
        var sv = new double[n];
        for (int j = 0; j < n; j++) sv[j] = Math.Sqrt(SqNorm(g[j]));
        var order = Enumerable.Range(0, n).OrderByDescending(j => sv[j]).ToArray();
        var U = new NComplex[m * n];
        var V = new NComplex[n * n];
        var S = new double[n];
        double smax = sv.Length > 0 ? sv[order[0]] : 0;
        var uCols = new List<NComplex[]>();
        for (int c = 0; c < n; c++)
        {
            int j = order[c];
            S[c] = sv[j];
            // Phase convention: the largest-magnitude entry of each right singular vector is real and positive.
            int big = 0;
            for (int i = 1; i < n; i++) if (v[j][i].Magnitude > v[j][big].Magnitude) big = i;
            var ph = v[j][big].Magnitude > 0 ? NComplex.Conjugate(v[j][big]) / v[j][big].Magnitude : NComplex.One;
            for (int i = 0; i < n; i++) V[i * n + c] = v[j][i] * ph;
            NComplex[] ucol;
            if (sv[j] > smax * 1e-300 && sv[j] > 0)
            {
                ucol = new NComplex[m];
                for (int i = 0; i < m; i++) ucol[i] = g[j][i] * ph / sv[j];
            }
            else ucol = OrthogonalTo(uCols, m);   // zero singular value: any unit vector orthogonal to the others
            uCols.Add(ucol);
            for (int i = 0; i < m; i++) U[i * n + c] = ucol[i];
        }
        return (U, S, V);
    }

    /// <summary>For m well above n: Householder QR A = QR first, then Jacobi on the n×n R (rotations cost n instead of m),
    /// and U = Q·U_R.</summary>
    private static (NComplex[] U, double[] S, NComplex[] V) SvdTallViaQr(NComplex[] a, int m, int n)
    {
        var cols = new NComplex[n][];
        for (int j = 0; j < n; j++)
        {
            cols[j] = new NComplex[m];
            for (int i = 0; i < m; i++) cols[j][i] = a[i * n + j];
        }
        var vs = new NComplex[n][];
        for (int j = 0; j < n; j++)
        {
            var x = cols[j];
            double norm = 0;
            for (int i = j; i < m; i++) norm += x[i].Real * x[i].Real + x[i].Imaginary * x[i].Imaginary;
            norm = Math.Sqrt(norm);
            var v = new NComplex[m - j];
            if (norm == 0) { vs[j] = v; continue; }
            // Reflect x onto −e^{i arg x_j}‖x‖ e_j (the sign avoids cancellation).
            var phase = x[j].Magnitude > 0 ? x[j] / x[j].Magnitude : NComplex.One;
            var alpha = -phase * norm;
            for (int i = j; i < m; i++) v[i - j] = x[i];
            v[0] -= alpha;
            double vn = 0;
            foreach (var z in v) vn += z.Real * z.Real + z.Imaginary * z.Imaginary;
            vn = Math.Sqrt(vn);
            for (int i = 0; i < v.Length; i++) v[i] /= vn;
            vs[j] = v;
            for (int c = j; c < n; c++) Reflect(v, cols[c], j);
        }
        var r = new NComplex[n * n];
        for (int i = 0; i < n; i++)
            for (int j = i; j < n; j++) r[i * n + j] = cols[j][i];
        var (ur, sv, vv) = SvdOne(r, n, n);
        // U = Q·[U_R; 0], with Q = H₀H₁…H_{n−1}: apply the reflections in reverse.
        var u = new NComplex[n][];
        for (int c = 0; c < n; c++)
        {
            u[c] = new NComplex[m];
            for (int i = 0; i < n; i++) u[c][i] = ur[i * n + c];
            for (int j = n - 1; j >= 0; j--) Reflect(vs[j], u[c], j);
        }
        var U = new NComplex[m * n];
        for (int c = 0; c < n; c++)
            for (int i = 0; i < m; i++) U[i * n + c] = u[c][i];
        return (U, sv, vv);
    }

    /// <summary>x[offset..] ← (I − 2vvᴴ)x[offset..] for a unit vector v.</summary>
    private static void Reflect(NComplex[] v, NComplex[] x, int offset)
    {
        if (v.Length == 0) return;
        NComplex dot = 0;
        for (int i = 0; i < v.Length; i++) dot += NComplex.Conjugate(v[i]) * x[offset + i];
        if (dot == NComplex.Zero) return;
        dot *= 2;
        for (int i = 0; i < v.Length; i++) x[offset + i] -= dot * v[i];
    }

    private static double SqNorm(NComplex[] x)
    {
        double s = 0;
        foreach (var z in x) s += z.Real * z.Real + z.Imaginary * z.Imaginary;
        return s;
    }

    /// <summary>xᴴy.</summary>
    private static NComplex Dot(NComplex[] x, NComplex[] y)
    {
        double re = 0, im = 0;
        for (int i = 0; i < x.Length; i++)
        {
            double a = x[i].Real, b = x[i].Imaginary, c = y[i].Real, d = y[i].Imaginary;
            re += a * c + b * d;
            im += a * d - b * c;
        }
        return new NComplex(re, im);
    }

    private static void Rotate(NComplex[] x, NComplex[] y, double c, double s, NComplex phase)
    {
        for (int i = 0; i < x.Length; i++)
        {
            var xi = x[i];
            var yi = y[i] * phase;
            x[i] = c * xi - s * yi;
            y[i] = s * xi + c * yi;
        }
    }

    /// <summary>A unit vector orthogonal to the given orthonormal vectors (Gram–Schmidt on the standard basis).</summary>
    private static NComplex[] OrthogonalTo(List<NComplex[]> basis, int m)
    {
        NComplex[]? best = null;
        double bestNorm = -1;
        for (int e = 0; e < m; e++)
        {
            var x = new NComplex[m];
            x[e] = 1;
            for (int pass = 0; pass < 2; pass++)
                foreach (var b in basis)
                {
                    var proj = Dot(b, x);
                    for (int i = 0; i < m; i++) x[i] -= proj * b[i];
                }
            double nrm = Math.Sqrt(SqNorm(x));
            if (nrm > bestNorm) { bestNorm = nrm; best = x; }
            if (nrm > 0.5) break;
        }
        for (int i = 0; i < m; i++) best![i] /= bestNorm;
        return best!;
    }

    /// <summary>Extends an m×k row-major matrix with orthonormal columns to a unitary m×m one.</summary>
    private static NComplex[] Complete(NComplex[] q, int m, int k)
    {
        var cols = new List<NComplex[]>();
        for (int c = 0; c < k; c++)
        {
            var col = new NComplex[m];
            for (int i = 0; i < m; i++) col[i] = q[i * k + c];
            cols.Add(col);
        }
        while (cols.Count < m) cols.Add(OrthogonalTo(cols, m));
        var r = new NComplex[m * m];
        for (int c = 0; c < m; c++)
            for (int i = 0; i < m; i++) r[i * m + c] = cols[c][i];
        return r;
    }

    // ---------------------------------------------------------------- LU: solve, inverse, determinants

    /// <summary>LU factorization with partial pivoting, in place (row-major n×n). Returns the pivot rows and the sign of
    /// the permutation; a zero pivot is left in place (singular matrix).</summary>
    private static (int[] Piv, int Sign) Lu(NComplex[] a, int n)
    {
        var piv = new int[n];
        int sign = 1;
        for (int k = 0; k < n; k++)
        {
            int p = k;
            double best = a[k * n + k].Magnitude;
            for (int i = k + 1; i < n; i++)
            {
                double v = a[i * n + k].Magnitude;
                if (v > best) { best = v; p = i; }
            }
            piv[k] = p;
            if (p != k)
            {
                sign = -sign;
                for (int j = 0; j < n; j++) (a[k * n + j], a[p * n + j]) = (a[p * n + j], a[k * n + j]);
            }
            var d = a[k * n + k];
            if (d == NComplex.Zero) continue;
            for (int i = k + 1; i < n; i++)
            {
                var f = a[i * n + k] / d;
                a[i * n + k] = f;
                if (f == NComplex.Zero) continue;
                for (int j = k + 1; j < n; j++) a[i * n + j] -= f * a[k * n + j];
            }
        }
        return (piv, sign);
    }

    /// <summary>Solves LU·X = P·B in place for B (row-major n×r).</summary>
    private static void LuSolve(NComplex[] lu, int[] piv, int n, NComplex[] b, int r)
    {
        for (int k = 0; k < n; k++)
            if (piv[k] != k)
                for (int j = 0; j < r; j++) (b[k * r + j], b[piv[k] * r + j]) = (b[piv[k] * r + j], b[k * r + j]);
        for (int i = 0; i < n; i++)
            for (int k = 0; k < i; k++)
            {
                var f = lu[i * n + k];
                if (f == NComplex.Zero) continue;
                for (int j = 0; j < r; j++) b[i * r + j] -= f * b[k * r + j];
            }
        for (int i = n - 1; i >= 0; i--)
        {
            for (int k = i + 1; k < n; k++)
            {
                var f = lu[i * n + k];
                if (f == NComplex.Zero) continue;
                for (int j = 0; j < r; j++) b[i * r + j] -= f * b[k * r + j];
            }
            var d = lu[i * n + i];
            for (int j = 0; j < r; j++) b[i * r + j] /= d;
        }
    }

    private static bool Singular(NComplex[] lu, int n)
    {
        double max = 0, min = double.PositiveInfinity;
        for (int i = 0; i < n; i++)
        {
            double v = lu[i * n + i].Magnitude;
            max = Math.Max(max, v);
            min = Math.Min(min, v);
        }
        return n > 0 && (min == 0 || min <= max * 1e-15 * n);
    }

    /// <summary>Solves A·X = B (<c>torch.linalg.solve</c>): A is (..., n, n); B is (..., n, k) or (..., n). Batch dims
    /// broadcast; a real and a complex operand give a complex result. Singular matrices are an error. Gradients:
    /// grad B = A⁻ᴴ·G, grad A = −grad B·Xᴴ.</summary>
    public static Tensor Solve(Tensor a, Tensor b)
    {
        if (a.Dim < 2) throw new ArgumentException($"Solve: A must be (..., n, n), got {ShapeUtil.Str(a.Shape)}.");
        // PyTorch's rule: B is a vector when it is 1-D or has exactly A's shape without the last dim.
        bool vector = b.Dim == 1 || (b.Dim == a.Dim - 1 && ShapeUtil.SameShape(b.Shape, a.Shape[..^1]));
        var bm = vector ? b.Unsqueeze(-1) : b;
        if (bm.Dim < 2 || bm.Size(-2) != a.Size(-1))
            throw new ArgumentException($"Solve: A {ShapeUtil.Str(a.Shape)} and B {ShapeUtil.Str(b.Shape)} do not match (B must be (..., n, k) or (..., n) with n = {a.Size(-1)}).");
        var type = a.IsComplex ? a.DType : b.IsComplex ? b.DType : a.DType;
        if (a.IsComplex && b.IsComplex && a.DType != b.DType || !a.IsComplex && !b.IsComplex && a.DType != b.DType)
            throw new ArgumentException($"Solve: dtype mismatch {a.DType.Name()} vs {b.DType.Name()}.");
        var batch = ShapeUtil.Broadcast("Solve", a.Shape[..^2], bm.Shape[..^2]);
        int n = a.Size(-1), r = bm.Size(-1);
        var ae = a.Detach().Expand(batch.Append(n).Append(n).ToArray());
        var be = bm.Detach().Expand(batch.Append(n).Append(r).ToArray());
        var (am, _, _, _) = Unpack("Solve", ae);
        CheckSquare("Solve", a.Size(-2), n, a);
        var (bs, _, _, _) = Unpack("Solve", be);
        var xs = new NComplex[am.Length][];
        string? error = null;
        ForEach(am.Length, i =>
        {
            var (piv, _) = Lu(am[i], n);
            if (Singular(am[i], n)) { error = $"Solve: matrix {i} of the batch (shape {ShapeUtil.Str(a.Shape)}) is singular to working precision."; return; }
            var x = (NComplex[])bs[i].Clone();
            LuSolve(am[i], piv, n, x, r);
            xs[i] = x;
        });
        if (error is not null) throw new ArgumentException(error);
        var X = Pack(xs, batch, n, r, type);
        if (GradMode.IsEnabled && (a.RequiresGrad || b.RequiresGrad))
        {
            var (aa, bb) = (a, bm);
            X = X.Record("SolveBackward", [a, b], g =>
            {
                var gb = Solve(aa.Detach().MH, g);
                var ga = aa.RequiresGrad ? gb.Matmul(X.Detach().MH).Neg() : null;
                return [ga is null ? null : Fit(ga, aa), b.RequiresGrad ? Fit(gb, bb).Reshape(b.Shape) : null];
            }, a, b, X);
        }
        return vector ? X.Squeeze(-1) : X;
    }

    /// <summary>Sums a broadcast gradient back to an input's shape and takes the real part for a real input.</summary>
    private static Tensor Fit(Tensor g, Tensor input)
    {
        var s = g.SumTo(input.Shape);
        return input.IsComplex ? s : s.Real();
    }

    /// <summary>Cholesky factor L of a real symmetric positive-definite matrix, A = L·Lᵀ with L lower triangular
    /// (<c>torch.linalg.cholesky</c>), batched over leading dims; only A's lower triangle is read. A matrix that is not
    /// positive definite is an error naming its batch index and the order of the failing leading minor. Gradient
    /// (Murray 2016, PyTorch's rule): Ā = ½(S + Sᵀ), S = L⁻ᵀ·Φ(Lᵀ·L̄)·L⁻¹, Φ the lower triangle with the diagonal
    /// halved; recorded from differentiable ops, so higher derivatives work too.</summary>
    public static Tensor Cholesky(Tensor a)
    {
        if (a.Dim < 2 || a.Size(-1) != a.Size(-2))
            throw new ArgumentException($"Cholesky: expects square matrices (..., n, n), got {ShapeUtil.Str(a.Shape)}.");
        if (a.DType != DType.Float32 && a.DType != DType.Float64)
            throw new NotSupportedException($"Cholesky: real float32 or float64 matrices only, got {a.DType.Name()}.");
        int n = a.Size(-1);
        var batch = a.Shape[..^2];
        int count = ShapeUtil.NumEl(batch);
        var src = a.Detach().Contiguous().ToArrayDouble();
        var dst = new double[src.Length];
        string? error = null;
        ForEach(count, b =>
        {
            int o = b * n * n;
            for (int j = 0; j < n; j++)
            {
                double d = src[o + j * n + j];
                for (int k = 0; k < j; k++) d -= dst[o + j * n + k] * dst[o + j * n + k];
                if (!(d > 0))
                {
                    error ??= $"Cholesky: matrix {b} of the batch (shape {ShapeUtil.Str(a.Shape)}) is not positive definite: the leading minor of order {j + 1} is not positive ({d:G6}).";
                    return;
                }
                double ljj = Math.Sqrt(d);
                dst[o + j * n + j] = ljj;
                for (int i = j + 1; i < n; i++)
                {
                    double v = src[o + i * n + j];
                    for (int k = 0; k < j; k++) v -= dst[o + i * n + k] * dst[o + j * n + k];
                    dst[o + i * n + j] = v / ljj;
                }
            }
        });
        if (error is not null) throw new ArgumentException(error);
        var l = Tensor.FromArray(dst, a.Shape);
        if (a.DType == DType.Float32) l = l.To(DType.Float32);
        if (!(GradMode.IsEnabled && a.RequiresGrad)) return l;
        return l.Record("CholeskyBackward", a, g =>
        {
            var L = l.Detach();
            var phi = LowerHalfDiagonal(n, L.DType);
            var inv = Inv(L);
            var p = L.MT.Matmul(g).Mul(phi);
            var sm = inv.MT.Matmul(p).Matmul(inv);
            return sm.Add(sm.MT).Mul(0.5);
        }, l);
    }

    /// <summary>W[i, j] = 1 below the diagonal, ½ on it, 0 above: Φ(X) = X ⊙ W.</summary>
    private static Tensor LowerHalfDiagonal(int n, DType dtype)
    {
        var w = new double[n * n];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < i; j++) w[i * n + j] = 1;
            w[i * n + i] = 0.5;
        }
        var t = Tensor.FromArray(w, n, n);
        return dtype == DType.Float64 ? t : t.To(dtype);
    }

    /// <summary>Matrix inverse (<c>torch.linalg.inv</c>); singular matrices are an error.</summary>
    public static Tensor Inv(Tensor a)
    {
        if (a.Dim < 2 || a.Size(-1) != a.Size(-2)) throw new ArgumentException($"Inv: expects square matrices (..., n, n), got {ShapeUtil.Str(a.Shape)}.");
        return Solve(a, Tensor.Eye(a.Size(-1), dtype: a.DType.ToReal()).To(a.DType));
    }

    /// <summary>Sign (a unit complex number for complex input) and log of the modulus of the determinant
    /// (<c>torch.linalg.slogdet</c>). The log-modulus is differentiable: grad A = g·A⁻ᴴ.</summary>
    public static (Tensor Sign, Tensor LogAbsDet) SlogDet(Tensor a)
    {
        var (mats, batch, m, n) = Unpack("SlogDet", a);
        CheckSquare("SlogDet", m, n, a);
        var signs = new NComplex[mats.Length];
        var logs = new double[mats.Length];
        ForEach(mats.Length, i =>
        {
            var lu = (NComplex[])mats[i].Clone();
            var (_, sign) = Lu(lu, n);
            NComplex ph = sign;
            double la = 0;
            for (int k = 0; k < n; k++)
            {
                var d = lu[k * n + k];
                double mag = d.Magnitude;
                la += Math.Log(mag);
                ph *= mag > 0 ? d / mag : NComplex.Zero;
            }
            signs[i] = ph;
            logs[i] = la;
        });
        var signT = PackFlat(signs, batch, a.DType);
        var realType = a.DType.ToReal();
        var logT = PackFlat(Array.ConvertAll(logs, x => new NComplex(x, 0)), batch, realType);
        if (GradMode.IsEnabled && a.RequiresGrad)
            logT = logT.Record("SlogDetBackward", a, g =>
            {
                var gi = a.IsComplex ? g.To(a.DType) : g;
                return Inv(a.Detach()).MH.Mul(gi.Unsqueeze(-1).Unsqueeze(-1));
            }, a);
        return (signT, logT);
    }

    /// <summary>log det A (<c>torch.logdet</c>): real for real A (NaN when det &lt; 0, −inf when singular), complex
    /// (principal log) for complex A. Gradient g·A⁻ᴴ.</summary>
    public static Tensor LogDet(Tensor a)
    {
        Tensor sign, lad;
        using (Tensor.NoGrad()) (sign, lad) = SlogDet(a.Detach());
        Tensor r;
        if (a.IsComplex)
        {
            using (Tensor.NoGrad()) r = Tensor.Complex(lad, sign.Angle());
        }
        else
        {
            using (Tensor.NoGrad()) r = Tensor.Where(sign.Lt(0), Tensor.Scalar(double.NaN, lad.DType), lad);
        }
        if (!(GradMode.IsEnabled && a.RequiresGrad)) return r;
        return r.Record("LogDetBackward", a, g => Inv(a.Detach()).MH.Mul(g.Unsqueeze(-1).Unsqueeze(-1)), a);
    }

    /// <summary>Determinant (<c>torch.linalg.det</c>) through the LU factorization. Differentiable for invertible A:
    /// grad A = g·conj(det A)·A⁻ᴴ (g·det A·A⁻ᵀ for real A).</summary>
    public static Tensor Det(Tensor a)
    {
        Tensor sign, lad, r;
        using (Tensor.NoGrad())
        {
            (sign, lad) = SlogDet(a.Detach());
            r = sign.Mul(lad.Exp());
        }
        if (!(GradMode.IsEnabled && a.RequiresGrad)) return r;
        return r.Record("DetBackward", a, g => Inv(a.Detach()).MH.Mul(g.Mul(r.Detach().Conj()).Unsqueeze(-1).Unsqueeze(-1)), a, r);
    }

    /// <summary>Moore–Penrose pseudo-inverse (<c>torch.linalg.pinv</c>) through the SVD, dropping singular values below
    /// <paramref name="rcond"/>·σ_max. When gradients are needed the matrix must have full rank: the result is then
    /// computed as (AᴴA)⁻¹Aᴴ (tall) or Aᴴ(AAᴴ)⁻¹ (wide), which autograd differentiates.</summary>
    public static Tensor Pinv(Tensor a, double rcond = 1e-15)
    {
        if (a.Dim < 2) throw new ArgumentException($"Pinv: expects (..., m, n), got {ShapeUtil.Str(a.Shape)}.");
        if (GradMode.IsEnabled && a.RequiresGrad)
        {
            var ah = a.MH;
            return a.Size(-2) >= a.Size(-1) ? Solve(ah.Matmul(a), ah) : Solve(a.Matmul(ah), a).MH;
        }
        var (u, s, vh) = Svd(a);
        var cutoff = s.Narrow(-1, 0, 1).Mul(rcond);
        var sInv = Tensor.Where(s.Gt(cutoff), s.Reciprocal(), Tensor.ZerosLike(s));
        var vs = vh.MH.Mul((a.IsComplex ? sInv.To(a.DType) : sInv).Unsqueeze(-2));
        return vs.Matmul(u.MH);
    }
}
