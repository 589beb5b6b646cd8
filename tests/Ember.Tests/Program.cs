namespace Ember.Tests;

/// <summary>The test assembly is also a program: <c>dotnet exec Ember.Tests.dll kernel-checks</c> runs the kernel
/// checks in a fresh process, so tests can run them with instruction sets disabled by environment variables.</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length == 1 && args[0] == "kernel-checks") return Kernels.KernelChecks.RunInProcess();
        Console.Error.WriteLine("usage: Ember.Tests kernel-checks   (tests run through 'dotnet test')");
        return 2;
    }
}
