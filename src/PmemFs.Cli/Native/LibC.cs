using System.Runtime.InteropServices;

namespace PmemFs.Cli.Native;

/// <summary>
/// The libc calls .NET has no API for. statx: whether chattr and lsattr are looking at a
/// symbolic link (the image's own statx is PathStatus, in PmemFs.Media). open/ioctl/close: PmemFs's flag ioctls, for chattr, lsattr and info FILE.
/// </summary>
internal static unsafe partial class LibC
{
    private const string Lib = "libc.so.6";

    public const int AT_FDCWD = -100;
    public const uint STATX_TYPE = 0x1;

    public const int S_IFMT = 0xF000;
    public const int S_IFREG = 0x8000;
    public const int S_IFDIR = 0x4000;

    /// <summary>struct statx (linux/stat.h): the same layout on every architecture. Only the fields read are spelled out.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 256)]
    public struct statx_t
    {
        [FieldOffset(0)] public uint stx_mask;
        [FieldOffset(28)] public ushort stx_mode;
        [FieldOffset(32)] public ulong stx_ino;
        [FieldOffset(40)] public ulong stx_size;
        [FieldOffset(136)] public uint stx_dev_major;
        [FieldOffset(140)] public uint stx_dev_minor;
    }

    public const uint STATX_MODE = 0x2, STATX_INO = 0x100, STATX_SIZE = 0x200;
    public const int AT_EMPTY_PATH = 0x1000;

    /// <summary>statx of an open descriptor (AT_EMPTY_PATH).</summary>
    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int statx(int dirfd, string pathname, int flags, uint mask, ref statx_t statxbuf);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int statx(int dirfd, string pathname, int flags, uint mask, statx_t* statxbuf);

    // --- PmemFs's flag ioctls (chattr, lsattr, info FILE) ---

    public const int AT_SYMLINK_NOFOLLOW = 0x100;
    public const int S_IFLNK = 0xA000;

    public const int O_RDONLY = 0, O_NONBLOCK = 0x800, O_CLOEXEC = 0x80000;

    /// <summary>O_NOFOLLOW differs by architecture: 0100000 on arm and arm64, 0400000 on x86.</summary>
    public static int O_NOFOLLOW =>
        RuntimeInformation.ProcessArchitecture is Architecture.Arm or Architecture.Arm64 ? 0x8000 : 0x20000;

    public const int EPERM = 1, EINVAL = 22, ENOTTY = 25, ENOSYS = 38, EOPNOTSUPP = 95;

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int open(string pathname, int flags);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int close(int fd);

    public const int O_WRONLY = 1, O_CREAT = 0x40, O_EXCL = 0x80, O_APPEND = 0x400;
    public const int EEXIST = 17, ENOENT = 2;

    /// <summary>open(2) with a mode (for O_CREAT).</summary>
    [LibraryImport(Lib, EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int open(string pathname, int flags, uint mode);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int ftruncate(int fd, long length);

    /// <summary>ioctl(2) with a pointer argument (the C prototype is variadic; one pointer passes the same on x86-64 and arm64).</summary>
    [LibraryImport(Lib, SetLastError = true)]
    public static partial int ioctl(int fd, nuint request, void* arg);

    /// <summary>realpath(3) with a NULL buffer: the result is malloc'd and must be freed with <see cref="free"/>.</summary>
    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial byte* realpath(string path, byte* resolved);

    [LibraryImport(Lib)]
    public static partial void free(void* ptr);
}
