namespace PmemFs.Engine.Leases;

/// <summary>
/// A snapshot of one lease for queries (<c>pmemfs lease list</c>) and host notices. Pid and
/// handle are what the host gave when the lease was taken.
/// </summary>
/// <param name="Id">The lease id (unique for the life of the mount, never reused).</param>
/// <param name="Ino">The leased file.</param>
/// <param name="Handle">The open file handle it is held through (FUSE's fh).</param>
/// <param name="Pid">The holder process.</param>
/// <param name="Mode">Read (shared) or write (exclusive).</param>
/// <param name="Range">The leased bytes.</param>
/// <param name="State">Active or recalled.</param>
/// <param name="Granted">When it was granted.</param>
/// <param name="RecallDeadline">When a recalled lease is revoked; null while active.</param>
/// <param name="Pins">Its pinned ranges, by pin id.</param>
public sealed record LeaseInfo(
    long Id, ulong Ino, ulong Handle, int Pid, LeaseMode Mode, FileRange Range,
    LeaseState State, DateTimeOffset Granted, DateTimeOffset? RecallDeadline, IReadOnlyList<PinInfo> Pins);

/// <summary>A pinned range inside a lease: no layout change by anyone may touch it (ETXTBSY).</summary>
public readonly record struct PinInfo(long Id, FileRange Range);
