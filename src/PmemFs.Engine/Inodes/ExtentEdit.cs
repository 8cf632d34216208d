using PmemFs.Format;

namespace PmemFs.Engine.Inodes;

/// <summary>
/// The one mechanism that changes a file's block map: "within file blocks [start, end), the
/// map becomes exactly <c>pieces</c>". It keeps what lies outside the window, merges
/// neighbours that became contiguous, reuses record slots, and logs extent + rmap records,
/// bitmap changes for physical blocks that stop or start being used, and zeroed slots.
/// Write into a hole, unwritten-to-written conversion, punch, truncate and zero-range are all
/// this one edit with different pieces.
/// </summary>
internal static class ExtentEdit
{
    /// <summary>Longest extent a record describes; keeps rmap ranges and huge-page math small.</summary>
    public const long MaxExtentBlocks = 1L << 30;

    /// <param name="pieces">New mappings inside [start, end), sorted, non-overlapping. Physical
    /// blocks that are new to the file must already be allocated (and logged) by the caller,
    /// except pieces marked <see cref="ExtentPiece.Shares"/> (a clone): each mapping those add
    /// is counted as one more reference to blocks other extents map.</param>
    public static void Apply(FileSystem fs, Txn tx, Inode inode, long start, long end, IReadOnlyList<ExtentPiece> pieces)
    {
        tx.ClaimExtentMap(inode.Ino);
        var map = inode.Extents;
        var g = fs.Geometry;
        // Window of old extents: those overlapping [start-1, end+1) so neighbours can merge.
        int lo = map.FirstEndingAfter(Math.Max(0, start - 1));
        int hi = lo;
        while (hi < map.Count && map.All[hi].FileBlock <= end) hi++;
        var old = new List<Extent>(hi - lo);
        for (int i = lo; i < hi; i++) old.Add(map.All[i]);

        // What the window becomes, before merging.
        var wanted = new List<ExtentPiece>(old.Count + pieces.Count + 2);
        var dropped = new List<(long Phys, long Count)>();
        foreach (var e in old)
        {
            if (e.FileBlock < start)
                wanted.Add(new ExtentPiece(e.FileBlock, e.PhysBlock, Math.Min(e.FileEnd, start) - e.FileBlock, e.State));
            if (e.FileEnd > end)
            {
                long s = Math.Max(e.FileBlock, end);
                wanted.Add(new ExtentPiece(s, e.PhysOf(s), e.FileEnd - s, e.State));
            }
            long cs = Math.Max(e.FileBlock, start), ce = Math.Min(e.FileEnd, end);
            if (cs < ce) dropped.Add((e.PhysOf(cs), ce - cs));
        }
        foreach (var p in pieces)
        {
            if (p.FileBlock < start || p.FileEnd > end || p.Count <= 0) throw new ArgumentException("piece outside the edit window");
            wanted.Add(p);
        }
        wanted.Sort((a, b) => a.FileBlock.CompareTo(b.FileBlock));
        var merged = new List<ExtentPiece>(wanted.Count);
        foreach (var m in wanted)
        {
            if (merged.Count > 0)
            {
                var last = merged[^1];
                if (last.FileEnd > m.FileBlock) throw new InvalidOperationException("extent edit produced overlapping mappings");
                if (last.FileEnd == m.FileBlock && last.PhysEnd == m.PhysBlock && last.State == m.State && last.Count + m.Count <= MaxExtentBlocks)
                {
                    merged[^1] = last with { Count = last.Count + m.Count };
                    continue;
                }
            }
            merged.Add(m);
        }

        // Mappings that leave the window lose a reference (freed when it was the last: Sharing
        // decides); with sharesBlocks, mappings the pieces add gain one. Counted as multisets, so
        // a block mapped twice in the window (a file sharing with itself) is counted twice.
        var (lost, _) = MappingDifference(dropped, pieces.Select(p => (p.PhysBlock, p.Count)));
        foreach (var (phys, count) in lost) tx.Sharing.Release(phys, count);
        if (pieces.Any(p => p.Shares))
        {
            var (_, gained) = MappingDifference(dropped, pieces.Where(p => p.Shares).Select(p => (p.PhysBlock, p.Count)));
            foreach (var (phys, count) in gained) tx.Sharing.Share(phys, count);
        }

        // Records: reuse old slots in order, allocate more if needed, zero the leftovers.
        var result = new List<Extent>(merged.Count);
        Span<byte> rec = stackalloc byte[DiskExtent.Size];
        for (int i = 0; i < merged.Count; i++)
        {
            var m = merged[i];
            Extent? reuse = i < old.Count ? old[i] : null;
            if (reuse is not null && reuse.FileBlock == m.FileBlock && reuse.PhysBlock == m.PhysBlock && reuse.Count == m.Count && reuse.State == m.State)
            {
                result.Add(reuse);
                continue;
            }
            long slot = reuse?.Slot ?? tx.AllocateSlot(fs.ExtentSlots);
            long rslot = reuse?.RmapSlot ?? fs.Rmap.NewSlot(tx);
            DiskExtent.Seal(new ExtentRecord(inode.Ino, m.FileBlock, m.PhysBlock, m.Count, m.State), rec);
            tx.Log.Write(g.ExtentOffset(slot), rec);
            fs.Rmap.LogOwner(tx, rslot, new RmapRecord(m.PhysBlock, m.Count, RmapOwnerKind.InodeData, inode.Ino, m.FileBlock));
            result.Add(new Extent(m.FileBlock, m.PhysBlock, m.Count, m.State, slot, rslot));
        }
        for (int i = merged.Count; i < old.Count; i++)
        {
            tx.FreeSlot(fs.ExtentSlots, old[i].Slot, g.ExtentOffset(old[i].Slot), DiskExtent.Size);
            fs.Rmap.Free(tx, old[i].RmapSlot);
        }
        int removeCount = old.Count;
        tx.OnCommit(() => map.Replace(lo, removeCount, result));
    }

