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
        var g = crash.G;
        long metaBytes = Geometry.BlockOffset(g.DataStart);
        long secondary = Geometry.BlockOffset(g.SecondarySuperblock);
        byte[] meta = media.Read(0, checked((int)metaBytes)).ToArray();
        byte[] last = media.Read(secondary, FormatConstants.BlockSize).ToArray();

        // Bytes that hold something are where flips matter most; the rest is uniform.
        var used = new List<long>();
        for (long off = 0; off < metaBytes; off += 8)
            if (BitConverter.ToUInt64(meta, (int)off) != 0) used.Add(off);

        ReportAssert.Clean(crash.Check());
        Restore();

        var rng = new Random(20240611);
        int refused = 0, clean = 0;
        var outcomes = new Dictionary<string, int>();
        var total = Stopwatch.StartNew();
        var slowest = TimeSpan.Zero;
        for (int run = 0; run < Runs; run++)
        {
            Restore();
            int flips = rng.Next(1, 4);
            bool reseal = rng.Next(2) == 0;
            var where = new List<long>();
            for (int i = 0; i < flips; i++)
            {
                long off = rng.Next(8) switch
                {
                    0 => secondary + rng.Next(DiskSuperblock.Size),
                    < 4 => rng.NextInt64(metaBytes),
                    _ => used[rng.Next(used.Count)] + rng.Next(8),
                };
                media.RawBytes(off, 1)[0] ^= (byte)rng.Next(1, 256);
                if (reseal) Reseal(media, g, off);
                where.Add(off);
            }

            var one = Stopwatch.StartNew();
            try
            {
                // Every other run goes through a decorator, so through fsck's in-memory overlay.
                using var decorated = run % 2 == 0 ? null : new FaultInjectingMedia(media, ownsInner: false);
                var report = Fsck.Check(decorated ?? (IMedia)media, new FsckOptions());
                if (report.IsClean) clean++;
                foreach (var p in report.Problems.Where(p => p.Where == "fsck"))
                    Assert.Fail($"run {run} (flips at {string.Join(", ", where)}, reseal {reseal}): {p}");
                string kind = report.Problems.Count == 0 ? "clean" : report.Problems[0].Where.Split(' ')[0];
                outcomes[kind] = outcomes.GetValueOrDefault(kind) + 1;
            }
            catch (ImageFormatException)
            {
                refused++;
            }
            catch (Exception e)
            {
                Assert.Fail($"run {run} (flips at {string.Join(", ", where)}, reseal {reseal}) threw {e}");
            }
            if (one.Elapsed > slowest) slowest = one.Elapsed;
        }
        output.WriteLine($"{Runs} runs in {total.Elapsed.TotalMilliseconds:F0} ms (slowest {slowest.TotalMilliseconds:F0} ms): {refused} refused, {clean} clean, first finding by kind: {string.Join(", ", outcomes.Select(kv => $"{kv.Key} {kv.Value}"))}");
        Assert.True(clean < Runs / 2, "most flips should be noticed");

        void Restore()
        {
            meta.CopyTo(media.RawBytes(0, meta.Length));
            last.CopyTo(media.RawBytes(secondary, last.Length));
        }
    }

    /// <summary>Recomputes the checksum of the table record holding <paramref name="off"/>, so the flip reaches the structural checks.</summary>
    private static void Reseal(MemoryMedia media, Geometry g, long off)
    {
        (long Start, long Count, int Size)[] tables =
        [
            (g.InodeOffset(0), g.InodeCount, DiskInode.Size),
            (g.DirentOffset(0), g.DirentCount, DiskDirent.Size),
            (g.ExtentOffset(0), g.ExtentCount, DiskExtent.Size),
            (g.RmapOffset(0), g.RmapCount, DiskRmap.Size),
        ];
        foreach (var (start, count, size) in tables)
        {
            if (off < start || off >= start + count * size) continue;
            long rec = start + (off - start) / size * size;
            Checksum.SealRecord(media.RawBytes(rec, size));
        }
    }
}
