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
