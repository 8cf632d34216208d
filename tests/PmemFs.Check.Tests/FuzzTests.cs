using System.Diagnostics;
using PmemFs.Format;
using PmemFs.Media;
using Xunit.Abstractions;

namespace PmemFs.Check.Tests;

/// <summary>A corrupted image must never crash or hang fsck: it returns a report or refuses the image.</summary>
public sealed class FuzzTests(ITestOutputHelper output)
{
    private const int Runs = 200;

    [Fact]
    public void RandomByteFlipsInTheMetadataNeverThrowAnythingButImageFormatException()
    {
        using var img = new TestImage().Populate();
        img.File(TestImage.Root, "late");
        using var crash = img.CrashCopy(); // a journal with committed transactions to replay, too
        var media = crash.Media;
        var saved = new MetadataFlips(media, crash.G);
        // Bytes that hold something are where flips matter most; the rest is uniform.
        var used = saved.UsedWords();

        ReportAssert.Clean(crash.Check());
        saved.Restore();

        var rng = new Random(20240611);
        int refused = 0, clean = 0;
        var outcomes = new Dictionary<string, int>();
        var total = Stopwatch.StartNew();
        var slowest = TimeSpan.Zero;
        for (int run = 0; run < Runs; run++)
        {
            saved.Restore();
            var (what, _) = saved.FlipRandomly(rng, run, () => rng.Next(8) switch
            {
                0 => saved.Secondary + rng.Next(DiskSuperblock.Size),
                < 4 => rng.NextInt64(saved.MetaBytes),
                _ => used[rng.Next(used.Count)] + rng.Next(8),
            });

            var one = Stopwatch.StartNew();
            try
            {
                // Every other run goes through a decorator, so through fsck's in-memory overlay.
                using var decorated = run % 2 == 0 ? null : new FaultInjectingMedia(media, ownsInner: false);
                var report = Fsck.Check(decorated ?? (IMedia)media, new FsckOptions());
                if (report.IsClean) clean++;
                foreach (var p in report.Problems.Where(p => p.Where == "fsck"))
                    Assert.Fail($"{what}: {p}");
                string kind = report.Problems.Count == 0 ? "clean" : report.Problems[0].Where.Split(' ')[0];
                outcomes[kind] = outcomes.GetValueOrDefault(kind) + 1;
            }
            catch (ImageFormatException)
            {
                refused++;
            }
            catch (Exception e)
            {
                Assert.Fail($"{what} threw {e}");
            }
            if (one.Elapsed > slowest) slowest = one.Elapsed;
        }
        output.WriteLine($"{Runs} runs in {total.Elapsed.TotalMilliseconds:F0} ms (slowest {slowest.TotalMilliseconds:F0} ms): {refused} refused, {clean} clean, first finding by kind: {string.Join(", ", outcomes.Select(kv => $"{kv.Key} {kv.Value}"))}");
        Assert.True(clean < Runs / 2, "most flips should be noticed");
    }
}
