using System.Diagnostics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Ember.NN;
using Ember.Training;

namespace Ember.Distributed;

/// <summary>
/// Data-parallel training on MPI, after PyTorch's <c>DistributedDataParallel</c> (Li et al., 2020, "PyTorch
/// Distributed: experiences on accelerating data parallel training"): every rank holds a replica of the model; at
/// construction rank 0's parameters and buffers are broadcast to all; in each step every rank runs backward on its
/// own rows, and the gradients are summed across ranks in buckets of about <c>bucketCapMb</c> megabytes. A bucket's
/// all-reduce (<c>MPI_Iallreduce</c>) starts as soon as the backward pass has finished every gradient in it (a
/// post-accumulate hook on each parameter), so communication overlaps the rest of backward; <see cref="EndStep"/>
/// waits for the last ones and writes the sums back into the gradients.
/// <para>Buckets hold the parameters in reverse registration order (about the order backward finishes them) and are
/// always reduced in bucket order on every rank, whatever order the hooks fire in: a bucket waits for the ones before
/// it. A parameter that received no gradient this step (unused, or a rank with no rows) contributes zeros in
/// <see cref="EndStep"/>, so the ranks' collectives always match.</para>
/// <para>Unlike PyTorch's class this one is not a wrapper module: it attaches to the model it is given (state dict
/// names unchanged) and is driven by <see cref="Trainer"/> through <see cref="IDataParallel"/>. BatchNorm statistics
/// stay per rank (no SyncBatchNorm).</para>
/// </summary>
public sealed class DistributedDataParallel : IDataParallel, IDisposable
{
    private sealed class Bucket
    {
        public required Tensor[] Params;
        public required int[] Offsets;
        public required float[] Buffer;   // pinned: MPI reads and writes it while backward goes on
        public int Ready;
        public MpiRequest? Request;
    }

    private readonly MpiCommunicator _comm;
    private readonly List<Bucket> _buckets = [];
    private readonly Dictionary<Tensor, (Bucket Bucket, int Index)> _where = new(ReferenceEqualityComparer.Instance);
    private readonly HashSet<Tensor> _readyThisStep = new(ReferenceEqualityComparer.Instance);
    private readonly List<IDisposable> _hooks = [];
    private int _next;           // the first bucket not yet launched
    private double _weight;
    private bool _inStep;
    private readonly bool _overlap;

