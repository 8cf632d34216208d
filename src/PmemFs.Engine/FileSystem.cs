using PmemFs.Engine.Alloc;
using PmemFs.Engine.Inodes;
using PmemFs.Engine.Leases;
using PmemFs.Engine.Log;
using PmemFs.Engine.Mapping;
using PmemFs.Engine.Sharing;
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
    public Superblock Superblock { get; private set; }
    public Geometry Geometry => Superblock.Geometry;
    public FileSystemOptions Options { get; }

    /// <summary>Layout leases and pins (in memory only); every layout change consults it first.</summary>
    public LeaseTable Leases { get; }

    /// <summary>The Mapping service: the extent map, and every choice of blocks for a write, prepare-write or fallocate.</summary>
    internal Mapper Mapper { get; }

    /// <summary>Reference counts of shared blocks; "may these blocks be freed" is its decision.</summary>
    internal ReferenceCounts Sharing { get; } = new();

    /// <summary>Writes every rmap-table record (owners and reference counts).</summary>
    internal ReverseMap.RmapTable Rmap { get; }

    /// <summary>Sick files, quarantined slots, refused writes and forced shutdown (Engine/Health).</summary>
    public Health.FileSystemHealth Health { get; } = new();

    /// <summary>Bad ranges, their owners and what each owner does (Engine/Poison).</summary>
    internal Poison.PoisonWatch Poison { get; }

    internal MetadataLog Log { get; }
    internal BlockAllocator Blocks { get; } = new();
    internal SlotAllocator InodeSlots { get; }
    internal SlotAllocator DirentSlots { get; }
    internal SlotAllocator ExtentSlots { get; }
    internal SlotAllocator RmapSlots { get; }

    /// <summary>What mount found and did (replayed transactions, cleaned orphans), for logs and `info`.</summary>
    public MountReport Report { get; }

    public long CommittedTransactions => Log.CommittedCount;

    /// <summary>Journal header writes since mount: each moves the log ring's tail (to the oldest transaction still being applied, or past all of them).</summary>
    public long LogCheckpoints => Log.CheckpointCount;

    /// <summary>Log offset where the next transaction would start if it fits (crash workloads that cross the end of the ring).</summary>
    public long LogHeadOffset => Log.HeadOffset;

    internal void CommitLog(LogTransaction tx)
    {
        if (Options.ReadOnly) throw new ErrnoException(Errno.EROFS);
        Health.ThrowIfWritesRefused();
        try { Log.Commit(tx); }
        catch (LogRefusedException) { throw; } // nothing was stored: the transaction gives everything back
        catch (Exception e)
        {
            // A store failed, or the log had stopped: whether this commit (or an earlier one it
            // needs) is durable, and what the tables hold, is no longer known. Stop writing
            // (XFS's forced shutdown); the next mount's replay decides.
            ShutDown($"a commit failed after it began reaching the media ({e.GetType().Name}: {e.Message})", e);
            throw new ErrnoException(Errno.EIO);
        }
    }

    /// <summary>
    /// The extent map of [<paramref name="offset"/>, +<paramref name="length"/>) of a regular
    /// file, for a direct-access client (docs/leases.md, "prepare-write and the extent map").
    /// The range is widened to whole blocks and clipped to the file's size rounded up to a
    /// block; <paramref name="into"/> gets up to its length pieces in file order, holes
    /// included (state Hole, physical offset -1), with no gap between them. Any caller may ask
    /// (the daemon decides who may): it changes nothing.
    /// </summary>
    /// <param name="count">How many pieces were stored in <paramref name="into"/>.</param>
    /// <param name="nextOffset">-1 when the pieces reach the end of the (clipped) range; otherwise
    /// the file offset (a block multiple) where a continuation call starts, because
    /// <paramref name="into"/> was full.</param>
    /// <returns>Ok (also with no piece: a range at or past the end of EOF's block); EINVAL
    /// (negative offset, length &lt;= 0, an empty <paramref name="into"/> when there is something
    /// to report, not a regular file), EOVERFLOW (offset + length overflows), EISDIR, ESTALE.</returns>
    public Errno GetExtentMap(ulong ino, long offset, long length, Span<MappedExtent> into, out int count, out long nextOffset) =>
        Mapper.GetExtentMap(ino, offset, length, into, out count, out nextOffset);

    /// <summary>
    /// prepare-write (MSYNC_PMEM_PREPARE_WRITE, MAP_SYNC's guarantee given ahead of the stores):
    /// makes the blocks of [<paramref name="offset"/>, +<paramref name="length"/>) written
    /// (holes allocated, unwritten blocks converted, both zeroed first; 2 MiB-aligned where the
    /// range and free space allow), grows the size to the range's end if
    /// <paramref name="flags"/> has ExtendSize, and commits all of it in one transaction that
    /// is durable when this returns. From then on, stores by the lease holder into the ranges
    /// <see cref="GetExtentMap"/> returns, plus a cache flush, are durable with no fsync.
    /// A range that is already written inside EOF commits nothing. Nothing outside the range's
    /// blocks changes, and no lease is recalled.
    /// </summary>
    /// <param name="handle">The open handle (FUSE fh) whose active write leases must cover the whole range.</param>
    /// <param name="who">The caller: set-user-ID and set-group-ID are cleared for anyone but root, as a write does.</param>
    /// <returns>
    /// Ok, or, each with nothing changed: EINVAL (bad range or flags, not a regular file),
    /// EOVERFLOW, EBADF (handle 0), EFBIG (past the largest file), EROFS (read-only mount),
    /// ESTALE, EISDIR, EOPNOTSUPP (not DAX), EACCES (the handle's write leases do not cover the
    /// range), EBUSY (they do only through a lease being recalled), EPERM (immutable or
    /// append-only file; DAX_IMMUTABLE file whose range would need blocks, conversion or a larger
    /// size), ENXIO (the range ends past EOF's block without ExtendSize), ENOSPC, E2BIG (too
    /// fragmented for one transaction: prepare it in parts).
    /// </returns>
    public Errno PrepareWrite(ulong ino, ulong handle, long offset, long length, PrepareWriteFlags flags, Credentials who) =>
        Mapper.PrepareWrite(ino, handle, offset, length, flags, who);

    /// <summary>
    /// Shared space: blocks mapped by two or more extents (each counted once), and how many
    /// mappings more than blocks there are (what the files' sizes add up to beyond the space
    /// they use), from the reference-count records. A snapshot; exact when nothing runs.
    /// </summary>
    public SharingUsage SharingUsage
    {
        get
        {
            long blocks = 0, extra = 0;
            var all = Sharing.All;
            foreach (var r in all)
            {
                blocks += r.Count;
                extra += r.Count * (long)(r.Refs - 1);
            }
            return new SharingUsage(all.Count, blocks, extra);
        }
    }

    private readonly Lock _formatLock = new();

    /// <summary>
    /// Before the first reference-count record is committed on a version 1 image: records version
    /// 2 in both superblocks (secondary first, the primary last, as mkfs does), so a build that
    /// knows only version 1 refuses the image instead of misreading its records. A crash before
    /// the commit leaves a version 2 image with no record, which is fine.
    /// </summary>
    internal void EnsureSharingFormat()
    {
        if (Superblock.Version >= FormatConstants.FormatVersion) return;
        lock (_formatLock)
        {
            if (Superblock.Version >= FormatConstants.FormatVersion) return;
            var upgraded = Superblock with { Version = FormatConstants.FormatVersion };
            ImageReader.WriteSuperblock(Media, upgraded, SuperblockCopy.Secondary);
            ImageReader.WriteSuperblock(Media, upgraded, SuperblockCopy.Primary);
            Superblock = upgraded;
        }
    }

    /// <summary>
    /// After the poison of a superblock copy was found: clears it and writes that copy again
    /// from memory. False when <paramref name="bad"/> is in neither copy's block.
    /// </summary>
    internal bool RewriteSuperblockCopyAt(Media.Poison.BadRange bad)
    {
        long bs = FormatConstants.BlockSize;
        SuperblockCopy? copy = bad.Offset < bs ? SuperblockCopy.Primary
            : bad.Offset >= Geometry.SecondarySuperblock * bs ? SuperblockCopy.Secondary : null;
        if (copy is null || Options.ReadOnly || Health.State == Engine.Health.HealthState.ShutDown) return false;
        lock (_formatLock)
        {
            Media.ClearPoison(bad.Offset, bad.Length);
            ImageReader.WriteSuperblock(Media, Superblock, copy.Value);
        }
        return true;
    }

    /// <summary>The device's unsafe shutdown count as mount found it; null where the media has none (image files on disks).</summary>
    public Health.UnsafeShutdownReport? UnsafeShutdown { get; private set; }

    /// <summary>Records the device's unsafe shutdown count in both superblocks (secondary first, as mkfs writes them).</summary>
    internal void RecordUnsafeShutdownCount(ulong count)
    {
        lock (_formatLock)
        {
            var updated = Superblock with { UnsafeShutdownCount = count };
            ImageReader.WriteSuperblock(Media, updated, SuperblockCopy.Secondary);
            ImageReader.WriteSuperblock(Media, updated, SuperblockCopy.Primary);
            Superblock = updated;
        }
    }

    internal Inode? InodeAt(ulong ino) => Geometry.IsValidIno(ino) ? Volatile.Read(ref _inodes[Geometry.SlotOfIno(ino)]) : null;

    /// <summary>
    /// The inode numbered <paramref name="ino"/>, or ESTALE: node ids arrive from the kernel,
    /// which may hold them from before a remount (file handles), so a number outside the table
    /// or a free slot is a stale handle, never a crash.
    /// </summary>
    internal Inode Get(ulong ino)
    {
        var inode = InodeAt(ino);
        if (inode is null) throw new ErrnoException(Errno.ESTALE);
        // A sick file (damaged metadata) answers EUCLEAN to everything (docs/health.md).
        var sick = Health.SickAnswer(ino);
        if (sick.Failed) throw new ErrnoException(sick);
        return inode;
    }

    internal void Publish(Inode inode) => Volatile.Write(ref _inodes[inode.Slot], inode);

    private void Unpublish(Inode inode) => Volatile.Write(ref _inodes[inode.Slot], null);

    internal void LogInode(Txn tx, in InodeRecord rec)
    {
        Span<byte> buf = stackalloc byte[DiskInode.Size];
        DiskInode.Seal(rec, buf);
        tx.Log.Write(Geometry.InodeOffset(Geometry.SlotOfIno(rec.Ino)), buf);
    }

    /// <summary>Persists everything and leaves an empty journal (clean unmount); after a shutdown, nothing (the next mount replays).</summary>
    public void Sync()
    {
        if (Options.ReadOnly || Health.State == Engine.Health.HealthState.ShutDown) return;
        WriteLazyAtimes();
        Log.Checkpoint();
    }

    /// <summary>
    /// Forced shutdown (docs/health.md, XFS's xfs_force_shutdown): from the moment this returns
    /// every change answers EIO and nothing more is written — no transaction, apply, checkpoint
    /// or clean-unmount header — so the next mount replays the journal and finds the media as
    /// the last durable commit left it. Reads go on. Said once (the first reason and cause win).
    /// The one door: <see cref="Health.FileSystemHealth.ShutDown"/> alone would not stop the log.
    /// </summary>
    /// <param name="cause">The exception that made memory and media part, for the daemon's log.</param>
    /// <param name="finishInFlight">Let the transactions already in the log finish first (XFS's
    /// LOGFLUSH: their callers are told success, truthfully); otherwise they fail with EIO (one
    /// whose commit word was durable is replayed by the next mount). Failures stop at once.</param>
    public void ShutDown(string reason, Exception? cause = null, bool finishInFlight = false)
    {
        Health.ShutDown(reason, cause);
        Log?.Stop(reason, finishInFlight);
    }

    /// <summary>
    /// A verifier failure at run time on a structure about to be changed: the media no longer
    /// holds what memory believes (a stray store, a bug), so changing it would build on a guess.
    /// Shuts down and throws EIO; nothing of the change was stored.
    /// </summary>
    internal void ShutDownOnDamage(VerifyResult verdict, string what)
    {
        ShutDown($"{what} changed under the mount ({verdict.Problem}): memory and media disagree");
        throw new ErrnoException(Errno.EIO);
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

/// <summary>Reference-count records, blocks they cover, and mappings beyond one per block (<see cref="FileSystem.SharingUsage"/>).</summary>
public readonly record struct SharingUsage(int Records, long SharedBlocks, long ExtraReferences);

public sealed record MountReport(SuperblockCopy SuperblockUsed, string? SuperblockProblem, int TransactionsReplayed, int OrphansFreed, int TrimsFinished);
