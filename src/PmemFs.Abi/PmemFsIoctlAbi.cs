using System.Runtime.InteropServices;

namespace PmemFs.Abi;

/// <summary>
/// PmemFs's own ioctls, byte for byte as src/include/pmemfs.h declares them (the header is
/// the reference for C programs; this is the same contract for the daemon and the CLI).
/// </summary>
public static class PmemFsIoctlAbi
{
    public const uint GetFlags = 0x80405040; // _IOR('P', 0x40, struct pmemfs_inode_flags)
    public const uint SetFlags = 0xC0405041; // _IOWR('P', 0x41, struct pmemfs_inode_flags)
    public const uint Version = 1;

    public const ulong FlImmutable = 0x01, FlAppend = 0x02, FlNoAtime = 0x04, FlSync = 0x08,
        FlNoDump = 0x10, FlDax = 0x20, FlDaxImmutable = 0x40, FlAll = 0x7F;

    public const ulong StateDax = 0x1, StateCanDax = 0x2, StateDaxPending = 0x4;

    public const uint DaxModeInode = 0, DaxModeAlways = 1, DaxModeNever = 2;
    public const uint GranularityByte = 0, GranularityCacheLine = 1, GranularityPage = 2;
}

/// <summary>struct pmemfs_inode_flags (64 bytes, no pointers: FUSE forwards it by its size).</summary>
[StructLayout(LayoutKind.Sequential, Size = 64)]
public struct PmemFsInodeFlags
{
    public uint Version;
    public uint Reserved0;
    public ulong Set;
    public ulong Clear;
    public ulong Flags;
    public ulong State;
    public uint DaxMode;
    public uint Granularity;
    /// <summary>In: 0. Out: the file system's health (PMEMFS_HEALTH_*: 0 ok, 1 writes refused, 2 shut down).</summary>
    public ulong Health;
    /// <summary>In: 0. Out: files whose metadata is damaged: every operation on them answers EUCLEAN (docs/health.md).</summary>
    public uint SickFiles;
    /// <summary>In: 0. Out: table slots whose record is damaged and that are never used again.</summary>
    public uint QuarantinedSlots;

    public const int Size = 64;
}

/// <summary>
/// Layout leases and pins (struct pmemfs_lease and friends in pmemfs.h; docs/leases.md). Every
/// struct starts with a version and has reserved fields that must be zero on input.
/// </summary>
public static class PmemFsLeaseAbi
{
    public const uint LeaseAcquire = 0xC0405042; // _IOWR('P', 0x42, struct pmemfs_lease)
    public const uint LeaseRelease = 0x40205043; // _IOW('P', 0x43, struct pmemfs_lease_ref)
    public const uint Pin = 0xC0405044;          // _IOWR('P', 0x44, struct pmemfs_pin)
    public const uint Unpin = 0x40205045;        // _IOW('P', 0x45, struct pmemfs_lease_ref)
    public const uint LeaseStatus = 0xC0505046;  // _IOWR('P', 0x46, struct pmemfs_lease_status)
    public const uint LeaseList = 0xD0005047;    // _IOWR('P', 0x47, struct pmemfs_lease_list)

    public const uint Version = 1;

    public const uint ModeRead = 1, ModeWrite = 2;
    public const uint StateActive = 1, StateRecalled = 2, StateRevoked = 3;

    /// <summary>PMEMFS_LENGTH_TO_END: to the end of any possible file.</summary>
    public const ulong LengthToEnd = ulong.MaxValue;

    /// <summary>pmemfs_lease_list.flags: only the file the ioctl is issued on.</summary>
    public const uint ListThisFile = 0x1;

    public const int ListEntries = 63;
}

/// <summary>struct pmemfs_lease (64 bytes): PMEMFS_IOC_LEASE_ACQUIRE.</summary>
[StructLayout(LayoutKind.Sequential, Size = Size)]
public struct PmemFsLease
{
    public uint Version;
    public uint Mode;
    public ulong Offset;
    public ulong Length;
    public ulong Flags;
    public ulong LeaseId;
    public ulong Reserved1, Reserved2, Reserved3;

    public const int Size = 64;
}

