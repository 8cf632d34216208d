using static PmemFs.Format.Tests.TestSupport;

namespace PmemFs.Format.Tests;

public class GeometryTests
{
    public static TheoryData<long> Sizes => new() { 16 * MiB, 64 * MiB, 1 * GiB, 4 * GiB, 64 * GiB };

    [Theory]
    [MemberData(nameof(Sizes))]
    public void ComputedGeometryValidates(long size)
    {
        var g = Geometry.Compute(size);
        Assert.Null(g.Validate());
        Assert.Equal(size, g.RegionSize);
        Assert.Equal(size / 4096, g.BlockCount);
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public void MetadataAreasAreInOrderContiguousFromZeroAndDoNotOverlap(long size)
    {
        var g = Geometry.Compute(size);
        var areas = g.MetadataAreas().ToList();
        Assert.Equal(8, areas.Count);
        Assert.Equal((RmapOwnerKind.Superblock, 0L, 1L), areas[0]);
        long next = 0;
        foreach (var (_, start, blocks) in areas.Take(7))
        {
            Assert.Equal(next, start);
            Assert.True(blocks > 0);
            next = start + blocks;
        }
        Assert.Equal(g.DataStart, next);
        Assert.Equal((RmapOwnerKind.Superblock, g.BlockCount - 1, 1L), areas[7]);
        Assert.True(g.DataStart < g.DataEnd);
        Assert.Equal(g.BlockCount - 1 - g.DataStart, g.DataBlocks);
        Assert.Equal(areas.Sum(a => a.Blocks) + g.DataBlocks, g.BlockCount);

        Assert.Equal([RmapOwnerKind.Superblock, RmapOwnerKind.Journal, RmapOwnerKind.Bitmap, RmapOwnerKind.InodeTable,
            RmapOwnerKind.DirentTable, RmapOwnerKind.ExtentTable, RmapOwnerKind.RmapTable, RmapOwnerKind.Superblock],
            areas.Select(a => a.Kind));
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public void EveryTableIsBigEnoughForItsSlots(long size)
    {
        var g = Geometry.Compute(size);
        Assert.True(g.InodeCount * DiskInode.Size <= (g.DirentTableStart - g.InodeTableStart) * 4096);
        Assert.True(g.DirentCount * DiskDirent.Size <= (g.ExtentTableStart - g.DirentTableStart) * 4096);
        Assert.True(g.ExtentCount * DiskExtent.Size <= (g.RmapTableStart - g.ExtentTableStart) * 4096);
        Assert.True(g.RmapCount * DiskRmap.Size <= (g.DataStart - g.RmapTableStart) * 4096);
        // The rmap table was grown to fill the gap up to DataStart: not one more slot fits.
        Assert.True((g.RmapCount + 1) * DiskRmap.Size > (g.DataStart - g.RmapTableStart) * 4096 || g.RmapCount == uint.MaxValue);
        Assert.Equal(g.InodeCount, g.DirentCount);
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public void DataStartIs2MiBAligned(long size)
    {
        var g = Geometry.Compute(size);
        Assert.Equal(0, g.DataStart % 512);
        Assert.Equal(0, Geometry.BlockOffset(g.DataStart) % FormatConstants.HugePageSize);
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public void BitmapCoversEveryBlock(long size)
    {
        var g = Geometry.Compute(size);
        Assert.True(g.BitmapBlocks * 4096 * 8 >= g.BlockCount);
        Assert.True((g.BitmapBlocks - 1) * 4096 * 8 < g.BlockCount, "no spare bitmap block");
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public void JournalIsOneHeaderBlockAndALogWithinTheDocumentedBounds(long size)
    {
        var g = Geometry.Compute(size);
        Assert.Equal(1, g.JournalStart);
        Assert.InRange(g.JournalBlocks, 256, 16384);
        Assert.Equal(Math.Clamp(g.BlockCount / 512, 256, 16384), g.JournalBlocks);
        Assert.Equal(4096, g.JournalHeaderOffset);
        Assert.Equal(8192, g.LogOffset);
        Assert.Equal((g.JournalBlocks - 1) * 4096, g.LogBytes);
    }

    // The examples table of docs/format.md.
    [Theory]
    [InlineData(16L << 20, 256L, 1L, 1024L, 2304L, 7765L, 512L, 3583L)]
    [InlineData(256L << 20, 256L, 2L, 16384L, 36864L, 61184L, 3584L, 61951L)]
    [InlineData(4L << 30, 2048L, 32L, 262144L, 589824L, 674389L, 51712L, 996863L)]
    [InlineData(64L << 30, 16384L, 512L, 4194304L, 9437184L, 10529365L, 807936L, 15969279L)]
    public void ComputedGeometryMatchesTheDocumentedExamples(long size, long journal, long bitmap, long inodes, long extents, long rmaps, long dataStart, long dataBlocks)
    {
        var g = Geometry.Compute(size);
        Assert.Equal(journal, g.JournalBlocks);
        Assert.Equal(bitmap, g.BitmapBlocks);
        Assert.Equal(inodes, g.InodeCount);
        Assert.Equal(inodes, g.DirentCount);
        Assert.Equal(extents, g.ExtentCount);
        Assert.Equal(rmaps, g.RmapCount);
        Assert.Equal(dataStart, g.DataStart);
        Assert.Equal(dataBlocks, g.DataBlocks);
    }

    [Theory]
    [InlineData(0L)]
    [InlineData(4096L)]
    [InlineData(1L << 20)]
    [InlineData((16L << 20) - 4096)]
    [InlineData((16L << 20) - 1)]
    public void TooSmallRegionThrowsWithAClearMessage(long size)
    {
        var e = Assert.Throws<ImageFormatException>(() => Geometry.Compute(size));
        Assert.Contains("too small", e.Message, StringComparison.Ordinal);
        Assert.Contains("16 MiB", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RegionSizeThatIsNotABlockMultipleIsRoundedDown()
    {
        var g = Geometry.Compute(16 * MiB + 4095);
        Assert.Equal(16 * MiB, g.RegionSize);
        Assert.Null(g.Validate());
    }

    [Theory]
    [InlineData(16L << 20, 16L)]
    [InlineData(16L << 20, 5000L)]
    [InlineData(64L << 20, 20_000L)]
    [InlineData(1L << 30, 17L)]
    [InlineData(1L << 30, 1_000_000L)]
    public void ExplicitInodeCountIsHonoured(long size, long inodes)
    {
        var g = Geometry.Compute(size, inodes);
        Assert.Equal(inodes, g.InodeCount);
        Assert.Equal(inodes, g.DirentCount);
        Assert.Null(g.Validate());
        Assert.Equal(0, g.DataStart % 512);
    }

    [Theory]
    [InlineData(15L)]
    [InlineData(0L)]
    [InlineData(-1L)]
    [InlineData(1L << 32)]
    public void InodeCountOutOfRangeThrows(long inodes)
    {
        var e = Assert.Throws<ImageFormatException>(() => Geometry.Compute(1L << 30, inodes));
        Assert.Contains("inode count", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TooManyInodesForTheRegionThrows()
    {
        var e = Assert.Throws<ImageFormatException>(() => Geometry.Compute(16 * MiB, 40_000));
        Assert.Contains("no room for data", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SlotOffsetsAndInodeNumbersFollowTheTables()
    {
        var g = Geometry.Compute(64 * MiB);
        Assert.Equal(g.InodeTableStart * 4096, g.InodeOffset(0));
        Assert.Equal(g.InodeTableStart * 4096 + 256 * 10, g.InodeOffset(10));
        Assert.Equal(g.DirentTableStart * 4096 + 288 * 3, g.DirentOffset(3));
        Assert.Equal(g.ExtentTableStart * 4096 + 48 * 3, g.ExtentOffset(3));
        Assert.Equal(g.RmapTableStart * 4096 + 48 * 3, g.RmapOffset(3));
        Assert.Equal(0, Geometry.SlotOfIno(1));
        Assert.Equal(1ul, Geometry.InoOfSlot(0));
        Assert.False(g.IsValidIno(0));
        Assert.True(g.IsValidIno((ulong)g.InodeCount));
        Assert.False(g.IsValidIno((ulong)g.InodeCount + 1));
        Assert.True(g.IsDataBlockRange(g.DataStart, g.DataBlocks));
        Assert.False(g.IsDataBlockRange(g.DataStart - 1, 1));
        Assert.False(g.IsDataBlockRange(g.DataEnd, 1));
        Assert.False(g.IsDataBlockRange(g.DataStart, 0));
    }

    [Fact]
    public void ValidateRejectsEachBrokenLink()
    {
        var g = Geometry.Compute(64 * MiB);
        Assert.NotNull((g with { RegionSize = g.RegionSize + 1 }).Validate());
        Assert.NotNull((g with { JournalStart = 2 }).Validate());
        Assert.NotNull((g with { JournalBlocks = 15 }).Validate());
        Assert.NotNull((g with { BitmapStart = g.BitmapStart + 1 }).Validate());
        Assert.NotNull((g with { BitmapBlocks = 0 }).Validate());
        Assert.NotNull((g with { InodeTableStart = g.InodeTableStart - 1 }).Validate());
        Assert.NotNull((g with { InodeCount = 0 }).Validate());
        Assert.NotNull((g with { DirentTableStart = g.DirentTableStart + 1 }).Validate());
        Assert.NotNull((g with { ExtentTableStart = g.ExtentTableStart - 1 }).Validate());
        Assert.NotNull((g with { RmapTableStart = g.RmapTableStart + 1 }).Validate());
        Assert.NotNull((g with { RmapCount = g.RmapCount + 1000 }).Validate());
        Assert.NotNull((g with { DataStart = g.BlockCount - 1 }).Validate());
    }
}
