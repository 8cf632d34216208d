using System.Runtime.InteropServices;

namespace PmemFs.Media;

/// <summary>
/// A region in process memory: the media for engine tests, and the substrate the crash-state
/// tools copy and mutate. Flush and drain do nothing: everything written is "persistent"
/// until the object is dropped.
/// </summary>
public sealed unsafe class MemoryMedia : IMedia
{
    private byte* _base;
    private readonly long _size;

    public MemoryMedia(long size, StoreGranularity granularity = StoreGranularity.CacheLine)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        _size = size;
        _base = (byte*)NativeMemory.AlignedAlloc((nuint)size, 4096);
        NativeMemory.Clear(_base, (nuint)size);
        Granularity = granularity;
    }

    /// <summary>Creates a media holding a copy of <paramref name="image"/>.</summary>
    public static MemoryMedia FromBytes(ReadOnlySpan<byte> image)
    {
        var media = new MemoryMedia(image.Length);
        image.CopyTo(new Span<byte>(media._base, image.Length));
        return media;
    }

    /// <summary>Creates a media holding a copy of another media's current contents.</summary>
    public static MemoryMedia CopyOf(IMedia source)
    {
        var media = new MemoryMedia(source.Size, source.Granularity);
        for (long off = 0; off < source.Size; off += int.MaxValue / 2)
        {
            int len = (int)Math.Min(int.MaxValue / 2, source.Size - off);
            source.Read(off, len).CopyTo(new Span<byte>(media._base + off, len));
        }
        return media;
    }

    public long Size => _size;
    public StoreGranularity Granularity { get; }
    public string Description => $"memory ({_size} bytes)";

    /// <summary>The whole region as a writable span, for tests that corrupt it on purpose.</summary>
    public Span<byte> RawBytes(long offset, int length)
    {
        Check(offset, length);
        return new Span<byte>(_base + offset, length);
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

    public void Write(long offset, ReadOnlySpan<byte> source)
    {
        Check(offset, source.Length);
        source.CopyTo(new Span<byte>(_base + offset, source.Length));
    }

    public void WriteNonTemporal(long offset, ReadOnlySpan<byte> source) => Write(offset, source);

    public void Fill(long offset, long length, byte value)
    {
        Check(offset, length);
        NativeMemory.Fill(_base + offset, (nuint)length, value);
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

    public void Flush(long offset, long length) => Check(offset, length);

    public void Drain() { }

    public void Dispose()
    {
        if (_base != null)
        {
            NativeMemory.AlignedFree(_base);
            _base = null;
        }
    }

    private void Check(long offset, long length)
    {
        ObjectDisposedException.ThrowIf(_base == null, this);
        MediaBounds.Check(offset, length, _size);
    }

    private void CheckWord(long offset)
    {
        Check(offset, 8);
        if ((offset & 7) != 0) throw new ArgumentException($"offset {offset} is not 8-byte aligned", nameof(offset));
    }
}

internal static class MediaBounds
{
    public static void Check(long offset, long length, long size)
    {
        if (offset < 0 || length < 0 || offset > size || length > size - offset)
            throw new ArgumentOutOfRangeException(nameof(offset), $"range [{offset}, +{length}) is outside the region of {size} bytes");
    }
}
