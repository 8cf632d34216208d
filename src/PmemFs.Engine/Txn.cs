using PmemFs.Engine.Alloc;
using PmemFs.Engine.Inodes;
using PmemFs.Engine.Log;
using PmemFs.Engine.Sharing;
using PmemFs.Format;

namespace PmemFs.Engine;

/// <summary>
/// One metadata operation in progress: the log entries it will commit, what it allocated
/// (given back if it fails before commit), what it frees (given back only after commit), and
/// the in-memory changes to make once the commit is durable.
/// </summary>
/// <remarks>
/// Begin takes a transaction from a per-thread spare and Dispose gives it back, cleared: a
/// write or create allocates no transaction, collections or log buffer of its own (issue 14:
/// the engine's part of a FUSE write should not feed the garbage collector). Nothing may keep a
/// transaction past its Dispose.
/// </remarks>
internal sealed class Txn : IDisposable
{
    [ThreadStatic] private static Txn? _spare;

    private FileSystem _fs = null!;
    private readonly List<BlockRun> _allocatedBlocks = [];
    private readonly List<(SlotAllocator Table, long Slot)> _allocatedSlots = [];
    private readonly List<BlockRun> _blocksToFree = [];
    private readonly List<(SlotAllocator Table, long Slot)> _slotsToFree = [];
    private readonly List<CommitStep> _onCommit = [];
    private readonly HashSet<ulong> _editedMaps = [];
    private readonly List<ExtentPiece> _pieces = [];
    private SharingChanges? _sharing;
    private bool _done;
    private bool _open;

    /// <summary>
    /// An in-memory change made once the commit is durable: an action, or one of the common
    /// changes as data (an inode's new record, a directory entry added or removed, a new inode
    /// published), which need no closure: create and unlink allocate nothing for them.
    /// </summary>
    private readonly record struct CommitStep(CommitStepKind Kind, Action? Action, Inode? Inode, InodeRecord Record, DirEntry? Entry);

    private enum CommitStepKind : byte { Action, Store, AddEntry, RemoveEntry, Publish }

    private Txn() { Log = new LogTransaction(); }

    /// <summary>Starts a transaction (refused when writes are: before anything is stored, as a write stores its data before it commits).</summary>
    public static Txn Begin(FileSystem fs)
    {
        fs.Health.ThrowIfWritesRefused();
        var tx = _spare ?? new Txn();
        _spare = null;
        tx._fs = fs;
        tx._done = false;
        tx._open = true;
        return tx;
    }

    public LogTransaction Log { get; }

    /// <summary>A list for one extent edit's pieces, empty, owned by this transaction (an edit uses it before the next begins).</summary>
    internal List<ExtentPiece> ScratchPieces()
    {
        _pieces.Clear();
        return _pieces;
    }

    /// <summary>This transaction's view of the reference counts, and its changes to them (shared blocks).</summary>
    internal SharingChanges Sharing => _sharing ??= new SharingChanges(_fs, this);

    /// <summary>Whether this transaction has looked at or changed reference counts yet.</summary>
    internal bool UsesSharing => _sharing is not null;

    /// <summary>Allocates blocks for data; logs them as in use. Throws ENOSPC (nothing taken).</summary>
    public List<BlockRun> AllocateBlocks(long count, long hint, long alignment)
    {
        var runs = _fs.Blocks.Allocate(count, hint, alignment) ?? throw new ErrnoException(Errno.ENOSPC);
        foreach (var r in runs)
        {
            _allocatedBlocks.Add(r);
            Log.SetBits(r.Start, r.Count);
        }
        return runs;
    }

    /// <summary>Logs blocks as free; they return to the allocator after commit.</summary>
    public void FreeBlocks(long start, long count)
    {
        if (count <= 0) return;
        Log.ClearBits(start, count);
        _blocksToFree.Add(new BlockRun(start, count));
    }

    public long AllocateSlot(SlotAllocator table)
    {
        long slot = table.Allocate();
        if (slot < 0) throw new ErrnoException(Errno.ENOSPC);
        _allocatedSlots.Add((table, slot));
        return slot;
    }

    /// <summary>Logs a zeroed slot; the slot returns to its table after commit.</summary>
    public void FreeSlot(SlotAllocator table, long slot, long offset, int size)
    {
        Log.Zero(offset, size);
        _slotsToFree.Add((table, slot));
    }

    /// <summary>Like <see cref="FreeSlot"/> for an inode: the slot keeps its (free) record and generation.</summary>
    public void FreeSlotKeepingRecord(SlotAllocator table, long slot) => _slotsToFree.Add((table, slot));

