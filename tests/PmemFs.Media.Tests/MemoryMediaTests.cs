namespace PmemFs.Media.Tests;

public sealed class MemoryMediaTests
{
    [Theory]
    [InlineData(-1, 1)]
    [InlineData(0, 4097)]
    [InlineData(4096, 1)]
    [InlineData(4095, 2)]
    [InlineData(long.MaxValue, 1)]
    public void AccessOutsideTheRegionThrowsArgumentOutOfRange(long offset, int length)
    {
        using var media = new MemoryMedia(4096);
        Assert.Throws<ArgumentOutOfRangeException>(() => media.Read(offset, length).ToArray());
        Assert.Throws<ArgumentOutOfRangeException>(() => media.Write(offset, new byte[length]));
        Assert.Throws<ArgumentOutOfRangeException>(() => media.Fill(offset, length, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => media.Flush(offset, length));
    }

    [Fact]
    public void NegativeLengthsAreRefused()
    {
        using var media = new MemoryMedia(4096);
        Assert.Throws<ArgumentOutOfRangeException>(() => media.Fill(10, -1, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => media.Flush(10, -1));
    }

    [Fact]
    public void RangesEndingAtTheLastByteAreAccepted()
    {
        using var media = new MemoryMedia(4096);
        media.Write(4095, new byte[] { 7 });
        Assert.Equal(7, media.Read(4095, 1)[0]);
        Assert.Equal(0, media.Read(4096, 0).Length);
        media.Fill(0, 4096, 1);
        media.Persist(0, 4096);
    }

    [Fact]
    public void AtomicOperationsNeedAnAlignedWordInsideTheRegion()
    {
        using var media = new MemoryMedia(4096);
        media.AtomicOr64(8, 0xF0);
        media.AtomicAnd64(8, 0x30);
        Assert.Equal(0x30UL, media.ReadUInt64(8));
        Assert.Throws<ArgumentException>(() => media.AtomicOr64(9, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => media.AtomicAnd64(4096, 1));
    }

    [Fact]
    public void CopyOfIsIndependentOfItsSource()
    {
        using var source = new MemoryMedia(8192, StoreGranularity.Page);
        source.Fill(0, 8192, 0x42);
        using var copy = MemoryMedia.CopyOf(source);
        source.Fill(0, 8192, 0);
        Assert.Equal(StoreGranularity.Page, copy.Granularity);
        Assert.Equal(0x42, copy.Read(8191, 1)[0]);
    }

    [Fact]
    public void UseAfterDisposeThrowsObjectDisposed()
    {
        var media = new MemoryMedia(4096);
        media.Dispose();
        Assert.Throws<ObjectDisposedException>(() => media.Read(0, 1).ToArray());
    }
}
