namespace PmemFs.Fuse.Kernel;

/// <summary>
/// FUSE_INTERRUPT bookkeeping: the uniques the kernel asked to interrupt, until their request is
/// answered. An interrupt may arrive before its request is read by another worker, so it is kept
/// rather than matched against the requests in flight. Interrupts are rare: a lock is enough, and
/// the common path checks one volatile count.
/// </summary>
internal static class Interrupts
{
    private static readonly HashSet<ulong> _uniques = [];
    private static volatile int _count;

    /// <summary>Stale entries (requests answered before their interrupt came) are dropped past this many.</summary>
    private const int Limit = 4096;

    public static bool Pending => _count != 0;

    public static void Add(ulong unique)
    {
        lock (_uniques)
        {
            if (_uniques.Count >= Limit) _uniques.Clear();
            _uniques.Add(unique);
            _count = _uniques.Count;
        }
    }

    public static bool Contains(ulong unique)
    {
        if (_count == 0) return false;
        lock (_uniques) return _uniques.Contains(unique);
    }

    public static void Forget(ulong unique)
    {
        lock (_uniques)
        {
            _uniques.Remove(unique);
            _count = _uniques.Count;
        }
    }
}
