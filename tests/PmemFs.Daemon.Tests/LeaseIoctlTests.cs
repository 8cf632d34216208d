using PmemFs.Abi;
using PmemFs.Daemon.Operations;
using PmemFs.Engine;
using PmemFs.Engine.Leases;

namespace PmemFs.Daemon.Tests;

/// <summary>The lease ioctls' translation of ranges and list rows, without a mount.</summary>
public sealed class LeaseIoctlTests
{
    private const ulong ToEnd = PmemFsLeaseAbi.LengthToEnd;

    [Theory]
    [InlineData(0ul, 4096ul, 0L, 4096L)]
    [InlineData(4096ul, ToEnd, 4096L, long.MaxValue - 4096)]
    [InlineData(0ul, (ulong)long.MaxValue, 0L, long.MaxValue)]
    public void GoodRangesBecomeTheEnginesRanges(ulong offset, ulong length, long engineOffset, long engineLength)
    {
        Assert.Equal(Errno.Ok, PmemFsOperations.ToRange(offset, length, out var r));
        Assert.Equal(new FileRange(engineOffset, engineLength), r);
        Assert.Equal(r.IsToEnd ? ToEnd : length, PmemFsOperations.ToAbiLength(r)); // reaching INT64_MAX is "to the end"
    }

    [Theory]
    [InlineData(0ul, 0ul, 22)]                         // zero length
    [InlineData((ulong)long.MaxValue + 1, 1ul, 22)]    // offset past INT64_MAX ("negative")
    [InlineData(0ul, (ulong)long.MaxValue + 1, 22)]    // length past INT64_MAX, not TO_END
    [InlineData(ulong.MaxValue, ToEnd, 22)]
    [InlineData((ulong)long.MaxValue, ToEnd, 22)]      // nothing left to the end
    [InlineData(1ul, (ulong)long.MaxValue, 75)]        // the end overflows: EOVERFLOW
    [InlineData((ulong)long.MaxValue - 10, 11ul, 75)]
    public void BadRangesAreEinvalOrEoverflow(ulong offset, ulong length, int errno) =>
        Assert.Equal(new Errno(errno), PmemFsOperations.ToRange(offset, length, out _));

    [Fact]
    public void ListRowsComeAsEachLeaseThenItsPinsInIdOrder()
    {
        var t = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000);
        var leases = new[]
        {
            new LeaseInfo(7, 12, 3, 400, LeaseMode.Read, new FileRange(0, 8192), LeaseState.Active, t, null, []),
            new LeaseInfo(2, 11, 1, 300, LeaseMode.Write, FileRange.WholeFile, LeaseState.Recalled, t, t.AddSeconds(45),
                [new PinInfo(5, new FileRange(4096, 4096)), new PinInfo(3, new FileRange(0, 4096))]),
        };
        var rows = PmemFsOperations.Rows(leases).ToList();
        Assert.Equal([(2ul, 0ul), (2ul, 3ul), (2ul, 5ul), (7ul, 0ul)], rows.Select(r => (r.LeaseId, r.PinId)));
        Assert.Equal(ToEnd, rows[0].Length);
        Assert.Equal(PmemFsLeaseAbi.StateRecalled, rows[0].State);
        Assert.Equal(PmemFsLeaseAbi.ModeWrite, rows[0].Mode);
        Assert.Equal(1_800_000_045_000_000_000L, rows[0].DeadlineNs);
        Assert.Equal(1_800_000_000_000_000_000L, rows[0].GrantedNs);
        Assert.Equal((0ul, 4096ul, 300, 11ul), (rows[1].Offset, rows[1].Length, rows[1].Pid, rows[1].Ino));
        Assert.Equal(0L, rows[3].DeadlineNs);
    }

    [Fact]
    public void AThreadIsNamedByItsProcess()
    {
        int tid = 0;
        var thread = new Thread(() => tid = Gettid());
        thread.Start();
        thread.Join();
        Assert.NotEqual(Environment.ProcessId, tid);
        // The thread has ended; ask about the main thread and a live one of ours instead.
        Assert.Equal(Environment.ProcessId, HolderWatch.ProcessOf(Environment.ProcessId));
        Assert.Equal(0, HolderWatch.ProcessOf(0));
    }

    [System.Runtime.InteropServices.DllImport("libc.so.6", EntryPoint = "gettid")]
    private static extern int Gettid();

    [Fact]
    public async Task AWatchedProcessThatIsKilledIsReportedAtOnce()
    {
        var log = new DaemonLog(TextWriter.Null);
        var died = new TaskCompletionSource<int>();
        using var watch = new HolderWatch(pid => died.TrySetResult(pid), log);
        using var child = System.Diagnostics.Process.Start("sleep", "60")!;
        Assert.True(watch.Watch(child.Id));
        Assert.Equal(1, watch.Count);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        child.Kill();
        int pid = await died.Task.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(child.Id, pid);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(1), $"reported after {sw.Elapsed}");
        Assert.Equal(0, watch.Count);
    }

    [Fact]
    public void AProcessThatIsGoneCannotBeWatched()
    {
        using var watch = new HolderWatch(_ => { }, new DaemonLog(TextWriter.Null));
        using var child = System.Diagnostics.Process.Start("true")!;
        child.WaitForExit();
        int pid = child.Id;
        child.Dispose();
        // Reaped: the pid names nothing (unless reused at once, which this machine will not do in a test).
        Assert.False(watch.Watch(pid));
    }
}
