using System.Diagnostics;

namespace PmemFs.Daemon.Tests;

/// <summary>Capabilities count only in the daemon's user namespace (CapEff elsewhere is over nothing of ours).</summary>
public sealed class CallerCapabilitiesTests
{
    [Fact]
    public void ThisProcessIsInTheDaemonsUserNamespace() =>
        Assert.True(CallerCapabilities.InDaemonUserNamespace(Environment.ProcessId));

    [Fact]
    public void AProcessThatIsGoneHasNoCapabilities() => Assert.Equal(0UL, CallerCapabilities.Effective(int.MaxValue));

    [SkippableFact]
    public void AProcessInItsOwnUserNamespaceHasNoCapabilitiesHereWhateverItsCapEffSays()
    {
        // unshare -Ur: "root" with a full CapEff, but in a namespace of its own.
        var psi = new ProcessStartInfo("unshare", ["--user", "--map-root-user", "sh", "-c", "grep CapEff /proc/self/status; exec sleep 30"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var child = Process.Start(psi)!;
        try
        {
            string? line = child.StandardOutput.ReadLine();
            Skip.If(line is null, "unshare --user fails here (user namespaces disabled)");
            Assert.StartsWith("CapEff:", line!, StringComparison.Ordinal);
            Assert.NotEqual(0UL, Convert.ToUInt64(line[7..].Trim(), 16));
            Assert.False(CallerCapabilities.InDaemonUserNamespace(child.Id));
            Assert.Equal(0UL, CallerCapabilities.Effective(child.Id));
        }
        finally
        {
            child.Kill();
            child.WaitForExit();
        }
    }
    [Fact]
    public void AProcessThatIsGoneHasNoSupplementaryGroups() => Assert.Empty(CallerCapabilities.SupplementaryGroups(int.MaxValue));

    [SkippableFact]
    public void SupplementaryGroupsAreReadFromProcStatus()
    {
        // setpriv --groups: a process whose supplementary groups are 4711 and 4712, primary 4700.
        var psi = new ProcessStartInfo("setpriv", ["--reuid=4700", "--regid=4700", "--groups=4711,4712", "--", "sh", "-c", "echo ready; exec sleep 30"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        Process? child = null;
        try { child = Process.Start(psi); }
        catch (System.ComponentModel.Win32Exception) { }
        Skip.If(child is null, "setpriv is not installed");
        try
        {
            string? line = child!.StandardOutput.ReadLine();
            Skip.If(line != "ready", "setpriv cannot change groups here (not root)");
            Assert.Equal([4711u, 4712u], CallerCapabilities.SupplementaryGroups(child.Id));
            Assert.True(CallerCapabilities.Groups.IsMember(child.Id, 4712));
            Assert.False(CallerCapabilities.Groups.IsMember(child.Id, 4700)); // the primary group is FUSE's own gid
            Assert.False(CallerCapabilities.Groups.IsMember(child.Id, 4713));
        }
        finally
        {
            child!.Kill();
            child.WaitForExit();
        }
    }
}
