using PmemFs.Engine.Inodes;

namespace PmemFs.Engine.Leases;

/// <summary>
/// Layout leases and pins, in memory only (docs/leases.md has the rules and the table of what
/// every operation does against every lease state).
/// </summary>
/// <remarks>
/// <para>
/// A lease is held through an open file handle of a DAX file (the host's opaque handle id, FUSE's
/// fh, plus the holder's pid), read (shared) or write (exclusive), on a byte range. A holder may
/// pin ranges inside its lease; pins die with the lease.
/// </para>
/// <para>
/// Every layout-changing operation calls <see cref="BreakLayouts"/> first, under its inode's
/// write lock, for the range it touches. The call never waits: it answers proceed, pinned
/// (ETXTBSY), or recalled, in which case the operation changes nothing, drops its lock and
/// returns <see cref="Errno.RetryAfterRecall"/>; the host awaits <see cref="WhenBreaksEnd(ulong)"/>
/// off its request loop and issues the operation again. A recalled lease is revoked by a timer
/// at its deadline (now + break time), so no request waits longer than the break time.
/// </para>
/// <para>
/// Lock order: an inode's lock, then this table's lock (a leaf: nothing is called while it is
/// held). Host notices are sent after the table lock is dropped, possibly under an inode lock.
/// </para>
/// </remarks>
public sealed class LeaseTable : IDisposable
{
    /// <summary>Longest break time a mount may ask for (the kernel's lease-break-time has no cap; an hour-long hang is a bug).</summary>
    public static readonly TimeSpan MaxBreakTime = TimeSpan.FromHours(1);

    private readonly FileSystem _fs;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private readonly Dictionary<long, Lease> _byId = [];
    private readonly List<LeaseInfo> _ended = []; // ended under the lock, told to the host after it (NotifyEnded)
    private readonly Dictionary<ulong, List<Lease>> _byInode = [];
    private readonly List<PendingBreak> _breaks = [];
    private long _lastId;
    private int _live; // leases plus pending breaks: lets BreakLayouts skip the lock when there are none
    private bool _disposed;

    internal LeaseTable(FileSystem fs, TimeProvider time, TimeSpan breakTime)
    {
        if (breakTime < TimeSpan.Zero || breakTime > MaxBreakTime)
            throw new ArgumentOutOfRangeException(nameof(breakTime), breakTime, $"the lease break time must be between 0 and {MaxBreakTime.TotalSeconds} s");
        _fs = fs;
        _time = time;
        BreakTime = breakTime;
    }

    /// <summary>How long a recalled lease is left to its holder before it is revoked (mount option).</summary>
    public TimeSpan BreakTime { get; }

    /// <summary>Who tells holders of recalls and revocations; none means nobody is told (engine tests that do not care).</summary>
    public ILeaseHost? Host { get; set; }

    // ---- holders: take, pin, give back ----

