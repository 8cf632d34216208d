using System.Globalization;
using PmemFs.Engine;

namespace PmemFs.Daemon;

/// <summary>
/// Finds processes that map a file of this mount. FUSE never tells a daemon about mmap, so
/// this reads every /proc/PID/maps and looks for the mount's device and the file's inode
/// number (a FUSE file's st_ino is the daemon's inode number). Used only where a mapping
/// forbids something (clearing DAX_IMMUTABLE), never on a hot path.
/// </summary>
/// <remarks>
/// Limits (docs/flags.md): processes in other PID namespaces are not seen; a mapping made
/// after the scan is not seen. Reading another process's maps takes its mmap lock, which a
/// process faulting on this very mount may hold while it waits for us: the scan runs on its own
/// thread, and an answer that does not come within <see cref="Timeout"/> counts as "mapped".
/// </remarks>
public sealed class ProcMapsProbe(string mountpoint, string image, DaemonLog log) : IMappingProbe
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(2);

    private string? _device;

    public bool IsMapped(ulong ino)
    {
        string? device = _device ??= MapsDevice(mountpoint, image);
        if (device is null)
        {
            log.Error($"{mountpoint}: not in /proc/self/mountinfo; treating inode {ino} as mapped");
            return true;
        }
        var scan = Task.Run(() => FindMapper(device, ino, Environment.ProcessId));
        if (!scan.Wait(Timeout))
        {
            log.Info($"inode {ino}: /proc/*/maps scan did not finish in {Timeout.TotalSeconds} s; treating the file as mapped");
            return true;
        }
        if (scan.Result is { } pid) log.Info($"inode {ino}: mapped by pid {pid}");
        return scan.Result is not null;
    }

    /// <summary>The mount's device as /proc/PID/maps prints it ("%02x:%02x"), from mountinfo's decimal "major:minor".</summary>
    public static string? MapsDevice(string mountpoint, string image)
    {
        var entry = MountTable.FindServing(mountpoint, image);
        return entry is null ? null : FormatMapsDevice(entry.Device);
    }

    public static string? FormatMapsDevice(string majorMinor)
    {
        var parts = majorMinor.Split(':');
        if (parts.Length != 2 || !uint.TryParse(parts[0], CultureInfo.InvariantCulture, out uint major)
            || !uint.TryParse(parts[1], CultureInfo.InvariantCulture, out uint minor))
            return null;
        return string.Create(CultureInfo.InvariantCulture, $"{major:x2}:{minor:x2}");
    }

    /// <summary>The first process but <paramref name="exceptPid"/> that maps (<paramref name="device"/>, <paramref name="ino"/>), or null.</summary>
    public static int? FindMapper(string device, ulong ino, int exceptPid)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), CultureInfo.InvariantCulture, out int pid) || pid == exceptPid) continue;
            try
            {
                foreach (var line in File.ReadLines(Path.Combine(dir, "maps")))
                    if (LineMaps(line, device, ino)) return pid;
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return null;
    }

    /// <summary>"start-end perms offset dev inode [path]": fields 4 and 5.</summary>
    public static bool LineMaps(ReadOnlySpan<char> line, string device, ulong ino)
    {
        Span<Range> fields = stackalloc Range[6];
        int n = line.Split(fields, ' ', StringSplitOptions.RemoveEmptyEntries);
        if (n < 5) return false;
        return line[fields[3]].SequenceEqual(device)
            && ulong.TryParse(line[fields[4]], NumberStyles.None, CultureInfo.InvariantCulture, out ulong inode) && inode == ino;
    }
}
