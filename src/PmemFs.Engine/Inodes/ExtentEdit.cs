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
    /// blocks that are new to the file must already be allocated (and logged) by the caller.</param>
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

        // Physical blocks that leave the file: dropped ones not reused by a piece.
        foreach (var (phys, count) in Subtract(dropped, pieces.Select(p => (p.PhysBlock, p.Count))))
            tx.FreeBlocks(phys, count);

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
            long rslot = reuse?.RmapSlot ?? tx.AllocateSlot(fs.RmapSlots);
            DiskExtent.Seal(new ExtentRecord(inode.Ino, m.FileBlock, m.PhysBlock, m.Count, m.State), rec);
            tx.Log.Write(g.ExtentOffset(slot), rec);
            DiskRmap.Seal(new RmapRecord(m.PhysBlock, m.Count, RmapOwnerKind.InodeData, inode.Ino, m.FileBlock), rec);
            tx.Log.Write(g.RmapOffset(rslot), rec);
            result.Add(new Extent(m.FileBlock, m.PhysBlock, m.Count, m.State, slot, rslot));
        }
        for (int i = merged.Count; i < old.Count; i++)
        {
            tx.FreeSlot(fs.ExtentSlots, old[i].Slot, g.ExtentOffset(old[i].Slot), DiskExtent.Size);
            tx.FreeSlot(fs.RmapSlots, old[i].RmapSlot, g.RmapOffset(old[i].RmapSlot), DiskRmap.Size);
        }
        int removeCount = old.Count;
        tx.OnCommit(() => map.Replace(lo, removeCount, result));
    }

    /// <summary>Ranges of <paramref name="a"/> not covered by any range of <paramref name="b"/>.</summary>
    internal static List<(long Start, long Count)> Subtract(IEnumerable<(long Start, long Count)> a, IEnumerable<(long Start, long Count)> b)
    {
        var cut = b.Where(r => r.Count > 0).OrderBy(r => r.Start).ToList();
        var result = new List<(long, long)>();
        foreach (var (s0, c0) in a)
        {
            long s = s0, e = s0 + c0;
            foreach (var (bs, bc) in cut)
            {
                long be = bs + bc;
                if (be <= s || bs >= e) continue;
                if (bs > s) result.Add((s, bs - s));
                s = Math.Max(s, be);
                if (s >= e) break;
            }
            if (s < e) result.Add((s, e - s));
        }
        return result;
    }
}
