using PmemFs.Format;

namespace PmemFs.Engine.Sharing;

/// <summary>
/// One transaction's view of and changes to the reference counts: the committed records plus
/// what this transaction has added (<see cref="Share"/>) or dropped (<see cref="Release"/>) so
/// far, so two changes of one range in one transaction compose. <see cref="LogRecords"/> turns
/// the changes into record images just before the commit; <see cref="Complete"/> publishes them
/// (after the commit) and lets go of the lock.
/// </summary>
internal sealed class SharingChanges(FileSystem fs, Txn tx)
{
    private readonly ReferenceCounts _counts = fs.Sharing;
    private readonly List<(long Start, long Count, int Delta)> _deltas = [];
    private bool _claimed;

    /// <summary>A run of blocks and how many extents map it (1: not shared).</summary>
    internal readonly record struct Run(long Start, long Count, ulong Refs)
    {
        public long End => Start + Count;
        public bool Shared => Refs > 1;
    }

    /// <summary>
    /// The range cut into runs by reference count, as this transaction sees it. A range that no
    /// record and no change of this transaction touches is one unshared run, answered without
    /// the lock (the caller holds the lock of the file that owns the blocks).
    /// </summary>
    public List<Run> Runs(long start, long count)
    {
        if (!_claimed && !_counts.AnyOverlap(start, count)) return [new Run(start, count, 1)];
        Claim();
        var bounds = new SortedSet<long> { start, start + count };
        var records = _counts.Overlapping(start, count);
        foreach (var r in records) { Clip(bounds, r.Start, start, count); Clip(bounds, r.End, start, count); }
        foreach (var d in _deltas) { Clip(bounds, d.Start, start, count); Clip(bounds, d.Start + d.Count, start, count); }
        var runs = new List<Run>(bounds.Count);
        long prev = -1;
        foreach (long b in bounds)
        {
            if (prev >= 0)
            {
                ulong refs = RefsAt(records, prev);
                if (runs.Count > 0 && runs[^1].End == prev && runs[^1].Refs == refs) runs[^1] = runs[^1] with { Count = b - runs[^1].Start };
                else runs.Add(new Run(prev, b - prev, refs));
            }
            prev = b;
        }
        return runs;
    }

    /// <summary>Whether any block of the range has another owner.</summary>
    public bool AnyShared(long start, long count) => Runs(start, count).Any(r => r.Shared);

    /// <summary>
    /// One mapping of blocks [start, +count) goes away: blocks that have other owners lose one
    /// reference; blocks that had only this one are freed (after commit, as every free).
    /// </summary>
    public void Release(long start, long count)
    {
        foreach (var run in Runs(start, count))
        {
            if (run.Shared) _deltas.Add((run.Start, run.Count, -1));
            else tx.FreeBlocks(run.Start, run.Count);
        }
    }

    /// <summary>Blocks [start, +count), already mapped by some extent, gain one more mapping.</summary>
    public void Share(long start, long count)
    {
        Claim();
        foreach (var run in Runs(start, count))
            if (run.Refs >= DiskRefcount.MaxRefs) throw new ErrnoException(Errno.EMLINK);
        _deltas.Add((start, count, +1));
    }

    /// <summary>
    /// Logs the record images of every range this transaction changed: old records there are
    /// rewritten in their slots or zeroed, new ones get slots (ENOSPC when the rmap table is full,
    /// before anything is committed). Publishing waits for <see cref="Complete"/>.
    /// </summary>
    public void LogRecords()
    {
        if (_deltas.Count == 0) return;
        // Clusters of touched blocks, widened to whole old records so each is rewritten whole.
        var removed = new List<ReferenceCounts.Segment>();
        var added = new List<ReferenceCounts.Segment>();
        foreach (var (s, e) in Clusters())
        {
            var old = _counts.Overlapping(s, e - s);
            var wanted = Runs(s, e - s).Where(r => r.Shared).ToList();
            int reuse = 0;
            foreach (var w in wanted)
            {
                long slot = reuse < old.Count ? old[reuse++].Slot : fs.Rmap.NewSlot(tx);
                fs.Rmap.LogRefcount(tx, slot, new RefcountRecord(w.Start, w.Count, w.Refs));
                added.Add(new ReferenceCounts.Segment(w.Start, w.Count, w.Refs, slot));
            }
            for (int i = reuse; i < old.Count; i++) fs.Rmap.Free(tx, old[i].Slot);
            removed.AddRange(old);
        }
        tx.OnCommit(() => _counts.Publish(removed, added));
        fs.EnsureSharingFormat();
    }

    /// <summary>Lets go of the lock (after the commit's in-memory changes, or when the transaction is abandoned).</summary>
    public void Complete()
    {
        if (!_claimed) return;
        _claimed = false;
        _counts.ChangeLock.Exit();
    }

    private void Claim()
    {
        if (_claimed) return;
        _counts.ChangeLock.Enter();
        _claimed = true;
    }

    private ulong RefsAt(List<ReferenceCounts.Segment> records, long block)
    {
        long refs = 1;
        foreach (var r in records)
            if (r.Start <= block && block < r.End) { refs = (long)r.Refs; break; }
        foreach (var d in _deltas)
            if (d.Start <= block && block < d.Start + d.Count) refs += d.Delta;
        if (refs < 1) throw new InvalidOperationException($"block {block}: reference count fell below 1");
        return (ulong)refs;
    }

    /// <summary>
    /// Touched ranges, each widened to the whole old records it overlaps (so a record is rewritten
    /// whole, by one cluster), merged where they overlap or meet, in order.
    /// </summary>
    private List<(long Start, long End)> Clusters()
    {
        var sorted = _deltas.Select(d =>
        {
            var old = _counts.Overlapping(d.Start, d.Count);
            return (Start: Math.Min(d.Start, old.Count > 0 ? old[0].Start : d.Start), End: Math.Max(d.Start + d.Count, old.Count > 0 ? old[^1].End : d.Start + d.Count));
        }).OrderBy(d => d.Start).ToList();
        var result = new List<(long, long)>();
        foreach (var (s, e) in sorted)
        {
            if (result.Count > 0 && result[^1].Item2 >= s) result[^1] = (result[^1].Item1, Math.Max(result[^1].Item2, e));
            else result.Add((s, e));
        }
        return result;
    }

    private static void Clip(SortedSet<long> bounds, long b, long start, long count)
    {
        if (b > start && b < start + count) bounds.Add(b);
    }
}
