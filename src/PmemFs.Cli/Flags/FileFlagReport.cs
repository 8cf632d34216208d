using PmemFs.Abi;

namespace PmemFs.Cli.Flags;

/// <summary>
/// What PMEMFS_IOC_GET_FLAGS (and SET) answer for one file, in words: the persisted flags,
/// and the effective state the daemon computed from them, the file and the mount.
/// </summary>
public readonly record struct FileFlagReport(PmemFsInodeFlags Raw)
{
    public ulong Flags => Raw.Flags;
    public bool HasDaxFlag => (Raw.Flags & PmemFsIoctlAbi.FlDax) != 0;
    public bool DaxImmutable => (Raw.Flags & PmemFsIoctlAbi.FlDaxImmutable) != 0;
    public bool DaxEffective => (Raw.State & PmemFsIoctlAbi.StateDax) != 0;
    public bool CanBeDax => (Raw.State & PmemFsIoctlAbi.StateCanDax) != 0;
    public bool DaxPending => (Raw.State & PmemFsIoctlAbi.StateDaxPending) != 0;

    /// <summary>The file system's health (docs/health.md): "ok", "writes refused", "shut down".</summary>
    public string HealthName => Raw.Health switch
    {
        PmemFsPoisonAbi.HealthOk => "ok",
        PmemFsPoisonAbi.HealthWritesRefused => "writes refused (damaged or poisoned metadata: unmount and run pmemfs fsck --repair)",
        PmemFsPoisonAbi.HealthShutDown => "shut down (changes get EIO and nothing is written: unmount and mount again)",
        var h => $"unknown ({h})",
    };

    /// <summary>What the daemon confined at mount or since (docs/health.md, "Damaged metadata"), in words.</summary>
    public string DamageText => Raw.SickFiles == 0 && Raw.QuarantinedSlots == 0 ? "none"
        : $"{Raw.SickFiles} sick file{(Raw.SickFiles == 1 ? "" : "s")} (EUCLEAN), {Raw.QuarantinedSlots} quarantined slot{(Raw.QuarantinedSlots == 1 ? "" : "s")}; pmemfs info IMAGE lists them, pmemfs fsck --repair after unmount mends them";

    /// <summary>The mount's dax= option: "inode", "always", "never".</summary>
    public string DaxMode => Raw.DaxMode switch
    {
        PmemFsIoctlAbi.DaxModeInode => "inode",
        PmemFsIoctlAbi.DaxModeAlways => "always",
        PmemFsIoctlAbi.DaxModeNever => "never",
        var m => $"unknown ({m})",
    };

    /// <summary>"byte", "cache line", "page": the spelling of info IMAGE, also in lsattr --json and info FILE.</summary>
    public string GranularityName => Raw.Granularity switch
    {
        PmemFsIoctlAbi.GranularityByte => "byte",
        PmemFsIoctlAbi.GranularityCacheLine => "cache line",
        PmemFsIoctlAbi.GranularityPage => "page",
        var g => $"unknown ({g})",
    };

    /// <summary>
    /// Whether a process that maps the region directly (leases, prepare-write) makes its stores
    /// durable with CPU cache flushes alone: yes unless the region needs msync (page granularity).
    /// </summary>
    public bool DirectMappingFlushSuffices => Raw.Granularity is PmemFsIoctlAbi.GranularityByte or PmemFsIoctlAbi.GranularityCacheLine;

    /// <summary>
    /// lsattr's note when the effective DAX state is not what the flag alone says: a change
    /// waiting for the last close, or a regular file the mount mode (or shared extents) decides
    /// otherwise. Directories are never DAX themselves, so their flag needs no note.
    /// </summary>
    public string? DaxNote(bool regularFile) =>
        DaxPending ? "dax: pending"
        : !regularFile || DaxEffective == HasDaxFlag ? null
        : DaxEffective ? "dax: on" : "dax: off";
}
