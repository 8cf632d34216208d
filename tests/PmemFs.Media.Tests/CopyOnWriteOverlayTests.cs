namespace PmemFs.Media.Tests;

/// <summary>The private view fsck and read-only salvage replay into: stores never reach the region underneath.</summary>
public sealed unsafe class CopyOnWriteOverlayTests
{
    [Fact]
    public void StoresAreSeenThroughTheViewAndNeverReachTheRegion()
    {
        using var lower = new MemoryMedia(4 * 4096);
        lower.Fill(0, lower.Size, 0x11);
        using var view = new CopyOnWriteOverlay(lower);
        view.Write(4090, new byte[] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 }); // across a page boundary
        view.Fill(3 * 4096, 8, 0x22);
        view.AtomicOr64(2 * 4096, 0xFF00);
        view.Flush(0, view.Size);
        view.Drain();

        Assert.Equal(new byte[] { 0x11, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0x11 }, view.Read(4089, 12).ToArray());
        Assert.Equal(0x22, view.Read(3 * 4096 + 7, 1)[0]);
        Assert.Equal(0xFF, view.Read(2 * 4096 + 1, 1)[0]);
        Assert.All(lower.Read(0, (int)lower.Size).ToArray(), b => Assert.Equal(0x11, b));
    }

    [Fact]
    public void AddressesPassThroughForPagesNeverStoredToAndAreRefusedForCopies()
    {
        using var lower = new MemoryMedia(2 * 4096);
        using var view = new CopyOnWriteOverlay(lower);
        view.Write(10, new byte[] { 7 });
        Assert.True(lower.PointerAt(4096 + 3) == view.PointerAt(4096 + 3));
        Assert.Throws<NotSupportedException>(() => { _ = view.PointerAt(20); });
    }
}
