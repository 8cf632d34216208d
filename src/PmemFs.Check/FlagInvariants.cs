using PmemFs.Format;

namespace PmemFs.Check;

/// <summary>
/// The per-inode flag rules of docs/flags.md that the media can violate, judged the same way
/// by the check (phase 5, once the block maps are known) and by the repair (after it has
/// decided which extents stay):
/// <list type="bullet">
/// <item><c>dax</c> only on regular files and directories;</item>
/// <item><c>dax_immutable</c> only on a regular file that also has <c>dax</c>, fully allocated
/// and written: every file block in [0, ceil(size / 4096)) mapped, no unwritten extent anywhere
/// (beyond EOF included), no shared block.</item>
/// </list>
/// A block is shared when a reference-count record covers it or another data extent maps it
/// too (<see cref="SharedBlocks"/>; whether the counts are right is phase 5's refcount finding).
/// Unknown flag bits are the inode verifier's; the
/// other flags (immutable, append, noatime, sync, nodump) are valid on every inode type.
/// Repair only ever clears the offending flag: it never moves, allocates or converts data
/// (fsck never relocates a DAX_IMMUTABLE file's blocks).
/// </summary>
internal static class FlagInvariants
{
    /// <summary>One broken rule: the flag to clear, the finding as the check words it, and the cause as the repair words it.</summary>
    internal readonly record struct Violation(InodeFlags Flag, string Problem, string Cause);

    /// <summary>Phase 5: every live inode's flags against its type and its map (<paramref name="files"/>: extents by inode).</summary>
    public static void Check(FsckContext ctx, Dictionary<ulong, List<(long Slot, ExtentRecord Rec)>> files, IReadOnlyList<(long Start, long End)> shared)
    {
        // ctx.Inodes holds only records that verified: a damaged inode gets no flag findings on top.
        foreach (var ino in ctx.Inodes.Keys.Order())
        {
            var rec = ctx.Inodes[ino];
            if (!Concerned(rec)) continue;
            var extents = files.TryGetValue(ino, out var list) ? list : [];
            foreach (var v in Find(rec, extents, shared)) ctx.Problem($"inode {ino}", v.Problem);
        }
    }

    /// <summary>Whether <paramref name="rec"/> carries a flag these rules are about.</summary>
    public static bool Concerned(InodeRecord rec) => ((InodeFlags)rec.Flags & (InodeFlags.Dax | InodeFlags.DaxImmutable)) != 0;

