using System.Runtime.InteropServices;
using PmemFs.Abi;
using PmemFs.Engine;
using PmemFs.Engine.Leases;
using PmemFs.Fuse;
using PmemFs.Fuse.Native;

namespace PmemFs.Daemon.Operations;

/// <summary>
/// Layout leases through a real mount (docs/leases.md, src/include/pmemfs.h): the lease ioctls,
/// poll() as the recall notice, the engine's host (recall and revoke notices), and the holders'
/// processes. The engine decides everything about leases; this file translates and validates.
/// </summary>
/// <remarks>
/// Every struct is checked whole before anything else (version, reserved fields, flags, mode,
/// range): a malformed one is EINVAL or EOVERFLOW and changes nothing. Then the handle: the
/// ioctl must come through a descriptor of this mount's file (EBADF otherwise; a write lease
/// needs it open for writing, a read lease open for reading).
/// </remarks>
public sealed unsafe partial class PmemFsOperations : ILeaseHost
{
    private const uint IoctlDir = 1 << 4; // FUSE_IOCTL_DIR: the ioctl came through a directory
    private const uint PollIn = 0x1, PollPri = 0x2, PollOut = 0x4;
    private static readonly Errno ESRCH = new(3);

    private readonly OpenHandles _handles = new();

    /// <summary>Watches lease holders' processes (set by the daemon; null in tests: leases then end only with handles).</summary>
    public HolderWatch? Holders { get; set; }

    /// <summary>A holder process exited (from <see cref="Holders"/>): its leases end.</summary>
    public void HolderDied(int pid)
    {
        int n = _fs.Leases.EndLeasesOfProcess(pid);
        if (n > 0) _log.Info($"lease holder {pid} exited: {n} lease(s) ended");
    }

    private bool TryLeaseIoctl(FuseRequest req, ulong ino, uint cmd, FuseFileInfo* fi, uint flags, ReadOnlySpan<byte> input, long outSize)
    {
        switch (cmd)
        {
            case PmemFsLeaseAbi.LeaseAcquire when input.Length >= PmemFsLease.Size && outSize >= PmemFsLease.Size:
                LeaseAcquire(req, ino, fi, flags, MemoryMarshal.Read<PmemFsLease>(input));
                return true;
            case PmemFsLeaseAbi.LeaseRelease when input.Length >= PmemFsLeaseRef.Size:
                LeaseRelease(req, fi, MemoryMarshal.Read<PmemFsLeaseRef>(input), unpin: false);
                return true;
            case PmemFsLeaseAbi.Unpin when input.Length >= PmemFsLeaseRef.Size:
                LeaseRelease(req, fi, MemoryMarshal.Read<PmemFsLeaseRef>(input), unpin: true);
                return true;
            case PmemFsLeaseAbi.Pin when input.Length >= PmemFsPin.Size && outSize >= PmemFsPin.Size:
                LeasePin(req, fi, MemoryMarshal.Read<PmemFsPin>(input));
                return true;
            case PmemFsLeaseAbi.LeaseStatus when input.Length >= PmemFsLeaseStatus.Size && outSize >= PmemFsLeaseStatus.Size:
                LeaseStatus(req, ino, fi, MemoryMarshal.Read<PmemFsLeaseStatus>(input));
                return true;
            case PmemFsLeaseAbi.LeaseList when input.Length >= PmemFsLeaseList.Size && outSize >= PmemFsLeaseList.Size:
                LeaseList(req, ino, MemoryMarshal.Read<PmemFsLeaseList>(input));
                return true;
            default:
                return false;
        }
    }

    /// <summary>
    /// A range of the ABI (u64 offset and length, PMEMFS_LENGTH_TO_END) as the engine's: EINVAL for
    /// an offset past INT64_MAX, a zero length or one past INT64_MAX that is not TO_END;
    /// EOVERFLOW when the end overflows.
    /// </summary>
    public static Errno ToRange(ulong offset, ulong length, out FileRange range)
    {
        range = default;
        if (offset > long.MaxValue) return Errno.EINVAL;
        if (length == PmemFsLeaseAbi.LengthToEnd)
        {
            if (offset == long.MaxValue) return Errno.EINVAL;
            range = FileRange.From((long)offset);
            return Errno.Ok;
        }
        if (length > long.MaxValue) return Errno.EINVAL;
        var check = FileRange.Check((long)offset, (long)length);
        if (check.Failed) return check;
        range = new FileRange((long)offset, (long)length);
        return Errno.Ok;
    }

