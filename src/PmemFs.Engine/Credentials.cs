namespace PmemFs.Engine;

/// <summary>
/// Who asks: from the FUSE request (uid, gid, pid), plus the caller's effective capabilities
/// where an operation needs them (the adapter reads them from /proc/PID/status only then).
/// Root is uid 0; capability checks never assume root has them.
/// </summary>
/// <remarks>
/// FUSE passes only the primary gid. <paramref name="Groups"/> answers for the supplementary
/// groups, and is asked only when the primary gid does not decide (a chown/chgrp to another
/// group, a setgid bit on a file of another group): never on a hot path.
/// <paramref name="Umask"/> is the caller's umask for creations the engine must mask itself
/// (the mount asked the kernel not to: POSIX ACLs, docs/acl.md); 0 when the kernel already did.
/// </remarks>
public readonly record struct Credentials(uint Uid, uint Gid, int Pid = 0, Capabilities Caps = Capabilities.None, IGroupMembership? Groups = null, uint Umask = 0)
{
    /// <summary>uid 0 with every capability (internal work and tests).</summary>
    public static readonly Credentials Root = new(0, 0, 0, Capabilities.All);
    public bool IsRoot => Uid == 0;
    public bool Has(Capabilities cap) => (Caps & cap) == cap;

    /// <summary>Whether the caller is in group <paramref name="gid"/>: its primary group or a supplementary one (the kernel's in_group_p).</summary>
    public bool InGroup(uint gid) => gid == Gid || (Groups?.IsMember(Pid, gid) ?? false);
}

/// <summary>The supplementary groups of a caller, looked up only when asked.</summary>
public interface IGroupMembership
{
    /// <summary>Whether process <paramref name="pid"/> has <paramref name="gid"/> among its supplementary groups.</summary>
    bool IsMember(int pid, uint gid);
}

/// <summary>A fixed list of supplementary groups, whatever the pid (tests, internal callers).</summary>
public sealed class FixedGroups(params uint[] gids) : IGroupMembership
{
    public bool IsMember(int pid, uint gid) => Array.IndexOf(gids, gid) >= 0;
}

/// <summary>Linux capability bits the engine checks; bit n is capability number n (as in CapEff).</summary>
[Flags]
public enum Capabilities : ulong
{
    None = 0,
    /// <summary>CAP_FOWNER (3): act as a file's owner.</summary>
    Fowner = 1UL << 3,
    /// <summary>CAP_FSETID (4): keep setgid when not in the file's group (an ACL or mode change).</summary>
    Fsetid = 1UL << 4,
    /// <summary>CAP_LINUX_IMMUTABLE (9): change immutable, append-only and DAX_IMMUTABLE.</summary>
    LinuxImmutable = 1UL << 9,
    /// <summary>CAP_SYS_ADMIN (21).</summary>
    SysAdmin = 1UL << 21,
    All = ulong.MaxValue,
}
