using System.Text;
using PmemFs.Cli.Output;
using PmemFs.Engine;
using PmemFs.Format;

namespace PmemFs.Cli.Commands;

/// <summary>
/// What info IMAGE says of damaged metadata (docs/health.md, "Damaged metadata"): the files a
/// read-only mount made sick (inode, a path to it where one still leads there, why) and the
/// slots it quarantined. The same damage is what fsck reports as problems.
/// </summary>
public sealed record InfoDamage(IReadOnlyList<InfoDamage.SickFile> Sick, IReadOnlyList<InfoDamage.Slot> Quarantined)
{
    public sealed record SickFile(ulong Ino, string? Path, string Problem);

    public sealed record Slot(string Table, long Index, string Problem);

    /// <summary>Lists at most this many of each in text (JSON gets them all).</summary>
    private const int Shown = 20;

    public static InfoDamage Of(FileSystem fs)
    {
        var sick = fs.Health.SickInodes;
        var paths = sick.Count == 0 ? new InodePaths() : Names(fs);
        return new InfoDamage(
            sick.Select(s => new SickFile(s.Ino, paths.PathOf(s.Ino), s.Problem)).ToList(),
            fs.Health.Quarantined.Select(q => new Slot(q.Table, q.Slot, q.Problem)).ToList());
    }

    /// <summary>A name for every inode the tree reaches (sick directories cannot be listed: what is under them has none).</summary>
    private static InodePaths Names(FileSystem fs)
    {
        var names = new InodePaths();
        var queue = new Queue<ulong>([FormatConstants.RootIno]);
        while (queue.Count > 0 && names.Count < 1_000_000)
        {
            ulong dir = queue.Dequeue();
            fs.ReadDirectory(dir, 0, item =>
            {
                string name = Encoding.UTF8.GetString(item.Name);
                if (name is "." or ".." || item.Ino == FormatConstants.RootIno || !names.Add(item.Ino, dir, name)) return true;
                if (item.Type == FileTypes.ToDirentType(FileTypes.Directory)) queue.Enqueue(item.Ino);
                return true;
            });
        }
        return names;
    }

    public void WriteText(TextWriter output, string image)
    {
        var w = new FieldWriter(output, nameWidth: 28, indent: "  ");
        w.Field("sick files", Sick.Count == 0 ? "none" : $"{Sick.Count} (every operation on them answers EUCLEAN; pmemfs fsck --repair {image} mends them)");
        foreach (var s in Sick.Take(Shown))
            output.WriteLine($"    inode {s.Ino} {s.Path ?? "(no path)"}: {CliConsole.OneLine(s.Problem)}");
        if (Sick.Count > Shown) output.WriteLine($"    ... {Sick.Count - Shown} more (--json lists all)");
        w.Field("quarantined slots", Quarantined.Count == 0 ? "none" : $"{Quarantined.Count} (damaged records: their slots are never allocated again)");
        foreach (var q in Quarantined.Take(Shown))
            output.WriteLine($"    {q.Table} slot {q.Index}: {CliConsole.OneLine(q.Problem)}");
        if (Quarantined.Count > Shown) output.WriteLine($"    ... {Quarantined.Count - Shown} more (--json lists all)");
    }

    public void WriteJson(System.Text.Json.Utf8JsonWriter w)
    {
        w.WriteStartArray("sickFiles");
        foreach (var s in Sick)
        {
            w.WriteStartObject();
            w.WriteNumber("inode", s.Ino);
            if (s.Path is null) w.WriteNull("path");
            else w.WriteString("path", s.Path);
            w.WriteString("problem", s.Problem);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("quarantinedSlots");
        foreach (var q in Quarantined)
        {
            w.WriteStartObject();
            w.WriteString("table", q.Table);
            w.WriteNumber("slot", q.Index);
            w.WriteString("problem", q.Problem);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }
}