    public static ulong ToAbiLength(FileRange r) => r.IsToEnd ? PmemFsLeaseAbi.LengthToEnd : (ulong)r.Length;

    public static long UnixNs(DateTimeOffset t) => (t - DateTimeOffset.UnixEpoch).Ticks * 100;

    /// <summary>The handle an ioctl came through: EINVAL for a directory, EBADF when it is not one of ours.</summary>
    private Errno HandleOf(FuseFileInfo* fi, uint flags, out OpenHandle handle)
    {
        handle = null!;
        if ((flags & IoctlDir) != 0) return Errno.EINVAL; // as generic_setlease: not a regular file
        var h = fi is null ? null : _handles.Get(fi->Fh);
        if (h is null) return Errno.EBADF;
        handle = h;
        return Errno.Ok;
    }

    private void LeaseAcquire(FuseRequest req, ulong ino, FuseFileInfo* fi, uint flags, PmemFsLease a)
    {
        var errno = Errno.Ok;
        if (a.Version != PmemFsLeaseAbi.Version || a.Flags != 0 || a.LeaseId != 0 || a.Reserved1 != 0 || a.Reserved2 != 0 || a.Reserved3 != 0)
            errno = Errno.EINVAL;
        var mode = a.Mode switch { PmemFsLeaseAbi.ModeRead => LeaseMode.Read, PmemFsLeaseAbi.ModeWrite => LeaseMode.Write, _ => (LeaseMode)0 };
        if (errno.IsOk && mode == 0) errno = Errno.EINVAL;
        FileRange range = default;
        if (errno.IsOk) errno = ToRange(a.Offset, a.Length, out range);
        OpenHandle handle = null!;
        if (errno.IsOk) errno = HandleOf(fi, flags, out handle);
        if (errno.IsOk && (mode == LeaseMode.Write ? !handle.CanWrite : !handle.CanRead)) errno = Errno.EBADF;
        if (errno.IsOk && mode == LeaseMode.Write && (_fs.Options.ReadOnly || MountIsReadOnly?.Invoke() == true)) errno = Errno.EROFS;
        int pid = 0;
        if (errno.IsOk && (pid = HolderWatch.ProcessOf(req.Context.Pid)) == 0) errno = ESRCH; // the caller is gone
        if (errno.IsOk) errno = MayLease(ino, req.Context.Uid, pid);
        long id = 0;
        if (errno.IsOk) errno = _fs.Leases.Acquire(ino, handle.Id, pid, mode, range, out id);
        if (errno.IsOk && Holders is { } holders && !holders.Watch(pid))
        {
            // It exited between its request and now: nobody will use the lease.
            _fs.Leases.EndLeasesOfProcess(pid);
            errno = ESRCH;
        }
        if (errno.Failed) { Reply(req, errno); return; }
        a.LeaseId = (ulong)id;
        req.ReplyIoctl(0, MemoryMarshal.AsBytes(new ReadOnlySpan<PmemFsLease>(in a)));
    }

    /// <summary>
    /// As F_SETLEASE: the file's owner, or a caller with CAP_LEASE, else EACCES. A lease (above all
    /// a pinned one) holds back everyone else's truncate and unlink, so reading the file is not
    /// enough to take one.
    /// </summary>
    private Errno MayLease(ulong ino, uint uid, int pid)
    {
        var errno = _fs.GetAttr(ino, out var attr);
        if (errno.Failed) return errno;
        return uid == attr.Uid || CallerCapabilities.Has(pid, CallerCapabilities.Lease) ? Errno.Ok : Errno.EACCES;
    }

    /// <summary>LEASE_RELEASE (a lease id) and UNPIN (a pin id): the same struct.</summary>
    private void LeaseRelease(FuseRequest req, FuseFileInfo* fi, PmemFsLeaseRef a, bool unpin)
    {
        if (a.Version != PmemFsLeaseAbi.Version || a.Reserved0 != 0 || a.Reserved1 != 0 || a.Reserved2 != 0) { Reply(req, Errno.EINVAL); return; }
        var handle = fi is null ? null : _handles.Get(fi->Fh);
        if (handle is null) { Reply(req, Errno.EBADF); return; }
        if (a.Id == 0 || a.Id > long.MaxValue) { Reply(req, Errno.ENOENT); return; }
        Errno errno;
        if (unpin) errno = _fs.Leases.Unpin(handle.Id, (long)a.Id);
        else
        {
            errno = _fs.Leases.Release(handle.Id, (long)a.Id);
            // Giving back a lease that was revoked acknowledges it: it is already gone.
            if (errno == Errno.ENOENT && handle.TakeRevoked((long)a.Id)) errno = Errno.Ok;
        }
        // Success of an ioctl is an ioctl reply (fuse_ioctl_out), never fuse_reply_err(0): the kernel would read that as EIO.
        if (errno.Failed) Reply(req, errno);
        else if (unpin) req.ReplyIoctl(0, []);
        // The holder's direct stores are the file's data now: the reply waits for the pages the
        // release dropped (LeaseEnded), so that once it returns every reader sees them (docs/direct.md).
        else AfterDroppedPages(() => req.ReplyIoctl(0, []));
    }

