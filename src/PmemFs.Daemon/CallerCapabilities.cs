using System.Globalization;
using PmemFs.Engine;

namespace PmemFs.Daemon;

/// <summary>
/// A caller's effective capabilities and supplementary groups, read from /proc/PID/status
/// (CapEff, Groups) at the time of the request: FUSE passes uid, gid and pid, nothing more.
/// </summary>
/// <remarks>
/// CapEff counts in the caller's own user namespace: any user can run `unshare -Ur` and get a
/// full CapEff there, over nothing but that namespace. The kernel's capable() asks about the
/// initial namespace; the daemon asks about its own (the one the mount and its files live in),
/// so a caller in any other user namespace has no capability here.
/// </remarks>
public static class CallerCapabilities
{
    public const int SysAdmin = 21;
    public const int LinuxImmutable = 9;
    public const int Lease = 28;

    /// <summary>Whether process <paramref name="pid"/> has capability number <paramref name="capability"/>; false if it is gone.</summary>
    public static bool Has(int pid, int capability) => (Effective(pid) & (1UL << capability)) != 0;

    /// <summary>The CapEff mask of process <paramref name="pid"/> (bit n is capability n); none if it is gone or in another user namespace.</summary>
    public static ulong Effective(int pid)
    {
        if (pid <= 0) return 0;
        try
        {
            if (!InDaemonUserNamespace(pid)) return 0;
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (!line.StartsWith("CapEff:", StringComparison.Ordinal)) continue;
                return ulong.TryParse(line.AsSpan(7).Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out ulong mask) ? mask : 0;
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return 0;
    }

    /// <summary>
    /// Whether process <paramref name="pid"/> has <paramref name="gid"/> among its supplementary
    /// groups ("Groups:" in /proc/PID/status, in the daemon's id space); false if it is gone.
    /// </summary>
    public static bool InSupplementaryGroup(int pid, uint gid)
    {
        foreach (uint g in SupplementaryGroups(pid))
            if (g == gid) return true;
        return false;
    }

    /// <summary>The supplementary groups of process <paramref name="pid"/>; none if it is gone or unreadable.</summary>
    public static uint[] SupplementaryGroups(int pid)
    {
        if (pid <= 0) return [];
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (!line.StartsWith("Groups:", StringComparison.Ordinal)) continue;
                var groups = new List<uint>();
                foreach (var word in line.AsSpan(7).Trim().ToString().Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))
                    if (uint.TryParse(word, NumberStyles.None, CultureInfo.InvariantCulture, out uint g)) groups.Add(g);
                return [.. groups];
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return [];
    }

    /// <summary>
    /// The engine's view of the callers' supplementary groups: it asks only when the primary gid
    /// does not decide (chgrp to another group, setgid on a file of another group), so /proc is
    /// read on those requests only. The kernel has already checked the same rule (the mount has
    /// default_permissions); this answer keeps the daemon from refusing what Linux allows.
    /// </summary>
    public static readonly IGroupMembership Groups = new ProcGroups();

    private sealed class ProcGroups : IGroupMembership
    {
        public bool IsMember(int pid, uint gid) => InSupplementaryGroup(pid, gid);
    }

    private static readonly string? DaemonUserNamespace = UserNamespaceOf("self");

    /// <summary>The link /proc/PID/ns/user names the namespace ("user:[4026531837]"); unreadable counts as another.</summary>
    public static bool InDaemonUserNamespace(int pid) =>
        DaemonUserNamespace is not null && UserNamespaceOf(pid.ToString(CultureInfo.InvariantCulture)) == DaemonUserNamespace;

    private static string? UserNamespaceOf(string process)
    {
        try { return new FileInfo($"/proc/{process}/ns/user").LinkTarget; }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }
}
