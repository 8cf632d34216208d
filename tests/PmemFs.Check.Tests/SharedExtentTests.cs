using PmemFs.Format;

namespace PmemFs.Check.Tests;

/// <summary>
/// Shared extents (format version 2, issue 12): files whose extents map the same physical
/// blocks, with reference-count records in the rmap table. The sharing is made by writing the
/// records directly (the engine that makes it is not needed to judge the images): "one" and
/// "two" are 4-block files, and <see cref="Share"/> points two's extent at one's blocks.
/// </summary>
public sealed class SharedExtentTests : IDisposable
{
    private const int Bs = FormatConstants.BlockSize;
    private readonly TestImage _img = new();
    private readonly ulong _one, _two, _three;

    public SharedExtentTests()
    {
        _one = _img.File(TestImage.Root, "one");
        _img.Write(_one, 0, TestImage.Pattern(4 * Bs, 1));
        _two = _img.File(TestImage.Root, "two");
        _img.Write(_two, 0, TestImage.Pattern(4 * Bs, 2));
        _three = _img.File(TestImage.Root, "three");
        _img.Write(_three, 0, TestImage.Pattern(4 * Bs, 3));
        _img.Unmount();
    }

    public void Dispose() => _img.Dispose();

    private (long Slot, ExtentRecord Rec) Extent(ulong ino) => Assert.Single(_img.Extents(ino));

    /// <summary>Points the extents of <paramref name="others"/> at one's blocks; writes a record of <paramref name="count"/> (none for 0).</summary>
    private RefcountRecord Share(ulong count, params ulong[] others)
    {
        var one = Extent(_one).Rec;
        Assert.Equal(4, one.BlockCount);
        foreach (var ino in others) _img.Remap(Extent(ino), one.PhysBlock);
        var rc = new RefcountRecord(one.PhysBlock, one.BlockCount, count);
        if (count > 0) _img.WriteRefcount(_img.FreeRmapSlot(), rc);
        return rc;
    }

    private static RepairReport Repair(TestImage img) => RepairAssert.RepairsCleanly(img);

    private List<RefcountRecord> Records() => _img.Refcounts().Select(x => x.Rec).ToList();

    [Fact]
    public void TwoFilesSharingWithACorrectRecordAreClean()
    {
        var rc = Share(2, _two);
        ReportAssert.Clean(_img.Check());
        var nothing = FsckRepair.Repair(_img.Media, new FsckOptions());
        Assert.False(nothing.Changed, "a repair of a clean shared image changed something:\n" + RepairAssert.Render(nothing));
        Assert.Equal([rc], Records());
    }

    [Fact]
    public void ThreeSharersAndOneFileTwiceAreClean()
    {
        // one, two and three share; one also maps the same blocks again at file block 10 (a reflink inside one file).
        var one = Extent(_one).Rec;
        Share(0, _two, _three);
        long slot = Enumerable.Range(0, (int)_img.G.ExtentCount).Select(i => (long)i).Last(s => _img.ExtentBytes(s).IndexOfAnyExcept((byte)0) < 0);
        _img.WriteExtent(slot, one with { FileBlock = 10 });
        _img.WriteRmap(_img.FreeRmapSlot(), new RmapRecord(one.PhysBlock, one.BlockCount, RmapOwnerKind.InodeData, _one, 10));
        _img.WriteInode(_img.ReadInode(_one) with { Size = 14L * Bs });
        _img.WriteRefcount(_img.FreeRmapSlot(), new RefcountRecord(one.PhysBlock, 4, 4));
        ReportAssert.Clean(_img.Check());
    }

    [Fact]
    public void CountTooHighIsFoundAndRewritten()
    {
        var rc = Share(3, _two);
        long slot = _img.Refcounts().Single().Slot;
        var p = ReportAssert.Has(_img.Check(), "refcount", $"blocks {rc.PhysBlock}..{rc.PhysEnd - 1} have reference count 3 but 2 extents map them");
        Assert.Contains($"(inodes {_one}, {_two})", p.Message, StringComparison.Ordinal);
        var report = Repair(_img);
        RepairAssert.Has(report, $"rmap slot {slot}", $"reference count 3 -> 2 for blocks {rc.PhysBlock}..{rc.PhysEnd - 1}");
        Assert.Single(report.Changes);
        Assert.Equal([rc with { Refs = 2 }], Records());
    }

