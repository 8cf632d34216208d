using System.CommandLine;
using System.Globalization;
using PmemFs.Cli.Output;
using PmemFs.Engine;
using PmemFs.Format;
using PmemFs.Media;
using PmemFs.Media.Poison;
using PmemFs.Engine.Health;
using PmemFs.Media.Access;
using static PmemFs.Cli.Commands.CommandGuard;

namespace PmemFs.Cli.Commands;

/// <summary>
/// <c>pmemfs info IMAGE</c>: geometry, usage, and what durability the image's location gives.
/// Read-only: the image is mapped privately and mounted read-only, so nothing is written.
/// <c>pmemfs info FILE|MOUNT</c> (a path on a PmemFs mount) is <see cref="PathInfo"/>.
/// </summary>
public static class InfoCommand
{
    public const string Name = "info";

    public sealed record Request(string Image, bool Json);

    /// <summary>Everything info prints, gathered first so that text and JSON say the same.</summary>
    public sealed record ImageInfo(
        string Image,
        OpenedSuperblock Opened,
        Durability Durability,
        string JournalState,
        string UsageSource,
        long TotalInodes,
        long? UsedInodes,
        long DataBlocks,
        long FreeDataBlocks,
        IReadOnlyList<string> Notes,
        RegionAccess Access,
        SharingUsage? Sharing = null,
        MediaHealth? Health = null)
    {
        public Superblock Superblock => Opened.Superblock;
        public Geometry Geometry => Opened.Superblock.Geometry;
        public long UsedDataBlocks => DataBlocks - FreeDataBlocks;
    }

    /// <summary>
    /// The region's own health: its bad ranges (the device's list, or the emulated image's
    /// IMAGE.poison), the unsafe shutdown count the superblock recorded and the device's now
    /// (null where the media has none), and what the engine's read-only mount concluded.
    /// </summary>
    public sealed record MediaHealth(int BadRanges, long BadBytes, ulong RecordedUnsafeShutdowns, long? DeviceUnsafeShutdowns, string State, InfoDamage? Damage = null);

    public static Command Build(CliConsole console)
    {
        var image = CommandLine.ImageArgument("Image file or device-DAX device (opened read-only), or a file, directory or mount point on a PmemFs mount.", "IMAGE|PATH");
        var json = new Option<bool>("--json") { Description = "Print one JSON object." };
        var command = new Command(Name, "Show an image's geometry, usage, store granularity and whether user-space flushes suffice; or a PmemFs file's flags, DAX state and durability.") { image, json };
        command.SetAction(parsed => Run(console, new Request(parsed.GetValue(image)!, parsed.GetValue(json))));
        return command;
    }

    public static int Run(CliConsole console, Request request) =>
        CommandGuard.Run(console, Name, ExitCodes.Failure, () =>
        {
            if (PathInfo.TryGather(request.Image, ImageFile.Inspect(request.Image)) is { } onPmemFs)
            {
                if (request.Json) onPmemFs.WriteJson(console.Out);
                else onPmemFs.WriteText(console.Out);
                return ExitCodes.Ok;
            }
            var info = Gather(request.Image);
            if (request.Json) WriteJson(console.Out, info);
            else WriteText(console.Out, info);
            return ExitCodes.Ok;
        });

