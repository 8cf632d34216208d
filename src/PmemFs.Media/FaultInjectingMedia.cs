namespace PmemFs.Media;

/// <summary>What a <see cref="FaultInjectingMedia"/> saw an operation do.</summary>
public enum MediaOperationKind
{
    Write,
    WriteNonTemporal,
    Fill,
    AtomicOr64,
    AtomicAnd64,
    Flush,
    Drain,
}

/// <summary>One store, flush or drain: <see cref="Offset"/> and <see cref="Length"/> are 0 for a drain.</summary>
public readonly record struct MediaOperation(MediaOperationKind Kind, long Offset, long Length)
{
    /// <summary>Whether the operation changes bytes (as opposed to flushing or draining).</summary>
    public bool IsStore => Kind is not (MediaOperationKind.Flush or MediaOperationKind.Drain);
}

/// <summary>
/// A decorator that sees every store, flush and drain before the inner media does: it can
/// report each one to a callback (to record a trace, or to throw and so "crash" at a chosen
/// point) and can make the Nth write, flush or drain fail with an <see cref="IOException"/>.
/// Reads pass through unobserved. A failed operation is not forwarded.
/// </summary>
public class FaultInjectingMedia(IMedia inner, bool ownsInner = true) : MediaDecorator(inner, ownsInner)
{
    private long _writes, _flushes, _drains;
    private long _failWriteAt = -1, _failFlushAt = -1, _failDrainAt = -1;

    /// <summary>Called before every store, flush and drain (also before an injected fault).</summary>
    public Action<MediaOperation>? BeforeOperation { get; set; }

    /// <summary>Stores seen so far (Write, WriteNonTemporal, Fill, AtomicOr64, AtomicAnd64).</summary>
    public long WriteCount => Interlocked.Read(ref _writes);

    public long FlushCount => Interlocked.Read(ref _flushes);

    public long DrainCount => Interlocked.Read(ref _drains);

    /// <summary>Makes the <paramref name="n"/>th store from now (1 = the next) throw, once.</summary>
    public void FailWriteAfter(long n) => Interlocked.Exchange(ref _failWriteAt, WriteCount + Positive(n));

    /// <summary>Makes the <paramref name="n"/>th flush from now (1 = the next) throw, once.</summary>
    public void FailFlushAfter(long n) => Interlocked.Exchange(ref _failFlushAt, FlushCount + Positive(n));

    /// <summary>Makes the <paramref name="n"/>th drain from now (1 = the next) throw, once.</summary>
    public void FailDrainAfter(long n) => Interlocked.Exchange(ref _failDrainAt, DrainCount + Positive(n));

    public override string Description => $"fault-injecting {Inner.Description}";

    protected override void Before(MediaOperation operation, ReadOnlySpan<byte> bytes, ulong value)
    {
        switch (operation.Kind)
        {
            case MediaOperationKind.Flush: Observe(operation, ref _flushes, ref _failFlushAt); break;
            case MediaOperationKind.Drain: Observe(operation, ref _drains, ref _failDrainAt); break;
            default: Observe(operation, ref _writes, ref _failWriteAt); break;
        }
    }

    private void Observe(MediaOperation op, ref long counter, ref long failAt)
    {
        BeforeOperation?.Invoke(op);
        long n = Interlocked.Increment(ref counter);
        if (n == Volatile.Read(ref failAt) && Interlocked.CompareExchange(ref failAt, -1, n) == n)
            throw new IOException($"injected fault: {op.Kind} #{n} at [{op.Offset}, +{op.Length}) on {Inner.Description}");
    }

    private static long Positive(long n)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(n);
        return n;
    }
}
