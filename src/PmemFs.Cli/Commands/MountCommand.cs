using System.CommandLine;
using PmemFs.Cli.Output;
using PmemFs.Daemon;

namespace PmemFs.Cli.Commands;

/// <summary>
/// <c>pmemfs mount IMAGE DIR [-o OPTS] [-f]</c>: serves a PmemFs image over FUSE. By default
/// it returns once the mount is live and the daemon runs on in the background (log and pid
/// file under /var/log/pmemfs and /run/pmemfs); -f keeps it in the foreground, logging to stderr.
/// </summary>
public static class MountCommand
{
    public const string Name = "mount";

    public static Command Build(CliConsole console)
    {
        var image = CommandLine.ImageArgument("Image file or device-DAX device holding a PmemFs file system.");
        var dir = new Argument<string>("DIR") { Description = "Directory to mount on." };
        var options = new Option<string[]>("-o") { Description = "Mount options, comma-separated (ro, noatime, dax=inode|always|never, threads=N, allow_other, fsname=...; see docs/cli.md).", HelpName = "OPTS", AllowMultipleArgumentsPerToken = false };
        var foreground = new Option<bool>("--foreground", "-f") { Description = "Stay in the foreground and log to stderr." };
        var pidFile = new Option<string?>("--pid-file") { Description = "Where to write the daemon's pid (default /run/pmemfs/<mountpoint>.pid).", HelpName = "FILE" };
        var logFile = new Option<string?>("--log") { Description = "The background daemon's log (default /var/log/pmemfs/<mountpoint>.log).", HelpName = "FILE" };
        var child = new Option<bool>("--daemon-child") { Hidden = true };
        // mount(8) helpers pass these; accepted and ignored (-n: no mtab, -s: sloppy, -v: verbose).
        var sloppy = new Option<bool>("-n", "-s", "-v") { Hidden = true };

        var command = new Command(Name, "Mount a PmemFs image on a directory (returns once mounted; the daemon runs in the background).")
        {
            image, dir, options, foreground, pidFile, logFile, child, sloppy,
        };
        command.SetAction(parsed => Run(console,
            parsed.GetValue(image)!, parsed.GetValue(dir)!, parsed.GetValue(options) ?? [],
            parsed.GetValue(foreground), parsed.GetValue(pidFile), parsed.GetValue(logFile), parsed.GetValue(child)));
        return command;
    }

    private static int Run(CliConsole console, string image, string dir, string[] optionLists, bool foreground, string? pidFile, string? logFile, bool isChild) =>
        CommandGuard.Run(console, Name, ExitCodes.Failure, () =>
        {
            MountOptions options;
            try { options = MountOptions.Parse(optionLists); }
            catch (FormatException e) { throw CommandGuard.Fail(e.Message); }
            // A dead mount left by a killed daemon: cleared when it is this image's, explained otherwise.
            if (!isChild) MountDeadMounts.ClearOrRefuse(image, dir, console);
            // Mounted elsewhere already: a second mount point shares that mount, as on a kernel file system.
            if (!isChild && SharedMount.RunningElsewhere(image, dir) is { } first)
            {
                IReadOnlyList<string> notApplied;
                try { notApplied = SharedMount.Share(first, dir, optionLists); }
                catch (MountException e) { throw CommandGuard.Fail(e.Message); }
                console.Error.WriteLine($"pmemfs: {Name}: {first.Source} is already mounted on {first.Mountpoint}; {Path.GetFullPath(dir)} shares that mount (a bind mount: one daemon serves both)");
                if (notApplied.Count > 0)
                    console.Warn(Name, $"not applied: {string.Join(',', notApplied)} (options of the file system, which keeps those it was mounted with on {first.Mountpoint})");
                return ExitCodes.Ok;
            }
            pidFile ??= RuntimePaths.PidFile(dir);
            logFile ??= RuntimePaths.LogFile(dir);

            if (!foreground)
            {
                try
                {
                    RuntimePaths.PrepareDirectoryOf(logFile);
                    RuntimePaths.PrepareDirectoryOf(pidFile);
                }
                catch (MountException e) { throw CommandGuard.Fail(e.Message); }
                var args = new List<string> { Name, Path.GetFullPath(image), Path.GetFullPath(dir), "--foreground", "--daemon-child", "--pid-file", pidFile, "--log", logFile };
                foreach (var o in optionLists) args.AddRange(["-o", o]);
                return BackgroundLaunch.StartAndWait(args, console.Error, TimeSpan.FromSeconds(120));
            }

            if (isChild) BackgroundLaunch.DetachFromSession();
            TextWriter logWriter = isChild ? OpenLog(logFile) : console.Error;
            var log = new DaemonLog(logWriter);
            try
            {
                var daemon = new MountDaemon(new MountRequest(image, dir, options) { PidFile = pidFile }, log);
                return daemon.Run(mounted: () =>
                {
                    if (isChild) BackgroundLaunch.ReportMountedAndDetach(logFile);
                });
            }
            catch (Exception e) when (e is MountException or Fuse.FuseException)
            {
                log.Error(e.Message);
                throw CommandGuard.Fail(e.Message);
            }
        });

    /// <summary>
    /// The background daemon's log: 0640 when new, and what others could read of an old one is
    /// taken away. Opened O_APPEND: the daemon's stderr points at the same file once it has
    /// detached (libfuse's messages, the -o debug trace), and FileMode.Append alone keeps a
    /// position of its own that would overwrite what stderr appended.
    /// </summary>
    private static StreamWriter OpenLog(string logFile)
    {
        RuntimePaths.PrepareDirectoryOf(logFile);
        RuntimePaths.TightenLogFile(logFile);
        int fd = Native.LibC.open(logFile, Native.LibC.O_WRONLY | Native.LibC.O_CREAT | Native.LibC.O_APPEND | Native.LibC.O_CLOEXEC, (uint)RuntimePaths.LogFileMode);
        if (fd < 0) throw new IOException($"{logFile}: cannot open the log: {System.Runtime.InteropServices.Marshal.GetPInvokeErrorMessage(System.Runtime.InteropServices.Marshal.GetLastPInvokeError())}");
        var handle = new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: true);
        return new StreamWriter(new FileStream(handle, FileAccess.Write, bufferSize: 0)) { AutoFlush = true };
    }
}
