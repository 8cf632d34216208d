namespace PmemFs.Format;

/// <summary>What a read verifier concluded about one on-media structure.</summary>
public enum Verdict
{
    /// <summary>Checksum and structure are good.</summary>
    Ok,

    /// <summary>The slot has never been used (all zero).</summary>
    Empty,

    /// <summary>The stored checksum does not match the bytes (torn or flipped bits).</summary>
    BadChecksum,

    /// <summary>The checksum matches but a field is impossible (a bug wrote it, or a forged record).</summary>
    Corrupt,
}

/// <summary>A verifier's verdict plus, when not Ok, why.</summary>
public readonly record struct VerifyResult(Verdict Verdict, string? Problem = null)
{
    public static readonly VerifyResult Good = new(Verdict.Ok);
    public static readonly VerifyResult Blank = new(Verdict.Empty);
    public static VerifyResult Checksum(string what) => new(Verdict.BadChecksum, $"{what}: checksum mismatch");
    public static VerifyResult Corruption(string problem) => new(Verdict.Corrupt, problem);
    public bool IsOk => Verdict == Verdict.Ok;
}

/// <summary>An image that cannot be used: foreign, truncated, or with an unreadable superblock.</summary>
public sealed class ImageFormatException(string message) : Exception(message);
