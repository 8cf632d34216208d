using PmemFs.Abi;
using PmemFs.Direct.Native;

namespace PmemFs.Direct;

/// <summary>What a recall tells the holder: give the lease back before <see cref="Deadline"/>.</summary>
public sealed class LeaseRecalledEventArgs(Lease lease, DateTimeOffset deadline) : EventArgs
{
    /// <summary>The recalled lease.</summary>
    public Lease Lease { get; } = lease;
    /// <summary>When the daemon revokes it.</summary>
    public DateTimeOffset Deadline { get; } = deadline;
}

/// <summary>
/// A layout lease on a range of a file (docs/leases.md): while it is held, the file's blocks in
/// the range stay where the map says. A write lease prepares ranges and maps them writable; a
/// read lease maps them for loads. When someone else changes the layout the lease is recalled
/// (<see cref="Recalled"/>, <see cref="RecallToken"/>): finish, persist and <see cref="Dispose"/>
/// it before <see cref="RecallDeadline"/>. A holder that does not is cut off shortly before the
/// daemon's deadline: its mappings are unmapped and the lease given back.
/// </summary>
public sealed unsafe class Lease : IDisposable
{
    /// <summary>A length meaning "to the end of any file" (PMEMFS_LENGTH_TO_END).</summary>
    public const long ToEnd = long.MaxValue;

    private readonly DirectFile _file;
    private readonly List<DirectMapping> _mappings = [];
    private readonly CancellationTokenSource _recall = new();
    private readonly Lock _lock = new();
    private LeaseState _state = LeaseState.Active;

    internal Lease(DirectFile file, long id, LeaseMode mode, long offset, long length)
    {
        _file = file;
        Id = id;
        Mode = mode;
        Offset = offset;
        Length = length;
    }

    /// <summary>The daemon's id of the lease (as `pmemfs lease list` shows it).</summary>
    public long Id { get; }

    /// <summary>Read (shared) or write (exclusive).</summary>
    public LeaseMode Mode { get; }

    /// <summary>The first byte of the leased range.</summary>
    public long Offset { get; }

    /// <summary>Bytes, or <see cref="ToEnd"/>.</summary>
    public long Length { get; }

    /// <summary>The file the lease was taken through.</summary>
    public DirectFile File => _file;

    /// <summary>Where the lease stands, as the watcher last learned.</summary>
    public LeaseState State => _state;

    /// <summary>When the daemon revokes a recalled lease (null while active).</summary>
    public DateTimeOffset? RecallDeadline { get; private set; }

    /// <summary>When the library cuts the holder off if it has not given the lease back (a little before <see cref="RecallDeadline"/>).</summary>
    internal DateTimeOffset? LocalDeadline { get; private set; }

    /// <summary>Cancelled when the lease is recalled, revoked or given back.</summary>
    public CancellationToken RecallToken => _recall.Token;

    /// <summary>Raised once, on the library's watcher thread, when the lease is recalled.</summary>
    public event EventHandler<LeaseRecalledEventArgs>? Recalled;

    /// <summary>Raised once, on the library's watcher thread, when the lease was revoked (its mappings are gone).</summary>
    public event EventHandler? Revoked;

    /// <summary>
    /// Prepares [<paramref name="offset"/>, +<paramref name="length"/>) for direct stores (holes
    /// allocated, unwritten blocks zeroed, the size grown with <paramref name="extendSize"/>; the
    /// metadata durable before it returns) and maps it writable. From then on a store plus
    /// <see cref="DirectMapping.Persist"/> is durable: no fsync, no msync.
    /// </summary>
    public DirectMapping MapForWrite(long offset, long length, bool extendSize = false)
    {
        if (Mode != LeaseMode.Write) throw new InvalidOperationException("a read lease maps for loads only (MapForRead)");
        CheckRange(offset, length);
        var map = new PmemFsMap();
        Prepare(offset, length, extendSize, &map);
        var extents = Extents(offset, length, &map);
        return Track(new DirectMapping(this, _file.RegionMapping, offset, length, writable: true, extents.ToArray()));
    }

