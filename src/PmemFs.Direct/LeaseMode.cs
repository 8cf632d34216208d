namespace PmemFs.Direct;

/// <summary>What a lease allows (pmemfs.h PMEMFS_LEASE_READ / _WRITE).</summary>
public enum LeaseMode
{
    /// <summary>Shared: map and load; other readers may hold overlapping read leases.</summary>
    Read = 1,

    /// <summary>Exclusive: prepare, map writable, store and persist.</summary>
    Write = 2,
}

/// <summary>Where a lease stands, as the holder sees it.</summary>
public enum LeaseState
{
    /// <summary>Held: the layout of the range stays as mapped.</summary>
    Active,

    /// <summary>Someone changes the layout: give the lease back before <see cref="Lease.RecallDeadline"/>.</summary>
    Recalled,

    /// <summary>Ended without the holder giving it back (the break time passed, or the mount went away): its mappings are gone.</summary>
    Revoked,

    /// <summary>Given back by the holder.</summary>
    Released,
}
