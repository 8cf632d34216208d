namespace PmemFs.Engine.Inodes;

/// <summary>
/// A file's forward map: non-overlapping extents sorted by file block. Gaps are holes.
/// Guarded by the owning inode's lock.
/// </summary>
public sealed class ExtentMap
{
    private readonly List<Extent> _extents = [];

    public int Count => _extents.Count;
    public IReadOnlyList<Extent> All => _extents;

    public long AllocatedBlocks { get; private set; }

    /// <summary>Index of the first extent ending after <paramref name="fileBlock"/>.</summary>
    public int FirstEndingAfter(long fileBlock)
    {
        int lo = 0, hi = _extents.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_extents[mid].FileEnd <= fileBlock) lo = mid + 1;
            else hi = mid;
        }
        return lo;
    }

    /// <summary>The extents overlapping [start, end), in order (a struct: foreach allocates nothing, as reads and writes need).</summary>
    public OverlapRange Overlapping(long start, long end) => new(_extents, FirstEndingAfter(start), end);

    /// <summary>The extents of a map from one index while they start before an end block.</summary>
    public readonly struct OverlapRange(List<Extent> extents, int first, long end) : IEnumerable<Extent>
    {
        public Enumerator GetEnumerator() => new(extents, first, end);
        IEnumerator<Extent> IEnumerable<Extent>.GetEnumerator() => GetEnumerator();
        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

        public struct Enumerator(List<Extent> extents, int first, long end) : IEnumerator<Extent>
        {
            private int _index = first - 1;

            public readonly Extent Current => extents[_index];
            readonly object System.Collections.IEnumerator.Current => Current;

            public bool MoveNext() => ++_index < extents.Count && extents[_index].FileBlock < end;
            public void Reset() => _index = first - 1;
            public readonly void Dispose() { }
        }
    }

    /// <summary>The extent containing <paramref name="fileBlock"/>, or null for a hole.</summary>
    public Extent? Find(long fileBlock)
    {
        int i = FirstEndingAfter(fileBlock);
        return i < _extents.Count && _extents[i].FileBlock <= fileBlock ? _extents[i] : null;
    }

    /// <summary>The last extent (highest file block), or null.</summary>
    public Extent? Last => _extents.Count == 0 ? null : _extents[^1];

    /// <summary>Replaces extents [index, index + removeCount) with <paramref name="replacement"/>.</summary>
    public void Replace(int index, int removeCount, IReadOnlyList<Extent> replacement)
    {
        for (int i = index; i < index + removeCount; i++) AllocatedBlocks -= _extents[i].Count;
        _extents.RemoveRange(index, removeCount);
        _extents.InsertRange(index, replacement);
        foreach (var e in replacement) AllocatedBlocks += e.Count;
    }

    /// <summary>Adds an extent at mount (any order; call <see cref="SortAfterLoad"/> once done).</summary>
    public void AddLoaded(Extent e)
    {
        _extents.Add(e);
        AllocatedBlocks += e.Count;
    }

    /// <summary>Sorts loaded extents; returns a problem if two overlap.</summary>
    public string? SortAfterLoad()
    {
        _extents.Sort((a, b) => a.FileBlock.CompareTo(b.FileBlock));
        for (int i = 1; i < _extents.Count; i++)
            if (_extents[i].FileBlock < _extents[i - 1].FileEnd)
                return $"extents at file blocks {_extents[i - 1].FileBlock} and {_extents[i].FileBlock} overlap";
        return null;
    }
}
