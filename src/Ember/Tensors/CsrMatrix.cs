namespace Ember;

/// <summary>A sparse float32 matrix in compressed sparse row form (as <c>scipy.sparse.csr_matrix</c>): row i's entries
/// are <c>Values[RowPtr[i] .. RowPtr[i + 1]]</c> at columns <c>ColumnIndices[...]</c>, columns ascending within a row.
/// What bag-of-words features (TF-IDF) are: a 6,000-review table with 40,000 terms holds ~1 M entries (8 MB) where the
/// dense matrix would take 960 MB. Immutable; row selections copy.</summary>
public sealed class CsrMatrix
{
    /// <summary>Number of rows.</summary>
    public int Rows { get; }
    /// <summary>Number of columns.</summary>
    public int Columns { get; }
    /// <summary>Row pointers: row i's entries are at [RowPtr[i], RowPtr[i + 1]).</summary>
    public int[] RowPtr { get; }
    /// <summary>Column of each stored entry.</summary>
    public int[] ColumnIndices { get; }
    /// <summary>Value of each stored entry.</summary>
    public float[] Values { get; }

    /// <summary>Number of stored entries.</summary>
    public int Count => RowPtr[Rows];

    /// <summary>A CSR matrix from its arrays (checked: sorted row pointers, columns in range).</summary>
    public CsrMatrix(int rows, int columns, int[] rowPtr, int[] columnIndices, float[] values)
    {
        if (rows < 0 || columns < 0) throw new ArgumentException($"CsrMatrix: negative size {rows} x {columns}.");
        if (rowPtr.Length != rows + 1 || rowPtr[0] != 0)
            throw new ArgumentException($"CsrMatrix: row pointers must have {rows + 1} entries starting at 0, got {rowPtr.Length}.");
        if (columnIndices.Length != values.Length || rowPtr[rows] != values.Length)
            throw new ArgumentException($"CsrMatrix: {values.Length} values, {columnIndices.Length} column indices and a last row pointer of {rowPtr[rows]} must agree.");
        for (int i = 0; i < rows; i++)
        {
            if (rowPtr[i + 1] < rowPtr[i]) throw new ArgumentException($"CsrMatrix: row pointers decrease at row {i}.");
            for (int p = rowPtr[i]; p < rowPtr[i + 1]; p++)
                if ((uint)columnIndices[p] >= (uint)columns || (p > rowPtr[i] && columnIndices[p] <= columnIndices[p - 1]))
                    throw new ArgumentException($"CsrMatrix: row {i} has column {columnIndices[p]} out of [0, {columns}) or out of ascending order.");
        }
        (Rows, Columns, RowPtr, ColumnIndices, Values) = (rows, columns, rowPtr, columnIndices, values);
    }

    private CsrMatrix(int rows, int columns, int[] rowPtr, int[] columnIndices, float[] values, bool trusted)
        => (Rows, Columns, RowPtr, ColumnIndices, Values) = (rows, columns, rowPtr, columnIndices, values);

    /// <summary>The stored entries of a dense 2-D float tensor (exact zeros are not stored).</summary>
    public static CsrMatrix FromDense(Tensor dense)
    {
        if (dense.Dim != 2) throw new ArgumentException($"CsrMatrix.FromDense: expected a 2-D tensor, got {ShapeUtil.Str(dense._shape)}.");
        var d = dense.To(DType.Float32).Contiguous().ToArray<float>();
        int r = dense._shape[0], c = dense._shape[1];
        var ptr = new int[r + 1];
        var idx = new List<int>();
        var val = new List<float>();
        for (int i = 0; i < r; i++)
        {
            for (int j = 0; j < c; j++)
                if (d[i * c + j] != 0) { idx.Add(j); val.Add(d[i * c + j]); }
            ptr[i + 1] = idx.Count;
        }
        return new CsrMatrix(r, c, ptr, idx.ToArray(), val.ToArray(), trusted: true);
    }

    /// <summary>The dense (Rows, Columns) float32 tensor.</summary>
    public Tensor ToDense()
    {
        var t = Tensor.Empty(DType.Float32, [Rows, Columns], zero: true);
        var d = t.Data<float>();
        for (int i = 0; i < Rows; i++)
            for (int p = RowPtr[i]; p < RowPtr[i + 1]; p++) d[(long)i * Columns + ColumnIndices[p]] = Values[p];
        return t;
    }

    /// <summary>The rows at <paramref name="rows"/>, in that order (repeats allowed).</summary>
    public CsrMatrix SelectRows(ReadOnlySpan<int> rows)
    {
        var ptr = new int[rows.Length + 1];
        long total = 0;
        for (int i = 0; i < rows.Length; i++)
        {
            int r = rows[i];
            if ((uint)r >= (uint)Rows) throw new ArgumentOutOfRangeException(nameof(rows), $"CsrMatrix.SelectRows: row {r} is outside [0, {Rows}).");
            total += RowPtr[r + 1] - RowPtr[r];
            ptr[i + 1] = checked((int)total);
        }
        var idx = new int[total];
        var val = new float[total];
        for (int i = 0; i < rows.Length; i++)
        {
            int r = rows[i], n = RowPtr[r + 1] - RowPtr[r];
            Array.Copy(ColumnIndices, RowPtr[r], idx, ptr[i], n);
            Array.Copy(Values, RowPtr[r], val, ptr[i], n);
        }
        return new CsrMatrix(rows.Length, Columns, ptr, idx, val, trusted: true);
    }

