namespace PmemFs.Format;

/// <summary>
/// The one rule about who may own a data block, shared by mount, fsck and repair so it is
/// written once: a block mapped by n data extents (n >= 2) is covered by a reference-count
/// record of count n; a block with one owner or none has no record; an xattr blob's blocks are
/// never owned by anything else (xattr blobs are never shared).
/// </summary>
public static class SharedBlocks
{
    /// <summary>One owner of a physical range: a data extent (<see cref="IsData"/>) or an xattr blob.</summary>
    public readonly record struct Owner(long PhysBlock, long BlockCount, ulong Ino, long FileBlock, bool IsData)
    {
        public long PhysEnd => PhysBlock + BlockCount;
    }

    /// <summary>
    /// A range whose owners and recorded count disagree: <see cref="DataOwners"/> data extents
    /// and <see cref="XattrOwners"/> xattr blobs map it, and records say <see cref="Recorded"/>
    /// (1 where no record covers it; records that overlap each other add up).
    /// </summary>
    public readonly record struct Mismatch(long PhysBlock, long BlockCount, int DataOwners, int XattrOwners, ulong Recorded, IReadOnlyList<ulong> Inodes)
    {
        public long PhysEnd => PhysBlock + BlockCount;

        public string Describe()
        {
            bool one = BlockCount == 1;
            string blocks = one ? $"block {PhysBlock}" : $"blocks {PhysBlock}..{PhysEnd - 1}";
            string who = Inodes.Count == 0 ? "" : $" (inode{(Inodes.Count == 1 ? "" : "s")} {string.Join(", ", Inodes)})";
            if (XattrOwners > 0 && DataOwners + XattrOwners > 1)
                return $"{blocks} belong{(one ? "s" : "")} to an xattr blob and to {DataOwners + XattrOwners - 1} other owner{(DataOwners + XattrOwners - 1 == 1 ? "" : "s")}{who}";
            if (Recorded == 1)
                return $"{blocks} {(one ? "is" : "are")} mapped by {DataOwners} extents{who} but no reference-count record covers {(one ? "it" : "them")}";
            return $"{blocks} {(one ? "has" : "have")} reference count {Recorded} but {DataOwners} extent{(DataOwners == 1 ? " maps" : "s map")} {(one ? "it" : "them")}{who}";
        }
    }

    /// <summary>
    /// Every range where <paramref name="owners"/> and <paramref name="records"/> disagree, in
    /// physical order, neighbours with the same verdict merged. Empty when the image keeps the rule.
    /// </summary>
    public static List<Mismatch> Compare(IEnumerable<Owner> owners, IEnumerable<RefcountRecord> records)
    {
        var result = new List<Mismatch>();
        Sweep(owners, records, (start, end, data, xattr, recorded, active) =>
        {
            bool ok = xattr == 0 ? (data <= 1 ? recorded == 1 : recorded == (ulong)data) : data + xattr == 1 && recorded == 1;
            if (ok) return;
            var inos = active.Inodes();
            if (result.Count > 0)
            {
                var last = result[^1];
                if (last.PhysEnd == start && last.DataOwners == data && last.XattrOwners == xattr && last.Recorded == recorded && last.Inodes.SequenceEqual(inos))
                {
                    result[^1] = last with { BlockCount = end - last.PhysBlock };
                    return;
                }
            }
            result.Add(new Mismatch(start, end - start, data, xattr, recorded, inos));
        });
        return result;
    }

    /// <summary>The records the image should hold for these owners: every range mapped by two or more data extents, neighbours with equal counts merged.</summary>
    public static List<RefcountRecord> Expected(IEnumerable<Owner> owners)
    {
        var result = new List<RefcountRecord>();
        Sweep(owners.Where(o => o.IsData), [], (start, end, data, _, _, _) =>
        {
            if (data < 2) return;
            if (result.Count > 0 && result[^1].PhysEnd == start && result[^1].Refs == (ulong)data)
                result[^1] = result[^1] with { BlockCount = end - result[^1].PhysBlock };
            else result.Add(new RefcountRecord(start, end - start, (ulong)data));
        });
        return result;
    }

    /// <summary>Pairs of records that overlap each other (records must not).</summary>
    public static IEnumerable<(RefcountRecord A, RefcountRecord B)> Overlapping(IEnumerable<RefcountRecord> records)
    {
        var sorted = records.OrderBy(r => r.PhysBlock).ToList();
        for (int i = 1, holder = 0; i < sorted.Count; i++)
        {
            if (sorted[i].PhysBlock < sorted[holder].PhysEnd) yield return (sorted[holder], sorted[i]);
            if (sorted[i].PhysEnd > sorted[holder].PhysEnd) holder = i;
        }
    }

    private delegate void Interval(long start, long end, int data, int xattr, ulong recorded, ActiveOwners active);

    /// <summary>The owners covering the current range; their inodes are listed only when asked (a mismatch), not per range.</summary>
    private sealed class ActiveOwners(List<Owner> owners)
    {
        public readonly SortedSet<int> Indexes = [];

        public List<ulong> Inodes() => Indexes.Select(i => owners[i].Ino).Distinct().Order().ToList();
    }

    /// <summary>Walks the elementary ranges where something owns or counts blocks, with what covers each.</summary>
    private static void Sweep(IEnumerable<Owner> owners, IEnumerable<RefcountRecord> records, Interval visit)
    {
        // Events: (block, order, kind, index). Ends sort before starts at the same block.
        var ownerList = owners.ToList();
        var recordList = records.ToList();
        var events = new List<(long At, int Delta, bool IsRecord, int Index)>(2 * (ownerList.Count + recordList.Count));
        for (int i = 0; i < ownerList.Count; i++)
        {
            if (ownerList[i].BlockCount <= 0) continue;
            events.Add((ownerList[i].PhysBlock, +1, false, i));
            events.Add((ownerList[i].PhysEnd, -1, false, i));
        }
        for (int i = 0; i < recordList.Count; i++)
        {
            if (recordList[i].BlockCount <= 0) continue;
            events.Add((recordList[i].PhysBlock, +1, true, i));
            events.Add((recordList[i].PhysEnd, -1, true, i));
        }
        events.Sort((a, b) => a.At != b.At ? a.At.CompareTo(b.At) : a.Delta.CompareTo(b.Delta));
        var active = new ActiveOwners(ownerList);
        int data = 0, xattr = 0;
        ulong recorded = 0;
        int recordsActive = 0;
        for (int k = 0; k < events.Count;)
        {
            long at = events[k].At;
            for (; k < events.Count && events[k].At == at; k++)
            {
                var (_, delta, isRecord, index) = events[k];
                if (isRecord)
                {
                    recordsActive += delta;
                    recorded = delta > 0 ? recorded + recordList[index].Refs : recorded - recordList[index].Refs;
                }
                else
                {
                    if (ownerList[index].IsData) data += delta; else xattr += delta;
                    if (delta > 0) active.Indexes.Add(index); else active.Indexes.Remove(index);
                }
            }
            if (k == events.Count) break;
            long next = events[k].At;
            if (next > at && (data + xattr > 0 || recordsActive > 0))
                visit(at, next, data, xattr, recordsActive == 0 ? 1 : recorded, active);
        }
    }
}
