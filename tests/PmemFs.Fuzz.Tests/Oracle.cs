using System.Text.RegularExpressions;
using PmemFs.Check;
using PmemFs.Engine;
using PmemFs.Format;
using PmemFs.Media;

namespace PmemFs.Fuzz.Tests;

/// <summary>A property of the oracle that a corrupted image broke.</summary>
public sealed class FuzzFailureException(string message) : Exception(message);

/// <summary>What happened to one corrupted image (for the statistics).</summary>
public enum Outcome { FsckRefused, MountRefused, MountedAndWalked, Skipped, RepairedOnly }

/// <summary>
/// The rules every corrupted image must keep, whatever was done to it:
/// <list type="number">
/// <item>fsck returns a report or refuses with <see cref="ImageFormatException"/> (no other exception,
/// no phase stopped early by one), within the timeout;</item>
/// <item>a table record, superblock or xattr blob whose bytes were changed and no longer pass their
/// verifier (after fsck's own replay) is reported: fsck never calls such an image clean;</item>
/// <item>mount succeeds or refuses with <see cref="ImageFormatException"/> / <see cref="MediaException"/>
/// (one line), within the timeout; it refuses when fsck found no superblock, and it does not refuse
/// an image fsck calls clean;</item>
/// <item>mount never accepts an image with a record that fails its verifier, an xattr blob that
/// fails its verifier, or a directory cut off from the root (it checks those itself);</item>
/// <item>when mount succeeds: readdir, lookup, getattr, reading every file (windows over its whole
/// map), readlink, listxattr and getxattr never throw, lookups agree with readdir, and every byte read
/// is what the file's own extents hold (zeros for holes and unwritten extents); then a clean
/// unmount leaves nothing fsck reports that it did not report before (no new kind of problem);</item>
/// <item>for the corruptions that break a rule whatever the bytes (<see cref="Mutation.MustBeFound"/>:
/// the reference-count and shared-owner kinds), fsck does not call the image clean; for those that
/// leave the data intact (<see cref="Mutation.CheckRepair"/>), fsck --repair makes the image clean,
/// a second repair changes nothing, every extent that verified is still there, and the engine mounts
/// and walks the repaired image (once it mounts shared images: <see cref="EngineMountsSharedImages"/>).</item>
/// </list>
/// </summary>
public static class Oracle
{
    // One full-size media per thread and use, reused from image to image (16 MiB allocations are slow).
    [ThreadStatic] private static MemoryMedia? _fsckMedia;
    [ThreadStatic] private static MemoryMedia? _mountMedia;

    /// <summary>The image in a media: the thread's cached one when the size fits, else a new one disposed after.</summary>
    private readonly struct MediaLease : IDisposable
    {
        private readonly bool _owned;
        public MemoryMedia Media { get; }

        public MediaLease(ReadOnlySpan<byte> image, ref MemoryMedia? cache)
        {
            if (image.Length != BaseImages.Size)
            {
                Media = MemoryMedia.FromBytes(image);
                _owned = true;
                return;
            }
            cache ??= new MemoryMedia(BaseImages.Size);
            image.CopyTo(cache.RawBytes(0, image.Length));
            Media = cache;
        }

        public void Dispose()
        {
            if (_owned) Media.Dispose();
        }
    }

    public static TimeSpan StageTimeout { get; set; } = TimeSpan.FromSeconds(20);

