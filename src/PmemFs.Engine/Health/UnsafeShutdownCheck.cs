namespace PmemFs.Engine.Health;

/// <summary>What mount found of the device's unsafe shutdown count (<see cref="FileSystem.UnsafeShutdown"/>).</summary>
/// <param name="Recorded">The count the superblock held: the device's count at the last read-write mount (or mkfs).</param>
/// <param name="Device">The device's count now.</param>
public sealed record UnsafeShutdownReport(ulong Recorded, ulong Device)
{
    public bool Changed => Recorded != Device;
}

/// <summary>
/// The unsafe shutdown count (DESIGN.md "Poison"; libpmem2's pmem2_source_device_usc): how often
/// the device lost power without flushing its write-pending queues. When it moved since the
/// superblock last recorded it, stores the file system believed durable may have been lost by
/// the hardware: the mount says so once, loudly, and the metadata is scrubbed (mount verifies
/// every used record of every table and cross-checks the maps against the bitmap; a record the
/// hardware lost is then damage like any other). A read-write mount records the new count, so
/// the warning is given for each unsafe shutdown once.
/// </summary>
internal static class UnsafeShutdownCheck
{
    public static UnsafeShutdownReport? Run(FileSystem fs)
    {
        if (fs.Media.UnsafeShutdownCount is not long device || device < 0) return null;
        var report = new UnsafeShutdownReport(fs.Superblock.UnsafeShutdownCount, (ulong)device);
        if (!report.Changed) return report;
        fs.Health.Record(HealthEventKind.UnsafeShutdown, 0, -1, 0,
            $"unsafe shutdown: the device's count went from {report.Recorded} to {report.Device} since the last mount: stores made durable before that power loss may have been lost by the hardware; " +
            "the metadata was scrubbed at mount (every record verified); run pmemfs fsck for a full check, and check the data you wrote last");
        if (!fs.Options.ReadOnly) fs.RecordUnsafeShutdownCount(report.Device);
        return report;
    }
}
