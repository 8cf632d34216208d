using PmemFs.Media;
using static PmemFs.Format.Tests.TestSupport;

namespace PmemFs.Format.Tests;

public class MkfsTests
{
    private static List<RmapRecord> RmapRecords(IMedia media, Geometry g, out int firstEmptySlot)
    {
        var list = new List<RmapRecord>();
        firstEmptySlot = -1;
        for (int slot = 0; slot < g.RmapCount; slot++)
        {
            var v = DiskRmap.VerifyRead(media.Read(g.RmapOffset(slot), DiskRmap.Size), slot, out var r);
            if (v.Verdict == Verdict.Empty)
            {
                if (firstEmptySlot < 0) firstEmptySlot = slot;
                continue;
            }
            Assert.Equal(Verdict.Ok, v.Verdict);
            list.Add(r);
        }
        return list;
    }

    [Theory]
    [InlineData(16L << 20)]
    [InlineData(64L << 20)]
    public void RootInodeIsADirectoryInSlotZeroWithTwoLinks(long size)
    {
        using var media = Formatted(size, out var sb, new MkfsOptions { RootUid = 1000, RootGid = 100, RootFlags = InodeFlags.Dax });
        var g = sb.Geometry;

        var v = DiskInode.VerifyRead(media.Read(g.InodeOffset(0), DiskInode.Size), FormatConstants.RootIno, out var root);

        Assert.Equal(Verdict.Ok, v.Verdict);
        Assert.Equal(1ul, root.Ino);
        Assert.Equal(FileTypes.Directory, root.FileType);
        Assert.Equal(0x41EDu, root.Mode); // 040755
        Assert.Equal(2u, root.Nlink);
        Assert.Equal(1u, root.Generation);
        Assert.Equal(1000u, root.Uid);
        Assert.Equal(100u, root.Gid);
        Assert.Equal((ulong)InodeFlags.Dax, root.Flags);
        Assert.Equal(0, root.Size);
        Assert.Equal(0, root.XattrBlock);
        Assert.Equal(0, root.PendingTrim);
        Assert.Equal(sb.CreatedNs, root.BtimeNs);
        Assert.Equal(sb.CreatedNs, root.MtimeNs);
    }

    [Fact]
    public void EveryOtherRecordSlotIsEmpty()
    {
        using var media = Formatted(16 * MiB, out var sb);
        var g = sb.Geometry;
        for (long s = 1; s < g.InodeCount; s++)
            Assert.Equal(Verdict.Empty, DiskInode.VerifyRead(media.Read(g.InodeOffset(s), DiskInode.Size), Geometry.InoOfSlot(s), out _).Verdict);
        for (long s = 0; s < g.DirentCount; s++)
            Assert.Equal(Verdict.Empty, DiskDirent.VerifyRead(media.Read(g.DirentOffset(s), DiskDirent.Size), s, out _).Verdict);
        for (long s = 0; s < g.ExtentCount; s++)
            Assert.Equal(Verdict.Empty, DiskExtent.VerifyRead(media.Read(g.ExtentOffset(s), DiskExtent.Size), s, out _).Verdict);
    }

    [Theory]
    [InlineData(16L << 20)]
    [InlineData((16L << 20) + 37 * 4096)]
    [InlineData(64L << 20)]
    public void MetadataRmapRecordsEqualTheGeometrysMetadataAreas(long size)
    {
        using var media = Formatted(size, out var sb);
        var g = sb.Geometry;

        var records = RmapRecords(media, g, out int firstEmpty);

        Assert.Equal(8, firstEmpty);
        Assert.Equal(
            g.MetadataAreas().Select(a => new RmapRecord(a.Start, a.Blocks, a.Kind, 0, 0)).ToList(),
            records);
        Assert.Equal(new RmapRecord(g.RmapTableStart, g.DataStart - g.RmapTableStart, RmapOwnerKind.RmapTable, 0, 0), records[6]);
        Assert.Equal(new RmapRecord(g.BlockCount - 1, 1, RmapOwnerKind.Superblock, 0, 0), records[7]);
    }

    [Theory]
    [InlineData(16L << 20)]
    [InlineData((16L << 20) + 37 * 4096)]
    [InlineData(64L << 20)]
    public void BitmapMarksExactlyTheMetadataAreasInUse(long size)
    {
        using var media = Formatted(size, out var sb);
        var g = sb.Geometry;

        for (long b = 0; b < g.BlockCount; b++)
        {
            bool metadata = b < g.DataStart || b == g.BlockCount - 1;
            Assert.True(metadata == FreeSpaceBitmap.IsSet(media, g, b), $"block {b}");
        }

        var free = new List<(long, long)>();
        FreeSpaceBitmap.ForEachRun(media, g, set: false, (s, c) => free.Add((s, c)));
        Assert.Equal([(g.DataStart, g.DataBlocks)], free);
        var used = new List<(long, long)>();
        FreeSpaceBitmap.ForEachRun(media, g, set: true, (s, c) => used.Add((s, c)));
        Assert.Equal([(0L, g.DataStart), (g.BlockCount - 1, 1L)], used);
    }

