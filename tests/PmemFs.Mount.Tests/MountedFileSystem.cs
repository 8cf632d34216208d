using System.Diagnostics;

namespace PmemFs.Mount.Tests;

/// <summary>Where the `pmemfs` command is and whether this machine can mount at all.</summary>
internal static class PmemfsEnvironment
{
    /// <summary>PMEMFS_CLI if set, else `pmemfs` on PATH; null when neither exists.</summary>
    public static string? Cli { get; } = FindCli();

    /// <summary>Why mount tests cannot run here, or null when they can.</summary>
    public static string? WhyNot { get; } = Check();

    /// <summary>Reports the calling test as skipped (never passed) when nothing can be mounted here.</summary>
    public static void SkipUnlessMountable() => Skip.If(WhyNot is not null, WhyNot);

    private static string? FindCli()
    {
        var env = Environment.GetEnvironmentVariable("PMEMFS_CLI");
        if (!string.IsNullOrEmpty(env)) return File.Exists(env) ? Path.GetFullPath(env) : null;
        return Proc.Which("pmemfs");
    }

    private static string? Check()
    {
        var env = Environment.GetEnvironmentVariable("PMEMFS_CLI");
        if (Cli is null)
            return string.IsNullOrEmpty(env)
                ? "no pmemfs command: set PMEMFS_CLI or install pmemfs on PATH (scripts/install.sh)"
                : $"PMEMFS_CLI={env} does not exist";
        if (!File.Exists("/dev/fuse")) return "/dev/fuse is missing";
        if (Environment.UserName != "root" && Proc.Run("id", "-u").Out.Trim() != "0") return "mount tests need root";
        if (!Directory.Exists("/dev/shm")) return "/dev/shm is missing";
        return null;
    }
}

