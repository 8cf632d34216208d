using System.Text;
using PmemFs.Check;
using PmemFs.Engine;
using PmemFs.Format;
using PmemFs.Media;
using PmemFs.Media.Poison;

namespace PmemFs.CrashSim;

/// <summary>
/// Crash images with poison (issue 13): a crash image gets 1 to 3 random bad ranges (half of
/// them in its metadata), then fsck and recovery run on the emulated device, which throws on any
/// load from a bad range. Neither may crash (a refusal with a message is fine), fsck may never
/// stop on a poisoned load, and the recovered file system serves every page of every file either
/// as an error (EIO, EUCLEAN) or exactly as recovery of the unpoisoned image does.
/// </summary>
public static class PoisonedRecovery
{
    private const int Page = 4096;
    private static readonly FileSystemOptions Options = new() { NoAtime = true, Name = "poisoned crash image" };

    public static string? Check(byte[] image, int seed)
    {
        ArgumentNullException.ThrowIfNull(image);
        var expected = new Dictionary<string, byte[]>();
        using (var clean = MemoryMedia.FromBytes(image))
        using (var fs = FileSystem.Mount(clean, Options))
            Walk(fs, FormatConstants.RootIno, "", (path, ino, size) =>
            {
                var data = new byte[size];
                if (fs.Read(ino, 0, data, out int n).IsOk && n == size) expected[path] = data;
            });

        var rng = new Random(seed);
        var bad = new List<BadRange>();
        for (int i = rng.Next(1, 4); i > 0; i--)
        {
            long at = rng.Next(2) == 0 ? rng.NextInt64(0, Math.Min(image.Length, 4L << 20)) : rng.NextInt64(0, image.Length - Page);
            bad.Add(BadRange.InSectors(at, rng.Next(1, 9) * BadRange.SectorSize));
        }
        string what = "poison " + string.Join(" ", BadRange.Normalize(bad));
        EmulatedPoisonMedia Poisoned()
        {
            var media = new EmulatedPoisonMedia(MemoryMedia.FromBytes(image), EmulatedDeviceState.InMemory(), writable: true, ownsInner: true);
            foreach (var r in bad) media.InjectPoison(r.Offset, r.Length);
            return media;
        }
        try
        {
            using (var media = Poisoned())
            {
                try
                {
                    var report = Fsck.Check(media, new FsckOptions());
                    if (report.Problems.FirstOrDefault(p => p.Message.Contains(nameof(MediaPoisonException), StringComparison.Ordinal)) is { } p)
                        return $"{what}: fsck read through poison: {p}";
                }
                catch (ImageFormatException) { }
            }
            using (var media = Poisoned())
            {
                FileSystem fs;
                try { fs = FileSystem.Mount(media, Options); }
                catch (ImageFormatException) { return null; }
                using (fs)
                {
                    string? problem = null;
                    Walk(fs, FormatConstants.RootIno, "", (path, ino, size) =>
                    {
                        if (problem is not null || !expected.TryGetValue(path, out var want)) return;
                        var page = new byte[Page];
                        for (long at = 0; at < size && problem is null; at += Page)
                        {
                            var e = fs.Read(ino, at, page, out int n);
                            if (e == Errno.EIO || e == Errno.EUCLEAN) continue;
                            if (e.Failed) problem = $"{what}: read {path} at {at}: {e}";
                            else if (!want.AsSpan((int)at, n).SequenceEqual(page.AsSpan(0, n))) problem = $"{what}: {path} at {at} returned bytes that are not its data";
                        }
                    });
                    return problem;
                }
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return $"{what}: {e.GetType().Name}: {e.Message}";
        }
    }

    private static void Walk(FileSystem fs, ulong dir, string prefix, Action<string, ulong, long> file)
    {
        var items = new List<FileSystem.DirectoryItem>();
        if (fs.ReadDirectory(dir, 0, i => { items.Add(i); return true; }).Failed) return;
        foreach (var item in items)
        {
            string name = Encoding.UTF8.GetString(item.Name);
            if (name is "." or ".." || fs.GetAttr(item.Ino, out var a).Failed) continue;
            string path = prefix + "/" + name;
            if (a.IsDirectory) Walk(fs, item.Ino, path, file);
            else if (a.IsRegular) file(path, item.Ino, a.Size);
        }
    }
}
