namespace PmemFs.Daemon;

/// <summary>
/// Where a mount's pid file and log go: /run/pmemfs and /var/log/pmemfs for root, the user's
/// runtime directory otherwise. Named after the mountpoint, as systemd names mount units
/// (/mnt/pmem → mnt-pmem).
/// </summary>
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
}
