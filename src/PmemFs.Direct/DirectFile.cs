using Microsoft.Win32.SafeHandles;
using PmemFs.Abi;
using PmemFs.Direct.Native;

namespace PmemFs.Direct;

/// <summary>
/// A file of a PmemFs mount opened for direct access: leases are taken through it, and its
/// region is opened (with this process's own permissions) to map the file's blocks.
/// </summary>
/// <example>
/// <code>
/// using var file = DirectFile.Open("/mnt/pmem/log");
/// using var lease = file.AcquireLease(LeaseMode.Write);
/// using var map = lease.MapForWrite(0, 1 &lt;&lt; 20, extendSize: true);
/// map.Store(0, data);                 // copied and durable: no write(2), no fsync, no msync
/// data.CopyTo(map.GetSpan(4096, data.Length));
/// map.Persist(4096, data.Length);     // durable
/// </code>
/// </example>
public sealed unsafe class DirectFile : IDisposable
{
    private readonly SafeFileHandle _handle;
    private readonly MappedRegion _region;
    private readonly List<Lease> _leases = [];
    private readonly Lock _lock = new();
    private RecallWatcher? _watcher;
    private bool _disposed;

    private DirectFile(string path, SafeFileHandle handle, MappedRegion region)
    {
        Path = path;
        _handle = handle;
        _region = region;
    }

    /// <summary>
    /// Opens <paramref name="path"/> (a DAX file of a PmemFs mount) and the region the mount serves:
    /// read-write for stores, read-only for loads.
    /// </summary>
    /// <exception cref="DirectAccessException">not a PmemFs file; no permission on the region; the region at the mount's path is not the mount's.</exception>
    public static DirectFile Open(string path, bool writable = true)
    {
        int fd = LibC.open(path, (writable ? LibC.O_RDWR : LibC.O_RDONLY) | LibC.O_CLOEXEC, 0);
        if (fd < 0) throw DirectAccessException.FromErrno($"cannot open {path}", LibC.Errno);
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        try
        {
            return new DirectFile(path, handle, MappedRegion.Open(fd, path, writable));
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>The file's path on the mount.</summary>
    public string Path { get; }

    /// <summary>The region the file's blocks are in, and how this process persists stores to it.</summary>
    public RegionInfo Region => _region.Info;

    /// <summary>The file's size now (fstat through the mount).</summary>
    public long Size => RandomAccess.GetLength(_handle);

    internal int Fd => (int)_handle.DangerousGetHandle();

    internal MappedRegion RegionMapping => _region;

    /// <summary>Leases of this file held through this object.</summary>
    public IReadOnlyList<Lease> Leases
    {
        get { lock (_lock) return [.. _leases]; }
    }

    /// <summary>
    /// Takes a layout lease on [<paramref name="offset"/>, +<paramref name="length"/>) (to the end
    /// of any file by default). Conflicts are refused, never waited for.
    /// </summary>
    /// <exception cref="DirectAccessException">Errno EAGAIN: a conflicting lease or a layout change in progress; EOPNOTSUPP: not a DAX file; EACCES: neither the owner nor CAP_LEASE.</exception>
    public Lease AcquireLease(LeaseMode mode, long offset = 0, long length = Lease.ToEnd)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (offset < 0 || length <= 0 || (length != Lease.ToEnd && offset > long.MaxValue - length))
            throw new ArgumentOutOfRangeException(nameof(length), $"[{offset}, +{length}) is not a range");
        var args = new PmemFsLease { Version = PmemFsLeaseAbi.Version, Mode = (uint)mode, Offset = (ulong)offset, Length = Lease.AbiLength(length) };
        if (LibC.ioctl(Fd, PmemFsLeaseAbi.LeaseAcquire, &args) != 0)
        {
            int e = LibC.Errno;
            throw DirectAccessException.FromErrno($"{Path}: {mode.ToString().ToLowerInvariant()} lease on [{offset}, {(length == Lease.ToEnd ? "end" : (offset + length).ToString())})", e, e switch
            {
                11 => "another open file holds a conflicting lease, or a layout change is recalling leases there; try again later",
                95 => $"the file is not DAX: pmemfs chattr +dax {Path}",
                13 => "only the file's owner or a process with CAP_LEASE may take a lease",
                9 => mode == LeaseMode.Write ? "a write lease needs the file open for writing" : "the file is not open for reading",
                30 => "the mount is read-only",
                _ => null,
            });
        }
        var lease = new Lease(this, (long)args.LeaseId, mode, offset, length);
        lock (_lock)
        {
            _leases.Add(lease);
            _watcher ??= new RecallWatcher(this);
        }
        return lease;
    }

    internal void Ended(Lease lease)
    {
        lock (_lock) _leases.Remove(lease);
    }

    /// <summary>
    /// From the watcher: asks the daemon where each lease stands (PMEMFS_IOC_LEASE_STATUS) and
    /// acts: a recall is told to the holder, a revoke or a lost mount unmaps, a recalled lease
    /// past its cut-off is given back. Returns whether a recall is still pending.
    /// </summary>
    internal bool CheckLeases()
    {
        bool pending = false;
        foreach (var lease in Leases)
        {
            var s = new PmemFsLeaseStatus { Version = PmemFsLeaseAbi.Version, LeaseId = (ulong)lease.Id };
            if (LibC.ioctl(Fd, PmemFsLeaseAbi.LeaseStatus, &s) != 0)
            {
                int e = LibC.Errno;
                // ENOENT: the daemon no longer knows it (revoked and already reported); anything
                // else (ENOTCONN: the daemon is gone) leaves no one to keep the layout in place.
                lease.OnRevoked(e == 2 ? "the lease was revoked" : $"the mount stopped answering ({LibC.Describe(e)})", giveBack: false);
                continue;
            }
            switch (s.State)
            {
                case PmemFsLeaseAbi.StateRevoked:
                    lease.OnRevoked("the lease was revoked: its break time passed", giveBack: true);
                    break;
                case PmemFsLeaseAbi.StateRecalled:
                    var remaining = TimeSpan.FromTicks(Math.Max(0, s.RemainingNs) / 100);
                    lease.OnRecalled(DateTimeOffset.UnixEpoch.AddTicks(s.DeadlineNs / 100), remaining);
                    if (lease.LocalDeadline is { } cut && DateTimeOffset.UtcNow >= cut)
                        lease.OnRevoked("its holder did not give it back within the break time", giveBack: true);
                    else pending = true;
                    break;
            }
        }
        return pending;
    }

    /// <summary>Gives back every lease (unmapping their mappings) and closes the file and the region.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _watcher?.Dispose();
        foreach (var lease in Leases) lease.Dispose();
        _region.Dispose();
        _handle.Dispose();
    }
}