    /// <summary>
    /// Grants a lease on <paramref name="range"/> of <paramref name="ino"/> through
    /// <paramref name="handle"/> (nonzero, unique among the mount's open handles) to process
    /// <paramref name="pid"/>. Errors, in this order, each leaving the table unchanged:
    /// EINVAL (unknown mode, bad range, not a regular file), EOVERFLOW (range end overflows),
    /// EBADF (handle 0), ESTALE (no such inode), ENOENT (the file has no name left: it is going
    /// away), EOPNOTSUPP (the file is not DAX now, or a change of its DAX state is pending),
    /// EAGAIN (another handle's lease conflicts, or a layout change is recalling leases there).
    /// </summary>
    public Errno Acquire(ulong ino, ulong handle, int pid, LeaseMode mode, FileRange range, out long leaseId)
    {
        leaseId = 0;
        if (mode is not (LeaseMode.Read or LeaseMode.Write)) return Errno.EINVAL;
        var check = FileRange.Check(range.Offset, range.Length);
        if (check.Failed) return check;
        if (handle == 0) return Errno.EBADF;
        var inode = _fs.InodeAt(ino);
        if (inode is null) return Errno.ESTALE;
        if (_fs.Health.SickAnswer(ino) is { Failed: true } sick) return sick;
        // The read lock orders this grant against every layout change of the file (they hold
        // the write lock across their break): either the lease exists before the break and is
        // recalled, or it is asked for after the change and sees its result.
        inode.Lock.EnterReadLock();
        try
        {
            if (inode.Freed) return Errno.ESTALE;
            if (!inode.IsRegular) return Errno.EINVAL;
            if (inode.Rec.Nlink == 0) return Errno.ENOENT;
            if (!_fs.DaxNow(inode) || !_fs.WantsDax(inode)) return Errno.EOPNOTSUPP;
            lock (_lock)
            {
                if (_disposed) return Errno.ESTALE;
                foreach (var b in _breaks)
                    if (b.Ino == ino && b.Range.Overlaps(range)) return Errno.EAGAIN;
                if (_byInode.TryGetValue(ino, out var leases))
                    foreach (var other in leases)
                        if (other.ConflictsWith(handle, mode, range)) return Errno.EAGAIN;
                var lease = new Lease(++_lastId, ino, handle, pid, mode, range, _time.GetUtcNow());
                _byId.Add(lease.Id, lease);
                if (leases is null) _byInode.Add(ino, leases = []);
                leases.Add(lease);
                _live++;
                leaseId = lease.Id;
                return Errno.Ok;
            }
        }
        finally { inode.Lock.ExitReadLock(); }
    }

    /// <summary>Gives back lease <paramref name="leaseId"/> of <paramref name="handle"/>, and its pins. ENOENT if that handle holds no such lease.</summary>
    public Errno Release(ulong handle, long leaseId)
    {
        lock (_lock)
        {
            if (!_byId.TryGetValue(leaseId, out var lease) || lease.Handle != handle) return Errno.ENOENT;
            EndLocked(lease, revoked: null);
        }
        NotifyEnded();
        return Errno.Ok;
    }

    /// <summary>
    /// Pins <paramref name="range"/>, which must lie inside lease <paramref name="leaseId"/> of
    /// <paramref name="handle"/>: until it is unpinned or the lease ends, every layout change
    /// touching the lease fails with ETXTBSY. Errors: EINVAL/EOVERFLOW (bad range, or not inside
    /// the lease), ENOENT (no such lease for this handle), EBUSY (the lease is being recalled:
    /// it will not be renewed, so it cannot take new pins).
    /// </summary>
    public Errno Pin(ulong handle, long leaseId, FileRange range, out long pinId)
    {
        pinId = 0;
        var check = FileRange.Check(range.Offset, range.Length);
        if (check.Failed) return check;
        lock (_lock)
        {
            if (!_byId.TryGetValue(leaseId, out var lease) || lease.Handle != handle) return Errno.ENOENT;
            if (!lease.Range.Contains(range)) return Errno.EINVAL;
            if (lease.State == LeaseState.Recalled) return Errno.EBUSY;
            pinId = ++_lastId;
            lease.Pins.Add(new PinInfo(pinId, range));
            return Errno.Ok;
        }
    }

    /// <summary>Removes pin <paramref name="pinId"/> from a lease of <paramref name="handle"/>. ENOENT if that handle has no such pin.</summary>
    public Errno Unpin(ulong handle, long pinId)
    {
        lock (_lock)
        {
            foreach (var lease in _byId.Values)
            {
                if (lease.Handle != handle) continue;
                int i = lease.Pins.FindIndex(p => p.Id == pinId);
                if (i < 0) continue;
                lease.Pins.RemoveAt(i);
                return Errno.Ok;
            }
            return Errno.ENOENT;
        }
    }

    /// <summary>The handle was released (FUSE release): its leases end. Returns how many.</summary>
    public int EndLeasesOfHandle(ulong handle) => EndWhere(handle, static (l, h) => l.Handle == h, revoked: false);

    /// <summary>
    /// Process <paramref name="pid"/> died: its leases end, whatever handles they were held
    /// through (a handle inherited by a child lives on, the lease does not). The engine cannot
    /// see processes; the host calls this when it learns of the death (a pidfd, or a check of
    /// /proc when a lease is recalled). Returns how many ended.
    /// </summary>
    public int EndLeasesOfProcess(int pid) => EndWhere(pid, static (l, p) => l.Pid == p, revoked: false);

