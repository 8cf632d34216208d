using PmemFs.Engine.Leases;

namespace PmemFs.Engine.Tests;

/// <summary>The daemon's side of leases, recorded: which holders were told of a recall or a revocation.</summary>
public sealed class RecordingLeaseHost : ILeaseHost
{
    private readonly Lock _lock = new();
    private readonly List<LeaseInfo> _recalled = [];
    private readonly List<LeaseInfo> _revoked = [];
    private readonly List<LeaseInfo> _ended = [];

    /// <summary>Run on each recall notice (a holder that gives its lease back when told).</summary>
    public Action<LeaseInfo>? OnRecall { get; set; }

    public IReadOnlyList<LeaseInfo> Recalled
    {
        get { lock (_lock) return [.. _recalled]; }
    }

    public IReadOnlyList<LeaseInfo> Revoked
    {
        get { lock (_lock) return [.. _revoked]; }
    }

    public void LeaseRecalled(LeaseInfo lease)
    {
        lock (_lock) _recalled.Add(lease);
        OnRecall?.Invoke(lease);
    }

    public void LeaseRevoked(LeaseInfo lease)
    {
        lock (_lock) _revoked.Add(lease);
    }

    /// <summary>Every lease that ended, however (in the order the table told).</summary>
    public IReadOnlyList<LeaseInfo> Ended
    {
        get { lock (_lock) return [.. _ended]; }
    }

    public void LeaseEnded(LeaseInfo lease)
    {
        lock (_lock) _ended.Add(lease);
    }
}
