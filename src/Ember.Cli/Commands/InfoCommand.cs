using System.CommandLine;
using System.Runtime.Intrinsics;
using Ember.Cli.Infrastructure;

namespace Ember.Cli.Commands;

/// <summary><c>ember info</c>: what Ember's kernels use on this machine.</summary>
internal static class InfoCommand
{
    public static Command Create()
    {
        var command = new Command("info", "What Ember's kernels use on this machine (SIMD width, threads, settings).");
        command.SetAction(_ =>
        {
            var s = EmberSettings.Current;
            var rows = new List<string[]>
            {
                new[] { "ember", typeof(Tensor).Assembly.GetName().Version?.ToString() ?? "?" },
                new[] { "runtime", System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription },
                new[] { "architecture", System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString() },
                new[] { "cpu threads", $"{s.NumThreads} of {Environment.ProcessorCount} (EMBER_NUM_THREADS overrides)" },
                new[] { "simd", $"Vector512={Vector512.IsHardwareAccelerated} Vector256={Vector256.IsHardwareAccelerated} Vector128={Vector128.IsHardwareAccelerated}" },
                new[] { "gemm path", Ember.Kernels.GemmInfo.Path },
                new[] { "fusion", $"layers={s.FuseLayers} pooling={s.FusePooling}" },
                new[] { "memory", $"recycle activations={s.RecycleActivations} buffer pool={s.BufferPool}" },
            };
            new Terminal(quiet: false).Table(["setting", "value"], rows, numeric: false);
            return 0;
        });
        return command;
    }
}
