using PmemFs.Media;

namespace PmemFs.CrashSim.Tests;

/// <summary>The persistence model on hand-made recordings.</summary>
public sealed class SimulatorModelTests
{
    private const int L = PmemSimulator.LineSize;

    private static Recording Record(Action<RecordingMedia> body, long size = 4096)
    {
        using var media = new RecordingMedia(new MemoryMedia(size));
        body(media);
        return Recording.From(media);
    }

    private static PmemSimulator At(Recording r, int position)
    {
        var sim = new PmemSimulator(r);
        sim.AdvanceTo(position);
        return sim;
    }

    [Fact]
    public void AStoreNeverFlushedMayBeLostEvenAfterADrain()
    {
        var r = Record(m =>
        {
            m.Write(0, [1, 2, 3]);
            m.Drain();
        });
        var sim = At(r, r.Records.Length);
        Assert.Equal(0, sim.Durable[0]);
        var line = Assert.Single(sim.PendingLines());
        Assert.Equal(0, line.Line);
        Assert.Equal(new byte[] { 1, 2, 3 }, line.Versions[^1][..3]);
    }

    [Fact]
    public void AFlushedStoreIsInDoubtUntilTheDrainThenDurable()
    {
        var r = Record(m =>
        {
            m.Write(L + 5, [7]);
            m.Flush(L, 1);
            m.Drain();
        });
        var beforeDrain = At(r, 2);
        Assert.Equal(0, beforeDrain.Durable[L + 5]);
        Assert.Single(beforeDrain.PendingLines());
        var after = At(r, 3);
        Assert.Equal(7, after.Durable[L + 5]);
        Assert.Empty(after.PendingLines());
    }

    [Fact]
    public void AStoreAfterTheFlushIsNotCoveredByIt()
    {
        var r = Record(m =>
        {
            m.Write(0, [1]);
            m.Flush(0, 64);
            m.Write(0, [2]);
            m.Drain();
        });
        var sim = At(r, r.Records.Length);
        Assert.Equal(1, sim.Durable[0]);          // the content as of the flush is durable
        var line = Assert.Single(sim.PendingLines());
        Assert.Equal(2, line.Versions.Single()[0]); // the later store may or may not have landed
    }

    [Fact]
    public void NonTemporalStoresAreDurableAtTheNextDrainWithoutAFlush()
    {
        var r = Record(m =>
        {
            m.WriteNonTemporal(128, [9, 9]);
            m.Drain();
        });
        var before = At(r, 1);
        Assert.Single(before.PendingLines());
        Assert.Equal(0, before.Durable[128]);
        var after = At(r, 2);
        Assert.Equal(9, after.Durable[129]);
        Assert.Empty(after.PendingLines());
    }

    [Fact]
    public void EveryIntermediateVersionOfALineIsACandidate()
    {
        var r = Record(m =>
        {
            m.Write(0, [1]);
            m.Write(0, [2]);
            m.Write(0, [3]);
        });
        var line = Assert.Single(At(r, 3).PendingLines());
        Assert.Equal(new byte[] { 1, 2, 3 }, line.Versions.Select(v => v[0]).ToArray());
    }

    [Fact]
    public void FillsAndAtomicWordOperationsAreStoresLikeAnyOther()
    {
        var r = Record(m =>
        {
            m.Fill(0, 200, 0xAA);
            m.AtomicOr64(256, 0xF0);
            m.AtomicAnd64(256, 0x30);
            m.Flush(0, 200);
            m.Drain();
        });
        var sim = At(r, r.Records.Length);
        Assert.Equal(0xAA, sim.Durable[199]);
        var line = Assert.Single(sim.PendingLines()); // the atomic word was never flushed
        Assert.Equal(256 / L, line.Line);
        Assert.Equal(new byte[] { 0xF0, 0x30 }, line.Versions.Select(v => v[0]).ToArray());
    }

