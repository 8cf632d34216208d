using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using PmemFs.Abi;
using PmemFs.Cli.Native;
using PmemFs.Cli.Output;
using PmemFs.Daemon;
using PmemFs.Engine;
using PmemFs.Format;
using PmemFs.Media;
using PmemFs.Media.Poison;
using static PmemFs.Cli.Commands.CommandGuard;

namespace PmemFs.Cli.Commands;

/// <summary>
/// <c>pmemfs poison list|inject|clear IMAGE|MOUNT</c> (docs/health.md): the bad ranges of a region
/// with every owner (file and offset, metadata, free space) and what it does about them; poison
/// injected into an emulated region as a failing device would; clearing where the media allows.
/// On a mount through PMEMFS_IOC_POISON (CAP_SYS_ADMIN), owners through PMEMFS_IOC_RMAP; on an
/// unmounted image from the emulated device's list (IMAGE.poison) or the device's own, and the
/// reverse-map table.
/// </summary>
public static unsafe class PoisonCommand
{
    public const string Name = "poison";

    /// <summary>One owner of part of a bad range (<see cref="Kind"/> "free" for space nobody owns).</summary>
    public sealed record Owner(string Kind, long Physical, long Length, ulong Ino, string? Path, long? FileOffset, string State);

    public sealed record Range(long Offset, long Length, List<Owner> Owners);

    public static Command Build(CliConsole console)
    {
        var command = new Command(Name, "List, inject and clear poisoned (bad) ranges of a region, with the files and structures they hit.")
        {
            BuildList(console), BuildInject(console), BuildClear(console),
        };
        return command;
    }

    private static Argument<string> Target() => CommandLine.ImageArgument(
        "An unmounted PmemFs image or /dev/dax device, or a PmemFs mount (its mount point or a path on it).", "IMAGE|MOUNT");

    private static Option<string> RangeOption(string what) => new("--range")
    {
        Description = $"{what} OFFSET:LEN in bytes into the region (or sizes like 1M:4K).",
        HelpName = "OFFSET:LEN",
        Required = true,
    };

