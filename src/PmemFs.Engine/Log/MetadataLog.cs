using System.Buffers.Binary;
using PmemFs.Format;
using PmemFs.Media;

namespace PmemFs.Engine.Log;

/// <summary>A transaction the log refused before storing anything of it: nothing changed, on the media or in memory.</summary>
public sealed class LogRefusedException(string message) : InvalidOperationException(message);

/// <summary>The log was stopped (forced shutdown, or a store of it failed): nothing more is stored until remount.</summary>
public sealed class LogStoppedException(string why) : IOException($"metadata log stopped ({why}): nothing more is stored until remount");

/// <summary>
/// Writes transactions to the journal and applies them in place: the one place where metadata
/// becomes durable. See <see cref="LogTransaction"/> for the on-media protocol.
/// </summary>
/// <remarks>
/// Commit, so that no committer waits behind another's persists:
/// <code>
/// under _appendLock  reserve ring space, take the next sequence, store header (commit word 0) + body
/// outside it         flush + drain the body; store the commit word, flush + drain (on the
///                    committer's thread: that drain also orders the data it flushed before)
///                    wait for the durable watermark to pass this sequence (CommitWindow)
///                    apply in place (stores + flushes), drain, mark applied
/// </code>
/// Replay stops at the first sequence without a committed transaction, so a committer whose
/// persist finished early must not apply or return before every earlier one is durable: a
/// commit word that is durable behind a hole is never replayed, so its transaction must not
/// be visible anywhere. Callers hold the locks of every record they log until
/// <see cref="Commit"/> returns, so transactions that touch the same record are applied in
/// sequence order.
///
/// The ring's tail moves instead of emptying the ring: when the next transaction does not fit,
/// the header is persisted naming the oldest transaction not yet applied (applies are drained
/// by their own threads before they count), and if that frees too little, the reserver waits
/// for that one transaction's apply, not for every apply in flight.
/// Lock order: _appendLock, then the window's lock.
/// </remarks>
public sealed class MetadataLog
{
    private readonly IMedia _media;
    private readonly Geometry _g;
    private readonly ulong _salt;
    private readonly Lock _appendLock = new();
    private readonly byte[] _scratch;
    private readonly LogRing _ring;
    private readonly CommitWindow _window;

    private ulong _nextSeq;
    private ulong _headerGeneration;
    private long _committed;
    private long _checkpoints;

    // Stopping (forced shutdown): set once under _storeGate, which also counts the sections of
    // stores under way, so that Stop returns only once none is left.
    private readonly object _storeGate = new(); // Monitor.Wait needs an object lock
    private string? _stopReason;
    private int _storing;

    public MetadataLog(IMedia media, Superblock sb, ReplayResult recovered)
    {
        _media = media;
        _g = sb.Geometry;
        _salt = sb.JournalSalt;
        // Committers persist concurrently, so a crash can leave committed transactions after the
        // first uncommitted one, where replay stopped. They hold the sequences just past it (at
        // most one per 64 bytes of ring): numbering resumes beyond all of them, so that no new
        // transaction takes one of their numbers and lets a later replay run on into them.
        _nextSeq = recovered.NextSeq + (ulong)(_g.LogBytes / FormatConstants.CacheLine);
        _ring = new LogRing(_g.LogBytes, recovered.NextOffset);
        _window = new CommitWindow(_nextSeq);
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
        get { lock (_appendLock) return _ring.Head; }
    }

    public long CommittedCount => Interlocked.Read(ref _committed);

    /// <summary>Journal header writes since mount: each one moved the ring's tail.</summary>
    public long CheckpointCount => Interlocked.Read(ref _checkpoints);

    /// <summary>Makes <paramref name="tx"/> durable and applies it in place.</summary>
    /// <exception cref="LogRefusedException">Nothing of it was stored: the log would not replay it (an engine bug).</exception>
    /// <exception cref="IOException">A store failed (this one's, or an earlier one's this one cannot be replayed
    /// without), or the log was stopped: whether it is durable is not known, and the log stores nothing more.</exception>
    public void Commit(LogTransaction tx)
    {
        if (tx.IsEmpty) return;
        int length = tx.EncodedLength;
        if (length > MaxTransactionBytes)
            throw new LogRefusedException($"transaction of {length} bytes exceeds the log limit of {MaxTransactionBytes}");
        // Everything replay would refuse, and every record mount would find damaged, refused
        // before anything is stored (committed, it would stop or damage every later mount).
        if ((LogTransaction.Validate(tx.Body, tx.EntryCount, _g) ?? LogRecordCheck.Check(tx.Body, tx.EntryCount, _g)) is { } bad)
            throw new LogRefusedException($"engine built a bad transaction: {bad}");

        CommitWindow.Entry entry;
        long abs;
        lock (_appendLock)
        {
            ThrowIfStopped(); // before the reserve: a stopped log moves no tail either
            long at = Reserve(length);
            entry = _window.Add(_nextSeq, at); // throws once a persist has failed: nothing is written then
            _nextSeq++;
            abs = _g.LogOffset + at;
            try
            {
                using var stores = EnterStores();
                var buf = _scratch.AsSpan(0, length);
                tx.EncodeUncommitted(entry.Seq, buf);
                _media.Write(abs, buf);
            }
            catch
            {
                Fail(entry);
                throw;
            }
        }

        // The commit word is durable at the second drain; the transaction is durable for replay
        // only once WaitDurable has seen every earlier one durable too.
        try
        {
            using var stores = EnterStores();
            _media.Flush(abs, length);
            _media.Drain();
            Span<byte> commit = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(commit, LogTransaction.CommitWord(entry.Seq, _salt));
            _media.Write(abs + LogTransaction.CommitWordOffset, commit);
            _media.Flush(abs + LogTransaction.CommitWordOffset, 8);
            _media.Drain();
        }
        catch
        {
            Fail(entry);
            throw;
        }
        _window.WaitDurable(entry); // throws when an earlier one failed or the log was stopped

        // Durable: from here a failure leaves the tables half applied, which only replay mends.
        // The entry then stays unapplied (Fail), so no header may ever name a tail past it.
        try
        {
            using var stores = EnterStores();
            string? problem = LogTransaction.Apply(tx.Body, tx.EntryCount, _media, _g);
            if (problem is not null) throw new InvalidOperationException($"engine built a bad transaction: {problem}");
            // Drained on this thread (a fence orders only its own thread's flushes) before the
            // tail may move past it.
            _media.Drain();
        }
        catch
        {
            Fail(entry);
            throw;
        }
        _window.Applied(entry);
        _window.Release(entry);
        Interlocked.Increment(ref _committed);
    }

