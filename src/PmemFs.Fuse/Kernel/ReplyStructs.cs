using System.Runtime.InteropServices;

namespace PmemFs.Fuse.Kernel;

// The reply and notification side of include/uapi/linux/fuse.h (7.45), x86-64.

/// <summary>struct fuse_out_header (16 bytes): error is 0 or a negative errno; for a notification, the notify code with unique 0.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct OutHeader
{
    public uint Len;
    public int Error;
    public ulong Unique;
}

[StructLayout(LayoutKind.Sequential)]
public unsafe struct InitOut
{
    public uint Major;
    public uint Minor;
    public uint MaxReadahead;
    public uint Flags;
    public ushort MaxBackground;
    public ushort CongestionThreshold;
    public uint MaxWrite;
    public uint TimeGran;
    public ushort MaxPages;
    public ushort MapAlignment;
    public uint Flags2;
    public uint MaxStackDepth;
    public ushort RequestTimeout;
    public fixed ushort Unused[11];
}

/// <summary>struct fuse_attr (88 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct Attr
{
    public ulong Ino;
    public ulong Size;
    public ulong Blocks;
    public ulong Atime;
    public ulong Mtime;
    public ulong Ctime;
    public uint AtimeNsec;
    public uint MtimeNsec;
    public uint CtimeNsec;
    public uint Mode;
    public uint Nlink;
    public uint Uid;
    public uint Gid;
    public uint Rdev;
    public uint BlkSize;
    public uint Flags;
}

[StructLayout(LayoutKind.Sequential)]
public struct EntryOut
{
    public ulong NodeId;
    public ulong Generation;
    public ulong EntryValid;
    public ulong AttrValid;
    public uint EntryValidNsec;
    public uint AttrValidNsec;
    public Attr Attr;
}

[StructLayout(LayoutKind.Sequential)]
public struct AttrOut
{
    public ulong AttrValid;
    public uint AttrValidNsec;
    public uint Dummy;
    public Attr Attr;
}

[StructLayout(LayoutKind.Sequential)] public struct OpenOut { public ulong Fh; public uint OpenFlags; public int BackingId; }

/// <summary>FUSE_CREATE's reply: an entry and an open reply back to back.</summary>
[StructLayout(LayoutKind.Sequential)] public struct CreateOut { public EntryOut Entry; public OpenOut Open; }

/// <summary>struct fuse_write_out; FUSE_COPY_FILE_RANGE_64's fuse_copy_file_range_out is the same 8 bytes as one u64.</summary>
[StructLayout(LayoutKind.Sequential)] public struct WriteOut { public uint Size; public uint Padding; }

[StructLayout(LayoutKind.Sequential)]
public unsafe struct StatFsOut
{
    public ulong Blocks;
    public ulong Bfree;
    public ulong Bavail;
    public ulong Files;
    public ulong Ffree;
    public uint Bsize;
    public uint NameLen;
    public uint Frsize;
    public uint Padding;
    public fixed uint Spare[6];
}

[StructLayout(LayoutKind.Sequential)] public struct GetXattrOut { public uint Size; public uint Padding; }
[StructLayout(LayoutKind.Sequential)] public struct IoctlOut { public int Result; public uint Flags; public uint InIovs; public uint OutIovs; }
[StructLayout(LayoutKind.Sequential)] public struct PollOut { public uint Revents; public uint Padding; }
[StructLayout(LayoutKind.Sequential)] public struct LseekOut { public ulong Offset; }

/// <summary>struct fuse_dirent without its name (24 bytes; the name follows, padded to 8).</summary>
[StructLayout(LayoutKind.Sequential)] public struct Dirent { public ulong Ino; public ulong Off; public uint NameLen; public uint Type; }

/// <summary>struct fuse_direntplus without its name (152 bytes).</summary>
[StructLayout(LayoutKind.Sequential)] public struct DirentPlus { public EntryOut Entry; public Dirent Dirent; }

[StructLayout(LayoutKind.Sequential)] public struct NotifyInvalInodeOut { public ulong Ino; public long Off; public long Len; }
[StructLayout(LayoutKind.Sequential)] public struct NotifyInvalEntryOut { public ulong Parent; public uint NameLen; public uint Flags; }
[StructLayout(LayoutKind.Sequential)] public struct NotifyPollWakeupOut { public ulong Kh; }

/// <summary>struct fuse_sx_time.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct SxTime
{
    public long Sec;
    public uint Nsec;
    public int Reserved;
}

/// <summary>struct fuse_statx (7.39): what statx(2) reports, with its own mask of the fields filled.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct FuseStatx
{
    public uint Mask;
    public uint BlkSize;
    public ulong Attributes;
    public uint Nlink;
    public uint Uid;
    public uint Gid;
    public ushort Mode;
    public ushort Spare0;
    public ulong Ino;
    public ulong Size;
    public ulong Blocks;
    public ulong AttributesMask;
    public SxTime Atime, Btime, Ctime, Mtime;
    public uint RdevMajor, RdevMinor, DevMajor, DevMinor;
    public fixed ulong Spare2[14];
}

/// <summary>struct fuse_statx_out.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct StatxOut
{
    public ulong AttrValid;
    public uint AttrValidNsec;
    public uint Flags;
    public fixed ulong Spare[2];
    public FuseStatx Stat;
}
