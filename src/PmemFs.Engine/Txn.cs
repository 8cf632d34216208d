using PmemFs.Engine.Alloc;
using PmemFs.Engine.Log;
using PmemFs.Engine.Sharing;
using PmemFs.Format;

namespace PmemFs.Engine;

/// <summary>
/// One metadata operation in progress: the log entries it will commit, what it allocated
/// (given back if it fails before commit), what it frees (given back only after commit), and
/// the in-memory changes to make once the commit is durable.
/// </summary>
internal sealed class Txn : IDisposable
{
    private readonly FileSystem _fs;
    private readonly List<BlockRun> _allocatedBlocks = [];
    private readonly List<(SlotAllocator Table, long Slot)> _allocatedSlots = [];
    private readonly List<BlockRun> _blocksToFree = [];
    private readonly List<(SlotAllocator Table, long Slot)> _slotsToFree = [];
    private readonly List<Action> _onCommit = [];
    private readonly HashSet<ulong> _editedMaps = [];
    private SharingChanges? _sharing;
    private bool _done;

    public Txn(FileSystem fs)
    {
        // Before anything is stored: a write stores its data in place before it commits.
        fs.Health.ThrowIfWritesRefused();
        _fs = fs;
        Log = new LogTransaction();
    }

    public LogTransaction Log { get; }

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

    public void OnCommit(Action action) => _onCommit.Add(action);

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
                foreach (var a in _onCommit) a();
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
        _sharing?.Complete();
        if (_done) return;
        _done = true;
        foreach (var r in _allocatedBlocks) _fs.Blocks.Free(r.Start, r.Count);
        foreach (var (t, s) in _allocatedSlots) t.Release(s);
    }
}
