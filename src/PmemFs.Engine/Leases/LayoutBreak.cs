namespace PmemFs.Engine.Leases;

/// <summary>What a layout-changing operation may do after <see cref="LeaseTable.BreakLayouts"/>.</summary>
public enum LayoutBreakOutcome
{
    /// <summary>No other handle's lease covers the range (or every one was revoked): go ahead.</summary>
    Proceed = 0,
    /// <summary>Part of the range, or a lease that would have to be recalled, is pinned: fail with ETXTBSY, nothing changed.</summary>
    Pinned = 1,
    /// <summary>Leases were recalled: fail this attempt with <see cref="Errno.RetryAfterRecall"/> and retry once <see cref="LayoutBreak.Done"/> completes.</summary>
    Recalled = 2,
}

/// <summary>
/// The answer of one break-layouts call. Never blocks: a recall is a task that completes when
/// every recalled lease has ended, by release or by revocation at <see cref="Deadline"/>.
/// </summary>
public readonly record struct LayoutBreak(LayoutBreakOutcome Outcome, Task Done, DateTimeOffset Deadline)
{
    public static LayoutBreak Proceed => new(LayoutBreakOutcome.Proceed, Task.CompletedTask, default);
    public static LayoutBreak Pinned => new(LayoutBreakOutcome.Pinned, Task.CompletedTask, default);

    public bool MayProceed => Outcome == LayoutBreakOutcome.Proceed;

    /// <summary>The errno an operation returns when it may not proceed.</summary>
    public Errno Errno => Outcome switch
    {
        LayoutBreakOutcome.Proceed => Errno.Ok,
        LayoutBreakOutcome.Pinned => Errno.ETXTBSY,
        _ => Errno.RetryAfterRecall,
    };
}
