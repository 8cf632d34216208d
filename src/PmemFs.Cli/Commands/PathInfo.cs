using PmemFs.Cli.Flags;
using PmemFs.Cli.Leases;
using PmemFs.Cli.Native;
using PmemFs.Cli.Output;
using PmemFs.Daemon;
using PmemFs.Abi;
using PmemFs.Media.Access;
using static PmemFs.Cli.Commands.CommandGuard;

namespace PmemFs.Cli.Commands;

/// <summary>
/// <c>pmemfs info FILE|MOUNT</c>: a file, directory or mount point on a PmemFs mount: its
/// flags, whether it is DAX and why, and what makes stores to it durable. A path is on PmemFs
/// when PMEMFS_IOC_GET_FLAGS answers; a mount point is recognised in /proc/self/mountinfo even
/// when it does not (a daemon without the flag engine).
/// </summary>
public sealed record PathInfo(
    string Path,
    bool IsDirectory,
    MountEntry? Mount,
    bool IsMountPoint,
    FileFlagReport? Flags,
    string? FlagsError)
{
    /// <summary>The file's layout leases (null: a directory, or a daemon that does not answer the lease list).</summary>
    public IReadOnlyList<LeaseReport>? Leases { get; init; }

    public DateTimeOffset LeaseClock { get; init; }

    /// <summary>Why the file system is not healthy, and since when (PMEMFS_IOC_HEALTH); null when healthy or the daemon does not answer it.</summary>
    public ShutdownCommand.MountHealth? Health { get; init; }

    /// <summary>For a mount point: the daemon's garbage collections, pauses and allocation (PMEMFS_IOC_DAEMON_STATS); null for other paths or a daemon that does not answer it.</summary>
    public DaemonStatsReport? Daemon { get; init; }

    /// <summary>For a regular file: bytes of its blocks that other extents map too (reflink), and bytes it has allocated; null when the map cannot be read.</summary>
    public (ulong Shared, ulong Allocated)? Sharing { get; init; }

    /// <summary>
    /// What info should say about <paramref name="path"/>, or null when it is to be read as an
    /// image (a regular file that is not on PmemFs, or a device).
    /// </summary>
    /// <exception cref="CommandFailedException">a directory that is not on PmemFs, or a file on PmemFs whose flags cannot be read.</exception>
    public static PathInfo? TryGather(string path, ImageFile file)
    {
        if (file.Kind is not (ImageFileKind.RegularFile or ImageFileKind.Directory)) return null;
        bool isDirectory = file.Kind == ImageFileKind.Directory;
        string? real = MountLookup.RealPath(path);
        var mount = real is null ? null : MountTable.Containing(real, MountTable.Read());
        if (mount is not null && !mount.IsPmemFs) mount = null;
        bool isMountPoint = mount is not null && mount.Mountpoint == real;

        int errno = FlagIoctl.Get(path, followSymlinks: true, out var flags);
        if (errno == 0)
        {
            var info = new PathInfo(path, isDirectory, mount, isMountPoint, flags, null);
            if (flags.Raw.Health != PmemFsPoisonAbi.HealthOk && ShutdownCommand.Call(path, PmemFsHealthAbi.OpGet, 0, out var health) == 0)
                info = info with { Health = health };
            if (isMountPoint && DaemonStatsReport.Read(path, out var daemon) == 0)
                info = info with { Daemon = daemon };
            if (!isDirectory && LeaseList.Read(path, thisFileOnly: true, mount?.Mountpoint, out var leases, out var now) == 0)
                info = info with { Leases = leases, LeaseClock = now };
            if (!isDirectory && BmapCommand.Read(path, out var extents, out _) == 0)
                info = info with
                {
                    Sharing = ((ulong)extents.Where(e => e.Flags.Contains("shared")).Sum(e => (decimal)e.Length),
                               (ulong)extents.Where(e => e.Physical is not null).Sum(e => (decimal)e.Length)),
                };
            return info;
        }
        string message = FlagIoctl.Message(errno);
        if (isMountPoint)
            return new PathInfo(path, isDirectory, mount, isMountPoint, null,
                errno == LibC.ENOTTY ? $"{message}: its daemon does not answer PmemFs's flag ioctls" : message);

        bool notPmemFs = errno is LibC.ENOTTY or LibC.EOPNOTSUPP or LibC.ENOSYS;
        if (!isDirectory && (notPmemFs || mount is null)) return null; // an image file, as before
        if (mount is not null) throw Fail($"{path}: cannot read its flags: {message}");
        throw Fail($"{path}: is a directory that is not on a PmemFs mount ({message}); info takes an image, a device-DAX device, or a file, directory or mount point on a PmemFs mount");
    }

    /// <summary>The "why" line: the reason the daemon gave and since when; null when it gave none (healthy, or an older daemon).</summary>
    public static string? WhyText(ShutdownCommand.MountHealth? health) => health is { Reason: { } reason } h
        ? h.Since is { } since ? $"{reason} (since {since.ToLocalTime():yyyy-MM-dd HH:mm:ss zzz})" : reason
        : null;

    public string TypeName => IsMountPoint ? "PmemFs mount point (directory)" : IsDirectory ? "directory" : "regular file";

    /// <summary>Whether the file is DAX, and why: the mount mode, the flag, the file's kind, a pending change.</summary>
    public static string DaxText(FileFlagReport f, bool isDirectory)
    {
        string now = f.DaxEffective ? "yes" : "no";
        if (f.DaxPending) return $"{now} now; pending: a DAX change takes effect at the file's last close";
        if (f.DaxEffective)
            return f.Raw.DaxMode == PmemFsIoctlAbi.DaxModeAlways ? "yes (dax=always)" : "yes (flag set, dax=inode)";
        if (f.Raw.DaxMode == PmemFsIoctlAbi.DaxModeNever) return "no (mount dax=never)";
        if (isDirectory)
            return f.HasDaxFlag ? "no (a directory is never DAX; new files in it inherit the flag)" : "no (a directory is never DAX)";
        if (!f.CanBeDax) return "no (only regular files can be DAX)";
        return f.HasDaxFlag ? "no" : "no (flag not set)";
    }

    public static string DaxImmutableText(FileFlagReport f) =>
        f.DaxImmutable ? "yes: extent map frozen: direct-access clients may cache it" : "no";

    /// <summary>Stores through an mmap of the mount land in the kernel's page cache, not in the region.</summary>
    public const string MmapFlushText = "no for stores through an mmap of this mount: the kernel page cache sits between, so msync or fsync makes them durable";

    public static string DirectMappingText(FileFlagReport f) => f.DirectMappingFlushSuffices
        ? $"yes for a direct mapping of the region ({f.GranularityName} granularity: clwb/clflushopt + fence); the client library PmemFs.Direct maps it for lease holders (docs/direct.md)"
        : "no for a direct mapping of the region (page granularity: persist needs msync); the client library PmemFs.Direct maps it for lease holders (docs/direct.md)";

    public void WriteText(TextWriter output)
    {
        var w = new FieldWriter(output);
        w.Field("path", Path);
        w.Field("type", TypeName);
        if (Mount is not null)
        {
            w.Field("mount", Mount.Mountpoint);
            w.Field("image", Mount.Source);
        }
        if (Flags is not { } f)
        {
            w.Field("flags", $"unreadable ({FlagsError})");
            WriteRegionAccess(output);
            return;
        }
        w.Field("file system", f.HealthName);
        w.Field("damage", f.DamageText);
        if (WhyText(Health) is { } why) w.Field("why", why);
        w.Field("flags", f.Flags == 0 ? "none" : FlagNames.Format(f.Flags));
        w.Field("effective DAX", DaxText(f, IsDirectory));
        w.Field("DAX_IMMUTABLE", DaxImmutableText(f));
        w.Field("mount dax mode", $"dax={f.DaxMode}");
        if (Sharing is { } sh)
            w.Field("shared blocks", sh.Shared == 0 ? "none" : $"{Units.Bytes((long)sh.Shared)} of {Units.Bytes((long)sh.Allocated)} allocated (shared with other files or ranges: a write copies first; pmemfs bmap shows where)");
        output.WriteLine("durability:");
        var d = new FieldWriter(output, nameWidth: 28, indent: "  ");
        d.Field("store granularity", f.GranularityName);
        d.Field("user-space flushes suffice", MmapFlushText);
        d.Field("direct mapping", DirectMappingText(f));
        if (Leases is { } leases)
        {
            if (leases.Count == 0) w.Field("leases", "none");
            else
            {
                output.WriteLine("leases:");
                foreach (var l in leases)
                    output.WriteLine($"  {l.Id}: {l.Mode} {l.RangeText} {l.State}{(l.Deadline is null ? "" : " (" + l.DeadlineText(LeaseClock) + ")")}, pid {l.Pid} ({l.Command ?? "?"})"
                        + (l.Pins.Count == 0 ? "" : ", pinned " + string.Join(',', l.Pins.Select(p => p.RangeText))));
            }
        }
        Daemon?.WriteText(output);
        WriteRegionAccess(output);
    }

    /// <summary>Who can open the mount's region directly, when its source names one that can be examined.</summary>
    private RegionAccess? RegionAccessOfMount => Mount is null ? null : AccessReport.TryRead(Mount.Source);

    private void WriteRegionAccess(TextWriter output)
    {
        if (Mount is not null && RegionAccessOfMount is { } access) AccessReport.WriteText(output, Mount.Source, access);
    }

    public void WriteJson(TextWriter output) => Json.Write(output, w =>
    {
        w.WriteStartObject();
        w.WriteString("path", Path);
        w.WriteString("type", IsDirectory ? "directory" : "file");
        w.WriteBoolean("mountPoint", IsMountPoint);
        if (Mount is null) w.WriteNull("mount");
        else w.WriteString("mount", Mount.Mountpoint);
        if (Mount is null) w.WriteNull("image");
        else w.WriteString("image", Mount.Source);
        if (RegionAccessOfMount is { } access) AccessReport.WriteJson(w, access);
        if (Flags is not { } f)
        {
            w.WriteString("flagsError", FlagsError);
            w.WriteEndObject();
            return;
        }
        w.WriteString("health", new ShutdownCommand.MountHealth((uint)f.Raw.Health, null, null).StateName);
        w.WriteNumber("sickFiles", f.Raw.SickFiles);
        w.WriteNumber("quarantinedSlots", f.Raw.QuarantinedSlots);
        if (Health is { Reason: { } reason } h)
        {
            w.WriteString("healthReason", reason);
            if (h.Since is { } since) w.WriteString("healthSince", since.ToString("O", System.Globalization.CultureInfo.InvariantCulture));
        }
        w.WriteStartArray("flags");
        foreach (string name in FlagNames.Names(f.Flags)) w.WriteStringValue(name);
        w.WriteEndArray();
        w.WriteBoolean("daxEffective", f.DaxEffective);
        w.WriteString("dax", DaxText(f, IsDirectory));
        w.WriteBoolean("canBeDax", f.CanBeDax);
        w.WriteBoolean("daxPending", f.DaxPending);
        w.WriteBoolean("daxImmutable", f.DaxImmutable);
        w.WriteString("daxMode", f.DaxMode);
        if (Sharing is { } sh)
        {
            w.WriteNumber("sharedBytes", sh.Shared);
            w.WriteNumber("allocatedBytes", sh.Allocated);
        }
        w.WriteStartObject("durability");
        w.WriteString("storeGranularity", f.GranularityName);
        w.WriteBoolean("userSpaceFlushSufficesForMmap", false);
        w.WriteBoolean("userSpaceFlushSufficesForDirectMapping", f.DirectMappingFlushSuffices);
        w.WriteEndObject();
        if (Leases is { } leases) LeaseCommand.WriteLeasesArray(w, "leases", leases);
        Daemon?.WriteJson(w);
        w.WriteEndObject();
    });
}