    /// <summary>The file's blocks are being freed: any lease left on it is revoked (its holder is told).</summary>
    internal int EndLeasesOfInode(ulong ino) => EndWhere(ino, static (l, i) => l.Ino == i, revoked: true);

    // The key is passed, not captured: a capturing lambda would be allocated on every call (every
    // file's last close and every free), although there is almost never a lease to end.
    private int EndWhere<TKey>(TKey key, Func<Lease, TKey, bool> which, bool revoked)
    {
        if (Volatile.Read(ref _live) == 0) return 0;
        var notices = revoked ? new List<LeaseInfo>() : null;
        int n = 0;
        lock (_lock)
        {
            foreach (var lease in _byId.Values.Where(l => which(l, key)).ToList())
            {
                EndLocked(lease, notices);
                n++;
            }
        }
        Notify(null, notices);
        NotifyEnded();
        return n;
    }

    // ---- queries ----

    /// <summary>Every lease with its pins, by id (for <c>pmemfs lease list</c>).</summary>
    public IReadOnlyList<LeaseInfo> List()
    {
        lock (_lock) return [.. _byId.Values.OrderBy(l => l.Id).Select(l => l.Snapshot())];
    }

    /// <summary>The leases of one file, by id (for <c>pmemfs info FILE</c>).</summary>
    public IReadOnlyList<LeaseInfo> ListOf(ulong ino)
    {
        lock (_lock) return _byInode.TryGetValue(ino, out var leases) ? [.. leases.OrderBy(l => l.Id).Select(l => l.Snapshot())] : [];
    }

    /// <summary>Whether any lease (active or recalled) is held on <paramref name="ino"/> (rule 6 of DAX_IMMUTABLE).</summary>
    public bool HasLeases(ulong ino)
    {
        if (Volatile.Read(ref _live) == 0) return false;
        lock (_lock) return _byInode.ContainsKey(ino);
    }

    /// <summary>
    /// Completes when every lease recalled by a layout change of <paramref name="ino"/> has
    /// ended (released, or revoked at its deadline): then an operation that returned
    /// <see cref="Errno.RetryAfterRecall"/> is issued again. Already complete when none is pending.
    /// </summary>
    public Task WhenBreaksEnd(ulong ino) => WhenBreaksEnd(b => b.Ino == ino);

    /// <summary>
    /// As <see cref="WhenBreaksEnd(ulong)"/> for every file: for operations that name the file
    /// by path (unlink, rename over), whose inode the host does not know. It may wait for
    /// unrelated recalls too, still never past the break time.
    /// </summary>
    public Task WhenBreaksEnd() => WhenBreaksEnd(_ => true);

    private Task WhenBreaksEnd(Func<PendingBreak, bool> which)
    {
        lock (_lock)
        {
            var waits = _breaks.Where(b => which(b) && !b.Done.Task.IsCompleted).Select(b => b.Done.Task).ToList();
            return waits.Count switch { 0 => Task.CompletedTask, 1 => waits[0], _ => Task.WhenAll(waits) };
        }
    }

    /// <summary>
    /// Whether <paramref name="handle"/> may prepare <paramref name="range"/> of <paramref name="ino"/>
    /// for direct stores (prepare-write): Ok when its own active write leases cover every byte
    /// (several adjacent leases may); EBUSY when they do only with a lease that is being
    /// recalled (it is going away: the holder must give it back, not store more); EACCES
    /// otherwise (no lease, a read lease, another handle's lease, part of the range uncovered).
    /// </summary>
    internal Errno CheckWriteLease(ulong ino, ulong handle, FileRange range)
    {
        if (Volatile.Read(ref _live) == 0) return Errno.EACCES;
        lock (_lock)
        {
            if (!_byInode.TryGetValue(ino, out var leases)) return Errno.EACCES;
            var own = leases.Where(l => l.Handle == handle && l.Mode == LeaseMode.Write && l.Range.Overlaps(range)).ToList();
            if (Covers(own.Where(l => l.State == LeaseState.Active), range)) return Errno.Ok;
            return Covers(own, range) ? Errno.EBUSY : Errno.EACCES;
        }
    }