    private void LeasePin(FuseRequest req, FuseFileInfo* fi, PmemFsPin a)
    {
        var errno = Errno.Ok;
        if (a.Version != PmemFsLeaseAbi.Version || a.Reserved0 != 0 || a.PinId != 0 || a.Reserved1 != 0 || a.Reserved2 != 0 || a.Reserved3 != 0)
            errno = Errno.EINVAL;
        FileRange range = default;
        if (errno.IsOk) errno = ToRange(a.Offset, a.Length, out range);
        var handle = fi is null ? null : _handles.Get(fi->Fh);
        if (errno.IsOk && handle is null) errno = Errno.EBADF;
        if (errno.IsOk && (a.LeaseId == 0 || a.LeaseId > long.MaxValue)) errno = Errno.ENOENT;
        long pinId = 0;
        if (errno.IsOk) errno = _fs.Leases.Pin(handle!.Id, (long)a.LeaseId, range, out pinId);
        if (errno.Failed) { Reply(req, errno); return; }
        a.PinId = (ulong)pinId;
        req.ReplyIoctl(0, MemoryMarshal.AsBytes(new ReadOnlySpan<PmemFsPin>(in a)));
    }

    private void LeaseStatus(FuseRequest req, ulong ino, FuseFileInfo* fi, PmemFsLeaseStatus a)
    {
        if (a.Version != PmemFsLeaseAbi.Version || a.Reserved0 != 0 || a.Reserved1 != 0 || a.Reserved2 != 0 || a.Reserved3 != 0)
        {
            Reply(req, Errno.EINVAL);
            return;
        }
        var handle = fi is null ? null : _handles.Get(fi->Fh);
        if (handle is null) { Reply(req, Errno.EBADF); return; }
        long id = a.LeaseId is 0 or > long.MaxValue ? -1 : (long)a.LeaseId;
        var lease = _fs.Leases.ListOf(ino).FirstOrDefault(l => l.Id == id && l.Handle == handle.Id);
        var reply = new PmemFsLeaseStatus { Version = PmemFsLeaseAbi.Version, LeaseId = a.LeaseId };
        if (lease is not null)
        {
            reply.State = lease.State == LeaseState.Recalled ? PmemFsLeaseAbi.StateRecalled : PmemFsLeaseAbi.StateActive;
            reply.Mode = lease.Mode == LeaseMode.Write ? PmemFsLeaseAbi.ModeWrite : PmemFsLeaseAbi.ModeRead;
            reply.Offset = (ulong)lease.Range.Offset;
            reply.Length = ToAbiLength(lease.Range);
            reply.Pins = (uint)lease.Pins.Count;
            if (lease.RecallDeadline is { } deadline)
            {
                reply.DeadlineNs = UnixNs(deadline);
                reply.RemainingNs = (deadline - _fs.Options.Time.GetUtcNow()).Ticks * 100;
            }
        }
        else if (handle.TakeRevoked(id))
        {
            // Reported once: then POLLPRI clears and the id is unknown.
            reply.State = PmemFsLeaseAbi.StateRevoked;
        }
        else
        {
            Reply(req, Errno.ENOENT);
            return;
        }
        req.ReplyIoctl(0, MemoryMarshal.AsBytes(new ReadOnlySpan<PmemFsLeaseStatus>(in reply)));
    }

