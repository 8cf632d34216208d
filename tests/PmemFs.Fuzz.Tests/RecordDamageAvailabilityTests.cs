using System.Text;
using PmemFs.Engine;
using PmemFs.Format;
using PmemFs.Media;
using Xunit.Abstractions;

namespace PmemFs.Fuzz.Tests;

/// <summary>
/// Availability under single-record damage (issue 13, "What must be shown"): the fuzzer's
/// record-level corruption kinds on every base image. Every image whose superblock copies and
/// journal are intact must mount (read-write, else read-only), and every file that does not own
/// a damaged record must read back exactly (and take a write when the file system accepts
/// writes: no damage may withhold space that is not its own). A file "owns" a damaged record when the record names it (its inode, an extent or
/// rmap record of it, a directory entry in it or naming it, its xattr blob), before or after the
/// damage, when the record claims the file's blocks, or when a directory on its path owns one.
/// The shares are printed (docs/fuzzing.md has a long run); PMEMFS_AVAILABILITY_SEEDS sets the
/// corruptions per kind and base.
/// </summary>
public class RecordDamageAvailabilityTests(ITestOutputHelper output)
{
    private const int Bs = FormatConstants.BlockSize;

    /// <summary>The kinds that damage records (not the superblock, the journal or the image's length).</summary>
    private static readonly CorruptionKind[] Kinds =
    [
        CorruptionKind.BitFlipsMetadata, CorruptionKind.Bitmap, CorruptionKind.RecordFlip, CorruptionKind.RecordFlipResealed,
        CorruptionKind.InodeField, CorruptionKind.DirentField, CorruptionKind.ExtentField, CorruptionKind.RmapField,
        CorruptionKind.TornRecord, CorruptionKind.ImpossibleSize, CorruptionKind.ExtentOutOfPlace, CorruptionKind.OverlappingExtents,
        CorruptionKind.CrossLink, CorruptionKind.DirectoryCycle, CorruptionKind.BadNames, CorruptionKind.DanglingDirent,
        CorruptionKind.LinkCount, CorruptionKind.XattrBlob, CorruptionKind.Refcount, CorruptionKind.SharedOwner,
    ];

    private sealed record Pristine(FileSystem Fs, MemoryMedia Media, Dictionary<string, (ulong Ino, ulong[] Dirs, byte[] Data)> Files);

    private sealed class Tally
    {
        public int Images, Intact, Rw, RoOnly, Refused, RefusedIntact, WritesRefused;
        public int Uninvolved, Exact, Writable, WriteTried, Involved, InvolvedReadable;
        /// <summary>Files of images whose journal or a superblock copy was hit too (measured, not asserted: replay may stop early).</summary>
        public int HitUninvolved, HitExact;
    }

    [Fact]
    public void SingleRecordDamageCostsOnlyTheFilesThatOwnIt()
    {
        int seeds = int.TryParse(Environment.GetEnvironmentVariable("PMEMFS_AVAILABILITY_SEEDS"), out int n) ? n : 3;
        var bases = Oracle.EngineMountsSharedImages ? [.. BaseImages.All, .. BaseImages.Shared] : BaseImages.All.ToList();
        var perKind = Kinds.ToDictionary(k => k, _ => new Tally());
        var failures = new List<string>();
        foreach (var b in bases)
        {
            var pristine = Open(b);
            try
            {
                foreach (var kind in Kinds)
                {
                    if (kind is CorruptionKind.Refcount or CorruptionKind.SharedOwner != b.Map.Refcounts.Count > 0) continue;
                    for (int seed = 0; seed < seeds; seed++)
                    {
                        var m = Corruptor.Make(b, kind, seed * 7919 + 13);
                        if (m.Length != b.Bytes.Length || m.Bytes.SequenceEqual(b.Bytes)) continue;
                        try { One(b, pristine, m, perKind[kind]); }
                        catch (FuzzFailureException e) { failures.Add($"{e.Message}\n  corruption: {m}"); }
                    }
                }
            }
            finally
            {
                pristine.Fs.Dispose();
                pristine.Media.Dispose();
            }
        }
        var all = new Tally();
        var table = new StringBuilder();
        table.AppendLine($"{"kind",-20} {"images",6} {"intact",6} {"rw",4} {"ro",4} {"refused",7} {"EROFS",5} {"others exact",17} {"writable",9} {"owners readable",16}");
        foreach (var (k, t) in perKind)
        {
            if (t.Images == 0) continue;
            table.AppendLine($"{k,-20} {t.Images,6} {t.Intact,6} {t.Rw,4} {t.RoOnly,4} {t.Refused,7} {t.WritesRefused,5} {$"{t.Exact}/{t.Uninvolved}",17} {$"{t.Writable}/{t.WriteTried}",9} {$"{t.InvolvedReadable}/{t.Involved}",16}");
            foreach (var f in typeof(Tally).GetFields()) f.SetValue(all, (int)f.GetValue(all)! + (int)f.GetValue(t)!);
        }
        string summary = $"images {all.Images}: intact superblocks and journal {all.Intact}; mounted read-write {all.Rw}, read-only only {all.RoOnly}, refused {all.Refused} ({all.RefusedIntact} of them intact); " +
            $"writes refused in {all.WritesRefused}; files that own no damaged record read back exactly {all.Exact} of {all.Uninvolved} ({Pct(all.Exact, all.Uninvolved)}), " +
            $"took a write {all.Writable} of {all.WriteTried}; files that own one still readable {all.InvolvedReadable} of {all.Involved} ({Pct(all.InvolvedReadable, all.Involved)}); " +
            $"in images whose journal or a superblock was hit too, files that own no damaged record read back exactly {all.HitExact} of {all.HitUninvolved} ({Pct(all.HitExact, all.HitUninvolved)})";
        output.WriteLine(table.ToString());
        output.WriteLine(summary);
        Console.WriteLine("single-record availability: " + summary);
        lock (Refusals) foreach (var r in Refusals.Take(20)) output.WriteLine("  refused: " + r);
        foreach (var f in failures.Take(10)) output.WriteLine(f);
        Assert.True(failures.Count == 0, $"{failures.Count} image(s) cost more than they hold:\n" + string.Join("\n\n", failures.Take(5)));
        Assert.True(all.Images > 0);
    }

