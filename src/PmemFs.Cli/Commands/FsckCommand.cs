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
/// mapped privately; journal replay happens in this process's copy only). With
/// <c>--repair</c> the image is opened read-write under its exclusive lock (refused while a
/// daemon has it mounted) and repaired in place (<see cref="FsckRepair"/>). Exit codes follow
/// fsck(8): 0 clean, 1 errors corrected, 4 problems left uncorrected, 8 operational error, 16 usage.
/// </summary>
public static class FsckCommand
{
    public const string Name = "fsck";

    public sealed record Request(string Image, bool Json, bool Verbose, bool Quiet, bool Progress, bool Repair = false);

    public static Command Build(CliConsole console)
    {
        var image = CommandLine.ImageArgument("Image file or device-DAX device to check (opened read-only unless --repair).");
        var json = new Option<bool>("--json") { Description = "Print one JSON object: clean, problems, notes, stats." };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Print statistics and ask the checker for detail." };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Print only the problems (the exit code tells the rest)." };
        var progress = new Option<bool>("--progress") { Description = "Show progress on stderr even when it is not a terminal." };
        var repair = new Option<bool>("--repair") { Description = "Repair the image in place (it must not be mounted); prints one line per change." };
        var command = new Command(Name, "Check (or with --repair, repair) a PmemFs file system. Exit: 0 clean, 1 errors corrected, 4 problems left, 8 operational error, 16 usage error.")
        {
            image, json, verbose, quiet, progress, repair,
        };
        command.SetAction(parsed => Run(console, new Request(
            parsed.GetValue(image)!, parsed.GetValue(json), parsed.GetValue(verbose), parsed.GetValue(quiet), parsed.GetValue(progress), parsed.GetValue(repair))));
        return command;
    }

    public static int Run(CliConsole console, Request request) =>
        CommandGuard.Run(console, Name, ExitCodes.FsckOperational, () => Check(console, request));

    private static int Check(CliConsole console, Request request)
    {
        string path = request.Image;
        var file = ImageFile.Inspect(path);
        if (file.UnusableReason is { } reason) throw Fail($"{path}: {reason}");
        if (request.Repair) return Repair(console, request);

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

    /// <summary>
    /// Repairs in place: the exclusive image lock first (a mounted image is refused), then a
    /// read-write mapping (a device or file that cannot be opened for writing is refused).
    /// </summary>
    private static int Repair(CliConsole console, Request request)
    {
        string path = request.Image;
        RepairReport result;
        ImageLock inUse;
        PmemMedia media;
        try
        {
            inUse = ImageUse.LockForWriting(path);
        }
        catch (UnauthorizedAccessException e)
        {
            throw Fail($"{path}: cannot be opened for writing, which --repair needs ({e.Message})");
        }
        using var locked = inUse;
        try
        {
            media = PmemMedia.Open(path, readOnly: false);
        }
        catch (Exception e) when (e is UnauthorizedAccessException or MediaException or IOException)
        {
            throw Fail($"{path}: cannot be opened for writing, which --repair needs ({e.Message})");
        }
        using (media)
        {
            var reporter = ProgressReporter.Create(console, Name, request.Progress, request.Quiet || request.Json);
            try
            {
                result = FsckRepair.Repair(media, new FsckOptions { Verbose = request.Verbose },
                    reporter is null ? null : new PhaseProgress(reporter));
            }
            catch (ImageFormatException e) when (e.Message.StartsWith(media.Description, StringComparison.Ordinal))
            {
                throw Fail(path + e.Message[media.Description.Length..]);
            }
            catch (ImageFormatException e) when (e.Message.StartsWith(path, StringComparison.Ordinal))
            {
                throw Fail(e.Message);
            }
            finally
            {
                reporter?.Finish();
            }
        }

        var report = result.After;
        if (request.Json) WriteJson(console.Out, path, report, result.Changes);
        else
        {
            foreach (var change in result.Changes) console.Out.WriteLine("repaired: " + CliConsole.OneLine(change.ToString()));
            WriteText(console.Out, path, report, request, result.Changes.Count);
        }
        if (!report.IsClean) return ExitCodes.FsckProblems;
        return result.Changed ? ExitCodes.FsckCorrected : ExitCodes.FsckClean;
    }

    private static void WriteText(TextWriter output, string path, FsckReport report, Request request, int? changes = null)
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
        string repaired = changes is > 0 ? $"{Units.Count(changes.Value, "change", "changes")} made, " : "";
        output.WriteLine(report.IsClean
            ? $"{path}: {repaired}clean, {Units.Count(s.Inodes, "inode", "inodes")}, {s.UsedDataBlocks}/{s.UsedDataBlocks + s.FreeDataBlocks} data blocks used"
            : changes is not null
                ? $"{path}: {repaired}{Units.Count(report.Problems.Count, "problem", "problems")} left uncorrected"
                : $"{path}: {Units.Count(report.Problems.Count, "problem", "problems")} found");
    }

    private static void WriteJson(TextWriter output, string path, FsckReport report, IReadOnlyList<RepairChange>? changes = null) => Json.Write(output, w =>
    {
        w.WriteStartObject();
        w.WriteString("image", path);
        w.WriteBoolean("clean", report.IsClean);
        if (changes is not null)
        {
            w.WriteStartArray("changes");
            foreach (var c in changes)
            {
                w.WriteStartObject();
                w.WriteString("where", c.Where);
                w.WriteString("message", c.Message);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
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
