using System.Text;
using PmemFs.Check;
using PmemFs.CrashSim;
using PmemFs.Format;
using PmemFs.Media;
using static PmemFs.Engine.Tests.EngineFixture;

namespace PmemFs.Engine.Tests;

/// <summary>The file system label (FS_IOC_GETFSLABEL / FS_IOC_SETFSLABEL): both superblock copies, durable, crash-safe.</summary>
public class LabelTests
{
    private static EngineFixture Labelled(string label, FileSystemOptions? options = null)
    {
        var t = new EngineFixture(options: options);
        if (label.Length > 0) Assert.Equal(Errno.Ok, t.Fs.SetLabel(N(label)));
        return t;
    }

    private static void BothCopiesSay(IMedia media, string label)
    {
        var opened = ImageReader.ReadSuperblock(media, "image");
        Assert.Null(opened.PrimaryProblem);
        Assert.Null(opened.SecondaryProblem);
        Assert.Equal(label, opened.Superblock.Label);
    }

    [Fact]
    public void MkfsLabelIsReadAndANewOneIsKeptInBothCopiesAcrossRemount()
    {
        using var media = new MemoryMedia(64L << 20);
        Mkfs.Format(media, new MkfsOptions { Label = "first" });
        using (var fs = FileSystem.Mount(media))
        {
            Assert.Equal(N("first"), fs.GetLabel());
            Assert.Equal(Errno.Ok, fs.SetLabel(N("zweite Ä")));
            Assert.Equal(N("zweite Ä"), fs.GetLabel());
            BothCopiesSay(media, "zweite Ä"); // durable before the unmount
        }
        using (var fs = FileSystem.Mount(media))
        {
            Assert.Equal(N("zweite Ä"), fs.GetLabel());
            Assert.Equal(Errno.Ok, fs.SetLabel([]));
            Assert.Empty(fs.GetLabel());
        }
        BothCopiesSay(media, "");
        Assert.True(Fsck.Check(media, new FsckOptions()).IsClean);
    }

    [Fact]
    public void TooLongEmbeddedNulOrNotUtf8IsEinvalAndChangesNothing()
    {
        using var t = Labelled("keep");
        Assert.Equal(Errno.Ok, t.Fs.SetLabel(N(new string('x', DiskSuperblock.MaxLabelBytes))));
        Assert.Equal(Errno.Ok, t.Fs.SetLabel(N("keep")));
        Assert.Equal(Errno.EINVAL, t.Fs.SetLabel(N(new string('x', DiskSuperblock.MaxLabelBytes + 1))));
        Assert.Equal(Errno.EINVAL, t.Fs.SetLabel(N("a\0b")));
        Assert.Equal(Errno.EINVAL, t.Fs.SetLabel([0xC3, 0x28]));
        Assert.Equal(N("keep"), t.Fs.GetLabel());
        BothCopiesSay(t.Media, "keep");
    }

    [Fact]
    public void AReadOnlyMountRefusesWithErofs()
    {
        using var t = Labelled("ro");
        t.Remount(new FileSystemOptions { ReadOnly = true });
        Assert.Equal(Errno.EROFS, t.Fs.SetLabel(N("other")));
        Assert.Equal(N("ro"), t.Fs.GetLabel());
    }

    [Fact]
    public void AWriteRefusingFileSystemRefusesWithErofs()
    {
        using var t = Labelled("x");
        t.Fs.Health.RefuseWrites("test");
        Assert.Equal(Errno.EROFS, t.Fs.SetLabel(N("y")));
        t.Fs.ShutDown("test");
        Assert.Equal(Errno.EIO, t.Fs.SetLabel(N("y")));
    }

    /// <summary>
    /// Power loss at every event of a label change, in every combination of the cache lines in
    /// doubt (the persistence model): the next mount finds the old label or the new one whole
    /// (the new one once the call had returned), leaves both copies equal, and fsck is clean.
    /// </summary>
    [Fact]
    public void EveryCrashStateOfALabelChangeMountsWithTheOldOrTheNewLabelAndFsckClean()
    {
        const string oldLabel = "old label", newLabel = "a new and rather longer label that spans two lines";
        using var recording = new RecordingMedia(new MemoryMedia(16L << 20));
        Mkfs.Format(recording, new MkfsOptions { Label = oldLabel });
        int from, returned;
        using (var fs = FileSystem.Mount(recording))
        {
            from = recording.Count;
            Assert.Equal(Errno.Ok, fs.SetLabel(N(newLabel)));
            returned = recording.Count;
        }
        var rec = Recording.From(recording);
        var points = new List<CrashPoint>();
        for (int p = from; p <= returned; p++) points.Add(new CrashPoint(points.Count, p, CrashPointKind.MidInterval, 0, -1));
        using var space = new CrashWorkspace(rec.Size);
        var seen = new HashSet<string>();
        var counts = CrashStates.Walk(rec, points, null, space, new StateRules(MaxSubset: 10, SamplesPerPoint: 64, Budget: 200_000, Seed: 1), state =>
        {
            string where = $"crash at event {state.Point.Position} state {state.State} ({state.Lines.Count} lines in doubt)";
            string label;
            using (var fs = FileSystem.Mount(space.Media))
            {
                label = Encoding.UTF8.GetString(fs.GetLabel());
                Assert.True(label == oldLabel || label == newLabel, $"{where}: label \"{label}\"");
                if (state.Point.Position >= returned) Assert.Equal(newLabel, label);
            }
            seen.Add(label);
            var report = Fsck.Check(space.Media, new FsckOptions());
            Assert.True(report.IsClean, $"{where}: fsck: {string.Join("; ", report.Problems.Take(3))}");
            return true;
        });
        Assert.Equal(2, seen.Count);
        Assert.True(counts.States > points.Count, $"only {counts.States} states");
    }
}