    private static Command BuildList(CliConsole console)
    {
        var target = Target();
        var json = new Option<bool>("--json") { Description = "One JSON object: image, mount (on a mount), health, and ranges (offset, length, owners: kind, physical, length, inode, path, file_offset, state)." };
        var command = new Command("list", "Every bad range and its owners (path, inode, file offset; metadata; free space) and what each does about it.") { target, json };
        command.SetAction(parsed => CommandGuard.Run(console, $"{Name} list", ExitCodes.Failure, () =>
        {
            string path = parsed.GetValue(target)!;
            var (mount, image) = Resolve(path, console);
            List<Range> ranges;
            string health;
            if (mount is not null)
            {
                var (bad, state) = ListMounted(mount.Mountpoint);
                health = HealthName(state);
                ranges = WithOwners(bad, (s, l) => RmapCommand.ReadMounted(mount.Mountpoint, s, l).Owners);
            }
            else
            {
                health = "unknown (not mounted)";
                IReadOnlyList<BadRange> bad;
                using (var media = PmemMedia.Open(image, readOnly: true)) bad = EmulatedPoisonMedia.Attach(media).BadRanges;
                var table = bad.Count == 0 ? null : RmapCommand.Read(image);
                ranges = WithOwners(bad, (s, l) => table!.Owners.Where(o => o.Physical < s + l && s < o.Physical + o.Length).ToList());
            }
            if (parsed.GetValue(json)) Json.Write(console.Out, w => WriteJson(w, image, mount?.Mountpoint, health, ranges));
            else WriteText(console.Out, health, ranges);
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command BuildInject(CliConsole console)
    {
        var target = Target();
        var range = RangeOption("Poison");
        range.Required = false;
        var quiet = new Option<bool>("--quiet") { Description = "On a mount: do not tell the file system; only a read that touches the range finds it (poison that appears under a mounted file system)." };
        var usc = new Option<bool>("--unsafe-shutdown") { Description = "Unmounted emulated image: count one unsafe shutdown, as a device that lost power without flushing would (the next mount sees the count change)." };
        var command = new Command("inject", "Make a range of an emulated region bad, durably (IMAGE.poison), as a failing device would: reads of it fail from then on.") { target, range, quiet, usc };
        command.SetAction(parsed => CommandGuard.Run(console, $"{Name} inject", ExitCodes.Failure, () =>
        {
            string path = parsed.GetValue(target)!;
            string? rangeText = parsed.GetValue(range);
            bool countShutdown = parsed.GetValue(usc);
            if (rangeText is null && !countShutdown) throw Fail("say what to inject: --range OFFSET:LEN, or --unsafe-shutdown");
            var (mount, image) = Resolve(path, console);
            if (mount is not null)
            {
                if (countShutdown) throw Fail($"{image}: mounted on {mount.Mountpoint}: an unsafe shutdown is counted on an unmounted image (the mount reads the count)");
                var (offset, length) = RmapCommand.ParseRange(rangeText);
                Call(mount.Mountpoint, PmemFsPoisonAbi.OpInject, parsed.GetValue(quiet) ? PmemFsPoisonAbi.FlagQuiet : 0, offset, length);
                console.Out.WriteLine($"{mount.Mountpoint}: poison injected at region bytes {new BadRange(offset, length)}{(parsed.GetValue(quiet) ? " (quiet: found when touched)" : "")}");
                return ExitCodes.Ok;
            }
            using var imageLock = ImageUse.LockForWriting(image);
            using var media = PmemMedia.Open(image, readOnly: true);
            if (media.IsDeviceDax) throw Fail($"{image}: a real device: its poison comes from the hardware (ndctl inject-error injects it there)");
            var state = EmulatedDeviceState.Load(EmulatedDeviceState.PathFor(image));
            if (rangeText is not null)
            {
                var (offset, length) = RmapCommand.ParseRange(rangeText);
                if (offset < 0 || length <= 0 || offset > media.Size - length) throw Fail($"{image}: range {new BadRange(offset, length)} is not inside the region ({media.Size} bytes)");
                state.Inject(offset, length);
                console.Out.WriteLine($"{image}: poison injected at region bytes {BadRange.InSectors(offset, length)} (kept in {state.Path})");
            }
            if (countShutdown)
            {
                state.CountUnsafeShutdown();
                console.Out.WriteLine($"{image}: unsafe shutdown count is now {state.UnsafeShutdownCount}");
            }
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command BuildClear(CliConsole console)
    {
        var target = Target();
        var range = RangeOption("Clear");
        var discard = new Option<bool>("--discard-data") { Description = "Also where a file's data lies: that part of the file then reads zeros (its old contents are lost anyway)." };
        var command = new Command("clear", "Clear poison where the media allows: the range reads zeros afterwards. Free space always; file data with --discard-data; metadata never (pmemfs fsck --repair rewrites it).") { target, range, discard };
        command.SetAction(parsed => CommandGuard.Run(console, $"{Name} clear", ExitCodes.Failure, () =>
        {
            string path = parsed.GetValue(target)!;
            var (offset, length) = RmapCommand.ParseRange(parsed.GetValue(range));
            var (mount, image) = Resolve(path, console);
            if (mount is not null)
            {
                Call(mount.Mountpoint, PmemFsPoisonAbi.OpClear, parsed.GetValue(discard) ? PmemFsPoisonAbi.FlagDiscardData : 0, offset, length);
                console.Out.WriteLine($"{mount.Mountpoint}: poison cleared at region bytes {new BadRange(offset, length)}");
                return ExitCodes.Ok;
            }
            using var imageLock = ImageUse.LockForWriting(image);
            using var media = PmemMedia.Open(image);
            FileSystem fs;
            try { fs = FileSystem.Mount(EmulatedPoisonMedia.Attach(media), new FileSystemOptions { Name = image }); }
            catch (ImageFormatException e) { throw Fail($"{image}: cannot mount it to find the owners ({e.Message})"); }
            using (fs)
            {
                var errno = fs.ClearPoison(offset, length, parsed.GetValue(discard));
                if (errno.Failed) throw Fail(ClearRefusal(image, errno));
            }
            console.Out.WriteLine($"{image}: poison cleared at region bytes {new BadRange(offset, length)}");
            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>The mount <paramref name="path"/> is on, or the mount serving the image it names, else the image itself.</summary>
    private static (MountEntry? Mount, string Image) Resolve(string path, CliConsole console)
    {
        var mount = RmapCommand.MountOf(path);
        if (mount is null && Directory.Exists(path)) throw Fail($"{path}: not on a PmemFs mount (poison reads a PmemFs mount, or an unmounted image)");
        if (mount is null && MountTable.FindByImage(MountLookup.RealPath(path) ?? path) is { } serving)
        {
            console.Error.WriteLine($"{path}: mounted on {serving.Mountpoint}: asking the mount");
            mount = serving;
        }
        if (mount is null && !File.Exists(path)) throw Fail($"{path}: no such image or mount");
        return (mount, mount?.Source ?? path);
    }

    private static (List<BadRange> Ranges, uint Health) ListMounted(string mountpoint)
    {
        var all = new List<BadRange>();
        var page = Call(mountpoint, PmemFsPoisonAbi.OpList, 0, 0, 0);
        uint health = page.HealthState;
        while (true)
        {
            foreach (var r in page.Ranges[..(int)Math.Min(page.Count, (uint)PmemFsPoisonAbi.Entries)]) all.Add(new BadRange((long)r.Offset, (long)r.Length));
            if (page.More == 0 || page.Count == 0) break;
            page = Call(mountpoint, PmemFsPoisonAbi.OpList, 0, all[^1].End, 0);
        }
        return (all, health);
    }

    private static PmemFsPoison Call(string mountpoint, uint op, uint flags, long offset, long length)
    {
        int fd = LibC.open(mountpoint, LibC.O_RDONLY | LibC.O_NONBLOCK | LibC.O_CLOEXEC);
        if (fd < 0) throw Fail($"{mountpoint}: {Flags.FlagIoctl.Message(Marshal.GetLastPInvokeError())}");
        try
        {
            var args = new PmemFsPoison { Version = PmemFsPoisonAbi.Version, Op = op, Flags = flags, Offset = (ulong)offset, Length = (ulong)length };
            if (LibC.ioctl(fd, PmemFsPoisonAbi.Poison, &args) < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                throw Fail(errno switch
                {
                    LibC.ENOTTY => $"{mountpoint}: not a PmemFs mount (or its daemon is older than pmemfs poison)",
                    1 when op != PmemFsPoisonAbi.OpClear => $"{mountpoint}: poison shows where files live and changes what they read: it needs CAP_SYS_ADMIN (run it as root)",
                    _ when op == PmemFsPoisonAbi.OpClear => ClearRefusal(mountpoint, new Errno(errno)),
                    95 => $"{mountpoint}: poison can only be injected into an emulated region (an image file mounted read-write); a real device's poison comes from the hardware",
                    22 => $"{mountpoint}: range [{offset}, +{length}) is not inside the region",
                    _ => $"{mountpoint}: {Flags.FlagIoctl.Message(errno)}",
                });
            }
            return args;
        }
        finally { LibC.close(fd); }
    }

    private static string ClearRefusal(string where, Errno errno) => errno.Value switch
    {
        16 => $"{where}: a file's data lies there; clearing makes that part read zeros: add --discard-data to do it (or overwrite, zero or punch that range of the file, which clears it too)",
        1 => $"{where}: metadata lies there: run pmemfs fsck --repair on the unmounted image, which rewrites it and clears the poison (or this needs CAP_SYS_ADMIN)",
        95 => $"{where}: this media cannot clear poison",
        30 => $"{where}: mounted read-only",
        22 => $"{where}: the range is not inside the region",
        _ => $"{where}: {errno}",
    };

    private static string HealthName(uint state) => state switch
    {
        PmemFsPoisonAbi.HealthOk => "ok",
        PmemFsPoisonAbi.HealthWritesRefused => "writes refused (run pmemfs fsck --repair)",
        PmemFsPoisonAbi.HealthShutDown => "shut down (unmount and mount again)",
        _ => $"state {state}",
    };

    /// <summary>Each bad range with its owners clipped to it, and the parts nobody owns as free space.</summary>
    public static List<Range> WithOwners(IEnumerable<BadRange> bad, Func<long, long, List<RmapCommand.Owner>> ownersOf)
    {
        var result = new List<Range>();
        foreach (var r in bad)
        {
            var owners = new List<Owner>();
            BadRange[] free = [r];
            foreach (var o in ownersOf(r.Offset, r.Length))
            {
                long s = Math.Max(o.Physical, r.Offset), e = Math.Min(o.Physical + o.Length, r.End);
                if (s >= e) continue;
                long? fileOffset = o.FileOffset is long f && o.Kind == "data" ? f + (s - o.Physical) : null;
                owners.Add(new Owner(o.Kind, s, e - s, o.Ino, o.Path, fileOffset, StateOf(o.Kind)));
                free = BadRange.Subtract(free, s, e - s);
            }
            foreach (var f in free) owners.Add(new Owner("free", f.Offset, f.Length, 0, null, null, StateOf("free")));
            result.Add(new Range(r.Offset, r.Length, [.. owners.OrderBy(o => o.Physical)]));
        }
        return result;
    }

    private static string StateOf(string kind) => kind switch
    {
        "data" => "reads EIO until overwritten, zeroed or punched",
        "xattr" => "xattrs served from memory; rewritten by the next xattr change",
        "free" => "withheld from the allocator",
        "superblock" => "rewritten from the other copy by a read-write mount",
        _ => "writes refused until pmemfs fsck --repair",
    };

    private static readonly string[] Header = ["REGION-BYTES", "LENGTH", "OWNER", "INODE", "FILE-OFFSET", "PATH", "STATE"];

    public static void WriteText(TextWriter output, string health, IReadOnlyList<Range> ranges)
    {
        output.WriteLine($"health: {health}");
        if (ranges.Count == 0)
        {
            output.WriteLine("no bad ranges");
            return;
        }
        output.WriteLine($"{ranges.Count} bad range{(ranges.Count == 1 ? "" : "s")}, {ranges.Sum(r => r.Length).ToString(CultureInfo.InvariantCulture)} bytes:");
        string N(long v) => v.ToString(CultureInfo.InvariantCulture);
        var rows = new List<string[]> { Header };
        foreach (var r in ranges)
            foreach (var o in r.Owners)
                rows.Add([$"{N(o.Physical)}-{N(o.Physical + o.Length - 1)}", N(o.Length), o.Kind, o.Ino == 0 ? "-" : o.Ino.ToString(CultureInfo.InvariantCulture),
                    o.FileOffset is long f ? N(f) : "-", o.Ino == 0 ? "-" : o.Path ?? "(no name)", o.State]);
        var widths = Enumerable.Range(0, Header.Length).Select(c => rows.Max(r => r[c].Length)).ToArray();
        foreach (var r in rows)
            output.WriteLine(string.Join("  ", r.Select((cell, c) => c == r.Length - 1 ? cell : cell.PadRight(widths[c]))).TrimEnd());
    }

    public static void WriteJson(Utf8JsonWriter w, string image, string? mount, string health, IReadOnlyList<Range> ranges)
    {
        w.WriteStartObject();
        w.WriteString("image", image);
        if (mount is not null) w.WriteString("mount", mount);
        w.WriteString("health", health);
        w.WriteStartArray("ranges");
        foreach (var r in ranges)
        {
            w.WriteStartObject();
            w.WriteNumber("offset", r.Offset);
            w.WriteNumber("length", r.Length);
            w.WriteStartArray("owners");
            foreach (var o in r.Owners)
            {
                w.WriteStartObject();
                w.WriteString("kind", o.Kind);
                w.WriteNumber("physical", o.Physical);
                w.WriteNumber("length", o.Length);
                if (o.Ino == 0) w.WriteNull("inode"); else w.WriteNumber("inode", o.Ino);
                if (o.Path is null) w.WriteNull("path"); else w.WriteString("path", o.Path);
                if (o.FileOffset is long f) w.WriteNumber("file_offset", f); else w.WriteNull("file_offset");
                w.WriteString("state", o.State);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }
}