/// <summary>struct pmemfs_lease_ref (32 bytes): PMEMFS_IOC_LEASE_RELEASE (a lease id), PMEMFS_IOC_UNPIN (a pin id).</summary>
[StructLayout(LayoutKind.Sequential, Size = Size)]
public struct PmemFsLeaseRef
{
    public uint Version;
    public uint Reserved0;
    public ulong Id;
    public ulong Reserved1, Reserved2;

    public const int Size = 32;
}

/// <summary>struct pmemfs_pin (64 bytes): PMEMFS_IOC_PIN.</summary>
[StructLayout(LayoutKind.Sequential, Size = Size)]
public struct PmemFsPin
{
    public uint Version;
    public uint Reserved0;
    public ulong LeaseId;
    public ulong Offset;
    public ulong Length;
    public ulong PinId;
    public ulong Reserved1, Reserved2, Reserved3;

    public const int Size = 64;
}

/// <summary>struct pmemfs_lease_status (80 bytes): PMEMFS_IOC_LEASE_STATUS.</summary>
[StructLayout(LayoutKind.Sequential, Size = Size)]
public struct PmemFsLeaseStatus
{
    public uint Version;
    public uint Reserved0;
    public ulong LeaseId;
    public uint State;
    public uint Mode;
    public ulong Offset;
    public ulong Length;
    public long DeadlineNs;
    public long RemainingNs;
    public uint Pins;
    public uint Reserved1;
    public ulong Reserved2, Reserved3;

    public const int Size = 80;
}

/// <summary>struct pmemfs_lease_entry (64 bytes): one row of PMEMFS_IOC_LEASE_LIST.</summary>
[StructLayout(LayoutKind.Sequential, Size = Size)]
public struct PmemFsLeaseEntry
{
    public ulong LeaseId;
    /// <summary>0: a lease row; else a pin of <see cref="LeaseId"/>.</summary>
    public ulong PinId;
    public ulong Ino;
    public ulong Offset;
    public ulong Length;
    public long GrantedNs;
    public long DeadlineNs;
    public int Pid;
    public ushort Mode;
    public ushort State;

    public const int Size = 64;
}

/// <summary>struct pmemfs_lease_list (4096 bytes): a page of PMEMFS_IOC_LEASE_LIST.</summary>
[StructLayout(LayoutKind.Sequential, Size = Size)]
public unsafe struct PmemFsLeaseList
{
    public uint Version;
    public uint Flags;
    public ulong CursorLease;
    public ulong CursorPin;
    public uint Count;
    public uint More;
    public long NowNs;
    public ulong Reserved1, Reserved2, Reserved3;
    private fixed byte _entries[PmemFsLeaseAbi.ListEntries * PmemFsLeaseEntry.Size];

    public const int Size = 4096;
    public const int HeaderSize = 64;

    /// <summary>The entries (filled: the first <see cref="Count"/>).</summary>
    [System.Diagnostics.CodeAnalysis.UnscopedRef]
    public Span<PmemFsLeaseEntry> Entries => MemoryMarshal.Cast<byte, PmemFsLeaseEntry>(
        MemoryMarshal.CreateSpan(ref _entries[0], PmemFsLeaseAbi.ListEntries * PmemFsLeaseEntry.Size));
}

/// <summary>
/// The extent map and prepare-write (struct pmemfs_map in pmemfs.h), for the direct-access
/// client: served by the daemon (PmemFsOperations.Mapping.cs) to holders of a lease.
/// </summary>
public static class PmemFsMapAbi
{
    public const uint GetMap = 0xD0005048;       // _IOWR('P', 0x48, struct pmemfs_map)
    public const uint PrepareWrite = 0xD0005049; // _IOWR('P', 0x49, struct pmemfs_map)
    public const uint Bmap = 0xD000504B;         // _IOWR('P', 0x4B, struct pmemfs_map): the map for any descriptor, no lease

    public const uint Version = 1;
    public const int Extents = 126;

    public const uint ExtentHole = 0, ExtentUnwritten = 1, ExtentWritten = 2, ExtentShared = 3, ExtentPoisoned = 4;

    /// <summary>phys_offset of a hole (PMEMFS_NO_PHYS_OFFSET): it has no place in the region.</summary>
    public const ulong NoPhysicalOffset = ulong.MaxValue;

    /// <summary>PREPARE_WRITE: extend the file size to offset + length.</summary>
    public const uint PrepareExtendSize = 0x1;
}

