using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using PmemFs.Media.Access;
using PmemFs.Media.Native;
using PmemFs.Media.Poison;
using static PmemFs.Media.Native.LibPmem2;

namespace PmemFs.Media;

/// <summary>
/// A persistent region mapped through libpmem2: an emulated-pmem image file (usually on
/// /dev/shm) or a device-DAX character device (/dev/daxX.Y).
/// </summary>
/// <remarks>
/// <para>The flush strategy is libpmem2's, chosen once at map time: page granularity (a
/// plain file: flush = msync), cache-line (device DAX, or a file with
/// PMEM2_FORCE_GRANULARITY=CACHE_LINE in the environment: flush = clwb) or byte (eADR).
/// libpmem2 reads PMEM2_FORCE_GRANULARITY with getenv() at each map, so it must be in the
/// native environment (Environment.SetEnvironmentVariable does not reach it).</para>
/// <para>A read-only media is a private copy-on-write mapping: stores land in this
/// process's copy and never reach the file, so fsck may repair in memory and show the
/// result. Flush and Drain do nothing then. Device DAX cannot be mapped privately; a
/// read-only device is mapped shared without write permission and refuses stores.</para>
/// <para>Not safe to dispose while other threads use it.</para>
/// </remarks>
public sealed unsafe class PmemMedia : IMedia
{
    /// <summary>Smallest image <see cref="Create"/> accepts.</summary>
    public const long MinimumSize = 1L << 20;

    /// <summary><see cref="Create"/> sizes must be a multiple of this.</summary>
    public const long SizeAlignment = 4096;

    private readonly SafeFileHandle _file;
    private readonly Pmem2SourceHandle _source;
    private readonly Pmem2MapHandle _map;
    private byte* _base;
    private readonly long _size;
    private readonly bool _writable;
    private readonly bool _flushes;
    private readonly uint _storeFlags;
    private readonly uint _nonTemporalFlags;
    private readonly delegate* unmanaged<void*, nuint, void> _flush;
    private readonly delegate* unmanaged<void> _drain;
    private readonly delegate* unmanaged<void*, void*, nuint, uint, void*> _memcpy;
    private readonly delegate* unmanaged<void*, int, nuint, uint, void*> _memset;

    private PmemMedia(string path, SafeFileHandle file, Pmem2SourceHandle source, Pmem2MapHandle map,
        bool isDeviceDax, bool readOnly, bool privateCopy)
    {
        Path = path;
        _file = file;
        _source = source;
        _map = map;
        IsDeviceDax = isDeviceDax;
        IsReadOnly = readOnly;
        IsPrivateCopy = privateCopy;
        _base = (byte*)pmem2_map_get_address(map);
        _size = checked((long)pmem2_map_get_size(map));
        Granularity = (StoreGranularity)pmem2_map_get_store_granularity(map);
        _writable = !readOnly || privateCopy;
        _flushes = !readOnly;
        _flush = pmem2_get_flush_fn(map);
        _drain = pmem2_get_drain_fn(map);
        _memcpy = pmem2_get_memcpy_fn(map);
        _memset = pmem2_get_memset_fn(map);

        // IMedia says stores are not durable until Flush, and the engine flushes every range it
        // stores to (the crash simulator checks that it does). So plain stores only store: told
        // anything but NOFLUSH, libpmem2's memcpy/memset flush the range themselves (msync on page
        // granularity, measured with strace; clwb per line on cache-line granularity), and the
        // caller's Flush would do it all again. Large non-temporal copies bypass the caches on
        // cache-line granularity (the caller's Flush of lines not in the cache is then cheap).
        bool page = Granularity == StoreGranularity.Page;
        _storeFlags = PMEM2_F_MEM_NOFLUSH;
        _nonTemporalFlags = page ? PMEM2_F_MEM_NOFLUSH : PMEM2_F_MEM_NONTEMPORAL | PMEM2_F_MEM_NODRAIN;

        string kind = isDeviceDax ? "device DAX" : "emulated pmem file";
        string view = privateCopy ? ", private copy-on-write view" : readOnly ? ", read-only" : "";
        Description = $"{path} ({kind}, {_size} bytes, {Granularity.ToString().ToLowerInvariant()} granularity{view})";
    }

