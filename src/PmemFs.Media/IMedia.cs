using PmemFs.Media.Poison;

namespace PmemFs.Media;

/// <summary>
/// A byte-addressable persistent region. The only layer that makes stores durable.
/// </summary>
/// <remarks>
/// Durability model (the libpmem2 one): <see cref="Write"/> and friends are ordinary stores
/// that may sit in CPU caches; <see cref="Flush"/> starts write-back of the cache lines
/// covering a range; <see cref="Drain"/> waits until every flush issued so far has reached
/// the persistence domain. Callers flush as often as they like and drain once per commit
/// point. All writes go through this interface (never through a span obtained from
/// <see cref="Read"/>), so that an instrumenting decorator can see every store.
/// </remarks>
public interface IMedia : IDisposable
{
    /// <summary>Size of the region in bytes.</summary>
    long Size { get; }

    /// <summary>Finest granularity at which stores become persistent.</summary>
    StoreGranularity Granularity { get; }

    /// <summary>Human-readable description of where the region lives (path, kind).</summary>
    string Description { get; }

    /// <summary>A read-only view of the region; valid until the media is disposed.</summary>
    ReadOnlySpan<byte> Read(long offset, int length);

    /// <summary>Address of a byte of the mapping, for zero-copy replies. Never write through it.</summary>
    unsafe byte* PointerAt(long offset);

    /// <summary>Stores <paramref name="source"/> at <paramref name="offset"/> (not yet durable).</summary>
    void Write(long offset, ReadOnlySpan<byte> source);

    /// <summary>
    /// Stores <paramref name="source"/> bypassing the CPU caches where the platform can (large
    /// copies); still needs <see cref="Drain"/> (and, on page-granular media, <see cref="Flush"/>).
    /// </summary>
    void WriteNonTemporal(long offset, ReadOnlySpan<byte> source);

    /// <summary>Stores <paramref name="length"/> copies of <paramref name="value"/>.</summary>
    void Fill(long offset, long length, byte value);

    /// <summary>Atomically ORs <paramref name="mask"/> into the aligned 64-bit word at <paramref name="offset"/>.</summary>
    void AtomicOr64(long offset, ulong mask);

    /// <summary>Atomically ANDs <paramref name="mask"/> into the aligned 64-bit word at <paramref name="offset"/>.</summary>
    void AtomicAnd64(long offset, ulong mask);

    /// <summary>Starts write-back of the cache lines (or pages) covering the range.</summary>
    void Flush(long offset, long length);

    /// <summary>Waits until all previously flushed ranges are persistent (a fence).</summary>
    void Drain();

    // ---- media errors (docs/health.md). Defaults: media that never fails (memory). ----

    /// <summary>
    /// Known poisoned ranges, sorted and merged: a device's bad-block list (libpmem2), or the
    /// injected list of an emulated region. A load from one would raise a machine check.
    /// </summary>
    IReadOnlyList<BadRange> BadRanges => [];

    /// <summary>
    /// Throws <see cref="MediaPoisonException"/> when a load from [offset, +length) would touch a
    /// known bad range; callers ask before loading through <see cref="PointerAt"/> (which cannot
    /// check: it has no length). <see cref="Read"/> asks by itself on media that can fail.
    /// </summary>
    void CheckReadable(long offset, long length) { }

    /// <summary>Whether <see cref="ClearPoison"/> works here (a writable device or emulated region).</summary>
    bool CanClearPoison => false;

    /// <summary>
    /// Clears the poison of every bad range overlapping [offset, +length) within that range (the
    /// rest of a larger bad range stays bad): those bytes read as zeros afterwards, and stores to
    /// them stay. Durable when it returns. Throws <see cref="NotSupportedException"/> where the
    /// media cannot, <see cref="MediaException"/> when the device refuses.
    /// </summary>
    void ClearPoison(long offset, long length) => throw new NotSupportedException($"{Description}: this media cannot clear poison");

    /// <summary>Whether <see cref="InjectPoison"/> works here (emulated regions only: real poison comes from the hardware).</summary>
    bool CanInjectPoison => false;

    /// <summary>Marks [offset, +length) poisoned, durably, as a failing device would (emulated regions, for tests and drills).</summary>
    void InjectPoison(long offset, long length) => throw new NotSupportedException($"{Description}: poison can only be injected into an emulated region");

    /// <summary>
    /// The device's unsafe shutdown count (how often it lost power without flushing its
    /// write-pending queues), or null where there is none.
    /// </summary>
    long? UnsafeShutdownCount => null;
}

/// <summary>Store granularity, as libpmem2 reports it (values match enum pmem2_granularity).</summary>
public enum StoreGranularity
{
    /// <summary>Stores are persistent as soon as they are globally visible (eADR).</summary>
    Byte = 0,

    /// <summary>Cache lines must be flushed (clwb/clflushopt) to be persistent.</summary>
    CacheLine = 1,

    /// <summary>Pages must be written back with msync to be persistent.</summary>
    Page = 2,
}

public static class MediaExtensions
{
    /// <summary>Flush then drain: the range is persistent when this returns.</summary>
    public static void Persist(this IMedia media, long offset, long length)
    {
        media.Flush(offset, length);
        media.Drain();
    }

    /// <summary>Whether user-space cache flushes alone make stores durable (no msync needed).</summary>
    public static bool UserSpaceFlushSuffices(this IMedia media) => media.Granularity != StoreGranularity.Page;

    /// <summary>Reads a little-endian 64-bit value.</summary>
    public static ulong ReadUInt64(this IMedia media, long offset) =>
        System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(media.Read(offset, 8));
}
