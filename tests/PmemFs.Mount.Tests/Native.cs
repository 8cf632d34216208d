using System.Runtime.InteropServices;

namespace PmemFs.Mount.Tests;

/// <summary>The libc calls the tests make on the mounted file system, with errno.</summary>
internal static unsafe partial class Native
{
    private const string Libc = "libc";

    // open(2) flags (x86-64 / generic Linux values).
    public const int O_RDONLY = 0;
    public const int O_WRONLY = 1;
    public const int O_RDWR = 2;
    public const int O_CREAT = 0x40;
    public const int O_EXCL = 0x80;
    public const int O_TRUNC = 0x200;
    public const int O_APPEND = 0x400;
    public const int O_DIRECTORY = 0x10000;
    public const int O_CLOEXEC = 0x80000;

    // errno values.
    public const int EPERM = 1;
    public const int ENOENT = 2;
    public const int EIO = 5;
    public const int EFAULT = 14;
    public const int EBADF = 9;
    public const int EACCES = 13;
    public const int EEXIST = 17;
    public const int EXDEV = 18;
    public const int EINVAL = 22;
    public const int ENOSPC = 28;
    public const int ENOSYS = 38;
    public const int ENOTEMPTY = 39;
    public const int ENOTCONN = 107;
    public const int EOPNOTSUPP = 95;
    public const int ENXIO = 6;
    public const int ECONNABORTED = 103;
    public const int ENODATA = 61;

    // lseek whence.
    public const int SEEK_SET = 0;
    public const int SEEK_CUR = 1;
    public const int SEEK_END = 2;
    public const int SEEK_DATA = 3;
    public const int SEEK_HOLE = 4;

    // fallocate modes.
    public const int FALLOC_FL_KEEP_SIZE = 0x01;
    public const int FALLOC_FL_PUNCH_HOLE = 0x02;
    public const int FALLOC_FL_ZERO_RANGE = 0x10;

    // renameat2 flags and the "current directory" fd.
    public const uint RENAME_NOREPLACE = 1;
    public const uint RENAME_EXCHANGE = 2;
    public const int AT_FDCWD = -100;

    // mmap.
    public const int PROT_READ = 1;
    public const int PROT_WRITE = 2;
    public const int MAP_SHARED = 1;
    public const int MAP_POPULATE = 0x8000;
    public const int MS_SYNC = 4;
    public static readonly nint MAP_FAILED = -1;

    public const int SIGKILL = 9;

    // The standard inode-flag ioctls (an int word; chattr/lsattr use them) and the two flags the model uses.
    public const uint FS_IOC_GETFLAGS = 0x80086601;
    public const uint FS_IOC_SETFLAGS = 0x40086602;
    public const int FS_IMMUTABLE_FL = 0x10;
    public const int FS_APPEND_FL = 0x20;
    public const int O_ACCMODE = 3;

    public static int Errno => Marshal.GetLastPInvokeError();

