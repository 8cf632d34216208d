namespace PmemFs.Format;

/// <summary>An inode as the engine holds it. <see cref="Mode"/> 0 marks a free slot.</summary>
public record struct InodeRecord
{
    public ulong Ino;
    public uint Generation;
    public uint Mode;
    public uint Uid;
    public uint Gid;
    public uint Nlink;
    public uint ProjectId;
    /// <summary>Persisted per-inode flags (<see cref="InodeFlags"/>).</summary>
    public ulong Flags;
    public long Size;
    public long AtimeNs, MtimeNs, CtimeNs, BtimeNs;
    public ulong Rdev;
    /// <summary>First block of the xattr blob (0 = none), its length in bytes and its blocks.</summary>
    public long XattrBlock;
    public uint XattrLength;
    public uint XattrBlocks;
    /// <summary>
    /// Truncate intent: 0 = none; otherwise (first file block + 1) from which extents are being
    /// freed across several transactions. Recovery finishes the job; until then the blocks
    /// lie beyond EOF and are never visible.
    /// </summary>
    public long PendingTrim;

    public readonly bool IsFree => Mode == 0;
    public readonly uint FileType => Mode & FileTypes.Mask;
}

/// <summary>POSIX file type bits of st_mode and the matching DT_ values.</summary>
public static class FileTypes
{
    public const uint Mask = 0xF000;
    public const uint Fifo = 0x1000, CharDevice = 0x2000, Directory = 0x4000, BlockDevice = 0x6000,
        Regular = 0x8000, Symlink = 0xA000, Socket = 0xC000;

    public static bool IsValid(uint type) => type is Fifo or CharDevice or Directory or BlockDevice or Regular or Symlink or Socket;

    /// <summary>DT_* value (what readdir reports) of a file type.</summary>
    public static byte ToDirentType(uint mode) => (byte)((mode & Mask) >> 12);
}

/// <summary>Persisted inode flag bits. Effective state (e.g. "is DAX now") is computed from these at load.</summary>
[Flags]
public enum InodeFlags : ulong
{
    None = 0,
    Immutable = 1 << 0,
    Append = 1 << 1,
    NoAtime = 1 << 2,
    Sync = 1 << 3,
    NoDump = 1 << 4,
    Dax = 1 << 5,
    DaxImmutable = 1 << 6,
    /// <summary>Every bit this version knows; any other bit set is corruption.</summary>
    Known = Immutable | Append | NoAtime | Sync | NoDump | Dax | DaxImmutable,
}

/// <summary>A directory entry: name (bytes, not text) in a parent, pointing at a child inode.</summary>
public record struct DirentRecord(ulong Parent, ulong Child, byte Type, byte[] Name);

public enum ExtentState : byte
{
    /// <summary>Allocated and holding file data.</summary>
    Written = 1,
    /// <summary>Allocated but never written: reads as zeros (the media may hold anything).</summary>
    Unwritten = 2,
}

/// <summary>A run of file blocks mapped to a run of physical blocks.</summary>
public record struct ExtentRecord(ulong Ino, long FileBlock, long PhysBlock, long BlockCount, ExtentState State)
{
    public readonly long FileEnd => FileBlock + BlockCount;
    public readonly long PhysEnd => PhysBlock + BlockCount;
}

/// <summary>Who owns a physical range.</summary>
public enum RmapOwnerKind : byte
{
    InodeData = 1,
    InodeXattr = 2,
    Superblock = 16,
    Journal = 17,
    Bitmap = 18,
    InodeTable = 19,
    DirentTable = 20,
    ExtentTable = 21,
    RmapTable = 22,
}

/// <summary>A reverse-map record: physical range -> owner (inode and file block, or a metadata kind).</summary>
public record struct RmapRecord(long PhysBlock, long BlockCount, RmapOwnerKind Kind, ulong Owner, long FileBlock)
{
    public readonly long PhysEnd => PhysBlock + BlockCount;
    public readonly bool IsMetadata => Kind >= RmapOwnerKind.Superblock;
}

/// <summary>
/// A reference count: physical blocks [PhysBlock, +BlockCount) are mapped by <see cref="Refs"/>
/// data extents (at least 2: blocks with one owner have no record). Records never overlap.
/// </summary>
public record struct RefcountRecord(long PhysBlock, long BlockCount, ulong Refs)
{
    public readonly long PhysEnd => PhysBlock + BlockCount;
}
