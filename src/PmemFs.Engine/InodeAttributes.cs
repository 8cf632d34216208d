using PmemFs.Format;

namespace PmemFs.Engine;

/// <summary>A stat-like snapshot of an inode, taken under its lock.</summary>
public readonly record struct InodeAttributes
{
    public ulong Ino { get; init; }
    public uint Generation { get; init; }
    public uint Mode { get; init; }
    public uint Nlink { get; init; }
    public uint Uid { get; init; }
    public uint Gid { get; init; }
    public ulong Rdev { get; init; }
    public long Size { get; init; }
    /// <summary>512-byte units allocated (data extents and xattr blob), as st_blocks.</summary>
    public long Blocks512 { get; init; }
    public long AtimeNs { get; init; }
    public long MtimeNs { get; init; }
    public long CtimeNs { get; init; }
    public long BtimeNs { get; init; }
    public InodeFlags Flags { get; init; }
    public uint ProjectId { get; init; }

    public uint FileType => Mode & FileTypes.Mask;
    public bool IsDirectory => FileType == FileTypes.Directory;
    public bool IsRegular => FileType == FileTypes.Regular;
}

/// <summary>Which attributes a setattr changes (FUSE_SET_ATTR_* meaning).</summary>
[Flags]
public enum SetAttrFields
{
    None = 0,
    Mode = 1 << 0,
    Uid = 1 << 1,
    Gid = 1 << 2,
    Size = 1 << 3,
    Atime = 1 << 4,
    Mtime = 1 << 5,
    AtimeNow = 1 << 7,
    MtimeNow = 1 << 8,
    Ctime = 1 << 10,
}

public readonly record struct SetAttrRequest
{
    public SetAttrFields Fields { get; init; }
    public uint Mode { get; init; }
    public uint Uid { get; init; }
    public uint Gid { get; init; }
    public long Size { get; init; }
    public long AtimeNs { get; init; }
    public long MtimeNs { get; init; }
    public long CtimeNs { get; init; }
}

public readonly record struct StatFsInfo(long BlockSize, long TotalBlocks, long FreeBlocks, long TotalInodes, long FreeInodes, int MaxNameLength);

[Flags]
public enum RenameFlags
{
    None = 0,
    NoReplace = 1,
    Exchange = 2,
    Whiteout = 4,
}

[Flags]
public enum FallocateMode
{
    Default = 0,
    KeepSize = 0x01,
    PunchHole = 0x02,
    CollapseRange = 0x08,
    ZeroRange = 0x10,
    InsertRange = 0x20,
    UnshareRange = 0x40,
}

public enum SeekWhence { Data = 3, Hole = 4 }

[Flags]
public enum XattrSetFlags { None = 0, Create = 1, Replace = 2 }

/// <summary>A piece of a zero-copy read: <see cref="Length"/> bytes at <see cref="Address"/> in the mapping, or zeros when Address is 0.</summary>
public readonly record struct DataSegment(nint Address, int Length)
{
    public bool IsZeros => Address == 0;
}

/// <summary>Receives the pieces of a zero-copy read while the file cannot change under them.</summary>
public delegate void MappedReadSink<in TState>(ReadOnlySpan<DataSegment> segments, TState state);

/// <summary>Where a write comes from: DAX_IMMUTABLE files take only the kernel's writeback of a shared mapping.</summary>
public enum WriteOrigin
{
    /// <summary>write(2), pwrite(2), copy_file_range: a process asked.</summary>
    Syscall,
    /// <summary>The kernel writing back dirty pages of a shared mmap (FUSE writepage).</summary>
    MappedWriteback,
}
