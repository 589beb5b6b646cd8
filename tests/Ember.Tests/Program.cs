namespace Ember.Tests;

/// <summary>The test assembly is also a program: <c>dotnet exec Ember.Tests.dll kernel-checks</c> runs the kernel
/// checks in a fresh process, so tests can run them with instruction sets disabled by environment variables;
/// <c>atomic-write-hang PATH</c> starts an atomic write of PATH and stops midway, for a test to kill.</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length == 1 && args[0] == "kernel-checks") return Kernels.KernelChecks.RunInProcess();
        if (args.Length == 2 && args[0] == "atomic-write-hang") return IO.HostileFileTests.WriteAndHang(args[1]);
        Console.Error.WriteLine("usage: Ember.Tests kernel-checks   (tests run through 'dotnet test')");
        return 2;
    }
}