    /// <summary>
    /// Maps [<paramref name="offset"/>, +<paramref name="length"/>) for loads: written data from the
    /// region, holes and unwritten blocks as zeros; past the end of the file nothing (a load faults).
    /// </summary>
    public DirectMapping MapForRead(long offset, long length)
    {
        CheckRange(offset, length);
        var extents = Extents(offset, length, null);
        return Track(new DirectMapping(this, _file.RegionMapping, offset, length, writable: false, extents.ToArray()));
    }

    /// <summary>The file's extent map for a range of this lease (PMEMFS_IOC_GET_MAP, every page).</summary>
    public IReadOnlyList<PmemFsExtent> GetMap(long offset, long length)
    {
        CheckRange(offset, length);
        return Extents(offset, length, null);
    }

    /// <summary>
    /// Pins [<paramref name="offset"/>, +<paramref name="length"/>) inside the lease: a layout change
    /// there fails with ETXTBSY at once instead of recalling the lease. Dispose the pin to unpin.
    /// </summary>
    public LeasePin Pin(long offset, long length)
    {
        CheckRange(offset, length);
        var pin = new PmemFsPin { Version = PmemFsLeaseAbi.Version, LeaseId = (ulong)Id, Offset = (ulong)offset, Length = AbiLength(length) };
        if (LibC.ioctl(_file.Fd, PmemFsLeaseAbi.Pin, &pin) != 0)
        {
            int e = LibC.Errno;
            throw DirectAccessException.FromErrno($"{_file.Path}: pin [{offset}, +{length}) of lease {Id}", e,
                e == 16 ? "the lease is being recalled: it takes no new pins" : e == 22 ? "the range must lie inside the lease" : null);
        }
        return new LeasePin(this, (long)pin.PinId, offset, length);
    }

    internal void Unpin(long pinId)
    {
        var r = new PmemFsLeaseRef { Version = PmemFsLeaseAbi.Version, Id = (ulong)pinId };
        LibC.ioctl(_file.Fd, PmemFsLeaseAbi.Unpin, &r); // ENOENT: the lease (and its pins) already ended
    }

    /// <summary>PREPARE_WRITE of the range; <paramref name="into"/> gets the first page of the new map.</summary>
    internal void Prepare(long offset, long length, bool extendSize, PmemFsMap* into)
    {
        var map = new PmemFsMap { Version = PmemFsMapAbi.Version, Offset = (ulong)offset, Length = (ulong)length, Flags = extendSize ? PmemFsMapAbi.PrepareExtendSize : 0 };
        if (LibC.ioctl(_file.Fd, PmemFsMapAbi.PrepareWrite, &map) != 0)
        {
            int e = LibC.Errno;
            if (e == 16) throw new LeaseRevokedException($"{_file.Path}: lease {Id} is being recalled: give it back instead of preparing more");
            throw DirectAccessException.FromErrno($"{_file.Path}: prepare-write of [{offset}, +{length})", e, e switch
            {
                6 => "the range ends past the end of the file: pass extendSize to grow it",
                13 => "the lease does not cover the range for writing",
                1 => "the file is immutable, append-only, or DAX_IMMUTABLE with a range that needs blocks",
                28 => "the file system is full",
                7 => "too fragmented for one transaction: prepare smaller parts",
                _ => null,
            });
        }
        if (into != null) *into = map;
    }

    /// <summary>Every extent of the range: the page <paramref name="first"/> if given, then GET_MAP continuations.</summary>
    private List<PmemFsExtent> Extents(long offset, long length, PmemFsMap* first)
    {
        var all = new List<PmemFsExtent>();
        long end = offset + length;
        long at = offset;
        var page = new PmemFsMap();
        if (first != null) page = *first;
        else GetMapPage(at, end - at, &page);
        for (;;)
        {
            var extents = page.Extents;
            for (int i = 0; i < page.Count; i++) all.Add(extents[i]);
            long next = (long)page.NextOffset;
            if (next >= end || next <= at || page.Count == 0) return all;
            at = next;
            GetMapPage(at, end - at, &page);
        }
    }

    private void GetMapPage(long offset, long length, PmemFsMap* page)
    {
        *page = new PmemFsMap { Version = PmemFsMapAbi.Version, Offset = (ulong)offset, Length = (ulong)length };
        if (LibC.ioctl(_file.Fd, PmemFsMapAbi.GetMap, page) != 0)
            throw DirectAccessException.FromErrno($"{_file.Path}: extent map of [{offset}, +{length})", LibC.Errno);
    }

