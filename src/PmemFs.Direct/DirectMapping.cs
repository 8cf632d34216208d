using PmemFs.Abi;
using PmemFs.Direct.Native;

namespace PmemFs.Direct;

/// <summary>
/// One virtually contiguous mapping of a file range, placed directly on the region's pages at the
/// file's extents (a libpmem2 virtual memory reservation with one map per extent). Stores go to
/// the media with no system call; <see cref="Persist"/> makes them durable with the region's real
/// granularity (cache-line flushes, or msync where only that is durable).
/// </summary>
/// <remarks>
/// The mapping lives while its lease does. When the lease is given back or revoked the pieces
/// are unmapped (the reservation stays, inaccessible), so a store through a stale pointer faults
/// instead of landing in blocks that may belong to another file by then. The checked calls
/// (<see cref="Store"/>, <see cref="Load"/>, <see cref="Persist"/>, <see cref="GetSpan"/>) throw
/// <see cref="LeaseRevokedException"/> instead; the unmapping waits for calls in progress.
/// </remarks>
public sealed unsafe class DirectMapping : IDisposable
{
    private const int RevokedBit = 1 << 30;

    private readonly Lease _lease;
    private readonly MappedRegion _region;
    private readonly long _mapStart;   // file offset of the reservation's first byte (aligned)
    private readonly long _mapLength;  // reservation bytes
    private nint _reservation;
    private readonly List<nint> _pieces = [];
    private byte* _base;
    private int _users;                // checked calls in progress, plus RevokedBit once gone
    private string? _goneBecause;

    /// <summary>The file offset of <see cref="Pointer"/>.</summary>
    public long FileOffset { get; }

    /// <summary>Bytes from <see cref="Pointer"/>.</summary>
    public long Length { get; }

    /// <summary>Stores are allowed (a write lease, and the range prepared).</summary>
    public bool Writable { get; }

    /// <summary>
    /// The file's byte at <see cref="FileOffset"/>. Valid until the mapping is disposed or its lease
    /// ends; a store through it after that faults. Prefer <see cref="GetSpan"/> or the checked calls.
    /// </summary>
    public byte* Pointer => _base + (FileOffset - _mapStart);

    /// <summary>False once the lease ended or the mapping was disposed.</summary>
    public bool IsValid => (Volatile.Read(ref _users) & RevokedBit) == 0;

    /// <summary>How many pieces (extents of the region) the range is made of.</summary>
    public int Pieces => _pieces.Count;

    internal DirectMapping(Lease lease, MappedRegion region, long offset, long length, bool writable, ReadOnlySpan<PmemFsExtent> extents)
    {
        _lease = lease;
        _region = region;
        FileOffset = offset;
        Length = length;
        Writable = writable;
        long align = region.Info.Alignment;
        _mapStart = offset / align * align;
        _mapLength = (offset + length - _mapStart + align - 1) / align * align;
        try
        {
            nint rsv;
            int rc = LibPmem2.pmem2_vm_reservation_new(&rsv, null, (nuint)_mapLength);
            if (rc != 0) throw new DirectAccessException($"reserving {_mapLength} bytes of address space: {LibPmem2.Error(rc)}");
            _reservation = rsv;
            _base = (byte*)LibPmem2.pmem2_vm_reservation_get_address(rsv);
            foreach (var e in extents) Place(e);
        }
        catch
        {
            Unmap("its creation failed");
            if (_reservation != 0)
            {
                nint r = _reservation;
                _ = LibPmem2.pmem2_vm_reservation_delete(&r);
            }
            throw;
        }
    }

    /// <summary>One extent: the region's pages for written data, zero pages (read-only) for holes and unwritten blocks.</summary>
    private void Place(in PmemFsExtent e)
    {
        long start = Math.Max((long)e.FileOffset, _mapStart);
        long end = Math.Min((long)(e.FileOffset + e.Length), _mapStart + _mapLength);
        if (end <= start) return;
        long at = start - _mapStart;
        // Known poison: a load there would be a machine check (SIGBUS), as reads through the mount are EIO.
        if (e.State == PmemFsMapAbi.ExtentPoisoned)
            throw new DirectAccessException($"[{start}, {end}) of the file is poisoned (bad media; reads through the mount get EIO there): rewrite, zero or punch it through the mount first", 5);
        bool data = e.State is PmemFsMapAbi.ExtentWritten or PmemFsMapAbi.ExtentShared;
        if (!data)
        {
            if (Writable) throw new DirectAccessException($"[{start}, {end}) of the file is not prepared for stores (state {e.State}); prepare it first");
            // Holes and unwritten blocks read as zeros, as through the mount.
            if (LibC.mmap(_base + at, (nuint)(end - start), LibC.PROT_READ, LibC.MAP_PRIVATE | LibC.MAP_ANONYMOUS | LibC.MAP_FIXED | LibC.MAP_NORESERVE, -1, 0) == (void*)-1)
                throw DirectAccessException.FromErrno("mapping zero pages over a hole", LibC.Errno);
            return;
        }
        if (Writable && e.State == PmemFsMapAbi.ExtentShared)
            throw new DirectAccessException($"[{start}, {end}) of the file shares its blocks with another file; prepare it first");
        long phys = (long)e.PhysOffset + (start - (long)e.FileOffset);
        long align = _region.Info.Alignment;
        if (phys % align != 0 || (end - start) % align != 0)
            throw new DirectAccessException($"the extent at file offset {start} lies at region offset {phys}, {end - start} bytes: not a multiple of the region's mapping alignment {align} (device DAX maps only whole aligned pages)");
        _pieces.Add(_region.MapPiece(phys, end - start, Writable && _region.Writable, _reservation, at));
    }

