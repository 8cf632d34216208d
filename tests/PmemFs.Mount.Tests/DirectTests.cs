using System.Runtime.InteropServices;
using System.Text;

namespace PmemFs.Mount.Tests;

/// <summary>One mount shared by the tests of a class, made on first use (so a machine without pmemfs skips, not fails).</summary>
public sealed class SharedMount : IDisposable
{
    private MountedFileSystem? _fs;

    internal MountedFileSystem Get(string options = "")
    {
        PmemfsEnvironment.SkipUnlessMountable();
        return _fs ??= new MountedFileSystem(options: options);
    }

    public void Dispose() => _fs?.Dispose();
}

/// <summary>POSIX details checked one by one on a mounted PmemFs.</summary>
public sealed unsafe class DirectTests(SharedMount shared) : IClassFixture<SharedMount>
{
    private const uint Mode0644 = 0x1A4;
    private const uint Mode0600 = 0x180;

    private string NewDir(string name)
    {
        var fs = shared.Get();
        string d = fs[name];
        Directory.CreateDirectory(d);
        return d;
    }

    private static int Errno(int rc) => rc < 0 ? Native.Errno : 0;

    [SkippableFact]
    public void OpenCreateExclusiveAndTruncate()
    {
        string d = NewDir("open");
        string f = Path.Combine(d, "x");
        int fd = Native.Open(f, Native.O_CREAT | Native.O_EXCL | Native.O_RDWR, Mode0644);
        Native.PWriteAll(fd, new byte[10_000].Select((_, i) => (byte)(i % 251 + 1)).ToArray(), 0);
        Native.Close(fd);
        Assert.Equal(Native.EEXIST, Errno(Native.open(f, Native.O_CREAT | Native.O_EXCL | Native.O_RDWR, Mode0644)));
        // O_CREAT without O_EXCL opens the existing file and keeps its content.
        fd = Native.Open(f, Native.O_CREAT | Native.O_RDWR, Mode0644);
        Assert.Equal(10_000, Native.FStat(fd).Size);
        Native.Close(fd);
        // O_EXCL refuses a dangling symbolic link too.
        File.CreateSymbolicLink(Path.Combine(d, "dangling"), "nowhere");
        Assert.Equal(Native.EEXIST, Errno(Native.open(Path.Combine(d, "dangling"), Native.O_CREAT | Native.O_EXCL | Native.O_WRONLY, Mode0644)));
        Assert.False(File.Exists(Path.Combine(d, "nowhere")));
        // O_TRUNC empties it and frees its blocks.
        fd = Native.Open(f, Native.O_WRONLY | Native.O_TRUNC);
        var st = Native.FStat(fd);
        Native.Close(fd);
        Assert.Equal(0, st.Size);
        Assert.Equal(0, st.Blocks);
        Assert.Empty(File.ReadAllBytes(f));
        // O_RDONLY on a missing name: ENOENT.
        Assert.Equal(Native.ENOENT, Errno(Native.open(Path.Combine(d, "missing"), Native.O_RDONLY, 0)));
    }

    [SkippableFact]
    public void AppendWritesGoToTheEnd()
    {
        string d = NewDir("append");
        string f = Path.Combine(d, "log");
        File.WriteAllText(f, "abc");
        int a = Native.Open(f, Native.O_WRONLY | Native.O_APPEND);
        int b = Native.Open(f, Native.O_WRONLY | Native.O_APPEND);
        try
        {
            Native.lseek(a, 0, Native.SEEK_SET);
            Native.WriteAll(a, "def"u8);
            Assert.Equal(6, Native.lseek(a, 0, Native.SEEK_CUR));
            Native.WriteAll(b, "ghi"u8);
            Native.WriteAll(a, "jkl"u8);
            // Linux: pwrite on an O_APPEND descriptor appends too.
            Native.PWriteAll(b, "mno"u8, 0);
        }
        finally
        {
            Native.close(a);
            Native.close(b);
        }
        Assert.Equal("abcdefghijklmno", File.ReadAllText(f));
    }

