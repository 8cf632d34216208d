using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using PmemFs.Abi;
using PmemFs.Cli.Native;
using PmemFs.Cli.Output;
using PmemFs.Engine;
using PmemFs.Engine.Mapping;
using static PmemFs.Cli.Commands.CommandGuard;

namespace PmemFs.Cli.Commands;

/// <summary>
/// <c>pmemfs bmap FILE [--json]</c>: where a file on a mount lives in the region, extent by
/// extent, in the spirit of <c>xfs_bmap -v</c> and <c>filefrag -v</c> (FIEMAP does not reach a
/// FUSE daemon, so this asks PMEMFS_IOC_BMAP). Any user who can open the file may ask.
/// <c>pmemfs bmap IMAGE --path /P</c>: the same offline, from a read-only view of an unmounted image.
/// </summary>
public static unsafe class BmapCommand
{
    public const string Name = "bmap";

    private const ulong TwoMiB = 2 << 20;

    /// <summary>One piece of the forward map, in bytes; <see cref="Physical"/> null for a hole.</summary>
    public sealed record Extent(ulong Logical, ulong? Physical, ulong Length, IReadOnlyList<string> Flags);

    public static Command Build(CliConsole console)
    {
        var file = new Argument<string>("FILE") { Description = "A regular file on a PmemFs mount." };
        var json = new Option<bool>("--json") { Description = "Print one JSON object: path, size and an extents array (logical, physical, length in bytes; flags)." };
        var inside = new Option<string?>("--path") { Description = "FILE is an unmounted image: show the file at this path inside it (from the image's root, e.g. /dir/file).", HelpName = "PATH" };
        var command = new Command(Name, "Show where a file's bytes are in the pmem region: logical offset, physical offset, length, flags (hole, unwritten, shared, 2mib-aligned).") { file, json, inside };
        command.SetAction(parsed => CommandGuard.Run(console, Name, ExitCodes.Failure, () =>
        {
            string path = parsed.GetValue(file)!;
            List<Extent> extents;
            ulong size;
            if (parsed.GetValue(inside) is { } innerPath)
            {
                extents = ReadOffline(path, innerPath, out size);
                path = $"{path}:{innerPath}";
                if (parsed.GetValue(json)) Json.Write(console.Out, w => WriteJson(w, path, size, extents));
                else WriteText(console.Out, path, extents);
                return ExitCodes.Ok;
            }
            int errno = Read(path, out extents, out size);
            if (errno != 0)
            {
                throw Fail(errno switch
                {
                    LibC.ENOTTY => $"{path}: not a file of a PmemFs mount (or its daemon is older than pmemfs bmap)",
                    22 => $"{path}: not a regular file",
                    _ => $"{path}: {Flags.FlagIoctl.Message(errno)}",
                });
            }
            if (parsed.GetValue(json)) Json.Write(console.Out, w => WriteJson(w, path, size, extents));
            else WriteText(console.Out, path, extents);
            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>The whole map of <paramref name="path"/> (every page of PMEMFS_IOC_BMAP). Returns an errno, 0 on success.</summary>
    public static int Read(string path, out List<Extent> extents, out ulong size)
    {
        extents = [];
        size = 0;
        int fd = LibC.open(path, LibC.O_RDONLY | LibC.O_NONBLOCK | LibC.O_CLOEXEC);
        if (fd < 0) return Marshal.GetLastPInvokeError();
        try
        {
            ulong at = 0;
            for (;;)
            {
                var map = new PmemFsMap { Version = PmemFsMapAbi.Version, Offset = at, Length = PmemFsLeaseAbi.LengthToEnd };
                if (LibC.ioctl(fd, PmemFsMapAbi.Bmap, &map) < 0) return Marshal.GetLastPInvokeError();
                size = map.FileSize;
                var page = map.Extents[..(int)Math.Min(map.Count, (uint)PmemFsMapAbi.Extents)];
                foreach (var e in page) extents.Add(ToExtent(e.FileOffset, e.State == PmemFsMapAbi.ExtentHole ? null : e.PhysOffset, e.Length, e.State));
                // Done once a page reaches the file's last block (the daemon's "done" for a to-the-end range is INT64_MAX).
                if (map.Count == 0 || map.NextOffset <= at || map.NextOffset >= RoundUp(size)) return 0;
                at = map.NextOffset;
            }
        }
        finally { LibC.close(fd); }
    }

    /// <summary>The map of <paramref name="innerPath"/> inside the unmounted <paramref name="image"/>, from a read-only view.</summary>
    public static List<Extent> ReadOffline(string image, string innerPath, out ulong size)
    {
        using var offline = OfflineImage.Open(image);
        var fs = offline.Fs;
        ulong ino = Format.FormatConstants.RootIno;
        var errno = fs.GetAttr(ino, out var attr);
        foreach (var name in innerPath.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (errno.Failed) break;
            errno = fs.Lookup(ino, System.Text.Encoding.UTF8.GetBytes(name), out attr);
            ino = attr.Ino;
        }
        if (errno.Failed) throw Fail($"{image}: {innerPath}: {(errno == Errno.ENOENT ? "no such file in the image" : errno.ToString())}");
        if ((attr.Mode & 0xF000) != 0x8000) throw Fail($"{image}: {innerPath}: not a regular file");
        size = (ulong)attr.Size;
        var extents = new List<Extent>();
        Span<MappedExtent> page = new MappedExtent[256];
        for (long at = 0; size > 0;)
        {
            errno = fs.GetExtentMap(ino, at, long.MaxValue - at, page, out int count, out long next);
            if (errno.Failed) throw Fail($"{image}: {innerPath}: extent map: {errno}");
            foreach (var e in page[..count])
                extents.Add(ToExtent((ulong)e.FileOffset, e.State == ExtentState.Hole ? null : (ulong)e.PhysicalOffset, (ulong)e.Length, (uint)e.State));
            if (next < 0 || count == 0) break;
            at = next;
        }
        return extents;
    }

    private static ulong RoundUp(ulong size) => (size + 4095) / 4096 * 4096;

    /// <summary>One piece with its flags; <paramref name="state"/> is a PMEMFS_EXTENT_* value (the engine's ExtentState has the same numbers).</summary>
    private static Extent ToExtent(ulong logical, ulong? physical, ulong length, uint state)
    {
        var flags = new List<string>();
        if (physical is null) flags.Add("hole");
        if (state == PmemFsMapAbi.ExtentUnwritten) flags.Add("unwritten");
        if (state == PmemFsMapAbi.ExtentShared) flags.Add("shared");
        if (state == PmemFsMapAbi.ExtentPoisoned) flags.Add("poisoned");
        if (physical is ulong p && p % TwoMiB == 0 && logical % TwoMiB == 0 && length >= TwoMiB) flags.Add("2mib-aligned");
        return new Extent(logical, physical, length, flags);
    }

    private static readonly string[] Header = ["EXT", "FILE-OFFSET", "PHYS-OFFSET", "LENGTH", "FLAGS"];

    public static void WriteText(TextWriter output, string path, IReadOnlyList<Extent> extents)
    {
        output.WriteLine($"{path}:");
        if (extents.Count == 0)
        {
            output.WriteLine("  no extents (empty file)");
            return;
        }
        string N(ulong v) => v.ToString(CultureInfo.InvariantCulture);
        var rows = new List<string[]> { Header };
        for (int i = 0; i < extents.Count; i++)
        {
            var e = extents[i];
            rows.Add([N((ulong)i), $"{N(e.Logical)}-{N(e.Logical + e.Length - 1)}",
                e.Physical is ulong p ? $"{N(p)}-{N(p + e.Length - 1)}" : "hole", N(e.Length), e.Flags.Count == 0 ? "-" : string.Join(',', e.Flags)]);
        }
        var widths = Enumerable.Range(0, Header.Length).Select(c => rows.Max(r => r[c].Length)).ToArray();
        foreach (var r in rows)
            output.WriteLine("  " + string.Join("  ", r.Select((cell, c) => c == r.Length - 1 ? cell : cell.PadRight(widths[c]))).TrimEnd());
    }

    public static void WriteJson(Utf8JsonWriter w, string path, ulong size, IReadOnlyList<Extent> extents)
    {
        w.WriteStartObject();
        w.WriteString("path", path);
        w.WriteNumber("size", size);
        w.WriteStartArray("extents");
        foreach (var e in extents)
        {
            w.WriteStartObject();
            w.WriteNumber("logical", e.Logical);
            if (e.Physical is ulong p) w.WriteNumber("physical", p); else w.WriteNull("physical");
            w.WriteNumber("length", e.Length);
            w.WriteStartArray("flags");
            foreach (var f in e.Flags) w.WriteStringValue(f);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }
}
