using System.Runtime.InteropServices;

namespace PmemFs.Daemon.Native;

/// <summary>The process and mount calls .NET has no API for.</summary>
internal static unsafe partial class LibC
{
    private const string Lib = "libc.so.6";

    public const int MNT_DETACH = 2;
    public const int EINVAL = 22, ENOENT = 2, EBUSY = 16, EPERM = 1;

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int umount2(string target, int flags);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int mount(string source, string target, string? fileSystemType, ulong flags, nint data);

    public const ulong MS_RDONLY = 1, MS_NOSUID = 2, MS_NODEV = 4, MS_NOEXEC = 8, MS_REMOUNT = 32, MS_NOATIME = 1024,
        MS_NODIRATIME = 2048, MS_BIND = 4096, MS_RELATIME = 1 << 21, MS_STRICTATIME = 1 << 24;

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int setsid();

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int dup2(int oldfd, int newfd);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int open(string path, int flags, int mode);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int close(int fd);

    [LibraryImport(Lib)]
    public static partial uint geteuid();

    public const int F_GETFD = 1, F_SETFD = 2, FD_CLOEXEC = 1;

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int fcntl(int fd, int cmd, int arg);

    public const int O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_CREAT = 0x40, O_APPEND = 0x400, O_CLOEXEC = 0x80000;
}
