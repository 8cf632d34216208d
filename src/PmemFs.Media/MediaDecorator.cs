using PmemFs.Media.Poison;

namespace PmemFs.Media;

/// <summary>
/// Base of the <see cref="IMedia"/> decorators that watch stores (<see cref="FaultInjectingMedia"/>,
/// <see cref="RecordingMedia"/>): everything is forwarded to <see cref="Inner"/>, and every store,
/// flush and drain is first shown to <see cref="Before"/>. Reads and <see cref="PointerAt"/> pass
/// through unobserved. When <see cref="Before"/> throws, the operation is not forwarded.
/// </summary>
public abstract class MediaDecorator : IMedia
{
    private readonly bool _ownsInner;

    protected MediaDecorator(IMedia inner, bool ownsInner)
    {
        ArgumentNullException.ThrowIfNull(inner);
        Inner = inner;
        _ownsInner = ownsInner;
    }

    public IMedia Inner { get; }

    public long Size => Inner.Size;
    public StoreGranularity Granularity => Inner.Granularity;
    public virtual string Description => Inner.Description;

    public virtual ReadOnlySpan<byte> Read(long offset, int length) => Inner.Read(offset, length);

    public virtual IReadOnlyList<BadRange> BadRanges => Inner.BadRanges;
    public virtual void CheckReadable(long offset, long length) => Inner.CheckReadable(offset, length);
    public virtual bool CanClearPoison => Inner.CanClearPoison;
    public virtual void ClearPoison(long offset, long length) => Inner.ClearPoison(offset, length);
    public virtual bool CanInjectPoison => Inner.CanInjectPoison;
    public virtual void InjectPoison(long offset, long length) => Inner.InjectPoison(offset, length);
    public virtual long? UnsafeShutdownCount => Inner.UnsafeShutdownCount;

    /// <summary>For reads only (IMedia forbids stores through it): such stores would not be seen.</summary>
    public unsafe byte* PointerAt(long offset) => Inner.PointerAt(offset);

    /// <summary>
    /// Called before a store, flush or drain is forwarded. <paramref name="bytes"/>: what a
    /// Write or WriteNonTemporal stores (empty otherwise); <paramref name="value"/>: the byte of a
    /// Fill or the mask of an atomic OR/AND (0 otherwise). A drain has offset and length 0.
    /// </summary>
    protected abstract void Before(MediaOperation operation, ReadOnlySpan<byte> bytes, ulong value);

    public void Write(long offset, ReadOnlySpan<byte> source)
    {
        Before(new MediaOperation(MediaOperationKind.Write, offset, source.Length), source, 0);
        Inner.Write(offset, source);
    }

    public void WriteNonTemporal(long offset, ReadOnlySpan<byte> source)
    {
        Before(new MediaOperation(MediaOperationKind.WriteNonTemporal, offset, source.Length), source, 0);
        Inner.WriteNonTemporal(offset, source);
    }

    public void Fill(long offset, long length, byte value)
    {
        Before(new MediaOperation(MediaOperationKind.Fill, offset, length), [], value);
        Inner.Fill(offset, length, value);
    }

    public void AtomicOr64(long offset, ulong mask)
    {
        Before(new MediaOperation(MediaOperationKind.AtomicOr64, offset, 8), [], mask);
        Inner.AtomicOr64(offset, mask);
    }

    public void AtomicAnd64(long offset, ulong mask)
    {
        Before(new MediaOperation(MediaOperationKind.AtomicAnd64, offset, 8), [], mask);
        Inner.AtomicAnd64(offset, mask);
    }

    public void Flush(long offset, long length)
    {
        Before(new MediaOperation(MediaOperationKind.Flush, offset, length), [], 0);
        Inner.Flush(offset, length);
    }

    public void Drain()
    {
        Before(new MediaOperation(MediaOperationKind.Drain, 0, 0), [], 0);
        Inner.Drain();
    }

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
        if (disposing && _ownsInner) Inner.Dispose();
    }
}
