using PmemFs.Check;
using PmemFs.Engine;
using PmemFs.Media;

namespace PmemFs.CrashSim;

/// <summary>
/// A second power loss during recovery (issue 13): a crash image is recovered once without
/// interruption (the expected tree), then its recovery — journal replay, orphans freed, pending
/// truncates finished, the clean-unmount checkpoint — is recorded and crashed again at every
/// point the first-crash explorer uses (before and after each fence, midway between), in every
/// state of the lines in doubt (all of them up to 2^maxSubset, else sampled), and each of those
/// images is recovered again. Each must mount, be fsck-clean after, and hold exactly the
/// expected tree: recovery is idempotent under power loss.
/// </summary>
public static class RecoveryCrashes
{
    private static readonly FileSystemOptions Options = new() { NoAtime = true, Name = "recovery crash image" };

    /// <summary>States checked, and the first problem (null when every state recovered to the expected tree).</summary>
    public static (long States, int Points, string? Problem) Check(byte[] image, int maxSubset, int samplesPerPoint, int seed)
    {
        ArgumentNullException.ThrowIfNull(image);
        FsModel expected;
        using (var media = MemoryMedia.FromBytes(image))
        using (var fs = FileSystem.Mount(media, Options))
            expected = FsModel.Observe(fs, out _);

        Recording recording;
        using (var inner = MemoryMedia.FromBytes(image))
        using (var recorded = new RecordingMedia(inner, ownsInner: false))
        {
            FileSystem.Mount(recorded, Options).Dispose();
            recording = Recording.From(recorded);
        }

        var points = CrashExplorer.CrashPoints(recording, 0);
        var explore = new ExploreOptions { MaxSubset = maxSubset, SamplesPerPoint = samplesPerPoint, Seed = seed };
        using var space = new CrashWorkspace(image.Length);
        space.Reset(image);
        var simulator = new PmemSimulator(recording, image) { DurableLineChanged = space.DurableChanged };
        long states = 0;
        foreach (var point in points)
        {
            simulator.AdvanceTo(point.Position);
            var lines = simulator.PendingLines();
            long all = 1;
            foreach (var l in lines) all = all > (1L << maxSubset) ? all : all * (1 + l.Versions.Length);
            bool enumerate = all <= 1L << maxSubset;
            long take = enumerate ? all : samplesPerPoint;
            for (long state = 0; state < take; state++)
            {
                var choice = CrashExplorer.Choose(lines, enumerate, state, seed, point.Index);
                space.Build(simulator.Durable, lines, choice);
                states++;
                string? problem = Recover(space.Media, expected);
                if (problem is not null)
                    return (states, points.Count, $"recovery crashed at point {point.Index} ({point.Kind}, event {point.Position} of {recording.Records.Length}), state {state}: {problem}");
            }
        }
        return (states, points.Count, null);
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
        catch (Exception e)
        {
            return $"the second recovery failed: {e.GetType().Name}: {e.Message}";
        }
        var after = Fsck.Check(media, new FsckOptions());
        if (!after.IsClean) return "fsck after the second recovery: " + string.Join("; ", after.Problems.Take(3));
        return seen.DifferenceFrom(expected) is { } diff ? "the second recovery differs from the first: " + diff : null;
    }
}
