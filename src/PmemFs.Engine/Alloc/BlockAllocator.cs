namespace PmemFs.Engine.Alloc;

/// <summary>A run of physical blocks.</summary>
public readonly record struct BlockRun(long Start, long Count)
{
    public long End => Start + Count;
}

/// <summary>
/// In-memory free-space index over the data area, built from the on-media bitmap at mount.
/// Free runs are indexed by start (to merge neighbours) and by size (best fit), so an
/// allocation is O(log n) and prefers one contiguous run.
/// </summary>
/// <remarks>
/// The allocator only changes memory. A caller that allocates logs SetBits in its transaction
/// and gives the blocks back (<see cref="Free"/>) if the operation fails before commit; a
/// caller that frees logs ClearBits and calls <see cref="Free"/> only after the commit is
/// durable, so a freed block can never be reused while a crash could still resurrect its
/// previous owner.
/// </remarks>
public sealed class BlockAllocator
{
    private readonly Lock _lock = new();
    private readonly SortedSet<BlockRun> _byStart = new(Comparer<BlockRun>.Create((a, b) => a.Start.CompareTo(b.Start)));
    private readonly SortedSet<BlockRun> _bySize = new(Comparer<BlockRun>.Create((a, b) =>
        a.Count != b.Count ? a.Count.CompareTo(b.Count) : a.Start.CompareTo(b.Start)));
    private long _free;

    public long FreeBlocks => Volatile.Read(ref _free);

    /// <summary>Adds a free run found at mount (runs must not overlap).</summary>
    public void AddFree(long start, long count) => Free(start, count);

    /// <summary>
    /// Allocates <paramref name="count"/> blocks, as few runs as possible. Tries, in order: the
    /// run continuing <paramref name="hint"/> (appends stay contiguous), a 2 MiB-aligned start
    /// when <paramref name="alignment"/> asks for it, the smallest run that fits, then the
    /// largest runs. Returns null (nothing taken) when fewer than count blocks are free.
    /// </summary>
    public List<BlockRun>? Allocate(long count, long hint = -1, long alignment = 1)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        lock (_lock)
        {
            if (_free < count) return null;
            var result = new List<BlockRun>(1);
            long need = count;
            if (hint > 0 && TryTakeAt(hint, need) is { } atHint)
            {
                result.Add(atHint);
                need -= atHint.Count;
            }
            while (need > 0)
            {
                var run = TakeBest(need, alignment);
                result.Add(run);
                need -= run.Count;
            }
            return result;
        }
    }

    /// <summary>Returns a run to the free index, merging with neighbours.</summary>
    public void Free(long start, long count)
    {
        if (count <= 0) return;
        lock (_lock)
        {
            var run = new BlockRun(start, count);
            var before = _byStart.GetViewBetween(new BlockRun(long.MinValue, 0), new BlockRun(start, 0)).Max;
            if (before.Count > 0 && before.End > start)
                throw new InvalidOperationException($"double free: blocks [{start}, +{count}) overlap free run [{before.Start}, +{before.Count})");
            if (before.Count > 0 && before.End == start)
            {
                Remove(before);
                run = new BlockRun(before.Start, before.Count + run.Count);
            }
            var after = _byStart.GetViewBetween(new BlockRun(start, 0), new BlockRun(long.MaxValue, 0)).Min;
            if (after.Count > 0 && after.Start < start + count)
                throw new InvalidOperationException($"double free: blocks [{start}, +{count}) overlap free run [{after.Start}, +{after.Count})");
            if (after.Count > 0 && after.Start == start + count)
            {
                Remove(after);
                run = new BlockRun(run.Start, run.Count + after.Count);
            }
            _byStart.Add(run);
            _bySize.Add(run);
            _free += count;
        }
    }

    /// <summary>Whether any block of [start, +count) is in the free index.</summary>
    public bool OverlapsFree(long start, long count)
    {
        lock (_lock)
        {
            var before = _byStart.GetViewBetween(new BlockRun(long.MinValue, 0), new BlockRun(start, 0)).Max;
            if (before.Count > 0 && before.End > start) return true;
            var after = _byStart.GetViewBetween(new BlockRun(start, 0), new BlockRun(long.MaxValue, 0)).Min;
            return after.Count > 0 && after.Start < start + count;
        }
    }

    /// <summary>Removes a specific range from the free index (it must be free), e.g. poisoned blocks.</summary>
    public bool Withhold(long start, long count)
    {
        lock (_lock)
        {
            var r = TryTakeAt(start, count);
            if (r is null) return false;
            if (r.Value.Count < count)
            {
                Free(r.Value.Start, r.Value.Count);
                return false;
            }
            return true;
        }
    }

    public IReadOnlyList<BlockRun> Snapshot()
    {
        lock (_lock) return [.. _byStart];
    }

    private BlockRun? TryTakeAt(long start, long max)
    {
        var run = _byStart.GetViewBetween(new BlockRun(long.MinValue, 0), new BlockRun(start, 0)).Max;
        if (run.Count == 0 || run.End <= start) return null;
        long n = Math.Min(max, run.End - start);
        Split(run, start, n);
        return new BlockRun(start, n);
    }

    private BlockRun TakeBest(long need, long alignment)
    {
        var fits = _bySize.GetViewBetween(new BlockRun(long.MinValue, need), new BlockRun(long.MaxValue, long.MaxValue));
        if (alignment > 1)
        {
            int looked = 0;
            foreach (var run in fits)
            {
                long aligned = (run.Start + alignment - 1) / alignment * alignment;
                if (aligned + need <= run.End)
                {
                    Split(run, aligned, need);
                    return new BlockRun(aligned, need);
                }
                if (++looked == 64) break;
            }
        }
        if (fits.Count > 0)
        {
            var best = fits.Min;
            Split(best, best.Start, need);
            return new BlockRun(best.Start, need);
        }
        var largest = _bySize.Max;
        Split(largest, largest.Start, largest.Count);
        return largest;
    }

    /// <summary>Takes [start, +n) out of free run <paramref name="run"/>, keeping the leftovers.</summary>
    private void Split(BlockRun run, long start, long n)
    {
        Remove(run);
        if (start > run.Start) Insert(new BlockRun(run.Start, start - run.Start));
        if (start + n < run.End) Insert(new BlockRun(start + n, run.End - start - n));
        _free -= n;
    }

    private void Insert(BlockRun r)
    {
        _byStart.Add(r);
        _bySize.Add(r);
    }

    private void Remove(BlockRun r)
    {
        _byStart.Remove(r);
        _bySize.Remove(r);
    }
}
