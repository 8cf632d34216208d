namespace PmemFs.Engine.Log;

/// <summary>
/// The transactions between reservation and the end of their apply, in sequence order: which
/// ones are durable, the durable watermark that committers wait for, and the oldest one not yet
/// applied (how far the ring's tail may move).
/// </summary>
/// <remarks>
/// Replay stops at the first sequence number that has no committed transaction, so a
/// transaction whose own commit word is persistent is not durable for replay until every
/// earlier one is too. <see cref="WaitDurable"/> therefore returns only when the watermark
/// (every sequence below it durable) has passed the caller's; only then may it apply in place
/// and report success. A transaction whose persist failed leaves a hole nothing after it can
/// cross: the window records it, later committers fail instead of waiting forever, and the log
/// accepts no more transactions.
/// </remarks>
internal sealed class CommitWindow(ulong nextSeq)
{
    public enum Stage { Reserved, Durable, Applied, Failed }

    public sealed class Entry
    {
        public ulong Seq { get; internal set; }

        /// <summary>Log offset of the transaction (what a header naming it as the tail holds).</summary>
        public long Offset { get; internal set; }

        public Stage Stage { get; set; }

        /// <summary>Popped from the window (applied, with every earlier one): nothing refers to it any more.</summary>
        internal bool Popped;
    }

    /// <summary>
    /// An entry this thread's last commit popped, for its next (a commit allocates nothing).
    /// Safe against reuse while referenced: an entry is reused only once popped, and a committer
    /// waiting on the oldest entry (<see cref="WaitApplied"/>) holds the append lock, so no new
    /// entry can be added meanwhile.
    /// </summary>
    [ThreadStatic] private static Entry? _spare;

    private readonly object _lock = new(); // Monitor.Wait needs an object lock
    private readonly List<Entry> _entries = []; // consecutive sequences, oldest first; popped once applied
    private ulong _durableBefore = nextSeq;      // the watermark: every sequence below it is durable
    private ulong _failedSeq = ulong.MaxValue;
    private bool _stopped;

    public bool Failed
    {
        get { lock (_lock) return _failedSeq != ulong.MaxValue; }
    }

    /// <summary>Registers the transaction just reserved (callers add in sequence order, under the append lock).</summary>
    public Entry Add(ulong seq, long offset)
    {
        var e = _spare ?? new Entry();
        _spare = null;
        e.Seq = seq;
        e.Offset = offset;
        e.Stage = Stage.Reserved;
        e.Popped = false;
        lock (_lock)
        {
            ThrowIfFailed(seq);
            _entries.Add(e);
        }
        return e;
    }

    /// <summary>
    /// <paramref name="e"/>'s body and commit word are persistent: waits until every earlier
    /// transaction is too. Throws when an earlier one failed (then <paramref name="e"/> never
    /// will be durable for replay).
    /// </summary>
    public void WaitDurable(Entry e)
    {
        lock (_lock)
        {
            e.Stage = Stage.Durable;
            AdvanceWatermark();
            while (_durableBefore <= e.Seq)
            {
                ThrowIfFailed(e.Seq);
                Monitor.Wait(_lock);
            }
        }
    }

    /// <summary>
    /// <paramref name="e"/>'s in-place stores are drained: replay no longer needs it. Wakes a
    /// committer waiting for ring space.
    /// </summary>
    public void Applied(Entry e)
    {
        lock (_lock)
        {
            e.Stage = Stage.Applied;
            int done = 0;
            while (done < _entries.Count && _entries[done].Stage == Stage.Applied) done++;
            if (done == 0) return;
            for (int i = 0; i < done; i++) _entries[i].Popped = true;
            _entries.RemoveRange(0, done);
            Monitor.PulseAll(_lock);
        }
    }

    /// <summary>The committer is done with <paramref name="e"/>: kept for this thread's next commit if nothing refers to it any more.</summary>
    public void Release(Entry e)
    {
        lock (_lock)
        {
            if (e.Popped) _spare = e;
        }
    }

    /// <summary><paramref name="e"/> could not be made durable: nothing after it ever will be.</summary>
    public void Fail(Entry e)
    {
        lock (_lock)
        {
            e.Stage = Stage.Failed;
            _failedSeq = Math.Min(_failedSeq, e.Seq);
            Monitor.PulseAll(_lock);
        }
    }

    /// <summary>
    /// The log stopped (forced shutdown): every transaction in flight fails at its next wait, as
    /// behind a failed one, and none is added again.
    /// </summary>
    public void Stop()
    {
        lock (_lock)
        {
            _stopped = true;
            _failedSeq = 0;
            Monitor.PulseAll(_lock);
        }
    }

    /// <summary>The oldest transaction not yet applied, or null when none is in flight.</summary>
    public Entry? OldestUnapplied()
    {
        lock (_lock) return _entries.Count == 0 ? null : _entries[0];
    }

    /// <summary>Waits until <paramref name="oldest"/> (from <see cref="OldestUnapplied"/>) has been applied. Throws if the log failed.</summary>
    public void WaitApplied(Entry oldest)
    {
        lock (_lock)
        {
            while (_entries.Count > 0 && _entries[0] == oldest)
            {
                ThrowIfFailed(oldest.Seq);
                Monitor.Wait(_lock);
            }
        }
    }

    /// <summary>Waits until nothing is in flight; false (at once) when the log has failed and never will be empty.</summary>
    public bool WaitEmpty()
    {
        lock (_lock)
        {
            while (_entries.Count > 0)
            {
                if (_failedSeq != ulong.MaxValue) return false;
                Monitor.Wait(_lock);
            }
            return true;
        }
    }

    private void AdvanceWatermark()
    {
        if (_entries.Count == 0) return;
        int i = (int)(_durableBefore - _entries[0].Seq);
        int from = i;
        while (i < _entries.Count && _entries[i].Stage is Stage.Durable or Stage.Applied) i++;
        if (i == from) return;
        _durableBefore += (ulong)(i - from);
        Monitor.PulseAll(_lock);
    }

    /// <summary>Throws when a transaction at or before <paramref name="seq"/> failed to become durable.</summary>
    private void ThrowIfFailed(ulong seq)
    {
        if (_stopped) throw new IOException("metadata log stopped: the file system was shut down");
        if (_failedSeq <= seq)
            throw new IOException($"metadata log stopped: transaction {_failedSeq} could not be made durable, so no later one can be");
    }
}