/// <summary>struct pmemfs_extent (32 bytes).</summary>
[StructLayout(LayoutKind.Sequential, Size = Size)]
public struct PmemFsExtent
{
    public ulong FileOffset;
    public ulong PhysOffset;
    public ulong Length;
    public uint State;
    public uint Reserved;

    public const int Size = 32;
}

/// <summary>struct pmemfs_map (4096 bytes): PMEMFS_IOC_GET_MAP and PMEMFS_IOC_PREPARE_WRITE.</summary>
[StructLayout(LayoutKind.Sequential, Size = Size)]
public unsafe struct PmemFsMap
{
    public uint Version;
    public uint Flags;
    public ulong Offset;
    public ulong Length;
    public ulong NextOffset;
    public uint Count;
    public uint Reserved0;
    public ulong FileSize;
    public ulong Reserved1, Reserved2;
    private fixed byte _extents[PmemFsMapAbi.Extents * PmemFsExtent.Size];

    public const int Size = 4096;
    public const int HeaderSize = 64;

    [System.Diagnostics.CodeAnalysis.UnscopedRef]
    public Span<PmemFsExtent> Extents => MemoryMarshal.Cast<byte, PmemFsExtent>(
        MemoryMarshal.CreateSpan(ref _extents[0], PmemFsMapAbi.Extents * PmemFsExtent.Size));
}

/// <summary>
/// Which region the mount serves (struct pmemfs_region in pmemfs.h): what a direct-access client
/// needs to map the region itself and to check that it mapped the right one.
/// </summary>
public static class PmemFsRegionAbi
{
    public const uint Region = 0xD000504A; // _IOWR('P', 0x4A, struct pmemfs_region)

    public const uint Version = 1;

    public const uint KindFile = 1, KindDeviceDax = 2;

    public const int PathBytes = 4032;
}

/// <summary>struct pmemfs_region (4096 bytes): PMEMFS_IOC_REGION.</summary>
[StructLayout(LayoutKind.Sequential, Size = Size)]
public unsafe struct PmemFsRegion
{
    public uint Version;
    public uint Kind;
    public ulong RegionSize;
    private fixed byte _uuid[16];
    public uint UuidOffset;
    public uint Granularity;
    public ulong Reserved1, Reserved2, Reserved3;
    private fixed byte _path[PmemFsRegionAbi.PathBytes];

    public const int Size = 4096;

    [System.Diagnostics.CodeAnalysis.UnscopedRef]
    public Span<byte> Uuid => MemoryMarshal.CreateSpan(ref _uuid[0], 16);

    /// <summary>The path's bytes up to the capacity (NUL-terminated when it fits).</summary>
    [System.Diagnostics.CodeAnalysis.UnscopedRef]
    public Span<byte> PathBytes => MemoryMarshal.CreateSpan(ref _path[0], PmemFsRegionAbi.PathBytes);

    /// <summary>The path up to its NUL (UTF-8).</summary>
    public readonly string PathString
    {
        get
        {
            fixed (byte* p = _path)
            {
                var bytes = new ReadOnlySpan<byte>(p, PmemFsRegionAbi.PathBytes);
                int end = bytes.IndexOf((byte)0);
                return System.Text.Encoding.UTF8.GetString(end < 0 ? bytes : bytes[..end]);
            }
        }
    }
}

/// <summary>
/// The explicit clone (struct pmemfs_clone_range in pmemfs.h): FICLONERANGE never reaches a FUSE
/// daemon, so PmemFs has its own. Issued on the destination's descriptor (open for writing, not
/// O_APPEND); the source is another descriptor of the caller, open for reading, on the same mount.
/// </summary>
public static class PmemFsCloneAbi
{
    public const uint CloneRange = 0xC040504C; // _IOWR('P', 0x4C, struct pmemfs_clone_range)

    public const uint Version = 1;

    /// <summary>The block size: offsets (and lengths that do not reach the source's end of file) are multiples of it.</summary>
    public const ulong BlockSize = 4096;
}

