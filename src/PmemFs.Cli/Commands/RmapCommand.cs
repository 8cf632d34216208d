using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using PmemFs.Cli.Output;
using PmemFs.Format;
using static PmemFs.Cli.Commands.CommandGuard;

namespace PmemFs.Cli.Commands;

/// <summary>
/// <c>pmemfs rmap IMAGE [--range START:LEN] [--json]</c>: who owns each physical range of an
/// unmounted image (a file's data or xattrs, with its inode, a path and the file offset; or a
/// metadata structure), read from the reverse map, in the spirit of <c>xfs_io -c fsmap</c>.
/// </summary>
public static class RmapCommand
{
    public const string Name = "rmap";

    /// <summary>One reverse-map record in bytes; <see cref="Ino"/> 0 for metadata.</summary>
    public sealed record Owner(long Physical, long Length, string Kind, ulong Ino, string? Path, long? FileOffset);

    public static Command Build(CliConsole console)
    {
        var image = CommandLine.ImageArgument("An unmounted PmemFs image or /dev/dax device.");
        var range = new Option<string?>("--range") { Description = "Only records overlapping START:LEN (bytes, or sizes like 2M:64K).", HelpName = "START:LEN" };
        var json = new Option<bool>("--json") { Description = "Print one JSON object: image and an owners array (physical, length in bytes; kind, inode, path, file_offset)." };
        var command = new Command(Name, "Show who owns each physical range of an image (file data, xattrs, metadata), from the reverse map.") { image, range, json };
        command.SetAction(parsed => CommandGuard.Run(console, Name, ExitCodes.Failure, () =>
        {
            string path = parsed.GetValue(image)!;
            (long start, long length) = ParseRange(parsed.GetValue(range));
            if (Directory.Exists(path)) throw Fail($"{path}: a directory; rmap reads an unmounted image (the mounted form is not built yet: unmount it and name the image)");
            var owners = Read(path).Where(o => o.Physical < start + length && start < o.Physical + o.Length).ToList();
            if (parsed.GetValue(json)) Json.Write(console.Out, w => WriteJson(w, path, owners));
            else WriteText(console.Out, owners);
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static (long, long) ParseRange(string? text)
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
    public static List<Owner> Read(string image)
    {
        using var offline = OfflineImage.Open(image);
        var media = offline.Media;
        var g = offline.Fs.Geometry;
        var names = new Dictionary<ulong, (ulong Parent, string Name)>();
        for (long slot = 0; slot < g.DirentCount; slot++)
            if (DiskDirent.VerifyRead(media.Read(g.DirentOffset(slot), DiskDirent.Size), slot, out var d).IsOk)
                names.TryAdd(d.Child, (d.Parent, Encoding.UTF8.GetString(d.Name)));
        var owners = new List<Owner>();
        for (long slot = 0; slot < g.RmapCount; slot++)
        {
            if (!DiskRmap.VerifyRead(media.Read(g.RmapOffset(slot), DiskRmap.Size), slot, out var r).IsOk) continue;
            long bs = FormatConstants.BlockSize;
            owners.Add(r.IsMetadata
                ? new Owner(r.PhysBlock * bs, r.BlockCount * bs, KindName(r.Kind), 0, null, null)
                : new Owner(r.PhysBlock * bs, r.BlockCount * bs, KindName(r.Kind), r.Owner, PathOf(r.Owner, names), r.FileBlock * bs));
        }
        owners.Sort((a, b) => a.Physical.CompareTo(b.Physical));
        return owners;
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

    /// <summary>"/a/b" by the first name found for each inode up to the root; null when no name leads there (an open-unlinked file).</summary>
    private static string? PathOf(ulong ino, Dictionary<ulong, (ulong Parent, string Name)> names)
    {
        var parts = new List<string>();
        for (int depth = 0; ino != FormatConstants.RootIno; depth++)
        {
            if (depth > 4096 || !names.TryGetValue(ino, out var n)) return null;
            parts.Add(n.Name);
            ino = n.Parent;
        }
        parts.Reverse();
        return "/" + string.Join('/', parts);
    }

    private static readonly string[] Header = ["PHYS-OFFSET", "LENGTH", "OWNER", "INODE", "FILE-OFFSET", "PATH"];

    public static void WriteText(TextWriter output, IReadOnlyList<Owner> owners)
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
                o.FileOffset is long f ? N(f) : "-", o.Ino == 0 ? "-" : o.Path ?? "(no name)"]);
        var widths = Enumerable.Range(0, Header.Length).Select(c => rows.Max(r => r[c].Length)).ToArray();
        foreach (var r in rows)
            output.WriteLine(string.Join("  ", r.Select((cell, c) => c == r.Length - 1 ? cell : cell.PadRight(widths[c]))).TrimEnd());
    }

    public static void WriteJson(Utf8JsonWriter w, string image, IReadOnlyList<Owner> owners)
    {
        w.WriteStartObject();
        w.WriteString("image", image);
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
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }
}
