using System.Runtime.InteropServices;
using PmemFs.Abi;
using PmemFs.Direct.Native;

namespace PmemFs.Direct;

/// <summary>
/// The pmem region of a mount, opened with the application's own permissions (the region is the
/// trust boundary, as a pNFS block device is) and checked to be the mount's: its size and the
/// UUID bytes the daemon names. Holds the libpmem2 source that every mapping is made from and the
/// persist, flush and drain functions for the region's granularity.
/// </summary>
internal sealed unsafe class MappedRegion : IDisposable
{
    private const string ForceGranularity = "PMEM2_FORCE_GRANULARITY";
    private static readonly Lock EnvironmentLock = new();

    private readonly int _fd;
    private nint _source;
    private nint _probe; // a small map of the region's start: the identity check, and the functions below
    private readonly bool _forceCacheLine;

    public RegionInfo Info { get; }
    public bool Writable { get; }
    public delegate* unmanaged<void*, nuint, void> Persist { get; }
    public delegate* unmanaged<void*, nuint, void> Flush { get; }
    public delegate* unmanaged<void> Drain { get; }
    public delegate* unmanaged<void*, void*, nuint, uint, void*> MemcpyPersist { get; }

    private MappedRegion(in PmemFsRegion reply, int fd, bool writable)
    {
        _fd = fd;
        Writable = writable;
        string path = reply.PathString;
        try
        {
            nint src;
            Check(LibPmem2.pmem2_source_from_fd(&src, fd), $"region {path}");
            _source = src;
            nuint size, alignment;
            Check(LibPmem2.pmem2_source_size(_source, &size), $"region {path}: size");
            Check(LibPmem2.pmem2_source_alignment(_source, &alignment), $"region {path}: alignment");
            if ((ulong)size != reply.RegionSize)
                throw new DirectAccessException($"{path} is {size} bytes but the mount's region is {reply.RegionSize}: it is not the region this mount serves");

            // An image in memory (tmpfs) is mapped by the daemon with cache-line granularity, which
            // is what it emulates; libpmem2 would say "page" (msync) for it in this process. Follow
            // the daemon, as it decides what durable means for its region (docs/direct.md).
            var daemon = (StoreGranularity)reply.Granularity;
            _forceCacheLine = reply.Kind == PmemFsRegionAbi.KindFile && daemon != StoreGranularity.Page;

            _probe = MapPiece(0, (long)alignment, writable: false, reservation: 0, reservationOffset: 0);
            var uuid = new Guid(reply.Uuid);
            if (reply.UuidOffset + 16 > (ulong)alignment
                || !new ReadOnlySpan<byte>((byte*)LibPmem2.pmem2_map_get_address(_probe) + reply.UuidOffset, 16).SequenceEqual(reply.Uuid))
                throw new DirectAccessException($"{path} does not hold the file system {uuid} this mount serves (was the path replaced?)");
            var granularity = (StoreGranularity)LibPmem2.pmem2_map_get_store_granularity(_probe);
            Persist = LibPmem2.pmem2_get_persist_fn(_probe);
            Flush = LibPmem2.pmem2_get_flush_fn(_probe);
            Drain = LibPmem2.pmem2_get_drain_fn(_probe);
            MemcpyPersist = LibPmem2.pmem2_get_memcpy_fn(_probe);
            Info = new RegionInfo(path, reply.Kind == PmemFsRegionAbi.KindDeviceDax, (long)size, uuid, daemon, granularity, (long)alignment);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Asks the mount (through <paramref name="mountFd"/>) which region it serves and opens it.</summary>
    public static MappedRegion Open(int mountFd, string file, bool writable)
    {
        var args = new PmemFsRegion { Version = PmemFsRegionAbi.Version };
        if (LibC.ioctl(mountFd, PmemFsRegionAbi.Region, &args) != 0)
        {
            int e = LibC.Errno;
            throw DirectAccessException.FromErrno($"{file}: cannot learn the mount's region", e,
                e == 25 ? "not a file of a PmemFs mount with direct access" : null);
        }
        string path = args.PathString;
        int fd = LibC.open(path, (writable ? LibC.O_RDWR : LibC.O_RDONLY) | LibC.O_CLOEXEC, 0);
        if (fd < 0)
        {
            int e = LibC.Errno;
            throw DirectAccessException.FromErrno($"cannot open the region {path} of {file} for direct access", e,
                e is 13 or 1 ? $"direct access needs {(writable ? "read and write" : "read")} permission on the region itself, not only on the file (docs/direct.md)" : null);
        }
        return new MappedRegion(args, fd, writable); // closes fd itself if it throws
    }

    /// <summary>
    /// Maps [<paramref name="regionOffset"/>, +<paramref name="length"/>) of the region, at
    /// <paramref name="reservationOffset"/> of <paramref name="reservation"/> (0: anywhere).
    /// </summary>
    public nint MapPiece(long regionOffset, long length, bool writable, nint reservation, long reservationOffset)
    {
        nint cfg;
        Check(LibPmem2.pmem2_config_new(&cfg), "pmem2_config_new");
        try
        {
            Check(LibPmem2.pmem2_config_set_required_store_granularity(cfg, LibPmem2.PMEM2_GRANULARITY_PAGE), "granularity");
            Check(LibPmem2.pmem2_config_set_offset(cfg, (nuint)regionOffset), $"region offset {regionOffset}");
            Check(LibPmem2.pmem2_config_set_length(cfg, (nuint)length), $"length {length}");
            Check(LibPmem2.pmem2_config_set_protection(cfg, LibPmem2.PMEM2_PROT_READ | (writable ? LibPmem2.PMEM2_PROT_WRITE : 0)), "protection");
            if (reservation != 0)
                Check(LibPmem2.pmem2_config_set_vm_reservation(cfg, reservation, (nuint)reservationOffset), $"reservation offset {reservationOffset}");
            nint map;
            int rc;
            // libpmem2 reads the variable when it maps: set only around the call, and only if the
            // application has not set it itself.
            lock (EnvironmentLock)
            {
                bool set = _forceCacheLine && LibC.getenv(ForceGranularity) == 0 && LibC.setenv(ForceGranularity, "CACHE_LINE", 0) == 0;
                try { rc = LibPmem2.pmem2_map_new(&map, cfg, _source); }
                finally { if (set) LibC.unsetenv(ForceGranularity); }
            }
            Check(rc, $"mapping [{regionOffset}, +{length}) of the region");
            return map;
        }
        finally { _ = LibPmem2.pmem2_config_delete(&cfg); }
    }

    public static void Unmap(ref nint map)
    {
        if (map == 0) return;
        nint m = map;
        _ = LibPmem2.pmem2_map_delete(&m);
        map = 0;
    }

    private static void Check(int rc, string what)
    {
        if (rc != 0) throw new DirectAccessException($"{what}: {LibPmem2.Error(rc)}", rc < 0 && rc > -4096 ? -rc : 0);
    }

    public void Dispose()
    {
        Unmap(ref _probe);
        if (_source != 0)
        {
            nint s = _source;
            _ = LibPmem2.pmem2_source_delete(&s);
            _source = 0;
        }
        if (_fd >= 0) LibC.close(_fd);
    }
}
