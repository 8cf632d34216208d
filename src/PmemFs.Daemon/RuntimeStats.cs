using System.Diagnostics;
using System.Diagnostics.Tracing;
using PmemFs.Abi;

namespace PmemFs.Daemon;

/// <summary>
/// What the daemon costs at run time, for PMEMFS_IOC_DAEMON_STATS (`pmemfs info MOUNT`):
/// garbage collections by generation, the time they stopped the daemon's threads (in total and
/// the longest single stop), allocation and heap size. A collection stops the threads that
/// serve requests, so its pause lands in the latency of whatever is in flight: these are the
/// numbers to look at beside a benchmark's p99 (docs/performance.md).
/// </summary>
public static class RuntimeStats
{
    private static readonly DateTime ProcessStart = GetProcessStart();
    private static GcPauseListener? _listener;

    /// <summary>Starts measuring the longest pause (the totals need nothing). Once per process; the daemon calls it before it serves.</summary>
    public static void StartListening()
    {
        if (Volatile.Read(ref _listener) is not null) return;
        var listener = new GcPauseListener(); // enabled from here on: drop it if another call won
        if (Interlocked.CompareExchange(ref _listener, listener, null) is not null) listener.Dispose();
    }

    public static PmemFsDaemonStats Snapshot()
    {
        // CollectionCount(g) counts the collections of generation g or older: a gen-2 collection
        // is in all three. Read oldest first, so a collection between two reads only adds to
        // the later, younger count: no difference can be negative.
        int c2 = GC.CollectionCount(2), c1 = GC.CollectionCount(1), c0 = GC.CollectionCount(0);
        return new PmemFsDaemonStats
        {
            Version = PmemFsDaemonStatsAbi.Version,
            UptimeNs = (ulong)Math.Max(0, (DateTime.UtcNow - ProcessStart).Ticks) * 100,
            Gen0Collections = (ulong)(c0 - c1),
            Gen1Collections = (ulong)(c1 - c2),
            Gen2Collections = (ulong)c2,
            GcPauseTotalNs = (ulong)GC.GetTotalPauseDuration().Ticks * 100,
            GcPauseMaxNs = (ulong)(_listener?.MaxPauseTicks ?? 0) * 100,
            AllocatedBytes = (ulong)GC.GetTotalAllocatedBytes(precise: false),
            HeapBytes = (ulong)GC.GetTotalMemory(forceFullCollection: false),
        };
    }

    private static DateTime GetProcessStart()
    {
        using var self = Process.GetCurrentProcess();
        return self.StartTime.ToUniversalTime();
    }

    /// <summary>
    /// The runtime's own GC events, in process: a pause runs from the suspension of the managed
    /// threads for a collection (GCSuspendEEBegin) to their restart (GCRestartEEEnd). The events
    /// come only when a collection happens, so between collections this costs nothing.
    /// </summary>
    private sealed class GcPauseListener : EventListener
    {
        private const EventKeywords GcKeyword = (EventKeywords)0x1;
        // SuspendEE reasons that are a collection: SUSPEND_FOR_GC and SUSPEND_FOR_GC_PREP.
        private const uint SuspendForGc = 1, SuspendForGcPrep = 6;
        private long _suspendedAt;
        private long _maxPauseTicks;

        public long MaxPauseTicks => Interlocked.Read(ref _maxPauseTicks);

        protected override void OnEventSourceCreated(EventSource source)
        {
            if (source.Name == "Microsoft-Windows-DotNETRuntime") EnableEvents(source, EventLevel.Informational, GcKeyword);
        }

        protected override void OnEventWritten(EventWrittenEventArgs e)
        {
            switch (e.EventName)
            {
                case "GCSuspendEEBegin_V1":
                    uint reason = e.PayloadNames?.IndexOf("Reason") is int i and >= 0 && e.Payload![i] is { } r ? Convert.ToUInt32(r, System.Globalization.CultureInfo.InvariantCulture) : SuspendForGc;
                    _suspendedAt = reason is SuspendForGc or SuspendForGcPrep ? e.TimeStamp.Ticks : 0;
                    break;
                case "GCRestartEEEnd_V1" when _suspendedAt != 0:
                    long pause = e.TimeStamp.Ticks - _suspendedAt;
                    _suspendedAt = 0;
                    if (pause > Interlocked.Read(ref _maxPauseTicks)) Interlocked.Exchange(ref _maxPauseTicks, pause);
                    break;
            }
        }
    }
}
