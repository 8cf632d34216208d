using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Text;
using PmemFs.Cli.Output;
using PmemFs.Format;
using PmemFs.Media;
using PmemFs.Media.Poison;
using PmemFs.Media.Access;
using static PmemFs.Cli.Commands.CommandGuard;

namespace PmemFs.Cli.Commands;

/// <summary>
/// <c>pmemfs mkfs IMAGE</c>: creates (or overwrites, with --force) a PmemFs file system on an
/// image file or a device-DAX device.
/// </summary>
public static class MkfsCommand
{
    public const string Name = "mkfs";

    /// <summary>How much of the start of an existing image must be zero for mkfs to overwrite it without --force.</summary>
    public const int ProbeBytes = 64 * 1024;

    public sealed record Request(string Image, long? Size, long? Inodes, string Label, bool Force, bool Quiet, bool Progress, string? Group = null);

    public static Command Build(CliConsole console)
    {
        var image = CommandLine.ImageArgument("Image file to create or overwrite, or a device-DAX device (/dev/daxX.Y).");
        var size = new Option<long?>("--size", "-s")
        {
            Description = "Size of a new image (256M, 1G, 4GiB, 1048576...; binary units, a multiple of 4096, at least 16M).",
            HelpName = "SIZE",
            CustomParser = ParseSize,
        };
        var inodes = new Option<long?>("--inodes", "-i")
        {
            Description = "Number of inodes (default: one per 16 KiB, at least 1024).",
            HelpName = "N",
            CustomParser = ParseInodes,
        };
        var label = new Option<string?>("--label", "-L") { Description = "File system label (up to 64 bytes of UTF-8).", HelpName = "TEXT" };
        label.Validators.Add(ValidateLabel);
        var force = new Option<bool>("--force", "-f") { Description = "Overwrite an existing file system or data, and resize an image file to --size." };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Print nothing but errors." };
        var progress = new Option<bool>("--progress") { Description = "Show progress on stderr even when it is not a terminal." };
        var group = new Option<string?>("--group", "-g")
        {
            Description = "Share the region with this group (chgrp GROUP; chmod 0660): its members may open it for direct access. Without it a new image is private (0600).",
            HelpName = "GROUP",
        };

        var command = new Command(Name, "Create a PmemFs file system on an image file or a device-DAX device.")
        {
            image, size, inodes, label, force, quiet, progress, group,
        };
        command.SetAction(parsed => Run(console, new Request(
            parsed.GetValue(image)!,
            parsed.GetValue(size),
            parsed.GetValue(inodes),
            parsed.GetValue(label) ?? "",
            parsed.GetValue(force),
            parsed.GetValue(quiet),
            parsed.GetValue(progress),
            parsed.GetValue(group))));
        return command;
    }

    public static int Run(CliConsole console, Request request) =>
        CommandGuard.Run(console, Name, ExitCodes.Failure, () => Format(console, request));

