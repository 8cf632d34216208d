using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using PmemFs.Media.Native;

namespace PmemFs.Media.Access;

/// <summary>
/// Opening the file or device a user names as a region, safely: only a regular file or a
/// device-DAX character device is ever opened. A FIFO would block the open forever, and opening
/// an arbitrary character device can act (a watchdog starts counting), so the kind is read
/// with statx first, device-DAX is told from other character devices by its sysfs subsystem
/// (as libpmem2 does), and the open (non-blocking, no controlling terminal) is checked to have
/// opened the very file that was examined.
/// </summary>
public static class RegionFile
{
    /// <summary>Opens an existing region for reading, or for reading and writing.</summary>
    /// <param name="followSymlinks">false: a symbolic link is refused (O_NOFOLLOW), for callers that have already decided about links.</param>
    /// <exception cref="MediaException">not a regular file or device-DAX device, or it cannot be opened.</exception>
    public static unsafe SafeFileHandle Open(string path, bool writable, bool followSymlinks = true)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        LibC.statx_t before;
        if (LibC.statx_path(LibC.AT_FDCWD, path, followSymlinks ? 0 : LibC.AT_SYMLINK_NOFOLLOW, LibC.STATX_BASIC, &before) != 0)
            throw Failed(path, writable, Marshal.GetLastPInvokeError());
        var kind = PathStatus.KindOf(before.stx_mode);
        if (UnusableKind(kind, kind == UnixFileKind.CharacterDevice && IsDeviceDax(before.stx_rdev_major, before.stx_rdev_minor)) is { } reason)
            throw new MediaException(path, reason);

        int flags = (writable ? LibC.O_RDWR : LibC.O_RDONLY) | LibC.O_NONBLOCK | LibC.O_NOCTTY | LibC.O_CLOEXEC
            | (followSymlinks ? 0 : LibC.O_NOFOLLOW);
        int fd = LibC.open(path, flags, 0);
        if (fd < 0) throw Failed(path, writable, Marshal.GetLastPInvokeError());
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        LibC.statx_t after;
        int rc = LibC.Fstatx(fd, LibC.STATX_BASIC, &after);
        if (rc != 0 || after.stx_ino != before.stx_ino || after.stx_dev_major != before.stx_dev_major || after.stx_dev_minor != before.stx_dev_minor)
        {
            handle.Dispose();
            throw new MediaException(path, "was replaced while being opened; try again");
        }
        return handle;
    }

    /// <summary>
    /// Creates a new image file, private to its creator (mode 0600 whatever the umask), failing
    /// if anything, a symbolic link included, already has the name.
    /// </summary>
    /// <exception cref="MediaException">the name exists or the file cannot be created.</exception>
    public static SafeFileHandle CreatePrivate(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        const uint privateMode = 0b_110_000_000; // 0600
        int fd = LibC.open(path, LibC.O_RDWR | LibC.O_CREAT | LibC.O_EXCL | LibC.O_NOFOLLOW | LibC.O_CLOEXEC, (int)privateMode);
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw new MediaException(path, errno == LibC.EEXIST
                ? "already exists (something was created under this name meanwhile)"
                : $"cannot create: {Marshal.GetPInvokeErrorMessage(errno)}");
        }
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        // open's mode is filtered by the umask, which could take the owner's bits away too.
        if (LibC.fchmod(fd, privateMode) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            handle.Dispose();
            throw new MediaException(path, $"cannot make it private (chmod 0600): {Marshal.GetPInvokeErrorMessage(errno)}");
        }
        return handle;
    }

    /// <summary>
    /// Gives the region to a group and opens it to that group (chgrp GROUP; chmod 0660): how
    /// direct access is granted (docs/security.md). Done on the open file, not the path.
    /// </summary>
    /// <exception cref="MediaException">the change was refused (not the owner, not a member of the group).</exception>
    public static void ShareWithGroup(string path, uint gid, bool followSymlinks)
    {
        using var handle = Open(path, writable: false, followSymlinks);
        int fd = (int)handle.DangerousGetHandle();
        if (LibC.fchown(fd, uint.MaxValue, gid) != 0)
            throw new MediaException(path, $"cannot give it to group {Accounts.GroupName(gid)}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        if (LibC.fchmod(fd, 0b_110_110_000) != 0) // 0660
            throw new MediaException(path, $"cannot set mode 0660: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
    }

    /// <summary>
    /// Who can open the region <paramref name="path"/> names, once it is known to be one (a
    /// regular file or a device-DAX device; symbolic links followed). Opens nothing.
    /// </summary>
    /// <exception cref="MediaException">no such file, or not a kind of file that can be a region.</exception>
    public static RegionAccess Examine(string path)
    {
        var st = PathStatus.Read(path, followSymlinks: true) ?? throw new MediaException(path, "no such file");
        if (UnusableKind(st.Kind, st.IsDeviceDax) is { } reason) throw new MediaException(path, reason);
        return RegionAccess.Of(st, path);
    }

    /// <summary>Why a file of this kind cannot be a region, or null when it can.</summary>
    private static string? UnusableKind(UnixFileKind kind, bool isDeviceDax) => kind switch
    {
        UnixFileKind.RegularFile => null,
        UnixFileKind.CharacterDevice => isDeviceDax ? null
            : "is a character device but not a device-DAX device (/dev/daxX.Y); refusing to open it",
        UnixFileKind.Directory => "is a directory",
        UnixFileKind.Fifo => "is a FIFO (named pipe), not an image file or a device-DAX device",
        UnixFileKind.Socket => "is a socket, not an image file or a device-DAX device",
        UnixFileKind.BlockDevice => "is a block device; PmemFs needs a device-DAX character device (/dev/daxX.Y) or an image file (on an fsdax file system for real pmem)",
        UnixFileKind.SymbolicLink => "is a symbolic link",
        _ => "is neither a regular file nor a device-DAX character device",
    };

    /// <summary>Device DAX is the character device whose sysfs subsystem is "dax" (libpmem2's own test).</summary>
    public static bool IsDeviceDax(uint major, uint minor)
    {
        try
        {
            var subsystem = new DirectoryInfo($"/sys/dev/char/{major}:{minor}/subsystem").ResolveLinkTarget(returnFinalTarget: true);
            return subsystem is not null && subsystem.Name == "dax";
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static MediaException Failed(string path, bool writable, int errno) => errno switch
    {
        LibC.ENOENT => new MediaException(path, "no such file"),
        LibC.ELOOP => new MediaException(path, "is a symbolic link (refused here)"),
        _ => new MediaException(path, $"cannot open {(writable ? "read-write" : "read-only")}: {Marshal.GetPInvokeErrorMessage(errno)}"),
    };
}
