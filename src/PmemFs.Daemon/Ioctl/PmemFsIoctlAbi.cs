using System.Runtime.InteropServices;

namespace PmemFs.Daemon.Ioctl;

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
    public ulong Reserved1;
    public ulong Reserved2;

    public const int Size = 64;
}