    /// <summary>
    /// Waits until every transaction in flight is applied, then persists the header so that
    /// replay starts after all of them (the ring is empty). Does nothing once the log has
    /// stopped: the durable header still names everything replay needs.
    /// </summary>
    public void Checkpoint()
    {
        lock (_appendLock)
        {
            if (IsStopped || !_window.WaitEmpty()) return;
            try { WriteTail(_nextSeq, _ring.Head, empty: true); }
            catch (LogStoppedException) { /* stopped meanwhile: nothing was stored */ }
        }
    }

    /// <summary>Why the log stopped (nothing is stored again until remount), or null while it runs.</summary>
    public string? StopReason => Volatile.Read(ref _stopReason);

    public bool IsStopped => StopReason is not null;

    /// <summary>
    /// Stops the log for good (forced shutdown): no transaction, header or apply is stored from
    /// the moment this returns. With <paramref name="finishInFlight"/>, transactions already
    /// appended first finish (applied, their callers told success) and new ones wait, then
    /// fail; without it, transactions in flight fail at their next step (one whose commit word
    /// was durable is replayed by the next mount). Either way a store already under way is
    /// waited for, so the caller must not hold one (never call it from a media callback).
    /// </summary>
    public void Stop(string reason, bool finishInFlight)
    {
        if (finishInFlight)
        {
            lock (_appendLock)
            {
                _window.WaitEmpty();
                StopStores(reason);
            }
        }
        else StopStores(reason);
        _window.Stop();
        lock (_storeGate)
            while (_storing > 0) Monitor.Wait(_storeGate);
    }

    private void Fail(CommitWindow.Entry entry)
    {
        StopStores($"transaction {entry.Seq} failed while it was being stored");
        _window.Fail(entry);
    }

    private void StopStores(string reason)
    {
        lock (_storeGate) _stopReason ??= reason;
    }

    private void ThrowIfStopped()
    {
        if (StopReason is { } why) throw new LogStoppedException(why);
    }

    /// <summary>Counts a section of stores, so that <see cref="Stop"/> can wait for the ones under way. Throws once stopped.</summary>
    private StoreSection EnterStores()
    {
        lock (_storeGate)
        {
            ThrowIfStopped();
            _storing++;
        }
        return new StoreSection(this);
    }

    private readonly ref struct StoreSection(MetadataLog log)
    {
        public void Dispose()
        {
            lock (log._storeGate)
            {
                if (--log._storing == 0) Monitor.PulseAll(log._storeGate);
            }
        }
    }

    /// <summary>Finds room for <paramref name="length"/> bytes (under the append lock); returns the log offset.</summary>
    private long Reserve(long length)
    {
        long at;
        while (!_ring.TryTake(length, out at))
        {
            // Free what is applied: the tail moves to the oldest transaction still in flight.
            var oldest = _window.OldestUnapplied();
            if (oldest is null)
                WriteTail(_nextSeq, _ring.Head, empty: true);
            else if (oldest.Offset != _ring.Tail)
                WriteTail(oldest.Seq, oldest.Offset, empty: false);
            else
                _window.WaitApplied(oldest); // it holds the tail: only its apply frees space
        }
        // An empty ring always fits a transaction (length <= LogBytes / 4), so the loop ends.
        return at;
    }

    /// <summary>Persists a header naming (<paramref name="seq"/>, <paramref name="offset"/>) as the tail, then frees the ring up to it.</summary>
    private void WriteTail(ulong seq, long offset, bool empty)
    {
        using var stores = EnterStores();
        try
        {
            _media.Drain(); // applied stores are durable before the header says replay may skip them
            _headerGeneration++;
            JournalReplay.WriteHeader(_media, _g, _headerGeneration, seq, offset);
        }
        catch
        {
            StopStores("a journal header store failed");
            throw;
        }
        _ring.MoveTail(offset, empty);
        Interlocked.Increment(ref _checkpoints);
    }
}
