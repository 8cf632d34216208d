using System.Runtime.InteropServices;

namespace PmemFs.Media.Native;

/// <summary>
/// The few libc calls .NET has no API for: opening a region without following it into a FIFO's
/// blocking open, what kind of file an fd is and who may open it, reserving the blocks of an
/// image up front (a sparse image on a full tmpfs turns a store into SIGBUS), and the user and
/// group names of ids.
/// </summary>
internal static unsafe partial class LibC
{
    private const string Lib = "libc.so.6";

    public const int AT_FDCWD = -100;
    public const int AT_EMPTY_PATH = 0x1000;
    public const int AT_SYMLINK_NOFOLLOW = 0x100;
    public const uint STATX_TYPE = 0x1, STATX_MODE = 0x2, STATX_UID = 0x8, STATX_GID = 0x10, STATX_INO = 0x100, STATX_SIZE = 0x200, STATX_BLOCKS = 0x400;
    public const uint STATX_BASIC = STATX_TYPE | STATX_MODE | STATX_UID | STATX_GID | STATX_INO | STATX_SIZE;

    public const int S_IFMT = 0xF000;
    public const int S_IFREG = 0x8000;
    public const int S_IFCHR = 0x2000;
    public const int S_IFBLK = 0x6000;
    public const int S_IFDIR = 0x4000;
    public const int S_IFIFO = 0x1000;
    public const int S_IFSOCK = 0xC000;
    public const int S_IFLNK = 0xA000;

    public const int O_RDONLY = 0, O_RDWR = 2, O_CREAT = 0x40, O_EXCL = 0x80, O_NOCTTY = 0x100, O_NONBLOCK = 0x800, O_CLOEXEC = 0x80000;

    /// <summary>O_NOFOLLOW differs by architecture: 0100000 on arm and arm64, 0400000 on x86.</summary>
    public static int O_NOFOLLOW =>
        RuntimeInformation.ProcessArchitecture is Architecture.Arm or Architecture.Arm64 ? 0x8000 : 0x20000;

    public const int ENOENT = 2, EEXIST = 17, ENODATA = 61, ELOOP = 40, ENXIO = 6;

    /// <summary>
    /// struct statx (linux/stat.h). Unlike struct stat its layout is the same on every
    /// architecture, which is why it is used here. Only the fields read are spelled out.
    /// </summary>
    [StructLayout(LayoutKind.Explicit, Size = 256)]
    public struct statx_t
    {
        [FieldOffset(0)] public uint stx_mask;
        [FieldOffset(20)] public uint stx_uid;
        [FieldOffset(24)] public uint stx_gid;
        [FieldOffset(28)] public ushort stx_mode;
        [FieldOffset(32)] public ulong stx_ino;
        [FieldOffset(40)] public ulong stx_size;
        [FieldOffset(48)] public ulong stx_blocks;
        [FieldOffset(128)] public uint stx_rdev_major;
        [FieldOffset(132)] public uint stx_rdev_minor;
        [FieldOffset(136)] public uint stx_dev_major;
        [FieldOffset(140)] public uint stx_dev_minor;
    }

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int statx(int dirfd, byte* pathname, int flags, uint mask, statx_t* statxbuf);

    [LibraryImport(Lib, EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int statx_path(int dirfd, string pathname, int flags, uint mask, statx_t* statxbuf);

    /// <summary>Returns 0 or an errno value (it does not set errno).</summary>
    [LibraryImport(Lib)]
    public static partial int posix_fallocate(int fd, long offset, long len);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int open(string pathname, int flags, int mode);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int fchmod(int fd, uint mode);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int fchown(int fd, uint owner, uint group);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint fgetxattr(int fd, string name, byte* value, nuint size);

    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint getxattr(string path, string name, byte* value, nuint size);

    [LibraryImport(Lib)]
    public static partial uint geteuid();

    [LibraryImport(Lib)]
    public static partial uint getegid();

    /// <summary>stx_mode of an open fd (fstat-like), or -errno.</summary>
    public static int FileMode(int fd)
    {
        statx_t st;
        int rc = Fstatx(fd, STATX_TYPE, &st);
        return rc != 0 ? rc : st.stx_mode;
    }

    /// <summary>statx of an open fd; 0 or -errno.</summary>
    public static int Fstatx(int fd, uint mask, statx_t* st)
    {
        byte empty = 0;
        return statx(fd, &empty, AT_EMPTY_PATH, mask, st) != 0 ? -Marshal.GetLastPInvokeError() : 0;
    }

    // --- user and group names (NSS: /etc/passwd, /etc/group, or whatever nsswitch.conf says) ---

    [LibraryImport(Lib)]
    public static partial int getpwuid_r(uint uid, void* pwd, byte* buf, nuint buflen, void** result);

    [LibraryImport(Lib)]
    public static partial int getgrgid_r(uint gid, void* grp, byte* buf, nuint buflen, void** result);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int getgrnam_r(string name, void* grp, byte* buf, nuint buflen, void** result);

    /// <summary>struct passwd (x86-64 and arm64): pw_name first.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct passwd_t
    {
        public byte* pw_name;
        public byte* pw_passwd;
        public uint pw_uid;
        public uint pw_gid;
        public byte* pw_gecos;
        public byte* pw_dir;
        public byte* pw_shell;
    }

    /// <summary>struct group: gr_name, gr_passwd, gr_gid, gr_mem (NULL-terminated array of names).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct group_t
    {
        public byte* gr_name;
        public byte* gr_passwd;
        public uint gr_gid;
        public byte** gr_mem;
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