    private static bool Covers(IEnumerable<Lease> leases, FileRange range)
    {
        long pos = range.Offset;
        foreach (var l in leases.OrderBy(l => l.Range.Offset))
        {
            if (l.Range.Offset > pos) return false;
            pos = Math.Max(pos, l.Range.End);
            if (pos >= range.End) return true;
        }
        return pos >= range.End;
    }

    // ---- the one call every layout change makes ----

    /// <summary>
    /// Called by every operation that changes the layout of <paramref name="touched"/> of
    /// <paramref name="ino"/> (truncate, fallocate in every mode, unlink or replacement of the last
    /// name, clearing DAX), under the inode's write lock, before it changes anything.
    /// <paramref name="breaker"/> is the handle the request came through (0 for a path):
    /// that handle's own leases are neither recalled nor revoked (it changes its own layout and
    /// knows it), but its pins count like anyone's.
    /// </summary>
    /// <returns>
    /// <see cref="LayoutBreakOutcome.Pinned"/> when the range overlaps a pin, or overlaps another
    /// handle's lease that has pins anywhere (revoking that lease would drop them): nothing is
    /// recalled. <see cref="LayoutBreakOutcome.Recalled"/> when other handles' leases overlap:
    /// each is recalled (holders told once; the deadline is never pushed back) and the result's
    /// task completes when they have all ended. Otherwise <see cref="LayoutBreakOutcome.Proceed"/>
    /// (also once the break time of every overlapping lease has passed: they are revoked now).
    /// </returns>
    public LayoutBreak BreakLayouts(ulong ino, FileRange touched, ulong breaker)
    {
        if (Volatile.Read(ref _live) == 0) return LayoutBreak.Proceed;
        List<LeaseInfo>? recalled = null, revoked = null;
        LayoutBreak result;
        lock (_lock)
        {
            result = BreakLocked(ino, touched, breaker, ref recalled, ref revoked);
        }
        Notify(recalled, revoked);
        NotifyEnded();
        return result;
    }

    private LayoutBreak BreakLocked(ulong ino, FileRange touched, ulong breaker, ref List<LeaseInfo>? recalled, ref List<LeaseInfo>? revoked)
    {
        if (!_byInode.TryGetValue(ino, out var leases))
        {
            ForgetBreaksOver(ino, touched);
            return LayoutBreak.Proceed;
        }
        var now = _time.GetUtcNow();
        var others = new List<Lease>();
        foreach (var lease in leases)
        {
            if (!lease.Range.Overlaps(touched)) continue;
            bool own = breaker != 0 && lease.Handle == breaker;
            if (lease.Pins.Exists(p => p.Range.Overlaps(touched))) return LayoutBreak.Pinned;
            if (own) continue;
            if (lease.Pins.Count > 0) return LayoutBreak.Pinned;
            others.Add(lease);
        }
        // The timer may be late, or the break time zero: what is due is revoked now.
        foreach (var lease in others.Where(l => BreakTime == TimeSpan.Zero || l.Deadline <= now).ToList())
        {
            EndLocked(lease, revoked ??= []);
            others.Remove(lease);
        }
        if (others.Count == 0)
        {
            ForgetBreaksOver(ino, touched);
            return LayoutBreak.Proceed;
        }

        var deadline = now + BreakTime;
        foreach (var lease in others)
        {
            if (lease.State == LeaseState.Recalled) continue; // told once; its deadline stands
            lease.State = LeaseState.Recalled;
            lease.Deadline = deadline;
            (recalled ??= []).Add(lease.Snapshot());
        }
        var pending = _breaks.Find(b => b.Ino == ino && b.Range == touched && !b.PastDeadline);
        if (pending is null)
        {
            pending = new PendingBreak(ino, touched, deadline);
            _breaks.Add(pending);
            _live++;
        }
        foreach (var lease in others) pending.Waiting.Add(lease);
        var latest = others.Max(l => l.Deadline!.Value);
        if (pending.Timer is null || latest > pending.Deadline)
        {
            pending.Deadline = latest;
            pending.Timer?.Dispose();
            pending.Timer = _time.CreateTimer(static s => { var (t, b) = ((LeaseTable, PendingBreak))s!; t.OnTimer(b); },
                (this, pending), Positive(latest - now), Timeout.InfiniteTimeSpan);
        }
        return new LayoutBreak(LayoutBreakOutcome.Recalled, pending.Done.Task, pending.Deadline);
    }

