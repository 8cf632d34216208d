using System.Diagnostics;
using PmemFs.Engine;
using PmemFs.Format;
using PmemFs.Media;
using Xunit.Abstractions;

namespace PmemFs.Check.Tests;

/// <summary>
/// Random damage to the metadata (flips, half of them resealed so they reach the structural
/// checks): repair never throws anything but <see cref="ImageFormatException"/>, leaves an image
/// the checker calls clean and the engine mounts (or with only what repair documents it leaves), and a second repair
/// has nothing to do.
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
        var g = crash.G;
        long metaBytes = Geometry.BlockOffset(g.DataStart);
        long secondary = Geometry.BlockOffset(g.SecondarySuperblock);
        byte[] meta = media.Read(0, checked((int)metaBytes)).ToArray();
        byte[] last = media.Read(secondary, FormatConstants.BlockSize).ToArray();
        var used = new List<long>();
        for (long off = FormatConstants.BlockSize; off < metaBytes; off += 8)
            if (BitConverter.ToUInt64(meta, (int)off) != 0) used.Add(off);

        var rng = new Random(20261130);
        int refused = 0, changed = 0, left = 0;
        var total = Stopwatch.StartNew();
        for (int run = 0; run < Runs; run++)
        {
            meta.CopyTo(media.RawBytes(0, meta.Length));
            last.CopyTo(media.RawBytes(secondary, last.Length));
            int flips = rng.Next(1, 4);
            bool reseal = rng.Next(2) == 0;
            var where = new List<long>();
            for (int i = 0; i < flips; i++)
            {
                long off = rng.Next(8) switch
                {
                    0 => secondary + rng.Next(DiskSuperblock.Size),
                    1 => rng.Next(DiskSuperblock.Size),
                    _ => used[rng.Next(used.Count)] + rng.Next(8),
                };
                media.RawBytes(off, 1)[0] ^= (byte)rng.Next(1, 256);
                if (reseal) Reseal(media, g, off);
                where.Add(off);
            }
            string what = $"run {run} (flips at {string.Join(", ", where)}, reseal {reseal})";
            try
            {
                var report = FsckRepair.Repair(media, new FsckOptions());
                if (report.Changed) changed++;
                var remaining = report.After.Problems.Where(p => !p.Message.Contains("symlink target", StringComparison.Ordinal)).ToList();
                Assert.True(remaining.Count == 0, $"{what}: not clean after repair:\n" + string.Join("\n", report.Changes.Select(c => "  change: " + c)) + "\n" + ReportAssert.Render(report.After));
                if (report.After.Problems.Count > 0) left++;
                var again = FsckRepair.Repair(media, new FsckOptions());
                Assert.True(again.Changes.Count == 0, $"{what}: a second repair changed more:\n" + string.Join("\n", again.Changes));
                if (report.After.IsClean)
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
            catch (ImageFormatException)
            {
                refused++;
            }
        }
        output.WriteLine($"{Runs} runs in {total.Elapsed.TotalMilliseconds:F0} ms: {refused} refused (no usable superblock), {changed} repaired, {left} left with a documented problem");
    }

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