    private void LeaseList(FuseRequest req, ulong ino, PmemFsLeaseList a)
    {
        if (a.Version != PmemFsLeaseAbi.Version || (a.Flags & ~PmemFsLeaseAbi.ListThisFile) != 0
            || a.Reserved1 != 0 || a.Reserved2 != 0 || a.Reserved3 != 0)
        {
            Reply(req, Errno.EINVAL);
            return;
        }
        var leases = (a.Flags & PmemFsLeaseAbi.ListThisFile) != 0 ? _fs.Leases.ListOf(ino) : _fs.Leases.List();
        var page = new PmemFsLeaseList
        {
            Version = PmemFsLeaseAbi.Version,
            Flags = a.Flags,
            CursorLease = a.CursorLease,
            CursorPin = a.CursorPin,
            NowNs = UnixNs(_fs.Options.Time.GetUtcNow()),
        };
        var entries = page.Entries;
        int n = 0;
        foreach (var row in Rows(leases))
        {
            if (row.LeaseId < a.CursorLease || (row.LeaseId == a.CursorLease && row.PinId <= a.CursorPin)) continue;
            if (n == entries.Length) { page.More = 1; break; }
            entries[n++] = row;
            page.CursorLease = row.LeaseId;
            page.CursorPin = row.PinId;
        }
        page.Count = (uint)n;
        req.ReplyIoctl(0, MemoryMarshal.AsBytes(new ReadOnlySpan<PmemFsLeaseList>(in page)));
    }

    /// <summary>The rows of LEASE_LIST in (lease id, pin id) order: each lease, then its pins.</summary>
    public static IEnumerable<PmemFsLeaseEntry> Rows(IEnumerable<LeaseInfo> leases)
    {
        foreach (var l in leases.OrderBy(l => l.Id))
        {
            var lease = new PmemFsLeaseEntry
            {
                LeaseId = (ulong)l.Id,
                Ino = l.Ino,
                Offset = (ulong)l.Range.Offset,
                Length = ToAbiLength(l.Range),
                GrantedNs = UnixNs(l.Granted),
                DeadlineNs = l.RecallDeadline is { } d ? UnixNs(d) : 0,
                Pid = l.Pid,
                Mode = (ushort)(l.Mode == LeaseMode.Write ? PmemFsLeaseAbi.ModeWrite : PmemFsLeaseAbi.ModeRead),
                State = (ushort)(l.State == LeaseState.Recalled ? PmemFsLeaseAbi.StateRecalled : PmemFsLeaseAbi.StateActive),
            };
            yield return lease;
            foreach (var p in l.Pins.OrderBy(p => p.Id))
                yield return lease with { PinId = (ulong)p.Id, Offset = (ulong)p.Range.Offset, Length = ToAbiLength(p.Range), GrantedNs = 0, DeadlineNs = 0 };
        }
    }

    // ---- poll: how a holder learns of a recall ----

    /// <summary>
    /// A regular file is always readable and writable (POLLIN | POLLOUT); POLLPRI is added while a
    /// lease of this open file is recalled or was revoked and not yet reported by LEASE_STATUS.
    /// The kernel's waiter is kept and woken by <see cref="LeaseRecalled"/> / <see cref="LeaseRevoked"/>.
    /// </summary>
    public override void Poll(FuseRequest req, ulong ino, FuseFileInfo* fi, FusePollHandle ph)
    {
        var handle = fi is null ? null : _handles.Get(fi->Fh);
        if (handle is null)
        {
            ph.Destroy();
            req.ReplyPoll(PollIn | PollOut);
            return;
        }
        handle.SetPoller(ph);
        req.ReplyPoll(PollIn | PollOut | (NeedsAttention(handle) ? PollPri : 0));
    }

    private bool NeedsAttention(OpenHandle handle) =>
        handle.HasRevoked || _fs.Leases.ListOf(handle.Ino).Any(l => l.Handle == handle.Id && l.State == LeaseState.Recalled);

    /// <summary>From the engine (the breaking operation's thread or the break timer): wake the holder's poll.</summary>
    public void LeaseRecalled(LeaseInfo lease)
    {
        // Wake first, log after: the holder's clock starts now.
        _handles.Get(lease.Handle)?.Wake();
        _log.Info($"lease {lease.Id} of pid {lease.Pid} on inode {lease.Ino} {lease.Range} recalled; revoked at {lease.RecallDeadline:O} unless released");
    }

    public void LeaseRevoked(LeaseInfo lease)
    {
        if (_handles.Get(lease.Handle) is { } handle)
        {
            handle.Revoked(lease.Id);
            handle.Wake();
        }
        _log.Info($"lease {lease.Id} of pid {lease.Pid} on inode {lease.Ino} {lease.Range} revoked (break time passed or the file was freed)");
    }
}
