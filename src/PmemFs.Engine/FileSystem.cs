using PmemFs.Engine.Alloc;
using PmemFs.Engine.Inodes;
using PmemFs.Engine.Leases;
using PmemFs.Engine.Log;
using PmemFs.Format;
using PmemFs.Media;

namespace PmemFs.Engine;

/// <summary>
/// A mounted PmemFs: inode-numbered operations (the shape of FUSE's low-level API), each
/// atomic and durable when it returns.
/// </summary>
/// <remarks>
/// Lock order (take left before right, never the reverse):
/// <code>
/// _renameLock (cross-directory renames only)
///   -> directory inode locks, parent before child; unrelated directories by inode number
///     -> non-directory inode locks (and a directory being removed), by inode number
///       -> leaf locks: _tableLock, slot and block allocators, the metadata log
/// </code>
/// Every record an operation logs belongs to an inode whose lock it holds until its commit
/// has been applied, which is what lets transactions on different files commit concurrently.
/// </remarks>
public sealed partial class FileSystem : IDisposable
{
    private readonly Inode?[] _inodes;
    private readonly Lock _tableLock = new();
    private readonly Lock _renameLock = new();
    private bool _disposed;

    public IMedia Media { get; }
    public Superblock Superblock { get; }
    public Geometry Geometry => Superblock.Geometry;
    public FileSystemOptions Options { get; }

    /// <summary>Layout leases and pins (in memory only); every layout change consults it first.</summary>
    public LeaseTable Leases { get; }

    internal MetadataLog Log { get; }
    internal BlockAllocator Blocks { get; } = new();
    internal SlotAllocator InodeSlots { get; }
    internal SlotAllocator DirentSlots { get; }
    internal SlotAllocator ExtentSlots { get; }
    internal SlotAllocator RmapSlots { get; }

    /// <summary>What mount found and did (replayed transactions, cleaned orphans), for logs and `info`.</summary>
    public MountReport Report { get; }

    public long CommittedTransactions => Log.CommittedCount;

    internal void CommitLog(LogTransaction tx)
    {
        if (Options.ReadOnly) throw new ErrnoException(Errno.EROFS);
        Log.Commit(tx);
    }

    internal Inode? InodeAt(ulong ino) => Geometry.IsValidIno(ino) ? Volatile.Read(ref _inodes[Geometry.SlotOfIno(ino)]) : null;

    /// <summary>The live inode numbered <paramref name="ino"/>, or ESTALE/ENOENT.</summary>
    internal Inode Get(ulong ino)
    {
        var inode = InodeAt(ino);
        if (inode is null) throw new ErrnoException(Geometry.IsValidIno(ino) ? Errno.ESTALE : Errno.ENOENT);
        return inode;
    }

    private void Publish(Inode inode) => Volatile.Write(ref _inodes[inode.Slot], inode);

    private void Unpublish(Inode inode) => Volatile.Write(ref _inodes[inode.Slot], null);

    internal void LogInode(Txn tx, in InodeRecord rec)
    {
        Span<byte> buf = stackalloc byte[DiskInode.Size];
        DiskInode.Seal(rec, buf);
        tx.Log.Write(Geometry.InodeOffset(Geometry.SlotOfIno(rec.Ino)), buf);
    }

    /// <summary>Persists everything and leaves an empty journal (clean unmount).</summary>
    public void Sync()
    {
        if (!Options.ReadOnly) Log.Checkpoint();
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Leases.Dispose();
        Sync();
    }

    internal static long Now() => Time.NowNs();
}

public sealed record MountReport(SuperblockCopy SuperblockUsed, string? SuperblockProblem, int TransactionsReplayed, int OrphansFreed, int TrimsFinished);