    public static ImageInfo Gather(string path)
    {
        var file = ImageFile.Inspect(path);
        if (file.UnusableReason is { } reason) throw Fail($"{path}: {reason}");
        using var media = OpenReadOnly(path);
        var opened = ImageReader.ReadSuperblock(media, path);
        var g = opened.Superblock.Geometry;
        var notes = new List<string>();
        if (opened.PrimaryProblem is not null) notes.Add($"primary superblock: {opened.PrimaryProblem}");
        if (opened.SecondaryProblem is not null) notes.Add($"secondary superblock: {opened.SecondaryProblem}");
        string journal = JournalStateOf(media, opened.Superblock);

        // Usage as the engine sees it: a read-only mount of the private view (a dirty journal is
        // replayed into memory, damage is confined). It refuses only when no superblock is usable
        // (then Inspect above failed already) or the region cannot be read; then the numbers come
        // from the on-media bitmap and inode table.
        string source;
        long? usedInodes;
        long freeData;
        SharingUsage? sharing = null;
        // Through the emulated device (an image file): its bad ranges and unsafe shutdown count.
        var region = EmulatedPoisonMedia.Attach(media);
        var bad = region.BadRanges;
        string state = "unknown (the read-only mount refused)";
        InfoDamage? damage = null;
        try
        {
            using var fs = FileSystem.Mount(region, new FileSystemOptions { ReadOnly = true, Name = path });
            state = fs.Health.State switch
            {
                HealthState.Healthy => "ok",
                HealthState.WritesRefused => $"writes refused: {fs.Health.Reason}",
                _ => $"shut down: {fs.Health.Reason}",
            };
            damage = InfoDamage.Of(fs);
            var st = fs.StatFs();
            sharing = fs.SharingUsage;
            usedInodes = st.TotalInodes - st.FreeInodes;
            freeData = st.FreeBlocks;
            source = "mount";
            if (journal == "dirty")
            {
                // A read-only mount replays into a private view (salvage): usage as the next mount will see it.
                source = "replayed";
                notes.Add("usage as after replaying the journal's committed transactions (in a private view: the image was not written)");
            }
        }
        catch (ImageFormatException e)
        {
            notes.Add($"usage read from the on-media bitmap and inode table (a read-only mount refused: {e.Message})");
            freeData = CountFreeDataBlocks(media, g);
            usedInodes = CountUsedInodes(media, g);
            source = "bitmap";
        }
        var health = new MediaHealth(bad.Count, bad.Sum(r => r.Length), opened.Superblock.UnsafeShutdownCount, region.UnsafeShutdownCount, state, damage);
        return new ImageInfo(path, opened, Durability.Of(media), journal, source, g.InodeCount, usedInodes, g.DataBlocks, freeData, notes, media.Access, sharing, health);
    }

    /// <summary>The image mapped privately; a refusal says whose the region is (most often a user who may not open a private one).</summary>
    private static PmemMedia OpenReadOnly(string path)
    {
        try
        {
            return PmemMedia.Open(path, readOnly: true);
        }
        catch (MediaException e) when (AccessReport.TryRead(path) is { } refused)
        {
            throw Fail($"{e.Message} (the region is {refused.ExposureName}: mode {refused.ModeText}, owner {refused.OwnerName}, group {refused.GroupName}; {refused.WhoCanOpenText})");
        }
    }

    /// <summary>"clean", "dirty" (committed transactions a read-write mount will replay) or "unreadable".</summary>
    private static string JournalStateOf(IMedia media, Superblock sb) => JournalReplay.Inspect(media, sb) switch
    {
        JournalState.Clean => "clean",
        JournalState.Pending => "dirty",
        _ => "unreadable",
    };

    private static long CountFreeDataBlocks(IMedia media, Geometry g)
    {
        long free = 0;
        FreeSpaceBitmap.ForEachRun(media, g, set: false, (start, count) =>
        {
            long s = Math.Max(start, g.DataStart), e = Math.Min(start + count, g.DataEnd);
            if (s < e) free += e - s;
        });
        return free;
    }

    private static long? CountUsedInodes(IMedia media, Geometry g)
    {
        long used = 0;
        for (long slot = 0; slot < g.InodeCount; slot++)
        {
            var v = DiskInode.VerifyRead(media.Read(g.InodeOffset(slot), DiskInode.Size), Geometry.InoOfSlot(slot), out var rec);
            if (v.IsOk && !rec.IsFree) used++;
        }
        return used;
    }

