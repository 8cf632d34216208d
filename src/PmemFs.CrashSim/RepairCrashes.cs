using PmemFs.Check;
using PmemFs.Engine;
using PmemFs.Media;

namespace PmemFs.CrashSim;

/// <summary>
/// A power loss during `fsck --repair`: a damaged image is repaired once without interruption
/// (the expected tree), then the repair is recorded and crashed at every point in every state
/// (as <see cref="RecoveryCrashes"/> does for mount's recovery), and each image is repaired
/// again. Each must end fsck-clean, mount, and keep every file the uninterrupted repair keeps
/// (its data, wherever it is linked): repair loses nothing under power loss. The tree need not
/// be identical: a repair crashed after creating /lost+found but before naming it leaves a
/// directory the next repair links into a new /lost+found (docs/crash-testing.md).
/// </summary>
public static class RepairCrashes
{
    private static readonly FileSystemOptions Options = new() { NoAtime = true, ReadOnly = true, Name = "repair crash image" };

    public static (long States, int Points, string? Problem) Check(byte[] image, int maxSubset, int samplesPerPoint, int seed)
    {
        ArgumentNullException.ThrowIfNull(image);
        FsModel expected;
        using (var media = MemoryMedia.FromBytes(image))
        {
            FsckRepair.Repair(media, new FsckOptions());
            using var fs = FileSystem.Mount(media, Options);
            expected = FsModel.Observe(fs, out _);
        }

        Recording recording;
        using (var inner = MemoryMedia.FromBytes(image))
        using (var recorded = new RecordingMedia(inner, ownsInner: false))
        {
            FsckRepair.Repair(recorded, new FsckOptions());
            recording = Recording.From(recorded);
        }

        var points = CrashExplorer.CrashPoints(recording, 0);
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
                space.Build(simulator.Durable, lines, CrashExplorer.Choose(lines, enumerate, state, seed, point.Index));
                states++;
                string? problem = RepairAgain(space.Media, expected);
                if (problem is not null)
                    return (states, points.Count, $"repair crashed at point {point.Index} ({point.Kind}, event {point.Position} of {recording.Records.Length}), state {state}: {problem}");
            }
        }
        return (states, points.Count, null);
    }

    /// <summary>Every regular file's data the expected tree holds is held by some file of the seen one.</summary>
    private static string? Lost(FsModel seen, FsModel expected)
    {
        var have = seen.Nodes.Values.Where(n => n.Kind == NodeKind.File).Select(n => Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(n.Data))).ToList();
        foreach (var (ino, node) in expected.Nodes)
        {
            if (node.Kind != NodeKind.File) continue;
            string hash = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(node.Data));
            if (!have.Remove(hash)) return $"inode {ino} ({node.Data.Length} bytes) of the uninterrupted repair's tree is lost";
        }
        return null;
    }

    private static string? RepairAgain(IMedia media, FsModel expected)
    {
        try
        {
            var report = FsckRepair.Repair(media, new FsckOptions());
            if (!report.After.IsClean) return "the second repair left problems: " + string.Join("; ", report.After.Problems.Take(3));
            using var fs = FileSystem.Mount(media, Options);
            var seen = FsModel.Observe(fs, out string? accounting);
            if (accounting is not null) return "after the second repair: " + accounting;
            return Lost(seen, expected);
        }
        catch (Exception e)
        {
            return $"the second repair failed: {e.GetType().Name}: {e.Message}";
        }
    }
}
