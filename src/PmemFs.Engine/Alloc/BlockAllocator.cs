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
    private readonly RunSet _bad = new();          // poisoned: never handed out
    private readonly RunSet _withheldFree = new(); // poisoned and free: counted out of FreeBlocks

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

    /// <summary>Returns a run to the free index, merging with neighbours (withheld blocks stay out of it).</summary>
    public void Free(long start, long count)
    {
        if (count <= 0) return;
        lock (_lock)
        {
            if (_bad.IsEmpty)
            {
                FreeUnchecked(start, count);
                return;
            }
            long at = start;
            foreach (var r in _bad.Overlapping(start, count))
            {
                long s = Math.Max(r.Start, start), e = Math.Min(r.End, start + count);
                if (s > at) FreeUnchecked(at, s - at);
                _withheldFree.Add(s, e - s);
                at = e;
            }
            if (at < start + count) FreeUnchecked(at, start + count - at);
        }
    }

    private void FreeUnchecked(long start, long count)
    {
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
            if (_withheldFree.Overlapping(start, count).Any()) return true;
            var before = _byStart.GetViewBetween(new BlockRun(long.MinValue, 0), new BlockRun(start, 0)).Max;
            if (before.Count > 0 && before.End > start) return true;
            var after = _byStart.GetViewBetween(new BlockRun(start, 0), new BlockRun(long.MaxValue, 0)).Min;
            return after.Count > 0 && after.Start < start + count;
        }
    }

    /// <summary>Takes whatever of [start, +count) is free out of the free index (blocks found in use at mount that the bitmap calls free).</summary>
    public void TakeOut(long start, long count)
    {
        lock (_lock)
        {
            for (long at = start; at < start + count;)
            {
                var before = _byStart.GetViewBetween(new BlockRun(long.MinValue, 0), new BlockRun(at, 0)).Max;
                var after = _byStart.GetViewBetween(new BlockRun(at, 0), new BlockRun(long.MaxValue, 0)).Min;
                BlockRun run = before.Count > 0 && before.End > at ? before : after;
                if (run.Count == 0 || run.Start >= start + count) break;
                long s = Math.Max(run.Start, at), n = Math.Min(run.End, start + count) - s;
                Split(run, s, n);
                at = s + n;
            }
        }
    }

    /// <summary>
    /// Never hands out blocks [start, +count) again until <see cref="Release"/> (poisoned blocks):
    /// the free ones leave the free index now, the others when they are freed.
    /// </summary>
    public void Withhold(long start, long count)
    {
        if (count <= 0) return;
        lock (_lock)
        {
            _bad.Add(start, count);
            // Take every free block of the range out of the index, run by run.
            for (long at = start; at < start + count;)
            {
                var before = _byStart.GetViewBetween(new BlockRun(long.MinValue, 0), new BlockRun(at, 0)).Max;
                var after = _byStart.GetViewBetween(new BlockRun(at, 0), new BlockRun(long.MaxValue, 0)).Min;
                BlockRun run = before.Count > 0 && before.End > at ? before : after;
                if (run.Count == 0 || run.Start >= start + count) break;
                long s = Math.Max(run.Start, at), n = Math.Min(run.End, start + count) - s;
                Split(run, s, n);
                _withheldFree.Add(s, n);
                at = s + n;
            }
        }
    }

    /// <summary>Lets blocks [start, +count) be allocated again (their poison was cleared); the free ones return to the index.</summary>
    public void Release(long start, long count)
    {
        if (count <= 0) return;
        lock (_lock)
        {
            _bad.Remove(start, count);
            foreach (var r in _withheldFree.Overlapping(start, count).ToList())
            {
                long s = Math.Max(r.Start, start), n = Math.Min(r.End, start + count) - s;
                _withheldFree.Remove(s, n);
                FreeUnchecked(s, n);
            }
        }
    }

    /// <summary>Free blocks kept out of the index because they are poisoned.</summary>
    public long WithheldBlocks
    {
        get { lock (_lock) return _withheldFree.Total; }
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