    [Fact]
    public void CrashPointsSurroundEveryFenceAndCountReturnedOperations()
    {
        var r = Record(m =>
        {
            m.MarkOperationStart(0);
            m.Write(0, [1]);
            m.Flush(0, 1);
            m.Drain();
            m.MarkOperationReturned(0);
            m.MarkOperationStart(1);
            m.Write(64, [1]);
            m.Flush(64, 1);
            m.Write(128, [1]);
            m.Flush(128, 1);
            m.Drain();
        });
        var points = CrashExplorer.CrashPoints(r, 0);
        Assert.Contains(points, p => p.Position == 3 && p.Kind == CrashPointKind.BeforeFence && p.InFlight == 0);
        Assert.Contains(points, p => p.Position == 4 && p.Kind == CrashPointKind.AfterFence);
        Assert.Contains(points, p => p.Kind == CrashPointKind.MidInterval);
        var beforeSecond = points.Single(p => p.Position == 10);
        Assert.Equal(1, beforeSecond.Returned);
        Assert.Equal(1, beforeSecond.InFlight);
        var end = points[^1];
        Assert.Equal(11, end.Position);
        Assert.Equal(1, end.InFlight); // operation 1 never returned
    }

    [Fact]
    public void EnumeratedStatesCoverEverySubset()
    {
        var lines = new List<PendingLine> { new(0, [new byte[L]]), new(1, [new byte[L]]), new(2, [new byte[L], new byte[L]]) };
        var seen = new HashSet<string>();
        for (long s = 0; s < 2 * 2 * 3; s++) seen.Add(string.Join(",", CrashStates.Choose(lines, true, s, 1, 0)));
        Assert.Equal(12, seen.Count);
    }

    /// <summary>State 5 of point 3, seed 1, over 24 lines of 3 versions each, as every process draws it.</summary>
    private static readonly int[] SampledState5 = [1, 1, 0, 3, 1, 2, 0, 2, 3, 0, 1, 0, 2, 2, 3, 3, 2, 2, 3, 3, 2, 3, 0, 1];

    [Fact]
    public void SampledStatesAreTheSameInEveryProcess()
    {
        // A reproducer re-draws its state in a new process: the draw must not depend on a per-process hash salt.
        var lines = Enumerable.Range(0, 24).Select(i => new PendingLine(i, [new byte[L], new byte[L], new byte[L]])).ToList();
        Assert.Equal(new int[lines.Count], CrashStates.Choose(lines, false, 0, 1, 3));
        Assert.All(CrashStates.Choose(lines, false, 1, 1, 3), c => Assert.Equal(3, c));
        Assert.Equal(SampledState5, CrashStates.Choose(lines, false, 5, 1, 3));
    }

    [Fact]
    public void RecordingMediaForwardsAndRecordsEveryKindOfStore()
    {
        using var inner = new MemoryMedia(4096);
        using var m = new RecordingMedia(inner, ownsInner: false);
        m.Write(0, [1, 2]);
        m.WriteNonTemporal(8, [3]);
        m.Fill(16, 4, 5);
        m.AtomicOr64(24, 1);
        m.AtomicAnd64(24, 3);
        m.Flush(0, 32);
        m.Drain();
        m.MarkOperationReturned(7);
        Assert.Equal(new[] { RecordKind.Write, RecordKind.WriteNonTemporal, RecordKind.Fill, RecordKind.AtomicOr64, RecordKind.AtomicAnd64, RecordKind.Flush, RecordKind.Drain, RecordKind.OperationReturned },
            m.Records.ToArray().Select(r => r.Kind).ToArray());
        Assert.Equal(new byte[] { 1, 2 }, m.BytesOf(m.Records[0]).ToArray());
        Assert.Equal(new byte[] { 3 }, m.BytesOf(m.Records[1]).ToArray());
        Assert.Equal(new MediaRecord(RecordKind.Fill, 16, 4, 5), m.Records[2]);
        Assert.Equal(new MediaRecord(RecordKind.AtomicOr64, 24, 8, 1), m.Records[3]);
        Assert.Equal(new MediaRecord(RecordKind.AtomicAnd64, 24, 8, 3), m.Records[4]);
        Assert.Equal(new MediaRecord(RecordKind.Flush, 0, 32, 0), m.Records[5]);
        Assert.Equal(new MediaRecord(RecordKind.Drain, 0, 0, 0), m.Records[6]);
        Assert.Equal(new byte[] { 1, 2 }, inner.Read(0, 2).ToArray());
        Assert.Equal(3, inner.Read(8, 1)[0]);
        Assert.Equal(5, inner.Read(19, 1)[0]);
        Assert.Equal(1UL, inner.ReadUInt64(24)); // (0 | 1) & 3
        Assert.Equal(7UL, m.Records[7].Arg);
    }
}