    public static Outcome Check(Mutation m)
    {
        if (m.Changes.Count == 0) return Outcome.Skipped;
        using var fsckLease = new MediaLease(m.Bytes, ref _fsckMedia);
        var fsckMedia = fsckLease.Media;
        FsckReport? before = null;
        string? fsckRefusal = null;
        Stage("fsck", () =>
        {
            try { before = Fsck.Check(fsckMedia, new FsckOptions()); }
            catch (ImageFormatException e) { fsckRefusal = e.Message; }
        });
        if (fsckRefusal is not null) CheckRefusal("fsck", fsckRefusal);
        if (before is not null)
        {
            foreach (var p in before.Problems)
                if (p.Where == "fsck") throw new FuzzFailureException($"fsck phase crashed: {p}");
            if (before.IsClean) CheckDetected(m, fsckMedia);
            if (before.IsClean && m.MustBeFound) throw new FuzzFailureException("fsck calls the image clean, but the corruption breaks a rule it checks");
        }
        if (m.CheckRepair) CheckRepair(m, fsckRefusal);
        if (m.Shared && !EngineMountsSharedImages) return Outcome.RepairedOnly;

        if (ReadOnlyToo) CheckReadOnly(m, fsckMedia, before, fsckRefusal);

        using var mountLease = new MediaLease(m.Bytes, ref _mountMedia);
        var mountMedia = mountLease.Media;
        FileSystem? fs = null;
        string? mountRefusal = null;
        Stage("mount", () =>
        {
            try { fs = FileSystem.Mount(mountMedia); }
            catch (Exception e) when (e is ImageFormatException or MediaException) { mountRefusal = e.Message; }
        });
        if (mountRefusal is not null)
        {
            CheckRefusal("mount", mountRefusal);
            if (before is { IsClean: true }) throw new FuzzFailureException($"mount refused an image fsck calls clean: {mountRefusal}");
            return before is null ? Outcome.FsckRefused : Outcome.MountRefused;
        }
        if (fsckRefusal is not null)
        {
            fs!.Dispose();
            throw new FuzzFailureException($"fsck refused the image ({fsckRefusal}) but mount accepted it");
        }

        try
        {
            Stage("mount checks", () => MustHaveConfined(fs!, fsckMedia, before!));
            Stage("walk", () => Walk(fs!, fsckMedia));
            if (Use) Stage("use", () => UseIt(fs!));
        }
        catch
        {
            try { fs!.Dispose(); } catch (Exception e) when (e is not OutOfMemoryException) { }
            throw;
        }
        Stage("unmount", () => fs!.Dispose());

        FsckReport? after = null;
        Stage("fsck after unmount", () =>
        {
            try { after = Fsck.Check(mountMedia, new FsckOptions()); }
            catch (ImageFormatException e) { throw new FuzzFailureException($"fsck refuses the image after a clean unmount: {e.Message}"); }
        });
        var old = Kinds(before!);
        // A record the mount distrusted keeps claiming its blocks; when their real owners free
        // them, the bitmap says so: that is the same damage seen again, not new damage.
        var claimed = new HashSet<long>();
        foreach (var p in before!.Problems)
            foreach (System.Text.RegularExpressions.Match d in DistrustedBlock.Matches(p.Message))
            {
                long first = long.Parse(d.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
                long last = d.Groups[2].Success ? long.Parse(d.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture) : first;
                for (long b = first; b <= last && b - first < 4096; b++) claimed.Add(b);
            }
        // A record the mount distrusted claims blocks the bitmap called free; mount hands those
        // out again (withholding them lets one damaged block count take the whole data area), so
        // the record now contradicts their new owner: the same record reported again.
        var reported = before!.Problems.Select(p => p.Where).ToHashSet();
        var fresh = after!.Problems.Where(p => !old.Contains(Kind(p))
            && !(p.Where == "bitmap" && StaleClaim.Match(p.Message) is { Success: true } m && claimed.Contains(long.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)))
            && !(p.Message.Contains("owned twice", StringComparison.Ordinal) && (reported.Contains(p.Where) || SlotNamed.Matches(p.Message).Any(s => reported.Contains(s.Groups[1].Value))))).ToList();
        if (fresh.Count > 0)
            throw new FuzzFailureException("using the image made new kinds of problems:\n      " + string.Join("\n      ", fresh.Take(10))
                + "\n    before:\n      " + string.Join("\n      ", before!.Problems.Take(10)));
        if (after.Problems.Any(p => p.Message.Contains("owned twice", StringComparison.Ordinal) && !old.Contains(Kind(p))))
            Stage("repair after use", () => RepairKeepsWhatUseMade(m, mountMedia));
        return Outcome.MountedAndWalked;
    }

