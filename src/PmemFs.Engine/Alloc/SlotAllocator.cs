namespace PmemFs.Engine.Alloc;

/// <summary>
/// Which slots of a metadata table (inodes, dirents, extents, rmap) are in use. A bitmap in
/// memory with a cursor at the lowest possibly-free slot, so tables fill from the start.
/// Like the block allocator: freed slots come back only after the freeing commit.
/// </summary>
public sealed class SlotAllocator
{
    private readonly Lock _lock = new();
    private readonly ulong[] _used;
    private long _cursor;
    private long _inUse;

    public SlotAllocator(string name, long capacity)
    {
        Name = name;
        Capacity = capacity;
        _used = new ulong[(capacity + 63) / 64];
    }

    public string Name { get; }
    public long Capacity { get; }
    public long InUse => Volatile.Read(ref _inUse);
    public long Free => Capacity - InUse;

    public bool IsUsed(long slot)
    {
        lock (_lock) return (_used[slot / 64] & (1UL << (int)(slot % 64))) != 0;
    }

    /// <summary>Marks a slot found in use at mount.</summary>
    public void MarkUsed(long slot)
    {
        lock (_lock)
        {
            ref ulong w = ref _used[slot / 64];
            ulong bit = 1UL << (int)(slot % 64);
            if ((w & bit) != 0) throw new InvalidOperationException($"{Name} slot {slot} marked used twice");
            w |= bit;
            _inUse++;
        }
    }

    /// <summary>Takes the lowest free slot, or -1 when the table is full.</summary>
    public long Allocate()
    {
        lock (_lock)
        {
            for (long i = _cursor / 64; i < _used.Length; i++)
            {
                ulong w = _used[i];
                if (w == ulong.MaxValue) continue;
                int bit = System.Numerics.BitOperations.TrailingZeroCount(~w);
                long slot = i * 64 + bit;
                if (slot >= Capacity) break;
                _used[i] = w | (1UL << bit);
                _cursor = slot;
                _inUse++;
                return slot;
            }
            _cursor = Capacity;
            return -1;
        }
    }

    public void Release(long slot)
    {
        lock (_lock)
        {
            ref ulong w = ref _used[slot / 64];
            ulong bit = 1UL << (int)(slot % 64);
            if ((w & bit) == 0) throw new InvalidOperationException($"{Name} slot {slot} released twice");
            w &= ~bit;
            _inUse--;
            if (slot < _cursor) _cursor = slot;
        }
    }
}
