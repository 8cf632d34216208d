using System.Runtime.InteropServices;

namespace PmemFs.Mount.Tests;

/// <summary>
/// The background daemon runs with the runtime's segments garbage collector (libclrgc.so),
/// whose pauses measured a third of the default's (docs/performance.md, "GC pauses"), unless
/// the user chose one with DOTNET_GCName (empty: the runtime's default).
/// </summary>
public class DaemonGcTest
{
    private static bool RuntimeHasSegmentsGc => File.Exists(Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "libclrgc.so"));

    private static bool MapsSegmentsGc(int pid) => File.ReadAllText($"/proc/{pid}/maps").Contains("/libclrgc.so", StringComparison.Ordinal);

    [SkippableFact]
    public void TheDaemonRunsWithTheSegmentsCollector()
    {
        Skip.IfNot(RuntimeHasSegmentsGc, $"the runtime in {RuntimeEnvironment.GetRuntimeDirectory()} has no libclrgc.so");
        using var fs = new MountedFileSystem();
        Assert.True(MapsSegmentsGc(fs.DaemonPid!.Value), "the daemon did not load libclrgc.so");
        Assert.Contains("garbage collector: segments (libclrgc.so)", File.ReadAllText(fs.LogFile));
    }

    [SkippableFact]
    public void AnEmptyDotnetGcNameKeepsTheRuntimesDefault()
    {
        using var fs = new MountedFileSystem(mount: false);
        var r = Proc.Run(fs.Cli, ["mount", fs.Image, fs.Path], TimeSpan.FromSeconds(60), environment: new Dictionary<string, string> { ["DOTNET_GCName"] = "" });
        Assert.True(r.Ok, r.ToString());
        int pid = int.Parse(File.ReadAllText(fs.PidFile).Trim());
        Assert.False(MapsSegmentsGc(pid), "libclrgc.so loaded although the user chose the default");
        Assert.Contains("garbage collector: the runtime's default (regions)", File.ReadAllText(fs.LogFile));
    }
}