    /// <summary>The rows at int64 <paramref name="index"/> (what <see cref="Tensor.IndexSelect"/> takes).</summary>
    public CsrMatrix SelectRows(Tensor index) => SelectRows(index.ToArray<long>().Select(i => checked((int)i)).ToArray());

    /// <summary>Rows [start, start + length).</summary>
    public CsrMatrix Slice(int start, int length)
    {
        if (start < 0 || length < 0 || start + length > Rows)
            throw new ArgumentOutOfRangeException(nameof(start), $"CsrMatrix.Slice: rows [{start}, {start + length}) are outside [0, {Rows}).");
        int from = RowPtr[start], to = RowPtr[start + length];
        var ptr = new int[length + 1];
        for (int i = 0; i <= length; i++) ptr[i] = RowPtr[start + i] - from;
        return new CsrMatrix(length, Columns, ptr, ColumnIndices[from..to], Values[from..to], trusted: true);
    }

    /// <summary>[this, dense] side by side: (Rows, Columns + D) for a dense (Rows, D) tensor (its zeros not stored).</summary>
    public CsrMatrix AppendColumns(Tensor dense)
    {
        if (dense.Dim != 2 || dense._shape[0] != Rows)
            throw new ArgumentException($"CsrMatrix.AppendColumns: expected ({Rows}, D), got {ShapeUtil.Str(dense._shape)}.");
        int d = dense._shape[1];
        var x = dense.To(DType.Float32).Contiguous().ToArray<float>();
        var ptr = new int[Rows + 1];
        var idx = new List<int>(Count + Rows * d);
        var val = new List<float>(Count + Rows * d);
        for (int i = 0; i < Rows; i++)
        {
            for (int p = RowPtr[i]; p < RowPtr[i + 1]; p++) { idx.Add(ColumnIndices[p]); val.Add(Values[p]); }
            for (int j = 0; j < d; j++)
                if (x[i * d + j] != 0) { idx.Add(Columns + j); val.Add(x[i * d + j]); }
            ptr[i + 1] = idx.Count;
        }
        return new CsrMatrix(Rows, Columns + d, ptr, idx.ToArray(), val.ToArray(), trusted: true);
    }

    /// <summary>X·Wᵀ (+ b), (Rows, out), for a dense weight (out, Columns): a linear layer over sparse rows. The
    /// weight and bias get gradients (dW = gᵀ·X, db = Σ rows of g); X is data and gets none. float32.</summary>
    public Tensor Linear(Tensor weight, Tensor? bias = null, double scale = 1)
    {
        const string op = "CsrMatrix.Linear";
        if (weight.Dim != 2 || weight._shape[1] != Columns || weight.DType != DType.Float32)
            throw new ArgumentException($"{op}: weight must be float32 (out, {Columns}), got {weight.DType.Name()} {ShapeUtil.Str(weight._shape)}.");
        int o = weight._shape[0];
        if (bias is not null && (bias.Dim != 1 || bias._shape[0] != o || bias.DType != DType.Float32))
            throw new ArgumentException($"{op}: bias must be float32 ({o}), got {bias.DType.Name()} {ShapeUtil.Str(bias._shape)}.");
        var w = weight.Contiguous().ToArray<float>();
        var b = bias?.Contiguous().ToArray<float>();
        var y = Tensor.Empty(DType.Float32, [Rows, o]);
        var yd = y.Data<float>();
        float s = (float)scale;
        for (int i = 0; i < Rows; i++)
            for (int k = 0; k < o; k++)
            {
                float acc = 0;
                int wk = k * Columns;
                for (int p = RowPtr[i]; p < RowPtr[i + 1]; p++) acc += Values[p] * w[wk + ColumnIndices[p]];
                yd[i * o + k] = acc * s + (b is null ? 0 : b[k]);
            }
        if (!(GradMode.IsEnabled && (weight.RequiresGrad || (bias?.RequiresGrad ?? false)))) return y;
        return y.Record("SparseLinearBackward", bias is null ? [weight] : [weight, bias], g =>
        {
            var gd = g.Contiguous().ToArray<float>();                       // (Rows, out)
            Tensor? dw = null, db = null;
            if (weight.RequiresGrad)
            {
                dw = Tensor.Empty(DType.Float32, [o, Columns], zero: true);
                var dwd = dw.Data<float>();
                for (int i = 0; i < Rows; i++)
                    for (int k = 0; k < o; k++)
                    {
                        float gk = gd[i * o + k] * s;
                        if (gk == 0) continue;
                        int wk = k * Columns;
                        for (int p = RowPtr[i]; p < RowPtr[i + 1]; p++) dwd[wk + ColumnIndices[p]] += gk * Values[p];
                    }
            }
            if (bias is { RequiresGrad: true })
            {
                var sums = new float[o];
                for (int i = 0; i < Rows; i++)
                    for (int k = 0; k < o; k++) sums[k] += gd[i * o + k];
                db = Tensor.FromArray(sums);
            }
            return bias is null ? [dw] : [dw, db];
        });
    }
}
