using PmemFs.Media.Poison;

namespace PmemFs.Engine.Poison;

/// <summary>
/// The bad ranges the file system knows of, in region bytes, sorted and merged. Readers take a
/// snapshot without locking (every read and write asks, and almost always finds it empty);
/// changes copy the array.
/// </summary>
internal sealed class PoisonMap
{
    private readonly Lock _gate = new();
    private volatile BadRange[] _ranges = [];

    public bool IsEmpty => _ranges.Length == 0;

    public BadRange[] All => _ranges;

    public BadRange? FirstOverlap(long offset, long length)
    {
        var r = _ranges;
        return r.Length == 0 ? null : BadRange.FirstOverlap(r, offset, length);
    }

    /// <summary>Adds <paramref name="range"/>; returns the parts that were not known before.</summary>
    public BadRange[] Add(BadRange range)
    {
        lock (_gate)
        {
            var known = _ranges;
            var fresh = new List<BadRange> { range };
            foreach (var k in known)
            {
                if (!k.Overlaps(range.Offset, range.Length)) continue;
                fresh = [.. BadRange.Subtract(fresh, k.Offset, k.Length)];
            }
            if (fresh.Count > 0) _ranges = BadRange.Normalize([.. known, range]);
            return [.. fresh];
        }
    }

    /// <summary>Forgets [offset, +length) (cleared).</summary>
    public void Remove(long offset, long length)
    {
        lock (_gate) _ranges = BadRange.Subtract(_ranges, offset, length);
    }
}
