using PmemFs.Format;

namespace PmemFs.Check.Tests;

/// <summary>Damage to extents, the rmap, the bitmap and xattr blobs is found and named.</summary>
public sealed class MapCorruptionTests : IDisposable
{
    private readonly TestImage _img = new TestImage().Populate().Unmount();

    public void Dispose() => _img.Dispose();

    private ulong Ino(string name) => _img.Inos[name];

    private (long Slot, ExtentRecord Rec) FirstExtent(string name) => _img.Extents(Ino(name))[0];

    [Fact]
    public void ExtentChecksumMismatchIsReported()
    {
        var (slot, _) = FirstExtent("a.txt");
        _img.ExtentBytes(slot)[20] ^= 0x02;
        var p = ReportAssert.Has(_img.Check(), $"extent slot {slot}", "checksum mismatch");
        Assert.Equal("checksum mismatch", p.Message);
    }

    [Fact]
    public void ExtentOutsideTheDataAreaIsReported()
    {
        var (slot, e) = FirstExtent("a.txt");
        var twin = _img.RmapTwin(e);
        long inJournal = _img.G.JournalStart + 3;
        _img.WriteExtent(slot, e with { PhysBlock = inJournal });
        _img.WriteRmap(twin.Slot, twin.Rec with { PhysBlock = inJournal });
        var report = _img.Check();
        ReportAssert.Has(report, $"extent slot {slot}", "outside the data area");
        ReportAssert.Has(report, $"rmap slot {twin.Slot}", "outside the data area");
        ReportAssert.Has(report, $"rmap slot {twin.Slot}", "owned twice"); // by the journal too
    }

    [Fact]
    public void OverlappingExtentsOfOneFileAreReported()
    {
        // "sparse" has block 0 and block 256; move the second onto the first (twin kept in step).
        var extents = _img.Extents(Ino("sparse"));
        Assert.Equal(2, extents.Count);
        var (slot, e) = extents[1];
        var twin = _img.RmapTwin(e);
        _img.WriteExtent(slot, e with { FileBlock = 0 });
        _img.WriteRmap(twin.Slot, twin.Rec with { FileBlock = 0 });
        var report = _img.Check();
        ReportAssert.Has(report, $"inode {Ino("sparse")}", $"extent slots {extents[0].Slot} and {slot} overlap at file blocks 0..0");
        Assert.Single(report.Problems);
    }

    [Fact]
    public void ExtentWithoutItsRmapTwinIsReported()
    {
        var (slot, e) = FirstExtent("a.txt");
        _img.RmapBytes(_img.RmapTwin(e).Slot).Clear();
        var report = _img.Check();
        ReportAssert.Has(report, $"extent slot {slot}", "has no matching rmap record");
        Assert.Single(report.Problems); // its blocks still count as claimed: no leak on top
    }

    [Fact]
    public void RmapTwinThatDisagreesIsReported()
    {
        var (slot, e) = FirstExtent("a.txt");
        var twin = _img.RmapTwin(e);
        _img.WriteRmap(twin.Slot, twin.Rec with { BlockCount = twin.Rec.BlockCount + 1 });
        var report = _img.Check();
        ReportAssert.Has(report, $"extent slot {slot}", $"(rmap slot {twin.Slot} names");
        ReportAssert.Has(report, $"rmap slot {twin.Slot}", "which has no extent");
    }

    [Fact]
    public void RmapRecordWithoutItsExtentIsReported()
    {
        var (slot, e) = FirstExtent("a.txt");
        var twin = _img.RmapTwin(e);
        _img.ExtentBytes(slot).Clear();
        var report = _img.Check();
        ReportAssert.Has(report, $"rmap slot {twin.Slot}", $"names inode {Ino("a.txt")} file block 0");
        Assert.Single(report.Problems);
    }

