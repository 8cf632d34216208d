using System.Runtime.InteropServices;
using PmemFs.Daemon.Native;
using PmemFs.Media;

namespace PmemFs.Daemon;

/// <summary>
/// Unmounting so that a script can go on at once: umount, then wait until the daemon has
/// checkpointed and let go of the image (plain umount returns before that). Also clears a
/// dead mount left by a killed daemon.
/// </summary>
public static class Unmount
{
    /// <summary>
    /// Unmounts <paramref name="mountpoint"/> and waits for its daemon; returns another mount
    /// point the same daemon still serves (a shared second mount point, <see cref="SharedMount"/>),
    /// in which case nothing is waited for, or null.
    /// </summary>
    public static string? Run(string mountpoint, bool lazy, TimeSpan wait)
    {
        string full = Path.GetFullPath(mountpoint);
        var entry = MountTable.FindPmemFs(full) ?? throw new MountException($"{full}: not a PmemFs mount");
        string pidFile = RuntimePaths.PidFile(full);
        int? pid = ReadPid(pidFile);

        if (LibC.umount2(full, lazy ? LibC.MNT_DETACH : 0) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno == LibC.EBUSY)
                throw new MountException($"{full}: busy (a process has a file or its working directory there); close it, or use --lazy");
            if (errno == LibC.EPERM) FuserMount(full);
            else throw new MountException($"{full}: cannot unmount: {Marshal.GetPInvokeErrorMessage(errno)}");
        }

        // The daemon serves on while the image is mounted elsewhere (a shared mount point).
        if (MountTable.FindByImage(entry.Source) is { } other) return other.Mountpoint;

        var deadline = DateTime.UtcNow + wait;
        if (pid is { } p)
        {
            while (IsAlive(p) && DateTime.UtcNow < deadline) Thread.Sleep(20);
            if (IsAlive(p)) throw new MountException($"{full}: unmounted, but the daemon (pid {p}) is still running after {wait.TotalSeconds:0} s");
        }
        // The image lock says the daemon let go, whoever it was (no pid file: another mount tool).
        if (File.Exists(entry.Source))
        {
            using var released = ImageLock.TryAcquire(entry.Source, exclusive: false, deadline - DateTime.UtcNow > TimeSpan.Zero ? deadline - DateTime.UtcNow : TimeSpan.Zero)
                ?? throw new MountException($"{full}: unmounted, but {entry.Source} is still held by its daemon after {wait.TotalSeconds:0} s");
        }
        return null;
    }

    private static void FuserMount(string mountpoint)
    {
        using var p = System.Diagnostics.Process.Start("fusermount3", ["-u", mountpoint]);
        p.WaitForExit();
        if (p.ExitCode != 0) throw new MountException($"{mountpoint}: fusermount3 -u failed");
    }

    private static int? ReadPid(string pidFile)
    {
        try { return int.TryParse(File.ReadAllText(pidFile).Trim(), out int pid) ? pid : null; }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    private static bool IsAlive(int pid)
    {
        // A zombie (the daemon exited, its parent has not reaped it) has let go of everything.
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            int close = stat.LastIndexOf(')');
            return close < 0 || close + 2 >= stat.Length || stat[close + 2] != 'Z';
        }
        catch (IOException) { return false; }
    }
}
