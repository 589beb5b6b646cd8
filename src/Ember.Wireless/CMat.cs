using NComplex = System.Numerics.Complex;

namespace Ember.Wireless;

/// <summary>A small dense complex matrix in row-major order, for the per-channel algorithms (OMP, spectral efficiency)
/// whose matrices are a few dozen entries wide: plain loops beat tensor dispatch at this size.</summary>
public sealed class CMat
{
    public readonly int Rows, Cols;
    public readonly NComplex[] Data;

    public CMat(int rows, int cols)
    {
        Rows = rows;
        Cols = cols;
        Data = new NComplex[rows * cols];
    }

    public CMat(int rows, int cols, NComplex[] data)
    {
        if (data.Length != rows * cols) throw new ArgumentException($"CMat: {data.Length} values for a {rows}x{cols} matrix.");
        Rows = rows;
        Cols = cols;
        Data = data;
    }

    public NComplex this[int r, int c]
    {
        get => Data[r * Cols + c];
        set => Data[r * Cols + c] = value;
    }

    public static CMat Identity(int n)
    {
        var m = new CMat(n, n);
        for (int i = 0; i < n; i++) m[i, i] = 1;
        return m;
    }

    /// <summary>Conjugate transpose.</summary>
    public CMat H()
    {
        var r = new CMat(Cols, Rows);
        for (int i = 0; i < Rows; i++)
            for (int j = 0; j < Cols; j++) r.Data[j * Rows + i] = NComplex.Conjugate(Data[i * Cols + j]);
        return r;
    }

    public static CMat operator *(CMat a, CMat b)
    {
        if (a.Cols != b.Rows) throw new ArgumentException($"CMat: cannot multiply {a.Rows}x{a.Cols} by {b.Rows}x{b.Cols}.");
        var r = new CMat(a.Rows, b.Cols);
        int n = b.Cols;
        for (int i = 0; i < a.Rows; i++)
        {
            var row = r.Data.AsSpan(i * n, n);
            for (int k = 0; k < a.Cols; k++)
            {
                var f = a.Data[i * a.Cols + k];
                if (f == NComplex.Zero) continue;
                var brow = b.Data.AsSpan(k * n, n);
                for (int j = 0; j < n; j++) row[j] += f * brow[j];
            }
        }
        return r;
    }

    public static CMat operator *(NComplex s, CMat a) => new(a.Rows, a.Cols, Array.ConvertAll(a.Data, v => s * v));

    public static CMat operator +(CMat a, CMat b) => Zip(a, b, (x, y) => x + y);

    public static CMat operator -(CMat a, CMat b) => Zip(a, b, (x, y) => x - y);

    private static CMat Zip(CMat a, CMat b, Func<NComplex, NComplex, NComplex> f)
    {
        if (a.Rows != b.Rows || a.Cols != b.Cols) throw new ArgumentException($"CMat: shapes {a.Rows}x{a.Cols} and {b.Rows}x{b.Cols} differ.");
        var r = new CMat(a.Rows, a.Cols);
        for (int i = 0; i < r.Data.Length; i++) r.Data[i] = f(a.Data[i], b.Data[i]);
        return r;
    }

    /// <summary>‖A‖_F.</summary>
    public double FrobeniusNorm()
    {
        double s = 0;
        foreach (var z in Data) s += z.Real * z.Real + z.Imaginary * z.Imaginary;
        return Math.Sqrt(s);
    }

    /// <summary>Columns <paramref name="start"/> … start + count − 1.</summary>
    public CMat ColumnRange(int start, int count)
    {
        var r = new CMat(Rows, count);
        for (int i = 0; i < Rows; i++)
            for (int j = 0; j < count; j++) r.Data[i * count + j] = Data[i * Cols + start + j];
        return r;
    }

    /// <summary>The listed columns, in order.</summary>
    public CMat Columns(IReadOnlyList<int> cols)
    {
        var r = new CMat(Rows, cols.Count);
        for (int i = 0; i < Rows; i++)
            for (int j = 0; j < cols.Count; j++) r.Data[i * cols.Count + j] = Data[i * Cols + cols[j]];
        return r;
    }

    /// <summary>Solves A X = B by Gaussian elimination with partial pivoting (A square, small).</summary>
    public static CMat Solve(CMat a, CMat b)
    {
        int n = a.Rows;
        if (a.Cols != n || b.Rows != n) throw new ArgumentException($"CMat.Solve: A {a.Rows}x{a.Cols}, B {b.Rows}x{b.Cols}.");
        var m = (NComplex[])a.Data.Clone();
        var x = (NComplex[])b.Data.Clone();
        int r = b.Cols;
        for (int k = 0; k < n; k++)
        {
            int p = k;
            for (int i = k + 1; i < n; i++) if (m[i * n + k].Magnitude > m[p * n + k].Magnitude) p = i;
            if (m[p * n + k] == NComplex.Zero) throw new ArgumentException($"CMat.Solve: the {n}x{n} matrix is singular.");
            if (p != k)
            {
                for (int j = 0; j < n; j++) (m[k * n + j], m[p * n + j]) = (m[p * n + j], m[k * n + j]);
                for (int j = 0; j < r; j++) (x[k * r + j], x[p * r + j]) = (x[p * r + j], x[k * r + j]);
            }
            for (int i = k + 1; i < n; i++)
            {
                var f = m[i * n + k] / m[k * n + k];
                if (f == NComplex.Zero) continue;
                for (int j = k; j < n; j++) m[i * n + j] -= f * m[k * n + j];
                for (int j = 0; j < r; j++) x[i * r + j] -= f * x[k * r + j];
            }
        }
        for (int i = n - 1; i >= 0; i--)
            for (int j = 0; j < r; j++)
            {
                var s = x[i * r + j];
                for (int k = i + 1; k < n; k++) s -= m[i * n + k] * x[k * r + j];
                x[i * r + j] = s / m[i * n + i];
            }
        return new CMat(n, r, x);
    }

    /// <summary>log₂ det of a Hermitian positive-definite matrix (Cholesky).</summary>
    public static double Log2DetHpd(CMat a)
    {
        int n = a.Rows;
        var l = new NComplex[n * n];
        double logdet = 0;
        for (int j = 0; j < n; j++)
        {
            double d = a[j, j].Real;
            for (int k = 0; k < j; k++) d -= (l[j * n + k] * NComplex.Conjugate(l[j * n + k])).Real;
            if (!(d > 0)) throw new ArgumentException($"CMat.Log2DetHpd: the {n}x{n} matrix is not positive definite (pivot {d:G4} at {j}).");
            double ljj = Math.Sqrt(d);
            l[j * n + j] = ljj;
            logdet += 2 * Math.Log2(ljj);
            for (int i = j + 1; i < n; i++)
            {
                var s = a[i, j];
                for (int k = 0; k < j; k++) s -= l[i * n + k] * NComplex.Conjugate(l[j * n + k]);
                l[i * n + j] = s / ljj;
            }
        }
        return logdet;
    }

    /// <summary>The matrix as a complex128 tensor [Rows, Cols].</summary>
    public Tensor ToTensor() => Tensor.FromArray((NComplex[])Data.Clone(), Rows, Cols);

    /// <summary>A complex (or real) matrix tensor [rows, cols] as a CMat.</summary>
    public static CMat FromTensor(Tensor t)
    {
        if (t.Dim != 2) throw new ArgumentException($"CMat.FromTensor: expects a matrix, got shape [{string.Join(", ", t.Shape)}].");
        return new CMat(t.Size(0), t.Size(1), t.ToComplexArray());
    }
}