    [SkippableFact]
    public void StatFieldsFollowTheFile()
    {
        string d = NewDir("stat");
        string f = Path.Combine(d, "f");
        uint old = Native.umask(0x12); // 022
        int fd;
        try { fd = Native.Open(f, Native.O_CREAT | Native.O_EXCL | Native.O_RDWR, 0x1B6 /* 0666 */); }
        finally { _ = Native.umask(old); }
        try
        {
            var st = Native.FStat(fd);
            Assert.Equal(0x81A4u, st.Mode); // regular, 0666 & ~022
            Assert.Equal(1ul, st.Nlink);
            Assert.Equal(0, st.Size);
            Assert.Equal(0, st.Blocks);
            Assert.Equal(0u, st.Uid);
            Assert.Equal(0u, st.Gid);
            Assert.Equal(4096, st.BlkSize);

            Native.PWriteAll(fd, new byte[10_000].Select(_ => (byte)7).ToArray(), 0);
            st = Native.FStat(fd);
            Assert.Equal(10_000, st.Size);
            Assert.Equal(3 * 8, st.Blocks); // three 4 KiB blocks in 512-byte units

            // Sparse growth allocates nothing; one byte far out allocates one block.
            Assert.Equal(0, Native.ftruncate(fd, 1 << 20));
            Assert.Equal(3 * 8, Native.FStat(fd).Blocks);
            Native.PWriteAll(fd, "x"u8, 512 * 1024 + 5);
            st = Native.FStat(fd);
            Assert.Equal(1 << 20, st.Size);
            Assert.Equal(4 * 8, st.Blocks);
            Assert.Equal(Native.ENXIO, Errno((int)Math.Max(-1, Native.lseek(fd, 1 << 20, Native.SEEK_DATA))));
            Assert.Equal(512 * 1024, Native.lseek(fd, 16384, Native.SEEK_DATA));
            Assert.Equal(12288, Native.lseek(fd, 0, Native.SEEK_HOLE));

            // Hard links: one inode, nlink counts names.
            string g = Path.Combine(d, "g");
            Assert.Equal(0, Native.link(f, g));
            Assert.Equal(2ul, Native.FStat(fd).Nlink);
            Assert.Equal(st.Ino, Native.LStat(g).Ino);
            Assert.Equal(2ul, Native.LStat(g).Nlink);
            Assert.Equal(0, Native.unlink(f));
            Assert.Equal(1ul, Native.FStat(fd).Nlink);
            Assert.Equal(0, Native.unlink(g));
            Assert.Equal(0ul, Native.FStat(fd).Nlink);
            // Still readable through the descriptor.
            Assert.Equal("x"u8.ToArray(), Native.PReadAll(fd, 512 * 1024 + 5, 1));
        }
        finally { Native.close(fd); }

        // Directories: nlink is 2 + subdirectories.
        string sub = Path.Combine(d, "sub");
        Directory.CreateDirectory(Path.Combine(sub, "a"));
        Directory.CreateDirectory(Path.Combine(sub, "b"));
        File.WriteAllText(Path.Combine(sub, "file"), "");
        Assert.Equal(4ul, Native.LStat(sub).Nlink);
        Assert.Equal(2ul, Native.LStat(Path.Combine(sub, "a")).Nlink);
        Directory.Delete(Path.Combine(sub, "b"));
        Assert.Equal(3ul, Native.LStat(sub).Nlink);
        Assert.Equal(0x4000u, Native.LStat(Path.Combine(sub, "a")).Mode & 0xF000); // a directory

        // Modification time moves forward with a write.
        string m = Path.Combine(d, "m");
        File.WriteAllText(m, "1");
        File.SetLastWriteTimeUtc(m, new DateTime(2000, 1, 1, 0, 0, 0, DateTimeKind.Utc));
        var before = Native.LStat(m);
        Assert.Equal(946684800, before.MTimeSec);
        File.AppendAllText(m, "2");
        Assert.True(Native.LStat(m).MTimeSec > before.MTimeSec + 1_000_000, "a write did not update mtime");
    }

