using PmemFs.Format;
using PmemFs.Media;

namespace PmemFs.Engine.Log;

/// <summary>
/// Writes transactions to the journal and applies them in place: the one place where metadata
/// becomes durable. See <see cref="LogTransaction"/> for the on-media protocol.
/// </summary>
/// <remarks>
/// Commit = append under <see cref="_appendLock"/> (header+body, flush, drain, commit word,
/// flush, drain), then apply outside it (stores + flushes, no drain: replay would redo them).
/// Callers hold the locks of every record they log until <see cref="Commit"/> returns, so
/// transactions that touch the same record are applied in sequence order.
///
/// The log is a ring; [tail, head) holds transactions that replay may still need. When the
/// next transaction does not fit, a checkpoint waits for in-flight applies, drains, and
/// persists the journal header with tail := head, which frees the whole ring.
/// Lock order: _appendLock, then _inflightLock.
/// </remarks>
public sealed class MetadataLog
{
    private readonly IMedia _media;
    private readonly Geometry _g;
    private readonly ulong _salt;
    private readonly Lock _appendLock = new();
    private readonly object _inflightLock = new(); // Monitor.Wait needs an object lock
    private readonly byte[] _scratch;

    private ulong _nextSeq;
    private long _head;
    private long _tail;
    private bool _wrapped;        // head has wrapped past the end and sits before tail
    private ulong _headerGeneration;
    private int _inflight;        // committed but not yet applied
    private long _committed;
    private long _checkpoints;

    public MetadataLog(IMedia media, Superblock sb, ReplayResult recovered)
    {
        _media = media;
        _g = sb.Geometry;
        _salt = sb.JournalSalt;
        _nextSeq = recovered.NextSeq;
        _head = recovered.NextOffset;
        _tail = recovered.NextOffset;
        _headerGeneration = recovered.HeaderGeneration;
        MaxTransactionBytes = (int)Math.Min(_g.LogBytes / 4, 4 << 20);
        _scratch = new byte[MaxTransactionBytes];
        // Everything replayed is applied: start from an empty ring.
        Checkpoint();
    }

    /// <summary>Largest encoded transaction the log accepts; operations split work to stay under it.</summary>
    public int MaxTransactionBytes { get; }

    /// <summary>Where the next transaction would start if it fits (for tests of the ring).</summary>
    public long HeadOffset
    {
        get { lock (_appendLock) return _head; }
    }

    public long CommittedCount => Interlocked.Read(ref _committed);
    public long CheckpointCount => Interlocked.Read(ref _checkpoints);

    /// <summary>Makes <paramref name="tx"/> durable and applies it in place.</summary>
    public void Commit(LogTransaction tx)
    {
        if (tx.IsEmpty) return;
        int length = tx.EncodedLength;
        if (length > MaxTransactionBytes)
            throw new InvalidOperationException($"transaction of {length} bytes exceeds the log limit of {MaxTransactionBytes}");

        lock (_appendLock)
        {
            long at = Reserve(length);
            ulong seq = _nextSeq++;
            var buf = _scratch.AsSpan(0, length);
            tx.EncodeUncommitted(seq, buf);
            long abs = _g.LogOffset + at;
            _media.Write(abs, buf);
            _media.Flush(abs, length);
            _media.Drain();
            Span<byte> commit = stackalloc byte[8];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(commit, LogTransaction.CommitWord(seq, _salt));
            _media.Write(abs + LogTransaction.CommitWordOffset, commit);
            _media.Flush(abs + LogTransaction.CommitWordOffset, 8);
            _media.Drain();
            lock (_inflightLock) _inflight++;
        }

        try
        {
            string? problem = LogTransaction.Apply(tx.Body, tx.EntryCount, _media, _g);
            if (problem is not null) throw new InvalidOperationException($"engine built a bad transaction: {problem}");
        }
        finally
        {
            lock (_inflightLock)
            {
                _inflight--;
                if (_inflight == 0) Monitor.PulseAll(_inflightLock);
            }
            Interlocked.Increment(ref _committed);
        }
    }

    /// <summary>Persists the header so that replay starts after everything applied so far.</summary>
    public void Checkpoint()
    {
        lock (_appendLock) CheckpointLocked();
    }

    private void CheckpointLocked()
    {
        lock (_inflightLock)
        {
            while (_inflight > 0) Monitor.Wait(_inflightLock);
        }
        _media.Drain(); // applied stores are durable before the header says replay may skip them
        _headerGeneration++;
        JournalReplay.WriteHeader(_media, _g, _headerGeneration, _nextSeq, _head);
        _tail = _head;
        _wrapped = false;
        Interlocked.Increment(ref _checkpoints);
    }

    /// <summary>Finds room for <paramref name="length"/> bytes; returns the log offset and advances head.</summary>
    private long Reserve(long length)
    {
        for (int attempt = 0; attempt < 2; attempt++)
        {
            if (!_wrapped)
            {
                if (_head + length <= _g.LogBytes) return Take(_head, length);
                if (length < _tail)
                {
                    _wrapped = true;
                    return Take(0, length);
                }
            }
            else if (_head + length < _tail)
            {
                return Take(_head, length);
            }
            CheckpointLocked();
        }
        // After a checkpoint the ring is empty and length <= LogBytes / 4: one of the cases fits.
        throw new InvalidOperationException("journal space could not be reserved");
    }

    private long Take(long at, long length)
    {
        // A transaction that ends exactly at the end of the log wraps head to 0, as replay does;
        // a checkpoint then names offset 0, never LogBytes (which no header may hold).
        _head = at + length;
        if (_head == _g.LogBytes)
        {
            _head = 0;
            _wrapped = true;
        }
        return at;
    }
}