    [LibraryImport(Libc, EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int open(string path, int flags, uint mode);

    [LibraryImport(Libc, EntryPoint = "close", SetLastError = true)]
    public static partial int close(int fd);

    [LibraryImport(Libc, EntryPoint = "pread", SetLastError = true)]
    public static partial nint pread(int fd, byte* buf, nuint count, long offset);

    [LibraryImport(Libc, EntryPoint = "pwrite", SetLastError = true)]
    public static partial nint pwrite(int fd, byte* buf, nuint count, long offset);

    [LibraryImport(Libc, EntryPoint = "read", SetLastError = true)]
    public static partial nint read(int fd, byte* buf, nuint count);

    [LibraryImport(Libc, EntryPoint = "write", SetLastError = true)]
    public static partial nint write(int fd, byte* buf, nuint count);

    [LibraryImport(Libc, EntryPoint = "truncate", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int truncate(string path, long length);

    [LibraryImport(Libc, EntryPoint = "ftruncate", SetLastError = true)]
    public static partial int ftruncate(int fd, long length);

    [LibraryImport(Libc, EntryPoint = "fallocate", SetLastError = true)]
    public static partial int fallocate(int fd, int mode, long offset, long len);

    [LibraryImport(Libc, EntryPoint = "lseek", SetLastError = true)]
    public static partial long lseek(int fd, long offset, int whence);

    [LibraryImport(Libc, EntryPoint = "fsync", SetLastError = true)]
    public static partial int fsync(int fd);

    [LibraryImport(Libc, EntryPoint = "fdatasync", SetLastError = true)]
    public static partial int fdatasync(int fd);

    [LibraryImport(Libc, EntryPoint = "copy_file_range", SetLastError = true)]
    public static partial nint copy_file_range(int fdIn, long* offIn, int fdOut, long* offOut, nuint len, uint flags);

    [LibraryImport(Libc, EntryPoint = "mmap", SetLastError = true)]
    public static partial nint mmap(nint addr, nuint length, int prot, int flags, int fd, long offset);

    [LibraryImport(Libc, EntryPoint = "msync", SetLastError = true)]
    public static partial int msync(nint addr, nuint length, int flags);

    [LibraryImport(Libc, EntryPoint = "mincore", SetLastError = true)]
    public static partial int mincore(nint addr, nuint length, byte* vec);

    /// <summary>MADV_POPULATE_WRITE (Linux 5.14+): fault pages in writable now, failing with an errno instead of SIGBUS.</summary>
    public const int MADV_POPULATE_WRITE = 23;

    [LibraryImport(Libc, EntryPoint = "madvise", SetLastError = true)]
    public static partial int madvise(nint addr, nuint length, int advice);

    [LibraryImport(Libc, EntryPoint = "munmap", SetLastError = true)]
    public static partial int munmap(nint addr, nuint length);

    [LibraryImport(Libc, EntryPoint = "ioctl", SetLastError = true)]
    public static partial int ioctl(int fd, nuint request, void* arg);

    /// <summary>FS_IOC_GETFLAGS; throws on failure.</summary>
    public static int GetInodeFlags(int fd)
    {
        int word = 0;
        if (ioctl(fd, FS_IOC_GETFLAGS, &word) != 0) throw new NativeException("ioctl FS_IOC_GETFLAGS", Errno);
        return word;
    }

    /// <summary>FS_IOC_SETFLAGS; 0 or the errno.</summary>
    public static int TrySetInodeFlags(int fd, int word) => ioctl(fd, FS_IOC_SETFLAGS, &word) == 0 ? 0 : Errno;

    [LibraryImport(Libc, EntryPoint = "rename", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int rename(string oldPath, string newPath);

    [LibraryImport(Libc, EntryPoint = "renameat2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int renameat2(int oldDirFd, string oldPath, int newDirFd, string newPath, uint flags);

    [LibraryImport(Libc, EntryPoint = "link", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int link(string oldPath, string newPath);

    [LibraryImport(Libc, EntryPoint = "unlink", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int unlink(string path);

    [LibraryImport(Libc, EntryPoint = "kill", SetLastError = true)]
    public static partial int kill(int pid, int signal);

    [LibraryImport(Libc, EntryPoint = "lchown", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int lchown(string path, uint uid, uint gid);

    [LibraryImport(Libc, EntryPoint = "lsetxattr", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int lsetxattr(string path, string name, byte* value, nuint size, int flags);

    [LibraryImport(Libc, EntryPoint = "lgetxattr", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint lgetxattr(string path, string name, byte* value, nuint size);

    [LibraryImport(Libc, EntryPoint = "lremovexattr", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int lremovexattr(string path, string name);

    [LibraryImport(Libc, EntryPoint = "chmod", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int chmod(string path, uint mode);

    /// <summary>struct timespec, for utimensat.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Timespec
    {
        public long Sec;
        public long Nsec;
    }

    /// <summary>utimensat; <paramref name="times"/> null means "now" for both.</summary>
    [LibraryImport(Libc, EntryPoint = "utimensat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int utimensat(int dirFd, string path, Timespec* times, int flags);

    [LibraryImport(Libc, EntryPoint = "llistxattr", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint llistxattr(string path, byte* list, nuint size);

    /// <summary>Every extended attribute of <paramref name="path"/> (not following a symbolic link), by name.</summary>
    public static SortedDictionary<string, byte[]> XattrsOf(string path)
    {
        var result = new SortedDictionary<string, byte[]>(StringComparer.Ordinal);
        var list = new byte[64 * 1024];
        nint n;
        fixed (byte* l = list) n = llistxattr(path, l, (nuint)list.Length);
        if (n < 0) throw new NativeException($"llistxattr {path}", Errno);
        foreach (var name in System.Text.Encoding.UTF8.GetString(list, 0, (int)n).Split('\0', StringSplitOptions.RemoveEmptyEntries))
        {
            var value = new byte[64 * 1024];
            nint m;
            fixed (byte* v = value) m = lgetxattr(path, name, v, (nuint)value.Length);
            if (m < 0) throw new NativeException($"lgetxattr {path} {name}", Errno);
            result[name] = value[..(int)m];
        }
        return result;
    }

    /// <summary>lsetxattr; throws on failure.</summary>
    public static void SetXattr(string path, string name, ReadOnlySpan<byte> value)
    {
        fixed (byte* v = value)
            if (lsetxattr(path, name, v, (nuint)value.Length, 0) != 0) throw new NativeException($"lsetxattr {path} {name}", Errno);
    }

    [LibraryImport(Libc, EntryPoint = "umask")]
    public static partial uint umask(uint mask);

    [LibraryImport(Libc, EntryPoint = "fstat", SetLastError = true)]
    private static partial int fstat_raw(int fd, StatBuf* buf);

    [LibraryImport(Libc, EntryPoint = "lstat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int lstat_raw(string path, StatBuf* buf);

    [LibraryImport(Libc, EntryPoint = "statvfs", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int statvfs_raw(string path, StatVfsBuf* buf);

    [LibraryImport(Libc, EntryPoint = "opendir", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint opendir(string path);

    [LibraryImport(Libc, EntryPoint = "readdir", SetLastError = true)]
    public static partial nint readdir(nint dir);

    [LibraryImport(Libc, EntryPoint = "telldir", SetLastError = true)]
    public static partial long telldir(nint dir);

    [LibraryImport(Libc, EntryPoint = "seekdir", SetLastError = true)]
    public static partial void seekdir(nint dir, long pos);

    [LibraryImport(Libc, EntryPoint = "closedir", SetLastError = true)]
    public static partial int closedir(nint dir);

    /// <summary>x86-64 struct stat (144 bytes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct StatBuf
    {
        public ulong Dev;
        public ulong Ino;
        public ulong Nlink;
        public uint Mode;
        public uint Uid;
        public uint Gid;
        public int Pad0;
        public ulong Rdev;
        public long Size;
        public long BlkSize;
        public long Blocks;
        public long ATimeSec;
        public long ATimeNsec;
        public long MTimeSec;
        public long MTimeNsec;
        public long CTimeSec;
        public long CTimeNsec;
        public long Reserved0;
        public long Reserved1;
        public long Reserved2;
    }

    /// <summary>x86-64 struct statvfs (112 bytes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct StatVfsBuf
    {
        public ulong BSize;
        public ulong FrSize;
        public ulong Blocks;
        public ulong BFree;
        public ulong BAvail;
        public ulong Files;
        public ulong FFree;
        public ulong FAvail;
        public ulong FsId;
        public ulong Flag;
        public ulong NameMax;
        public fixed int Spare[6];
    }

    public readonly record struct Stat(ulong Ino, ulong Nlink, uint Mode, uint Uid, uint Gid, long Size, long BlkSize, long Blocks,
        long MTimeSec, long MTimeNsec, long CTimeSec, long CTimeNsec)
    {
        public long MTimeNs => MTimeSec * 1_000_000_000 + MTimeNsec;

        public long CTimeNs => CTimeSec * 1_000_000_000 + CTimeNsec;
    }

    public readonly record struct StatVfs(ulong BlockSize, ulong FragmentSize, ulong Blocks, ulong FreeBlocks, ulong AvailableBlocks,
        ulong Files, ulong FreeFiles, ulong NameMax);

    private static Stat From(in StatBuf b) =>
        new(b.Ino, b.Nlink, b.Mode, b.Uid, b.Gid, b.Size, b.BlkSize, b.Blocks, b.MTimeSec, b.MTimeNsec, b.CTimeSec, b.CTimeNsec);

    /// <summary>fstat; throws <see cref="NativeException"/> on failure.</summary>
    public static Stat FStat(int fd)
    {
        StatBuf b;
        if (fstat_raw(fd, &b) != 0) throw new NativeException("fstat", Errno);
        return From(b);
    }

    /// <summary>lstat; throws <see cref="NativeException"/> on failure.</summary>
    public static Stat LStat(string path)
    {
        StatBuf b;
        if (lstat_raw(path, &b) != 0) throw new NativeException($"lstat {path}", Errno);
        return From(b);
    }

    /// <summary>statvfs; throws <see cref="NativeException"/> on failure.</summary>
    public static StatVfs StatVfsOf(string path)
    {
        StatVfsBuf b;
        if (statvfs_raw(path, &b) != 0) throw new NativeException($"statvfs {path}", Errno);
        return new StatVfs(b.BSize, b.FrSize, b.Blocks, b.BFree, b.BAvail, b.Files, b.FFree, b.NameMax);
    }

    /// <summary>open that throws on failure.</summary>
    public static int Open(string path, int flags, uint mode = 0x1A4 /* 0644 */)
    {
        int fd = open(path, flags | O_CLOEXEC, mode);
        if (fd < 0) throw new NativeException($"open {path}", Errno);
        return fd;
    }

    /// <summary>close that throws on failure.</summary>
    public static void Close(int fd)
    {
        if (close(fd) != 0) throw new NativeException("close", Errno);
    }

    /// <summary>pwrite of the whole buffer (loops over short writes); throws on failure.</summary>
    public static void PWriteAll(int fd, ReadOnlySpan<byte> data, long offset)
    {
        fixed (byte* p = data)
        {
            int done = 0;
            while (done < data.Length)
            {
                nint n = pwrite(fd, p + done, (nuint)(data.Length - done), offset + done);
                if (n < 0) throw new NativeException("pwrite", Errno);
                if (n == 0) throw new NativeException("pwrite wrote nothing", EIO);
                done += (int)n;
            }
        }
    }

    /// <summary>write at the current offset of the whole buffer; throws on failure.</summary>
    public static void WriteAll(int fd, ReadOnlySpan<byte> data)
    {
        fixed (byte* p = data)
        {
            int done = 0;
            while (done < data.Length)
            {
                nint n = write(fd, p + done, (nuint)(data.Length - done));
                if (n < 0) throw new NativeException("write", Errno);
                if (n == 0) throw new NativeException("write wrote nothing", EIO);
                done += (int)n;
            }
        }
    }

    /// <summary>Reads <paramref name="length"/> bytes from <paramref name="offset"/> (short only at EOF); throws on failure.</summary>
    public static byte[] PReadAll(int fd, long offset, int length)
    {
        var buf = new byte[length];
        int done = 0;
        fixed (byte* p = buf)
        {
            while (done < length)
            {
                nint n = pread(fd, p + done, (nuint)(length - done), offset + done);
                if (n < 0) throw new NativeException("pread", Errno);
                if (n == 0) break;
                done += (int)n;
            }
        }
        return done == length ? buf : buf[..done];
    }

    /// <summary>The whole file through pread, reading past fstat's size to catch stray bytes.</summary>
    public static byte[] ReadWholeFile(int fd)
    {
        long size = FStat(fd).Size;
        var data = PReadAll(fd, 0, checked((int)size + 4096));
        return data;
    }

    /// <summary>The whole file at <paramref name="path"/> through open + pread.</summary>
    public static byte[] ReadWholeFile(string path)
    {
        int fd = Open(path, O_RDONLY);
        try { return ReadWholeFile(fd); }
        finally { close(fd); }
    }

    /// <summary>The data regions lseek(SEEK_DATA / SEEK_HOLE) reports, as [start, end) pairs.</summary>
    public static List<(long Start, long End)> DataRegions(int fd, long size)
    {
        var regions = new List<(long, long)>();
        long pos = 0;
        while (pos < size)
        {
            long start = lseek(fd, pos, SEEK_DATA);
            if (start < 0)
            {
                int e = Errno;
                if (e == ENXIO) break;
                throw new NativeException($"lseek SEEK_DATA {pos}", e);
            }
            long end = lseek(fd, start, SEEK_HOLE);
            if (end < 0) throw new NativeException($"lseek SEEK_HOLE {start}", Errno);
            if (start < pos || end <= start)
                throw new InvalidOperationException($"lseek from {pos}: SEEK_DATA {start}, SEEK_HOLE {end} go backwards");
            regions.Add((start, end));
            pos = end;
        }
        return regions;
    }
}

/// <summary>A failed libc call with its errno.</summary>
internal sealed class NativeException : Exception
{
    public NativeException(string what, int errno) : base($"{what}: errno {errno} ({Marshal.GetPInvokeErrorMessage(errno)})") => Errno = errno;

    public NativeException() { }

    public NativeException(string message) : base(message) { }

    public NativeException(string message, Exception inner) : base(message, inner) { }

    public int Errno { get; }
}
