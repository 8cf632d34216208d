using System.Runtime.InteropServices;
using PmemFs.Cli.Native;
using PmemFs.Cli.Output;
using PmemFs.Daemon;

namespace PmemFs.Cli.Commands;

/// <summary>
/// A mount whose daemon is gone (kill -9, a crash) stays attached: every access to it fails
/// with ENOTCONN, so the mount point looks like no directory at all. Before mounting, `pmemfs
/// mount` looks for one: a dead mount of the same image on DIR is cleared (as `pmemfs unmount
/// DIR` would; the new mount replays the journal) and said so; any other dead mount there, or a
/// dead mount of the image on another directory, refuses the mount with what is attached and
/// the command that clears it.
/// </summary>
internal static class MountDeadMounts
{
    private const int ENOTCONN = 107, AT_STATX_FORCE_SYNC = 0x2000;

    /// <summary>Clears or explains a dead mount in the way; throws a command failure when the mount cannot go on.</summary>
    public static void ClearOrRefuse(string image, string dir, CliConsole console)
    {
        string img = Path.GetFullPath(image);
        string full = Path.GetFullPath(dir).TrimEnd('/');
        if (full.Length == 0) full = "/";
        var mounts = MountTable.Read();

        if (mounts.LastOrDefault(m => m.Mountpoint == full) is { } here && IsDead(full))
        {
            bool pmemfs = here.IsPmemFs;
            if (!pmemfs)
                throw CommandGuard.Fail($"{full}: a dead {here.FsType} mount of {here.Source} is still attached there (its daemon is gone: transport endpoint is not connected); clear it with: umount {full}");
            if (here.Source != img)
                throw CommandGuard.Fail($"{full}: a dead PmemFs mount of {here.Source} is still attached there (its daemon is gone); clear it with: pmemfs unmount {full}");
            try { Unmount.Run(full, lazy: false, TimeSpan.FromSeconds(30)); }
            catch (MountException e)
            {
                throw CommandGuard.Fail($"{full}: a dead PmemFs mount of {img} is still attached there (its daemon is gone) and clearing it failed: {e.Message}; "
                    + $"clear it with: pmemfs unmount {full} (or pmemfs unmount --lazy {full} while a process still uses it)");
            }
            console.Warn(MountCommand.Name, $"{full}: a dead PmemFs mount of {img} was still attached there (its daemon was gone); cleared it (as pmemfs unmount {full} does) and mounting again");
            return;
        }

        // The image itself may hang dead on another directory: the daemon would say "already mounted".
        if (mounts.LastOrDefault(m => m.Source == img && m.Mountpoint != full && m.IsPmemFs) is { } elsewhere && IsDead(elsewhere.Mountpoint))
            throw CommandGuard.Fail($"{img}: a dead PmemFs mount of it is still attached on {elsewhere.Mountpoint} (its daemon is gone); clear it with: pmemfs unmount {elsewhere.Mountpoint}");
    }

    /// <summary>Whether the mount on <paramref name="mountpoint"/> answers ENOTCONN (asked of the daemon, not the kernel's cache).</summary>
    internal static unsafe bool IsDead(string mountpoint)
    {
        LibC.statx_t buf;
        if (LibC.statx(LibC.AT_FDCWD, mountpoint, AT_STATX_FORCE_SYNC, LibC.STATX_TYPE, &buf) == 0) return false;
        return Marshal.GetLastPInvokeError() == ENOTCONN;
    }
}
