using System.Text;
using PmemFs.Check;
using PmemFs.Engine;
using PmemFs.Format;
using PmemFs.Media;
using PmemFs.Media.Poison;

namespace PmemFs.Fuzz.Tests;

/// <summary>
/// Random poison on random images (issue 13): poison ranges anywhere in the region (metadata,
/// journal, superblocks, data, free space) of every base image. fsck, repair and mount never
/// crash and never load a bad line (the emulated device throws on any load that touches one, so
/// a read through poison would surface as an exception), and a mounted file system never
/// returns poisoned bytes as data: every read of a file is EIO (or the file's own error) or the
/// exact bytes the unpoisoned image holds.
/// </summary>
public class PoisonFuzzTests
{
    private const int Bs = FormatConstants.BlockSize;

    /// <summary>path to contents, as the engine recovers the unpoisoned image.</summary>
    private static Dictionary<string, byte[]> Expected(byte[] image)
    {
        using var media = MemoryMedia.FromBytes(image);
        using var fs = FileSystem.Mount(media);
        var files = new Dictionary<string, byte[]>();
        Walk(fs, FormatConstants.RootIno, "", (path, ino, size) =>
        {
            var data = new byte[size];
            if (fs.Read(ino, 0, data, out int n).IsOk && n == size) files[path] = data;
        });
        return files;
    }

    private static void Walk(FileSystem fs, ulong dir, string prefix, Action<string, ulong, long> file)
    {
        var items = new List<FileSystem.DirectoryItem>();
        if (fs.ReadDirectory(dir, 0, i => { items.Add(i); return true; }).Failed) return;
        foreach (var item in items)
        {
            string name = Encoding.UTF8.GetString(item.Name);
            if (name is "." or "..") continue;
            if (fs.GetAttr(item.Ino, out var a).Failed) continue;
            string path = prefix + "/" + name;
            if (a.IsDirectory) Walk(fs, item.Ino, path, file);
            else if (a.IsRegular) file(path, item.Ino, a.Size);
        }
    }

    private static BadRange[] RandomPoison(Random rng, long size)
    {
        int n = rng.Next(1, 4);
        var bad = new List<BadRange>();
        for (int i = 0; i < n; i++)
        {
            // Half of them in the first 4 MiB, where the metadata lives.
            long offset = rng.Next(2) == 0 ? rng.NextInt64(0, 4L << 20) : rng.NextInt64(0, size - Bs);
            long length = rng.Next(1, 17) * BadRange.SectorSize;
            bad.Add(BadRange.InSectors(offset, Math.Min(length, size - offset)));
        }
        return BadRange.Normalize(bad);
    }

    private static EmulatedPoisonMedia Poisoned(byte[] image, IEnumerable<BadRange> bad)
    {
        var state = EmulatedDeviceState.InMemory();
        var media = new EmulatedPoisonMedia(MemoryMedia.FromBytes(image), state, writable: true, ownsInner: true);
        foreach (var r in bad) media.InjectPoison(r.Offset, r.Length);
        return media;
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void RandomPoisonNeverCrashesNeverReadsThroughAndNeverReturnsBadBytes(int seed)
    {
        var rng = new Random(seed);
        var all = BaseImages.All;
        var image = all[seed % all.Count];
        var expected = Expected(image.Bytes);
        var bad = RandomPoison(rng, image.Bytes.Length);
        string what = $"seed {seed}, image {image.Name}, poison {string.Join(" ", bad)}";

        // fsck: reads nothing through the poison (a phase stopping on MediaPoisonException would say so).
        using (var media = Poisoned(image.Bytes, bad))
        {
            FsckReport? report = null;
            try { report = Fsck.Check(media, new FsckOptions()); }
            catch (ImageFormatException) { } // both superblock copies poisoned: nothing to check
            if (report is not null)
                Assert.DoesNotContain(report.Problems, p => p.Message.Contains(nameof(MediaPoisonException), StringComparison.Ordinal));
        }

        // Mount: refuses with a clear error, or serves exact bytes or EIO, never poisoned bytes.
        using (var media = Poisoned(image.Bytes, bad))
        {
            FileSystem? fs = null;
            try { fs = FileSystem.Mount(media); }
            catch (ImageFormatException e) { Assert.False(string.IsNullOrWhiteSpace(e.Message)); }
            if (fs is not null)
                using (fs)
                {
                    int served = 0;
                    Walk(fs, FormatConstants.RootIno, "", (path, ino, size) =>
                    {
                        if (!expected.TryGetValue(path, out var want)) return;
                        var chunk = new byte[Bs];
                        for (long at = 0; at < size; at += Bs)
                        {
                            var e = fs.Read(ino, at, chunk, out int n);
                            if (e == Errno.EIO || e == Errno.EUCLEAN) continue;
                            Assert.True(e.IsOk, $"{what}: read {path} at {at}: {e}");
                            Assert.True(want.AsSpan((int)at, n).SequenceEqual(chunk.AsSpan(0, n)), $"{what}: {path} at {at} returned bytes that are not its data");
                            served++;
                        }
                    });
                }
        }

        // Repair: never throws but for an image with no usable superblock; the result mounts.
        using (var media = Poisoned(image.Bytes, bad))
        {
            RepairReport repaired;
            try { repaired = FsckRepair.Repair(media, new FsckOptions()); }
            catch (ImageFormatException) { return; }
            Assert.True(repaired.After.IsClean, $"{what}: after repair: {string.Join("; ", repaired.After.Problems)}");
            using var fs = FileSystem.Mount(media);
            Assert.Equal(Engine.Health.HealthState.Healthy, fs.Health.State);
            Walk(fs, FormatConstants.RootIno, "", (path, ino, size) =>
            {
                var chunk = new byte[Bs];
                for (long at = 0; at < size; at += Bs)
                {
                    var e = fs.Read(ino, at, chunk, out _);
                    Assert.True(e.IsOk || e == Errno.EIO, $"{what}: after repair, read {path} at {at}: {e}");
                }
            });
        }
    }

    public static IEnumerable<object[]> Seeds() => Enumerable.Range(1, int.TryParse(Environment.GetEnvironmentVariable("PMEMFS_POISON_FUZZ_SEEDS"), out int n) ? n : 60).Select(s => new object[] { s });
}
