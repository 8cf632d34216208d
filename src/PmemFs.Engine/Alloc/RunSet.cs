namespace PmemFs.Engine.Alloc;

/// <summary>A set of blocks kept as disjoint, merged runs (not thread-safe: the owner locks).</summary>
internal sealed class RunSet
{
    private readonly SortedDictionary<long, long> _runs = new(); // start -> count

    public bool IsEmpty => _runs.Count == 0;

    public long Total { get; private set; }

    public void Add(long start, long count)
    {
        long end = start + count;
        foreach (var r in Overlapping(start - 1, count + 2).ToList()) // touching runs merge too
        {
            start = Math.Min(start, r.Start);
            end = Math.Max(end, r.End);
            _runs.Remove(r.Start);
            Total -= r.Count;
        }
        _runs[start] = end - start;
        Total += end - start;
    }

    public void Remove(long start, long count)
    {
        long end = start + count;
        foreach (var r in Overlapping(start, count).ToList())
        {
            _runs.Remove(r.Start);
            Total -= r.Count;
            if (r.Start < start) { _runs[r.Start] = start - r.Start; Total += start - r.Start; }
            if (r.End > end) { _runs[end] = r.End - end; Total += r.End - end; }
        }
    }

    /// <summary>The runs overlapping [start, +count), in order (a linear walk: the sets are small).</summary>
    public IEnumerable<BlockRun> Overlapping(long start, long count)
    {
        foreach (var (s, n) in _runs)
        {
            if (s >= start + count) yield break;
            if (s + n > start) yield return new BlockRun(s, n);
        }
    }
}