    /// <summary>
    /// Blocks a distrusted record claimed were handed to a file: repair must side with the file
    /// (the extents the use made all survive) and leave the image clean.
    /// </summary>
    private static void RepairKeepsWhatUseMade(Mutation m, MemoryMedia used)
    {
        using var corrupted = MemoryMedia.FromBytes(m.Bytes);
        using var copy = MemoryMedia.FromBytes(used.Read(0, m.Length));
        var made = Extents(copy).Except(Extents(corrupted)).ToList();
        var report = FsckRepair.Repair(copy, new FsckOptions());
        if (!report.After.IsClean) throw new FuzzFailureException("after use, repair does not make the image clean:\n      " + string.Join("\n      ", report.After.Problems.Take(10)));
        var lost = made.Except(Extents(copy)).ToList();
        if (lost.Count > 0) throw new FuzzFailureException($"repair dropped {lost.Count} extent(s) that use made in blocks a distrusted record claimed, e.g. {lost[0]}:\n      " + string.Join("\n      ", report.Changes.Take(20)));
    }

    private static readonly Lazy<bool> SharedMounts = new(() =>
    {
        using var media = MemoryMedia.FromBytes(BaseImages.Shared[0].Bytes);
        try
        {
            FileSystem.Mount(media).Dispose();
            return true;
        }
        catch (Exception e) when (e is ImageFormatException or MediaException)
        {
            return false;
        }
    });

    /// <summary>
    /// Whether this build's engine mounts an image with shared extents (the clean shared base).
    /// The engine learns reference counts separately; until it does, shared images get the fsck
    /// and repair checks only (and the run's table says so).
    /// </summary>
    public static bool EngineMountsSharedImages => SharedMounts.Value;

    /// <summary>Repairs a copy: no exception (a refusal only where fsck refused), clean, idempotent, no extent lost, mountable.</summary>
    private static void CheckRepair(Mutation m, string? fsckRefusal)
    {
        using var media = MemoryMedia.FromBytes(m.Bytes);
        var extentsBefore = Extents(media);
        RepairReport? report = null;
        Stage("repair", () =>
        {
            try { report = FsckRepair.Repair(media, new FsckOptions()); }
            catch (ImageFormatException e)
            {
                if (fsckRefusal is null) throw new FuzzFailureException($"repair refused an image fsck read: {e.Message}");
            }
        });
        if (report is null) return;
        if (!report.After.IsClean)
            throw new FuzzFailureException("not clean after repair:\n      " + string.Join("\n      ", report.After.Problems.Take(10))
                + "\n    changes:\n      " + string.Join("\n      ", report.Changes.Take(20)));
        RepairReport? again = null;
        Stage("repair again", () => again = FsckRepair.Repair(media, new FsckOptions()));
        if (again!.Changed) throw new FuzzFailureException("a second repair changed more:\n      " + string.Join("\n      ", again.Changes.Take(10)));
        var lost = extentsBefore.Except(Extents(media)).ToList();
        if (lost.Count > 0)
            throw new FuzzFailureException($"the repair dropped {lost.Count} extent(s) of a corruption that left the data intact, e.g. {lost[0]}:\n      "
                + string.Join("\n      ", report.Changes.Take(20)));
        if (m.Shared && !EngineMountsSharedImages) return;
        Stage("mount repaired", () =>
        {
            FileSystem fs;
            try { fs = FileSystem.Mount(media); }
            catch (Exception e) when (e is ImageFormatException or MediaException) { throw new FuzzFailureException($"mount refused the repaired image: {e.Message}"); }
            try { Walk(fs, media); }
            finally { fs.Dispose(); }
        });
    }

    private static HashSet<(long Slot, ExtentRecord Rec)> Extents(MemoryMedia media)
    {
        var g = ImageReader.ReadSuperblock(media, "fuzz").Superblock.Geometry;
        var set = new HashSet<(long, ExtentRecord)>();
        for (long i = 0; i < g.ExtentCount; i++)
            if (DiskExtent.VerifyRead(media.Read(g.ExtentOffset(i), DiskExtent.Size), i, out var e).IsOk) set.Add((i, e));
        return set;
    }

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, long> StageTicks = new();