    [Fact]
    public void TwoFilesOnOneBlockWithoutAReferenceCountAreReported()
    {
        // Two files may share blocks only with a reference-count record saying so (SharedExtentTests has the rest).
        var (_, a) = FirstExtent("a.txt");
        var (slot, s) = FirstExtent("sparse");
        var twin = _img.RmapTwin(s);
        _img.WriteExtent(slot, s with { PhysBlock = a.PhysBlock });
        _img.WriteRmap(twin.Slot, twin.Rec with { PhysBlock = a.PhysBlock });
        var report = _img.Check();
        var (lo, hi) = (Math.Min(Ino("a.txt"), Ino("sparse")), Math.Max(Ino("a.txt"), Ino("sparse")));
        ReportAssert.Has(report, "refcount", $"block {a.PhysBlock} is mapped by 2 extents (inodes {lo}, {hi}) but no reference-count record covers it");
        // The block sparse used to own is still marked in use: leaked.
        ReportAssert.Has(report, "bitmap", $"block {s.PhysBlock} marked in use but owned by nobody (leaked)");
    }

    [Fact]
    public void ExtentOfADirectoryIsReported()
    {
        var (slot, e) = FirstExtent("a.txt");
        var twin = _img.RmapTwin(e);
        ulong dir = Ino("docs");
        _img.WriteExtent(slot, e with { Ino = dir });
        _img.WriteRmap(twin.Slot, twin.Rec with { Owner = dir });
        ReportAssert.Has(_img.Check(), $"extent slot {slot}", "a directory, which cannot have data blocks");
    }

    [Fact]
    public void ExtentOfAFreeInodeIsReported()
    {
        var (slot, e) = FirstExtent("a.txt");
        var twin = _img.RmapTwin(e);
        ulong free = (ulong)_img.G.InodeCount - 1;
        _img.WriteExtent(slot, e with { Ino = free });
        _img.WriteRmap(twin.Slot, twin.Rec with { Owner = free });
        ReportAssert.Has(_img.Check(), $"extent slot {slot}", $"belongs to free inode {free}");
    }

    [Fact]
    public void WrittenBlocksBeyondEofAreReported()
    {
        ulong a = Ino("a.txt");
        _img.WriteInode(_img.ReadInode(a) with { Size = 100 });
        ReportAssert.Has(_img.Check(), $"inode {a}", "written file blocks 1..2 beyond EOF (size 100");
    }

    [Fact]
    public void SymlinkWithoutItsTargetBlockIsReported()
    {
        ulong sym = Ino("sym");
        var (slot, e) = _img.Extents(sym).Single();
        var twin = _img.RmapTwin(e);
        _img.WriteExtent(slot, e with { State = ExtentState.Unwritten });
        _img.WriteRmap(twin.Slot, twin.Rec);
        ReportAssert.Has(_img.Check(), $"inode {sym}", "symlink target of 10 bytes is not all in written blocks");
    }

    [Fact]
    public void MissingMetadataRecordIsReported()
    {
        var (slot, _) = _img.Rmap(r => r.Kind == RmapOwnerKind.Journal);
        _img.RmapBytes(slot).Clear();
        var report = _img.Check();
        ReportAssert.Has(report, "rmap", "no record owns the journal");
        Assert.Single(report.Problems);
    }

    [Fact]
    public void MetadataRecordThatDoesNotMatchTheGeometryIsReported()
    {
        var (slot, r) = _img.Rmap(r => r.Kind == RmapOwnerKind.Bitmap);
        _img.WriteRmap(slot, r with { BlockCount = r.BlockCount + 1 });
        var report = _img.Check();
        ReportAssert.Has(report, $"rmap slot {slot}", "not where the superblock puts it");
        ReportAssert.Has(report, "rmap", "no record owns the free-space bitmap");
    }

    [Fact]
    public void RmapChecksumMismatchIsReported()
    {
        var (slot, _) = _img.Rmap(r => r.Kind == RmapOwnerKind.InodeData);
        _img.RmapBytes(slot)[30] ^= 0x10;
        ReportAssert.Has(_img.Check(), $"rmap slot {slot}", "checksum mismatch");
    }