    private static int Format(CliConsole console, Request request)
    {
        string path = request.Image;
        uint? groupId = null;
        if (request.Group is { } groupName)
            groupId = Accounts.GroupId(groupName) ?? throw Fail($"--group {groupName}: no such group (create it with: groupadd {groupName})");
        string? linkTarget = RefuseLinkToFile(path);
        bool followSymlinks = linkTarget is not null; // only to a device, which RefuseLinkToFile checked
        var file = ImageFile.Inspect(path);
        if (file.Kind is ImageFileKind.Directory or ImageFileKind.Other) throw Fail($"{path}: {file.UnusableReason}");

        // Decide the region size and check everything that can be checked before touching the file.
        long regionSize;
        bool resize = false;
        if (file.Kind == ImageFileKind.CharacterDevice)
        {
            if (request.Size is not null)
                throw Fail($"{path}: is a device; its size is the device's, so --size cannot be used");
            regionSize = -1; // known once the device is mapped
        }
        else if (file.Kind == ImageFileKind.Missing || file.Length == 0)
        {
            regionSize = request.Size ?? throw Fail(file.Kind == ImageFileKind.Missing
                ? $"{path}: does not exist; give --size to create it"
                : $"{path}: is empty; give --size to size it");
        }
        else
        {
            if (request.Size is { } wanted && wanted != file.Length)
            {
                if (!request.Force)
                    throw Fail($"{path}: is {file.Length} bytes ({Units.Bytes(file.Length)}) but --size asks for {wanted} ({Units.Bytes(wanted)}); use --force to resize it");
                resize = true;
                regionSize = wanted;
            }
            else
            {
                regionSize = file.Length;
                if (regionSize % SizeParser.Alignment != 0)
                    throw Fail($"{path}: is {regionSize} bytes, not a multiple of {SizeParser.Alignment}; give --size with --force to resize it");
                if (regionSize < FormatConstants.MinimumRegionSize)
                    throw Fail($"{path}: is {Units.Bytes(regionSize)}, smaller than the {Units.Bytes(FormatConstants.MinimumRegionSize)} PmemFs needs; give --size with --force to grow it");
            }
            if (!request.Force) RefuseToOverwrite(path, ProbeFile(path, file.Length));
        }
        if (regionSize > 0) Geometry.Compute(regionSize, request.Inodes); // too many inodes for the size: refuse before any change

        bool created = file.Kind == ImageFileKind.Missing;
        // A new image file is a new emulated device: a bad-block list left by an earlier one at this path is not its.
        if (created) File.Delete(EmulatedDeviceState.PathFor(path));
        using var inUse = created ? null : ImageUse.LockForWriting(path);
        PmemMedia media;
        if (file.Kind == ImageFileKind.CharacterDevice)
        {
            media = PmemMedia.Open(path, followSymlinks: followSymlinks);
        }
        else if (file.Length == regionSize && file.IsFullyAllocated)
        {
            // Nothing to reserve; posix_fallocate over a fully allocated multi-GiB tmpfs file can
            // still take seconds.
            media = PmemMedia.Open(path, followSymlinks: followSymlinks);
        }
        else
        {
            if (resize && regionSize < file.Length) Shrink(path, regionSize);
            // Create reserves every block of a new, grown or sparse file: a store into a hole of a
            // full tmpfs would be a SIGBUS, and this way it is a clear ENOSPC instead. A new file
            // is created private (0600).
            media = PmemMedia.Create(path, regionSize, followSymlinks);
        }

        try
        {
            using (media)
            {
                if (file.Kind == ImageFileKind.CharacterDevice)
                {
                    if (!request.Force) RefuseToOverwrite(path, ProbeMedia(media));
                    Geometry.Compute(media.Size, request.Inodes);
                }
                // Before formatting: a refused chgrp leaves an existing region as it was.
                if (groupId is { } gid) RegionFile.ShareWithGroup(path, gid, followSymlinks);
                else if (!created) WarnAboutAccess(console, path, media.Access);
                var reporter = ProgressReporter.Create(console, Name, request.Progress, request.Quiet);
                Superblock sb;
                try
                {
                    // Through the emulated device (an image file): its unsafe shutdown count is the one to record.
                    sb = Mkfs.Format(EmulatedPoisonMedia.Attach(media), new MkfsOptions
                    {
                        InodeCount = request.Inodes,
                        Label = request.Label,
                        // As mke2fs: the root directory belongs to whoever made the file system,
                        // so a user's own image is writable when that user mounts it.
                        RootUid = PathStatus.EffectiveUid,
                        RootGid = PathStatus.EffectiveGid,
                    },
                        reporter is null ? null : (done, total) => reporter.Report("zeroing metadata", done, total));
                }
                finally
                {
                    reporter?.Finish();
                }
                if (!request.Quiet) PrintSummary(console.Out, path, linkTarget, media, sb);
            }
        }
        catch when (created)
        {
            // A half-made image that did not exist before is worth nothing: do not leave it behind.
            TryDelete(path);
            throw;
        }
        return ExitCodes.Ok;
    }

    /// <summary>
    /// A symbolic link is followed only to a device-DAX device (udev names them that way), and
    /// said so. A link to a file, or to nothing, is refused even with --force: formatting through
    /// it would destroy (or create) a file the command line does not name. Returns the link's
    /// target, or null when the path is not a link.
    /// </summary>
    private static string? RefuseLinkToFile(string path)
    {
        if (PathStatus.Read(path, followSymlinks: false) is not { Kind: UnixFileKind.SymbolicLink }) return null;
        string target = ResolvedTarget(path);
        var status = PathStatus.Read(path, followSymlinks: true);
        if (status is null)
            throw Fail($"{path}: is a symbolic link to {target}, which does not exist; mkfs does not create an image through a link: name the new file itself");
        if (status.Value.Kind == UnixFileKind.CharacterDevice) return target;
        string what = status.Value.Kind == UnixFileKind.RegularFile ? $"a regular file of {Units.Bytes(new FileInfo(target).Length)}" : "not a device-DAX device";
        throw Fail($"{path}: is a symbolic link to {target} ({what}); mkfs does not format through a link to a file, even with --force: "
            + $"name the file itself (pmemfs mkfs {target} ...) if that is the one to overwrite");
    }

    private static string ResolvedTarget(string path)
    {
        try { return new FileInfo(path).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? path; }
        catch (IOException) { return new FileInfo(path).LinkTarget ?? path; }
    }

    /// <summary>
    /// An existing region keeps its owner and mode, but mkfs says when a mount would refuse it
    /// (everyone can open it, or another user owns it) and when a group can open it, with the fix.
    /// </summary>
    private static void WarnAboutAccess(CliConsole console, string path, RegionAccess access)
    {
        if (access.MountRefusal(path, PathStatus.EffectiveUid) is { } refusal)
            console.Warn(Name, $"{refusal}; until then pmemfs mount refuses it");
        else if (access.Exposure == RegionExposure.GroupShared)
            console.Warn(Name, $"{path}: group-shared (mode {access.ModeText}, group {access.GroupName}): {access.WhoCanOpenText}; if that is not meant: {RegionAccess.MakePrivateCommand(path)}");
    }