    /// <summary>A span over [<paramref name="offset"/>, +<paramref name="length"/>) of the mapping (offsets from <see cref="FileOffset"/>).</summary>
    /// <exception cref="LeaseRevokedException">the lease ended.</exception>
    public Span<byte> GetSpan(long offset, int length)
    {
        CheckRange(offset, length);
        if (!IsValid) throw Gone();
        return new Span<byte>(Pointer + offset, length);
    }

    /// <summary>Copies <paramref name="data"/> to <paramref name="offset"/> and makes it durable (libpmem2's memcpy: non-temporal stores where that is faster).</summary>
    public void Store(long offset, ReadOnlySpan<byte> data)
    {
        if (!Writable) throw new InvalidOperationException("the mapping is read-only (a read lease, or mapped without prepare)");
        CheckRange(offset, data.Length);
        Enter();
        try
        {
            fixed (byte* src = data) _region.MemcpyPersist(Pointer + offset, src, (nuint)data.Length, 0);
        }
        finally { Exit(); }
    }

    /// <summary>Copies [<paramref name="offset"/>, +into.Length) of the mapping into <paramref name="into"/>.</summary>
    public void Load(long offset, Span<byte> into)
    {
        CheckRange(offset, into.Length);
        Enter();
        try { new ReadOnlySpan<byte>(Pointer + offset, into.Length).CopyTo(into); }
        finally { Exit(); }
    }

    /// <summary>Makes stores to [<paramref name="offset"/>, +<paramref name="length"/>) durable: flush and fence (or msync at page granularity).</summary>
    public void Persist(long offset, long length) => OverRange(offset, length, _region.Persist);

    /// <summary>Flushes without the fence; <see cref="Drain"/> once after several flushes is one persist.</summary>
    public void Flush(long offset, long length) => OverRange(offset, length, _region.Flush);

    /// <summary>Runs a libpmem2 range function over part of the mapping while it is surely mapped.</summary>
    private void OverRange(long offset, long length, delegate* unmanaged<void*, nuint, void> fn)
    {
        CheckRange(offset, length);
        if (length == 0) return;
        Enter();
        try { fn(Pointer + offset, (nuint)length); }
        finally { Exit(); }
    }

    /// <summary>Waits for the flushes issued so far (a store fence).</summary>
    public void Drain() => _region.Drain();

    /// <summary>
    /// Persists the range and makes it visible to readers through the mount that have the file
    /// open now (the daemon drops the kernel's cached pages of it): one round trip to the daemon.
    /// A reader that opens the file later, or reads after the lease ends, sees the stores anyway.
    /// </summary>
    public void Publish(long offset, long length)
    {
        Persist(offset, length);
        _lease.Prepare(FileOffset + offset, length, extendSize: false, into: null);
    }

    private void CheckRange(long offset, long length)
    {
        if (offset < 0 || length < 0 || offset > Length - length)
            throw new ArgumentOutOfRangeException(nameof(offset), $"[{offset}, +{length}) is outside the mapping's {Length} bytes");
    }

    private void Enter()
    {
        if ((Interlocked.Increment(ref _users) & RevokedBit) != 0)
        {
            Interlocked.Decrement(ref _users);
            throw Gone();
        }
    }

    private void Exit() => Interlocked.Decrement(ref _users);

    private LeaseRevokedException Gone() => new($"the mapping of [{FileOffset}, +{Length}) is gone: {_goneBecause ?? "its lease ended"}");

    /// <summary>
    /// Unmaps every piece once the checked calls in progress have returned; the address range stays
    /// reserved and inaccessible until <see cref="Dispose"/>, so a stale pointer faults rather than
    /// reaching whatever might be mapped there next. Called by the lease when it ends.
    /// </summary>
    internal void Unmap(string because)
    {
        _goneBecause ??= because;
        Interlocked.Or(ref _users, RevokedBit);
        var spin = new SpinWait();
        while ((Volatile.Read(ref _users) & ~RevokedBit) != 0) spin.SpinOnce();
        lock (_pieces)
        {
            if (_pieces.Count == 0 && _base == null) return;
            for (int i = 0; i < _pieces.Count; i++)
            {
                nint m = _pieces[i];
                MappedRegion.Unmap(ref m);
            }
            _pieces.Clear();
            // Zero pages over holes are not libpmem2's: cover the whole range again.
            if (_base != null)
                LibC.mmap(_base, (nuint)_mapLength, LibC.PROT_NONE, LibC.MAP_PRIVATE | LibC.MAP_ANONYMOUS | LibC.MAP_FIXED | LibC.MAP_NORESERVE, -1, 0);
        }
    }

    /// <summary>Unmaps the range and gives its address space back; the lease stays.</summary>
    public void Dispose()
    {
        Unmap("it was disposed");
        lock (_pieces)
        {
            if (_reservation != 0)
            {
                nint r = _reservation;
                _ = LibPmem2.pmem2_vm_reservation_delete(&r);
                _reservation = 0;
                _base = null;
            }
        }
        _lease.Forget(this);
    }
}
