namespace PmemFs.Cli;

/// <summary>
/// Exit codes scripts can rely on (docs/cli.md). fsck follows fsck(8), whose codes are bits;
/// every other command uses the common 0 / 1 / 2.
/// </summary>
public static class ExitCodes
{
    /// <summary>Success.</summary>
    public const int Ok = 0;

    /// <summary>The command could not do its work (missing or foreign image, I/O error, refusal).</summary>
    public const int Failure = 1;

    /// <summary>The command line is wrong (unknown option, missing or malformed argument).</summary>
    public const int Usage = 2;

    /// <summary>fsck: the file system is clean (fsck(8): no errors).</summary>
    public const int FsckClean = 0;

    /// <summary>fsck --repair: problems were found and corrected, the image is clean now (fsck(8): errors corrected).</summary>
    public const int FsckCorrected = 1;

    /// <summary>fsck: problems were found and left as they are (fsck(8): errors left uncorrected).</summary>
    public const int FsckProblems = 4;

    /// <summary>fsck: the check could not run (fsck(8): operational error).</summary>
    public const int FsckOperational = 8;

    /// <summary>fsck: the command line is wrong (fsck(8): usage or syntax error).</summary>
    public const int FsckUsage = 16;
}
