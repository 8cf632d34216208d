using System.Runtime.InteropServices;
namespace PmemFs.Media;

/// <summary>
/// A media whose stores land in process memory, page by page, over a media that must not be
/// written: a shared mapping of the user's image, or a device-DAX region that can only be
/// mapped read-only (no private copy-on-write there). Journal replay stores into this, so fsck
/// sees the recovered state while the region itself is never touched; a read-only mount that
/// must replay first (salvage) does the same.
/// </summary>
/// <remarks>Single-threaded, like fsck. Pages are copied on first store; reads that touch no
/// copied page go straight to the media underneath.</remarks>
public sealed unsafe class CopyOnWriteOverlay(IMedia lower) : IMedia
{
    private const int Page = 4096;
    private readonly Dictionary<long, byte[]> _pages = [];

    public long Size => lower.Size;
    public StoreGranularity Granularity => lower.Granularity;
    public string Description => $"{lower.Description}, in-memory copy-on-write overlay";

    /// <summary>Whether stores into <paramref name="media"/> could reach the user's image.</summary>
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

    /// <summary>
    /// Addresses of bytes no store touched (file data: replay writes only metadata); a copied
    /// page has no stable address, so asking for one is refused.
    /// </summary>
    public byte* PointerAt(long offset) => _pages.ContainsKey(offset / Page)
        ? throw new NotSupportedException("a copy-on-write overlay has no stable address for a page it copied")
        : lower.PointerAt(offset);

    public IReadOnlyList<Poison.BadRange> BadRanges => lower.BadRanges;
    public void CheckReadable(long offset, long length) => lower.CheckReadable(offset, length);
    public long? UnsafeShutdownCount => lower.UnsafeShutdownCount;

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

    public void Flush(long offset, long length) => Check(offset, length);

    public void Drain() { }

    /// <summary>The overlay does not own the media underneath.</summary>
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
