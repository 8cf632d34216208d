namespace PmemFs.Media;

/// <summary>What a <see cref="RecordingMedia"/> entry is: a store, a flush, a drain, or a workload marker.</summary>
public enum RecordKind : byte
{
    /// <summary>A cached store; the bytes are in the payload.</summary>
    Write,

    /// <summary>A non-temporal store (bypasses the cache); the bytes are in the payload.</summary>
    WriteNonTemporal,

    /// <summary><c>Length</c> copies of the byte in <c>Arg</c>.</summary>
    Fill,

    /// <summary>Atomic OR of the 64-bit mask in <c>Arg</c> into the aligned word at <c>Offset</c>.</summary>
    AtomicOr64,

    /// <summary>Atomic AND of the 64-bit mask in <c>Arg</c>.</summary>
    AtomicAnd64,

    /// <summary>Write-back of the cache lines covering [Offset, +Length) started.</summary>
    Flush,

    /// <summary>A fence: every flush issued before it has reached the persistence domain.</summary>
    Drain,

    /// <summary>Workload marker: operation number <c>Arg</c> starts (no media effect).</summary>
    OperationStart,

    /// <summary>Workload marker: operation number <c>Arg</c> returned to its caller (no media effect).</summary>
    OperationReturned,
}

/// <summary>
/// One recorded event. For <see cref="RecordKind.Write"/> and <see cref="RecordKind.WriteNonTemporal"/>,
/// <see cref="Arg"/> is the offset of the stored bytes in <see cref="RecordingMedia.Payload"/>.
/// </summary>
public readonly record struct MediaRecord(RecordKind Kind, long Offset, long Length, ulong Arg)
{
    public bool IsStore => Kind <= RecordKind.AtomicAnd64;

    public bool IsMarker => Kind >= RecordKind.OperationStart;
}

/// <summary>
/// A decorator that appends every store (Write, WriteNonTemporal, Fill, AtomicOr64/And64: offset
/// and bytes), Flush and Drain to an in-memory log before forwarding it, plus "operation N
/// started/returned" markers that the workload places. The crash simulator (PmemFs.CrashSim)
/// replays the log under a persistent-memory model to build the images a power loss could leave.
/// </summary>
/// <remarks>
/// Recording is an append to two growable arrays (events and payload bytes), under a lock so
/// that concurrent callers keep a single total order (the order the simulator assumes).
///
/// Stores made through <see cref="PointerAt"/> are invisible to this decorator. The engine uses
/// <see cref="IMedia.PointerAt"/> only to hand zero-copy read segments to FUSE
/// (<c>FileSystem.ReadMapped</c>); it never stores through it (IMedia forbids it), so the log is
/// complete. Direct stores by lease holders (another process writing the mapping) are outside
/// what this records; they are data the holder persists itself.
/// </remarks>
public sealed class RecordingMedia : IMedia
{
    private readonly bool _ownsInner;
    private readonly Lock _lock = new();
    private MediaRecord[] _records = new MediaRecord[4096];
    private int _count;
    private byte[] _payload = new byte[1 << 16];
    private long _payloadLength;

    public RecordingMedia(IMedia inner, bool ownsInner = true)
    {
        ArgumentNullException.ThrowIfNull(inner);
        Inner = inner;
        _ownsInner = ownsInner;
    }

    public IMedia Inner { get; }

    /// <summary>When false, operations are forwarded but not recorded.</summary>
    public bool Recording { get; set; } = true;

    /// <summary>Number of events recorded so far.</summary>
    public int Count
    {
        get { lock (_lock) return _count; }
    }

    /// <summary>The events recorded so far (a view: do not keep it across further recording).</summary>
    public ReadOnlySpan<MediaRecord> Records => _records.AsSpan(0, _count);

    /// <summary>All stored bytes, indexed by <see cref="MediaRecord.Arg"/> of Write records.</summary>
    public ReadOnlySpan<byte> Payload => _payload.AsSpan(0, (int)_payloadLength);

    /// <summary>The bytes a Write or WriteNonTemporal record stored.</summary>
    public ReadOnlySpan<byte> BytesOf(in MediaRecord r) => _payload.AsSpan((int)r.Arg, (int)r.Length);

    /// <summary>Marks the start of workload operation <paramref name="n"/>.</summary>
    public void MarkOperationStart(int n) => Append(new MediaRecord(RecordKind.OperationStart, 0, 0, (ulong)n), []);

    /// <summary>Marks the point where workload operation <paramref name="n"/> returned to its caller.</summary>
    public void MarkOperationReturned(int n) => Append(new MediaRecord(RecordKind.OperationReturned, 0, 0, (ulong)n), []);

    public long Size => Inner.Size;
    public StoreGranularity Granularity => Inner.Granularity;
    public string Description => $"recording {Inner.Description}";

    public ReadOnlySpan<byte> Read(long offset, int length) => Inner.Read(offset, length);

    /// <summary>For reads only (see the class remarks): stores through it would not be recorded.</summary>
    public unsafe byte* PointerAt(long offset) => Inner.PointerAt(offset);

    public void Write(long offset, ReadOnlySpan<byte> source)
    {
        Append(new MediaRecord(RecordKind.Write, offset, source.Length, 0), source);
        Inner.Write(offset, source);
    }

    public void WriteNonTemporal(long offset, ReadOnlySpan<byte> source)
    {
        Append(new MediaRecord(RecordKind.WriteNonTemporal, offset, source.Length, 0), source);
        Inner.WriteNonTemporal(offset, source);
    }

    public void Fill(long offset, long length, byte value)
    {
        Append(new MediaRecord(RecordKind.Fill, offset, length, value), []);
        Inner.Fill(offset, length, value);
    }

    public void AtomicOr64(long offset, ulong mask)
    {
        Append(new MediaRecord(RecordKind.AtomicOr64, offset, 8, mask), []);
        Inner.AtomicOr64(offset, mask);
    }

    public void AtomicAnd64(long offset, ulong mask)
    {
        Append(new MediaRecord(RecordKind.AtomicAnd64, offset, 8, mask), []);
        Inner.AtomicAnd64(offset, mask);
    }

    public void Flush(long offset, long length)
    {
        Append(new MediaRecord(RecordKind.Flush, offset, length, 0), []);
        Inner.Flush(offset, length);
    }

    public void Drain()
    {
        Append(new MediaRecord(RecordKind.Drain, 0, 0, 0), []);
        Inner.Drain();
    }

    public void Dispose()
    {
        if (_ownsInner) Inner.Dispose();
    }

    private void Append(MediaRecord r, ReadOnlySpan<byte> bytes)
    {
        if (!Recording) return;
        lock (_lock)
        {
            if (!bytes.IsEmpty)
            {
                long need = _payloadLength + bytes.Length;
                if (need > Array.MaxLength) throw new InvalidOperationException("recording payload exceeds 2 GiB");
                if (need > _payload.Length) Array.Resize(ref _payload, (int)Math.Min(Array.MaxLength, Math.Max(need, 2L * _payload.Length)));
                bytes.CopyTo(_payload.AsSpan((int)_payloadLength));
                r = r with { Arg = (ulong)_payloadLength };
                _payloadLength = need;
            }
            if (_count == _records.Length) Array.Resize(ref _records, _records.Length * 2);
            _records[_count++] = r;
        }
    }
}
