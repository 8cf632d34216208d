using System.Runtime.InteropServices;
using System.Text;

namespace PmemFs.Mount.Tests;

/// <summary>
/// Durable file handles (name_to_handle_at / open_by_handle_at, what an NFS server uses): a
/// handle opens its file after the kernel has dropped the inode from its caches and after a
/// remount, for as long as the file exists; a handle of a deleted file, or of a deleted file
/// whose inode number a new file took, is ESTALE, never the other file. Directories reached by
/// handle are reconnected to the tree (the kernel asks the daemon for "..", then reads the
/// parent for the name). Both FUSE transports. fsck is clean at the end (the fixture).
/// </summary>
public class FileHandleTest
{
    public static TheoryData<string> Transports => new() { "", "fuse_transport=libfuse" };

    [SkippableTheory]
    [MemberData(nameof(Transports))]
    public void AHandleOpensItsFileAfterCacheEvictionAndRemount(string options)
    {
        using var fs = new MountedFileSystem(options: options);
        Directory.CreateDirectory(fs["a/b/c"]);
        File.WriteAllText(fs["a/b/c/f"], "deep file");
        File.WriteAllText(fs["top"], "top file");
        var deep = Handles.Encode(fs["a/b/c/f"]);
        var top = Handles.Encode(fs["top"]);
        var dir = Handles.Encode(fs["a/b/c"]);
        var root = Handles.Encode(fs.Path);

        Assert.Equal("deep file", Handles.ReadFile(fs.Path, deep));
        for (int round = 0; round < 2; round++)
        {
            if (round == 1) fs.Remount();
            // Nothing of the tree is cached: the parent chain of a/b/c/f is unknown to the kernel.
            Handles.DropCaches();
            Assert.Equal("deep file", Handles.ReadFile(fs.Path, deep));
            Handles.DropCaches();
            Assert.Equal("top file", Handles.ReadFile(fs.Path, top));
            // A directory is reconnected: the kernel knows its path again.
            Handles.DropCaches();
            var (path, names) = Handles.OpenDirectory(fs.Path, dir);
            Assert.Equal(fs["a/b/c"], path);
            Assert.Equal(["f"], names);
            (path, names) = Handles.OpenDirectory(fs.Path, root);
            Assert.Equal(fs.Path, path);
            Assert.Equal(["a", "top"], names);
        }
        // The kernel's lookup counts of the inodes reached by handle are given back: the files
        // can still be removed and their inodes freed (fsck at the end counts them).
        File.Delete(fs["a/b/c/f"]);
        Directory.Delete(fs["a/b/c"]);
    }

    [SkippableTheory]
    [MemberData(nameof(Transports))]
    public void AHandleOfADeletedFileIsStaleAlsoWhenANewFileTookItsInodeNumber(string options)
    {
        using var fs = new MountedFileSystem(options: options);
        Directory.CreateDirectory(fs["d"]);
        File.WriteAllText(fs["d/old"], "old data");
        File.WriteAllText(fs["gone"], "gone");
        ulong oldIno = Handles.InodeOf(fs["d/old"]);
        var old = Handles.Encode(fs["d/old"]);
        var gone = Handles.Encode(fs["gone"]);
        var dir = Handles.Encode(fs["d"]);

        File.Delete(fs["gone"]);
        Handles.DropCaches();
        Assert.Equal(Handles.ESTALE, Handles.OpenErrno(fs.Path, gone));

        // The lowest free inode is taken first: once the daemon has freed old's, "new" gets its number.
        File.Delete(fs["d/old"]);
        string reused = Handles.CreateWithInode(fs["d/new"], oldIno, "new data");
        Assert.Equal(Handles.ESTALE, Handles.OpenErrno(fs.Path, old));
        Handles.DropCaches();
        Assert.Equal(Handles.ESTALE, Handles.OpenErrno(fs.Path, old));
        fs.Remount();
        Assert.Equal(Handles.ESTALE, Handles.OpenErrno(fs.Path, old));
        Assert.Equal("new data", File.ReadAllText(reused));
        Assert.Equal(Handles.ESTALE, Handles.OpenErrno(fs.Path, gone));

        // A removed directory: stale too.
        File.Delete(reused);
        Directory.Delete(fs["d"]);
        Handles.DropCaches();
        Assert.Equal(Handles.ESTALE, Handles.OpenErrno(fs.Path, dir));
    }

    [SkippableFact]
    public void AnUnlinkedFileOpensByHandleWhileItIsOpenAndIsStaleOnceClosed()
    {
        using var fs = new MountedFileSystem();
        File.WriteAllText(fs["f"], "unlinked but open");
        var h = Handles.Encode(fs["f"]);
        using (var open = new FileStream(fs["f"], FileMode.Open, FileAccess.Read))
        {
            File.Delete(fs["f"]);
            Handles.DropCaches(); // the open file keeps its inode in the cache, as on any file system
            Assert.Equal("unlinked but open", Handles.ReadFile(fs.Path, h));
        }
        Handles.DropCaches();
        Assert.Equal(Handles.ESTALE, Handles.OpenErrno(fs.Path, h));
    }
}

