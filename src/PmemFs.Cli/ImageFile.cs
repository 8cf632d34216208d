using PmemFs.Media.Access;

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
    public static ImageFile Inspect(string path)
    {
        if (PathStatus.Read(path, followSymlinks: true) is not { } st) return new ImageFile(path, ImageFileKind.Missing, 0, 0);
        var kind = st.Kind switch
        {
            UnixFileKind.RegularFile => ImageFileKind.RegularFile,
            // Only device DAX: opening any other character device could act (a watchdog starts).
            UnixFileKind.CharacterDevice when st.IsDeviceDax => ImageFileKind.CharacterDevice,
            UnixFileKind.Directory => ImageFileKind.Directory,
            _ => ImageFileKind.Other,
        };
        return new ImageFile(path, kind, st.Size, st.AllocatedBytes);
    }

    /// <summary>Every byte of the regular file has its block (no holes that a store could fault on).</summary>
    public bool IsFullyAllocated => Kind == ImageFileKind.RegularFile && AllocatedBytes >= Length;

    /// <summary>Why this path cannot hold an image, or null when it can (a regular file or a character device).</summary>
    public string? UnusableReason => Kind switch
    {
        ImageFileKind.Missing => "no such file",
        ImageFileKind.Directory => "is a directory",
        ImageFileKind.Other => "is neither a regular file nor a device-DAX character device (/dev/daxX.Y)",
        _ => null,
    };
}
