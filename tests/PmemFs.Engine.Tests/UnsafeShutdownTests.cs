using PmemFs.Engine.Health;
using PmemFs.Format;
using PmemFs.Media;
using PmemFs.Media.Poison;

namespace PmemFs.Engine.Tests;

/// <summary>
/// The device's unsafe shutdown count (issue 13, item 5), on an emulated device: mkfs records it,
/// a mount that finds it moved says so once and records the new count (read-write), a read-only
/// mount says so and records nothing, and media without a count are left alone.
/// </summary>
public class UnsafeShutdownTests
{
    [Fact]
    public void AMovedCountIsReportedOnceAndRecordedByAReadWriteMount()
    {
        var state = EmulatedDeviceState.InMemory();
        using var raw = new MemoryMedia(16L << 20);
        using var device = new EmulatedPoisonMedia(raw, state, writable: true, ownsInner: false);
        device.CountUnsafeShutdown(); // before mkfs: not this file system's concern
        Mkfs.Format(device, new MkfsOptions());
        using (var fs = FileSystem.Mount(device))
        {
            Assert.False(fs.UnsafeShutdown!.Changed);
            Assert.DoesNotContain(fs.Health.Events, e => e.Kind == HealthEventKind.UnsafeShutdown);
        }

        device.CountUnsafeShutdown();
        device.CountUnsafeShutdown();
        using (var ro = FileSystem.Mount(device, new FileSystemOptions { ReadOnly = true }))
        {
            Assert.Equal(new UnsafeShutdownReport(1, 3), ro.UnsafeShutdown);
            Assert.Contains(ro.Health.Events, e => e.Kind == HealthEventKind.UnsafeShutdown && e.Message.Contains("from 1 to 3"));
        }
        using (var fs = FileSystem.Mount(device))
        {
            Assert.True(fs.UnsafeShutdown!.Changed); // the read-only mount recorded nothing
            Assert.Equal(3ul, fs.Superblock.UnsafeShutdownCount);
            Assert.Equal(HealthState.Healthy, fs.Health.State); // a warning, not a refusal
        }
        using (var fs = FileSystem.Mount(device))
        {
            Assert.False(fs.UnsafeShutdown!.Changed);
            Assert.Equal(3ul, ImageReader.ReadSuperblock(raw, "image").Superblock.UnsafeShutdownCount);
        }
    }

    [Fact]
    public void MediaWithoutACountAreLeftAlone()
    {
        using var t = new EngineFixture();
        Assert.Null(t.Fs.UnsafeShutdown);
        Assert.Equal(0ul, t.Fs.Superblock.UnsafeShutdownCount);
    }
}
