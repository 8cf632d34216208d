using PmemFs.Format;

namespace PmemFs.Engine.Inodes;

/// <summary>A directory entry in memory.</summary>
public sealed class DirEntry(byte[] name, ulong child, byte type, long slot)
{
    public byte[] Name { get; } = name;
    public ulong Child { get; set; } = child;
    public byte Type { get; set; } = type;
    /// <summary>Dirent table slot; also the readdir cookie (slot + 3).</summary>
    public long Slot { get; } = slot;
}

/// <summary>
/// A directory's entries: hashed by name for O(1) lookup at any size, and ordered by slot
/// so readdir can resume from a cookie in O(log n). Guarded by the directory inode's lock.
/// </summary>
public sealed class DirectoryIndex
{
    private static readonly IComparer<DirEntry> BySlot = Comparer<DirEntry>.Create((a, b) => a.Slot.CompareTo(b.Slot));
    private readonly Dictionary<byte[], DirEntry> _byName = new(ByteArrayComparer.Instance);
    private readonly SortedSet<DirEntry> _bySlot = new(BySlot);

    public int Count => _byName.Count;
    public int SubdirectoryCount { get; private set; }

    public DirEntry? Find(ReadOnlySpan<byte> name) =>
        _byName.GetAlternateLookup<ReadOnlySpan<byte>>().TryGetValue(name, out var e) ? e : null;

    public void Add(DirEntry e)
    {
        if (!_byName.TryAdd(e.Name, e)) throw new InvalidOperationException("duplicate directory entry");
        _bySlot.Add(e);
        if (e.Type == FileTypes.ToDirentType(FileTypes.Directory)) SubdirectoryCount++;
    }

    public void Remove(DirEntry e)
    {
        _byName.Remove(e.Name);
        _bySlot.Remove(e);
        if (e.Type == FileTypes.ToDirentType(FileTypes.Directory)) SubdirectoryCount--;
    }

    /// <summary>Entries with slot >= <paramref name="fromSlot"/>, in slot order.</summary>
    public IEnumerable<DirEntry> From(long fromSlot)
    {
        if (_bySlot.Count == 0) return [];
        var max = _bySlot.Max!;
        if (fromSlot > max.Slot) return [];
        return _bySlot.GetViewBetween(new DirEntry([], 0, 0, fromSlot), max);
    }

    public IEnumerable<DirEntry> All => _bySlot;
}
