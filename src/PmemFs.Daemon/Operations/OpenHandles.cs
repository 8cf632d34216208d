using System.Collections.Concurrent;
using PmemFs.Fuse;

namespace PmemFs.Daemon.Operations;

/// <summary>
/// The mount's open file handles (FUSE's fh): the id the daemon hands the kernel at open, which
/// the kernel passes back with every request on that open file (ioctl, poll, setattr through a
/// descriptor, fallocate, release). Leases belong to a handle (docs/leases.md), so the handle
/// remembers how it was opened (a write lease needs it open for writing) and the kernel's poll
/// waiter to wake when one of its leases is recalled.
/// </summary>
internal sealed class OpenHandles
{
    private readonly ConcurrentDictionary<ulong, OpenHandle> _byId = new();
    private long _lastId;

    /// <summary>A new handle: nonzero, never reused within the mount.</summary>
    public OpenHandle Add(ulong ino, int openFlags)
    {
        int access = openFlags & 3; // O_RDONLY 0, O_WRONLY 1, O_RDWR 2
        var h = new OpenHandle((ulong)Interlocked.Increment(ref _lastId), ino, canRead: access != 1, canWrite: access is 1 or 2)
        {
            Append = (openFlags & 0x400) != 0, // O_APPEND
        };
        _byId[h.Id] = h;
        return h;
    }

    public OpenHandle? Get(ulong id) => id != 0 && _byId.TryGetValue(id, out var h) ? h : null;

    /// <summary>The handle was released: forget it and let go of its poll waiter.</summary>
    public void Remove(ulong id)
    {
        if (_byId.TryRemove(id, out var h)) h.Close();
    }
}

/// <summary>One open file handle (see <see cref="OpenHandles"/>).</summary>
internal sealed class OpenHandle(ulong id, ulong ino, bool canRead, bool canWrite)
{
    private readonly Lock _lock = new();
    private FusePollHandle _poller;
    private readonly HashSet<long> _revoked = [];
    private bool _closed;

    public ulong Id { get; } = id;
    public ulong Ino { get; } = ino;
    public bool CanRead { get; } = canRead;
    public bool CanWrite { get; } = canWrite;

    /// <summary>Opened with O_APPEND: not a clone destination (as FICLONERANGE answers EBADF).</summary>
    public bool Append { get; init; }

    /// <summary>
    /// Keeps the kernel's newest poll waiter (an older one is destroyed: the kernel waits on the
    /// newest only). Called from FUSE_POLL.
    /// </summary>
    public void SetPoller(FusePollHandle ph)
    {
        if (ph.IsNone) return;
        FusePollHandle old;
        lock (_lock)
        {
            if (_closed) { ph.Destroy(); return; }
            old = _poller;
            _poller = ph;
        }
        old.Destroy();
    }

    /// <summary>Wakes the poller, if the kernel registered one (non-blocking: a write to /dev/fuse).</summary>
    public void Wake()
    {
        FusePollHandle ph;
        lock (_lock)
        {
            ph = _poller;
            _poller = default;
        }
        if (ph.IsNone) return;
        ph.Notify();
        ph.Destroy();
    }

    /// <summary>A lease of this handle was revoked: LEASE_STATUS reports it (once) and poll shows POLLPRI until then.</summary>
    public void Revoked(long leaseId)
    {
        lock (_lock) _revoked.Add(leaseId);
    }

    public bool HasRevoked
    {
        get { lock (_lock) return _revoked.Count > 0; }
    }

    /// <summary>Whether <paramref name="leaseId"/> was revoked and not yet reported; forgets it.</summary>
    public bool TakeRevoked(long leaseId)
    {
        lock (_lock) return _revoked.Remove(leaseId);
    }

    public bool WasRevoked(long leaseId)
    {
        lock (_lock) return _revoked.Contains(leaseId);
    }

    public void Close()
    {
        FusePollHandle ph;
        lock (_lock)
        {
            _closed = true;
            ph = _poller;
            _poller = default;
            _revoked.Clear();
        }
        ph.Destroy();
    }
}
