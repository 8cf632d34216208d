using PmemFs.Engine;
using PmemFs.Format;

namespace PmemFs.Check.Tests;

public sealed class CleanImageTests
{
    [Fact]
    public void FreshImageIsClean()
    {
        using var img = new TestImage().Unmount();
        var report = img.Check();
        ReportAssert.Clean(report);
        var g = img.G;
        Assert.Equal(1, report.Stats.Inodes);
        Assert.Equal(1, report.Stats.Directories);
        Assert.Equal(0, report.Stats.Dirents);
        Assert.Equal(0, report.Stats.Extents);
        Assert.Equal(g.MetadataAreas().Count(), report.Stats.RmapRecords);
        Assert.Equal(0, report.Stats.UsedDataBlocks);
        Assert.Equal(g.DataBlocks, report.Stats.FreeDataBlocks);
        Assert.Equal(0, report.Stats.TransactionsReplayed);
    }

    [Fact]
    public void FreshlyFormattedImageThatWasNeverMountedIsClean()
    {
        using var media = new PmemFs.Media.MemoryMedia(32L << 20);
        Mkfs.Format(media, new MkfsOptions());
        ReportAssert.Clean(Fsck.Check(media, new FsckOptions()));
    }

    [Fact]
    public void PopulatedImageIsCleanAndCounted()
    {
        using var img = new TestImage().Populate().Unmount();
        var report = img.Check();
        ReportAssert.Clean(report);
        var s = report.Stats;
        // root, docs, empty, deep, deeper, deepest, swapdir; a.txt, sparse, prealloc, keep, punched,
        // zeroed, truncated, xfile, new, replacer; sym, longsym; fifo.
        Assert.Equal(7, s.Directories);
        Assert.Equal(10, s.RegularFiles);
        Assert.Equal(2, s.Symlinks);
        Assert.Equal(20, s.Inodes);
        Assert.Equal(20, s.Dirents); // every inode but the root is named once, a.txt twice
        Assert.True(s.Extents >= 10, $"only {s.Extents} extents");
        Assert.True(s.UsedDataBlocks > 0);
        Assert.Equal(img.G.DataBlocks, s.UsedDataBlocks + s.FreeDataBlocks);
        Assert.Equal(0, s.Orphans);
        Assert.Equal(0, s.PendingTrims);
    }

    [Fact]
    public void PopulatedImageStillMountsAfterTheCheck()
    {
        using var img = new TestImage().Populate().Unmount();
        ReportAssert.Clean(img.Check());
        using var fs = FileSystem.Mount(img.Media);
        Assert.Equal(Errno.Ok, fs.Lookup(img.Inos["docs"], TestImage.N("a.txt"), out var a));
        Assert.Equal(10_000, a.Size);
    }

    [Fact]
    public void UsedBlocksMatchWhatTheEngineAllocated()
    {
        using var img = new TestImage().Populate();
        long engineFree = img.Engine.StatFs().FreeBlocks;
        img.Unmount();
        var report = img.Check();
        ReportAssert.Clean(report);
        Assert.Equal(engineFree, report.Stats.FreeDataBlocks);
    }

    [Fact]
    public void ProgressIsReportedForEveryTablePhase()
    {
        using var img = new TestImage().Populate().Unmount();
        var seen = new List<FsckProgress>();
        Fsck.Check(img.Media, new FsckOptions(), new SyncProgress(seen));
        var phases = seen.Select(p => p.Phase).Distinct().ToList();
        foreach (var phase in new[] { "superblock", "journal", "inodes", "dirents", "extents", "rmap", "free space", "namespace" })
            Assert.Contains(phase, phases);
        var inodes = seen.Where(p => p.Phase == "inodes").ToList();
        Assert.Equal(img.G.InodeCount, inodes[^1].Done);
        Assert.Equal(img.G.InodeCount, inodes[^1].Total);
        Assert.True(inodes.Count > 1, "large tables report progress along the way");
        Assert.All(seen, p => Assert.InRange(p.Done, 0, p.Total));
    }

    [Fact]
    public void VerboseAddsNotesButNoProblems()
    {
        using var img = new TestImage().Populate().Unmount();
        var quiet = img.Check();
        var verbose = img.Check(new FsckOptions { Verbose = true });
        ReportAssert.Clean(verbose);
        Assert.True(verbose.Notes.Count > quiet.Notes.Count);
        Assert.Contains(verbose.Notes, n => n.StartsWith("superblock: uuid", StringComparison.Ordinal));
    }

    [Fact]
    public void OrphanIsANoteNotAProblem()
    {
        using var img = new TestImage();
        ulong f = img.File(TestImage.Root, "open-but-unlinked");
        img.Write(f, 0, TestImage.Pattern(9000, 1));
        img.Engine.Retain(f); // the kernel still holds it open
        img.Do(img.Engine.Unlink(TestImage.Root, TestImage.N("open-but-unlinked")));
        img.Unmount();

        var report = img.Check();
        ReportAssert.Clean(report);
        Assert.Equal(1, report.Stats.Orphans);
        Assert.Contains(report.Notes, n => n.Contains("orphan", StringComparison.Ordinal) && n.Contains($"{f}", StringComparison.Ordinal));

        // ...and the engine does free it at the next mount, after which it is gone.
        FileSystem.Mount(img.Media).Dispose();
        var after = img.Check();
        ReportAssert.Clean(after);
        Assert.Equal(0, after.Stats.Orphans);
    }

    [Fact]
    public void RemovedDirectoryStillOpenIsAnOrphan()
    {
        using var img = new TestImage();
        ulong d = img.Dir(TestImage.Root, "cwd-of-someone");
        img.Engine.Retain(d);
        img.Do(img.Engine.RemoveDirectory(TestImage.Root, TestImage.N("cwd-of-someone")));
        img.Unmount();
        var report = img.Check();
        ReportAssert.Clean(report);
        Assert.Equal(1, report.Stats.Orphans);
    }

    [Fact]
    public void WrittenBlocksBeyondEofUnderAPendingTrimAreANote()
    {
        using var img = new TestImage();
        ulong f = img.File(TestImage.Root, "being-truncated");
        img.Write(f, 0, TestImage.Pattern(3 * 4096, 1));
        img.Unmount();
        // What a crash in the middle of a long truncate leaves: size already small, blocks still mapped.
        var rec = img.ReadInode(f);
        img.WriteInode(rec with { Size = 100, PendingTrim = 1 + 1 });

        var report = img.Check();
        ReportAssert.Clean(report);
        Assert.Equal(1, report.Stats.PendingTrims);
        Assert.Contains(report.Notes, n => n.Contains("interrupted truncate", StringComparison.Ordinal));
    }

    [Fact]
    public void UnwrittenBlocksBeyondEofAreFine()
    {
        using var img = new TestImage();
        ulong f = img.File(TestImage.Root, "f");
        img.Do(img.Engine.Fallocate(f, FallocateMode.KeepSize, 0, 1 << 20, Credentials.Root));
        img.Unmount();
        var report = img.Check();
        ReportAssert.Clean(report);
        Assert.Equal(256, report.Stats.UsedDataBlocks);
    }

    private sealed class SyncProgress(List<FsckProgress> seen) : IProgress<FsckProgress>
    {
        public void Report(FsckProgress value) => seen.Add(value);
    }
}
