using Ember.Autograd;
using Ember.NN;
using Xunit;

namespace Ember.Tests.NN;

/// <summary>The house's mechanisms: settings scoped per flow (and carried into worker threads), fusion declared by the
/// layer (a user's layer included), recycling declared by the module (a user's module that holds activations never
/// loses them).</summary>
public class MechanismTests
{
    [Fact]
    public async Task SettingsScopesArePerFlowNestAndRestore()
    {
        var global = EmberSettings.Global;
        using (EmberSettings.Scope(EmberSettings.Current with { NumThreads = 1, FuseLayers = false }))
        {
            Assert.Equal(1, EmberSettings.Current.NumThreads);
            Assert.False(EmberSettings.Current.FuseLayers);
            using (EmberSettings.Scope(EmberSettings.Current with { FuseLayers = true }))
            {
                Assert.Equal(1, Parallelism.NumThreads);                 // inherited from the outer scope
                Assert.True(EmberSettings.Current.FuseLayers);
            }
            Assert.False(EmberSettings.Current.FuseLayers);
            Assert.Same(global, EmberSettings.Global);                    // a scope never touches the process-wide settings
        }
        Assert.Same(global, EmberSettings.Current);

        // Two flows at once, each with its own thread count: neither sees the other's.
        var seen = new int[2];
        using var barrier = new Barrier(2);
        var flows = Enumerable.Range(0, 2).Select(i => Task.Run(() =>
        {
            using var scope = EmberSettings.Scope(EmberSettings.Current with { NumThreads = i + 1 });
            barrier.SignalAndWait();
            seen[i] = Parallelism.NumThreads;
            barrier.SignalAndWait();
        })).ToArray();
        await Task.WhenAll(flows);
        Assert.Equal([1, 2], seen);
    }

    [Fact]
    public void FromEnvironmentReadsTheVariablesAndIgnoresBadValues()
    {
        string? saved = Environment.GetEnvironmentVariable("EMBER_NUM_THREADS"), fuse = Environment.GetEnvironmentVariable("EMBER_FUSE");
        try
        {
            Environment.SetEnvironmentVariable("EMBER_NUM_THREADS", "3");
            Environment.SetEnvironmentVariable("EMBER_FUSE", "0");
            var s = EmberSettings.FromEnvironment();
            Assert.Equal(3, s.NumThreads);
            Assert.False(s.FuseLayers);
            Assert.True(s.FusePooling);
            Environment.SetEnvironmentVariable("EMBER_NUM_THREADS", "-4");
            Assert.Equal(Environment.ProcessorCount, EmberSettings.FromEnvironment().NumThreads);
        }
        finally
        {
            Environment.SetEnvironmentVariable("EMBER_NUM_THREADS", saved);
            Environment.SetEnvironmentVariable("EMBER_FUSE", fuse);
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => EmberSettings.Current with { ConvScratch = 0 });
    }

    /// <summary>A user's layer that absorbs a following <see cref="Tanh"/>: computes 2·tanh(x) in one op.</summary>
    private sealed class DoubleThenTanh : Module, IFusibleLayer
    {
        public int Fused;
        public override Tensor Forward(Tensor input) => input.Mul(2);
        public int FusibleFollowers(IReadOnlyList<Module> layers, int next, EmberSettings settings) =>
            next < layers.Count && layers[next] is Tanh ? 1 : 0;
        public Tensor ForwardFused(Tensor input, IReadOnlyList<Module> layers, int next, int followers)
        {
            Fused++;
            return input.Mul(2).Tanh();
        }
    }

    [Fact]
    public void SequentialFusesAUsersLayerThatDeclaresItAndNotWhenFusionIsOff()
    {
        var layer = new DoubleThenTanh();
        var model = new Sequential(layer, new Tanh(), new DoubleThenTanh());
        var x = Tensor.Randn([4, 3], DType.Float64, new Generator(1));
        var want = x.Mul(2).Tanh().Mul(2).ToArray<double>();
        Assert.Equal(want, model.Call(x).ToArray<double>());
        Assert.Equal(1, layer.Fused);
        using (EmberSettings.Scope(EmberSettings.Current with { FuseLayers = false }))
            Assert.Equal(want, model.Call(x).ToArray<double>());
        Assert.Equal(1, layer.Fused);                                    // not fused with fusion off
    }

