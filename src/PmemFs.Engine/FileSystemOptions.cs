namespace PmemFs.Engine;

public sealed record FileSystemOptions
{
    /// <summary>Refuse every change (EROFS); nothing is written, not even recovery.</summary>
    public bool ReadOnly { get; init; }

    /// <summary>Never update access times (mount -o noatime); otherwise relatime rules.</summary>
    public bool NoAtime { get; init; }

    /// <summary>Name used in messages (the image path).</summary>
    public string Name { get; init; } = "image";
}
