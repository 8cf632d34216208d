using System.Diagnostics;
using PmemFs.Daemon.Native;

namespace PmemFs.Daemon;

/// <summary>
/// Running the daemon in the background the way mount(8) users expect: the command returns
/// only once the mount is live (or with the daemon's error), and the daemon keeps none of
/// the caller's descriptors, so <c>$(pmemfs mount ...)</c> in a script does not hang.
/// </summary>
/// <remarks>
/// .NET cannot fork, so the parent starts a second copy of the program with pipes on its
/// stdout and stderr. The child starts its own session (setsid), relays errors through the
/// stderr pipe while mounting, says <see cref="ReadyLine"/> on stdout once mounted, then points
/// stdout/stderr at its log and stdin at /dev/null: the pipes close and the parent returns.
/// </remarks>
public static class BackgroundLaunch
{
    public const string ReadyLine = "PMEMFS-MOUNTED";

    /// <summary>Parent side: starts the child and waits for it to be mounted. Returns the exit code for the command.</summary>
    public static int StartAndWait(IReadOnlyList<string> childArgs, TextWriter stderr, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo(Environment.ProcessPath!)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        // Run as `dotnet pmemfs.dll`: the child needs the assembly path too.
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet")
            psi.ArgumentList.Add(typeof(BackgroundLaunch).Assembly.Location.Replace("PmemFs.Daemon.dll", "pmemfs.dll", StringComparison.Ordinal));
        foreach (var a in childArgs) psi.ArgumentList.Add(a);
        if (DaemonGc.ChooseForChild() is { } gc) psi.Environment[DaemonGc.Variable] = gc;

        CloseOnExecInherited();
        using var child = Process.Start(psi) ?? throw new MountException("cannot start the daemon process");
        child.StandardInput.Close();
        var relay = Task.Run(() =>
        {
            string? line;
            while ((line = child.StandardError.ReadLine()) is not null) stderr.WriteLine(line);
        });
        var ready = Task.Run(() =>
        {
            string? line;
            while ((line = child.StandardOutput.ReadLine()) is not null)
                if (line == ReadyLine) return true;
            return false;
        });
        if (!ready.Wait(timeout))
        {
            stderr.WriteLine($"pmemfs: mount: the daemon (pid {child.Id}) did not report the mount within {timeout.TotalSeconds:0} s; stopping it");
            try { child.Kill(); } catch (InvalidOperationException) { }
            return 1;
        }
        relay.Wait(TimeSpan.FromMilliseconds(500));
        if (ready.Result) return 0;
        if (!child.WaitForExit(TimeSpan.FromSeconds(30))) return 1;
        return child.ExitCode == 0 ? 1 : child.ExitCode;
    }

    /// <summary>
    /// Descriptors this process inherited without close-on-exec (a calling script's pipes, a
    /// test harness's) must not reach the daemon: it would hold them open for its whole life.
    /// </summary>
    private static void CloseOnExecInherited()
    {
        foreach (var entry in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
        {
            if (!int.TryParse(Path.GetFileName(entry), out int fd) || fd < 3) continue;
            int flags = LibC.fcntl(fd, LibC.F_GETFD, 0);
            if (flags >= 0 && (flags & LibC.FD_CLOEXEC) == 0) _ = LibC.fcntl(fd, LibC.F_SETFD, flags | LibC.FD_CLOEXEC);
        }
    }

    /// <summary>Child side, first thing: leave the caller's session (no SIGHUP from its terminal).</summary>
    public static void DetachFromSession() => _ = LibC.setsid();

    /// <summary>
    /// Child side, once mounted: tell the parent, then let go of its pipes. .NET's console holds
    /// duplicates of descriptors 0-2, so every descriptor open on the same pipes is replaced.
    /// </summary>
    public static void ReportMountedAndDetach(string logFile)
    {
        Console.Out.WriteLine(ReadyLine);
        Console.Out.Flush();
        Console.Error.Flush();
        string?[] standard = [LinkOf(0), LinkOf(1), LinkOf(2)];
        int log = LibC.open(logFile, LibC.O_WRONLY | LibC.O_CREAT | LibC.O_APPEND | LibC.O_CLOEXEC, (int)RuntimePaths.LogFileMode);
        int devNull = LibC.open("/dev/null", LibC.O_RDWR | LibC.O_CLOEXEC, 0);
        int output = log >= 0 ? log : devNull;
        foreach (var entry in Directory.GetFileSystemEntries("/proc/self/fd"))
        {
            if (!int.TryParse(Path.GetFileName(entry), out int fd) || fd == log || fd == devNull) continue;
            string? link = LinkOf(fd);
            if (link is null || !link.StartsWith("pipe:", StringComparison.Ordinal)) continue;
            if (link == standard[0] && devNull >= 0) _ = LibC.dup2(devNull, fd);
            else if ((link == standard[1] || link == standard[2]) && output >= 0) _ = LibC.dup2(output, fd);
        }
        if (log >= 0) _ = LibC.close(log);
        if (devNull >= 0) _ = LibC.close(devNull);
    }

    private static string? LinkOf(int fd)
    {
        try { return new FileInfo($"/proc/self/fd/{fd}").LinkTarget; }
        catch (IOException) { return null; }
    }
}
