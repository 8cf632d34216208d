namespace PmemFs.Media;

/// <summary>What a <see cref="RecordingMedia"/> entry is: a store, a flush, a drain, or a workload marker.</summary>
/// <remarks>The media kinds have the values of <see cref="MediaOperationKind"/>.</remarks>
public enum RecordKind : byte
{
    /// <summary>A cached store; the bytes are in the payload.</summary>
    Write = MediaOperationKind.Write,

    /// <summary>A non-temporal store (bypasses the cache); the bytes are in the payload.</summary>
    WriteNonTemporal = MediaOperationKind.WriteNonTemporal,

    /// <summary><c>Length</c> copies of the byte in <c>Arg</c>.</summary>
    Fill = MediaOperationKind.Fill,

    /// <summary>Atomic OR of the 64-bit mask in <c>Arg</c> into the aligned word at <c>Offset</c>.</summary>
    AtomicOr64 = MediaOperationKind.AtomicOr64,

    /// <summary>Atomic AND of the 64-bit mask in <c>Arg</c>.</summary>
    AtomicAnd64 = MediaOperationKind.AtomicAnd64,

    /// <summary>Write-back of the cache lines covering [Offset, +Length) started.</summary>
    Flush = MediaOperationKind.Flush,

    /// <summary>A fence: every flush issued before it has reached the persistence domain.</summary>
    Drain = MediaOperationKind.Drain,

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
public sealed class RecordingMedia(IMedia inner, bool ownsInner = true) : MediaDecorator(inner, ownsInner)
{
    private readonly Lock _lock = new();
    private MediaRecord[] _records = new MediaRecord[4096];
    private int _count;
    private byte[] _payload = new byte[1 << 16];
    private long _payloadLength;

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

    public override string Description => $"recording {Inner.Description}";

    protected override void Before(MediaOperation operation, ReadOnlySpan<byte> bytes, ulong value) =>
        Append(new MediaRecord((RecordKind)operation.Kind, operation.Offset, operation.Length, value), bytes);

    private void Append(MediaRecord r, ReadOnlySpan<byte> bytes)
    {
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
