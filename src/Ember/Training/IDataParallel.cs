namespace Ember.Training;

/// <summary>
/// Data-parallel training across processes, as <see cref="Trainer"/> uses it: every process (rank) holds the same
/// model, takes its own rows of each global batch (<see cref="Shard"/>), runs forward and backward on them, and the
/// gradients are summed across ranks (each rank's weighted by its share of the batch) before the optimizer steps, so
/// that every rank takes the same step that one process would take on the whole batch. Ember.Distributed implements
/// it on MPI (<c>DistributedDataParallel</c>); the core library only knows this contract.
/// </summary>
public interface IDataParallel
{
    /// <summary>This process's index, 0 … <see cref="WorldSize"/> − 1. Rank 0 writes checkpoints, logs and progress.</summary>
    int Rank { get; }

    /// <summary>The number of processes.</summary>
    int WorldSize { get; }

    /// <summary>Called before this rank's backward pass of a step: its gradients will be scaled by
    /// <paramref name="gradientWeight"/> (its rows over the global batch's) when they are summed across ranks.</summary>
    void BeginStep(double gradientWeight);

    /// <summary>Called after the backward pass (also by a rank that had no rows this step): returns once every
    /// parameter's <see cref="Tensor.Grad"/> holds the weighted sum over all ranks.</summary>
    void EndStep();

    /// <summary>The element-wise sum of <paramref name="values"/> over all ranks (every rank gets it).</summary>
    double[] AllReduceSum(double[] values);

    /// <summary>Seconds this rank has spent waiting for gradient reductions (communication not hidden by backward).</summary>
    double CommunicationSeconds { get; }

    /// <summary>This rank's rows of a global batch of <paramref name="count"/>: contiguous, sizes differing by at most one.</summary>
    static (int Start, int Count) Shard(int count, int rank, int worldSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (worldSize < 1 || rank < 0 || rank >= worldSize) throw new ArgumentOutOfRangeException(nameof(rank), $"Shard: rank {rank} of {worldSize}");
        int baseSize = count / worldSize, extra = count % worldSize;
        int start = rank * baseSize + Math.Min(rank, extra);
        return (start, baseSize + (rank < extra ? 1 : 0));
    }
}
