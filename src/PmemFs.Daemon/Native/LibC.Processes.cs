using System.Runtime.InteropServices;

namespace PmemFs.Daemon.Native;

/// <summary>Watching processes: pidfds (glibc 2.36+ wraps pidfd_open), a wake-up pipe, poll.</summary>
internal static unsafe partial class LibC
{
    public const int ESRCH = 3, O_NONBLOCK = 0x800;
    public const short POLLIN = 1;

    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport("libc.so.6", SetLastError = true)]
    public static partial int pidfd_open(int pid, uint flags);

    [LibraryImport("libc.so.6", SetLastError = true)]
    public static partial int pipe2(ref int fds, int flags);

    [LibraryImport("libc.so.6", SetLastError = true)]
    public static unsafe partial int poll(PollFd* fds, nuint count, int timeout);

    [LibraryImport("libc.so.6", SetLastError = true)]
    public static unsafe partial nint read(int fd, byte* buf, nuint count);

    [LibraryImport("libc.so.6", SetLastError = true)]
    public static unsafe partial nint write(int fd, byte* buf, nuint count);
}
