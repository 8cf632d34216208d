using PmemFs.Engine.Leases;

namespace PmemFs.Daemon.Operations;

/// <summary>
/// Coherence of the mount's page cache with direct stores (docs/direct.md): the kernel caches a
/// file's pages for readers through the mount, and a lease holder's stores go around it. The
/// daemon drops the cached pages of a range when a holder prepares it (prepare-write doubles as
/// "publish") and of the whole file when a write lease ends in any way (the engine's
/// <see cref="LeaseEnded"/>); an open without FOPEN_KEEP_CACHE drops them too.
/// </summary>
public sealed partial class PmemFsOperations
{
    /// <summary>Drops cached pages off the FUSE loop (set by the daemon; null in tests: nothing is cached there).</summary>
    public PageCacheInvalidator? Invalidator { get; set; }

    /// <summary>
    /// Queues dropping [<paramref name="offset"/>, +<paramref name="length"/>) of <paramref name="ino"/>
    /// (length 0: to the end) and its attributes, then runs <paramref name="then"/> (a reply that
    /// must not overtake the invalidation).
    /// </summary>
    private void DropCachedPages(ulong ino, long offset = 0, long length = 0, Action? then = null)
    {
        if (Invalidator is { } invalidator) invalidator.Invalidate(ino, offset, length, then);
        else then?.Invoke();
    }

    /// <summary>Runs <paramref name="then"/> after every invalidation queued so far (a reply that must not overtake them).</summary>
    private void AfterDroppedPages(Action then)
    {
        if (Invalidator is { } invalidator) invalidator.AfterQueued(then);
        else then();
    }

    /// <summary>From the engine, however a lease ended: a write lease's holder may have stored into the file directly.</summary>
    public void LeaseEnded(LeaseInfo lease)
    {
        if (lease.Mode == LeaseMode.Write) DropCachedPages(lease.Ino);
    }
}
