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
        // The collector may take an asked-for gen-0 collection further (to gen 1), and other
        // tests allocate meanwhile: each counts in exactly one generation, and at least the gen-2 one is there.
        Assert.True(after.Gen2Collections >= before.Gen2Collections + 1, "the gen-2 collection");
        ulong Total(PmemFsDaemonStats s) => s.Gen0Collections + s.Gen1Collections + s.Gen2Collections;
        Assert.True(Total(after) >= Total(before) + 2, "two collections, each counted once");
        // The three generations add up to every collection there was (CollectionCount(0) counts them all).
        var now = RuntimeStats.Snapshot();
        Assert.InRange(GC.CollectionCount(0) - (long)Total(now), 0, 5);
        Assert.True(after.GcPauseTotalNs > before.GcPauseTotalNs, "their pauses");
        Assert.True(after.UptimeNs > before.UptimeNs);
        // The longest pause comes from the runtime's events, delivered on their own thread a moment later.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (RuntimeStats.Snapshot().GcPauseMaxNs == 0 && DateTime.UtcNow < deadline) Thread.Sleep(20);
        var last = RuntimeStats.Snapshot();
        Assert.InRange(last.GcPauseMaxNs, 1ul, last.GcPauseTotalNs);
    }
}