    [Fact]
    public void CountTooLowIsFoundAndRewritten()
    {
        var rc = Share(2, _two, _three);
        ReportAssert.Has(_img.Check(), "refcount", "have reference count 2 but 3 extents map them");
        var report = Repair(_img);
        RepairAssert.Has(report, $"rmap slot {_img.Refcounts().Single().Slot}", "reference count 2 -> 3");
        Assert.Equal([rc with { Refs = 3 }], Records());
    }

    [Fact]
    public void MissingRecordIsFoundAndAdded()
    {
        var rc = Share(0, _two);
        var report = _img.Check();
        ReportAssert.Has(report, "refcount", $"blocks {rc.PhysBlock}..{rc.PhysEnd - 1} are mapped by 2 extents (inodes {_one}, {_two}) but no reference-count record covers them");
        Assert.Single(report.Problems);
        var repair = Repair(_img);
        var added = Assert.Single(repair.Changes);
        Assert.Contains($"added: reference count 2 for blocks {rc.PhysBlock}..{rc.PhysEnd - 1}", added.Message, StringComparison.Ordinal);
        Assert.Equal([rc with { Refs = 2 }], Records());
        // Nothing was lost: both extents stay.
        Assert.Equal(rc.PhysBlock, Extent(_two).Rec.PhysBlock);
    }

    [Fact]
    public void RecordOverFreeBlocksIsFoundAndRemoved()
    {
        long free = _img.FreeDataBlock() - 3;
        long slot = _img.FreeRmapSlot();
        _img.WriteRefcount(slot, new RefcountRecord(free, 2, 2));
        ReportAssert.Has(_img.Check(), "refcount", $"blocks {free}..{free + 1} have reference count 2 but 0 extents map them");
        var report = Repair(_img);
        RepairAssert.Has(report, $"rmap slot {slot}", "removed: reference count 2");
        Assert.Empty(Records());
    }

    [Fact]
    public void RecordOverOneOwnerIsFoundAndRemoved()
    {
        var one = Extent(_one).Rec;
        _img.WriteRefcount(_img.FreeRmapSlot(), new RefcountRecord(one.PhysBlock, 1, 2));
        ReportAssert.Has(_img.Check(), "refcount", $"block {one.PhysBlock} has reference count 2 but 1 extent maps it");
        Repair(_img);
        Assert.Empty(Records());
    }

    [Fact]
    public void OverlappingRecordsAreFoundAndReplaced()
    {
        var rc = Share(2, _two);
        long second = _img.FreeRmapSlot();
        _img.WriteRefcount(second, new RefcountRecord(rc.PhysBlock + 2, 1, 2));
        long first = _img.Refcounts().First(x => x.Slot != second).Slot;
        var report = _img.Check();
        ReportAssert.Has(report, $"rmap slot {second}", $"reference-count record (count 2 for block {rc.PhysBlock + 2}) overlaps the one in rmap slot {first}");
        ReportAssert.Has(report, "refcount", $"block {rc.PhysBlock + 2} has reference count 4 but 2 extents map it");
        var repair = Repair(_img);
        RepairAssert.Has(repair, $"rmap slot {second}", "removed: reference count 2 for block");
        Assert.Equal([rc], Records());
    }

    [Fact]
    public void BadRecordIsClearedAndRebuilt()
    {
        var rc = Share(2, _two);
        long slot = _img.Refcounts().Single().Slot;
        _img.RmapBytes(slot)[20] ^= 0x01;
        var p = ReportAssert.Has(_img.Check(), $"rmap slot {slot}", "reference-count record: checksum mismatch");
        Assert.DoesNotContain("bad magic", p.Message, StringComparison.Ordinal);
        var report = Repair(_img);
        RepairAssert.Has(report, $"rmap slot {slot}", "cleared: reference-count record (checksum mismatch)");
        Assert.Equal([rc], Records());
    }

    [Fact]
    public void RecordOutsideTheDataAreaIsFound()
    {
        long slot = _img.FreeRmapSlot();
        _img.WriteRefcount(slot, new RefcountRecord(_img.G.JournalStart, 2, 2));
        ReportAssert.Has(_img.Check(), $"rmap slot {slot}", "outside the data area");
        Repair(_img);
        Assert.Empty(Records());
    }