    private static string Created(long ns) =>
        DateTimeOffset.FromUnixTimeMilliseconds(ns / 1_000_000).UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture);

    private static string JournalText(string state) => state switch
    {
        "clean" => "clean",
        "dirty" => "holds committed transactions (the next read-write mount replays them; fsck replays them in its private view)",
        _ => "header unreadable (run pmemfs fsck)",
    };

    private static void WriteText(TextWriter output, ImageInfo info)
    {
        var g = info.Geometry;
        var sb = info.Superblock;
        var d = info.Durability;
        const int bs = FormatConstants.BlockSize;
        var w = new FieldWriter(output);
        w.Field("image", info.Image);
        w.Field("location", $"{d.Location} ({d.FileSystemType})");
        w.Field("size", $"{Units.Bytes(g.RegionSize)} ({g.RegionSize} bytes)");
        w.Field("format version", sb.Version == FormatConstants.FormatVersion ? $"{sb.Version}" : $"{sb.Version} (becomes {FormatConstants.FormatVersion} when a file first shares blocks)");
        w.Field("block size", bs);
        w.Field("blocks", g.BlockCount);
        w.Field("uuid", sb.Uuid.ToString());
        w.Field("label", sb.Label.Length > 0 ? sb.Label : "(none)");
        w.Field("created", Created(sb.CreatedNs));
        w.Field("superblock in use", info.Opened.UsedCopy == SuperblockCopy.Primary ? "primary" : "secondary (the primary is damaged)");
        w.Field("journal", JournalText(info.JournalState));

        output.WriteLine("layout:");
        output.WriteLine($"  {"area",-14}{"start block",14}{"blocks",12}  size");
        foreach (var (area, start, blocks) in Layout(g))
            output.WriteLine($"  {area,-14}{start,14}{blocks,12}  {Units.Bytes(blocks * bs)}");

        output.WriteLine("usage:");
        var u = new FieldWriter(output, nameWidth: 28, indent: "  ");
        u.Field("data blocks", $"{info.UsedDataBlocks} used of {info.DataBlocks} ({Units.Percent(info.UsedDataBlocks, info.DataBlocks)}), {Units.Bytes(info.FreeDataBlocks * bs)} free");
        u.Field("inodes", info.UsedInodes is { } used
            ? $"{used} used of {info.TotalInodes} ({Units.Percent(used, info.TotalInodes)})"
            : $"{info.TotalInodes} in all");
        if (info.Sharing is { } shared)
            u.Field("shared blocks", shared.SharedBlocks == 0 ? "none"
                : $"{shared.SharedBlocks} ({Units.Bytes(shared.SharedBlocks * bs)}) in {shared.Records} reference-count record{(shared.Records == 1 ? "" : "s")}; files map {Units.Bytes(shared.ExtraReferences * bs)} more than they use");

        if (info.Health is { } h)
        {
            output.WriteLine("health:");
            var hw = new FieldWriter(output, nameWidth: 28, indent: "  ");
            hw.Field("state", h.State);
            hw.Field("bad ranges", h.BadRanges == 0 ? "none" : $"{h.BadRanges} ({Units.Bytes(h.BadBytes)}; pmemfs poison list {info.Image})");
            h.Damage?.WriteText(output, info.Image);
            hw.Field("unsafe shutdowns", h.DeviceUnsafeShutdowns is not long device ? $"{h.RecordedUnsafeShutdowns} recorded (the media keeps no count)"
                : (ulong)device == h.RecordedUnsafeShutdowns ? $"{device} (unchanged since the last mount)"
                : $"{device} now, {h.RecordedUnsafeShutdowns} at the last mount: data written before a power loss may be lost; the next read-write mount warns and scrubs the metadata");
        }

        AccessReport.WriteText(output, info.Image, info.Access);

        output.WriteLine("durability:");
        var dw = new FieldWriter(output, nameWidth: 28, indent: "  ");
        dw.Field("store granularity", d.GranularityName);
        dw.Field("user-space flushes suffice", d.FlushSufficesText);
        dw.Field("survives", d.Survives);
        dw.Field("persist", d.Persist);
        foreach (string note in info.Notes) output.WriteLine("note: " + CliConsole.OneLine(note));
    }

    private static IEnumerable<(string Area, long Start, long Blocks)> Layout(Geometry g)
    {
        yield return ("superblock", 0, 1);
        yield return ("journal", g.JournalStart, g.JournalBlocks);
        yield return ("bitmap", g.BitmapStart, g.BitmapBlocks);
        yield return ("inodes", g.InodeTableStart, g.InodeTableBlocks);
        yield return ("dirents", g.DirentTableStart, g.DirentTableBlocks);
        yield return ("extents", g.ExtentTableStart, g.ExtentTableBlocks);
        yield return ("rmap", g.RmapTableStart, g.DataStart - g.RmapTableStart);
        yield return ("data", g.DataStart, g.DataBlocks);
        yield return ("superblock 2", g.SecondarySuperblock, 1);
    }

    private static void WriteJson(TextWriter output, ImageInfo info) => Json.Write(output, w =>
    {
        var g = info.Geometry;
        var sb = info.Superblock;
        var d = info.Durability;
        w.WriteStartObject();
        w.WriteString("image", info.Image);
        w.WriteString("location", d.Location);
        w.WriteString("fileSystemType", d.FileSystemType);
        w.WriteNumber("sizeBytes", g.RegionSize);
        w.WriteNumber("blockSize", FormatConstants.BlockSize);
        w.WriteNumber("blocks", g.BlockCount);
        w.WriteString("uuid", sb.Uuid.ToString());
        w.WriteNumber("formatVersion", sb.Version);
        w.WriteString("label", sb.Label);
        w.WriteNumber("createdNs", sb.CreatedNs);
        w.WriteString("superblockInUse", info.Opened.UsedCopy == SuperblockCopy.Primary ? "primary" : "secondary");
        w.WriteString("journal", info.JournalState);
        w.WriteStartArray("layout");
        foreach (var (area, start, blocks) in Layout(g))
        {
            w.WriteStartObject();
            w.WriteString("area", area);
            w.WriteNumber("startBlock", start);
            w.WriteNumber("blocks", blocks);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartObject("usage");
        w.WriteString("source", info.UsageSource);
        w.WriteNumber("dataBlocks", info.DataBlocks);
        w.WriteNumber("usedDataBlocks", info.UsedDataBlocks);
        w.WriteNumber("freeDataBlocks", info.FreeDataBlocks);
        w.WriteNumber("inodes", info.TotalInodes);
        if (info.UsedInodes is { } used) w.WriteNumber("usedInodes", used);
        else w.WriteNull("usedInodes");
        if (info.Sharing is { } shared)
        {
            w.WriteNumber("sharedBlocks", shared.SharedBlocks);
            w.WriteNumber("referenceCountRecords", shared.Records);
            w.WriteNumber("extraReferences", shared.ExtraReferences);
        }
        w.WriteEndObject();
        if (info.Health is { } h)
        {
            w.WriteStartObject("health");
            w.WriteString("state", h.State);
            w.WriteNumber("badRanges", h.BadRanges);
            w.WriteNumber("badBytes", h.BadBytes);
            w.WriteNumber("recordedUnsafeShutdowns", h.RecordedUnsafeShutdowns);
            if (h.DeviceUnsafeShutdowns is long device) w.WriteNumber("deviceUnsafeShutdowns", device);
            else w.WriteNull("deviceUnsafeShutdowns");
            h.Damage?.WriteJson(w);
            w.WriteEndObject();
        }
        w.WriteStartObject("durability");
        w.WriteString("storeGranularity", d.GranularityName);
        w.WriteBoolean("userSpaceFlushSuffices", d.UserSpaceFlushSuffices);
        w.WriteString("survives", d.Survives);
        w.WriteString("persist", d.Persist);
        w.WriteEndObject();
        AccessReport.WriteJson(w, info.Access);
        w.WriteStartArray("notes");
        foreach (string note in info.Notes) w.WriteStringValue(note);
        w.WriteEndArray();
        w.WriteEndObject();
    });
}
