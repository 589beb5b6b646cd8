using System.Runtime.Intrinsics;
using Ember;

namespace Ember.Cli;

/// <summary>The <c>ember</c> command. Training commands (quickstart, train, milestone …) arrive with the
/// training work; today it reports what the kernels will use on this machine.</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        string cmd = args.Length > 0 ? args[0] : "--help";
        switch (cmd)
        {
            case "info":
                Console.WriteLine($"ember {typeof(Tensor).Assembly.GetName().Version}");
                Console.WriteLine($"runtime      {System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription}");
                Console.WriteLine($"cpu threads  {Parallelism.NumThreads} (of {Environment.ProcessorCount}; EMBER_NUM_THREADS overrides)");
                Console.WriteLine($"simd         Vector512={Vector512.IsHardwareAccelerated} Vector256={Vector256.IsHardwareAccelerated} Vector128={Vector128.IsHardwareAccelerated}");
                Console.WriteLine($"gemm path    {Ember.Kernels.GemmInfo.Path}");
                return 0;
            case "quickstart":
                Console.Error.WriteLine("ember quickstart: not available yet — it needs the modules, optimizers and data loaders of the training work (issue 3). The tensor core it builds on is in place: run the tests with 'dotnet test tests/Ember.Tests -c Release'.");
                return 1;
            case "-h":
            case "--help":
            case "help":
                Console.WriteLine("usage: ember <command>\n\ncommands:\n  info    what Ember's kernels use on this machine (SIMD width, threads)\n  help    this text");
                return 0;
            default:
                Console.Error.WriteLine($"ember: unknown command '{cmd}'. Run 'ember --help' for the list.");
                return 2;
        }
    }
}