    [Fact]
    public void SharedDaxImmutableFileIsFoundAndLosesTheFlag()
    {
        var rc = Share(2, _two);
        const InodeFlags frozen = InodeFlags.Dax | InodeFlags.DaxImmutable;
        _img.WriteInode(_img.ReadInode(_two) with { Flags = (ulong)frozen });
        long slot = Extent(_two).Slot;
        var report = _img.Check();
        var p = ReportAssert.Has(report, $"inode {_two}", "dax_immutable but has shared blocks at file block 0");
        Assert.Equal($"dax_immutable but has shared blocks at file block 0 (extent slot {slot}, blocks {rc.PhysBlock}..{rc.PhysEnd - 1})", p.Message);
        Assert.Single(report.Problems);
        var repair = Repair(_img);
        var c = RepairAssert.Has(repair, $"inode {_two}", "dax_immutable flag cleared (shared blocks at file block 0");
        Assert.Contains("no block of the file was moved", c.Message, StringComparison.Ordinal);
        Assert.Equal(InodeFlags.Dax, (InodeFlags)_img.ReadInode(_two).Flags);
        Assert.Equal([rc], Records());
    }

    [Fact]
    public void DaxImmutableFileUnderAStrayRecordIsFoundToo()
    {
        // No second owner, but a record says the blocks are shared: the flag rule sees a shared block, the count rule a wrong count.
        var one = Extent(_one).Rec;
        _img.WriteRefcount(_img.FreeRmapSlot(), new RefcountRecord(one.PhysBlock + 1, 1, 2));
        _img.WriteInode(_img.ReadInode(_one) with { Flags = (ulong)(InodeFlags.Dax | InodeFlags.DaxImmutable) });
        var report = _img.Check();
        ReportAssert.Has(report, $"inode {_one}", "dax_immutable but has shared blocks at file block 1");
        ReportAssert.Has(report, "refcount", "has reference count 2 but 1 extent maps it");
        Repair(_img);
    }

    [Fact]
    public void RecordsInAVersion1ImageAreFoundAndTheImageBecomesVersion2()
    {
        var rc = Share(2, _two);
        _img.SetVersion(1);
        long slot = _img.Refcounts().Single().Slot;
        ReportAssert.Has(_img.Check(), $"rmap slot {slot}", "reference-count record (count 2 for blocks");
        ReportAssert.Has(_img.Check(), $"rmap slot {slot}", "in a format version 1 image");
        var report = Repair(_img);
        RepairAssert.Has(report, "superblock", "format version 1 -> 2 (both copies)");
        Assert.Equal(2u, _img.Version);
        Assert.Equal(SuperblockCopy.Primary, ImageReader.ReadSuperblock(_img.Media, "t").UsedCopy);
        Assert.Null(ImageReader.ReadSuperblock(_img.Media, "t").SecondaryProblem);
        Assert.Equal([rc], Records());
    }

    [Fact]
    public void StrayRecordInAVersion1ImageIsRemovedAndTheImageStaysVersion1()
    {
        var one = Extent(_one).Rec;
        _img.WriteRefcount(_img.FreeRmapSlot(), new RefcountRecord(one.PhysBlock, 4, 2));
        _img.SetVersion(1);
        ReportAssert.Has(_img.Check(), $"rmap slot {_img.Refcounts().Single().Slot}", "in a format version 1 image");
        var report = Repair(_img);
        Assert.DoesNotContain(report.Changes, c => c.Where == "superblock");
        Assert.Equal(1u, _img.Version);
        Assert.Empty(Records());
    }

    [Fact]
    public void MissingRecordInAVersion1ImageIsAddedAndTheImageBecomesVersion2()
    {
        // What a crash could never leave, but a damaged image can: sharing in version 1.
        Share(0, _two);
        _img.SetVersion(1);
        var report = Repair(_img);
        RepairAssert.Has(report, "superblock", "format version 1 -> 2");
        Assert.Equal(2u, _img.Version);
        Assert.Single(Records());
    }

