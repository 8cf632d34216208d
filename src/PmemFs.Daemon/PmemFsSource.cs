using Microsoft.Win32.SafeHandles;
using PmemFs.Format;
using PmemFs.Media.Access;

namespace PmemFs.Daemon;

/// <summary>
/// Whether a plain <c>fuse</c> mount (one made with -o nosubtype, whose type does not say
/// pmemfs) is a PmemFs mount: its source, the image or device it was mounted from (fsname=),
/// begins with a PmemFs superblock, or, when that cannot be read (a device-DAX device, an image
/// this user may not read, a damaged primary superblock), a PmemFs daemon of this user left
/// its pid file for that mount point (<see cref="RuntimePaths.PidFile"/>).
/// </summary>
public static class PmemFsSource
{
    public static bool Names(string source, string mountpoint) =>
        StartsWithSuperblock(source) || File.Exists(RuntimePaths.PidFile(mountpoint));

    private static bool StartsWithSuperblock(string source)
    {
        if (!source.StartsWith('/')) return false;
        try
        {
            // Regular files only: reading a character device could act on it.
            if (PathStatus.Read(source, followSymlinks: true) is not { Kind: UnixFileKind.RegularFile }) return false;
            using SafeFileHandle file = File.OpenHandle(source, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            Span<byte> head = stackalloc byte[DiskSuperblock.Size];
            return RandomAccess.Read(file, head, 0) == head.Length && DiskSuperblock.HasMagic(head);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; }
    }
}