    /// <summary>Time spent per stage since the process started (for the run summary).</summary>
    public static string StageTimes() =>
        string.Join(", ", StageTicks.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key} {TimeSpan.FromTicks(kv.Value).TotalSeconds:F1} s"));

    private static void Stage(string name, Action action)
    {
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        try { StageCore(name, action); }
        finally { StageTicks.AddOrUpdate(name, System.Diagnostics.Stopwatch.GetElapsedTime(start).Ticks, (_, v) => v + System.Diagnostics.Stopwatch.GetElapsedTime(start).Ticks); }
    }

    /// <summary>
    /// Runs a stage on a thread of its own (a thread-pool task could be inlined into the waiting
    /// thread, and then a hang would never time out); a stage still running after the timeout
    /// is a hang, reported at once (its thread is left behind, as a background thread).
    /// </summary>
    private static void StageCore(string name, Action action)
    {
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try { action(); }
            catch (FuzzFailureException e) { failure = e; }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                failure = new FuzzFailureException($"{name} threw {e.GetType().Name}: {e.Message}\n{e.StackTrace}");
            }
        }, 16 << 20) { IsBackground = true, Name = $"fuzz {name}" };
        thread.Start();
        if (!thread.Join(StageTimeout))
        {
            // The hung thread keeps the media it was given: this thread gets fresh ones.
            _fsckMedia = null;
            _mountMedia = null;
            throw new FuzzFailureException($"{name} hung (no answer in {StageTimeout.TotalSeconds:F0} s)");
        }
        if (failure is not null) throw failure;
    }

    /// <summary>Adds time spent outside the oracle's stages (building the corruption) to the summary.</summary>
    public static T Timed<T>(string name, Func<T> f)
    {
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        try { return f(); }
        finally { StageTicks.AddOrUpdate(name, System.Diagnostics.Stopwatch.GetElapsedTime(start).Ticks, (_, v) => v + System.Diagnostics.Stopwatch.GetElapsedTime(start).Ticks); }
    }

    private static void CheckRefusal(string who, string message)
    {
        if (string.IsNullOrWhiteSpace(message) || message.Contains('\n'))
            throw new FuzzFailureException($"{who} refused with a message that is not one line: \"{message}\"");
    }

    /// <summary>A checksummed structure whose bytes changed and no longer verify must make fsck report something.</summary>
    private static void CheckDetected(Mutation m, MemoryMedia replayed)
    {
        if (m.Length < BaseImages.Size) return; // fsck either refused or used the larger copy
        var sb = ImageReader.ReadSuperblock(replayed, "fuzz").Superblock;
        var g = sb.Geometry;
        foreach (var s in m.TouchedSlots)
        {
            var bytes = replayed.Read(s.Offset, s.Size);
            var v = s.Table switch
            {
                Table.Inode => DiskInode.VerifyRead(bytes, Geometry.InoOfSlot(s.Index), out _),
                Table.Dirent => DiskDirent.VerifyRead(bytes, s.Index, out _),
                Table.Extent => DiskExtent.VerifyRead(bytes, s.Index, out _),
                _ => ImageMap.VerifyRmapSlot(bytes, s.Index),
            };
            if (v.Verdict is Verdict.BadChecksum or Verdict.Corrupt)
                throw new FuzzFailureException($"fsck calls the image clean, but {s.Table} slot {s.Index} fails its verifier: {v.Problem}");
        }
        foreach (var (ino, offset, length) in m.TouchedXattrs)
        {
            var v = DiskInode.VerifyRead(replayed.Read(g.InodeOffset(Geometry.SlotOfIno(ino)), DiskInode.Size), ino, out var rec);
            if (!v.IsOk || rec.IsFree || Geometry.BlockOffset(rec.XattrBlock) != offset || rec.XattrLength != length) continue;
            var xv = DiskXattrBlob.VerifyRead(replayed.Read(offset, length), ino, out _);
            if (!xv.IsOk) throw new FuzzFailureException($"fsck calls the image clean, but the xattr blob of inode {ino} fails its verifier: {xv.Problem}");
        }
        if (m.TouchedSuperblock)
        {
            foreach (long at in new[] { 0L, Geometry.BlockOffset(g.SecondarySuperblock) })
            {
                var v = DiskSuperblock.VerifyRead(replayed.Read(at, DiskSuperblock.Size), out var copy);
                if (!v.IsOk || copy != sb) throw new FuzzFailureException($"fsck calls the image clean, but the superblock at byte {at} is unusable or differs ({v.Problem})");
            }
        }
    }

    /// <summary>What mount checks itself: it must not have accepted an image failing those checks.</summary>
    /// <summary>
    /// Damage costs only what it holds (docs/health.md): every record that fails its verifier is
    /// quarantined (never used, reported), a bad xattr blob makes its file sick, and damage of
    /// the tree or of shared blocks makes some file sick or refuses writes. A mount that used a
    /// damaged record as if it were good fails here.
    /// </summary>
    private static void MustHaveConfined(FileSystem fs, MemoryMedia replayed, FsckReport before)
    {
        var g = fs.Geometry;
        var quarantined = fs.Health.Quarantined.Select(q => (q.Table, q.Slot)).ToHashSet();
        void Quarantined(string table, long slot, string? problem)
        {
            if (!quarantined.Contains((table, slot))) throw new FuzzFailureException($"mount used a bad {table} record (slot {slot}: {problem}) without quarantining it");
        }
        bool anySick = fs.Health.SickInodes.Count > 0 || fs.Health.State != Engine.Health.HealthState.Healthy;
        for (long i = 0; i < g.InodeCount; i++)
        {
            var v = DiskInode.VerifyRead(replayed.Read(g.InodeOffset(i), DiskInode.Size), Geometry.InoOfSlot(i), out var r);
            if (v.Verdict is Verdict.BadChecksum or Verdict.Corrupt) Quarantined("inode", i, v.Problem);
            if (v.IsOk && !r.IsFree && r.XattrBlock != 0 && g.IsDataBlockRange(r.XattrBlock, r.XattrBlocks))
            {
                var xv = DiskXattrBlob.VerifyRead(replayed.Read(Geometry.BlockOffset(r.XattrBlock), (int)r.XattrLength), r.Ino, out _);
                if (!xv.IsOk && !fs.Health.IsSick(r.Ino)) throw new FuzzFailureException($"mount accepted a bad xattr blob of a file it did not make sick: {xv.Problem}");
            }
        }
        for (long i = 0; i < g.DirentCount; i++)
        {
            var v = DiskDirent.VerifyRead(replayed.Read(g.DirentOffset(i), DiskDirent.Size), i, out _);
            if (v.Verdict is Verdict.BadChecksum or Verdict.Corrupt) Quarantined("dirent", i, v.Problem);
        }
        for (long i = 0; i < g.ExtentCount; i++)
        {
            var v = DiskExtent.VerifyRead(replayed.Read(g.ExtentOffset(i), DiskExtent.Size), i, out _);
            if (v.Verdict is Verdict.BadChecksum or Verdict.Corrupt) Quarantined("extent", i, v.Problem);
        }
        for (long i = 0; i < g.RmapCount; i++)
        {
            var v = ImageMap.VerifyRmapSlot(replayed.Read(g.RmapOffset(i), DiskRmap.Size), i);
            if (v.Verdict is Verdict.BadChecksum or Verdict.Corrupt) Quarantined("rmap", i, v.Problem);
        }
        foreach (var p in before.Problems)
        {
            if (p.Message.Contains("directory cycle", StringComparison.Ordinal) || p.Message.Contains("directory is disconnected", StringComparison.Ordinal)
                || p.Message.Contains("is named by", StringComparison.Ordinal))
                if (!anySick) throw new FuzzFailureException($"mount made nothing sick in a directory tree fsck finds broken: {p}");
            if (OwnedTwiceByFiles.IsMatch(p.Message) && !anySick)
                throw new FuzzFailureException($"mount accepted blocks owned by two files and made nothing sick: {p}");
            // Mount keeps the same rule (SharedBlocks): counts that disagree with the maps make their files sick.
            if (p.Where == "refcount" && !anySick)
                throw new FuzzFailureException($"mount accepted shared blocks whose reference counts are wrong: {p}");
        }
    }

    /// <summary>Whether to mount a third copy read-only too (then walk it, and check nothing was written).</summary>
    public static bool ReadOnlyToo { get; set; } = true;

    [ThreadStatic] private static MemoryMedia? _roMedia;

    /// <summary>
    /// A read-only mount salvages (docs/health.md): it refuses only an image fsck cannot read
    /// either (no usable superblock), replays a pending journal into a private view, confines
    /// damage as a read-write mount does, and never writes a byte: after mount, walk and
    /// unmount the media is exactly the corrupted image.
    /// </summary>
    private static void CheckReadOnly(Mutation m, MemoryMedia replayed, FsckReport? before, string? fsckRefusal)
    {
        using var lease = new MediaLease(m.Bytes, ref _roMedia);
        var media = lease.Media;
        FileSystem? fs = null;
        string? refusal = null;
        Stage("mount read-only", () =>
        {
            try { fs = FileSystem.Mount(media, new FileSystemOptions { ReadOnly = true }); }
            catch (Exception e) when (e is ImageFormatException or MediaException) { refusal = e.Message; }
        });
        if (refusal is not null)
        {
            CheckRefusal("read-only mount", refusal);
            if (fsckRefusal is null) throw new FuzzFailureException($"a read-only mount refused an image fsck reads: {refusal}");
            return;
        }
        try
        {
            if (fsckRefusal is not null) throw new FuzzFailureException($"fsck refused the image ({fsckRefusal}) but a read-only mount accepted it");
            Stage("mount checks", () => MustHaveConfined(fs!, replayed, before!));
            Stage("walk read-only", () => Walk(fs!, replayed));
        }
        catch
        {
            try { fs!.Dispose(); } catch (Exception e) when (e is not OutOfMemoryException) { }
            throw;
        }
        Stage("unmount read-only", () => fs!.Dispose());
        var now = media.Read(0, m.Length);
        if (!now.SequenceEqual(m.Bytes))
        {
            int at = 0;
            while (now[at] == m.Bytes[at]) at++;
            throw new FuzzFailureException($"a read-only mount wrote to the image (first changed byte at {at})");
        }
    }

    /// <summary>Whether to change the mounted image too (writes, truncates, xattrs, new files), not just read it.</summary>
    public static bool Use { get; set; } = true;

    private static readonly Credentials Who = Credentials.Root;

    /// <summary>
    /// Ordinary changes on the files the tree holds: overwrite, append, truncate, preallocate,
    /// punch, replace xattrs, create, mkdir, rename, remove what was created. Errno results are
    /// fine (ENOSPC, EFBIG...), exceptions are not, and neither is damage fsck sees afterwards.
    /// </summary>
    private static void UseIt(FileSystem fs)
    {
        const ulong root = FormatConstants.RootIno;
        var files = new List<(ulong Ino, long Size)>();
        var queue = new Queue<ulong>();
        queue.Enqueue(root);
        var seen = new HashSet<ulong> { root };
        while (queue.Count > 0 && files.Count < 40)
        {
            ulong dir = queue.Dequeue();
            var items = new List<FileSystem.DirectoryItem>();
            fs.ReadDirectory(dir, 2, item => { items.Add(item); return items.Count < 1000; });
            foreach (var item in items)
            {
                if (!seen.Add(item.Ino) || fs.GetAttr(item.Ino, out var a) != Errno.Ok) continue;
                if ((a.Mode & FileTypes.Mask) == FileTypes.Directory) queue.Enqueue(item.Ino);
                else if ((a.Mode & FileTypes.Mask) == FileTypes.Regular) files.Add((item.Ino, a.Size));
            }
        }
        var data = new byte[6000];
        new Random(1).NextBytes(data);
        foreach (var (ino, size) in files)
        {
            fs.Write(ino, 0, data.AsSpan(0, 100), Who, out _);
            fs.Write(ino, size, data, Who, out _);
            fs.SetAttr(ino, new SetAttrRequest { Fields = SetAttrFields.Size, Size = size / 2 }, Who, out _);
            fs.Fallocate(ino, FallocateMode.KeepSize, size / 2, 3 * 4096, Who);
            fs.Fallocate(ino, FallocateMode.KeepSize | FallocateMode.PunchHole, 0, 4096, Who);
            fs.SetXattr(ino, "user.fuzz"u8, data.AsSpan(0, 300), XattrSetFlags.None);
            fs.RemoveXattr(ino, "user.small"u8);
        }
        fs.SetXattr(root, "user.fuzz"u8, "root"u8, XattrSetFlags.None);
        if (fs.MakeDirectory(root, "fuzz-dir"u8, 0x1ED, Who, out var d) == Errno.Ok
            && fs.Create(root, "fuzz-new"u8, 0x81A4, Who, out var f) == Errno.Ok)
        {
            fs.Write(f.Ino, 0, data, Who, out _);
            fs.Rename(root, "fuzz-new"u8, d.Ino, "moved"u8);
            fs.Link(f.Ino, root, "fuzz-link"u8, out _);
            fs.Unlink(root, "fuzz-link"u8);
            fs.Symlink(d.Ino, "sym"u8, "moved"u8, Who, out _);
            fs.Unlink(d.Ino, "sym"u8);
        }
        fs.Sync();
    }

    private static readonly Regex OwnedTwiceByFiles = new(@"owned twice: by inode \d+.* and by inode \d+", RegexOptions.Compiled);

    private const int Window = 64 * 1024;

    /// <summary>The whole tree through the engine API; every byte read checked against the file's own extents.</summary>
    private static void Walk(FileSystem fs, MemoryMedia replayed)
    {
        var g = fs.Geometry;
        var extents = new Dictionary<ulong, List<ExtentRecord>>();
        for (long i = 0; i < g.ExtentCount; i++)
        {
            if (!DiskExtent.VerifyRead(replayed.Read(g.ExtentOffset(i), DiskExtent.Size), i, out var e).IsOk) continue;
            if (!extents.TryGetValue(e.Ino, out var list)) extents[e.Ino] = list = [];
            list.Add(e);
        }

        var seen = new HashSet<ulong> { FormatConstants.RootIno };
        var queue = new Queue<ulong>();
        queue.Enqueue(FormatConstants.RootIno);
        int visited = 0;
        while (queue.Count > 0)
        {
            ulong dir = queue.Dequeue();
            var items = new List<FileSystem.DirectoryItem>();
            var e = fs.ReadDirectory(dir, 0, item => { items.Add(item); return items.Count < 100_000; });
            if (e == Errno.EUCLEAN && fs.Health.IsSick(dir)) continue; // damaged: it fails alone
            if (e != Errno.Ok) throw new FuzzFailureException($"readdir of directory {dir} reached from the root: {e}");
            foreach (var item in items)
            {
                if (item.Name.AsSpan().SequenceEqual("."u8) || item.Name.AsSpan().SequenceEqual(".."u8)) continue;
                if (++visited > 100_000) return;
                var le = fs.Lookup(dir, item.Name, out var attr);
                if (le == Errno.EUCLEAN && fs.Health.IsSick(item.Ino)) continue;
                if (le != Errno.Ok) throw new FuzzFailureException($"lookup of an entry readdir listed (directory {dir}, inode {item.Ino}) failed: {le}");
                if (attr.Ino != item.Ino) throw new FuzzFailureException($"lookup found inode {attr.Ino}, readdir said {item.Ino}");
                fs.GetAttr(item.Ino, out _);
                fs.ListXattr(item.Ino, out var names);
                foreach (var n in names) fs.GetXattr(item.Ino, n, out _);
                uint type = attr.Mode & FileTypes.Mask;
                if (type == FileTypes.Directory)
                {
                    if (seen.Add(item.Ino)) queue.Enqueue(item.Ino);
                }
                else if (type == FileTypes.Regular)
                {
                    if (seen.Add(item.Ino)) ReadAll(fs, replayed, item.Ino, attr.Size, extents.GetValueOrDefault(item.Ino) ?? []);
                }
                else if (type == FileTypes.Symlink)
                {
                    var rl = fs.ReadLink(item.Ino, out var target);
                    if (rl != Errno.Ok) throw new FuzzFailureException($"readlink of symlink {item.Ino}: {rl}");
                    var expected = Expected(replayed, extents.GetValueOrDefault(item.Ino) ?? [], 0, target.Length);
                    if (!expected.AsSpan().SequenceEqual(target)) throw new FuzzFailureException($"readlink of symlink {item.Ino} returned bytes its extents do not hold");
                }
            }
        }
        fs.ListXattr(FormatConstants.RootIno, out _);
        fs.StatFs();
    }

    private static void ReadAll(FileSystem fs, MemoryMedia replayed, ulong ino, long size, List<ExtentRecord> extents)
    {
        var windows = new List<long> { 0, Math.Max(0, size - Window) };
        foreach (var e in extents.Take(64))
            if (e.FileBlock <= (long.MaxValue - Window) / 4096) { windows.Add(e.FileBlock * 4096); windows.Add(Math.Max(0, e.FileEnd * 4096 - Window / 2)); }
        var buf = new byte[Window];
        foreach (long off in windows.Distinct())
        {
            var r = fs.Read(ino, off, buf, out int n);
            if (r != Errno.Ok) throw new FuzzFailureException($"read of inode {ino} at {off}: {r}");
            long want = Math.Clamp(size - off, 0, Window);
            if (n != want) throw new FuzzFailureException($"read of inode {ino} (size {size}) at {off} returned {n} bytes, expected {want}");
            var expected = Expected(replayed, extents, off, n);
            if (!expected.AsSpan().SequenceEqual(buf.AsSpan(0, n)))
                throw new FuzzFailureException($"read of inode {ino} at {off} returned bytes that its own extents do not hold");
        }
    }

    /// <summary>What the file's extents say bytes [off, off + n) hold: written blocks' bytes, zeros elsewhere.</summary>
    private static byte[] Expected(MemoryMedia replayed, List<ExtentRecord> extents, long off, int n)
    {
        var b = new byte[n];
        foreach (var e in extents)
        {
            if (e.State != ExtentState.Written) continue;
            long es = e.FileBlock * 4096, ee = es + e.BlockCount * 4096;
            long s = Math.Max(es, off), t = Math.Min(ee, off + n);
            if (s >= t) continue;
            replayed.Read(e.PhysBlock * 4096 + (s - es), (int)(t - s)).CopyTo(b.AsSpan((int)(s - off)));
        }
        return b;
    }

    private static readonly Regex Digits = new(@"\d+", RegexOptions.Compiled);
    private static readonly Regex Quoted = new("\"[^\"]*\"", RegexOptions.Compiled);
    private static readonly Regex Plural = new(@"subdirector(y|ies)|entr(y names|ies name|y|ies)", RegexOptions.Compiled);
    private static readonly Regex BlockRange = new(@"blocks? #(\.\.#)?", RegexOptions.Compiled);

    /// <summary>A problem without its numbers and names: what kind of problem it is.</summary>
    private static readonly System.Text.RegularExpressions.Regex DistrustedBlock = new(@"(?:\(|names )blocks? (\d+)(?:\.\.(\d+))?(?:\), which has no extent| for it)");
    private static readonly System.Text.RegularExpressions.Regex SlotNamed = new(@"in ((?:rmap|extent) slot \d+)");
    private static readonly System.Text.RegularExpressions.Regex StaleClaim = new(@"^block (\d+) in use by inode \d+ but marked free");

    public static string Kind(FsckProblem p)
    {
        string where = p.Where.Split(' ')[0];
        string msg = Quoted.Replace(Digits.Replace(p.Message, "#"), "S");
        msg = BlockRange.Replace(msg, "blocks");
        msg = Plural.Replace(msg, m => m.Value.StartsWith("subdirector", StringComparison.Ordinal) ? "subdirectories" : "entries");
        return where + ": " + msg;
    }

    private static HashSet<string> Kinds(FsckReport r) => r.Problems.Select(Kind).ToHashSet();
}