    public void OnCommit(Action action) => _onCommit.Add(new CommitStep(CommitStepKind.Action, action, null, default, null));

    /// <summary>Once committed, <paramref name="inode"/>'s record becomes <paramref name="record"/> (in order with the other steps).</summary>
    public void OnCommitStore(Inode inode, in InodeRecord record) => _onCommit.Add(new CommitStep(CommitStepKind.Store, null, inode, record, null));

    /// <summary>Once committed, <paramref name="entry"/> is in <paramref name="dir"/>'s index.</summary>
    public void OnCommitAddEntry(Inode dir, DirEntry entry) => _onCommit.Add(new CommitStep(CommitStepKind.AddEntry, null, dir, default, entry));

    /// <summary>Once committed, <paramref name="entry"/> is no longer in <paramref name="dir"/>'s index.</summary>
    public void OnCommitRemoveEntry(Inode dir, DirEntry entry) => _onCommit.Add(new CommitStep(CommitStepKind.RemoveEntry, null, dir, default, entry));

    /// <summary>Once committed, <paramref name="inode"/> can be found by its number.</summary>
    public void OnCommitPublish(Inode inode) => _onCommit.Add(new CommitStep(CommitStepKind.Publish, null, inode, default, null));

    /// <summary>
    /// An extent edit computes its slots and window from the map as it is before commit, so a
    /// second edit of the same map in one transaction would work from stale state: refuse it.
    /// </summary>
    public void ClaimExtentMap(ulong ino)
    {
        if (!_editedMaps.Add(ino)) throw new InvalidOperationException($"inode {ino}: two extent edits in one transaction");
    }

    /// <summary>Durably commits, then updates memory. Allocations become permanent.</summary>
    public void Commit()
    {
        if (_done) throw new InvalidOperationException("transaction already finished");
        // Reference-count records are logged last (they may need slots: ENOSPC still gives all back).
        _sharing?.LogRecords();
        // Refused before anything is stored: Dispose then gives back what was allocated.
        if (_fs.Options.ReadOnly) throw new ErrnoException(Errno.EROFS);
        _fs.Health.ThrowIfWritesRefused();
        _done = true;
        try
        {
            try { _fs.CommitLog(Log); }
            catch (LogRefusedException)
            {
                _done = false; // nothing stored: Dispose gives back what was allocated
                throw;
            }
            try
            {
                foreach (var step in _onCommit)
                {
                    switch (step.Kind)
                    {
                        case CommitStepKind.Action: step.Action!(); break;
                        case CommitStepKind.Store: step.Inode!.Rec = step.Record; break;
                        case CommitStepKind.AddEntry: step.Inode!.Directory!.Add(step.Entry!); break;
                        case CommitStepKind.RemoveEntry: step.Inode!.Directory!.Remove(step.Entry!); break;
                        case CommitStepKind.Publish: _fs.Publish(step.Inode!); break;
                    }
                }
                foreach (var r in _blocksToFree) _fs.Blocks.Free(r.Start, r.Count);
                foreach (var (t, s) in _slotsToFree) t.Release(s);
            }
            catch (Exception e)
            {
                // Durable on the media, half done in memory: the two no longer agree.
                _fs.ShutDown($"memory could not follow a durable commit ({e.GetType().Name}: {e.Message})", e);
                throw new ErrnoException(Errno.EIO);
            }
        }
        finally { _sharing?.Complete(); }
    }

    /// <summary>Without a commit: gives back everything allocated; nothing reached the media's metadata.</summary>
    public void Dispose()
    {
        if (!_open) return;
        _sharing?.Complete();
        if (!_done)
        {
            _done = true;
            foreach (var r in _allocatedBlocks) _fs.Blocks.Free(r.Start, r.Count);
            foreach (var (t, s) in _allocatedSlots) t.Release(s);
        }
        Recycle();
    }

    /// <summary>Clears this transaction and keeps it as the thread's spare.</summary>
    private void Recycle()
    {
        _open = false;
        _allocatedBlocks.Clear();
        _allocatedSlots.Clear();
        _blocksToFree.Clear();
        _slotsToFree.Clear();
        _onCommit.Clear();
        _editedMaps.Clear();
        _pieces.Clear();
        _sharing = null;
        _fs = null!;
        Log.Clear();
        // A transaction that grew unusually large (a big truncate or repair) is not kept.
        if (Log.Capacity <= 64 * 1024 && _onCommit.Capacity <= 1024) _spare = this;
    }
}
