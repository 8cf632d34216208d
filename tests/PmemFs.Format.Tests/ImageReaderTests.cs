using PmemFs.Media;
using static PmemFs.Format.Tests.TestSupport;

namespace PmemFs.Format.Tests;

public class ImageReaderTests
{
    [Fact]
    public void FreshImageIsReadFromThePrimary()
    {
        using var media = Formatted(16 * MiB, out var sb, new MkfsOptions { Label = "fresh" });
        var opened = ImageReader.ReadSuperblock(media, "img");
        Assert.Equal(SuperblockCopy.Primary, opened.UsedCopy);
        Assert.Null(opened.PrimaryProblem);
        Assert.Null(opened.SecondaryProblem);
        Assert.Equal(sb, opened.Superblock);
        Assert.Equal("fresh", opened.Superblock.Label);
    }

    [Theory]
    [InlineData(0)]    // checksum field
    [InlineData(100)]  // a count
    [InlineData(300)]  // padding
    public void CorruptPrimaryFallsBackToTheSecondary(int offset)
    {
        using var media = Formatted(16 * MiB, out var sb);
        media.RawBytes(offset, 1)[0] ^= 0x20;

        var opened = ImageReader.ReadSuperblock(media, "img");

        Assert.Equal(SuperblockCopy.Secondary, opened.UsedCopy);
        Assert.Equal(sb, opened.Superblock);
        Assert.NotNull(opened.PrimaryProblem);
        Assert.Contains("checksum", opened.PrimaryProblem, StringComparison.Ordinal);
        Assert.Null(opened.SecondaryProblem);
    }

    [Fact]
    public void ZeroedPrimaryFallsBackToTheSecondary()
    {
        using var media = Formatted(16 * MiB, out var sb);
        media.Fill(0, 4096, 0);
        var opened = ImageReader.ReadSuperblock(media, "img");
        Assert.Equal(SuperblockCopy.Secondary, opened.UsedCopy);
        Assert.Equal("empty", opened.PrimaryProblem);
        Assert.Equal(sb, opened.Superblock);
    }

    [Fact]
    public void CorruptSecondaryIsReportedButThePrimaryIsUsed()
    {
        using var media = Formatted(16 * MiB, out var sb);
        media.RawBytes((sb.Geometry.BlockCount - 1) * 4096 + 50, 1)[0] ^= 1;
        var opened = ImageReader.ReadSuperblock(media, "img");
        Assert.Equal(SuperblockCopy.Primary, opened.UsedCopy);
        Assert.Null(opened.PrimaryProblem);
        Assert.Contains("checksum", opened.SecondaryProblem, StringComparison.Ordinal);
    }

    [Fact]
    public void SecondaryThatDiffersFromThePrimaryIsReported()
    {
        using var media = Formatted(16 * MiB, out var sb);
        ImageReader.WriteSuperblock(media, sb with { Label = "other" }, SuperblockCopy.Secondary);
        var opened = ImageReader.ReadSuperblock(media, "img");
        Assert.Equal(SuperblockCopy.Primary, opened.UsedCopy);
        Assert.Equal(sb, opened.Superblock);
        Assert.Contains("differs", opened.SecondaryProblem, StringComparison.Ordinal);
    }

