using PmemFs.Direct.Native;

namespace PmemFs.Direct;

/// <summary>
/// Learns of recalls for one <see cref="DirectFile"/>: a thread that polls the file's descriptor
/// for POLLPRI (docs/leases.md, "What a holder sees") and an eventfd that stops it.
/// </summary>
/// <remarks>
/// POLLPRI stays up while a lease is recalled, so once a recall is known the thread stops asking
/// for it and checks every 20 ms until the lease is given back, or cut off at its local deadline.
/// Otherwise it also wakes every second: a daemon that died wakes no poller, and its leases
/// protect nothing any more. A file without leases is not polled (a poll of a FUSE file is a
/// request to the daemon).
/// </remarks>
internal sealed unsafe class RecallWatcher : IDisposable
{
    private const int IdleCheckMs = 1000, RecallCheckMs = 20, NoLeaseCheckMs = 100;

    private readonly DirectFile _file;
    private readonly int _stop;
    private readonly Thread _thread;

    public RecallWatcher(DirectFile file)
    {
        _file = file;
        _stop = LibC.eventfd(0, LibC.EFD_CLOEXEC);
        if (_stop < 0) throw DirectAccessException.FromErrno("eventfd for the recall watcher", LibC.Errno);
        _thread = new Thread(Run) { IsBackground = true, Name = "pmemfs-recall-watch" };
        _thread.Start();
    }

    private void Run()
    {
        bool pending = false;
        var fds = stackalloc LibC.PollFd[2];
        for (;;)
        {
            // Without leases there is nothing to hear about: only the stop, and a look for new leases every 100 ms.
            bool any = _file.Leases.Count > 0;
            fds[0] = new LibC.PollFd { Fd = any ? _file.Fd : -1, Events = pending ? (short)0 : LibC.POLLPRI };
            fds[1] = new LibC.PollFd { Fd = _stop, Events = LibC.POLLIN };
            int rc = LibC.poll(fds, 2, pending ? RecallCheckMs : any ? IdleCheckMs : NoLeaseCheckMs);
            if (fds[1].Revents != 0) return;
            // A dead mount reports POLLERR at once, every time: never spin on it.
            if ((rc < 0 && LibC.Errno != LibC.EINTR) || (fds[0].Revents & (LibC.POLLERR | LibC.POLLHUP | LibC.POLLNVAL)) != 0)
                Thread.Sleep(RecallCheckMs);
            if (!any) continue;
            try { pending = _file.CheckLeases(); }
            catch (Exception) { pending = false; } // a holder's event handler threw: keep watching
        }
    }

    public void Dispose()
    {
        ulong one = 1;
        LibC.write(_stop, &one, 8);
        // Disposed from a holder's own event handler: the thread ends when the handler returns.
        if (Thread.CurrentThread != _thread) _thread.Join();
        LibC.close(_stop);
    }
}