/// <summary>name_to_handle_at / open_by_handle_at (the caller needs CAP_DAC_READ_SEARCH: root).</summary>
internal static unsafe partial class Handles
{
    public const int ESTALE = 116;
    private const int MaxHandleSize = 128, AT_FDCWD = -100;

    [LibraryImport("libc", EntryPoint = "name_to_handle_at", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int name_to_handle_at(int dirFd, string path, byte* handle, int* mountId, int flags);

    [LibraryImport("libc", EntryPoint = "open_by_handle_at", SetLastError = true)]
    private static partial int open_by_handle_at(int mountFd, byte* handle, int flags);

    [LibraryImport("libc", EntryPoint = "readlink", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint readlink(string path, byte* buf, nuint size);

    /// <summary>struct file_handle: handle_bytes, handle_type, then the bytes.</summary>
    public static byte[] Encode(string path)
    {
        var buf = new byte[8 + MaxHandleSize];
        fixed (byte* p = buf)
        {
            *(uint*)p = MaxHandleSize;
            int mountId;
            if (name_to_handle_at(AT_FDCWD, path, p, &mountId, 0) != 0)
                throw new NativeException($"name_to_handle_at {path}", Native.Errno);
            return buf.AsSpan(0, 8 + (int)*(uint*)p).ToArray();
        }
    }

    /// <summary>open_by_handle_at on the file system mounted at <paramref name="mount"/>: the fd, or -errno.</summary>
    private static int Open(string mount, byte[] handle, int flags)
    {
        int mfd = Native.open(mount, Native.O_RDONLY | Native.O_DIRECTORY, 0);
        if (mfd < 0) throw new NativeException($"open {mount}", Native.Errno);
        try
        {
            fixed (byte* p = handle)
            {
                int fd = open_by_handle_at(mfd, p, flags);
                return fd >= 0 ? fd : -Native.Errno;
            }
        }
        finally { Native.close(mfd); }
    }

    /// <summary>0 when the handle opens, else its errno.</summary>
    public static int OpenErrno(string mount, byte[] handle)
    {
        int fd = Open(mount, handle, Native.O_RDONLY);
        if (fd < 0) return -fd;
        Native.close(fd);
        return 0;
    }

    public static string ReadFile(string mount, byte[] handle)
    {
        int fd = Open(mount, handle, Native.O_RDONLY);
        if (fd < 0) throw new NativeException("open_by_handle_at", -fd);
        try
        {
            var buf = new byte[1 << 16];
            fixed (byte* p = buf)
            {
                nint n = Native.read(fd, p, (nuint)buf.Length);
                if (n < 0) throw new NativeException("read", Native.Errno);
                return Encoding.UTF8.GetString(buf, 0, (int)n);
            }
        }
        finally { Native.close(fd); }
    }

    /// <summary>The path the kernel gives the directory opened by handle, and its names.</summary>
    public static (string Path, string[] Names) OpenDirectory(string mount, byte[] handle)
    {
        int fd = Open(mount, handle, Native.O_RDONLY | Native.O_DIRECTORY);
        if (fd < 0) throw new NativeException("open_by_handle_at (directory)", -fd);
        try
        {
            var buf = new byte[4096];
            string path;
            fixed (byte* p = buf)
            {
                nint n = readlink($"/proc/self/fd/{fd}", p, (nuint)buf.Length);
                if (n < 0) throw new NativeException("readlink", Native.Errno);
                path = Encoding.UTF8.GetString(buf, 0, (int)n);
            }
            string[] names = [.. Directory.EnumerateFileSystemEntries($"/proc/self/fd/{fd}").Select(System.IO.Path.GetFileName).Order(StringComparer.Ordinal)!];
            return (path, names);
        }
        finally { Native.close(fd); }
    }

    public static ulong InodeOf(string path) => ulong.Parse(Proc.Check("stat", "-c", "%i", path).Out.Trim());

    /// <summary>
    /// Creates <paramref name="path"/> until it gets inode <paramref name="ino"/> (freed by the
    /// daemon when the kernel's forget of the deleted file arrives, which is asynchronous).
    /// </summary>
    public static string CreateWithInode(string path, ulong ino, string content)
    {
        for (int attempt = 0; attempt < 100; attempt++)
        {
            File.WriteAllText(path, content);
            if (InodeOf(path) == ino) return path;
            File.Delete(path);
            DropCaches();
            Thread.Sleep(50);
        }
        throw new InvalidOperationException($"inode {ino} was not reused");
    }

    /// <summary>Drops unused dentries and inodes (the whole machine's: there is no per-mount knob).</summary>
    public static void DropCaches() => File.WriteAllText("/proc/sys/vm/drop_caches", "2");
}
