using System.Runtime.InteropServices;
using static PmemFs.Daemon.Native.LibC;

namespace PmemFs.Daemon;

/// <summary>
/// Watches the processes that hold layout leases and reports each one's death at once, kill -9
/// included: one pidfd per holder (pidfd_open, Linux 5.3+), all polled by one thread. A pidfd
/// names the process itself, not its number, so a reused pid is never mistaken for the holder.
/// </summary>
/// <remarks>
/// Closing a descriptor already ends the leases of its handle (FUSE release). This covers the
/// rest: a handle whose open file lives on in a child that inherited it (docs/leases.md: the
/// holder is the process), and a release the kernel sends late.
/// </remarks>
public sealed class HolderWatch : IDisposable
{
    private readonly Action<int> _died;
    private readonly DaemonLog _log;
    private readonly Lock _lock = new();
    private readonly Dictionary<int, int> _pidfds = []; // pid -> pidfd
    private readonly int _wakeRead, _wakeWrite;
    private readonly Thread _thread;
    private volatile bool _stop;

    /// <param name="died">Called on the watch thread with the pid of each holder that has exited.</param>
    public HolderWatch(Action<int> died, DaemonLog log)
    {
        _died = died;
        _log = log;
        Span<int> fds = stackalloc int[2];
        if (pipe2(ref MemoryMarshal.GetReference(fds), O_CLOEXEC | O_NONBLOCK) != 0)
            throw new IOException($"pipe2 failed: errno {Marshal.GetLastPInvokeError()}");
        (_wakeRead, _wakeWrite) = (fds[0], fds[1]);
        _thread = new Thread(Run) { IsBackground = true, Name = "pmemfs lease holders" };
        _thread.Start();
    }

    /// <summary>How many processes are watched (tests, logs).</summary>
    public int Count
    {
        get { lock (_lock) return _pidfds.Count; }
    }

    /// <summary>
    /// Watches <paramref name="pid"/> (a thread group id) until it exits. False when it has
    /// already exited (the caller ends its leases itself) or cannot be watched.
    /// </summary>
    public bool Watch(int pid)
    {
        lock (_lock)
        {
            if (_pidfds.ContainsKey(pid)) return true;
            int fd = pidfd_open(pid, 0);
            if (fd < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno != ESRCH) _log.Warning($"pidfd_open({pid}) failed with errno {errno}: its leases end only with their handles");
                return errno != ESRCH;
            }
            _pidfds.Add(pid, fd);
        }
        Wake();
        return true;
    }

    private unsafe void Wake()
    {
        byte b = 1;
        _ = write(_wakeWrite, &b, 1);
    }

    private unsafe void Run()
    {
        var polls = new List<PollFd>();
        var pids = new List<int>();
        byte* drain = stackalloc byte[64];
        while (!_stop)
        {
            polls.Clear();
            pids.Clear();
            polls.Add(new PollFd { Fd = _wakeRead, Events = POLLIN });
            lock (_lock)
            {
                foreach (var (pid, fd) in _pidfds)
                {
                    polls.Add(new PollFd { Fd = fd, Events = POLLIN });
                    pids.Add(pid);
                }
            }
            var array = polls.ToArray();
            int n;
            fixed (PollFd* p = array) n = poll(p, (nuint)array.Length, -1);
            if (n < 0) continue; // EINTR
            if ((array[0].Revents & POLLIN) != 0) while (read(_wakeRead, drain, 64) > 0) { }
            for (int i = 1; i < array.Length; i++)
            {
                if (array[i].Revents == 0) continue;
                int pid = pids[i - 1];
                lock (_lock)
                {
                    _pidfds.Remove(pid);
                    close(array[i].Fd);
                }
                try { _died(pid); }
                catch (Exception e) { _log.Error($"ending the leases of process {pid}: {e.GetType().Name}: {e.Message}"); }
            }
        }
    }

    public void Dispose()
    {
        _stop = true;
        Wake();
        _thread.Join(TimeSpan.FromSeconds(5));
        lock (_lock)
        {
            foreach (var fd in _pidfds.Values) close(fd);
            _pidfds.Clear();
        }
        close(_wakeRead);
        close(_wakeWrite);
    }

    /// <summary>The thread group (process) of thread <paramref name="tid"/>, from /proc/TID/status; 0 if it is gone.</summary>
    public static int ProcessOf(int tid)
    {
        if (tid <= 0) return 0;
        try
        {
            foreach (var line in File.ReadLines($"/proc/{tid}/status"))
                if (line.StartsWith("Tgid:", StringComparison.Ordinal))
                    return int.TryParse(line.AsSpan(5).Trim(), System.Globalization.CultureInfo.InvariantCulture, out int tgid) ? tgid : 0;
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return 0;
    }
}
