using System.Collections.Immutable;
using PmemFs.Format;

namespace PmemFs.Engine.Sharing;

/// <summary>
/// Sharing (DESIGN.md "Engine shape"): how many data extents map each physical block, and so
/// whether blocks that leave a file may be freed. Only ranges with two or more owners have a
/// reference-count record (<see cref="DiskRefcount"/>, in rmap-table slots); every other mapped
/// block has exactly one owner.
/// </summary>
/// <remarks>
/// <para>
/// Reads are lock-free on an immutable snapshot. Why that is enough for the common question
/// "is any block of this range shared?": a record over a block can only appear when its single
/// owner is cloned, and a clone holds that owner's inode lock. So for blocks of a file whose
/// lock the caller holds, "no record" stays true until the caller lets go; "a record" may not
/// (another owner may be dropping its reference), so every decision that relies on a record
/// claims <see cref="ChangeLock"/> (<see cref="SharingChanges"/>) and re-reads under it.
/// </para>
/// <para>
/// Records change only in a transaction that holds <see cref="ChangeLock"/> from its first
/// look at a record until its commit has been applied and the snapshot replaced: two
/// transactions that change the same record therefore commit, apply and publish in sequence
/// order, which is what the journal's "a record image is logged under its owner's lock" rule
/// asks. The lock is a leaf: taken with every inode lock the operation needs already held.
/// </para>
/// </remarks>
internal sealed class ReferenceCounts
{
    /// <summary>A record as the engine holds it: a range, its count (>= 2) and its rmap-table slot.</summary>
    internal readonly record struct Segment(long Start, long Count, ulong Refs, long Slot)
    {
        public long End => Start + Count;
    }

    private static readonly IComparer<Segment> ByStart = Comparer<Segment>.Create((a, b) => a.Start.CompareTo(b.Start));
    private ImmutableSortedSet<Segment> _segments = ImmutableSortedSet.Create(ByStart);

    /// <summary>Held by a transaction that reads records to decide, or changes them, until its commit is applied.</summary>
    internal Lock ChangeLock { get; } = new();

    public int RecordCount => Volatile.Read(ref _segments).Count;

    /// <summary>Adds a record found at mount (before any operation runs).</summary>
    public void AddLoaded(RefcountRecord r, long slot) =>
        _segments = _segments.Add(new Segment(r.PhysBlock, r.BlockCount, r.Refs, slot));

    /// <summary>The records overlapping [start, start + count), in order (a consistent snapshot).</summary>
    public List<Segment> Overlapping(long start, long count)
    {
        var set = Volatile.Read(ref _segments);
        var result = new List<Segment>();
        if (set.Count == 0 || count <= 0) return result;
        long end = start + count;
        int i = set.IndexOf(new Segment(start, 0, 0, 0));
        if (i < 0) i = ~i;
        if (i > 0 && set[i - 1].End > start) i--;
        for (; i < set.Count && set[i].Start < end; i++)
            if (set[i].End > start) result.Add(set[i]);
        return result;
    }

    /// <summary>Whether any record overlaps the range (lock-free; see the remarks for when "no" can be trusted).</summary>
    public bool AnyOverlap(long start, long count)
    {
        var set = Volatile.Read(ref _segments);
        if (set.Count == 0) return false;
        int i = set.IndexOf(new Segment(start, 0, 0, 0));
        if (i < 0) i = ~i;
        if (i > 0 && set[i - 1].End > start) return true;
        return i < set.Count && set[i].Start < start + count;
    }

    /// <summary>Every record, in physical order (for `pmemfs info`, bmap and tests).</summary>
    public IReadOnlyList<Segment> All => [.. Volatile.Read(ref _segments)];

    /// <summary>Replaces records after a commit; the caller holds <see cref="ChangeLock"/>.</summary>
    internal void Publish(IReadOnlyList<Segment> removed, IReadOnlyList<Segment> added)
    {
        var b = Volatile.Read(ref _segments).ToBuilder();
        foreach (var s in removed)
            if (!b.Remove(s)) throw new InvalidOperationException($"reference count record at block {s.Start} vanished");
        foreach (var s in added)
            if (!b.Add(s)) throw new InvalidOperationException($"reference count record at block {s.Start} added twice");
        Volatile.Write(ref _segments, b.ToImmutable());
    }
}
