using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using PmemFs.Abi;
using PmemFs.Cli.Native;
using PmemFs.Cli.Output;
using PmemFs.Daemon;
using PmemFs.Format;
using PmemFs.Media;
using static PmemFs.Cli.Commands.CommandGuard;

namespace PmemFs.Cli.Commands;

/// <summary>
/// <c>pmemfs rmap IMAGE|MOUNT [--range START:LEN] [--json]</c>: who owns each physical range of
/// an image (a file's data or xattrs, with its inode, a path and the file offset; or a metadata
/// structure), in the spirit of <c>xfs_io -c fsmap</c>. Offline (an unmounted image) from the
/// reverse-map table; on a mount (the mount point, a path on it, or a mounted image) from the
/// daemon's maps through PMEMFS_IOC_RMAP (CAP_SYS_ADMIN), with paths found by walking the mount.
/// Both give the same rows in the same order: (physical, kind, inode, file offset).
/// </summary>
public static unsafe class RmapCommand
{
    public const string Name = "rmap";

    /// <summary>
    /// One reverse-map record in bytes; <see cref="Ino"/> 0 for metadata. <see cref="Refs"/>: for
    /// file data whose blocks are shared (a reference-count record covers them), the highest count
    /// over the range (how many extents map those blocks); null when not shared.
    /// </summary>
    public sealed record Owner(long Physical, long Length, string Kind, ulong Ino, string? Path, long? FileOffset, ulong? Refs = null);

    /// <summary>A reference-count record in bytes: <see cref="Refs"/> extents map [Physical, +Length).</summary>
    public sealed record Shared(long Physical, long Length, ulong Refs);

    /// <summary>What rmap reads: the owner records, and the reference counts of shared ranges (format version 2).</summary>
    public sealed record Table(List<Owner> Owners, List<Shared> Refcounts);

