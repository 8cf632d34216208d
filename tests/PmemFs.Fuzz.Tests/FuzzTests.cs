using Xunit.Abstractions;

namespace PmemFs.Fuzz.Tests;

/// <summary>
/// Corrupted-image fuzzing of mount and fsck. The bounded run is part of CI; longer runs:
/// <c>PMEMFS_FUZZ_IMAGES=20000 PMEMFS_FUZZ_SEED=7 dotnet test tests/PmemFs.Fuzz.Tests -c Release</c>.
/// A failure prints a one-line reproducer (<c>PMEMFS_FUZZ_ONLY</c> replays one image).
/// </summary>
public sealed class FuzzTests(ITestOutputHelper output)
{
    /// <summary>Images in the CI run: every kind on every base, many times over, well under 90 s on 2 cores.</summary>
    private const int CiImages = 3000;

    [Fact]
    public void BoundedRun()
    {
        int seed = int.TryParse(Environment.GetEnvironmentVariable("PMEMFS_FUZZ_SEED"), out var s) ? s : FuzzRunner.DefaultSeed;
        int images = int.TryParse(Environment.GetEnvironmentVariable("PMEMFS_FUZZ_IMAGES"), out var n) ? n : CiImages;
        int first = 0;
        if (int.TryParse(Environment.GetEnvironmentVariable("PMEMFS_FUZZ_ONLY"), out var only)) (first, images) = (only, 1);
        var summary = FuzzRunner.Run(seed, first, images);
        output.WriteLine($"seed {seed}: {summary.Images} corrupted images ({summary.Skipped} no-op corruptions skipped) in {summary.Elapsed.TotalSeconds:F1} s, {summary.Failures.Count} failure(s)");
        output.WriteLine(summary.Table);
        output.WriteLine("time per stage (all threads): " + Oracle.StageTimes());
        foreach (var f in summary.Failures) output.WriteLine(f);
        Assert.True(summary.Failures.Count == 0, $"{summary.Failures.Count} corrupted image(s) broke the oracle:\n" + string.Join("\n\n", summary.Failures.Take(5)));
    }

    /// <summary>The shared base is clean; every reference-count and shared-owner corruption of it keeps the oracle (found, repaired clean, no extent lost).</summary>
    [Fact]
    public void ReferenceCountCorruptionsKeepTheOracle()
    {
        var b = Assert.Single(BaseImages.Shared);
        using (var media = PmemFs.Media.MemoryMedia.FromBytes(b.Bytes))
        {
            var report = PmemFs.Check.Fsck.Check(media, new PmemFs.Check.FsckOptions());
            Assert.True(report.IsClean, $"{b.Name}: " + string.Join("; ", report.Problems));
        }
        Assert.Equal(2, b.Map.Refcounts.Count);
        var failures = new List<string>();
        var outcomes = new Dictionary<Outcome, int>();
        foreach (var kind in new[] { CorruptionKind.Refcount, CorruptionKind.SharedOwner })
        {
            for (int seed = 0; seed < 150; seed++)
            {
                var m = Corruptor.Make(b, kind, seed);
                try
                {
                    var o = Oracle.Check(m);
                    outcomes[o] = outcomes.GetValueOrDefault(o) + 1;
                }
                catch (FuzzFailureException e) { failures.Add($"{e.Message}\n  corruption: {m}"); }
            }
        }
        output.WriteLine($"engine mounts shared images: {Oracle.EngineMountsSharedImages}; outcomes: {string.Join(", ", outcomes.Select(kv => $"{kv.Key} {kv.Value}"))}");
        Assert.True(failures.Count == 0, $"{failures.Count} failure(s):\n" + string.Join("\n\n", failures.Take(5)));
        Assert.False(outcomes.ContainsKey(Outcome.Skipped));
    }

    [Fact]
    public void BaseImagesAreCleanAndMountable()
    {
        foreach (var b in BaseImages.All)
        {
            var m = new Mutation { Base = b.Name, Kind = CorruptionKind.BitFlipsAnywhere, Seed = 0, Image = b.Bytes, Length = b.Bytes.Length };
            m.Note("none");
            using var media = PmemFs.Media.MemoryMedia.FromBytes(b.Bytes);
            var report = PmemFs.Check.Fsck.Check(media, new PmemFs.Check.FsckOptions());
            Assert.True(report.IsClean, $"{b.Name}: " + string.Join("; ", report.Problems));
            Assert.Equal(Outcome.MountedAndWalked, Oracle.Check(m));
        }
    }
}
