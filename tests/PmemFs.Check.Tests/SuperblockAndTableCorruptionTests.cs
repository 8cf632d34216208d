using PmemFs.Format;

namespace PmemFs.Check.Tests;

/// <summary>Damage to the superblocks, the inode table and the dirent table is found and named.</summary>
public sealed class SuperblockAndTableCorruptionTests : IDisposable
{
    private readonly TestImage _img = new TestImage().Populate().Unmount();

    public void Dispose() => _img.Dispose();

    private ulong Ino(string name) => _img.Inos[name];

    [Fact]
    public void PrimarySuperblockBitFlipIsAProblemAndTheSecondaryIsUsed()
    {
        _img.Media.RawBytes(0, DiskSuperblock.Size)[100] ^= 0x08;
        var report = _img.Check();
        ReportAssert.Has(report, "superblock", "primary copy is unusable");
        ReportAssert.Has(report, "superblock", "checksum mismatch");
        Assert.Single(report.Problems);
        Assert.Equal(20, report.Stats.Inodes); // checking went on with the secondary
    }

    [Fact]
    public void SecondarySuperblockDamageIsAProblem()
    {
        var g = _img.G;
        _img.Media.RawBytes(g.SecondarySuperblock * FormatConstants.BlockSize, DiskSuperblock.Size)[300] ^= 0x01;
        var report = _img.Check();
        ReportAssert.Has(report, "superblock", "secondary copy");
        Assert.Single(report.Problems);
    }

    [Fact]
    public void SecondarySuperblockThatDiffersFromThePrimaryIsAProblem()
    {
        var sb = ImageReader.ReadSuperblock(_img.Media, "t").Superblock;
        ImageReader.WriteSuperblock(_img.Media, sb with { Label = "another" }, SuperblockCopy.Secondary);
        ReportAssert.Has(_img.Check(), "superblock", "differs from the primary");
    }

    [Fact]
    public void BothSuperblocksDamagedThrowsImageFormatException()
    {
        var g = _img.G;
        _img.Media.RawBytes(0, DiskSuperblock.Size)[100] ^= 0x08;
        _img.Media.RawBytes(g.SecondarySuperblock * FormatConstants.BlockSize, DiskSuperblock.Size)[100] ^= 0x08;
        var e = Assert.Throws<ImageFormatException>(() => _img.Check());
        Assert.Contains("both superblocks", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ForeignImageThrowsImageFormatException()
    {
        using var media = new PmemFs.Media.MemoryMedia(16L << 20);
        Assert.Throws<ImageFormatException>(() => Fsck.Check(media, new FsckOptions()));
    }

    [Fact]
    public void InodeChecksumMismatchIsReportedAloneWithoutConsequences()
    {
        ulong a = Ino("a.txt");
        _img.InodeBytes(a)[24] ^= 0x01; // uid
        var report = _img.Check();
        var p = ReportAssert.Has(report, $"inode {a}", "checksum mismatch");
        Assert.Equal("checksum mismatch", p.Message);
        // Its extents, entries and links are not judged: the damaged inode is the only finding.
        Assert.Single(report.Problems);
    }

    [Fact]
    public void InodeWithImpossibleFileTypeIsAStructuralProblem()
    {
        ulong a = Ino("a.txt");
        _img.SetImpossibleFileType(a); // mode 0xF1A4
        var report = _img.Check();
        var p = ReportAssert.Has(report, $"inode {a}", "invalid file type");
        Assert.DoesNotContain("checksum", p.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MissingRootIsAProblem()
    {
        var root = _img.ReadInode(TestImage.Root);
        _img.WriteInode(root with { Mode = TestImage.FileMode });
        ReportAssert.Has(_img.Check(), "inode 1", "root inode is missing or not a directory");
    }

    [Fact]
    public void DirentChecksumMismatchIsReported()
    {
        long slot = _img.DirentSlot(Ino("docs"), "sparse");
        _img.DirentBytes(slot)[40] ^= 0x20; // a byte of the name
        var p = ReportAssert.Has(_img.Check(), $"dirent slot {slot}", "checksum mismatch");
        Assert.Equal("checksum mismatch", p.Message);
    }

    [Fact]
    public void DirentPointingAtAFreeInodeIsReported()
    {
        long slot = _img.DirentSlot(Ino("docs"), "sparse");
        var span = _img.DirentBytes(slot);
        Assert.True(DiskDirent.VerifyRead(span, slot, out var d).IsOk);
        ulong free = (ulong)_img.G.InodeCount - 5;
        DiskDirent.Seal(d with { Child = free }, span);
        var report = _img.Check();
        ReportAssert.Has(report, $"dirent slot {slot}", $"points at free inode {free}");
        // The file lost its only entry: now it is disconnected.
        ReportAssert.Has(report, $"inode {Ino("sparse")}", "disconnected");
    }

    [Fact]
    public void DirentInAFileIsReported()
    {
        long slot = _img.DirentSlot(Ino("docs"), "sparse");
        var span = _img.DirentBytes(slot);
        Assert.True(DiskDirent.VerifyRead(span, slot, out var d).IsOk);
        DiskDirent.Seal(d with { Parent = Ino("xfile") }, span);
        ReportAssert.Has(_img.Check(), $"dirent slot {slot}", "not a directory");
    }

    [Fact]
    public void DirentWithTheWrongTypeIsReported()
    {
        long slot = _img.DirentSlot(Ino("docs"), "sparse");
        var span = _img.DirentBytes(slot);
        Assert.True(DiskDirent.VerifyRead(span, slot, out var d).IsOk);
        DiskDirent.Seal(d with { Type = FileTypes.ToDirentType(FileTypes.Symlink) }, span);
        var report = _img.Check();
        ReportAssert.Has(report, $"dirent slot {slot}", "is a regular file");
        Assert.Single(report.Problems);
    }

    [Fact]
    public void OneNameTwiceInADirectoryIsReported()
    {
        long slot = _img.DirentSlot(Ino("docs"), "a.txt");
        long copy = _img.FreeDirentSlot();
        _img.DirentBytes(slot).CopyTo(_img.DirentBytes(copy));
        Checksum.SealRecord(_img.DirentBytes(copy)); // the slot number is not in the record: still valid
        var report = _img.Check();
        ReportAssert.Has(report, $"dirent slot {Math.Max(slot, copy)}", $"holds the name \"a.txt\" twice (also dirent slot {Math.Min(slot, copy)})");
    }

    [Fact]
    public void EntryNamingTheRootIsReported()
    {
        long copy = _img.FreeDirentSlot();
        DiskDirent.Seal(new DirentRecord(Ino("docs"), TestImage.Root, FileTypes.ToDirentType(FileTypes.Directory), TestImage.N("up")), _img.DirentBytes(copy));
        ReportAssert.Has(_img.Check(), $"dirent slot {copy}", "points at the root directory");
    }
}
