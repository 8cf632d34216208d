using PmemFs.Check;
using PmemFs.Engine;
using PmemFs.Media;

namespace PmemFs.CrashSim;

/// <summary>
/// A second power loss during mount's recovery (issue 13): a crash image is recovered once
/// without interruption (the expected tree), then that recovery — journal replay, the primary
/// superblock fixed from the secondary, orphans freed, pending truncates finished, the
/// clean-unmount checkpoint — is crashed at each of its fences (<see cref="SecondCrash"/>) and
/// every state is mounted again. Each must mount, hold exactly the expected tree with its space
/// accounted for, and be fsck-clean after unmount: recovery is idempotent under power loss.
/// </summary>
public static class RecoveryCrashes
{
    private static readonly FileSystemOptions Options = new() { NoAtime = true, Name = "recovery crash image" };

    /// <summary>Crashes the recovery of <paramref name="image"/>; the result's failure is null when every state recovered to the expected tree.</summary>
    public static SecondCrashResult Check(byte[] image, StateRules rules, int? onlyPoint = null, long? onlyState = null, Func<Recording, Recording>? sabotage = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        FsModel expected;
        using (var media = MemoryMedia.FromBytes(image))
        {
            using (var fs = FileSystem.Mount(media, Options))
                expected = FsModel.Observe(fs, out _);
        }
        return SecondCrash.Explore(image, media => FileSystem.Mount(media, Options).Dispose(), media => Recover(media, expected), rules, onlyPoint, onlyState, sabotage);
    }

    private static string? Recover(IMedia media, FsModel expected)
    {
        FsModel seen;
        try
        {
            using var fs = FileSystem.Mount(media, Options);
            seen = FsModel.Observe(fs, out string? accounting);
            if (accounting is not null) return "after the second recovery: " + accounting;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return $"the second recovery failed: {e.GetType().Name}: {e.Message}";
        }
        var after = Fsck.Check(media, new FsckOptions());
        if (!after.IsClean) return "fsck after the second recovery: " + string.Join("; ", after.Problems.Take(3));
        return seen.DifferenceFrom(expected) is { } diff ? "the second recovery differs from the uninterrupted one: " + diff : null;
    }
}
