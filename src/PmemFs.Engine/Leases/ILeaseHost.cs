namespace PmemFs.Engine.Leases;

/// <summary>
/// What the lease table needs from the kernel side: telling a holder its lease is recalled or
/// gone. The daemon implements it (for instance by waking poll() on the holder's handle with
/// fuse_lowlevel_notify_poll); engine tests record the calls.
/// </summary>
/// <remarks>
/// Calls come from the thread of the operation that breaks the layout (which may hold that
/// file's inode lock) or from the break-time timer. They must not block and must not call back
/// into the <see cref="FileSystem"/>; queue the work instead.
/// </remarks>
public interface ILeaseHost
{
    /// <summary>The holder must release the lease before <see cref="LeaseInfo.RecallDeadline"/>.</summary>
    void LeaseRecalled(LeaseInfo lease);

    /// <summary>
    /// The lease ended without its holder releasing it (the break time passed, or its file was
    /// freed): its mapping no longer describes the file and must not be used.
    /// </summary>
    void LeaseRevoked(LeaseInfo lease);

    /// <summary>
    /// The lease ended, however it ended (released, its handle closed, its process dead, revoked;
    /// after <see cref="LeaseRevoked"/> for a revoked one): a write lease's holder may have stored
    /// into the file directly, so the kernel's cached pages of it are stale (the daemon drops them).
    /// </summary>
    void LeaseEnded(LeaseInfo lease) { }
}