    [Fact]
    public void BitsPastTheEndOfTheRegionInTheLastWordAreSet()
    {
        using var media = Formatted(16 * MiB + 37 * 4096, out var sb);
        var g = sb.Geometry;
        Assert.Equal(37, g.BlockCount % 64);
        long lastWord = FreeSpaceBitmap.WordOffset(g, g.BlockCount - 1);
        // Bit 36 is the secondary superblock; bits 37..63 lie past the end.
        Assert.Equal(ulong.MaxValue << 36, media.ReadUInt64(lastWord));
    }

    [Fact]
    public void JournalHeaderIsGenerationOneWithTailSequenceOneAtOffsetZero()
    {
        using var media = Formatted(16 * MiB, out var sb);
        var g = sb.Geometry;
        var block = media.Read(g.JournalHeaderOffset, 4096);

        Assert.Equal(Verdict.Empty, DiskJournalHeader.VerifyRead(block[..64], g.LogBytes, out _).Verdict);
        Assert.Equal(Verdict.Ok, DiskJournalHeader.VerifyRead(block.Slice(64, 64), g.LogBytes, out var h).Verdict);
        Assert.Equal(new JournalHeader(1, 1, 0), h);
        Assert.Equal(h, DiskJournalHeader.ReadNewest(block, g.LogBytes, out var problem));
        Assert.Null(problem);
        Assert.True(block[128..].IndexOfAnyExcept((byte)0) < 0);
        Assert.True(media.Read(g.LogOffset, checked((int)g.LogBytes)).IndexOfAnyExcept((byte)0) < 0, "the log is zero");
    }

    [Fact]
    public void SuperblockCopiesAreIdenticalAndHoldTheOptions()
    {
        var uuid = Guid.NewGuid();
        using var media = Formatted(16 * MiB, out var sb, new MkfsOptions { Label = "my label", Uuid = uuid, InodeCount = 2000 });
        var g = sb.Geometry;

        Assert.Equal(media.Read(0, 4096).ToArray(), media.Read((g.BlockCount - 1) * 4096, 4096).ToArray());
        Assert.Equal(Verdict.Ok, DiskSuperblock.VerifyRead(media.Read(0, 512), out var onMedia).Verdict);
        Assert.Equal(sb, onMedia);
        Assert.Equal(uuid, sb.Uuid);
        Assert.Equal("my label", sb.Label);
        Assert.Equal(2000, g.InodeCount);
        Assert.Equal(1ul, sb.JournalSalt & 1);
        Assert.Equal(0ul, sb.UnsafeShutdownCount);
        Assert.Equal(Geometry.Compute(16 * MiB, 2000), g);
    }

    [Fact]
    public void MkfsOverGarbageLeavesTheSameMetadataAsOverZeros()
    {
        var uuid = Guid.NewGuid();
        using var clean = Formatted(16 * MiB, out var sbClean, new MkfsOptions { Uuid = uuid });
        using var dirty = MemoryMedia.FromBytes(Pattern(16 * 1024 * 1024, 5));
        var sbDirty = Mkfs.Format(dirty, new MkfsOptions { Uuid = uuid });
        var g = sbDirty.Geometry;

        // Everything from the journal to DataStart, except the root inode's timestamps.
        long from = g.JournalHeaderOffset, to = g.InodeOffset(0);
        Assert.Equal(clean.Read(from, (int)(to - from)).ToArray(), dirty.Read(from, (int)(to - from)).ToArray());
        from = g.InodeOffset(1);
        to = g.DataStart * 4096;
        Assert.True(clean.Read(from, (int)(to - from)).SequenceEqual(dirty.Read(from, (int)(to - from))));
        var bytes = dirty.Read((g.BlockCount - 1) * 4096, 4096);
        Assert.True(bytes[512..].IndexOfAnyExcept((byte)0) < 0, "the rest of the secondary superblock block is zero");
        Assert.NotNull(ImageReader.ReadSuperblock(dirty, "dirty"));
        Assert.Equal(sbClean.Geometry, sbDirty.Geometry);
    }

    [Fact]
    public void MkfsReportsProgressUpToTheMetadataSize()
    {
        using var media = new MemoryMedia(64 * MiB);
        long last = -1, total = -1;
        var sb = Mkfs.Format(media, new MkfsOptions(), (done, all) => { Assert.True(done > last); last = done; total = all; });
        Assert.Equal(sb.Geometry.DataStart * 4096, total);
        Assert.Equal(total, last);
    }

    [Fact]
    public void FreshImageReadsBackAndReplaysNothing()
    {
        using var media = Formatted(64 * MiB, out var sb);
        var opened = ImageReader.ReadSuperblock(media, "img");
        Assert.Equal(sb, opened.Superblock);
        var r = JournalReplay.Recover(media, opened.Superblock);
        Assert.Equal(new ReplayResult(0, 1, 0, 1, null), r);
    }
}
