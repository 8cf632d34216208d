namespace PmemFs.Media.Poison;

/// <summary>A poisoned (bad) range of the region, in bytes from its first byte.</summary>
public readonly record struct BadRange(long Offset, long Length)
{
    /// <summary>Bad-block lists are kept in 512-byte sectors, as the kernel's and libpmem2's are.</summary>
    public const long SectorSize = 512;

    public long End => Offset + Length;

    /// <summary>[offset, +length) widened to whole sectors.</summary>
    public static BadRange InSectors(long offset, long length)
    {
        long start = offset / SectorSize * SectorSize;
        long end = (offset + length + SectorSize - 1) / SectorSize * SectorSize;
        return new BadRange(start, end - start);
    }

    public bool Overlaps(long offset, long length) => offset < End && Offset < offset + length;

    public override string ToString() => $"[{Offset}, +{Length})";

    /// <summary>
    /// Sorts and merges <paramref name="ranges"/> (touching ranges join): the shape every list of
    /// bad ranges is kept in, so that lookups can stop at the first range past the one asked for.
    /// </summary>
    public static BadRange[] Normalize(IEnumerable<BadRange> ranges)
    {
        var sorted = ranges.Where(r => r.Length > 0).OrderBy(r => r.Offset).ToList();
        var merged = new List<BadRange>(sorted.Count);
        foreach (var r in sorted)
        {
            if (merged.Count > 0 && merged[^1].End >= r.Offset)
                merged[^1] = merged[^1] with { Length = Math.Max(merged[^1].End, r.End) - merged[^1].Offset };
            else merged.Add(r);
        }
        return [.. merged];
    }

    /// <summary><paramref name="ranges"/> (normalized) without [offset, +length).</summary>
    public static BadRange[] Subtract(IReadOnlyList<BadRange> ranges, long offset, long length)
    {
        long end = offset + length;
        var left = new List<BadRange>(ranges.Count + 1);
        foreach (var r in ranges)
        {
            if (!r.Overlaps(offset, length)) { left.Add(r); continue; }
            if (r.Offset < offset) left.Add(new BadRange(r.Offset, offset - r.Offset));
            if (r.End > end) left.Add(new BadRange(end, r.End - end));
        }
        return [.. left];
    }

    /// <summary>The first range of normalized <paramref name="ranges"/> overlapping [offset, +length), if any (binary search).</summary>
    public static BadRange? FirstOverlap(ReadOnlySpan<BadRange> ranges, long offset, long length)
    {
        int lo = 0, hi = ranges.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (ranges[mid].End <= offset) lo = mid + 1;
            else hi = mid;
        }
        return lo < ranges.Length && ranges[lo].Offset < offset + length ? ranges[lo] : null;
    }
}
