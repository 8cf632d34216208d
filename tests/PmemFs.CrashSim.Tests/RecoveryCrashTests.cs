using PmemFs.CrashSim;
using PmemFs.Engine;
using PmemFs.Format;
using PmemFs.Media;
using Xunit.Abstractions;

namespace PmemFs.CrashSim.Tests;

/// <summary>
/// A second power loss during mount's recovery (issue 13): first-crash states of workloads whose
/// recovery has work to do (a journal to replay, orphans, pending truncates) have that recovery
/// crashed at each of its fences and recovered again; every one gives the uninterrupted recovery's tree.
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
        var result = CrashExplorer.Run(workload, new ExploreOptions { Seed = 2, BudgetPerWorkload = 30, RecoveryCrashEvery = 5, SecondBudget = 30 }, output.WriteLine);
        output.WriteLine($"{name}: {result.States} first-crash states, {result.RecoveriesCrashed} recoveries crashed in {result.RecoveryStates} states");
        Assert.True(result.Failures.Count == 0, string.Join("\n", result.Failures.Select(f => $"{f.Reproducer}\n  {f.Problem}")));
        Assert.True(result.RecoveriesCrashed > 0 && result.RecoveryStates > result.RecoveriesCrashed);
    }

    [Fact]
    public void AnImageWithAJournalToReplayIsCheckedAtEveryPointOfItsRecovery()
    {
        var crashed = CommittedNotCheckpointed();
        var r = RecoveryCrashes.Check(crashed, new StateRules(MaxSubset: 8, SamplesPerPoint: 4, Budget: 1000, Seed: 1));
        Assert.Null(r.Failure);
        Assert.True(r.Points >= 3 && r.States >= r.Points, $"{r.Points} points, {r.States} states");
    }

    [Fact]
    public void AMountThatRewritesADamagedPrimarySuperblockIsCheckedAtEveryPoint()
    {
        // Mount takes the secondary copy, replays, and rewrites the primary: a crash anywhere in
        // that must still find one good copy and the same tree.
        var crashed = CommittedNotCheckpointed();
        crashed[100] ^= 0xFF;
        using (var copy = MemoryMedia.FromBytes(crashed))
        using (var fs = FileSystem.Mount(copy))
            Assert.True(fs.Report.SuperblockUsed == SuperblockCopy.Secondary && fs.Report.TransactionsReplayed > 0, fs.Report.ToString());
        var r = RecoveryCrashes.Check(crashed, new StateRules(MaxSubset: 8, SamplesPerPoint: 12, Budget: 200, Seed: 1));
        Assert.True(r.Failure is null, r.Failure?.ToString());
        output.WriteLine($"{r.Points} points, {r.States} states");
    }

    [Fact]
    public void ARecoveryThatCheckpointsBeforeItsReplayIsDurableIsCaught()
    {
        // Replay's stores never flushed, only the journal header: the header can say "clean"
        // while the replayed records never reached the media, and the next mount replays nothing.
        var crashed = CommittedNotCheckpointed();
        long header;
        using (var media = MemoryMedia.FromBytes(crashed))
            header = ImageReader.ReadSuperblock(media, "image").Superblock.Geometry.JournalHeaderOffset;
        var r = RecoveryCrashes.Check(crashed, new StateRules(MaxSubset: 8, SamplesPerPoint: 12, Budget: 1000, Seed: 1),
            sabotage: rec => new Recording(rec.Records.Where(e => e.Kind != RecordKind.Flush || e.Offset == header || e.Offset == header + DiskJournalHeader.Size).ToArray(), rec.Payload, rec.Size));
        Assert.NotNull(r.Failure);
        output.WriteLine(r.Failure!.ToString());
    }

    [Fact]
    public void AReproducerChecksExactlyThatSecondCrashState()
    {
        var r = RecoveryCrashes.Check(CommittedNotCheckpointed(), new StateRules(8, 4, 1000, 1), onlyPoint: 1, onlyState: 0);
        Assert.Equal(1, r.States);
        Assert.Null(r.Failure);
        Assert.Throws<CrashStateOutOfRangeException>(() => RecoveryCrashes.Check(CommittedNotCheckpointed(), new StateRules(8, 4, 1000, 1), onlyPoint: 100_000));
    }

    /// <summary>Five creates committed to the journal, the image taken before any checkpoint (a killed daemon).</summary>
    private static byte[] CommittedNotCheckpointed()
    {
        using var media = new MemoryMedia(16L << 20);
        Mkfs.Format(media, new MkfsOptions());
        var fs = FileSystem.Mount(media);
        for (int i = 0; i < 5; i++)
            Assert.Equal(Errno.Ok, fs.Create(FormatConstants.RootIno, System.Text.Encoding.UTF8.GetBytes($"f{i}"), 0x81A4, Credentials.Root, out _));
        var crashed = media.Read(0, (int)media.Size).ToArray();
        fs.Dispose();
        return crashed;
    }
}

/// <summary>Crash images with poison (issue 13): recovery and fsck never crash or read through it, files read back as errors or exactly.</summary>
public class PoisonedCrashTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("mix")]
    [InlineData("clone")]
    public void CrashImagesWithRandomPoisonRecoverSafely(string name)
    {
        var result = CrashExplorer.Run(Workloads.Find(name)!, new ExploreOptions { Seed = 3, BudgetPerWorkload = 60, PoisonEvery = 2 }, output.WriteLine);
        output.WriteLine($"{name}: {result.States} crash states, {result.PoisonedRecoveries} recovered with poison");
        Assert.Empty(result.Failures);
        Assert.True(result.PoisonedRecoveries > 10);
    }
}
