using System.Collections.Concurrent;

namespace PmemFs.Engine.Health;

/// <summary>
/// What the engine knows to be wrong with its file system, and what it therefore refuses: sick
/// files, quarantined slots, writes refused (damaged metadata) and forced shutdown. Every
/// operation that changes something asks <see cref="WriteRefusal"/> first, and the commit path
/// asks again; lookups and reads ask <see cref="SickAnswer"/>. Damage costs only what it holds:
/// a sick file fails alone, a quarantined slot is simply never used. Poisoned ranges are their
/// own room (Engine/Poison), which reports here.
/// </summary>
public sealed class FileSystemHealth
{
    private const int KeptEvents = 1024;
    private readonly Lock _gate = new();
    private readonly ConcurrentDictionary<ulong, SickInode> _sick = new();
    private readonly List<QuarantinedSlot> _quarantined = [];
    private readonly Queue<HealthEvent> _events = new();
    private volatile int _state;
    private string? _reason;
    private DateTimeOffset? _since;
    private Exception? _cause;

    /// <summary>Told every event once, as it happens (the daemon logs them); must not throw or block.</summary>
    public Action<HealthEvent>? Report { get; set; }

    public HealthState State => (HealthState)_state;

    /// <summary>Why writes are refused or the file system shut down; null while healthy.</summary>
    public string? Reason { get { lock (_gate) return _reason; } }

    /// <summary>When the state last got worse (UTC); null while healthy.</summary>
    public DateTimeOffset? Since { get { lock (_gate) return _since; } }

    /// <summary>The exception behind a forced shutdown, when one caused it (the daemon logs its stack once).</summary>
    public Exception? ShutDownCause { get { lock (_gate) return _cause; } }

    /// <summary>Ok while changes are allowed; EROFS when writes are refused; EIO after a shutdown.</summary>
    public Errno WriteRefusal => State switch
    {
        HealthState.Healthy => Errno.Ok,
        HealthState.WritesRefused => Errno.EROFS,
        _ => Errno.EIO,
    };

    internal void ThrowIfWritesRefused()
    {
        var e = WriteRefusal;
        if (e.Failed) throw new ErrnoException(e);
    }

    /// <summary>Refuses every later change with EROFS (reads go on) until repair; never undoes a shutdown.</summary>
    public void RefuseWrites(string reason) => Worsen(HealthState.WritesRefused, reason, HealthEventKind.WritesRefused);

    /// <summary>
    /// Forced shutdown, the state only: changes are refused from now on. Returns true the first
    /// time; later calls change nothing. Engine code calls <see cref="FileSystem.ShutDown"/>,
    /// which also stops the metadata log.
    /// </summary>
    public bool ShutDown(string reason, Exception? cause = null) => Worsen(HealthState.ShutDown, reason, HealthEventKind.ShutDown, cause);

    private bool Worsen(HealthState to, string reason, HealthEventKind kind, Exception? cause = null)
    {
        lock (_gate)
        {
            if (_state >= (int)to) return false;
            _reason = reason;
            _state = (int)to;
            _since = DateTimeOffset.UtcNow;
            _cause = cause;
        }
        Record(kind, 0, -1, 0, reason);
        return true;
    }

    /// <summary>Marks a file sick: it answers <paramref name="answer"/> (EUCLEAN by default) from now on.</summary>
    public void MarkSick(ulong ino, string problem, Errno? answer = null)
    {
        if (_sick.TryAdd(ino, new SickInode(ino, problem, answer ?? Errno.EUCLEAN)))
            Record(HealthEventKind.SickInode, ino, -1, 0, problem);
    }

    /// <summary>Ok for a healthy file; otherwise what every operation on it answers.</summary>
    public Errno SickAnswer(ulong ino) => !_sick.IsEmpty && _sick.TryGetValue(ino, out var s) ? s.Answer : Errno.Ok;

    public bool IsSick(ulong ino) => !_sick.IsEmpty && _sick.ContainsKey(ino);

    public int SickCount => _sick.Count;

    /// <summary>Forgets a sick file (it was freed or repaired).</summary>
    internal void ForgetSick(ulong ino) => _sick.TryRemove(ino, out _);

    public IReadOnlyList<SickInode> SickInodes => _sick.Values.OrderBy(s => s.Ino).ToList();

    public void Quarantine(string table, long slot, string problem)
    {
        lock (_gate) _quarantined.Add(new QuarantinedSlot(table, slot, problem));
        Record(HealthEventKind.QuarantinedSlot, 0, -1, 0, $"{table} slot {slot}: {problem}");
    }

    public IReadOnlyList<QuarantinedSlot> Quarantined { get { lock (_gate) return _quarantined.ToList(); } }

    public int QuarantinedCount { get { lock (_gate) return _quarantined.Count; } }

    /// <summary>The latest events (at most 1024), oldest first.</summary>
    public IReadOnlyList<HealthEvent> Events { get { lock (_gate) return _events.ToList(); } }

    internal void Record(HealthEventKind kind, ulong ino, long offset, long length, string message)
    {
        var e = new HealthEvent(DateTimeOffset.UtcNow, kind, ino, offset, length, message);
        lock (_gate)
        {
            if (_events.Count == KeptEvents) _events.Dequeue();
            _events.Enqueue(e);
        }
        try { Report?.Invoke(e); } catch { /* a logger must not fail an operation */ }
    }
}