    /// <summary>
    /// Physical mappings before (<paramref name="before"/>) and after (<paramref name="after"/>) an
    /// edit, as multisets of blocks: each block once per mapping lost (<c>Lost</c>) or gained
    /// (<c>Gained</c>); a range lost twice appears twice.
    /// </summary>
    internal static (List<(long Start, long Count)> Lost, List<(long Start, long Count)> Gained) MappingDifference(
        IEnumerable<(long Start, long Count)> before, IEnumerable<(long Start, long Count)> after)
    {
        var events = new List<(long At, int Before, int After)>();
        foreach (var (s, c) in before) if (c > 0) { events.Add((s, 1, 0)); events.Add((s + c, -1, 0)); }
        foreach (var (s, c) in after) if (c > 0) { events.Add((s, 0, 1)); events.Add((s + c, 0, -1)); }
        events.Sort((a, b) => a.At.CompareTo(b.At));
        var lost = new List<(long, long)>();
        var gained = new List<(long, long)>();
        int nb = 0, na = 0;
        for (int k = 0; k < events.Count;)
        {
            long at = events[k].At;
            for (; k < events.Count && events[k].At == at; k++) { nb += events[k].Before; na += events[k].After; }
            if (k == events.Count) break;
            long next = events[k].At;
            for (int i = 0; i < nb - na; i++) Append(lost, at, next - at);
            for (int i = 0; i < na - nb; i++) Append(gained, at, next - at);
        }
        return (lost, gained);

        static void Append(List<(long Start, long Count)> list, long start, long count)
        {
            // Merge with the run it continues (the common case: one contiguous range).
            for (int i = list.Count - 1; i >= 0 && i >= list.Count - 2; i--)
                if (list[i].Start + list[i].Count == start) { list[i] = (list[i].Start, list[i].Count + count); return; }
            list.Add((start, count));
        }
    }

}