    /// <summary>A user's module that keeps an intermediate (as a cache would): it must not be recycled.</summary>
    private sealed class KeepsIntermediate(Linear a, Linear b) : Module
    {
        public Tensor? Kept;
        public override Tensor Forward(Tensor input)
        {
            Kept = a.Call(input).Relu();
            return b.Call(Kept);
        }
    }

    [Fact]
    public void ModulesThatHoldActivationsKeepThemAndBuiltInsReleaseThem()
    {
        var g = new Generator(2);
        var keeper = new KeepsIntermediate(new Linear(300, 400, generator: g), new Linear(400, 10, generator: g));
        var x = Tensor.Randn([256, 300], DType.Float32, g);
        var loss = keeper.Call(x).Sum();
        var kept = keeper.Kept!.ToArray<float>();
        long before = Engine.ActivationsRecycledHere;
        loss.Backward();
        Assert.Equal(before, Engine.ActivationsRecycledHere);            // default HoldsActivations: nothing recycled
        Assert.Equal(kept, keeper.Kept!.ToArray<float>());

        var builtIn = new Sequential(new Linear(300, 400, generator: g), new GELU(), new Linear(400, 10, generator: g));
        Assert.False(builtIn.HoldsActivations);
        before = Engine.ActivationsRecycledHere;
        builtIn.Call(x).Sum().Backward();
        Assert.True(Engine.ActivationsRecycledHere > before, "the built-in stack recycled nothing");
    }

    [Fact]
    public void ComplexDropoutDrawsFromItsGeneratorAndDeclaresIt()
    {
        var z = Tensor.Randn([64, 32], DType.Complex64, new Generator(3));
        var layer = new ComplexDropout(0.3, new Generator(9));
        Assert.Same(layer.RandomSource, layer.RandomSource);
        Assert.NotNull(layer.RandomSource);
        var got = layer.Call(z).ToArray<Complex64>();
        var want = Functional.ComplexDropout(z, 0.3, training: true, new Generator(9)).ToArray<Complex64>();
        Assert.Equal(want, got);
        Assert.Null(new ComplexDropout(0).RandomSource);
    }
}

/// <summary>Runs alone (no other test class at the same time), so that Ember's worker pool is free for its regions.</summary>
[CollectionDefinition("WorkerPoolAlone", DisableParallelization = true)]
public class WorkerPoolAloneCollection;

/// <summary>Settings reach the worker threads of a parallel region.</summary>
[Collection("WorkerPoolAlone")]
public class WorkerSettingsTests
{
    [Fact]
    public void WorkerThreadsRunUnderTheSettingsOfTheFlowThatStartedTheRegion()
    {
        using var scope = EmberSettings.Scope(EmberSettings.Current with { NumThreads = 2, ConvColumns = 777 });
        bool sawWorker = false;
        // A region runs inline when another one is in flight (other test classes): try until a worker took part.
        for (int attempt = 0; attempt < 200 && !sawWorker; attempt++)
        {
            var columns = new int[64];
            var threads = new int[64];
            Parallelism.ForEach(64, i =>
            {
                columns[i] = EmberSettings.Current.ConvColumns;
                threads[i] = Environment.CurrentManagedThreadId;
                Thread.SpinWait(20_000);                                  // long enough for the worker to take some
            });
            Assert.All(columns, c => Assert.Equal(777, c));
            sawWorker = threads.Distinct().Count() > 1;
        }
        if (Environment.ProcessorCount > 1) Assert.True(sawWorker, "no region ran on a worker thread");
        Assert.NotEqual(777, EmberSettings.Global.ConvColumns);
    }
}