    /// <summary>
    /// The rules <paramref name="rec"/> breaks, given its extents (in any order; records as read,
    /// overlapping ones included) and the image's shared physical ranges (sorted, disjoint).
    /// Costs O(n log m) in the extents and shared ranges, never anything in the size.
    /// </summary>
    public static List<Violation> Find(InodeRecord rec, IReadOnlyList<(long Slot, ExtentRecord Rec)> extents, IReadOnlyList<(long Start, long End)> shared)
    {
        var found = new List<Violation>();
        var flags = (InodeFlags)rec.Flags;
        string type = Describe.FileType(rec.Mode);
        bool regular = rec.FileType == FileTypes.Regular;

        if (flags.HasFlag(InodeFlags.Dax) && !(regular || rec.FileType == FileTypes.Directory))
            found.Add(new Violation(InodeFlags.Dax, $"dax flag on a {type}",
                $"it is a {type}; dax is allowed only on regular files and directories"));

        if (!flags.HasFlag(InodeFlags.DaxImmutable)) return found;
        if (!regular)
        {
            // Nothing else about a non-file matters: the flag cannot be on it at all.
            found.Add(new Violation(InodeFlags.DaxImmutable, $"dax_immutable on a {type}", $"it is a {type}, not a regular file"));
            return found;
        }
        if (!flags.HasFlag(InodeFlags.Dax))
            found.Add(new Violation(InodeFlags.DaxImmutable, "dax_immutable without dax", "the file does not have dax"));

        var sorted = extents.OrderBy(x => x.Rec.FileBlock).ThenBy(x => x.Slot).ToList();
        long eofBlock = FileMap.EofBlock(rec);

        // Holes below EOF: a sweep over the extents, whatever their state (unwritten is its own finding).
        long mapped = 0; // file blocks [0, mapped) are covered by some extent, without a gap
        long firstHole = -1, firstHoleEnd = 0, holes = 0;
        foreach (var (_, e) in sorted)
        {
            if (mapped >= eofBlock) break;
            if (e.FileBlock > mapped)
            {
                long end = Math.Min(e.FileBlock, eofBlock);
                if (holes++ == 0) (firstHole, firstHoleEnd) = (mapped, end);
            }
            mapped = Math.Max(mapped, e.FileEnd);
        }
        if (mapped < eofBlock && holes++ == 0) (firstHole, firstHoleEnd) = (mapped, eofBlock);
        if (holes > 0)
        {
            string hole = firstHoleEnd - firstHole == 1 ? $"file block {firstHole} is a hole" : $"file blocks {firstHole}..{firstHoleEnd - 1} are a hole";
            string more = holes > 1 ? $" (and {holes - 1} more hole{(holes == 2 ? "" : "s")} below EOF)" : "";
            found.Add(new Violation(InodeFlags.DaxImmutable, $"dax_immutable but {hole}{more}", hole + more));
        }

        // Unwritten extents anywhere, past EOF too (preallocated blocks can become visible only by a map change).
        var unwritten = sorted.Where(x => x.Rec.State == ExtentState.Unwritten).ToList();
        if (unwritten.Count > 0)
        {
            var (slot, e) = unwritten[0];
            string where = $"file block {e.FileBlock}";
            string detail = $"extent slot {slot}, {(e.BlockCount == 1 ? "1 block" : $"{e.BlockCount} blocks")}{(e.FileBlock >= eofBlock ? ", beyond EOF" : "")}";
            string more = unwritten.Count > 1 ? $"; and {unwritten.Count - 1} more unwritten extent{(unwritten.Count == 2 ? "" : "s")}" : "";
            found.Add(new Violation(InodeFlags.DaxImmutable, $"dax_immutable but has an unwritten extent at {where} ({detail}{more})",
                $"an unwritten extent at {where} ({detail}{more})"));
        }

        // Shared blocks anywhere in the map (a DAX_IMMUTABLE file's blocks are its own: flag rule 2).
        var sharing = new List<(long Slot, ExtentRecord Rec, long Start, long End)>();
        foreach (var (slot, e) in sorted)
            if (FirstSharedIn(shared, e.PhysBlock, e.PhysEnd) is { } part) sharing.Add((slot, e, part.Start, part.End));
        if (sharing.Count > 0)
        {
            var (slot, e, start, end) = sharing[0];
            string where = $"file block {e.FileBlock + (start - e.PhysBlock)}";
            string detail = $"extent slot {slot}, {Describe.Blocks(start, end - start)}";
            string more = sharing.Count > 1 ? $"; and {sharing.Count - 1} more extent{(sharing.Count == 2 ? "" : "s")} with shared blocks" : "";
            found.Add(new Violation(InodeFlags.DaxImmutable, $"dax_immutable but has shared blocks at {where} ({detail}{more})",
                $"shared blocks at {where} ({detail}{more})"));
        }
        return found;
    }

    /// <summary>The first part of [start, end) inside one of the <paramref name="shared"/> ranges (sorted, disjoint), or null.</summary>
    private static (long Start, long End)? FirstSharedIn(IReadOnlyList<(long Start, long End)> shared, long start, long end)
    {
        int lo = 0, hi = shared.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (shared[mid].End <= start) lo = mid + 1;
            else hi = mid;
        }
        if (lo == shared.Count || shared[lo].Start >= end) return null;
        return (Math.Max(start, shared[lo].Start), Math.Min(end, shared[lo].End));
    }

    /// <summary>
    /// What the repair makes of <paramref name="rec"/>: the flags that break a rule cleared, one
    /// change line per flag (nothing else about the inode or its data changes).
    /// </summary>
    public static InodeRecord Repair(InodeRecord rec, IReadOnlyList<(long Slot, ExtentRecord Rec)> extents, IReadOnlyList<(long Start, long End)> shared, Action<string> change)
    {
        var found = Find(rec, extents, shared);
        if (found.Count == 0) return rec;
        var flags = (InodeFlags)rec.Flags;
        var dax = found.Where(v => v.Flag == InodeFlags.Dax).ToList();
        if (dax.Count > 0)
        {
            flags &= ~InodeFlags.Dax;
            change($"dax flag cleared ({string.Join("; ", dax.Select(v => v.Cause))})");
        }
        var daxImmutable = found.Where(v => v.Flag == InodeFlags.DaxImmutable).ToList();
        if (daxImmutable.Count > 0)
        {
            flags &= ~InodeFlags.DaxImmutable;
            change($"dax_immutable flag cleared ({string.Join("; ", daxImmutable.Select(v => v.Cause))}); only the flag: no block of the file was moved, allocated or converted");
        }
        return rec with { Flags = (ulong)flags };
    }
}
