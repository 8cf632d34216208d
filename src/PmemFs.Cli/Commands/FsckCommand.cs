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
            report = RunPhases(console, request, media, Fsck.Check);

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
            throw CannotWrite(path, e);
        }
        using var locked = inUse;
        try
        {
            media = PmemMedia.Open(path, readOnly: false);
        }
        catch (Exception e) when (e is UnauthorizedAccessException or MediaException or IOException)
        {
            throw CannotWrite(path, e);
        }
        using (media)
            result = RunPhases(console, request, media, FsckRepair.Repair);

        var report = result.After;
        if (request.Json) WriteJson(console.Out, path, report, result.Changes);
        else
        {
            WriteLines(console.Out, "repaired: ", result.Changes);
            WriteText(console.Out, path, report, request, result.Changes.Count);
        }
        if (!report.IsClean) return ExitCodes.FsckProblems;
        return result.Changed ? ExitCodes.FsckCorrected : ExitCodes.FsckClean;
    }

    private static CommandFailedException CannotWrite(string path, Exception e) =>
        Fail($"{path}: cannot be opened for writing, which --repair needs ({e.Message})");

    /// <summary>
    /// Runs the checker or the repairer (<paramref name="phases"/>) on <paramref name="media"/>,
    /// drawing its progress. Both name a <see cref="PmemMedia"/> by its path, so an image without
    /// a usable superblock (<see cref="ImageFormatException"/>) already says which path it was
    /// and goes to <see cref="CommandGuard"/> as it is (exit 8).
    /// </summary>
    private static T RunPhases<T>(CliConsole console, Request request, PmemMedia media,
        Func<PmemMedia, FsckOptions, IProgress<FsckProgress>?, T> phases)
    {
        var reporter = ProgressReporter.Create(console, Name, request.Progress, request.Quiet || request.Json);
        try
        {
            return phases(media, new FsckOptions { Verbose = request.Verbose },
                reporter is null ? null : new PhaseProgress(reporter));
        }
        finally
        {
            reporter?.Finish();
        }
    }

    /// <summary>One line per item (a problem, note or change), each prefixed and kept on one line.</summary>
    private static void WriteLines<T>(TextWriter output, string prefix, IEnumerable<T> items)
    {
        foreach (var item in items) output.WriteLine(prefix + CliConsole.OneLine(item!.ToString()!));
    }

    private static void WriteText(TextWriter output, string path, FsckReport report, Request request, int? changes = null)
    {
        WriteLines(output, "", report.Problems);
        if (request.Quiet) return;
        WriteLines(output, "note: ", report.Notes);
        var s = report.Stats;
        if (request.Verbose)
        {
            var w = new FieldWriter(output, nameWidth: 24, indent: "  ");
            foreach (var (text, _, value) in StatFields(s)) w.Field(text, value);
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
        if (changes is not null) WriteFindings(w, "changes", changes.Select(c => (c.Where, c.Message)));
        WriteFindings(w, "problems", report.Problems.Select(p => (p.Where, p.Message)));
        w.WriteStartArray("notes");
        foreach (string note in report.Notes) w.WriteStringValue(note);
        w.WriteEndArray();
        WriteStats(w, report.Stats);
        w.WriteEndObject();
    });

    /// <summary>An array of {where, message} objects: the changes a repair made, or the problems found.</summary>
    private static void WriteFindings(Utf8JsonWriter w, string name, IEnumerable<(string Where, string Message)> findings)
    {
        w.WriteStartArray(name);
        foreach (var (where, message) in findings)
        {
            w.WriteStartObject();
            w.WriteString("where", where);
            w.WriteString("message", message);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    private static void WriteStats(Utf8JsonWriter w, FsckStats s)
    {
        w.WriteStartObject("stats");
        foreach (var (_, json, value) in StatFields(s)) w.WriteNumber(json, value);
        w.WriteEndObject();
    }

    /// <summary>The statistics in output order: the name --verbose prints, the JSON name, the value.</summary>
    private static (string Text, string Json, long Value)[] StatFields(FsckStats s) =>
    [
        ("inodes", "inodes", s.Inodes),
        ("directories", "directories", s.Directories),
        ("regular files", "regularFiles", s.RegularFiles),
        ("symlinks", "symlinks", s.Symlinks),
        ("directory entries", "dirents", s.Dirents),
        ("extents", "extents", s.Extents),
        ("rmap records", "rmapRecords", s.RmapRecords),
        ("data blocks used", "usedDataBlocks", s.UsedDataBlocks),
        ("data blocks free", "freeDataBlocks", s.FreeDataBlocks),
        ("transactions replayed", "transactionsReplayed", s.TransactionsReplayed),
        ("orphans", "orphans", s.Orphans),
        ("pending trims", "pendingTrims", s.PendingTrims),
    ];

    /// <summary>Synchronous, unlike <see cref="Progress{T}"/>, which posts to the thread pool and would draw out of order.</summary>
    private sealed class PhaseProgress(ProgressReporter reporter) : IProgress<FsckProgress>
    {
        public void Report(FsckProgress value) => reporter.Report(value.Phase, value.Done, value.Total);
    }
}