    [SkippableFact]
    public void TimesFollowPosix()
    {
        string d = NewDir("times");
        string f = Path.Combine(d, "f");
        var d0 = Native.LStat(d);
        Thread.Sleep(20);
        File.WriteAllText(f, "x");
        var d1 = Native.LStat(d);
        var f1 = Native.LStat(f);
        Assert.True(d1.MTimeNs > d0.MTimeNs && d1.CTimeNs > d0.CTimeNs, "creating a file did not update the directory's mtime and ctime");
        Thread.Sleep(20);
        File.SetUnixFileMode(f, (UnixFileMode)0x180);
        var f2 = Native.LStat(f);
        Assert.True(f2.CTimeNs > f1.CTimeNs, "chmod did not update ctime");
        Assert.Equal(f1.MTimeNs, f2.MTimeNs);
        Thread.Sleep(20);
        Assert.Equal(0, Native.link(f, Path.Combine(d, "g")));
        var f3 = Native.LStat(f);
        Assert.True(f3.CTimeNs > f2.CTimeNs, "link did not update ctime");
        Thread.Sleep(20);
        File.AppendAllText(f, "y");
        var f4 = Native.LStat(f);
        Assert.True(f4.MTimeNs > f3.MTimeNs && f4.CTimeNs > f3.CTimeNs, "a write did not update mtime and ctime");
        Thread.Sleep(20);
        Assert.Equal(0, Native.unlink(Path.Combine(d, "g")));
        var d2 = Native.LStat(d);
        Assert.True(d2.MTimeNs > d1.MTimeNs, "unlink did not update the directory's mtime");
        // Set times survive to the nanosecond, in the past and in the future.
        var past = new DateTime(1999, 12, 31, 23, 59, 59, DateTimeKind.Utc).AddTicks(1234567);
        File.SetLastWriteTimeUtc(f, past);
        Assert.Equal(past, File.GetLastWriteTimeUtc(f));
        var future = new DateTime(2200, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddTicks(7654321);
        File.SetLastWriteTimeUtc(f, future);
        Assert.Equal(future, File.GetLastWriteTimeUtc(f));
    }

    [SkippableFact]
    public void LargeOffsetsAndSizes()
    {
        string d = NewDir("large");
        string f = Path.Combine(d, "f");
        int fd = Native.Open(f, Native.O_CREAT | Native.O_RDWR, Mode0644);
        try
        {
            long far = (5L << 30) + 123;
            var data = Encoding.ASCII.GetBytes("five gibibytes and a bit");
            Native.PWriteAll(fd, data, far);
            var st = Native.FStat(fd);
            Assert.Equal(far + data.Length, st.Size);
            Assert.Equal(8, st.Blocks);
            Assert.Equal(data, Native.PReadAll(fd, far, data.Length));
            Assert.Equal(new byte[100], Native.PReadAll(fd, far - 100, 100));
            Assert.Equal(5L << 30, Native.lseek(fd, 0, Native.SEEK_DATA));
            Assert.Equal(0, Native.ftruncate(fd, 1L << 40));
            Assert.Equal(1L << 40, Native.FStat(fd).Size);
            Assert.Equal(data, Native.PReadAll(fd, far, data.Length));
            Assert.Equal(0, Native.ftruncate(fd, 4096));
            Assert.Equal(0, Native.FStat(fd).Blocks);
        }
        finally { Native.close(fd); }
    }

    [SkippableFact]
    public void ReaddirOf2000EntriesPagesWithTelldirAndSeekdir()
    {
        var fs = shared.Get();
        string d = NewDir("many");
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < 2000; i++)
        {
            string name = i % 10 == 0 ? $"entry-{i:D4}-" + new string('x', 100 + i % 100) : $"entry-{i:D4}";
            File.WriteAllBytes(Path.Combine(d, name), []);
            names.Add(name);
        }
        Assert.Equal(2000, Directory.EnumerateFiles(d).Count());
        Assert.True(names.SetEquals(Directory.EnumerateFiles(d).Select(Path.GetFileName)!), "readdir names differ from those created");

        var all = ReadAll(d);
        Assert.True(all.Count == all.Distinct().Count(), "readdir returned a name twice");
        Assert.True(names.SetEquals(all.Where(n => n is not "." and not "..")), "readdir names differ");
        Assert.Contains(".", all);
        Assert.Contains("..", all);

        // telldir in the middle, read on, seekdir back: the same entries again, then the rest.
        nint dir = Native.opendir(d);
        Assert.True(dir != 0, $"opendir errno {Native.Errno}");
        try
        {
            var first = new List<string>();
            for (int i = 0; i < 700; i++) first.Add(Next(dir)!);
            long cookie = Native.telldir(dir);
            var middle = new List<string>();
            for (int i = 0; i < 300; i++) middle.Add(Next(dir)!);
            Native.seekdir(dir, cookie);
            var again = new List<string>();
            for (int i = 0; i < 300; i++) again.Add(Next(dir)!);
            Assert.Equal(middle, again);
            var rest = new List<string>();
            for (string? n; (n = Next(dir)) is not null;) rest.Add(n);
            Assert.Equal(all, first.Concat(middle).Concat(rest).ToList());
        }
        finally { Native.closedir(dir); }

        // Removing every other entry while listing: every survivor still listed once.
        var survivors = new HashSet<string>(StringComparer.Ordinal);
        int k = 0;
        foreach (var path in Directory.EnumerateFiles(d))
        {
            if (k++ % 2 == 0) File.Delete(path);
            else survivors.Add(Path.GetFileName(path));
        }
        var after = Directory.EnumerateFiles(d).Select(Path.GetFileName).ToList();
        Assert.Equal(after.Count, after.Distinct().Count());
        Assert.True(survivors.IsSubsetOf(after!), "an entry that was not removed is missing from the listing");

        fs.Remount();
        Assert.Equal(after.Order(StringComparer.Ordinal), Directory.EnumerateFiles(d).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    private static List<string> ReadAll(string d)
    {
        nint dir = Native.opendir(d);
        Assert.True(dir != 0, $"opendir errno {Native.Errno}");
        try
        {
            var list = new List<string>();
            for (string? n; (n = Next(dir)) is not null;) list.Add(n);
            return list;
        }
        finally { Native.closedir(dir); }
    }

    /// <summary>readdir's next name (struct dirent: d_name at offset 19), or null at the end.</summary>
    private static string? Next(nint dir)
    {
        Marshal.SetLastPInvokeError(0);
        nint e = Native.readdir(dir);
        if (e == 0)
        {
            int err = Native.Errno;
            if (err != 0) throw new NativeException("readdir", err);
            return null;
        }
        return Marshal.PtrToStringUTF8(e + 19);
    }

    [SkippableFact]
    public void StatfsReportsSpaceAndItsUse()
    {
        var fs = shared.Get();
        string d = NewDir("statfs");
        var s0 = Native.StatVfsOf(fs.Path);
        Assert.Equal(4096ul, s0.BlockSize);
        ulong frsize = s0.FragmentSize == 0 ? s0.BlockSize : s0.FragmentSize;
        Assert.Equal(4096ul, frsize);
        ulong total = s0.Blocks * frsize;
        Assert.InRange(total, 200ul << 20, 256ul << 20);
        Assert.InRange(s0.FreeBlocks, 1ul, s0.Blocks);
        Assert.InRange(s0.AvailableBlocks, 0ul, s0.FreeBlocks);
        Assert.True(s0.Files > 0 && s0.FreeFiles <= s0.Files, $"files {s0.Files}, free {s0.FreeFiles}");
        Assert.Equal(255ul, s0.NameMax);

        string f = Path.Combine(d, "big");
        File.WriteAllBytes(f, new byte[8 << 20]);
        var s1 = Native.StatVfsOf(fs.Path);
        Assert.True(s0.FreeBlocks - s1.FreeBlocks >= 2048, $"free blocks {s0.FreeBlocks} -> {s1.FreeBlocks} after writing 8 MiB");
        Assert.True(s1.FreeFiles < s0.FreeFiles, $"free inodes {s0.FreeFiles} -> {s1.FreeFiles} after a create");
        File.Delete(f);
        // The blocks are freed when the kernel forgets the inode, which may trail the unlink's
        // reply by a moment (another daemon thread): allow up to 5 s.
        var s2 = Native.StatVfsOf(fs.Path);
        for (var sw = System.Diagnostics.Stopwatch.StartNew(); s2.FreeBlocks + 64 < s0.FreeBlocks && sw.Elapsed < TimeSpan.FromSeconds(5); Thread.Sleep(20))
            s2 = Native.StatVfsOf(fs.Path);
        Assert.True(s2.FreeBlocks + 64 >= s0.FreeBlocks, $"free blocks {s0.FreeBlocks} -> {s2.FreeBlocks} after the file was deleted");
        Assert.True(s2.FreeFiles + 1 >= s0.FreeFiles, $"free inodes {s0.FreeFiles} -> {s2.FreeFiles} after the file was deleted");
    }

    [SkippableFact]
    public void NamespaceErrors()
    {
        string d = NewDir("names");
        string a = Path.Combine(d, "a"), b = Path.Combine(d, "b"), f = Path.Combine(d, "f");
        Directory.CreateDirectory(Path.Combine(a, "inner"));
        Directory.CreateDirectory(b);
        File.WriteAllText(f, "file");
        Assert.Equal(Native.ENOTEMPTY, Errno(Native.rename(b, a)));                      // onto a non-empty directory
        Assert.Equal(0, Native.rename(a, b));                                             // onto an empty one
        Assert.False(Directory.Exists(a));
        Assert.True(Directory.Exists(Path.Combine(b, "inner")));
        Assert.Equal(Native.EINVAL, Errno(Native.rename(b, Path.Combine(b, "inner", "x")))); // into itself
        Assert.Equal(21 /* EISDIR */, Errno(Native.rename(f, b)));
        Assert.Equal(20 /* ENOTDIR */, Errno(Native.rename(b, f)));
        Assert.Equal(Native.EEXIST, Errno(Native.link(f, f)));
        Assert.Equal(Native.EPERM, Errno(Native.link(b, Path.Combine(d, "dirlink"))));
        Assert.Equal(21 /* EISDIR */, Errno(Native.unlink(b)));
        var e = Assert.Throws<IOException>(() => Directory.Delete(b));
        Assert.Contains("not empty", e.Message, StringComparison.OrdinalIgnoreCase);
        File.CreateSymbolicLink(Path.Combine(d, "s"), "f");
        Assert.Equal("f", new FileInfo(Path.Combine(d, "s")).LinkTarget);
        Assert.Equal("file", File.ReadAllText(Path.Combine(d, "s")));
        Assert.Equal(Native.ENOENT, Errno(Native.unlink(Path.Combine(d, "missing"))));
        Assert.Equal(36 /* ENAMETOOLONG */, Errno(Native.open(Path.Combine(d, new string('n', 256)), Native.O_CREAT | Native.O_WRONLY, Mode0644)));
        string longest = Path.Combine(d, new string('n', 255));
        File.WriteAllText(longest, "255");
        Assert.Equal("255", File.ReadAllText(longest));
    }

    [SkippableFact]
    public void DataSurvivesRemountWithHolesAndLargeFiles()
    {
        var fs = shared.Get();
        string d = NewDir("persist");
        var rng = new Random(3);
        var big = new byte[24 << 20];
        rng.NextBytes(big);
        File.WriteAllBytes(Path.Combine(d, "big"), big);
        string holes = Path.Combine(d, "holes");
        int fd = Native.Open(holes, Native.O_CREAT | Native.O_RDWR, Mode0600);
        Native.PWriteAll(fd, Encoding.ASCII.GetBytes("start"), 0);
        Native.PWriteAll(fd, Encoding.ASCII.GetBytes("middle"), 3 << 20);
        Assert.Equal(0, Native.ftruncate(fd, 7 << 20));
        Native.Close(fd);
        fs.Remount();
        Assert.True(big.AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(d, "big"))), "24 MiB file differs after remount");
        var h = File.ReadAllBytes(holes);
        Assert.Equal(7 << 20, h.Length);
        Assert.Equal("start", Encoding.ASCII.GetString(h, 0, 5));
        Assert.Equal("middle", Encoding.ASCII.GetString(h, 3 << 20, 6));
        Assert.Equal(11, h.Count(x => x != 0));
        Assert.Equal(Mode0600 | 0x8000, Native.LStat(holes).Mode);
    }
}

