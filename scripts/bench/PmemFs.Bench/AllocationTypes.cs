using System.Collections.Concurrent;
using System.Diagnostics.Tracing;

namespace PmemFs.Bench;

/// <summary>
/// Which types an operation allocates: the runtime's GC AllocationTick events (one per ~100 KB
/// allocated, with the type of the object that crossed the mark), counted by type. A sample, not
/// an exact count: run enough operations that each type shows up.
/// </summary>
internal sealed class AllocationTypes : EventListener
{
    private readonly ConcurrentDictionary<string, int> _ticks = new();

    protected override void OnEventSourceCreated(EventSource source)
    {
        if (source.Name == "Microsoft-Windows-DotNETRuntime")
            EnableEvents(source, EventLevel.Verbose, (EventKeywords)0x1 /* GC */);
    }

    protected override void OnEventWritten(EventWrittenEventArgs e)
    {
        if (e.EventName != "GCAllocationTick_V4" || e.Payload is null) return;
        int i = e.PayloadNames!.IndexOf("TypeName");
        if (i >= 0) _ticks.AddOrUpdate(e.Payload[i]?.ToString() ?? "?", 1, (_, n) => n + 1);
    }

    public void Print(TextWriter w)
    {
        foreach (var (type, n) in _ticks.OrderByDescending(kv => kv.Value).Take(25)) w.WriteLine($"{n,6}  {type}");
        _ticks.Clear();
    }
}
