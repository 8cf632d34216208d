using PmemFs.Format;
using PmemFs.Media;
using PmemFs.Media.Poison;

namespace PmemFs.Check;

/// <summary>One thing <see cref="FsckRepair"/> changed on the image: where and what.</summary>
public sealed record RepairChange(string Where, string Message)
{
    public override string ToString() => $"{Where}: {Message}";
}

/// <summary>What a repair changed, and what a check of the repaired image found afterwards.</summary>
public sealed record RepairReport(IReadOnlyList<RepairChange> Changes, FsckReport After)
{
    /// <summary>Whether the image was written (fsck(8) exit 1 when <see cref="FsckReport.IsClean"/> afterwards).</summary>
    public bool Changed => Changes.Count > 0;
}

/// <summary>
/// <c>fsck --repair</c>: rewrites an image into a state the engine mounts and the checker calls
/// clean, losing as little as possible. What is trusted: the superblock copy that verifies, the
/// committed journal (replayed onto the image first), the inode, dirent and extent records that
/// verify (the extent table is the source of truth for file data). Everything derived — the
/// rmap table, the free-space bitmap, link counts — is rebuilt from them; records that do not
/// verify are cleared (and the change says what was lost).
/// </summary>
/// <remarks>
/// Write order, so that a crash at any point leaves an image another repair (or a mount) brings
/// to the same result: the journal is replayed and checkpointed first, then steps 2 to 6 are
/// committed through the journal (<see cref="RepairJournal"/>: whole records, and the new
/// /lost+found with the entry naming it, or nothing), and the superblock is written last:
/// <list type="number">
/// <item>journal: replay every committed transaction onto the image, drain, then write a new
/// header (a checkpoint) so no later mount replays old transactions over the repair;</item>
/// <item>removals: dirent, extent and inode slots that are cleared;</item>
/// <item>inode records (link counts, a new /lost+found or root, xattr fields, flags the rules
/// of docs/flags.md do not allow: cleared, never acted on by moving or allocating data);</item>
/// <item>dirent records (entries in /lost+found, type fixes) and trimmed extents;</item>
/// <item>the rmap table (stale records removed, missing ones added), with the reference-count
/// records rewritten to exactly what the surviving extents share (<see cref="SharedBlocks.Expected"/>);</item>
/// <item>the free-space bitmap;</item>
/// <item>the superblock copy that was bad, last (both copies when a version 1 image now needs
/// reference-count records: it becomes version 2).</item>
/// </list>
/// Extents are only ever removed or shortened, never added, so no intermediate state has a
/// block in use that the bitmap calls free and that was not already so; every derived
/// structure is rebuilt from scratch by the next repair; and a bad superblock copy is only
/// rewritten once everything else is consistent (the good copy carries the check until then).
/// </remarks>
public static class FsckRepair
{
    /// <exception cref="ImageFormatException">neither superblock is usable (or the image is not PmemFs).</exception>
    /// <exception cref="InvalidOperationException"><paramref name="media"/> cannot be written.</exception>
    public static RepairReport Repair(IMedia media, FsckOptions options, IProgress<FsckProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(media);
        ArgumentNullException.ThrowIfNull(options);
        if (media is PmemMedia { IsReadOnly: true } ro)
            throw new InvalidOperationException($"{ro.Path}: opened read-only; repair has to write the image");
        // Poisoned metadata cannot be read: clear it first (its records are lost and rebuilt from
        // the rest, as damaged ones are), and read everything else without loading a bad line.
        var poisonChanges = PoisonRepair.ClearMetadataPoison(media);
        var bad = EmulatedPoisonMedia.BadRangesOf(media);
        IMedia view = bad.Count == 0 ? media : new PoisonMaskedMedia(media, bad);
        var changes = new Repairer(view, options, progress).Run();
        changes.InsertRange(0, poisonChanges);
        var after = Fsck.Check(media, options, progress);
        // The journal is empty now: that the check would have replayed into memory only says nothing.
        after = after with { Notes = after.Notes.Where(n => !n.EndsWith(Fsck.NotPrivateCopyNote, StringComparison.Ordinal)).ToArray() };
        return new RepairReport(changes, after);
    }
}
