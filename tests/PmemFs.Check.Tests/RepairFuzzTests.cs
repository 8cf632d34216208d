using System.Diagnostics;
using PmemFs.Engine;
using PmemFs.Format;
using Xunit.Abstractions;

namespace PmemFs.Check.Tests;

/// <summary>
/// Random damage to the metadata (flips, half of them resealed so they reach the structural
/// checks): repair never throws anything but <see cref="ImageFormatException"/> (and that only
/// when both superblock copies were hit), leaves an image the checker calls clean and the engine
/// mounts (or with only what repair documents it leaves), and a second repair has nothing to do.
/// </summary>
public sealed class RepairFuzzTests(ITestOutputHelper output)
{
    private static readonly int Runs = int.TryParse(Environment.GetEnvironmentVariable("PMEMFS_REPAIR_FUZZ_RUNS"), out int n) ? n : 60;

    [Fact]
    public void RandomDamageIsRepairedToACleanImage()
    {
        using var img = new TestImage().Populate();
        img.File(TestImage.Root, "late");
        using var crash = img.CrashCopy();
        var media = crash.Media;
        var saved = new MetadataFlips(media, crash.G);
        var used = saved.UsedWords(from: FormatConstants.BlockSize);

        var rng = new Random(20261130);
        int refused = 0, changed = 0, left = 0;
        var total = Stopwatch.StartNew();
        for (int run = 0; run < Runs; run++)
        {
            saved.Restore();
            var (what, where) = saved.FlipRandomly(rng, run, () => rng.Next(8) switch
            {
                0 => saved.Secondary + rng.Next(DiskSuperblock.Size),
                1 => rng.Next(DiskSuperblock.Size),
                _ => used[rng.Next(used.Count)] + rng.Next(8),
            });
            RepairReport report;
            try
            {
                report = FsckRepair.Repair(media, new FsckOptions());
            }
            catch (ImageFormatException)
            {
                // Only an image without a usable superblock is refused: both copies were hit.
                Assert.True(where.Any(o => o < DiskSuperblock.Size) && where.Any(o => o >= saved.Secondary && o < saved.Secondary + DiskSuperblock.Size),
                    $"{what}: refused, with a superblock copy untouched");
                refused++;
                continue;
            }
            if (report.Changed) changed++;
            var remaining = report.After.Problems.Where(p => !p.Message.Contains("symlink target", StringComparison.Ordinal)).ToList();
            Assert.True(remaining.Count == 0, $"{what}: not clean after repair:\n" + RepairAssert.Render(report));
            if (report.After.Problems.Count > 0) left++;
            var again = FsckRepair.Repair(media, new FsckOptions());
            Assert.True(again.Changes.Count == 0, $"{what}: a second repair changed more:\n" + string.Join("\n", again.Changes));
            // A repair may turn two files on one block into sharing (reference-count records): only an
            // engine that knows format version 2's records can mount that (EngineSupport).
            if (report.After.IsClean && (EngineSupport.MountsSharedImages || !EngineSupport.HoldsRefcounts(media)))
            {
                try
                {
                    FileSystem.Mount(media).Dispose();
                }
                catch (ImageFormatException e)
                {
                    Assert.Fail($"{what}: the engine refuses the repaired image: {e.Message}");
                }
            }
        }
        output.WriteLine($"{Runs} runs in {total.Elapsed.TotalMilliseconds:F0} ms: {refused} refused (no usable superblock), {changed} repaired, {left} left with a documented problem");
        Assert.True(changed > Runs / 2, $"only {changed} of {Runs} runs had anything repaired");
    }
}