    /// <summary>Attaches to <paramref name="module"/>: broadcasts rank 0's parameters and buffers, builds the buckets and
    /// the gradient hooks. <paramref name="overlap"/> false reduces everything in <see cref="EndStep"/> (for comparison).</summary>
    public DistributedDataParallel(Module module, MpiCommunicator? communicator = null, double bucketCapMb = 25, bool overlap = true)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bucketCapMb);
        _comm = communicator ?? MpiCommunicator.World;
        _overlap = overlap;
        _weight = 1.0 / _comm.Size;
        BroadcastState(module);
        var ps = module.NamedParameters().Where(p => p.Parameter.RequiresGrad).ToList();
        foreach (var (name, p) in ps)
            if (p.DType != DType.Float32)
                throw new NotSupportedException($"DistributedDataParallel: parameter '{name}' is {p.DType.Name()}; gradients are reduced as float32.");
        long cap = Math.Max(1, (long)(bucketCapMb * 1024 * 1024 / sizeof(float)));
        var current = new List<Tensor>();
        long size = 0;
        for (int i = ps.Count - 1; i >= 0; i--)
        {
            var p = ps[i].Parameter;
            if (current.Count > 0 && size + p.NumEl > cap) { AddBucket(current); current = []; size = 0; }
            current.Add(p);
            size += p.NumEl;
        }
        if (current.Count > 0) AddBucket(current);
        if (_overlap)
            foreach (var (_, p) in ps) _hooks.Add(p.RegisterPostAccumulateGradHook(OnGradientReady));
    }

    private void AddBucket(List<Tensor> ps)
    {
        var offsets = new int[ps.Count];
        long total = 0;
        for (int i = 0; i < ps.Count; i++)
        {
            offsets[i] = checked((int)total);
            total += ps[i].NumEl;
        }
        var b = new Bucket { Params = ps.ToArray(), Offsets = offsets, Buffer = GC.AllocateArray<float>(checked((int)total), pinned: true) };
        for (int i = 0; i < ps.Count; i++) _where[ps[i]] = (b, i);
        _buckets.Add(b);
    }

    /// <summary>Rank 0's values of every parameter and buffer on every rank (float32 directly, other dtypes as bytes).</summary>
    private void BroadcastState(Module module)
    {
        if (_comm.Size == 1) return;
        using var _ = Tensor.NoGrad();
        foreach (var (name, t) in module.StateDict())
        {
            if (!t.IsContiguous) throw new NotSupportedException($"DistributedDataParallel: '{name}' is not contiguous");
            if (t.DType == DType.Float32) _comm.Broadcast(t.Span<float>());
            else if (t.DType == DType.Float64) _comm.Broadcast(MemoryMarshal.AsBytes(t.Span<double>()));
            else if (t.DType == DType.Int64) _comm.Broadcast(MemoryMarshal.AsBytes(t.Span<long>()));
            else if (t.DType == DType.Int8) _comm.Broadcast(MemoryMarshal.AsBytes(t.Span<sbyte>()));
            else throw new NotSupportedException($"DistributedDataParallel: cannot broadcast '{name}' of dtype {t.DType.Name()}");
            t.MarkModified();
        }
    }

    /// <inheritdoc/>
    public int Rank => _comm.Rank;

    /// <inheritdoc/>
    public int WorldSize => _comm.Size;

    /// <summary>The buckets' sizes in elements, in reduction order.</summary>
    public IReadOnlyList<int> BucketSizes => _buckets.Select(b => b.Buffer.Length).ToArray();

    /// <inheritdoc/>
    public double CommunicationSeconds { get; private set; }

    /// <summary>Steps completed.</summary>
    public long Steps { get; private set; }

    /// <summary>Buckets whose reduction started during backward (not in <see cref="EndStep"/>), over all steps.</summary>
    public long OverlappedBuckets { get; private set; }

    /// <inheritdoc/>
    public void BeginStep(double gradientWeight)
    {
        if (!double.IsFinite(gradientWeight) || gradientWeight < 0)
            throw new ArgumentOutOfRangeException(nameof(gradientWeight), $"DistributedDataParallel.BeginStep: weight {gradientWeight}");
        _weight = gradientWeight;
        _next = 0;
        _readyThisStep.Clear();
        foreach (var b in _buckets) { b.Ready = 0; b.Request = null; }
        _inStep = true;
    }

    private void OnGradientReady(Tensor p)
    {
        if (!_inStep || !_where.TryGetValue(p, out var at) || !_readyThisStep.Add(p)) return;
        at.Bucket.Ready++;
        while (_next < _buckets.Count && _buckets[_next].Ready == _buckets[_next].Params.Length)
        {
            Launch(_buckets[_next++]);
            OverlappedBuckets++;
        }
        foreach (var b in _buckets) b.Request?.Test();   // progress for those in flight
    }

    private void Launch(Bucket b)
    {
        var buffer = b.Buffer.AsSpan();
        for (int i = 0; i < b.Params.Length; i++)
        {
            var p = b.Params[i];
            var dst = buffer.Slice(b.Offsets[i], p.NumEl);
            if (p.Grad is { } g) TensorPrimitives.Multiply(g.Contiguous().Span<float>(), (float)_weight, dst);
            else dst.Clear();
        }
        b.Request = _comm.AllReduceSumStart(b.Buffer, 0, b.Buffer.Length);
    }

    /// <inheritdoc/>
    public void EndStep()
    {
        var sw = Stopwatch.StartNew();
        while (_next < _buckets.Count) Launch(_buckets[_next++]);
        foreach (var b in _buckets)
        {
            b.Request!.Wait();
            for (int i = 0; i < b.Params.Length; i++)
            {
                var p = b.Params[i];
                var src = b.Buffer.AsSpan(b.Offsets[i], p.NumEl);
                if (p.Grad is null || !p.Grad.IsContiguous)
                {
                    p.Grad = Tensor.Zeros(p.Shape, DType.Float32);
                }
                src.CopyTo(p.Grad.Span<float>());
                p.Grad.MarkModified();
            }
        }
        CommunicationSeconds += sw.Elapsed.TotalSeconds;
        _inStep = false;
        _weight = 1.0 / _comm.Size;
        Steps++;
    }

    /// <inheritdoc/>
    public double[] AllReduceSum(double[] values)
    {
        ArgumentNullException.ThrowIfNull(values);
        var copy = (double[])values.Clone();
        _comm.AllReduceSum(copy);
        return copy;
    }

    /// <summary>Removes the gradient hooks.</summary>
    public void Dispose()
    {
        foreach (var h in _hooks) h.Dispose();
        _hooks.Clear();
    }
}