    [Fact]
    public void BothSuperblocksCorruptIsRefusedMentioningBoth()
    {
        using var media = Formatted(16 * MiB, out var sb);
        media.RawBytes(20, 1)[0] ^= 1;
        var forged = Forge(media.Read((sb.Geometry.BlockCount - 1) * 4096, 512), b => PutU32(b, 4, 7));
        media.Write((sb.Geometry.BlockCount - 1) * 4096, forged);

        var e = Assert.Throws<ImageFormatException>(() => ImageReader.ReadSuperblock(media, "disk.img"));

        Assert.StartsWith("disk.img: ", e.Message, StringComparison.Ordinal);
        Assert.Contains("both superblocks are unusable", e.Message, StringComparison.Ordinal);
        Assert.Contains("primary: superblock: checksum mismatch", e.Message, StringComparison.Ordinal);
        Assert.Contains("secondary: format version 7", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RandomBytesAreNotAPmemFsImage()
    {
        using var media = MemoryMedia.FromBytes(Pattern(16 * 1024 * 1024, 9));
        var e = Assert.Throws<ImageFormatException>(() => ImageReader.ReadSuperblock(media, "junk"));
        Assert.Contains("not a PmemFs image", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AllZeroRegionIsNotAPmemFsImage()
    {
        using var media = new MemoryMedia(16 * MiB);
        var e = Assert.Throws<ImageFormatException>(() => ImageReader.ReadSuperblock(media, "zero"));
        Assert.Contains("not a PmemFs image", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TooSmallRegionIsRefused()
    {
        using var media = new MemoryMedia(1 * MiB);
        var e = Assert.Throws<ImageFormatException>(() => ImageReader.ReadSuperblock(media, "small"));
        Assert.Contains("not a PmemFs image", e.Message, StringComparison.Ordinal);
        Assert.Contains("too small", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FirstMiBOfAnImageIsATruncatedImage()
    {
        using var full = Formatted(16 * MiB, out _);
        using var media = MemoryMedia.FromBytes(full.Read(0, (int)MiB));
        var e = Assert.Throws<ImageFormatException>(() => ImageReader.ReadSuperblock(media, "cut"));
        Assert.Contains("truncated", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ImageWhoseSuperblockDescribesMoreThanTheMediaIsTruncated()
    {
        using var full = Formatted(32 * MiB, out _);
        using var media = MemoryMedia.FromBytes(full.Read(0, (int)(16 * MiB)));
        var e = Assert.Throws<ImageFormatException>(() => ImageReader.ReadSuperblock(media, "cut"));
        Assert.Contains("truncated", e.Message, StringComparison.Ordinal);
        Assert.Contains((32 * MiB).ToString(System.Globalization.CultureInfo.InvariantCulture), e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ImageCopiedIntoALargerMediaIsRefused()
    {
        using var full = Formatted(16 * MiB, out _);
        using var media = new MemoryMedia(32 * MiB);
        media.Write(0, full.Read(0, (int)(16 * MiB)));
        var e = Assert.Throws<ImageFormatException>(() => ImageReader.ReadSuperblock(media, "grown"));
        Assert.Contains("both superblocks are unusable", e.Message, StringComparison.Ordinal);
        Assert.Contains("describes", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void WriteSuperblockRestoresTheCopyFromTheOther()
    {
        using var media = Formatted(16 * MiB, out var sb);
        media.Fill(0, 512, 0xAB);
        var opened = ImageReader.ReadSuperblock(media, "img");
        Assert.Equal(SuperblockCopy.Secondary, opened.UsedCopy);
        Assert.Contains("magic", opened.PrimaryProblem, StringComparison.Ordinal);
        ImageReader.WriteSuperblock(media, opened.Superblock, SuperblockCopy.Primary);
        var again = ImageReader.ReadSuperblock(media, "img");
        Assert.Equal(SuperblockCopy.Primary, again.UsedCopy);
        Assert.Null(again.SecondaryProblem);
        Assert.Equal(sb, again.Superblock);
    }

    [Fact]
    public void MkfsRefusesASizeThatIsNotABlockMultiple()
    {
        using var media = new MemoryMedia(16 * MiB + 100);
        var e = Assert.Throws<ImageFormatException>(() => Mkfs.Format(media, new MkfsOptions()));
        Assert.Contains("multiple of 4096", e.Message, StringComparison.Ordinal);
        Assert.True(media.Read(0, 4096).IndexOfAnyExcept((byte)0) < 0, "nothing written");
    }

    [Fact]
    public void MkfsRefusesARegionSmallerThan16MiB()
    {
        using var media = new MemoryMedia(16 * MiB - 4096);
        var e = Assert.Throws<ImageFormatException>(() => Mkfs.Format(media, new MkfsOptions()));
        Assert.Contains("too small", e.Message, StringComparison.Ordinal);
    }
}
