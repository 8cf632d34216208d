using System.CommandLine;
using System.Text.Json;
using PmemFs.Cli.Flags;
using PmemFs.Cli.Native;
using PmemFs.Cli.Output;

namespace PmemFs.Cli.Commands;

/// <summary>
/// <c>pmemfs lsattr [-R] [-d] [-a] [--json] [FILE...]</c>: lists per-inode flags and the
/// effective DAX state through PMEMFS_IOC_GET_FLAGS, like lsattr(1): a directory argument lists
/// its entries (unless -d), "." by default.
/// </summary>
public static class LsattrCommand
{
    public const string Name = "lsattr";
    private const string Prefix = "pmemfs lsattr: ";

    public sealed record Request(IReadOnlyList<string> Files, bool Recursive, bool DirectoriesThemselves, bool All, bool Json);

    /// <summary>One listed file.</summary>
    public sealed record Entry(string Path, FileType Type, FileFlagReport Flags);

    public static Command Build(CliConsole console)
    {
        var files = new Argument<string[]>("FILE") { Description = "Files and directories on a PmemFs mount (default: the entries of the current directory).", Arity = ArgumentArity.ZeroOrMore };
        files.Validators.Add(result =>
        {
            foreach (var token in result.Tokens)
                if (token.Value.Length > 1 && token.Value[0] == '-')
                    result.AddError($"unknown option '{token.Value}'");
        });
        var recursive = new Option<bool>("-R") { Description = "List subdirectories recursively." };
        var dirs = new Option<bool>("-d") { Description = "List directories like other files, not their entries." };
        var all = new Option<bool>("-a") { Description = "Include entries whose names start with '.'." };
        var json = new Option<bool>("--json") { Description = "Print one JSON array." };
        var command = new Command(Name, "List per-inode flags and effective DAX state of files on a PmemFs mount (like lsattr(1)).")
        {
            files, recursive, dirs, all, json,
        };
        command.SetAction(parsed => Run(console, new Request(
            parsed.GetValue(files) is { Length: > 0 } f ? f : ["."],
            parsed.GetValue(recursive), parsed.GetValue(dirs), parsed.GetValue(all), parsed.GetValue(json))));
        return command;
    }

    public static int Run(CliConsole console, Request request) =>
        CommandGuard.Run(console, Name, ExitCodes.Failure, () =>
        {
            var lister = new Lister(console, request);
            foreach (string file in request.Files) lister.Named(file);
            if (request.Json) WriteJson(console.Out, lister.Listed);
            return lister.Failed ? ExitCodes.Failure : ExitCodes.Ok;
        });

    /// <summary>lsattr's line: flags by long name (or "-"), two spaces, the path, and a note when DAX is not what the flag says.</summary>
    public static string FormatLine(Entry e)
    {
        string? note = e.Flags.DaxNote(e.Type == FileType.Regular);
        return CliConsole.OneLine($"{FlagNames.Format(e.Flags.Flags)}  {e.Path}{(note is null ? "" : $" ({note})")}");
    }

    public static void WriteJson(TextWriter output, IEnumerable<Entry> entries) => Json.Write(output, w =>
    {
        w.WriteStartArray();
        foreach (var e in entries) WriteEntry(w, e);
        w.WriteEndArray();
    });

    private static void WriteEntry(Utf8JsonWriter w, Entry e)
    {
        w.WriteStartObject();
        w.WriteString("path", e.Path);
        w.WriteStartArray("flags");
        foreach (string name in FlagNames.Names(e.Flags.Flags)) w.WriteStringValue(name);
        w.WriteEndArray();
        w.WriteBoolean("daxEffective", e.Flags.DaxEffective);
        w.WriteBoolean("canBeDax", e.Flags.CanBeDax);
        w.WriteBoolean("daxPending", e.Flags.DaxPending);
        w.WriteString("daxMode", e.Flags.DaxMode);
        w.WriteString("storeGranularity", e.Flags.GranularityName);
        w.WriteEndObject();
    }

    /// <summary>The walk: prints text as it goes (errors interleave as in lsattr), collects entries for JSON.</summary>
    private sealed class Lister(CliConsole console, Request request)
    {
        public List<Entry> Listed { get; } = [];
        public bool Failed { get; private set; }

        public void Named(string path)
        {
            int errno = PathKind.Lstat(path, out var type);
            if (errno != 0) { Error(PathKind.StatError(path, errno)); return; }
            if (type == FileType.Directory && !request.DirectoriesThemselves) Directory(path);
            else Show(path, type);
        }

        private void Directory(string dir)
        {
            if (PathKind.TryEntries(dir, out string error) is not { } names)
            {
                Error(error);
                return;
            }
            foreach (string name in names)
            {
                if (name[0] == '.' && !request.All) continue;
                string path = Path.Join(dir, name);
                int errno = PathKind.Lstat(path, out var type);
                if (errno != 0) { Error(PathKind.StatError(path, errno)); continue; }
                // Symlinks and special files have no flags; in a listing they are skipped, not errors.
                if (type is FileType.Symlink or FileType.Other) continue;
                Show(path, type);
                if (type == FileType.Directory && request.Recursive)
                {
                    // lsattr -R's block: a blank line, "DIR:", the entries, a blank line.
                    if (!request.Json)
                    {
                        console.Out.WriteLine();
                        console.Out.WriteLine(CliConsole.OneLine(path) + ":");
                    }
                    Directory(path);
                    if (!request.Json) console.Out.WriteLine();
                }
            }
        }

        private void Show(string path, FileType type)
        {
            FileFlagReport flags = default;
            int errno = type is FileType.Symlink or FileType.Other
                ? LibC.EOPNOTSUPP
                : FlagIoctl.Get(path, followSymlinks: false, out flags);
            if (errno != 0)
            {
                // lsattr(1) really spells it "While".
                Error($"{FlagIoctl.Message(errno)} While reading flags on {path}");
                return;
            }
            var entry = new Entry(path, type, flags);
            Listed.Add(entry);
            if (!request.Json) console.Out.WriteLine(FormatLine(entry));
        }

        private void Error(string message)
        {
            Failed = true;
            console.Error.WriteLine(Prefix + CliConsole.OneLine(message));
        }
    }
}
