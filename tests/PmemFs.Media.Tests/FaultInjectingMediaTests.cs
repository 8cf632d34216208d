namespace PmemFs.Media.Tests;

public sealed class FaultInjectingMediaTests
{
    [Fact]
    public void EveryStoreFlushAndDrainIsReportedBeforeItHappens()
    {
        using var inner = new MemoryMedia(4096);
        using var media = new FaultInjectingMedia(inner, ownsInner: false);
        var seen = new List<MediaOperation>();
        media.BeforeOperation = op =>
        {
            seen.Add(op);
            if (op.Kind == MediaOperationKind.Write) Assert.Equal(0, inner.Read(op.Offset, 1)[0]);
        };

        media.Write(10, new byte[] { 1, 2, 3 });
        media.WriteNonTemporal(64, new byte[100]);
        media.Fill(200, 50, 9);
        media.AtomicOr64(512, 1);
        media.AtomicAnd64(512, 0);
        media.Flush(0, 300);
        media.Drain();
        _ = media.Read(0, 16);

        Assert.Equal(
            [
                new MediaOperation(MediaOperationKind.Write, 10, 3),
                new MediaOperation(MediaOperationKind.WriteNonTemporal, 64, 100),
                new MediaOperation(MediaOperationKind.Fill, 200, 50),
                new MediaOperation(MediaOperationKind.AtomicOr64, 512, 8),
                new MediaOperation(MediaOperationKind.AtomicAnd64, 512, 8),
                new MediaOperation(MediaOperationKind.Flush, 0, 300),
                new MediaOperation(MediaOperationKind.Drain, 0, 0),
            ],
            seen);
        Assert.Equal((5L, 1L, 1L), (media.WriteCount, media.FlushCount, media.DrainCount));
        Assert.Equal(9, inner.Read(249, 1)[0]);
    }

    [Fact]
    public void TheNthWriteFailsOnceAndIsNotForwarded()
    {
        using var media = new FaultInjectingMedia(new MemoryMedia(4096));
        media.Write(0, new byte[] { 1 });
        media.FailWriteAfter(2);
        media.Write(1, new byte[] { 2 });
        var e = Assert.Throws<IOException>(() => media.Write(2, new byte[] { 3 }));
        Assert.Contains("Write #3", e.Message);
        media.Write(3, new byte[] { 4 });
        Assert.Equal(new byte[] { 1, 2, 0, 4 }, media.Read(0, 4).ToArray());
        Assert.Equal(4, media.WriteCount);
    }

    [Fact]
    public void TheNthFlushAndTheNthDrainFail()
    {
        using var media = new FaultInjectingMedia(new MemoryMedia(4096));
        media.FailFlushAfter(1);
        media.FailDrainAfter(2);
        Assert.Throws<IOException>(() => media.Flush(0, 64));
        media.Flush(0, 64);
        media.Drain();
        Assert.Throws<IOException>(() => media.Drain());
        media.Drain();
        Assert.Equal((2L, 3L), (media.FlushCount, media.DrainCount));
    }

    [Fact]
    public void FillAndAtomicsCountAsWrites()
    {
        using var media = new FaultInjectingMedia(new MemoryMedia(4096));
        media.FailWriteAfter(3);
        media.Fill(0, 8, 0xFF);
        media.AtomicAnd64(0, 0x0F);
        Assert.Throws<IOException>(() => media.AtomicOr64(0, 0xF0));
        Assert.Equal(0x0FUL, media.ReadUInt64(0));
    }

    [Fact]
    public void ACallbackThatThrowsStopsTheOperation()
    {
        using var media = new FaultInjectingMedia(new MemoryMedia(4096));
        media.BeforeOperation = op =>
        {
            if (op.IsStore && op.Offset == 100) throw new InvalidOperationException("crash here");
        };
        media.Write(0, new byte[] { 1 });
        Assert.Throws<InvalidOperationException>(() => media.Write(100, new byte[] { 1 }));
        Assert.Equal(0, media.Read(100, 1)[0]);
    }

    [Fact]
    public void ItPassesSizeGranularityAndDisposalThrough()
    {
        var inner = new MemoryMedia(8192, StoreGranularity.Byte);
        var media = new FaultInjectingMedia(inner);
        Assert.Equal(8192, media.Size);
        Assert.Equal(StoreGranularity.Byte, media.Granularity);
        Assert.Contains(inner.Description, media.Description);
        media.Dispose();
        Assert.Throws<ObjectDisposedException>(() => inner.Read(0, 1).ToArray());
    }

    [Fact]
    public void FailAfterRefusesNonPositiveCounts()
    {
        using var media = new FaultInjectingMedia(new MemoryMedia(4096));
        Assert.Throws<ArgumentOutOfRangeException>(() => media.FailWriteAfter(0));
    }
}
