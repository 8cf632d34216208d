using PmemFs.Check;
using PmemFs.Engine;
using PmemFs.Format;
using PmemFs.Media;

namespace PmemFs.CrashSim;

/// <summary>What crashing one image's repair found.</summary>
/// <param name="Skipped">Why the image was not crash-tested (the uninterrupted repair refused it or left it unclean: fsck's own tests judge that), or null.</param>
public sealed record RepairCrashResult(SecondCrashResult? Crashes, string? Skipped);

/// <summary>
/// A power loss during <c>fsck --repair</c> (issue 13): an image is repaired once without
/// interruption (the expected result: clean, mountable, and its tree), then that repair is
/// crashed at each of its fences (<see cref="SecondCrash"/>) and every state is repaired again.
/// Each must end clean, need nothing from a further repair, mount, and hold exactly the
/// uninterrupted repair's tree with its space accounted for: repair converges under power loss.
/// </summary>
public static class RepairCrashes
{
    private static readonly FileSystemOptions Options = new() { NoAtime = true, Name = "repaired image" };

    public static RepairCrashResult Check(byte[] image, StateRules rules, int? onlyPoint = null, long? onlyState = null, Func<Recording, Recording>? sabotage = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        FsModel expected;
        using (var media = MemoryMedia.FromBytes(image))
        {
            RepairReport first;
            try { first = FsckRepair.Repair(media, new FsckOptions()); }
            catch (ImageFormatException e) { return new RepairCrashResult(null, "repair refuses it: " + e.Message); }
            if (!first.After.IsClean) return new RepairCrashResult(null, "not clean after repair: " + string.Join("; ", first.After.Problems.Take(2)));
            try
            {
                using var fs = FileSystem.Mount(media, Options);
                expected = FsModel.Observe(fs, out string? accounting);
                if (accounting is not null) return new RepairCrashResult(null, "repaired, but " + accounting);
            }
            catch (Exception e) when (e is ImageFormatException or InvalidDataException)
            {
                return new RepairCrashResult(null, "repaired, but the engine does not take it: " + e.Message);
            }
        }
        var crashes = SecondCrash.Explore(image, media => FsckRepair.Repair(media, new FsckOptions()), media => RepairAgain(media, expected), rules, onlyPoint, onlyState, sabotage);
        return new RepairCrashResult(crashes, null);
    }

    private static string? RepairAgain(IMedia media, FsModel expected)
    {
        RepairReport again;
        try { again = FsckRepair.Repair(media, new FsckOptions()); }
        catch (ImageFormatException e) { return "repair after the crash refuses the image: " + e.Message; }
        if (!again.After.IsClean) return "not clean after repairing the crashed repair: " + string.Join("; ", again.After.Problems.Take(3));
        var more = FsckRepair.Repair(media, new FsckOptions());
        if (more.Changed) return "a third repair still changed something: " + string.Join("; ", more.Changes.Take(3));
        FsModel seen;
        try
        {
            using var fs = FileSystem.Mount(media, Options);
            seen = FsModel.Observe(fs, out string? accounting);
            if (accounting is not null) return "after repairing the crashed repair: " + accounting;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return $"the engine does not take the image repaired again: {e.GetType().Name}: {e.Message}";
        }
        var after = Fsck.Check(media, new FsckOptions());
        if (!after.IsClean) return "fsck after mounting it: " + string.Join("; ", after.Problems.Take(3));
        return seen.DifferenceFrom(expected) is { } diff ? "repairing the crashed repair differs from one uninterrupted repair: " + diff : null;
    }
}
