using System.Runtime.InteropServices;
using PmemFs.Cli.Native;

namespace PmemFs.Cli;

/// <summary>What a path names, as far as mkfs, fsck and info care.</summary>
public enum ImageFileKind
{
    Missing,
    RegularFile,
    CharacterDevice,
    Directory,
    Other,
}

/// <summary>The kind and size of the file an IMAGE argument names (symbolic links followed).</summary>
public readonly record struct ImageFile(string Path, ImageFileKind Kind, long Length, long AllocatedBytes)
{
    /// <exception cref="IOException">the path cannot be examined (permission, I/O error).</exception>
    public static unsafe ImageFile Inspect(string path)
    {
        LibC.statx_t st;
        if (LibC.statx(LibC.AT_FDCWD, path, 0, LibC.STATX_TYPE | LibC.STATX_SIZE | LibC.STATX_BLOCKS, &st) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno is LibC.ENOENT or LibC.ENOTDIR) return new ImageFile(path, ImageFileKind.Missing, 0, 0);
            throw new IOException($"{path}: cannot examine: {Marshal.GetPInvokeErrorMessage(errno)}");
        }
        var kind = (st.stx_mode & LibC.S_IFMT) switch
        {
            LibC.S_IFREG => ImageFileKind.RegularFile,
            LibC.S_IFCHR => ImageFileKind.CharacterDevice,
            LibC.S_IFDIR => ImageFileKind.Directory,
            _ => ImageFileKind.Other,
        };
        long allocated = (st.stx_mask & LibC.STATX_BLOCKS) != 0 ? (long)st.stx_blocks * 512 : 0;
        return new ImageFile(path, kind, (long)st.stx_size, allocated);
    }

    /// <summary>Every byte of the regular file has its block (no holes that a store could fault on).</summary>
    public bool IsFullyAllocated => Kind == ImageFileKind.RegularFile && AllocatedBytes >= Length;

    /// <summary>Why this path cannot hold an image, or null when it can (a regular file or a character device).</summary>
    public string? UnusableReason => Kind switch
    {
        ImageFileKind.Missing => "no such file",
        ImageFileKind.Directory => "is a directory",
        ImageFileKind.Other => "is neither a regular file nor a device-DAX character device",
        _ => null,
    };
}
