using PmemFs.Abi;
using PmemFs.Daemon.Operations;
using PmemFs.Engine;

namespace PmemFs.Daemon.Tests;

/// <summary>PMEMFS_IOC_DAEMON_STATS's check of its struct, and what <see cref="RuntimeStats"/> counts (src/include/pmemfs.h).</summary>
public sealed class DaemonStatsTests
{
    [Fact]
    public void OnlyTheVersionAndAZeroReservedFieldAreAccepted()
    {
        Assert.Equal(Errno.Ok, PmemFsOperations.ValidateDaemonStats(new PmemFsDaemonStats { Version = PmemFsDaemonStatsAbi.Version }));
        Assert.Equal(Errno.EINVAL, PmemFsOperations.ValidateDaemonStats(new PmemFsDaemonStats { Version = 0 }));
        Assert.Equal(Errno.EINVAL, PmemFsOperations.ValidateDaemonStats(new PmemFsDaemonStats { Version = 2 }));
        Assert.Equal(Errno.EINVAL, PmemFsOperations.ValidateDaemonStats(new PmemFsDaemonStats { Version = PmemFsDaemonStatsAbi.Version, Reserved0 = 1 }));
    }

    [Fact]
    public void ACollectionIsCountedInItsGenerationAndItsPauseIsTheLongestSoFarOrShorter()
    {
        RuntimeStats.StartListening();
        var before = RuntimeStats.Snapshot();
        GC.Collect(2, GCCollectionMode.Forced, blocking: true);
        GC.Collect(0, GCCollectionMode.Forced, blocking: true);
        var after = RuntimeStats.Snapshot();
        Assert.Equal(PmemFsDaemonStatsAbi.Version, after.Version);
        Assert.True(after.Gen2Collections >= before.Gen2Collections + 1, "the gen-2 collection");
        Assert.True(after.Gen0Collections >= before.Gen0Collections + 1, "the gen-0 collection");
        Assert.True(after.GcPauseTotalNs > before.GcPauseTotalNs, "their pauses");
        Assert.True(after.UptimeNs > before.UptimeNs);
        // The longest pause comes from the runtime's events, delivered on their own thread a moment later.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (RuntimeStats.Snapshot().GcPauseMaxNs == 0 && DateTime.UtcNow < deadline) Thread.Sleep(20);
        var last = RuntimeStats.Snapshot();
        Assert.InRange(last.GcPauseMaxNs, 1ul, last.GcPauseTotalNs);
    }
}
