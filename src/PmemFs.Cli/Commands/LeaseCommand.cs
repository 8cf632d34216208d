using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using PmemFs.Cli.Leases;
using PmemFs.Cli.Native;
using PmemFs.Cli.Output;
using PmemFs.Daemon;
using static PmemFs.Cli.Commands.CommandGuard;

namespace PmemFs.Cli.Commands;

/// <summary>
/// <c>pmemfs lease list MOUNT [--json]</c>: every layout lease and pin of a mount, like
/// /proc/locks (docs/leases.md). Any user may list; the holder's command and the file's path
/// come from /proc and are shown where this user may read them.
/// </summary>
public static class LeaseCommand
{
    public const string Name = "lease";

    public static Command Build(CliConsole console)
    {
        var mount = new Argument<string>("MOUNT") { Description = "A PmemFs mount point (or any path on the mount)." };
        var json = new Option<bool>("--json") { Description = "Print one JSON object." };
        var list = new Command("list", "Show every layout lease and pin of a mount: holder pid and command, file, range, mode, pins, recall state and deadline.") { mount, json };
        list.SetAction(parsed => CommandGuard.Run(console, Name, ExitCodes.Failure, () =>
        {
            string path = parsed.GetValue(mount)!;
            string? real = MountLookup.RealPath(path) ?? throw Fail($"{path}: no such file or directory");
            var entry = MountTable.Containing(real, MountTable.Read());
            if (entry is null || !entry.IsPmemFs) throw Fail($"{path}: not on a PmemFs mount");
            int errno = LeaseList.Read(path, thisFileOnly: false, entry.Mountpoint, out var leases, out var now);
            if (errno == LibC.ENOTTY) throw Fail($"{path}: its daemon does not answer the lease ioctls (an older pmemfs?)");
            if (errno != 0) throw Fail($"{path}: cannot list leases: {Flags.FlagIoctl.Message(errno)}");
            if (parsed.GetValue(json)) Json.Write(console.Out, w => WriteJson(w, entry.Mountpoint, leases, now));
            else WriteText(console.Out, leases, now);
            return ExitCodes.Ok;
        }));
        return new Command(Name, "Layout leases (direct access).") { list };
    }

    private static readonly string[] Header = ["ID", "PID", "COMMAND", "MODE", "STATE", "DEADLINE", "RANGE", "PINS", "INODE", "PATH"];

    /// <summary>One line per lease, /proc/locks style: its pins (byte ranges, inclusive) in the PINS column.</summary>
    public static void WriteText(TextWriter output, IReadOnlyList<LeaseReport> leases, DateTimeOffset now)
    {
        if (leases.Count == 0)
        {
            output.WriteLine("no leases");
            return;
        }
        var rows = new List<string[]> { Header };
        foreach (var l in leases)
        {
            rows.Add([
                l.Id.ToString(CultureInfo.InvariantCulture), l.Pid.ToString(CultureInfo.InvariantCulture), l.Command ?? "?",
                l.Mode, l.State, l.DeadlineText(now), l.RangeText,
                l.Pins.Count == 0 ? "-" : string.Join(',', l.Pins.Select(p => p.RangeText)),
                l.Ino.ToString(CultureInfo.InvariantCulture), l.Path ?? "?",
            ]);
        }
        var widths = Enumerable.Range(0, rows[0].Length).Select(c => rows.Max(r => r[c].Length)).ToArray();
        foreach (var r in rows)
            output.WriteLine(string.Join("  ", r.Select((cell, c) => c == r.Length - 1 ? cell : cell.PadRight(widths[c]))).TrimEnd());
    }

    public static void WriteJson(Utf8JsonWriter w, string mountpoint, IReadOnlyList<LeaseReport> leases, DateTimeOffset now)
    {
        w.WriteStartObject();
        w.WriteString("mount", mountpoint);
        w.WriteString("now", now);
        WriteLeasesArray(w, "leases", leases);
        w.WriteEndObject();
    }

    /// <summary>The "leases" array, shared with info FILE --json.</summary>
    public static void WriteLeasesArray(Utf8JsonWriter w, string name, IReadOnlyList<LeaseReport> leases)
    {
        w.WriteStartArray(name);
        foreach (var l in leases)
        {
            w.WriteStartObject();
            w.WriteNumber("id", l.Id);
            w.WriteNumber("pid", l.Pid);
            if (l.Command is null) w.WriteNull("command"); else w.WriteString("command", l.Command);
            w.WriteNumber("inode", l.Ino);
            if (l.Path is null) w.WriteNull("path"); else w.WriteString("path", l.Path);
            w.WriteString("mode", l.Mode);
            w.WriteString("state", l.State);
            w.WriteNumber("offset", l.Offset);
            if (l.Length is ulong n) w.WriteNumber("length", n); else w.WriteNull("length");
            w.WriteString("granted", l.Granted);
            if (l.Deadline is { } d) w.WriteString("deadline", d); else w.WriteNull("deadline");
            w.WriteStartArray("pins");
            foreach (var p in l.Pins)
            {
                w.WriteStartObject();
                w.WriteNumber("id", p.Id);
                w.WriteNumber("offset", p.Offset);
                if (p.Length is ulong pn) w.WriteNumber("length", pn); else w.WriteNull("length");
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }
}
