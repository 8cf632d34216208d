using System.Runtime.InteropServices;
using PmemFs.Media.Poison;

namespace PmemFs.Media;

/// <summary>
/// A private view of a region that must not be written: stores land in process memory, page by
/// page, and reads see them over the region underneath, which is never touched. Journal replay
/// stores into this so that fsck, and a read-only mount that salvages an image (a pending
/// journal, a damaged primary superblock), see the recovered state while the user's image or
/// device stays exactly as it was. Works over anything, including a device-DAX region that
/// can only be mapped read-only (no private copy-on-write mapping there).
/// </summary>
/// <remarks>
/// Stores come from one thread (replay, fsck); once they stop, reads may come from many.
/// <see cref="PointerAt"/> passes through for pages never stored to and refuses copied ones:
/// their copy has no address that runs on into the next page. Replay stores only into the
/// metadata tables, so file data (the only thing read through addresses) is never copied.
/// </remarks>
public sealed unsafe class CopyOnWriteMedia(IMedia lower, string why) : IMedia
{
    private const int Page = 4096;
    private readonly Dictionary<long, byte[]> _pages = [];

    public IMedia Lower => lower;
    public long Size => lower.Size;
    public StoreGranularity Granularity => lower.Granularity;
    public string Description => $"{lower.Description}, {why}";

    /// <summary>Pages stored to so far (each holds a private copy).</summary>
    public int CopiedPages => _pages.Count;

    /// <summary>Whether stores into <paramref name="media"/> could reach the user's image (it is not already a private copy).</summary>
    public static bool IsNeededFor(IMedia media) => media is not (MemoryMedia or PmemMedia { IsPrivateCopy: true });

    public ReadOnlySpan<byte> Read(long offset, int length)
    {
        Check(offset, length);
        if (length == 0) return [];
        long first = offset / Page, last = (offset + length - 1) / Page;
        if (first == last && _pages.TryGetValue(first, out var page)) return page.AsSpan((int)(offset % Page), length);
        bool any = false;
        for (long p = first; p <= last && !any; p++) any = _pages.ContainsKey(p);
        if (!any) return lower.Read(offset, length);
        var buf = new byte[length];
        for (long p = first; p <= last; p++)
        {
            long start = Math.Max(offset, p * Page), end = Math.Min(offset + length, (p + 1) * Page);
            var dst = buf.AsSpan((int)(start - offset), (int)(end - start));
            if (_pages.TryGetValue(p, out var copied)) copied.AsSpan((int)(start - p * Page), dst.Length).CopyTo(dst);
            else lower.Read(start, dst.Length).CopyTo(dst);
        }
        return buf;
    }

    public byte* PointerAt(long offset) => _pages.ContainsKey(offset / Page)
        ? throw new InvalidOperationException($"{Description}: page at {offset} holds a private copy, which has no stable address")
        : lower.PointerAt(offset);

    public void Write(long offset, ReadOnlySpan<byte> source)
    {
        Check(offset, source.Length);
        while (!source.IsEmpty)
        {
            var dst = Writable(offset, source.Length);
            source[..dst.Length].CopyTo(dst);
            source = source[dst.Length..];
            offset += dst.Length;
        }
    }

    public void WriteNonTemporal(long offset, ReadOnlySpan<byte> source) => Write(offset, source);

    public void Fill(long offset, long length, byte value)
    {
        Check(offset, length);
        while (length > 0)
        {
            var dst = Writable(offset, length);
            dst.Fill(value);
            offset += dst.Length;
            length -= dst.Length;
        }
    }

    public void AtomicOr64(long offset, ulong mask) => Word(offset) |= mask;

    public void AtomicAnd64(long offset, ulong mask) => Word(offset) &= mask;

    /// <summary>Nothing here is ever durable: the view dies with the process.</summary>
    public void Flush(long offset, long length) => Check(offset, length);

    public void Drain() { }

    // Poison is the region's: known bad ranges stay known (and checked); the view cannot change them.
    public IReadOnlyList<BadRange> BadRanges => lower.BadRanges;
    public void CheckReadable(long offset, long length) => lower.CheckReadable(offset, length);
    public long? UnsafeShutdownCount => lower.UnsafeShutdownCount;

    /// <summary>The view does not own the region underneath.</summary>
    public void Dispose() => _pages.Clear();

    /// <summary>The copied page holding <paramref name="offset"/>, from there up to <paramref name="want"/> bytes or the page end.</summary>
    private Span<byte> Writable(long offset, long want)
    {
        long p = offset / Page;
        if (!_pages.TryGetValue(p, out var page))
        {
            int len = (int)Math.Min(Page, Size - p * Page);
            page = lower.Read(p * Page, len).ToArray();
            _pages[p] = page;
        }
        int at = (int)(offset - p * Page);
        return page.AsSpan(at, (int)Math.Min(want, page.Length - at));
    }

    private ref ulong Word(long offset)
    {
        Check(offset, 8);
        if ((offset & 7) != 0) throw new ArgumentException($"offset {offset} is not 8-byte aligned", nameof(offset));
        return ref MemoryMarshal.Cast<byte, ulong>(Writable(offset, 8))[0];
    }

    private void Check(long offset, long length)
    {
        if (offset < 0 || length < 0 || offset > Size || length > Size - offset)
            throw new ArgumentOutOfRangeException(nameof(offset), $"range [{offset}, +{length}) is outside the region of {Size} bytes");
    }
}
