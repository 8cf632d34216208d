using System.Runtime.InteropServices;

namespace PmemFs.Media.Native;

/// <summary>
/// The few libc calls .NET has no API for: what kind of file an fd is, and reserving the
/// blocks of an image up front (a sparse image on a full tmpfs turns a store into SIGBUS).
/// </summary>
internal static unsafe partial class LibC
{
    private const string Lib = "libc.so.6";

    public const int AT_EMPTY_PATH = 0x1000;
    public const uint STATX_TYPE = 0x1;
    public const uint STATX_SIZE = 0x200;

    public const int S_IFMT = 0xF000;
    public const int S_IFREG = 0x8000;
    public const int S_IFCHR = 0x2000;

    /// <summary>
    /// struct statx (linux/stat.h). Unlike struct stat its layout is the same on every
    /// architecture, which is why it is used here. Only the fields read are spelled out.
    /// </summary>
    [StructLayout(LayoutKind.Explicit, Size = 256)]
    public struct statx_t
    {
        [FieldOffset(0)] public uint stx_mask;
        [FieldOffset(28)] public ushort stx_mode;
        [FieldOffset(40)] public ulong stx_size;
    }

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int statx(int dirfd, byte* pathname, int flags, uint mask, statx_t* statxbuf);

    /// <summary>Returns 0 or an errno value (it does not set errno).</summary>
    [LibraryImport(Lib)]
    public static partial int posix_fallocate(int fd, long offset, long len);

    /// <summary>stx_mode of an open fd (fstat-like), or -errno.</summary>
    public static int FileMode(int fd)
    {
        statx_t st;
        byte empty = 0;
        if (statx(fd, &empty, AT_EMPTY_PATH, STATX_TYPE, &st) != 0) return -Marshal.GetLastPInvokeError();
        return st.stx_mode;
    }

    public const int F_OFD_SETLK = 37;
    public const short F_RDLCK = 0, F_WRLCK = 1;
    public const int EAGAIN = 11, EACCES = 13, EINTR = 4;

    /// <summary>struct flock (x86-64): whole-file locks use start 0, length 0.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct flock_t
    {
        public short l_type;
        public short l_whence;
        public long l_start;
        public long l_len;
        public int l_pid;
    }

    [LibraryImport(Lib, EntryPoint = "fcntl", SetLastError = true)]
    public static partial int fcntl_lock(SafeHandle fd, int cmd, flock_t* lck);
}