    [Fact]
    public void SharedBlockWithAnXattrBlobIsFoundAndTheBlobGoes()
    {
        var rc = Share(2, _two);
        // three's xattr blob (one block) is moved onto a shared block: xattr blobs are never shared.
        var three = _img.ReadInode(_three);
        long blob = rc.PhysBlock + 1;
        _img.WriteInode(three with { XattrBlock = blob, XattrBlocks = 1, XattrLength = 16 });
        var blobBytes = new byte[16];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(blobBytes.AsSpan(4), 0x4158);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(blobBytes.AsSpan(6), 1);
        Checksum.SealRecord(blobBytes);
        _img.WriteRmap(_img.FreeRmapSlot(), new RmapRecord(blob, 1, RmapOwnerKind.InodeXattr, _three, 0));
        // The blob's bytes would overwrite shared data: compare with a blob that verifies wherever it lands.
        blobBytes.CopyTo(_img.Media.RawBytes(Geometry.BlockOffset(blob), 16));
        var report = _img.Check();
        ReportAssert.Has(report, "rmap slot " + _img.Rmap(r => r.Kind == RmapOwnerKind.InodeXattr && r.Owner == _three).Slot, "owned twice: by inode");
        var repair = Repair(_img);
        RepairAssert.Has(repair, $"inode {_three}", $"extended attributes removed: their blob (block {blob}) block {blob} also owned by inode");
        Assert.Equal([rc], Records());
    }

    [Fact]
    public void LostOwnerRecordOfASharedExtentIsAddedBack()
    {
        var rc = Share(2, _two);
        var two = Extent(_two);
        var twin = _img.RmapTwin(two.Rec);
        _img.RmapBytes(twin.Slot).Clear();
        ReportAssert.Has(_img.Check(), $"extent slot {two.Slot}", "has no matching rmap record");
        var report = Repair(_img);
        Assert.Contains(report.Changes, c => c.Message.StartsWith($"added: inode {_two} file block 0 at blocks {rc.PhysBlock}..", StringComparison.Ordinal));
        Assert.Single(report.Changes);
        Assert.Equal(two, Extent(_two));
        Assert.Equal([rc], Records());
    }

    [Fact]
    public void AlteredOwnerRecordOfASharedExtentIsReplaced()
    {
        var rc = Share(2, _two);
        var two = Extent(_two);
        var twin = _img.RmapTwin(two.Rec);
        _img.WriteRmap(twin.Slot, twin.Rec with { PhysBlock = twin.Rec.PhysBlock + 1 });
        var check = _img.Check();
        ReportAssert.Has(check, $"extent slot {two.Slot}", "has no matching rmap record");
        ReportAssert.Has(check, $"rmap slot {twin.Slot}", "which has no extent");
        Repair(_img);
        Assert.Equal(two, Extent(_two));
        Assert.Equal([rc], Records());
    }

    [Fact]
    public void SharedBlocksMarkedFreeAreOneClaimForTheBitmap()
    {
        var rc = Share(2, _two);
        _img.SetBit(rc.PhysBlock + 1, false);
        var report = _img.Check();
        var bitmap = report.Problems.Where(p => p.Where == "bitmap").ToList();
        var p = Assert.Single(bitmap);
        Assert.Equal($"block {rc.PhysBlock + 1} in use by inode {_one} but marked free", p.Message);
        Repair(_img);
        Assert.True(_img.Bit(rc.PhysBlock + 1));
        Assert.Equal([rc], Records());
    }

    [Fact]
    public void SharedBlocksAreNoReasonToDropAnExtentAndTheCountsFollowTheRepair()
    {
        // two shares one's blocks and also has a broken second extent (removed by the repair): the counts
        // are those of the extents that stay, and both sharers keep their data.
        var rc = Share(0, _two, _three);
        var three = Extent(_three);
        _img.ExtentBytes(three.Slot)[30] ^= 0x01; // three's extent no longer verifies: it goes
        var report = Repair(_img);
        RepairAssert.Has(report, $"extent slot {three.Slot}", "cleared");
        Assert.Contains(report.Changes, c => c.Message.StartsWith($"added: reference count 2 for blocks {rc.PhysBlock}..", StringComparison.Ordinal));
        Assert.Equal([rc with { Refs = 2 }], Records());
        Assert.Equal(rc.PhysBlock, Extent(_two).Rec.PhysBlock);
    }
}