    /// <summary>
    /// Maps an existing image file or device-DAX device; the region is the whole file or device.
    /// <paramref name="readOnly"/> opens the file read-only (no write permission needed) and maps
    /// a private copy: stores go to that copy only. <paramref name="followSymlinks"/> false refuses
    /// a symbolic link (for callers that examined the path and found none).
    /// </summary>
    public static PmemMedia Open(string path, bool readOnly = false, bool followSymlinks = true)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        SafeFileHandle file = RegionFile.Open(path, writable: !readOnly, followSymlinks);
        try
        {
            return Map(path, file, readOnly);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Creates an image file of exactly <paramref name="size"/> bytes (or extends an existing
    /// smaller one), reserves all its blocks, and maps it. Refuses to shrink a larger file. A new
    /// file is created with mode 0600 whatever the umask; an existing one keeps owner and mode.
    /// </summary>
    public static PmemMedia Create(string path, long size, bool followSymlinks = true)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (size < MinimumSize || size % SizeAlignment != 0)
            throw new ArgumentException(
                $"image size {size} is invalid: it must be at least {MinimumSize} bytes (1 MiB) and a multiple of {SizeAlignment}",
                nameof(size));

        // A new image is private (0600): it holds every file's bytes (docs/security.md).
        bool existed = System.IO.Path.Exists(path) || new FileInfo(path).LinkTarget is not null;
        SafeFileHandle file = existed ? RegionFile.Open(path, writable: true, followSymlinks) : RegionFile.CreatePrivate(path);
        try
        {
            int fd = (int)file.DangerousGetHandle();
            if (!IsRegularFile(path, fd))
                throw new MediaException(path, "cannot create an image here: not a regular file (use Open for a device-DAX device)");
            long current = RandomAccess.GetLength(file);
            if (current > size)
                throw new MediaException(path, $"is already {current} bytes, larger than the requested {size}; refusing to shrink an image");

            // Reserve every block now: a store into a hole of a full tmpfs is a SIGBUS, which
            // no caller can handle; ENOSPC here is a clear error instead.
            int err = LibC.posix_fallocate(fd, 0, size);
            if (err != 0)
                throw new MediaException(path, $"cannot reserve {size} bytes: {Marshal.GetPInvokeErrorMessage(err)}");
            return Map(path, file, readOnly: false);
        }
        catch
        {
            file.Dispose();
            if (!existed) TryDelete(path);
            throw;
        }
    }

    /// <summary>The image file or device path.</summary>
    public string Path { get; }

    /// <summary>Who can open the region directly, read from the open file (not the path, which could be swapped).</summary>
    public RegionAccess Access => RegionAccess.Of(_file, Path);

    /// <summary>Whether the region is a device-DAX character device (otherwise a regular file).</summary>
    public bool IsDeviceDax { get; }

    /// <summary>Opened read-only: nothing this object does changes the file or device.</summary>
    public bool IsReadOnly { get; }

    /// <summary>Stores go to a private copy-on-write view (read-only opening of a file).</summary>
    public bool IsPrivateCopy { get; }

    public long Size => _size;
    public StoreGranularity Granularity { get; }
    public string Description { get; }

    /// <summary>
    /// The device's unsafe shutdown count, or null when the source has none (regular files).
    /// Throws <see cref="MediaException"/> when the device should have one but it cannot be read.
    /// </summary>
    public long? UnsafeShutdownCount
    {
        get
        {
            ThrowIfDisposed();
            ulong usc;
            int rc = pmem2_source_device_usc(_source, &usc);
            if (rc == PMEM2_E_NOSUPP) return null;
            ThrowOnError(rc, "reading the unsafe shutdown count");
            return (long)usc;
        }
    }

    private BadRange[]? _badRanges;

    /// <summary>The device's bad-block list (libpmem2), read once and kept as poison is cleared; empty where the kernel keeps none (tmpfs).</summary>
    public IReadOnlyList<BadRange> BadRanges => Volatile.Read(ref _badRanges) ?? LoadBadRanges();

    private BadRange[] LoadBadRanges()
    {
        BadRange[] list;
        try { list = BadRange.Normalize(ReadBadBlocks().Select(b => new BadRange(b.Offset, b.Length))); }
        catch (MediaException) when (!IsDeviceDax) { list = []; }
        Volatile.Write(ref _badRanges, list);
        return list;
    }

    public void CheckReadable(long offset, long length)
    {
        var bad = (BadRange[])BadRanges;
        if (bad.Length > 0 && BadRange.FirstOverlap(bad, offset, length) is { } hit) throw new MediaPoisonException(hit);
    }

    public bool CanClearPoison => !IsReadOnly;

    /// <summary>Clears the device's poison in the range (libpmem2), then forgets it.</summary>
    public void ClearPoison(long offset, long length)
    {
        foreach (var r in BadRanges)
        {
            if (!r.Overlaps(offset, length)) continue;
            long s = Math.Max(r.Offset, offset), e = Math.Min(r.End, offset + length);
            ClearBadBlock(s, e - s);
        }
        Volatile.Write(ref _badRanges, BadRange.Subtract(BadRanges, offset, length));
    }

    /// <summary>Known bad (poisoned) ranges, in bytes from the start of the region. Empty for files.</summary>
    public IReadOnlyList<(long Offset, long Length)> ReadBadBlocks()
    {
        ThrowIfDisposed();
        var result = new List<(long Offset, long Length)>();
        int rc = pmem2_badblock_context_new(out Pmem2BadBlockContextHandle context, _source);
        using (context)
        {
            if (rc == PMEM2_E_NOSUPP && !IsDeviceDax) return result;
            ThrowOnError(rc, "opening the bad block list");
            while (true)
            {
                pmem2_badblock bb;
                rc = pmem2_badblock_next(context, &bb);
                if (rc == PMEM2_E_NO_BAD_BLOCK_FOUND) break;
                ThrowOnError(rc, "reading the bad block list");
                result.Add(((long)bb.offset, (long)bb.length));
            }
        }
        return result;
    }

    /// <summary>
    /// Clears a bad range. On a device this clears the poison (the range then reads zeros); on
    /// a regular file libpmem2 punches the range out and reallocates it, so it also reads
    /// zeros afterwards. Either way the old contents are gone.
    /// </summary>
    public void ClearBadBlock(long offset, long length)
    {
        Check(offset, length);
        if (IsReadOnly) throw new InvalidOperationException($"{Path} is opened read-only; clearing a bad block would change it");
        if (length == 0) return;
        int rc = pmem2_badblock_context_new(out Pmem2BadBlockContextHandle context, _source);
        using (context)
        {
            if (rc == PMEM2_E_NOSUPP && !IsDeviceDax) return;
            ThrowOnError(rc, "opening the bad block list");
            var bb = new pmem2_badblock { offset = (nuint)offset, length = (nuint)length };
            ThrowOnError(pmem2_badblock_clear(context, &bb), $"clearing bad block [{offset}, +{length})");
        }
    }

    /// <summary>
    /// Flushes the range beyond the persistence domain's write-pending queues (pmem2_deep_flush):
    /// for when the stores must survive even a failure of the platform's ADR.
    /// </summary>
    public void DeepFlush(long offset, long length)
    {
        Check(offset, length);
        if (!_flushes || length == 0) return;
        ThrowOnError(pmem2_deep_flush(_map, _base + offset, (nuint)length), $"deep flush of [{offset}, +{length})");
    }

    public ReadOnlySpan<byte> Read(long offset, int length)
    {
        Check(offset, length);
        return new ReadOnlySpan<byte>(_base + offset, length);
    }

    public byte* PointerAt(long offset)
    {
        Check(offset, 0);
        return _base + offset;
    }

    public void Write(long offset, ReadOnlySpan<byte> source) => Copy(offset, source, _storeFlags);

    public void WriteNonTemporal(long offset, ReadOnlySpan<byte> source) => Copy(offset, source, _nonTemporalFlags);

    public void Fill(long offset, long length, byte value)
    {
        CheckStore(offset, length);
        if (length == 0) return;
        _memset(_base + offset, value, (nuint)length, _storeFlags);
    }

    public void AtomicOr64(long offset, ulong mask)
    {
        CheckWord(offset);
        Interlocked.Or(ref *(ulong*)(_base + offset), mask);
    }

    public void AtomicAnd64(long offset, ulong mask)
    {
        CheckWord(offset);
        Interlocked.And(ref *(ulong*)(_base + offset), mask);
    }

    public void Flush(long offset, long length)
    {
        Check(offset, length);
        if (!_flushes || length == 0) return;
        _flush(_base + offset, (nuint)length);
    }

    public void Drain()
    {
        ThrowIfDisposed();
        if (_flushes) _drain();
    }

    public void Dispose()
    {
        if (_base == null) return;
        _base = null;
        // Unmap first; the source and the fd are only needed while the map exists.
        _map.Dispose();
        _source.Dispose();
        _file.Dispose();
    }

    public override string ToString() => Description;

    private void Copy(long offset, ReadOnlySpan<byte> source, uint flags)
    {
        CheckStore(offset, source.Length);
        if (source.IsEmpty) return;
        fixed (byte* src = source)
            _memcpy(_base + offset, src, (nuint)source.Length, flags);
    }

    private static bool IsRegularFile(string path, int fd)
    {
        int mode = LibC.FileMode(fd);
        if (mode < 0) throw new MediaException(path, $"cannot stat: {Marshal.GetPInvokeErrorMessage(-mode)}");
        return (mode & LibC.S_IFMT) == LibC.S_IFREG;
    }

    private static PmemMedia Map(string path, SafeFileHandle file, bool readOnly)
    {
        int fd = (int)file.DangerousGetHandle();
        int mode = LibC.FileMode(fd);
        if (mode < 0) throw new MediaException(path, $"cannot stat: {Marshal.GetPInvokeErrorMessage(-mode)}");
        bool isDeviceDax = (mode & LibC.S_IFMT) == LibC.S_IFCHR;
        if (!isDeviceDax && (mode & LibC.S_IFMT) != LibC.S_IFREG)
            throw new MediaException(path, "is neither a regular file nor a device-DAX character device");

        int rc = pmem2_source_from_fd(out Pmem2SourceHandle source, fd);
        Pmem2MapHandle? map = null;
        try
        {
            Check(path, rc, isDeviceDax ? "not usable as pmem (is it a device-DAX device?)" : "not usable as pmem");
            nuint size;
            Check(path, pmem2_source_size(source, &size), "cannot read the size");
            if (size == 0) throw new MediaException(path, "is empty (size 0); create the image with a size first");

            Check(path, pmem2_config_new(out Pmem2ConfigHandle config), "pmem2_config_new failed");
            using (config)
            {
                // Ask for the weakest guarantee and take what the mapping can do; the caller reads
                // Granularity. Asking for more fails on plain files (no MAP_SYNC).
                Check(path, pmem2_config_set_required_store_granularity(config, PMEM2_GRANULARITY_PAGE), "cannot set granularity");
                bool privateCopy = readOnly;
                if (readOnly)
                    Check(path, pmem2_config_set_sharing(config, PMEM2_PRIVATE), "cannot request a private mapping");
                rc = pmem2_map_new(out map, config, source);
                if (rc == PMEM2_E_SRC_DEVDAX_PRIVATE)
                {
                    // Device DAX has no page cache to copy on write: map it shared, without write permission.
                    map.Dispose();
                    privateCopy = false;
                    Check(path, pmem2_config_set_sharing(config, PMEM2_SHARED), "cannot request a shared mapping");
                    Check(path, pmem2_config_set_protection(config, PMEM2_PROT_READ), "cannot request a read-only mapping");
                    rc = pmem2_map_new(out map, config, source);
                }
                Check(path, rc, "cannot map");
                return new PmemMedia(path, file, source, map, isDeviceDax, readOnly, privateCopy);
            }
        }
        catch
        {
            map?.Dispose();
            source.Dispose();
            throw;
        }
    }

    private static void Check(string path, int rc, string what)
    {
        if (rc != 0) throw Error(path, rc, what);
    }

    private void ThrowOnError(int rc, string what)
    {
        if (rc != 0) throw Error(Path, rc, what);
    }

    private static MediaException Error(string path, int rc, string what)
    {
        // Read the message first: libpmem2 keeps it per thread until the next failing call.
        string message = LastErrorMessage();
        string detail = message.Length > 0 ? $"{message} ({ErrorName(rc)}, {rc})" : $"{ErrorName(rc)} ({rc})";
        return new MediaException(path, $"{what}: {detail}", rc);
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // Best effort: the original error is the one worth reporting.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_base == null, this);

    private void Check(long offset, long length)
    {
        ThrowIfDisposed();
        MediaBounds.Check(offset, length, _size);
    }

    private void CheckStore(long offset, long length)
    {
        Check(offset, length);
        if (!_writable)
            throw new NotSupportedException($"{Path} is mapped read-only (a device-DAX device cannot be mapped copy-on-write)");
    }

    private void CheckWord(long offset)
    {
        CheckStore(offset, 8);
        if ((offset & 7) != 0) throw new ArgumentException($"offset {offset} is not 8-byte aligned", nameof(offset));
    }
}
