using System.Runtime.InteropServices;

namespace PmemFs.Daemon;

/// <summary>
/// Which garbage collector the background daemon runs with. The runtime's default collector
/// (regions, since .NET 7) paused the daemon three times as long per collection as the
/// segments collector the runtime also ships (libclrgc.so): 15-21 ms against 5-6 ms for the
/// gen-1 collection that 10,000 creates make, with the same CPU per operation and the same
/// resident memory (docs/performance.md, "GC pauses"). Such a pause stops every request in
/// flight, so the daemon is started with the segments collector when the runtime has it and the
/// user has not chosen a collector (DOTNET_GCName; set it empty for the runtime's default).
/// The choice must be made before the runtime starts: a daemon in the foreground (-f) keeps
/// the collector its process started with.
/// </summary>
public static class DaemonGc
{
    public const string Variable = "DOTNET_GCName", Segments = "libclrgc.so";

    /// <summary>The collector to ask for in the daemon's environment, or null to leave it to the runtime (or to the user's own choice).</summary>
    public static string? ChooseForChild()
    {
        if (Environment.GetEnvironmentVariable(Variable) is not null || Environment.GetEnvironmentVariable("COMPlus_GCName") is not null) return null;
        return File.Exists(Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), Segments)) ? Segments : null;
    }

    /// <summary>For the log: the collector this process runs with.</summary>
    public static string Describe()
    {
        string? name = Environment.GetEnvironmentVariable(Variable) ?? Environment.GetEnvironmentVariable("COMPlus_GCName");
        return string.IsNullOrEmpty(name) ? "the runtime's default (regions)" : name == Segments ? $"segments ({Segments})" : name;
    }
}
