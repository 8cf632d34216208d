using Xunit.Abstractions;

namespace PmemFs.CrashSim.Tests;

/// <summary>Every workload, a bounded number of crash states each, must find nothing wrong.</summary>
public sealed class WorkloadTests(ITestOutputHelper output)
{
    public static IEnumerable<object[]> Cases()
    {
        foreach (var w in Workloads.All)
        {
            if (w.Name == "mix")
            {
                foreach (int seed in new[] { 1, 2, 3 }) yield return [w.Name, seed];
            }
            else yield return [w.Name, 1];
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void EveryCrashStateOfTheWorkloadKeepsTheContract(string name, int seed)
    {
        var workload = Workloads.Find(name)!;
        var result = CrashExplorer.Run(workload, new ExploreOptions { Seed = seed, BudgetPerWorkload = 150 }, output.WriteLine);
        output.WriteLine($"{name} seed {seed}: {result.Operations} ops, {result.CrashPoints} points ({result.PointsChecked} checked), {result.States} states, max {result.MaxPending} lines in doubt, {result.Elapsed.TotalMilliseconds:F0} ms");
        Assert.True(result.States > 0);
        Assert.True(result.Failures.Count == 0, string.Join("\n", result.Failures.Select(f => $"{f.Reproducer}\n  {f.Problem}\n  {f.Lines}")));
    }

    [Fact]
    public void TheCheckerFindsLostOperationsWhenFlushesAreDropped()
    {
        // Without the engine's flushes, nothing it stores is ever durable: the crash states must
        // show returned operations missing (a checker that passes this is not checking).
        var result = CrashExplorer.Run(Workloads.Find("create")!, new ExploreOptions
        {
            BudgetPerWorkload = 60,
            MaxFailuresPerWorkload = 100, // the whole budget: a crash inside the first apply shows torn records (fsck) before any missing operation
            Sabotage = r => new Recording(r.Records.Where((e, i) => i < CutOff(r) || e.Kind != PmemFs.Media.RecordKind.Flush).ToArray(), r.Payload, r.Size),
        });
        Assert.Contains(result.Failures, f => f.Problem.Contains(" is missing", StringComparison.Ordinal));
        output.WriteLine(result.Failures[0].Problem);
    }

    [Fact]
    public void TheCheckerFindsForeignBytesWhenDataIsNotPersistedBeforeCommit()
    {
        // Turn non-temporal data stores into cached stores that are never flushed: a committed
        // write then exposes whatever the blocks held before (zeros here, not the data).
        var result = CrashExplorer.Run(Workloads.Find("write")!, new ExploreOptions
        {
            BudgetPerWorkload = 100,
            MaxFailuresPerWorkload = 1,
            Sabotage = r => new Recording(r.Records.Where((e, i) => i < CutOff(r) || !(e.Kind == PmemFs.Media.RecordKind.Flush && e.Length >= 4096)).ToArray(), r.Payload, r.Size),
        });
        Assert.Contains(result.Failures, f => f.Problem.Contains(" is 0x00, expected 0x", StringComparison.Ordinal)); // zeros where the data should be
        output.WriteLine(result.Failures[0].Problem);
    }

    [Fact]
    public void AReproducerChecksExactlyThatState()
    {
        var result = CrashExplorer.Run(Workloads.Find("link")!, new ExploreOptions { OnlyPoint = 7, OnlyState = 1 });
        Assert.Equal(1, result.States);
        Assert.Equal(1, result.PointsChecked);
        Assert.Empty(result.Failures);
    }

    /// <summary>Index of the first operation marker: mkfs and mount stay intact.</summary>
    private static int CutOff(Recording r) => Array.FindIndex(r.Records, e => e.Kind == PmemFs.Media.RecordKind.OperationStart);
}