/// <summary>
/// A fresh PmemFs image under /dev/shm, formatted and mounted with the real `pmemfs` command.
/// Dispose always unmounts, makes sure the daemon it started is gone, runs `pmemfs fsck` on the
/// image (as the fstests suite does after each test: a test whose file system is not clean at
/// the end fails, the image is kept for a look) and deletes the image.
/// </summary>
internal sealed class MountedFileSystem : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    /// <summary>
    /// A fixture living longer than this means something hangs in a syscall on the mount (no
    /// process wait can time out there): the watchdog kills the daemon, which fails every
    /// pending and later request with ENOTCONN, so the test fails instead of blocking CI.
    /// </summary>
    private static readonly TimeSpan Watchdog = TimeSpan.FromMinutes(
        int.TryParse(Environment.GetEnvironmentVariable("PMEMFS_TEST_WATCHDOG_MINUTES"), out int m) && m > 0 ? m : 5);

    private readonly string _options;
    private readonly Timer _watchdog;
    private bool _disposed;
    private volatile bool _watchdogFired;

    public MountedFileSystem(string size = "256M", string options = "", bool mount = true)
    {
        PmemfsEnvironment.SkipUnlessMountable();
        Cli = PmemfsEnvironment.Cli!;
        _options = options;
        Root = System.IO.Path.Combine("/dev/shm", "pmemfs-mt-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Root);
        Image = System.IO.Path.Combine(Root, "image");
        Path = System.IO.Path.Combine(Root, "mnt");
        Directory.CreateDirectory(Path);
        Name = Path.TrimStart('/').Replace('/', '-');
        _watchdog = new Timer(_ => OnWatchdog(), null, Watchdog, System.Threading.Timeout.InfiniteTimeSpan);
        try
        {
            var r = Proc.Run(Cli, ["mkfs", Image, "--size", size, "--force", "--quiet"], Timeout);
            if (!r.Ok) throw new InvalidOperationException("mkfs failed:\n" + r);
            if (mount) Mount();
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public string Cli { get; }

    /// <summary>The temporary folder holding the image and the mount point.</summary>
    public string Root { get; }

    public string Image { get; }

    /// <summary>The mount point.</summary>
    public string Path { get; }

    /// <summary>The mount's name: the mount point without its leading '/', other '/' as '-'.</summary>
    public string Name { get; }

    public string PidFile => $"/run/pmemfs/{Name}.pid";

    public string LogFile => $"/var/log/pmemfs/{Name}.log";

    /// <summary>
    /// Whether Dispose checks the image with fsck and fails when it is not clean (default). Only a
    /// test that leaves damage on purpose (and checks fsck's verdict itself) turns it off.
    /// </summary>
    public bool FsckOnDispose { get; set; } = true;

    /// <summary>The daemon this fixture started last (from the pid file), while it may be alive.</summary>
    public int? DaemonPid { get; private set; }

    /// <summary>Whether the kernel lists <see cref="Path"/> as a mount point.</summary>
    public bool IsMounted => MountPoints().Contains(Path);

    /// <summary>A path inside the mount.</summary>
    public string this[string relative] => System.IO.Path.Combine(Path, relative);

    public void Mount()
    {
        if (IsMounted) throw new InvalidOperationException($"{Path} is already mounted");
        var args = new List<string> { "mount", Image, Path };
        if (_options.Length > 0) args.AddRange(["-o", _options]);
        var r = Proc.Run(Cli, args, Timeout);
        if (!r.Ok) throw new InvalidOperationException("pmemfs mount failed:\n" + r + LogTail());
        if (!IsMounted) throw new InvalidOperationException($"pmemfs mount exited 0 but {Path} is not in /proc/self/mountinfo\n{r}{LogTail()}");
        DaemonPid = ReadDaemonPid();
    }

    /// <summary>`pmemfs unmount`, which waits for the daemon to exit; throws (after cleaning up) if it does not work.</summary>
    public void Unmount()
    {
        int? pid = DaemonPid;
        ProcResult? r = null;
        Exception? failure = null;
        try
        {
            r = Proc.Run(Cli, ["unmount", Path], Timeout);
            if (!r.Ok) failure = new InvalidOperationException("pmemfs unmount failed:\n" + r + LogTail());
        }
        catch (TimeoutException e)
        {
            failure = e;
        }
        if (IsMounted)
        {
            failure ??= new InvalidOperationException($"pmemfs unmount exited 0 but {Path} is still mounted\n{r}");
            Proc.Run("umount", "-l", Path);
        }
        if (pid is int p && IsOurDaemonAlive(p))
        {
            // `pmemfs unmount` promises to return after the daemon exited.
            failure ??= new InvalidOperationException($"pmemfs unmount returned while the daemon (pid {p}) still runs\n{r}");
            if (!WaitForExit(p, TimeSpan.FromSeconds(20))) KillDaemon();
        }
        DaemonPid = null;
        if (failure is not null) throw failure;
    }

    public void Remount()
    {
        Unmount();
        Mount();
    }

    /// <summary>`pmemfs fsck IMAGE` (the caller unmounts first).</summary>
    public ProcResult Fsck() => Proc.Run(Cli, ["fsck", Image], Timeout);

    /// <summary>kill -9 of the daemon this fixture started; waits until it is gone. Returns its pid.</summary>
    public int KillDaemon()
    {
        int pid = DaemonPid ?? throw new InvalidOperationException("no daemon of ours is running");
        if (!IsOurDaemonAlive(pid)) throw new InvalidOperationException($"daemon {pid} is not running");
        if (Native.kill(pid, Native.SIGKILL) != 0 && Native.Errno != 3 /* ESRCH */)
            throw new NativeException($"kill {pid}", Native.Errno);
        if (!WaitForExit(pid, Timeout)) throw new TimeoutException($"daemon {pid} survived SIGKILL");
        return pid;
    }

    /// <summary>Cleans the dead mount a killed daemon left: `pmemfs unmount`, falling back to `umount -l`.</summary>
    public ProcResult CleanDeadMount()
    {
        ProcResult r;
        try { r = Proc.Run(Cli, ["unmount", Path], Timeout); }
        catch (TimeoutException e) { r = new ProcResult("pmemfs unmount", -1, "", e.Message); }
        if (IsMounted) Proc.Run("umount", "-l", Path);
        DaemonPid = null;
        return r;
    }

    /// <summary>The last lines of the daemon's log, for failure messages.</summary>
    public string LogTail(int lines = 40)
    {
        if (_watchdogFired) return $"\n(the watchdog killed the daemon after {Watchdog.TotalMinutes} minutes: something hung)" + LogTailOnly(lines);
        return LogTailOnly(lines);
    }

    private string LogTailOnly(int lines)
    {
        try
        {
            if (!File.Exists(LogFile)) return $"\n(no log at {LogFile})";
            var all = File.ReadAllLines(LogFile);
            return $"\n--- {LogFile} (last {Math.Min(lines, all.Length)} lines)\n" + string.Join('\n', all.TakeLast(lines));
        }
        catch (IOException e)
        {
            return $"\n(log unreadable: {e.Message})";
        }
    }

    private void OnWatchdog()
    {
        if (_disposed || DaemonPid is not int pid || !IsOurDaemonAlive(pid)) return;
        _watchdogFired = true;
        Console.Error.WriteLine($"pmemfs mount tests: watchdog: {Path} has been mounted for {Watchdog.TotalMinutes} minutes; killing daemon {pid}");
        Native.kill(pid, Native.SIGKILL);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _watchdog.Dispose();
        int? pid = DaemonPid;
        try
        {
            if (IsMounted)
            {
                try { Proc.Run(Cli, ["unmount", Path], Timeout); }
                catch (TimeoutException) { }
                if (IsMounted) Proc.Run("umount", "-l", Path);
            }
        }
        catch (Exception) { }
        if (pid is int p && IsOurDaemonAlive(p) && !WaitForExit(p, TimeSpan.FromSeconds(20)))
        {
            Native.kill(p, Native.SIGKILL);
            WaitForExit(p, TimeSpan.FromSeconds(10));
        }
        DaemonPid = null;
        string? fsckFailure = null;
        try
        {
            if (FsckOnDispose && File.Exists(Image) && !IsMounted)
            {
                var fsck = Fsck();
                if (!fsck.Ok) fsckFailure = $"fsck of {Image} after the test is not clean (the image is kept):\n{fsck}";
            }
        }
        catch (Exception e) { fsckFailure = $"fsck of {Image} after the test could not run: {e.Message}"; }
        if (fsckFailure is not null) throw new InvalidOperationException(fsckFailure);
        try
        {
            if (File.Exists(Image)) File.Delete(Image);
            if (!IsMounted) Directory.Delete(Root, recursive: true);
            // The log's tail is in the failure messages that need it; PMEMFS_TEST_KEEP_LOGS=1 keeps it whole.
            if (Environment.GetEnvironmentVariable("PMEMFS_TEST_KEEP_LOGS") != "1" && File.Exists(LogFile)) File.Delete(LogFile);
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    private int ReadDaemonPid()
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            if (File.Exists(PidFile) && int.TryParse(File.ReadAllText(PidFile).Trim(), out int pid) && IsOurDaemonAlive(pid)) return pid;
            if (sw.Elapsed > TimeSpan.FromSeconds(5))
                throw new InvalidOperationException($"mounted, but {PidFile} names no live pmemfs daemon for {Path}"
                    + (File.Exists(PidFile) ? $" (it holds '{File.ReadAllText(PidFile).Trim()}')" : " (missing)") + LogTail());
            Thread.Sleep(50);
        }
    }

    /// <summary>Whether <paramref name="pid"/> is alive and is a daemon serving this fixture's image or mount point.</summary>
    private bool IsOurDaemonAlive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            int close = stat.LastIndexOf(')');
            if (close > 0 && close + 2 < stat.Length && stat[close + 2] == 'Z') return false;
            var cmdline = File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ');
            return cmdline.Contains(Path, StringComparison.Ordinal) || cmdline.Contains(Image, StringComparison.Ordinal);
        }
        catch (IOException) { return false; }
        catch (UnauthorizedAccessException) { return false; }
    }

    private bool WaitForExit(int pid, TimeSpan limit)
    {
        var sw = Stopwatch.StartNew();
        while (IsOurDaemonAlive(pid))
        {
            if (sw.Elapsed > limit) return false;
            Thread.Sleep(20);
        }
        return true;
    }

    /// <summary>The mount points the kernel lists for this process.</summary>
    public static HashSet<string> MountPoints()
    {
        var set = new HashSet<string>(StringComparer.Ordinal);
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            var fields = line.Split(' ');
            if (fields.Length > 4) set.Add(Unescape(fields[4]));
        }
        return set;
    }

    private static string Unescape(string s) =>
        s.Replace("\\040", " ", StringComparison.Ordinal).Replace("\\011", "\t", StringComparison.Ordinal)
         .Replace("\\012", "\n", StringComparison.Ordinal).Replace("\\134", "\\", StringComparison.Ordinal);
}
