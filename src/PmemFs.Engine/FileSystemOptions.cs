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
