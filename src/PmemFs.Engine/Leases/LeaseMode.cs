namespace PmemFs.Engine.Leases;

/// <summary>What a layout lease lets its holder do with the range's blocks.</summary>
public enum LeaseMode
{
    /// <summary>Shared: load through a direct mapping. Any number of read leases may overlap.</summary>
    Read = 1,
    /// <summary>Exclusive: store through a direct mapping (after prepare-write). Overlaps no other handle's lease.</summary>
    Write = 2,
}

/// <summary>Where a lease is in its life.</summary>
public enum LeaseState
{
    /// <summary>Held; the layout of its range changes only through its own handle.</summary>
    Active = 1,
    /// <summary>Someone needs to change the layout: the holder has been told and must release it before the deadline, when it is revoked.</summary>
    Recalled = 2,
}
