namespace PmemFs.Engine.Log;

/// <summary>
/// Space in the circular log: [<see cref="Tail"/>, <see cref="Head"/>) holds transactions that
/// replay may still need; the rest is free. No locking: <see cref="MetadataLog"/> uses it only
/// under its append lock.
/// </summary>
/// <remarks>
/// A transaction never wraps: one that does not fit before the end of the log goes to offset 0
/// (replay looks there when the expected sequence is not at the current offset), skipping the
/// end. <see cref="Tail"/> is always the offset the durable journal header names, so space is
/// free only once a header that no longer needs it is persistent.
/// <code>
/// not wrapped:  [ free | tail ... used ... head | free ]
/// wrapped:      [ used ... head | free | tail ... used ]   head == tail: full
/// </code>
/// </remarks>
internal sealed class LogRing(long size, long start)
{
    /// <summary>Where the next transaction goes if it fits.</summary>
    public long Head { get; private set; } = start;

    /// <summary>Start of the oldest transaction replay may need (the durable header's tail offset).</summary>
    public long Tail { get; private set; } = start;

    /// <summary>Head has wrapped past the end of the log and sits at or before the tail.</summary>
    private bool _wrapped;

    /// <summary>Takes room for <paramref name="length"/> bytes and advances head; false when the ring is too full.</summary>
    public bool TryTake(long length, out long at)
    {
        at = -1;
        if (!_wrapped)
        {
            if (Head + length <= size) at = Head;
            else if (length < Tail)
            {
                _wrapped = true;
                at = 0;
            }
        }
        else if (Head + length < Tail)
        {
            at = Head;
        }
        if (at < 0) return false;
        // A transaction that ends exactly at the end of the log wraps head to 0, as replay does;
        // a header then names offset 0, never the size of the log (which no header may hold).
        Head = at + length;
        if (Head == size)
        {
            Head = 0;
            _wrapped = true;
        }
        return true;
    }

    /// <summary>
    /// The durable header now names <paramref name="tail"/>: the start of the oldest transaction
    /// still in the ring, or <see cref="Head"/> when <paramref name="empty"/>.
    /// </summary>
    public void MoveTail(long tail, bool empty)
    {
        Tail = tail;
        // A tail ahead of head means head has wrapped; equal with transactions left means full.
        _wrapped = !empty && tail >= Head;
    }
}
