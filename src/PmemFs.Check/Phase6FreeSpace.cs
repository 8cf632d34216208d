using PmemFs.Format;

namespace PmemFs.Check;

/// <summary>
/// Phase 6: the free-space bitmap against the claims of phase 5. Every claimed block is set
/// ("in use by X but marked free": the allocator could hand it out again), and every set bit
/// in the data area is claimed ("leaked": space nobody can use). Reported as runs, capped. A
/// shared block (several data extents map it) is one claim: it is set once, and reported once.
/// </summary>
internal static class Phase6FreeSpace
{
    private const string InUseKind = "bitmap: in use but marked free";
    private const string LeakedKind = "bitmap: leaked";

    public static void Run(FsckContext ctx)
    {
        var g = ctx.Geometry;
        int limit = FsckContext.BitmapLinesPerKind;
        ctx.Report("free space", 0, 3);

        // Free runs over the whole region (sorted, disjoint), and the used count in the data area.
        var free = new List<(long Start, long End)>();
        long freeData = 0;
        FreeSpaceBitmap.ForEachRun(ctx.Media, g, set: false, (start, count) =>
        {
            free.Add((start, start + count));
            long s = Math.Max(start, g.DataStart), e = Math.Min(start + count, g.DataEnd);
            if (s < e) freeData += e - s;
        });
        ctx.FreeDataBlocks = freeData;
        ctx.UsedDataBlocks = g.DataBlocks - freeData;
        ctx.Report("free space", 1, 3);

        // 1. Claimed but free. A block several owners claim (shared data blocks, or an overlap phase 5
        // reported) is one claim for the bitmap: each block is looked at once, for its first claimant.
        var claims = ctx.Claims.OrderBy(c => c.Start).ToList();
        long looked = long.MinValue; // blocks before this were looked at for an earlier claim
        foreach (var c in claims)
        {
            long from = Math.Max(c.Start, looked);
            if (from >= c.End) continue;
            looked = c.End;
            // Free runs [i, j) meet [from, c.End).
            int j = FirstStartingAtOrAfter(free, c.End);
            for (int i = FirstEndingAfter(free, from); i < j; i++)
            {
                if (ctx.IsCapped(InUseKind))
                {
                    // Past the cap only the number matters: count, do not walk (claims may overlap a lot).
                    ctx.CountDropped(InUseKind, j - i);
                    break;
                }
                long s = Math.Max(free[i].Start, from), e = Math.Min(free[i].End, c.End);
                ctx.Problem("bitmap", $"{Describe.Blocks(s, e - s)} in use by {Describe.Owner(c.Kind, c.Owner)} but marked free",
                    InUseKind, limit, "runs in use but marked free");
            }
        }
        ctx.Report("free space", 2, 3);

        // 2. Set in the data area but claimed by nobody: set runs minus the union of the claims.
        var union = new List<(long Start, long End)>();
        foreach (var c in claims)
        {
            if (union.Count > 0 && c.Start <= union[^1].End) union[^1] = (union[^1].Start, Math.Max(union[^1].End, c.End));
            else union.Add((c.Start, c.End));
        }
        int u = 0;
        FreeSpaceBitmap.ForEachRun(ctx.Media, g, set: true, (start, count) =>
        {
            long s = Math.Max(start, g.DataStart), e = Math.Min(start + count, g.DataEnd);
            while (s < e)
            {
                while (u < union.Count && union[u].End <= s) u++;
                long next = u < union.Count ? Math.Min(union[u].Start, e) : e;
                if (next > s)
                {
                    ctx.Problem("bitmap", $"{Describe.Blocks(s, next - s)} marked in use but owned by nobody (leaked)",
                        LeakedKind, limit, "leaked runs");
                    s = next;
                }
                else s = Math.Min(union[u].End, e);
            }
        });
        ctx.Report("free space", 3, 3);
        ctx.Verbose($"free space: {ctx.UsedDataBlocks} data blocks in use, {ctx.FreeDataBlocks} free");
    }

    /// <summary>Index of the first run starting at or after <paramref name="block"/>.</summary>
    private static int FirstStartingAtOrAfter(List<(long Start, long End)> runs, long block)
    {
        int lo = 0, hi = runs.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (runs[mid].Start < block) lo = mid + 1;
            else hi = mid;
        }
        return lo;
    }

    /// <summary>Index of the first run ending after <paramref name="block"/>.</summary>
    private static int FirstEndingAfter(List<(long Start, long End)> runs, long block)
    {
        int lo = 0, hi = runs.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (runs[mid].End <= block) lo = mid + 1;
            else hi = mid;
        }
        return lo;
    }
}