    private void CheckRange(long offset, long length)
    {
        if (offset < 0 || length <= 0 || offset > long.MaxValue - length)
            throw new ArgumentOutOfRangeException(nameof(length), $"[{offset}, +{length}) is not a range");
        long leaseEnd = Length == ToEnd ? long.MaxValue : Offset + Length;
        if (offset < Offset || offset + length > leaseEnd)
            throw new ArgumentOutOfRangeException(nameof(offset), $"[{offset}, +{length}) is outside lease {Id} ([{Offset}, {(Length == ToEnd ? "end" : (Offset + Length).ToString())}))");
        if (_state is LeaseState.Revoked or LeaseState.Released) throw new LeaseRevokedException($"lease {Id} is {_state.ToString().ToLowerInvariant()}");
    }

    private DirectMapping Track(DirectMapping m)
    {
        lock (_lock)
        {
            if (_state is LeaseState.Active or LeaseState.Recalled) { _mappings.Add(m); return m; }
        }
        m.Dispose();
        throw new LeaseRevokedException($"lease {Id} ended while the range was being mapped");
    }

    internal void Forget(DirectMapping m)
    {
        lock (_lock) _mappings.Remove(m);
    }

    internal static ulong AbiLength(long length) => length == ToEnd ? PmemFsLeaseAbi.LengthToEnd : (ulong)length;

    // ---- told by the watcher ----

    /// <summary>The daemon recalled the lease: tell the holder once, and set the cut-off.</summary>
    internal void OnRecalled(DateTimeOffset deadline, TimeSpan remaining)
    {
        lock (_lock)
        {
            if (_state != LeaseState.Active) return;
            _state = LeaseState.Recalled;
            RecallDeadline = deadline;
            // Cut off at 80% of what is left: the holder's last stores are out of the mappings
            // before the daemon lets the layout change go ahead.
            LocalDeadline = DateTimeOffset.UtcNow + remaining * 0.8;
        }
        _recall.Cancel();
        Recalled?.Invoke(this, new LeaseRecalledEventArgs(this, deadline));
    }

    /// <summary>The lease is gone (revoked by the daemon, the mount went away, or the holder was too slow): unmap, give it back.</summary>
    internal void OnRevoked(string because, bool giveBack)
    {
        List<DirectMapping> mappings;
        lock (_lock)
        {
            if (_state is LeaseState.Revoked or LeaseState.Released) return;
            _state = LeaseState.Revoked;
            mappings = [.. _mappings];
        }
        foreach (var m in mappings) m.Unmap(because);
        if (giveBack) GiveBack();
        _file.Ended(this);
        _recall.Cancel();
        Revoked?.Invoke(this, EventArgs.Empty);
    }

    private void GiveBack()
    {
        var r = new PmemFsLeaseRef { Version = PmemFsLeaseAbi.Version, Id = (ulong)Id };
        LibC.ioctl(_file.Fd, PmemFsLeaseAbi.LeaseRelease, &r); // ENOENT: already gone
    }

    /// <summary>Gives the lease back: its mappings are unmapped first (their pointers fault from here on).</summary>
    public void Dispose()
    {
        List<DirectMapping> mappings;
        lock (_lock)
        {
            if (_state is LeaseState.Released) return;
            bool wasGone = _state == LeaseState.Revoked;
            _state = LeaseState.Released;
            mappings = [.. _mappings];
            if (wasGone) mappings.Clear();
        }
        foreach (var m in mappings) m.Unmap("its lease was given back");
        GiveBack();
        _file.Ended(this);
        _recall.Cancel();
    }
}

/// <summary>A pin inside a lease (docs/leases.md): layout changes over it fail with ETXTBSY. Dispose to unpin.</summary>
public sealed class LeasePin : IDisposable
{
    private readonly Lease _lease;
    private bool _disposed;

    internal LeasePin(Lease lease, long id, long offset, long length)
    {
        _lease = lease;
        Id = id;
        Offset = offset;
        Length = length;
    }

    /// <summary>The daemon's id of the pin.</summary>
    public long Id { get; }

    /// <summary>The first pinned byte.</summary>
    public long Offset { get; }

    /// <summary>Pinned bytes.</summary>
    public long Length { get; }

    /// <summary>Unpins (nothing if the lease already ended).</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _lease.Unpin(Id);
    }
}
