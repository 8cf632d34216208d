using PmemFs.Format;

namespace PmemFs.Engine.Inodes;

/// <summary>
/// An inode in memory: its record, its lock, and what hangs off it (extents, entries, xattrs).
/// Every field is guarded by <see cref="Lock"/> unless said otherwise.
/// </summary>
// The lock lives as long as the inode object; ReaderWriterLockSlim needs disposal only to
// release wait handles early, and freed inodes may still be referenced by in-flight readers.
#pragma warning disable CA1001
public sealed class Inode(InodeRecord record)
{
    public InodeRecord Rec = record;

    /// <summary>Readers (read, getattr, lookup, readdir) share; anything that changes the inode is exclusive.</summary>
    public readonly ReaderWriterLockSlim Lock = new(LockRecursionPolicy.NoRecursion);

    public ulong Ino => Rec.Ino;
    public long Slot => Geometry.SlotOfIno(Rec.Ino);
    public bool IsDirectory => Rec.FileType == FileTypes.Directory;
    public bool IsRegular => Rec.FileType == FileTypes.Regular;

    /// <summary>Data mapping (regular files and symlinks).</summary>
    public ExtentMap Extents { get; } = new();

    /// <summary>Entries (directories only).</summary>
    public DirectoryIndex? Directory { get; init; }

    /// <summary>Parent directory (directories only; directories have exactly one).</summary>
    public ulong Parent;

    /// <summary>Decoded xattrs, or null when none; kept in sync with the on-media blob.</summary>
    public List<KeyValuePair<byte[], byte[]>>? Xattrs;

    /// <summary>Rmap slot describing the xattr blob (-1 when there is none).</summary>
    public long XattrRmapSlot = -1;

    /// <summary>Kernel lookup references (FUSE nlookup). Guarded by the inode table lock.</summary>
    public long References;

    /// <summary>Open file handles (FUSE open/create minus release): an unlinked file keeps its data while any is open.</summary>
    public long OpenHandles;

    /// <summary>
    /// Whether the file was DAX when a change of its DAX flag (or of what the mount makes of
    /// it) arrived while it was open: the change takes effect at the last close, as in Linux.
    /// Null when the flag alone decides.
    /// </summary>
    public bool? DaxHeldUntilClose;

    /// <summary>Set once the inode has been freed; stale handles then get ESTALE.</summary>
    public bool Freed;

    /// <summary>
    /// An O_TMPFILE file not yet linked: it has no name (nlink 0) and link(2) may give it its
    /// first one (the kernel's I_LINKABLE). In memory only: across a crash or remount such a file
    /// is an orphan and is freed.
    /// </summary>
    public bool Linkable;

    public long AllocatedBlocks => Extents.AllocatedBlocks + Rec.XattrBlocks;
}
#pragma warning restore CA1001
