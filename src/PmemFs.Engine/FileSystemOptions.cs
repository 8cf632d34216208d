namespace PmemFs.Engine;

public sealed record FileSystemOptions
{
    /// <summary>Refuse every change (EROFS); nothing is written, not even recovery.</summary>
    public bool ReadOnly { get; init; }

    /// <summary>Never update access times (mount -o noatime); otherwise relatime rules.</summary>
    public bool NoAtime { get; init; }

    /// <summary>What the DAX flag means on this mount (mount -o dax=inode|always|never).</summary>
    public DaxMode Dax { get; init; } = DaxMode.Inode;

    /// <summary>Name used in messages (the image path).</summary>
    public string Name { get; init; } = "image";

    /// <summary>
    /// How long the holder of a recalled layout lease has to give it back before it is revoked
    /// and the layout change goes ahead (mount option lease_break=SECONDS, 0 to 3600). The
    /// default is the kernel's /proc/sys/fs/lease-break-time, 45 s, which is what XFS's layout
    /// leases (pNFS) and fcntl leases give and what holders written for them expect; it is
    /// also the longest a truncate of a leased file can wait (docs/leases.md).
    /// </summary>
    public TimeSpan LeaseBreakTime { get; init; } = DefaultLeaseBreakTime;

    public static readonly TimeSpan DefaultLeaseBreakTime = TimeSpan.FromSeconds(45);

    /// <summary>The clock of lease deadlines (tests pass one they advance by hand).</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;
}

/// <summary>The mount option dax=, with Linux's meaning. Values match PMEMFS_DAX_* of pmemfs.h.</summary>
public enum DaxMode
{
    /// <summary>Each file's DAX flag decides (the default).</summary>
    Inode = 0,
    /// <summary>Every regular file that can be DAX is, whatever its flag.</summary>
    Always = 1,
    /// <summary>No file is DAX; the flag is kept and shown but has no effect.</summary>
    Never = 2,
}