/// <summary>struct pmemfs_clone_range (64 bytes): PMEMFS_IOC_CLONE_RANGE.</summary>
[StructLayout(LayoutKind.Sequential, Size = Size)]
public struct PmemFsCloneRange
{
    public uint Version;
    /// <summary>The caller's descriptor of the source file (the daemon reads it in /proc/PID/fdinfo: never a bare inode number).</summary>
    public int SrcFd;
    public ulong SrcOffset;
    /// <summary>Bytes; 0 = to the source's end of file.</summary>
    public ulong Length;
    public ulong DstOffset;
    public ulong Flags;
    /// <summary>Out: bytes now shared (or, for the source's last partial block, copied).</summary>
    public ulong Cloned;
    public ulong Reserved1, Reserved2;

    public const int Size = 64;
}

/// <summary>
/// The reverse map (struct pmemfs_rmap in pmemfs.h): who owns each range of the region, a page at
/// a time with a cursor, like FS_IOC_GETFSMAP. Needs CAP_SYS_ADMIN in the daemon's user namespace.
/// </summary>
public static class PmemFsRmapAbi
{
    public const uint Rmap = 0xD000504D; // _IOWR('P', 0x4D, struct pmemfs_rmap)

    public const uint Version = 1;
    public const int Entries = 63;

    public const uint KindData = 1, KindXattr = 2, KindSuperblock = 16, KindJournal = 17, KindBitmap = 18, KindInodeTable = 19,
        KindDirentTable = 20, KindExtentTable = 21, KindRmapTable = 22, KindRefcount = 32;

    public const uint FlagUnwritten = 0x1, FlagShared = 0x2;

    /// <summary>Whether <paramref name="kind"/> is a PMEMFS_RMAP_* kind.</summary>
    public static bool IsKind(uint kind) => kind is KindData or KindXattr or (>= KindSuperblock and <= KindRmapTable) or KindRefcount;
}

/// <summary>struct pmemfs_rmap_entry (64 bytes): one row of PMEMFS_IOC_RMAP.</summary>
[StructLayout(LayoutKind.Sequential, Size = Size)]
public struct PmemFsRmapEntry
{
    public ulong Physical;
    public ulong Length;
    public ulong Ino;
    public ulong FileOffset;
    public ulong Refs;
    public uint Kind;
    public uint Flags;
    public ulong Reserved1, Reserved2;

    public const int Size = 64;
}

/// <summary>struct pmemfs_rmap (4096 bytes): a page of PMEMFS_IOC_RMAP.</summary>
[StructLayout(LayoutKind.Sequential, Size = Size)]
public unsafe struct PmemFsRmap
{
    public uint Version;
    public uint Flags;
    public ulong Offset;
    public ulong Length;
    public ulong CursorPhysical;
    public ulong CursorIno;
    public ulong CursorFileOffset;
    public uint CursorKind;
    public uint Count;
    public uint More;
    public uint Reserved0;
    private fixed byte _entries[PmemFsRmapAbi.Entries * PmemFsRmapEntry.Size];

    public const int Size = 4096;
    public const int HeaderSize = 64;

    /// <summary>The rows (filled: the first <see cref="Count"/>).</summary>
    [System.Diagnostics.CodeAnalysis.UnscopedRef]
    public Span<PmemFsRmapEntry> Entries => MemoryMarshal.Cast<byte, PmemFsRmapEntry>(
        MemoryMarshal.CreateSpan(ref _entries[0], PmemFsRmapAbi.Entries * PmemFsRmapEntry.Size));
}

/// <summary>
/// Poison (struct pmemfs_poison in pmemfs.h; `pmemfs poison ... MOUNT`): list the bad ranges the
/// mount knows, inject poison into an emulated region, clear it. Needs CAP_SYS_ADMIN.
/// </summary>
public static class PmemFsPoisonAbi
{
    public const uint Poison = 0xD0005050; // _IOWR('P', 0x50, struct pmemfs_poison)

    public const uint Version = 1;
    public const int Entries = 252;

    public const uint OpList = 1, OpInject = 2, OpClear = 3;

    /// <summary>INJECT: do not tell the file system; only a load that touches the range finds it.</summary>
    public const uint FlagQuiet = 0x1;

    /// <summary>CLEAR: clear where file data lies too (that part of the file then reads zeros).</summary>
    public const uint FlagDiscardData = 0x2;

    /// <summary>health_state (out): the file system's <c>HealthState</c>.</summary>
    public const uint HealthOk = 0, HealthWritesRefused = 1, HealthShutDown = 2;
}

/// <summary>struct pmemfs_poison_range (16 bytes).</summary>
[StructLayout(LayoutKind.Sequential, Size = Size)]
public struct PmemFsPoisonRange
{
    public ulong Offset;
    public ulong Length;