    /// <summary>What the start and the secondary-superblock block of an existing image hold.</summary>
    private readonly record struct Probe(bool HasPmemFs, bool HasData);

    private static Probe ProbeFile(string path, long length)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var head = new byte[(int)Math.Min(ProbeBytes, length)];
        int n = RandomAccess.Read(handle, head, 0);
        bool pmemfs = DiskSuperblock.HasMagic(head.AsSpan(0, n));
        long last = length / FormatConstants.BlockSize * FormatConstants.BlockSize - FormatConstants.BlockSize;
        if (!pmemfs && last > 0)
        {
            var tail = new byte[DiskSuperblock.Size];
            int m = RandomAccess.Read(handle, tail, last);
            pmemfs = DiskSuperblock.HasMagic(tail.AsSpan(0, m));
        }
        return new Probe(pmemfs, head.AsSpan(0, n).IndexOfAnyExcept((byte)0) >= 0);
    }

    private static Probe ProbeMedia(IMedia media)
    {
        var head = media.Read(0, (int)Math.Min(ProbeBytes, media.Size));
        long last = media.Size / FormatConstants.BlockSize * FormatConstants.BlockSize - FormatConstants.BlockSize;
        bool pmemfs = DiskSuperblock.HasMagic(head)
            || (last > 0 && DiskSuperblock.HasMagic(media.Read(last, DiskSuperblock.Size)));
        return new Probe(pmemfs, head.IndexOfAnyExcept((byte)0) >= 0);
    }

    private static void RefuseToOverwrite(string path, Probe probe)
    {
        if (probe.HasPmemFs) throw Fail($"{path}: appears to contain an existing PmemFs file system; use --force to overwrite it");
        if (probe.HasData) throw Fail($"{path}: appears to contain data (its first {ProbeBytes / 1024} KiB are not all zero); use --force to overwrite it");
    }

    private static void Shrink(string path, long size)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
        RandomAccess.SetLength(handle, size);
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The original failure is the one worth reporting.
        }
    }

    private static void PrintSummary(TextWriter output, string path, string? linkTarget, PmemMedia media, Superblock sb)
    {
        var g = sb.Geometry;
        var d = Durability.Of(media);
        var access = media.Access;
        const int bs = FormatConstants.BlockSize;
        output.WriteLine($"{path}: PmemFs file system created");
        var w = new FieldWriter(output, indent: "  ");
        if (linkTarget is not null) w.Field("device", $"{linkTarget} ({path} is a symbolic link to it)");
        w.Field("size", $"{Units.Bytes(g.RegionSize)} ({g.RegionSize} bytes), {g.BlockCount} blocks of {bs} bytes");
        w.Field("inodes", g.InodeCount);
        w.Field("journal", $"{Units.Bytes(g.JournalBlocks * bs)} ({g.JournalBlocks} blocks)");
        w.Field("data area", $"{Units.Bytes(g.DataBlocks * bs)} ({g.DataBlocks} blocks from block {g.DataStart})");
        w.Field("uuid", sb.Uuid.ToString());
        if (sb.Label.Length > 0) w.Field("label", sb.Label);
        w.Field("location", $"{d.Location} ({d.FileSystemType})");
        w.Field("access", $"{access.ExposureName}: mode {access.ModeText}, owner {access.OwnerName}, group {access.GroupName}");
        w.Field("store granularity", d.GranularityName);
        w.Field("user-space flushes suffice", d.FlushSufficesText);
    }

    private static long? ParseSize(ArgumentResult result)
    {
        string text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
        if (!SizeParser.TryParse(text, out long bytes, out string? error))
        {
            result.AddError($"invalid --size: {error}");
            return null;
        }
        if (bytes < FormatConstants.MinimumRegionSize)
        {
            result.AddError($"invalid --size: {text} is smaller than the {Units.Bytes(FormatConstants.MinimumRegionSize)} PmemFs needs");
            return null;
        }
        return bytes;
    }

    private static long? ParseInodes(ArgumentResult result)
    {
        string text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
        if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long n) || n < 16 || n > uint.MaxValue)
        {
            result.AddError($"invalid --inodes: '{text}' is not a whole number from 16 to {uint.MaxValue}");
            return null;
        }
        return n;
    }

    private static void ValidateLabel(OptionResult result)
    {
        string? text = result.GetValueOrDefault<string?>();
        if (text is null) return;
        if (text.Contains('\0', StringComparison.Ordinal)) result.AddError("invalid --label: it must not contain NUL characters");
        else if (Encoding.UTF8.GetByteCount(text) > 64) result.AddError($"invalid --label: it is {Encoding.UTF8.GetByteCount(text)} bytes of UTF-8; at most 64 fit");
    }
}
