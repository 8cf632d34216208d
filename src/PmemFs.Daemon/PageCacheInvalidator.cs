using System.Collections.Concurrent;

namespace PmemFs.Daemon;

/// <summary>
/// Drops the kernel's cached pages of ranges that lease holders stored into directly
/// (docs/direct.md, "Coherence with the mount"), on a thread of its own.
/// </summary>
/// <remarks>
/// fuse_lowlevel_notify_inval_inode waits for every locked page of the range, and a page is
/// locked while the kernel waits for this daemon to answer a read of it: called from the FUSE
/// loop (one thread by default) it could wait for itself forever. So the loop only queues; a
/// request whose reply must follow the invalidation (prepare-write, a lease release) is replied
/// from here, after it (libfuse replies are thread-safe).
/// </remarks>
public sealed class PageCacheInvalidator : IDisposable
{
    private readonly record struct Work(ulong Ino, long Offset, long Length, Action? Then);

    private readonly BlockingCollection<Work> _queue = new();
    private readonly Func<ulong, long, long, int> _invalidate;
    private readonly DaemonLog? _log;
    private readonly Thread _thread;
    private long _done;

    /// <param name="invalidate">fuse_lowlevel_notify_inval_inode(ino, offset, length): offset 0 and length 0 drop all the file's pages; every call drops its attributes.</param>
    public PageCacheInvalidator(Func<ulong, long, long, int> invalidate, DaemonLog? log)
    {
        _invalidate = invalidate;
        _log = log;
        _thread = new Thread(Run) { IsBackground = true, Name = "pmemfs-invalidate" };
        _thread.Start();
    }

    /// <summary>Invalidations carried out so far (tests).</summary>
    public long Done => Interlocked.Read(ref _done);

    /// <summary>
    /// Queues the invalidation of [<paramref name="offset"/>, +<paramref name="length"/>) of
    /// <paramref name="ino"/> (length 0: to the end), then runs <paramref name="then"/>, on the
    /// invalidation thread. After <see cref="Dispose"/>, runs <paramref name="then"/> at once.
    /// </summary>
    public void Invalidate(ulong ino, long offset, long length, Action? then = null)
    {
        try { _queue.Add(new Work(ino, offset, length, then)); }
        catch (Exception e) when (e is InvalidOperationException or ObjectDisposedException) { then?.Invoke(); } // the session is ending
    }

    /// <summary>Runs <paramref name="then"/> on the invalidation thread once everything queued before it is done.</summary>
    public void AfterQueued(Action then) => Invalidate(0, 0, 0, then);

    private void Run()
    {
        foreach (var w in _queue.GetConsumingEnumerable())
        {
            if (w.Ino == 0) { Then(w); continue; } // a marker of AfterQueued: no inode is 0
            try
            {
                int rc = _invalidate(w.Ino, w.Offset, w.Length);
                // -ENOENT: the kernel has no cached inode (nothing to drop); anything else is worth a line.
                if (rc < 0 && rc != -2) _log?.Warning($"inode {w.Ino}: dropping cached pages [{w.Offset}, +{w.Length}) failed: errno {-rc}");
                Interlocked.Increment(ref _done);
            }
            catch (Exception e) { _log?.Error($"inode {w.Ino}: page cache invalidation: {e.Message}"); }
            Then(w);
        }
    }

    private void Then(in Work w)
    {
        try { w.Then?.Invoke(); }
        catch (Exception e) { _log?.Error($"inode {w.Ino}: reply after invalidation: {e.Message}"); }
    }

    /// <summary>Carries out what is queued (replies included), then stops the thread.</summary>
    public void Dispose()
    {
        _queue.CompleteAdding();
        if (!_thread.Join(TimeSpan.FromSeconds(10))) _log?.Warning("page cache invalidation thread did not finish in 10 s");
        _queue.Dispose();
    }
}