/// <summary>Permission checks for a user other than root, on a mount other users may enter (allow_other).</summary>
public sealed class PermissionTests(SharedMount shared) : IClassFixture<SharedMount>
{
    private static readonly string[] AsNobody = ["--reuid=65534", "--regid=65534", "--clear-groups"];

    [SkippableFact]
    public void OtherUsersGetEaccesWhereModesSaySo()
    {
        var fs = shared.Get(options: "allow_other");
        Skip.If(Proc.Which("setpriv") is null, "setpriv (util-linux) is not installed");
        string d = fs["perm"];
        Directory.CreateDirectory(d);
        File.SetUnixFileMode(d, (UnixFileMode)0x1ED); // 0755
        string secret = Path.Combine(d, "secret"), open = Path.Combine(d, "public");
        File.WriteAllText(secret, "secret\n");
        File.SetUnixFileMode(secret, (UnixFileMode)0x180); // 0600
        File.WriteAllText(open, "public\n");
        File.SetUnixFileMode(open, (UnixFileMode)0x1A4); // 0644
        string shared1777 = Path.Combine(d, "tmp");
        Directory.CreateDirectory(shared1777);
        File.SetUnixFileMode(shared1777, (UnixFileMode)0x3FF); // 1777
        File.WriteAllText(Path.Combine(shared1777, "roots"), "root's\n");

        var r = Nobody("cat", secret);
        Assert.True(!r.Ok && r.Err.Contains("Permission denied", StringComparison.Ordinal), "cat of a 0600 root file as nobody:\n" + r);
        r = Nobody("cat", open);
        Assert.True(r.Ok && r.Out == "public\n", "cat of a 0644 file as nobody:\n" + r);
        r = Nobody("sh", "-c", $"echo x >> '{open}'");
        Assert.True(!r.Ok && r.Err.Contains("Permission denied", StringComparison.Ordinal), "append to a 0644 root file as nobody:\n" + r);
        Assert.Equal("public\n", File.ReadAllText(open));
        r = Nobody("touch", Path.Combine(d, "new"));
        Assert.True(!r.Ok && r.Err.Contains("Permission denied", StringComparison.Ordinal), "create in a 0755 root directory as nobody:\n" + r);
        Assert.False(File.Exists(Path.Combine(d, "new")));

        string mine = Path.Combine(shared1777, "mine");
        r = Nobody("sh", "-c", $"echo mine > '{mine}'");
        Assert.True(r.Ok, "create in a 1777 directory as nobody:\n" + r);
        var st = Native.LStat(mine);
        Assert.Equal((65534u, 65534u), (st.Uid, st.Gid));
        r = Nobody("rm", "-f", Path.Combine(shared1777, "roots"));
        Assert.True(!r.Ok, "nobody removed root's file from a sticky directory:\n" + r);
        Assert.True(File.Exists(Path.Combine(shared1777, "roots")));
        r = Nobody("rm", mine);
        Assert.True(r.Ok, "nobody could not remove its own file:\n" + r);
    }

