using System.Runtime.InteropServices;
using PmemFs.Cli.Native;
using PmemFs.Abi;

namespace PmemFs.Cli.Flags;

/// <summary>
/// PMEMFS_IOC_GET_FLAGS and PMEMFS_IOC_SET_FLAGS on a path: open, one ioctl, close. Errors are
/// errno values (0 is success): callers word them the way chattr(1) and lsattr(1) do.
/// </summary>
public static unsafe class FlagIoctl
{
    /// <summary>
    /// Reads the flags. O_NONBLOCK so that a fifo cannot hang the open; callers keep symlinks
    /// and special files away (chattr/lsattr) or name a file info already examined.
    /// </summary>
    public static int Get(string path, bool followSymlinks, out FileFlagReport result)
    {
        var arg = new PmemFsInodeFlags();
        int errno = Call(path, followSymlinks, PmemFsIoctlAbi.GetFlags, ref arg);
        result = new FileFlagReport(arg);
        return errno;
    }

    /// <summary>Sets and clears flags in one call (the daemon applies both as one change) and returns the state after it.</summary>
    public static int Set(string path, FlagExpression change, out FileFlagReport result)
    {
        var arg = new PmemFsInodeFlags { Version = PmemFsIoctlAbi.Version, Set = change.Set, Clear = change.Clear };
        int errno = Call(path, followSymlinks: false, PmemFsIoctlAbi.SetFlags, ref arg);
        result = new FileFlagReport(arg);
        return errno;
    }

    private static int Call(string path, bool followSymlinks, uint request, ref PmemFsInodeFlags arg)
    {
        int flags = LibC.O_RDONLY | LibC.O_NONBLOCK | LibC.O_CLOEXEC | (followSymlinks ? 0 : LibC.O_NOFOLLOW);
        int fd = LibC.open(path, flags);
        if (fd < 0) return Marshal.GetLastPInvokeError();
        try
        {
            fixed (PmemFsInodeFlags* p = &arg)
                return LibC.ioctl(fd, request, p) < 0 ? Marshal.GetLastPInvokeError() : 0;
        }
        finally
        {
            LibC.close(fd);
        }
    }

    /// <summary>strerror(3)'s text: "Operation not permitted".</summary>
    public static string Message(int errno) => Marshal.GetPInvokeErrorMessage(errno);
}
