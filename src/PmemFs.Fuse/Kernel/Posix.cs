using System.Runtime.InteropServices;
using PmemFs.Fuse.Native;

namespace PmemFs.Fuse.Kernel;

/// <summary>The system calls the kernel transport makes on /dev/fuse.</summary>
internal static unsafe partial class Posix
{
    public const int EINTR = 4, EIO = 5, EAGAIN = 11, ENOENT = 2, ENODEV = 19, EINVAL = 22, ERANGE = 34, ENOSYS = 38,
        ENOTTY = 25, EPROTO = 71, ENOTCONN = 107;

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    public static partial nint Read(int fd, void* buf, nuint count);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    public static partial nint Write(int fd, void* buf, nuint count);

    [LibraryImport("libc", EntryPoint = "writev", SetLastError = true)]
    public static partial nint WriteV(int fd, IoVec* iov, int count);

    /// <summary>writev, retried on EINTR; 0 or a negative errno (-ENOENT: the request was interrupted and is gone).</summary>
    public static int Send(int fd, IoVec* iov, int count)
    {
        if (DebugTrace.Current is { } trace) trace.Message(*(OutHeader*)iov[0].Base);
        while (true)
        {
            nint n = WriteV(fd, iov, count);
            if (n >= 0) return 0;
            int errno = Marshal.GetLastPInvokeError();
            if (errno != EINTR) return -errno;
        }
    }
}