    /// <summary>A write or truncate by someone other than the owner clears set-user-ID (and set-group-ID with group execute).</summary>
    [SkippableFact]
    public void NonOwnerWriteClearsSetuidAndSetgid()
    {
        var fs = shared.Get(options: "allow_other");
        Skip.If(Proc.Which("setpriv") is null, "setpriv (util-linux) is not installed");
        string d = fs["killpriv"];
        Directory.CreateDirectory(d);
        File.SetUnixFileMode(d, (UnixFileMode)0x1FF); // 0777
        var cases = new (string Name, int Mode, string How)[]
        {
            ("suid-sgid", 0xDFF /* 6777 */, "append"),
            ("suid", 0x9FF /* 4777 */, "append"),
            ("sgid", 0x5FF /* 2777 */, "append"),
            ("suid-truncate", 0x9FF /* 4777 */, "truncate"),
        };
        var problems = new List<string>();
        foreach (var (name, mode, how) in cases)
        {
            string f = Path.Combine(d, name);
            File.WriteAllText(f, "root\n");
            File.SetUnixFileMode(f, (UnixFileMode)mode);
            var r = how == "append" ? Nobody("sh", "-c", $"echo nobody >> '{f}'") : Nobody("truncate", "-s", "2", f);
            uint after = Native.LStat(f).Mode & 0xFFF;
            if (!r.Ok) problems.Add($"{how} by nobody of a root file with mode {Convert.ToString(mode, 8)} failed:\n{r}");
            if (after != 0x1FF) problems.Add($"{how} by nobody of a root file with mode {Convert.ToString(mode, 8)} left mode {Convert.ToString(after, 8)}, expected 777");
        }
        Assert.True(problems.Count == 0, string.Join('\n', problems));
    }

    private static ProcResult Nobody(params string[] command) => Proc.Run("setpriv", [.. AsNobody, .. command]);
}
