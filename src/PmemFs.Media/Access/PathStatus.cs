using System.Runtime.InteropServices;
using PmemFs.Media.Native;

namespace PmemFs.Media.Access;

/// <summary>What kind of file a path names, and its owner, group and permission bits: what .NET's file APIs do not show.</summary>
/// <param name="Mode">the permission bits (07777).</param>
/// <param name="AllocatedBytes">bytes the file system has allocated to it (st_blocks × 512).</param>
/// <param name="IsDeviceDax">a character device whose sysfs subsystem is dax (the only devices PmemFs opens).</param>
public readonly record struct PathStatus(UnixFileKind Kind, uint OwnerUid, uint GroupGid, uint Mode, long Size = 0, long AllocatedBytes = 0, bool IsDeviceDax = false)
{
    /// <summary>
    /// statx of <paramref name="path"/>; with <paramref name="followSymlinks"/> false a symbolic
    /// link is reported as one. Null when nothing has that name.
    /// </summary>
    /// <exception cref="IOException">it cannot be examined (permission to search a directory, I/O error).</exception>
    public static unsafe PathStatus? Read(string path, bool followSymlinks)
    {
        LibC.statx_t st;
        if (LibC.statx_path(LibC.AT_FDCWD, path, followSymlinks ? 0 : LibC.AT_SYMLINK_NOFOLLOW, LibC.STATX_BASIC | LibC.STATX_BLOCKS, &st) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno is LibC.ENOENT or 20 /* ENOTDIR */) return null;
            throw new IOException($"{path}: cannot examine: {Marshal.GetPInvokeErrorMessage(errno)}");
        }
        var kind = KindOf(st.stx_mode);
        return new PathStatus(kind, st.stx_uid, st.stx_gid, (uint)st.stx_mode & 0xFFF, (long)st.stx_size,
            (st.stx_mask & LibC.STATX_BLOCKS) != 0 ? (long)st.stx_blocks * 512 : 0,
            kind == UnixFileKind.CharacterDevice && RegionFile.IsDeviceDax(st.stx_rdev_major, st.stx_rdev_minor));
    }

    internal static UnixFileKind KindOf(uint mode) => (int)(mode & LibC.S_IFMT) switch
    {
        LibC.S_IFREG => UnixFileKind.RegularFile,
        LibC.S_IFDIR => UnixFileKind.Directory,
        LibC.S_IFLNK => UnixFileKind.SymbolicLink,
        LibC.S_IFCHR => UnixFileKind.CharacterDevice,
        LibC.S_IFBLK => UnixFileKind.BlockDevice,
        LibC.S_IFIFO => UnixFileKind.Fifo,
        LibC.S_IFSOCK => UnixFileKind.Socket,
        _ => UnixFileKind.Other,
    };

    /// <summary>The effective uid of this process.</summary>
    public static uint EffectiveUid => LibC.geteuid();

    /// <summary>The effective gid of this process.</summary>
    public static uint EffectiveGid => LibC.getegid();
}

public enum UnixFileKind
{
    RegularFile,
    Directory,
    SymbolicLink,
    CharacterDevice,
    BlockDevice,
    Fifo,
    Socket,
    Other,
}