    [Fact]
    public void BitClearedUnderAUsedBlockIsReported()
    {
        var (_, e) = FirstExtent("a.txt");
        _img.SetBit(e.PhysBlock + 1, false);
        var report = _img.Check();
        ReportAssert.Has(report, "bitmap", $"block {e.PhysBlock + 1} in use by inode {Ino("a.txt")} but marked free");
        Assert.Single(report.Problems);
    }

    [Fact]
    public void BitClearedUnderMetadataIsReported()
    {
        _img.SetBit(_img.G.InodeTableStart, false);
        ReportAssert.Has(_img.Check(), "bitmap", $"block {_img.G.InodeTableStart} in use by the inode table but marked free");
    }

    [Fact]
    public void LeakedBitIsReported()
    {
        long b = _img.FreeDataBlock();
        _img.SetBit(b, true);
        _img.SetBit(b - 1, true);
        var report = _img.Check();
        var p = ReportAssert.Has(report, "bitmap", $"blocks {b - 1}..{b} marked in use but owned by nobody (leaked)");
        Assert.Single(report.Problems);
        Assert.NotNull(p);
    }

    [Fact]
    public void BitmapFindingsAreRunsAndCapped()
    {
        var g = _img.G;
        // 50 separate leaked runs of 2 blocks, and a long run freed under the metadata.
        long b = _img.FreeDataBlock();
        for (int i = 0; i < 50; i++)
        {
            _img.SetBit(b - 4 * i, true);
            _img.SetBit(b - 4 * i - 1, true);
        }
        FreeSpaceBitmap.ApplyRange(_img.Media, g, g.DirentTableStart, g.DirentTableBlocks, set: false);

        var report = _img.Check();
        var leaked = report.Problems.Where(p => p.Message.Contains("leaked", StringComparison.Ordinal)).ToList();
        Assert.Equal(FsckContext.BitmapLinesPerKind, leaked.Count(p => p.Message.StartsWith("blocks", StringComparison.Ordinal)));
        ReportAssert.Has(report, "bitmap", $"... and {50 - FsckContext.BitmapLinesPerKind} more leaked runs");
        ReportAssert.Has(report, "bitmap", $"blocks {g.DirentTableStart}..{g.DirentTableStart + g.DirentTableBlocks - 1} in use by the dirent table but marked free");

        var verbose = _img.Check(new FsckOptions { Verbose = true });
        Assert.Equal(50, verbose.Problems.Count(p => p.Message.Contains("(leaked)", StringComparison.Ordinal)));
    }

    [Fact]
    public void CorruptedXattrBlobIsReported()
    {
        ulong x = Ino("xfile");
        var rec = _img.ReadInode(x);
        Assert.Equal(3u, rec.XattrBlocks);
        _img.Media.RawBytes(rec.XattrBlock * FormatConstants.BlockSize + 5000, 1)[0] ^= 0xFF;
        var p = ReportAssert.Has(_img.Check(), $"inode {x}", "xattr blob: checksum mismatch");
        Assert.NotNull(p);
    }

    [Fact]
    public void XattrBlobWithoutItsRmapRecordIsReported()
    {
        ulong x = Ino("xfile");
        var (slot, _) = _img.Rmap(r => r.Kind == RmapOwnerKind.InodeXattr && r.Owner == x);
        _img.RmapBytes(slot).Clear();
        var report = _img.Check();
        ReportAssert.Has(report, $"inode {x}", "xattr blob");
        ReportAssert.Has(report, $"inode {x}", "has no rmap record");
        Assert.Single(report.Problems);
    }

    [Fact]
    public void XattrRecordThatDisagreesWithItsInodeIsReported()
    {
        ulong x = Ino("xfile");
        var (slot, r) = _img.Rmap(r => r.Kind == RmapOwnerKind.InodeXattr && r.Owner == x);
        _img.WriteRmap(slot, r with { Owner = Ino("a.txt") });
        var report = _img.Check();
        ReportAssert.Has(report, $"rmap slot {slot}", $"xattr blob of inode {Ino("a.txt")}, which has no xattr blob");
        ReportAssert.Has(report, $"inode {x}", "has no rmap record");
    }
}
