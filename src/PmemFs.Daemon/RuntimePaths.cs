using PmemFs.Media.Access;

namespace PmemFs.Daemon;

/// <summary>
/// Where a mount's pid file and log go: /run/pmemfs and /var/log/pmemfs for root, the user's
/// runtime directory otherwise. Named after the mountpoint, as systemd names mount units
/// (/mnt/pmem → mnt-pmem).
/// </summary>
/// <remarks>
/// The log names images, mount points, inodes, pids and uids, and with -o debug every request
/// and file name, so it is readable by its owner and group only (0640 in a 0750 directory;
/// what others were given before is taken away at the next mount). A user's directory under
/// /tmp has a name anyone can guess and create first: it must be a real directory of the user's
/// own, or the mount is refused (docs/security.md).
/// </remarks>
public static class RuntimePaths
{
    public static string NameOf(string mountpoint)
    {
        string trimmed = Path.GetFullPath(mountpoint).Trim('/');
        return trimmed.Length == 0 ? "-" : trimmed.Replace('/', '-');
    }

    public static string PidFile(string mountpoint) => Path.Combine(RunDirectory, NameOf(mountpoint) + ".pid");

    public static string LogFile(string mountpoint) => Path.Combine(LogDirectory, NameOf(mountpoint) + ".log");

    private static bool IsRoot => Native.LibC.geteuid() == 0;

    private static string UserDirectory =>
        Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR") is { Length: > 0 } xdg ? Path.Combine(xdg, "pmemfs") : $"/tmp/pmemfs-{Native.LibC.geteuid()}";

    public static string RunDirectory => IsRoot ? "/run/pmemfs" : UserDirectory;

    public static string LogDirectory => IsRoot ? "/var/log/pmemfs" : UserDirectory;

    private const UnixFileMode OwnerAll = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode GroupReadSearch = UnixFileMode.GroupRead | UnixFileMode.GroupExecute;
    private const UnixFileMode OtherAll = UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;
    private const UnixFileMode GroupAll = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute;

    /// <summary>Mode of a new log file: owner and group read it (0640).</summary>
    public const UnixFileMode LogFileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead;

    /// <summary>
    /// Makes the directory that will hold <paramref name="file"/> ready. PmemFs's own directories
    /// are created private and checked (a real directory owned by this user, others shut out);
    /// the parent of a path the user gave with --log or --pid-file is only created if missing.
    /// </summary>
    /// <exception cref="MountException">a PmemFs directory that another user owns or that is a symbolic link.</exception>
    public static void PrepareDirectoryOf(string file)
    {
        string dir = Path.GetDirectoryName(Path.GetFullPath(file))!;
        if (dir == UserDirectory) Secure(dir, OwnerAll, shutOut: GroupAll | OtherAll);
        else if (dir == LogDirectory) Secure(dir, OwnerAll | GroupReadSearch, shutOut: OtherAll);
        else Directory.CreateDirectory(dir);
    }

    /// <summary>Takes away from an existing log file of this user what others could read (logs written before 0640).</summary>
    public static void TightenLogFile(string logFile)
    {
        if (PathStatus.Read(logFile, followSymlinks: false) is not { Kind: UnixFileKind.RegularFile } st || st.OwnerUid != Native.LibC.geteuid()) return;
        var mode = (UnixFileMode)st.Mode;
        if ((mode & OtherAll) != 0) File.SetUnixFileMode(logFile, mode & ~OtherAll);
    }

    private static void Secure(string dir, UnixFileMode mode, UnixFileMode shutOut)
    {
        var st = PathStatus.Read(dir, followSymlinks: false);
        if (st is null)
        {
            Directory.CreateDirectory(dir, mode);
            st = PathStatus.Read(dir, followSymlinks: false);
        }
        uint me = Native.LibC.geteuid();
        if (st is not { Kind: UnixFileKind.Directory } real || real.OwnerUid != me)
            throw new MountException($"{dir}: {(st?.Kind == UnixFileKind.SymbolicLink ? "is a symbolic link" : st?.Kind == UnixFileKind.Directory ? $"is owned by uid {st?.OwnerUid}, not by you" : "is not a directory")}; "
                + "it would hold this mount's log and pid file where another user could read or redirect them: remove it (or set XDG_RUNTIME_DIR, or give --log and --pid-file)");
        var current = (UnixFileMode)real.Mode;
        if ((current & shutOut) != 0) File.SetUnixFileMode(dir, current & ~shutOut);
    }
}
