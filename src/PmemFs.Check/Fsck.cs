using PmemFs.Format;
using PmemFs.Media;
using PmemFs.Media.Poison;

namespace PmemFs.Check;

public sealed record FsckOptions
{
    /// <summary>Lifts the cap on problem lines per kind and adds per-phase notes.</summary>
    public bool Verbose { get; init; }
}

/// <summary>One thing found wrong: where ("inode 57", "dirent slot 12", "bitmap", "superblock") and what.</summary>
public sealed record FsckProblem(string Where, string Message)
{
    public override string ToString() => $"{Where}: {Message}";
}

public sealed record FsckProgress(string Phase, long Done, long Total);

public sealed record FsckStats(long Inodes, long Directories, long RegularFiles, long Symlinks, long Dirents, long Extents, long RmapRecords, long UsedDataBlocks, long FreeDataBlocks, int TransactionsReplayed, int Orphans, int PendingTrims);

public sealed record FsckReport(IReadOnlyList<FsckProblem> Problems, FsckStats Stats, IReadOnlyList<string> Notes)
{
    public bool IsClean => Problems.Count == 0;
}

/// <summary>
/// Checks a PmemFs image, xfs_repair style, in numbered phases (one file each). Never writes the
/// user's image: the journal is replayed (so the check sees the state the next mount would
/// recover) into the media only when that is a private copy (a <see cref="MemoryMedia"/> or a
/// <see cref="PmemMedia"/> copy-on-write view); any other media, e.g. a device-DAX region that
/// could only be mapped read-only, gets an in-memory overlay that takes the stores instead.
/// </summary>
public static class Fsck
{
    /// <summary>The end of the note that says the media is not a private copy (the repair drops it from its after-check).</summary>
    internal const string NotPrivateCopyNote = "is not a private copy: the journal is replayed into memory only";

    /// <exception cref="ImageFormatException">neither superblock is usable (or the image is not PmemFs).</exception>
    public static FsckReport Check(IMedia media, FsckOptions options, IProgress<FsckProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(media);
        ArgumentNullException.ThrowIfNull(options);
        // Never a load from a bad line: poisoned bytes read as zeros (PhasePoison says where they are).
        var bad = EmulatedPoisonMedia.BadRangesOf(media);
        IMedia view = bad.Count == 0 ? media : new PoisonMaskedMedia(media, bad);
        using var overlay = CopyOnWriteOverlay.IsNeededFor(media) ? new CopyOnWriteOverlay(view) : null;
        var ctx = new FsckContext(overlay ?? view, options, progress) { ImageName = media is PmemMedia pm ? pm.Path : media.Description };
        if (overlay is not null) ctx.Note($"{media.Description} {NotPrivateCopyNote}");

        // Phase 1 decides whether there is a file system at all: its ImageFormatException propagates.
        if (!Phase1Superblock.Run(ctx)) return ctx.ToReport();

        Run(ctx, 2, "journal", Phase2Journal.Run);
        Run(ctx, 3, "inodes", Phase3Inodes.Run);
        Run(ctx, 4, "dirents", Phase4Dirents.Run);
        Run(ctx, 5, "extents and rmap", Phase5ExtentsRmap.Run);
        Run(ctx, 6, "free space", Phase6FreeSpace.Run);
        Run(ctx, 7, "namespace", Phase7Namespace.Run);
        if (bad.Count > 0) Run(ctx, 8, "media errors", c => PhasePoison.Run(c, bad));
        return ctx.ToReport();
    }

    /// <summary>
    /// A phase that stops on an unexpected exception is a finding, not a crash: later phases
    /// still run on what was collected (a corrupted image must never take fsck down).
    /// </summary>
    private static void Run(FsckContext ctx, int number, string name, Action<FsckContext> phase)
    {
        try
        {
            phase(ctx);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            ctx.Problem("fsck", $"phase {number} ({name}) stopped early: {e.GetType().Name}: {e.Message}");
        }
        finally
        {
            ctx.EndPhase($"phase {number} ({name})");
        }
    }
}
