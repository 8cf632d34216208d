using System.CommandLine;
using System.Text.Json;
using PmemFs.Check;
using PmemFs.Cli.Output;
using PmemFs.Format;
using PmemFs.Media;
using static PmemFs.Cli.Commands.CommandGuard;

namespace PmemFs.Cli.Commands;

/// <summary>
/// <c>pmemfs fsck IMAGE</c>: checks a file system without changing a byte of it (the image is
/// mapped privately; journal replay and repairs happen in this process's copy only). Exit
/// codes follow fsck(8): 0 clean, 4 problems left uncorrected, 8 operational error, 16 usage.
/// </summary>
public static class FsckCommand
{
    public const string Name = "fsck";

    public sealed record Request(string Image, bool Json, bool Verbose, bool Quiet, bool Progress);

    public static Command Build(CliConsole console)
    {
        var image = CommandLine.ImageArgument("Image file or device-DAX device to check (opened read-only).");
        var json = new Option<bool>("--json") { Description = "Print one JSON object: clean, problems, notes, stats." };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Print statistics and ask the checker for detail." };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Print only the problems (the exit code tells the rest)." };
        var progress = new Option<bool>("--progress") { Description = "Show progress on stderr even when it is not a terminal." };
        var command = new Command(Name, "Check a PmemFs file system (read-only). Exit: 0 clean, 4 problems found, 8 operational error, 16 usage error.")
        {
            image, json, verbose, quiet, progress,
        };
        command.SetAction(parsed => Run(console, new Request(
            parsed.GetValue(image)!, parsed.GetValue(json), parsed.GetValue(verbose), parsed.GetValue(quiet), parsed.GetValue(progress))));
        return command;
    }

    public static int Run(CliConsole console, Request request) =>
        CommandGuard.Run(console, Name, ExitCodes.FsckOperational, () => Check(console, request));

    private static int Check(CliConsole console, Request request)
    {
        string path = request.Image;
        var file = ImageFile.Inspect(path);
        if (file.UnusableReason is { } reason) throw Fail($"{path}: {reason}");

        FsckReport report;
        using var inUse = ImageUse.LockForReading(path);
        using (var media = PmemMedia.Open(path, readOnly: true))
        {
            var reporter = ProgressReporter.Create(console, Name, request.Progress, request.Quiet || request.Json);
            try
            {
                report = Fsck.Check(media, new FsckOptions { Verbose = request.Verbose },
                    reporter is null ? null : new PhaseProgress(reporter));
            }
            catch (ImageFormatException e) when (e.Message.StartsWith(media.Description, StringComparison.Ordinal))
            {
                // The checker names the image by the media's description (path, kind, size, view):
                // the user typed a path, and the rest of the description says nothing about the problem.
                throw Fail(path + e.Message[media.Description.Length..]);
            }
            finally
            {
                reporter?.Finish();
            }
        }

        if (request.Json) WriteJson(console.Out, path, report);
        else WriteText(console.Out, path, report, request);
        return report.IsClean ? ExitCodes.FsckClean : ExitCodes.FsckProblems;
    }

    private static void WriteText(TextWriter output, string path, FsckReport report, Request request)
    {
        foreach (var problem in report.Problems) output.WriteLine(CliConsole.OneLine(problem.ToString()));
        if (request.Quiet) return;
        foreach (string note in report.Notes) output.WriteLine("note: " + CliConsole.OneLine(note));
        var s = report.Stats;
        if (request.Verbose)
        {
            var w = new FieldWriter(output, nameWidth: 24, indent: "  ");
            w.Field("inodes", s.Inodes);
            w.Field("directories", s.Directories);
            w.Field("regular files", s.RegularFiles);
            w.Field("symlinks", s.Symlinks);
            w.Field("directory entries", s.Dirents);
            w.Field("extents", s.Extents);
            w.Field("rmap records", s.RmapRecords);
            w.Field("data blocks used", s.UsedDataBlocks);
            w.Field("data blocks free", s.FreeDataBlocks);
            w.Field("transactions replayed", s.TransactionsReplayed);
            w.Field("orphans", s.Orphans);
            w.Field("pending trims", s.PendingTrims);
        }
        output.WriteLine(report.IsClean
            ? $"{path}: clean, {Units.Count(s.Inodes, "inode", "inodes")}, {s.UsedDataBlocks}/{s.UsedDataBlocks + s.FreeDataBlocks} data blocks used"
            : $"{path}: {Units.Count(report.Problems.Count, "problem", "problems")} found");
    }

    private static void WriteJson(TextWriter output, string path, FsckReport report) => Json.Write(output, w =>
    {
        w.WriteStartObject();
        w.WriteString("image", path);
        w.WriteBoolean("clean", report.IsClean);
        w.WriteStartArray("problems");
        foreach (var p in report.Problems)
        {
            w.WriteStartObject();
            w.WriteString("where", p.Where);
            w.WriteString("message", p.Message);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("notes");
        foreach (string note in report.Notes) w.WriteStringValue(note);
        w.WriteEndArray();
        WriteStats(w, report.Stats);
        w.WriteEndObject();
    });

    private static void WriteStats(Utf8JsonWriter w, FsckStats s)
    {
        w.WriteStartObject("stats");
        w.WriteNumber("inodes", s.Inodes);
        w.WriteNumber("directories", s.Directories);
        w.WriteNumber("regularFiles", s.RegularFiles);
        w.WriteNumber("symlinks", s.Symlinks);
        w.WriteNumber("dirents", s.Dirents);
        w.WriteNumber("extents", s.Extents);
        w.WriteNumber("rmapRecords", s.RmapRecords);
        w.WriteNumber("usedDataBlocks", s.UsedDataBlocks);
        w.WriteNumber("freeDataBlocks", s.FreeDataBlocks);
        w.WriteNumber("transactionsReplayed", s.TransactionsReplayed);
        w.WriteNumber("orphans", s.Orphans);
        w.WriteNumber("pendingTrims", s.PendingTrims);
        w.WriteEndObject();
    }

    /// <summary>Synchronous, unlike <see cref="Progress{T}"/>, which posts to the thread pool and would draw out of order.</summary>
    private sealed class PhaseProgress(ProgressReporter reporter) : IProgress<FsckProgress>
    {
        public void Report(FsckProgress value) => reporter.Report(value.Phase, value.Done, value.Total);
    }
}
