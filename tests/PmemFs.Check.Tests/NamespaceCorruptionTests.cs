using PmemFs.Format;

namespace PmemFs.Check.Tests;

/// <summary>Damage to the tree and to link counts is found and named.</summary>
public sealed class NamespaceCorruptionTests : IDisposable
{
    private readonly TestImage _img = new TestImage().Populate().Unmount();

    public void Dispose() => _img.Dispose();

    private ulong Ino(string name) => _img.Inos[name];

    private void Rewrite(long slot, Func<DirentRecord, DirentRecord> change)
    {
        var span = _img.DirentBytes(slot);
        Assert.True(DiskDirent.VerifyRead(span, slot, out var d).IsOk);
        DiskDirent.Seal(change(d), span);
    }

    [Fact]
    public void WrongLinkCountOnAFileIsReported()
    {
        ulong a = Ino("a.txt");
        _img.WriteInode(_img.ReadInode(a) with { Nlink = 3 });
        var report = _img.Check();
        ReportAssert.Has(report, $"inode {a}", "nlink is 3 but 2 directory entries name it");
        Assert.Single(report.Problems);
    }

    [Fact]
    public void WrongLinkCountOnADirectoryIsReported()
    {
        ulong docs = Ino("docs");
        _img.WriteInode(_img.ReadInode(docs) with { Nlink = 2 });
        var report = _img.Check();
        ReportAssert.Has(report, $"inode {docs}", "directory nlink is 2, expected 3 (2 + 1 subdirectory)");
        Assert.Single(report.Problems);
    }

    [Fact]
    public void FileWithLinksButNoEntryIsDisconnected()
    {
        ulong sparse = Ino("sparse");
        _img.DirentBytes(_img.DirentSlot(Ino("docs"), "sparse")).Clear();
        var report = _img.Check();
        ReportAssert.Has(report, $"inode {sparse}", "regular file with nlink 1 is disconnected");
        Assert.Single(report.Problems);
    }

    [Fact]
    public void DirectoryWithoutAnEntryIsDisconnected()
    {
        ulong docs = Ino("docs");
        _img.DirentBytes(_img.DirentSlot(TestImage.Root, "docs")).Clear();
        var report = _img.Check();
        ReportAssert.Has(report, $"inode {docs}", "directory is disconnected: no directory entry names it");
        ReportAssert.Has(report, "inode 1", "directory nlink is 5, expected 4 (2 + 2 subdirectories)");
        // What lives under it is not reported again: only the top of the lost subtree is.
        Assert.Equal(2, report.Problems.Count);
    }

    [Fact]
    public void DirectoryCycleIsReported()
    {
        // empty/deeper-moved is a directory; put "empty" inside it: empty -> deeper-moved -> empty.
        ulong empty = Ino("empty");
        ulong deeperMoved = Ino("deeper");
        Rewrite(_img.DirentSlot(TestImage.Root, "empty"), d => d with { Parent = deeperMoved });
        var report = _img.Check();
        ReportAssert.Has(report, $"inode {empty}", $"directory cycle ({empty} -> {deeperMoved} -> {empty})");
        ReportAssert.Has(report, $"inode {deeperMoved}", $"directory cycle ({deeperMoved} -> {empty} -> {deeperMoved})");
        ReportAssert.Has(report, "inode 1", "directory nlink is 5, expected 4");
        ReportAssert.Has(report, $"inode {deeperMoved}", "directory nlink is 3, expected 4");
        // deepest hangs below the cycle: not reported on its own.
        Assert.DoesNotContain(report.Problems, p => p.Where == $"inode {Ino("deepest")}");
        Assert.Equal(4, report.Problems.Count);
    }

    [Fact]
    public void DirectoryThatContainsItselfIsACycle()
    {
        ulong deepest = Ino("deepest");
        Rewrite(_img.DirentSlot(Ino("deeper"), "deepest"), d => d with { Parent = deepest });
        ReportAssert.Has(_img.Check(), $"inode {deepest}", $"directory cycle ({deepest} -> {deepest})");
    }

    [Fact]
    public void ThreeDirectoryCycleIsReportedOncePerMember()
    {
        // empty contains deeper-moved, which contains deepest; put empty inside deepest.
        ulong empty = Ino("empty"), deeper = Ino("deeper"), deepest = Ino("deepest");
        Rewrite(_img.DirentSlot(TestImage.Root, "empty"), d => d with { Parent = deepest });
        var report = _img.Check();
        ReportAssert.Has(report, $"inode {empty}", $"directory cycle ({empty} -> {deeper} -> {deepest} -> {empty})");
        ReportAssert.Has(report, $"inode {deeper}", $"directory cycle ({deeper} -> {deepest} -> {empty} -> {deeper})");
        ReportAssert.Has(report, $"inode {deepest}", $"directory cycle ({deepest} -> {empty} -> {deeper} -> {deepest})");
    }

    [Fact]
    public void LongLostChainOfDirectoriesIsOneFindingAndQuick()
    {
        using var img = new TestImage(64L << 20);
        ulong top = img.Dir(TestImage.Root, "top");
        ulong cur = top;
        for (int i = 0; i < 2000; i++) cur = img.Dir(cur, "d");
        img.Unmount();
        img.DirentBytes(img.DirentSlot(TestImage.Root, "top")).Clear();
        var report = img.Check();
        ReportAssert.Has(report, $"inode {top}", "no directory entry names it");
        ReportAssert.Has(report, "inode 1", "directory nlink is 3, expected 2");
        Assert.Equal(2, report.Problems.Count);
    }

    [Fact]
    public void RemovedDirectoryThatStillHoldsEntriesIsReported()
    {
        ulong deeper = Ino("deeper");
        _img.DirentBytes(_img.DirentSlot(Ino("empty"), "deeper-moved")).Clear();
        _img.WriteInode(_img.ReadInode(deeper) with { Nlink = 0 });
        var report = _img.Check();
        ReportAssert.Has(report, $"inode {deeper}", "removed directory (nlink 0, no entry names it) still holds 2 entries"); // deepest and another-link
        Assert.Equal(0, report.Stats.Orphans);
    }

    [Fact]
    public void DirectoryWithTwoParentsIsReported()
    {
        ulong deepest = Ino("deepest");
        long copy = _img.FreeDirentSlot();
        DiskDirent.Seal(new DirentRecord(Ino("docs"), deepest, FileTypes.ToDirentType(FileTypes.Directory), TestImage.N("again")), _img.DirentBytes(copy));
        var report = _img.Check();
        ReportAssert.Has(report, $"inode {deepest}", "directory is named by 2 entries");
    }

    [Fact]
    public void OrphanWithAnEntryIsAProblemNotAnOrphan()
    {
        ulong sparse = Ino("sparse");
        _img.WriteInode(_img.ReadInode(sparse) with { Nlink = 0 });
        var report = _img.Check();
        ReportAssert.Has(report, $"inode {sparse}", "nlink is 0 but 1 directory entry names it");
        Assert.Equal(0, report.Stats.Orphans);
    }

    [Fact]
    public void EntriesOfADamagedDirectoryAreNotCalledDisconnected()
    {
        ulong docs = Ino("docs");
        _img.InodeBytes(docs)[60] ^= 0x01; // atime: checksum mismatch
        var report = _img.Check();
        ReportAssert.Has(report, $"inode {docs}", "checksum mismatch");
        Assert.Single(report.Problems);
    }
}
