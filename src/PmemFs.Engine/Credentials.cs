namespace PmemFs.Engine;

/// <summary>
/// Who asks: from the FUSE request (uid, gid, pid), plus the caller's effective capabilities
/// where an operation needs them (the adapter reads them from /proc/PID/status only then).
/// Root is uid 0; capability checks never assume root has them.
/// </summary>
public readonly record struct Credentials(uint Uid, uint Gid, int Pid = 0, Capabilities Caps = Capabilities.None)
{
    /// <summary>uid 0 with every capability (internal work and tests).</summary>
    public static readonly Credentials Root = new(0, 0, 0, Capabilities.All);
    public bool IsRoot => Uid == 0;
    public bool Has(Capabilities cap) => (Caps & cap) == cap;
}

/// <summary>Linux capability bits the engine checks; bit n is capability number n (as in CapEff).</summary>
[Flags]
public enum Capabilities : ulong
{
    None = 0,
    /// <summary>CAP_FOWNER (3): act as a file's owner.</summary>
    Fowner = 1UL << 3,
    /// <summary>CAP_LINUX_IMMUTABLE (9): change immutable, append-only and DAX_IMMUTABLE.</summary>
    LinuxImmutable = 1UL << 9,
    /// <summary>CAP_SYS_ADMIN (21).</summary>
    SysAdmin = 1UL << 21,
    All = ulong.MaxValue,
}