    private static TimeSpan Positive(TimeSpan t) => t < TimeSpan.Zero ? TimeSpan.Zero : t;

    /// <summary>
    /// A layout change went ahead over <paramref name="range"/>: breaks there that have finished
    /// recalling are forgotten, so new leases may be taken again.
    /// </summary>
    private void ForgetBreaksOver(ulong ino, FileRange range)
    {
        for (int i = _breaks.Count - 1; i >= 0; i--)
        {
            var b = _breaks[i];
            if (b.Ino == ino && b.Range.Overlaps(range) && b.Done.Task.IsCompleted) RemoveBreakLocked(i);
        }
    }

    private void RemoveBreakLocked(int i)
    {
        var b = _breaks[i];
        b.Timer?.Dispose();
        b.Done.TrySetResult();
        _breaks.RemoveAt(i);
        _live--;
    }

    /// <summary>
    /// At a break's deadline: revoke what its holders did not give back. A grace period (one
    /// break time) later: forget the break if its operation never came back for it.
    /// </summary>
    private void OnTimer(PendingBreak pending)
    {
        List<LeaseInfo>? revoked = null;
        lock (_lock)
        {
            if (_disposed) return;
            int i = _breaks.IndexOf(pending);
            if (i < 0) return;
            var now = _time.GetUtcNow();
            if (pending.PastDeadline)
            {
                RemoveBreakLocked(i);
                return;
            }
            foreach (var lease in pending.Waiting.Where(l => l.Deadline <= now).ToList()) EndLocked(lease, revoked ??= []);
            if (pending.Waiting.Count > 0)
            {
                // A lease with a later deadline joined (it cannot, deadlines only come from now +
                // break time, but a clock that steps back could do it): wait for it.
                var next = pending.Waiting.Max(l => l.Deadline!.Value);
                pending.Timer?.Change(Positive(next - now), Timeout.InfiniteTimeSpan);
            }
            else
            {
                pending.PastDeadline = true;
                pending.Timer?.Change(BreakTime, Timeout.InfiniteTimeSpan);
            }
        }
        Notify(null, revoked);
        NotifyEnded();
    }

    /// <summary>Takes the lease out of the table; a revoked one is reported in <paramref name="revoked"/>.</summary>
    private void EndLocked(Lease lease, List<LeaseInfo>? revoked)
    {
        if (!_byId.Remove(lease.Id)) return;
        _live--;
        var leases = _byInode[lease.Ino];
        leases.Remove(lease);
        if (leases.Count == 0) _byInode.Remove(lease.Ino);
        var snapshot = lease.Snapshot();
        revoked?.Add(snapshot);
        _ended.Add(snapshot);
        foreach (var b in _breaks)
            if (b.Waiting.Remove(lease) && b.Waiting.Count == 0) b.Done.TrySetResult();
    }

    private void Notify(List<LeaseInfo>? recalled, List<LeaseInfo>? revoked)
    {
        var host = Host;
        if (host is null) return;
        if (recalled is not null) foreach (var l in recalled) host.LeaseRecalled(l);
        if (revoked is not null) foreach (var l in revoked) host.LeaseRevoked(l);
    }

    /// <summary>Tells the host of every lease that ended since the last call, however it ended (after the revoke notices).</summary>
    private void NotifyEnded()
    {
        List<LeaseInfo> ended;
        lock (_lock)
        {
            if (_ended.Count == 0) return;
            ended = [.. _ended];
            _ended.Clear();
        }
        if (Host is { } host) foreach (var l in ended) host.LeaseEnded(l);
    }

    /// <summary>Unmount: leases live in memory only and end with the mount; waiters are released.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            for (int i = _breaks.Count - 1; i >= 0; i--) RemoveBreakLocked(i);
            _byId.Clear();
            _byInode.Clear();
            _live = 0;
        }
    }
}