    public static Command Build(CliConsole console)
    {
        var image = CommandLine.ImageArgument("An unmounted PmemFs image or /dev/dax device; or a PmemFs mount (its mount point or any path on it).", "IMAGE|MOUNT");
        var range = new Option<string?>("--range") { Description = "Only records overlapping START:LEN (bytes, or sizes like 2M:64K).", HelpName = "START:LEN" };
        var json = new Option<bool>("--json") { Description = "Print one JSON object: image (and mount, on a mount), an owners array (physical, length in bytes; kind, inode, path, file_offset; refs on shared data) and a shared array (physical, length, refs)." };
        var command = new Command(Name, "Show who owns each physical range of an image or a mounted file system (file data, xattrs, metadata).") { image, range, json };
        command.SetAction(parsed => CommandGuard.Run(console, Name, ExitCodes.Failure, () =>
        {
            string path = parsed.GetValue(image)!;
            (long start, long length) = ParseRange(parsed.GetValue(range));
            Table table;
            string imagePath = path;
            MountEntry? mount = MountOf(path);
            if (mount is null && Directory.Exists(path)) throw Fail($"{path}: not on a PmemFs mount (rmap reads a PmemFs mount, or an unmounted image)");
            if (mount is null && MountTable.FindByImage(MountLookup.RealPath(path) ?? path) is { } serving)
            {
                // A mounted image: the tables on the media are the daemon's to change; ask the daemon.
                console.Error.WriteLine($"{path}: mounted on {serving.Mountpoint}: reading the mount");
                mount = serving;
            }
            if (mount is not null)
            {
                table = ReadMounted(mount.Mountpoint, start, length);
                imagePath = mount.Source;
            }
            else table = Read(path);
            var owners = table.Owners.Where(o => o.Physical < start + length && start < o.Physical + o.Length).ToList();
            var shared = table.Refcounts.Where(r => r.Physical < start + length && start < r.Physical + r.Length).ToList();
            if (parsed.GetValue(json)) Json.Write(console.Out, w => WriteJson(w, imagePath, owners, shared, mount?.Mountpoint));
            else WriteText(console.Out, owners, shared);
            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>The PmemFs mount <paramref name="path"/> is on (a directory or file inside it), or null.</summary>
    internal static MountEntry? MountOf(string path)
    {
        if (!Directory.Exists(path) && !File.Exists(path)) return null;
        var real = MountLookup.RealPath(path);
        if (real is null) return null;
        var entry = MountTable.Containing(real, MountTable.Read());
        return entry is not null && entry.IsPmemFs ? entry : null;
    }

    internal static (long, long) ParseRange(string? text)
    {
        if (text is null) return (0, long.MaxValue);
        var parts = text.Split(':');
        if (parts.Length != 2 || !Bytes(parts[0], out long start) || !Bytes(parts[1], out long length) || length <= 0)
            throw Fail($"invalid --range '{text}': START:LEN in bytes or sizes, e.g. 0:2M");
        return (start, Math.Min(length, long.MaxValue - start));
    }

    /// <summary>Plain bytes (any number, 0 included), or a size with a suffix as mkfs takes it.</summary>
    private static bool Bytes(string text, out long bytes) =>
        text.Length > 0 && text.All(char.IsAsciiDigit) ? long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out bytes)
            : SizeParser.TryParse(text, out bytes, out _);

    /// <summary>Every reverse-map record of <paramref name="image"/>, by physical offset, with paths where a name leads to the inode.</summary>
    public static Table Read(string image)
    {
        using var offline = OfflineImage.Open(image);
        return Read(offline.Media, offline.Fs.Geometry);
    }

    /// <summary>
    /// The records of the tables of <paramref name="media"/> (an image nobody writes): owner
    /// records, and reference-count records, which share the rmap table (told apart by their magic).
    /// </summary>
    public static Table Read(IMedia media, Geometry g)
    {
        var names = new InodePaths();
        for (long slot = 0; slot < g.DirentCount; slot++)
            if (DiskDirent.VerifyRead(media.Read(g.DirentOffset(slot), DiskDirent.Size), slot, out var d).IsOk)
                names.Add(d.Child, d.Parent, Encoding.UTF8.GetString(d.Name));
        var records = new List<RmapRecord>();
        var refcounts = new List<RefcountRecord>();
        long bs = FormatConstants.BlockSize;
        for (long slot = 0; slot < g.RmapCount; slot++)
        {
            var bytes = media.Read(g.RmapOffset(slot), DiskRmap.Size);
            if (DiskRefcount.IsRefcountSlot(bytes))
            {
                if (DiskRefcount.VerifyRead(bytes, slot, out var rc).IsOk) refcounts.Add(rc);
                continue;
            }
            if (DiskRmap.VerifyRead(bytes, slot, out var r).IsOk) records.Add(r);
        }
        // The mounted form's order (PMEMFS_IOC_RMAP): physical, kind, inode, file offset. Several
        // owners may start at one shared block; this makes the order theirs, not the slots'.
        records.Sort((a, b) => (a.PhysBlock, (int)a.Kind, a.IsMetadata ? 0 : a.Owner, a.IsMetadata ? 0 : a.FileBlock)
            .CompareTo((b.PhysBlock, (int)b.Kind, b.IsMetadata ? 0 : b.Owner, b.IsMetadata ? 0 : b.FileBlock)));
        var owners = new List<Owner>();
        foreach (var r in records)
        {
            owners.Add(r.IsMetadata
                ? new Owner(r.PhysBlock * bs, r.BlockCount * bs, KindName(r.Kind), 0, null, null)
                : new Owner(r.PhysBlock * bs, r.BlockCount * bs, KindName(r.Kind), r.Owner, names.PathOf(r.Owner), r.FileBlock * bs));
        }
        refcounts.Sort((a, b) => a.PhysBlock.CompareTo(b.PhysBlock));
        if (refcounts.Count > 0)
        {
            // Records never overlap (fsck's rule), so the ones meeting a row start at a binary search.
            for (int i = 0; i < owners.Count; i++)
            {
                var o = owners[i];
                if (o.Kind != KindName(RmapOwnerKind.InodeData)) continue;
                long first = o.Physical / bs, end = (o.Physical + o.Length) / bs;
                int k = FirstEndingAfter(refcounts, first);
                ulong refs = 0;
                for (; k < refcounts.Count && refcounts[k].PhysBlock < end; k++) refs = Math.Max(refs, refcounts[k].Refs);
                if (refs > 0) owners[i] = o with { Refs = refs };
            }
        }
        return new Table(owners, refcounts.Select(r => new Shared(r.PhysBlock * bs, r.BlockCount * bs, r.Refs)).ToList());
    }

    /// <summary>
    /// The rows of the mount at <paramref name="mountpoint"/> overlapping [start, +length), through
    /// PMEMFS_IOC_RMAP on its root, page by page, with a path for every inode that has a name
    /// (the first found walking the mount in name order).
    /// </summary>
    public static Table ReadMounted(string mountpoint, long start, long length)
    {
        int fd = LibC.open(mountpoint, LibC.O_RDONLY | LibC.O_NONBLOCK | LibC.O_CLOEXEC);
        if (fd < 0) throw Fail($"{mountpoint}: {Flags.FlagIoctl.Message(Marshal.GetLastPInvokeError())}");
        var rows = new List<PmemFsRmapEntry>();
        try
        {
            var page = new PmemFsRmap
            {
                Version = PmemFsRmapAbi.Version,
                Offset = (ulong)start,
                Length = length >= long.MaxValue - start ? PmemFsLeaseAbi.LengthToEnd : (ulong)length,
            };
            do
            {
                if (LibC.ioctl(fd, PmemFsRmapAbi.Rmap, &page) < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    throw Fail(errno switch
                    {
                        LibC.ENOTTY => $"{mountpoint}: not a PmemFs mount (or its daemon is older than pmemfs rmap MOUNT)",
                        1 => $"{mountpoint}: the reverse map of a mount shows where every file lives: it needs CAP_SYS_ADMIN (run it as root)",
                        _ => $"{mountpoint}: {Flags.FlagIoctl.Message(errno)}",
                    });
                }
                rows.AddRange(page.Entries[..(int)Math.Min(page.Count, (uint)PmemFsRmapAbi.Entries)]);
            } while (page.More != 0 && page.Count > 0);
        }
        finally { LibC.close(fd); }

        var paths = PathsOnMount(mountpoint, rows.Where(r => r.Kind is PmemFsRmapAbi.KindData or PmemFsRmapAbi.KindXattr).Select(r => r.Ino).ToHashSet());
        return FromRows(rows, paths.GetValueOrDefault);
    }

    /// <summary>The rows of PMEMFS_IOC_RMAP as the offline form's table: owner rows, and reference-count rows as the shared list.</summary>
    public static Table FromRows(IEnumerable<PmemFsRmapEntry> rows, Func<ulong, string?> pathOf)
    {
        var owners = new List<Owner>();
        var shared = new List<Shared>();
        foreach (var r in rows)
        {
            long phys = (long)r.Physical, len = (long)r.Length;
            switch (r.Kind)
            {
                case PmemFsRmapAbi.KindRefcount:
                    shared.Add(new Shared(phys, len, r.Refs));
                    break;
                case PmemFsRmapAbi.KindData or PmemFsRmapAbi.KindXattr:
                    owners.Add(new Owner(phys, len, KindName((RmapOwnerKind)r.Kind), r.Ino, pathOf(r.Ino), (long)r.FileOffset,
                        r.Kind == PmemFsRmapAbi.KindData && r.Refs > 0 ? r.Refs : null));
                    break;
                default:
                    owners.Add(new Owner(phys, len, KindName((RmapOwnerKind)r.Kind), 0, null, null));
                    break;
            }
        }
        return new Table(owners, shared);
    }

    /// <summary>
    /// "/a/b" (from the mount's root) for each of <paramref name="wanted"/>, by walking the mount in
    /// name order without following symlinks or crossing into other mounts; stops once every
    /// inode has a path. An inode no name leads to (open but unlinked), or one under a directory
    /// the caller cannot read, gets none.
    /// </summary>
    public static Dictionary<ulong, string> PathsOnMount(string mountpoint, HashSet<ulong> wanted)
    {
        var found = new Dictionary<ulong, string>();
        if (wanted.Count == 0 || !Stat(mountpoint, out ulong rootIno, out _, out ulong rootDev)) return found;
        if (wanted.Contains(rootIno)) found[rootIno] = "/";
        var pending = new Stack<(string Dir, string Rel)>();
        pending.Push((mountpoint, ""));
        var options = new EnumerationOptions { IgnoreInaccessible = true, AttributesToSkip = 0, RecurseSubdirectories = false, ReturnSpecialDirectories = false };
        while (pending.Count > 0 && found.Count < wanted.Count)
        {
            var (dir, rel) = pending.Pop();
            string[] names;
            try { names = [.. Directory.EnumerateFileSystemEntries(dir, "*", options).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal)]; }
            catch (IOException) { continue; }
            catch (UnauthorizedAccessException) { continue; }
            var subdirs = new List<(string, string)>();
            foreach (var name in names)
            {
                string full = Path.Join(dir, name), relative = rel + "/" + name;
                if (!Stat(full, out ulong ino, out int mode, out ulong dev) || dev != rootDev) continue;
                if (wanted.Contains(ino)) found.TryAdd(ino, relative);
                if ((mode & LibC.S_IFMT) == LibC.S_IFDIR) subdirs.Add((full, relative));
            }
            // Depth first, in name order.
            for (int i = subdirs.Count - 1; i >= 0; i--) pending.Push(subdirs[i]);
        }
        return found;
    }

    private static bool Stat(string path, out ulong ino, out int mode, out ulong dev)
    {
        LibC.statx_t x = default;
        ino = 0; mode = 0; dev = 0;
        if (LibC.statx(LibC.AT_FDCWD, path, LibC.AT_SYMLINK_NOFOLLOW, LibC.STATX_TYPE | LibC.STATX_MODE | LibC.STATX_INO, ref x) != 0) return false;
        ino = x.stx_ino;
        mode = x.stx_mode;
        dev = ((ulong)x.stx_dev_major << 32) | x.stx_dev_minor;
        return true;
    }

    private static int FirstEndingAfter(List<RefcountRecord> sorted, long block)
    {
        int lo = 0, hi = sorted.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (sorted[mid].PhysEnd <= block) lo = mid + 1;
            else hi = mid;
        }
        return lo;
    }

    private static string KindName(RmapOwnerKind k) => k switch
    {
        RmapOwnerKind.InodeData => "data",
        RmapOwnerKind.InodeXattr => "xattr",
        RmapOwnerKind.Superblock => "superblock",
        RmapOwnerKind.Journal => "journal",
        RmapOwnerKind.Bitmap => "bitmap",
        RmapOwnerKind.InodeTable => "inode table",
        RmapOwnerKind.DirentTable => "dirent table",
        RmapOwnerKind.ExtentTable => "extent table",
        RmapOwnerKind.RmapTable => "rmap table",
        _ => k.ToString().ToLowerInvariant(),
    };

    private static readonly string[] Header = ["PHYS-OFFSET", "LENGTH", "OWNER", "INODE", "FILE-OFFSET", "SHARED", "PATH"];

    /// <summary>
    /// One row per owner record; SHARED is the reference count of file data whose blocks other
    /// extents map too ("-" when not shared). Shared ranges, if any, are summed up below the table.
    /// </summary>
    public static void WriteText(TextWriter output, IReadOnlyList<Owner> owners, IReadOnlyList<Shared>? shared = null)
    {
        if (owners.Count == 0)
        {
            output.WriteLine("no owners in that range (free space)");
            return;
        }
        string N(long v) => v.ToString(CultureInfo.InvariantCulture);
        var rows = new List<string[]> { Header };
        foreach (var o in owners)
            rows.Add([$"{N(o.Physical)}-{N(o.Physical + o.Length - 1)}", N(o.Length), o.Kind, o.Ino == 0 ? "-" : o.Ino.ToString(CultureInfo.InvariantCulture),
                o.FileOffset is long f ? N(f) : "-", o.Refs is ulong refs ? $"x{refs}" : "-", o.Ino == 0 ? "-" : o.Path ?? "(no name)"]);
        var widths = Enumerable.Range(0, Header.Length).Select(c => rows.Max(r => r[c].Length)).ToArray();
        foreach (var r in rows)
            output.WriteLine(string.Join("  ", r.Select((cell, c) => c == r.Length - 1 ? cell : cell.PadRight(widths[c]))).TrimEnd());
        if (shared is { Count: > 0 })
        {
            long bytes = shared.Sum(s => s.Length);
            output.WriteLine();
            output.WriteLine($"shared: {N(bytes)} bytes in {shared.Count} range{(shared.Count == 1 ? "" : "s")} (reference-count records):");
            foreach (var s in shared)
                output.WriteLine($"  {N(s.Physical)}-{N(s.Physical + s.Length - 1)}  {N(s.Length)} bytes mapped by {s.Refs} extents");
        }
    }

    /// <summary>
    /// <c>{"image", "mount" (on a mount only), "owners": [...], "shared": [...]}</c>: an owner of shared blocks has
    /// <c>"refs": N</c>; <c>shared</c> holds the reference-count records (physical, length, refs).
    /// </summary>
    public static void WriteJson(Utf8JsonWriter w, string image, IReadOnlyList<Owner> owners, IReadOnlyList<Shared>? shared = null, string? mount = null)
    {
        w.WriteStartObject();
        w.WriteString("image", image);
        if (mount is not null) w.WriteString("mount", mount);
        w.WriteStartArray("owners");
        foreach (var o in owners)
        {
            w.WriteStartObject();
            w.WriteNumber("physical", o.Physical);
            w.WriteNumber("length", o.Length);
            w.WriteString("kind", o.Kind);
            if (o.Ino == 0) w.WriteNull("inode"); else w.WriteNumber("inode", o.Ino);
            if (o.Path is null) w.WriteNull("path"); else w.WriteString("path", o.Path);
            if (o.FileOffset is long f) w.WriteNumber("file_offset", f); else w.WriteNull("file_offset");
            if (o.Refs is ulong refs) w.WriteNumber("refs", refs);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("shared");
        foreach (var s in shared ?? [])
        {
            w.WriteStartObject();
            w.WriteNumber("physical", s.Physical);
            w.WriteNumber("length", s.Length);
            w.WriteNumber("refs", s.Refs);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }
}
