namespace PmemFs.Engine.Health;

/// <summary>Whether the file system accepts changes, from best to worst; it only ever gets worse until remount.</summary>
public enum HealthState
{
    /// <summary>Nothing known to be wrong that stops writes (sick files and bad ranges may still exist: they cost only what they hold).</summary>
    Healthy = 0,

    /// <summary>
    /// Metadata is damaged in a way that makes changes unsafe (no redundant copy to repair it
    /// from): every change is refused with EROFS until `pmemfs fsck --repair` has run; reads go on.
    /// </summary>
    WritesRefused = 1,

    /// <summary>
    /// Forced shutdown (XFS's xfs_force_shutdown): memory and media can no longer be trusted to
    /// agree, so nothing is written again until remount; changes get EIO.
    /// </summary>
    ShutDown = 2,
}
