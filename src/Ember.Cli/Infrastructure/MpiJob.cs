using Ember.Distributed;
using Ember.NN;
using Ember.Training;

namespace Ember.Cli.Infrastructure;

/// <summary>
/// The CLI under <c>mpirun -np N ember …</c>: MPI is initialized on the main thread before the command runs, each rank
/// gets the host's cores divided among its ranks (unless EMBER_NUM_THREADS is set), rank 0 alone prints to stdout
/// and writes files, and a rank that fails takes the whole job down with <c>MPI_Abort</c> after saying why, so no
/// rank waits forever in a collective. Commands that train through <see cref="Trainer"/> attach
/// <see cref="DistributedDataParallel"/> to their model with <see cref="Attach"/>.
/// </summary>
internal static class MpiJob
{
    /// <summary>True in a job of more than one rank.</summary>
    public static bool Active => MpiCommunicator.LaunchedByMpirun;

    /// <summary>This process's rank (0 outside a job).</summary>
    public static int Rank => Active ? MpiCommunicator.World.Rank : 0;

    /// <summary>Runs <paramref name="command"/> as one rank of the job.</summary>
    public static int Run(Func<int> command)
    {
        MpiCommunicator world;
        try { world = MpiCommunicator.World; }
        catch (DllNotFoundException e)
        {
            Console.Error.WriteLine("ember: " + e.Message);
            return 2;
        }
        if (Environment.GetEnvironmentVariable("EMBER_NUM_THREADS") is null)
            Parallelism.NumThreads = Math.Max(1, Environment.ProcessorCount / MpiCommunicator.LocalSize);
        var stdout = Console.Out;
        if (world.Rank > 0) Console.SetOut(TextWriter.Null);
        int code;
        try { code = command(); }
        catch (Exception e)
        {
            Console.Error.WriteLine($"ember (rank {world.Rank} of {world.Size}): {e.GetType().Name}: {e.Message}");
            Console.Error.Flush();
            MpiCommunicator.Abort(70);
            return 70;
        }
        finally { Console.SetOut(stdout); }
        if (code != 0)
        {
            // This rank stopped early (a user error it has reported): the others may be waiting for it in a collective.
            Console.Error.WriteLine($"ember (rank {world.Rank} of {world.Size}): exit code {code}; aborting the job");
            Console.Error.Flush();
            MpiCommunicator.Abort(code);
            return code;
        }
        MpiCommunicator.Shutdown();
        return 0;
    }

    /// <summary>Data parallelism for <paramref name="model"/> in a job (null outside one): rank 0's weights broadcast,
    /// gradients all-reduced in buckets during backward.</summary>
    public static DistributedDataParallel? Attach(Module model)
    {
        if (!Active) return null;
        var ddp = new DistributedDataParallel(model);
        var w = MpiCommunicator.World;
        Console.Error.WriteLine(w.Rank == 0
            ? $"data parallel: {w.Size} ranks (Open MPI, {MpiCommunicator.Library}), {Parallelism.NumThreads} thread(s) each, {ddp.BucketSizes.Count} gradient bucket(s)"
            : $"rank {w.Rank}: joined");
        return ddp;
    }

    /// <summary>Fault injection for the tests (EMBER_TEST_EXIT_RANK=r, EMBER_TEST_EXIT_STEP=s): rank r leaves the job at
    /// step s as a crashed process would, without finalizing MPI.</summary>
    public static IDataParallel? WithFaultInjection(IDataParallel? dp)
    {
        if (dp is null || !int.TryParse(Environment.GetEnvironmentVariable("EMBER_TEST_EXIT_RANK"), out int rank) || rank != dp.Rank) return dp;
        int step = int.TryParse(Environment.GetEnvironmentVariable("EMBER_TEST_EXIT_STEP"), out int s) ? s : 1;
        return new Crashing(dp, step);
    }

    private sealed class Crashing(IDataParallel inner, int atStep) : IDataParallel
    {
        private int _steps;
        public int Rank => inner.Rank;
        public int WorldSize => inner.WorldSize;
        public double CommunicationSeconds => inner.CommunicationSeconds;
        public void BeginStep(double w)
        {
            if (++_steps == atStep)
            {
                Console.Error.WriteLine($"rank {Rank}: injected failure at step {atStep}");
                Console.Error.Flush();
                Environment.Exit(3);
            }
            inner.BeginStep(w);
        }
        public void EndStep() => inner.EndStep();
        public double[] AllReduceSum(double[] values) => inner.AllReduceSum(values);
    }
}