    private static readonly List<string> Refusals = [];

    private static string Pct(int a, int b) => b == 0 ? "-" : $"{100.0 * a / b:0.0}%";

    private static Pristine Open(BaseImage b)
    {
        var media = MemoryMedia.FromBytes(b.Bytes);
        var fs = FileSystem.Mount(media, new FileSystemOptions { ReadOnly = true });
        var files = new Dictionary<string, (ulong, ulong[], byte[])>();
        var queue = new Queue<(ulong Ino, string Path, ulong[] Dirs)>([(FormatConstants.RootIno, "", [FormatConstants.RootIno])]);
        while (queue.Count > 0)
        {
            var (dir, path, dirs) = queue.Dequeue();
            var items = new List<FileSystem.DirectoryItem>();
            fs.ReadDirectory(dir, 0, i => { items.Add(i); return true; });
            foreach (var item in items)
            {
                string name = Encoding.UTF8.GetString(item.Name);
                if (name is "." or ".." || fs.GetAttr(item.Ino, out var a).Failed) continue;
                string p = path + "/" + name;
                if ((a.Mode & FileTypes.Mask) == FileTypes.Directory) queue.Enqueue((item.Ino, p, [.. dirs, item.Ino]));
                else if ((a.Mode & FileTypes.Mask) == FileTypes.Regular)
                {
                    var data = new byte[a.Size];
                    if (fs.Read(item.Ino, 0, data, out int got).IsOk && got == data.Length) files[p] = (item.Ino, dirs, data);
                }
            }
        }
        return new Pristine(fs, media, files);
    }

    private static void One(BaseImage b, Pristine pristine, Mutation m, Tally t)
    {
        var (involved, intact) = DamageOwners.Of(b.Bytes, m.Bytes, b.Map, pristine.Fs);
        t.Images++;
        if (intact) t.Intact++;

        using var media = MemoryMedia.FromBytes(m.Bytes);
        FileSystem? fs = null;
        bool readOnly = false;
        string? refusal = null;
        try { fs = FileSystem.Mount(media); }
        catch (Exception e) when (e is ImageFormatException or MediaException)
        {
            try { fs = FileSystem.Mount(media, new FileSystemOptions { ReadOnly = true }); readOnly = true; }
            catch (Exception e2) when (e2 is ImageFormatException or MediaException) { refusal = $"{e.Message} / read-only: {e2.Message}"; }
        }
        if (fs is null)
        {
            t.Refused++;
            if (intact) { t.RefusedIntact++; throw new FuzzFailureException($"an image with intact superblocks and journal was refused: {refusal}"); }
            lock (Refusals) Refusals.Add($"{m.Kind} on {m.Base}: {refusal}");
            return;
        }
        using (fs)
        {
            if (readOnly) t.RoOnly++; else t.Rw++;
            bool writable = !readOnly && fs.Health.State == Engine.Health.HealthState.Healthy;
            if (!readOnly && !writable) t.WritesRefused++;
            foreach (var (path, (ino, dirs, data)) in pristine.Files)
            {
                bool owns = involved.Contains(ino) || dirs.Any(involved.Contains);
                ulong found = Resolve(fs, path);
                var buf = new byte[data.Length];
                bool exact = found == ino && fs.Read(ino, 0, buf, out int got).IsOk && got == data.Length && buf.AsSpan().SequenceEqual(data);
                if (owns)
                {
                    t.Involved++;
                    if (exact) t.InvolvedReadable++;
                    continue;
                }
                if (!intact)
                {
                    t.HitUninvolved++;
                    if (exact) t.HitExact++;
                    continue;
                }
                t.Uninvolved++;
                if (!exact) throw new FuzzFailureException($"{path} (inode {ino}) owns no damaged record but does not read back exactly (sick: {string.Join("; ", fs.Health.SickInodes.Take(5).Select(s => $"{s.Ino}: {s.Problem}"))})");
                t.Exact++;
                if (!writable) continue;
                t.WriteTried++;
                var e = fs.Write(ino, data.Length, "more"u8, Credentials.Root, out _);
                if (e.IsOk) t.Writable++;
                // The bases have room: ENOSPC here means damage withheld space that is not its own.
                else throw new FuzzFailureException($"{path} (inode {ino}) owns no damaged record but a write got {e}");
            }
        }
    }

    private static ulong Resolve(FileSystem fs, string path)
    {
        ulong ino = FormatConstants.RootIno;
        foreach (var part in path.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (fs.Lookup(ino, Encoding.UTF8.GetBytes(part), out var a).Failed) return 0;
            ino = a.Ino;
        }
        return ino;
    }
}