    public const int Size = 16;
}

/// <summary>struct pmemfs_poison (4096 bytes).</summary>
[StructLayout(LayoutKind.Sequential, Size = Size)]
public unsafe struct PmemFsPoison
{
    public uint Version;
    public uint Op;
    public uint Flags;
    public uint Count;
    public ulong Offset;
    public ulong Length;
    public uint More;
    public uint HealthState;
    public ulong Reserved1, Reserved2, Reserved3;
    private fixed byte _ranges[PmemFsPoisonAbi.Entries * PmemFsPoisonRange.Size];

    public const int Size = 4096;
    public const int HeaderSize = 64;

    /// <summary>LIST's ranges (filled: the first <see cref="Count"/>).</summary>
    [System.Diagnostics.CodeAnalysis.UnscopedRef]
    public Span<PmemFsPoisonRange> Ranges => MemoryMarshal.Cast<byte, PmemFsPoisonRange>(
        MemoryMarshal.CreateSpan(ref _ranges[0], PmemFsPoisonAbi.Entries * PmemFsPoisonRange.Size));
}

/// <summary>
/// The file system's health and the administrator's forced shutdown (struct pmemfs_health in
/// pmemfs.h; `pmemfs info MOUNT`, `pmemfs shutdown MOUNT`; docs/health.md). GET: anyone;
/// SHUTDOWN: CAP_SYS_ADMIN.
/// </summary>
public static class PmemFsHealthAbi
{
    public const uint Health = 0xC2005051; // _IOWR('P', 0x51, struct pmemfs_health)

    public const uint Version = 1;

    public const uint OpGet = 1, OpShutdown = 2;

    /// <summary>SHUTDOWN flags, XFS_FSOP_GOING_FLAGS_*'s values: DEFAULT and LOGFLUSH let the transactions in flight finish first; NOLOGFLUSH stops them.</summary>
    public const uint ShutdownDefault = 0, ShutdownLogFlush = 1, ShutdownNoLogFlush = 2;

    public const int ReasonBytes = 448;
}

/// <summary>struct pmemfs_health (512 bytes).</summary>
[StructLayout(LayoutKind.Sequential, Size = Size)]
public unsafe struct PmemFsHealth
{
    public uint Version;
    public uint Op;
    public uint Flags;
    /// <summary>Out: PMEMFS_HEALTH_* (<see cref="PmemFsPoisonAbi.HealthOk"/> and the rest).</summary>
    public uint State;
    /// <summary>Out: when the state last got worse, ns since the epoch (UTC); 0 while ok.</summary>
    public ulong SinceNs;
    public ulong Reserved1, Reserved2, Reserved3, Reserved4, Reserved5;
    private fixed byte _reason[PmemFsHealthAbi.ReasonBytes];

    public const int Size = 512;

    /// <summary>Out: why (UTF-8, NUL-terminated, cut to fit); empty while ok.</summary>
    [System.Diagnostics.CodeAnalysis.UnscopedRef]
    public Span<byte> Reason => MemoryMarshal.CreateSpan(ref _reason[0], PmemFsHealthAbi.ReasonBytes);
}

/// <summary>
/// What the daemon costs at run time: garbage collections and their pauses, allocation, uptime
/// (struct pmemfs_daemon_stats in pmemfs.h; `pmemfs info MOUNT`). Anyone may ask.
/// </summary>
public static class PmemFsDaemonStatsAbi
{
    public const uint DaemonStats = 0xC0805052; // _IOWR('P', 0x52, struct pmemfs_daemon_stats)

    public const uint Version = 1;
}

/// <summary>struct pmemfs_daemon_stats (128 bytes). Counted since the daemon started, never reset.</summary>
[StructLayout(LayoutKind.Sequential, Size = Size)]
public struct PmemFsDaemonStats
{
    public uint Version;
    public uint Reserved0;
    public ulong UptimeNs;
    /// <summary>Collections whose oldest collected generation was 0, 1, 2.</summary>
    public ulong Gen0Collections, Gen1Collections, Gen2Collections;
    public ulong GcPauseTotalNs;
    public ulong GcPauseMaxNs;
    public ulong AllocatedBytes;
    public ulong HeapBytes;

    public const int Size = 128;
}
