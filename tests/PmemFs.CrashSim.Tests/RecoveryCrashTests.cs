using PmemFs.CrashSim;
using PmemFs.Engine;
using PmemFs.Format;
using PmemFs.Media;
using Xunit.Abstractions;

namespace PmemFs.CrashSim.Tests;

/// <summary>
/// A second power loss during recovery (issue 13): first-crash states of workloads whose
/// recovery has work to do (a journal to replay, orphans, pending truncates) have that recovery
/// crashed at every point and recovered again; every one gives the uninterrupted recovery's tree.
/// </summary>
public class RecoveryCrashTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("mix")]
    [InlineData("unlink")]
    [InlineData("truncate-long")]
    public void ACrashDuringRecoveryRecoversToTheSameTree(string name)
    {
        var workload = Workloads.Find(name) ?? throw new InvalidOperationException($"no workload {name}");
        var result = CrashExplorer.Run(workload, new ExploreOptions { Seed = 2, BudgetPerWorkload = 60, RecoveryCrashEvery = 4 }, output.WriteLine);
        output.WriteLine($"{name}: {result.States} first-crash states, {result.RecoveriesCrashed} recoveries crashed in {result.RecoveryStates} states");
        Assert.Empty(result.Failures);
        Assert.True(result.RecoveriesCrashed > 0 && result.RecoveryStates > result.RecoveriesCrashed);
    }

    [Fact]
    public void AnImageWithAJournalToReplayIsCheckedAtEveryPointOfItsRecovery()
    {
        using var media = new MemoryMedia(16L << 20);
        Mkfs.Format(media, new MkfsOptions());
        var fs = FileSystem.Mount(media);
        for (int i = 0; i < 5; i++)
            Assert.Equal(Errno.Ok, fs.Create(FormatConstants.RootIno, System.Text.Encoding.UTF8.GetBytes($"f{i}"), 0x81A4, Credentials.Root, out _));
        var crashed = media.Read(0, (int)media.Size).ToArray(); // committed, not checkpointed
        fs.Dispose();
        var r = RecoveryCrashes.Check(crashed, new StateRules(MaxSubset: 8, SamplesPerPoint: 4, Budget: 1000, Seed: 1));
        Assert.Null(r.Failure);
        Assert.True(r.Points >= 3 && r.States >= r.Points, $"{r.Points} points, {r.States} states");
    }
}
