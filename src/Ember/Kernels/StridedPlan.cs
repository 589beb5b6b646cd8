namespace Ember.Kernels;

/// <summary>Callback for one contiguous-in-index run of <c>len</c> elements. <c>off[k]</c> is operand k's storage
/// offset of the first element and <c>inner[k]</c> its stride along the run (0 = broadcast, 1 = dense).</summary>
internal interface IRun
{
    void Run(int len, ReadOnlySpan<int> off, ReadOnlySpan<int> inner);
}

/// <summary>
/// Iteration plan for elementwise ops over K operands sharing one (broadcast) shape. Adjacent dimensions that
/// are contiguous for every operand are merged, so the common cases (all dense, scalar broadcast, row
/// broadcast) become one long run or a few long runs that the SIMD span kernels take whole. Iteration is over
/// linear index ranges, so any range can be handed to a thread.
/// </summary>
internal sealed class StridedPlan
{
    private readonly int[] _shape;          // collapsed, at least one dim
    private readonly int[][] _strides;      // [operand][dim]
    private readonly int[] _base;           // [operand] storage offset
    public readonly int Total;

    public StridedPlan(int[] shape, int[][] strides, int[] offsets)
    {
        int k = strides.Length;
        Total = ShapeUtil.NumEl(shape);
        var dims = new List<int>();
        var st = new List<int>[k];
        for (int o = 0; o < k; o++) st[o] = new List<int>();
        // Drop size-1 dims, then merge dim i into the previous kept dim when contiguous for all operands.
        for (int i = 0; i < shape.Length; i++)
        {
            if (shape[i] == 1) continue;
            int last = dims.Count - 1;
            bool merge = last >= 0;
            for (int o = 0; o < k && merge; o++)
                merge = st[o][last] == strides[o][i] * shape[i];
            if (merge)
            {
                dims[last] *= shape[i];
                for (int o = 0; o < k; o++) st[o][last] = strides[o][i];
            }
            else
            {
                dims.Add(shape[i]);
                for (int o = 0; o < k; o++) st[o].Add(strides[o][i]);
            }
        }
        if (dims.Count == 0)
        {
            dims.Add(1);
            for (int o = 0; o < k; o++) st[o].Add(0);
        }
        _shape = dims.ToArray();
        _strides = new int[k][];
        for (int o = 0; o < k; o++) _strides[o] = st[o].ToArray();
        _base = offsets;
    }

    public int Operands => _base.Length;

    public int InnerLength => _shape[^1];

    /// <summary>Runs <paramref name="run"/> over linear indices [start, end).</summary>
    public void Execute<TRun>(ref TRun run, int start, int end) where TRun : struct, IRun
    {
        if (start >= end) return;
        int nd = _shape.Length, k = _base.Length;
        int inner = _shape[nd - 1];
        Span<int> coord = stackalloc int[nd];
        Span<int> off = stackalloc int[k];
        Span<int> innerStride = stackalloc int[k];
        for (int o = 0; o < k; o++) innerStride[o] = _strides[o][nd - 1];

        // Decompose the starting row into coordinates of the outer dims.
        int row = start / inner, col = start % inner;
        for (int d = nd - 2, r = row; d >= 0; d--)
        {
            coord[d] = r % _shape[d];
            r /= _shape[d];
        }
        for (int o = 0; o < k; o++)
        {
            int acc = _base[o];
            for (int d = 0; d < nd - 1; d++) acc += coord[d] * _strides[o][d];
            off[o] = acc;
        }

        Span<int> runOff = stackalloc int[k];
        int pos = start;
        while (pos < end)
        {
            int len = Math.Min(inner - col, end - pos);
            for (int o = 0; o < k; o++) runOff[o] = off[o] + col * innerStride[o];
            run.Run(len, runOff, innerStride);
            pos += len;
            col = 0;
            // Advance the outer coordinates by one row (odometer with carry).
            for (int d = nd - 2; d >= 0; d--)
            {
                coord[d]++;
                for (int o = 0; o < k; o++) off[o] += _strides[o][d];
                if (coord[d] < _shape[d]) break;
                for (int o = 0; o < k; o++) off[o] -= _strides[o][d] * _shape[d];
                coord[d] = 0;
            }
        }
    }

    /// <summary>Runs the plan across threads when it is large enough to pay for them.</summary>
    public void ExecuteParallel<TRun>(TRun run) where TRun : struct, IRun
    {
        if (Total < Parallelism.ElementwiseGrain || Parallelism.NumThreads == 1)
        {
            Execute(ref run, 0, Total);
            return;
        }
        Parallelism.For(Total, Parallelism.ElementwiseGrain / 2, (s, e) =>
        {
            var r = run;
            Execute(ref r, s, e);
        });
    }
}
