namespace PmemFs.Engine.Leases;

/// <summary>A lease in the table. Every mutable field is guarded by the table's lock.</summary>
internal sealed class Lease(long id, ulong ino, ulong handle, int pid, LeaseMode mode, FileRange range, DateTimeOffset granted)
{
    public long Id { get; } = id;
    public ulong Ino { get; } = ino;
    public ulong Handle { get; } = handle;
    public int Pid { get; } = pid;
    public LeaseMode Mode { get; } = mode;
    public FileRange Range { get; } = range;
    public DateTimeOffset Granted { get; } = granted;

    public LeaseState State = LeaseState.Active;
    public DateTimeOffset? Deadline;
    public readonly List<PinInfo> Pins = [];

    /// <summary>Whether holding this and <paramref name="other"/> at once is refused: another handle, overlapping, and one of them exclusive.</summary>
    public bool ConflictsWith(ulong handle, LeaseMode mode, FileRange range) =>
        handle != Handle && Range.Overlaps(range) && (mode == LeaseMode.Write || Mode == LeaseMode.Write);

    public LeaseInfo Snapshot() => new(Id, Ino, Handle, Pid, Mode, Range, State, Granted, Deadline, [.. Pins]);
}

/// <summary>
/// A layout change that recalled leases and has not yet gone ahead. While it exists, no new
/// lease may overlap its range (EAGAIN), so the operation's retry finds the range free and no
/// request waits longer than one break time. It ends when an operation proceeds over its range,
/// or a grace period after its deadline if the operation never comes back.
/// </summary>
internal sealed class PendingBreak(ulong ino, FileRange range, DateTimeOffset deadline)
{
    public ulong Ino { get; } = ino;
    public FileRange Range { get; } = range;
    public DateTimeOffset Deadline { get; set; } = deadline;

    /// <summary>Recalled leases not yet ended; when none is left, <see cref="Done"/> completes.</summary>
    public readonly HashSet<Lease> Waiting = [];

    public readonly TaskCompletionSource Done = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Fires at the deadline (revoke what is left), then at the end of the grace period (forget this break).</summary>
    public ITimer? Timer;
    public bool PastDeadline;
}
