using System.Runtime.InteropServices;
using System.Text.Json;
using PmemFs.Abi;
using Xunit.Abstractions;

namespace PmemFs.Mount.Tests;

/// <summary>
/// Reflink through a real mount (issue 12): cp --reflink=auto, plain cp and xfs_io copy_range
/// share blocks (copy_file_range shares the block-aligned middle), `pmemfs reflink` shares or
/// fails, every copy stays independent of the others after writes, truncates, punches and zero
/// ranges of any of them, df counts shared blocks once, fsck is clean, and bad requests get
/// their errno and change nothing. cp --reflink=always is measured as it is: FICLONE never
/// reaches a FUSE daemon.
/// </summary>
public sealed unsafe class ReflinkTest(ITestOutputHelper output)
{
    private const int Block = 4096;
    private const int EISDIR = 21;

    [SkippableFact]
    public void CpXfsIoAndReflinkShareAndEveryCopyStaysIndependent()
    {
        Skip.If(Proc.Which("xfs_io") is null, "xfs_io (xfsprogs) is missing");
        using var fs = new MountedFileSystem("256M");
        var rng = new Random(12);
        var model = new Dictionary<string, byte[]>();
        var a = new byte[(8 << 20) + 100]; // the last block partial: copied, never shared
        rng.NextBytes(a);
        File.WriteAllBytes(fs["a"], a);
        model["a"] = a;

        Proc.Check("cp", "--reflink=auto", fs["a"], fs["auto"]);
        Proc.Check("cp", fs["a"], fs["plain"]);
        Proc.Check("xfs_io", "-f", "-c", $"copy_range {fs["a"]}", fs["xfsio"]);
        Proc.Check(fs.Cli, "reflink", fs["a"], fs["reflink"]);
        foreach (var n in new[] { "auto", "plain", "xfsio", "reflink" })
        {
            model[n] = (byte[])a.Clone();
            Assert.Equal(a.Length / Block * Block, SharedBytes(fs, n));
        }
        Assert.Equal(a.Length / Block * Block, SharedBytes(fs, "a"));
        // pmemfs info FILE says how much of the file is shared.
        var info = System.Text.Json.JsonDocument.Parse(Proc.Check(fs.Cli, "info", fs["auto"], "--json").Out).RootElement;
        Assert.Equal(a.Length / Block * Block, info.GetProperty("sharedBytes").GetInt64());
        Assert.Equal((a.Length + Block - 1) / Block * Block, info.GetProperty("allocatedBytes").GetInt64());
        // A range at other offsets: congruent ones share, the unaligned head and tail are copied.
        Proc.Check("xfs_io", "-f", "-c", $"copy_range -s {Block + 100} -d {2 * Block + 100} -l {(1 << 20) + 200} {fs["a"]}", fs["part"]);
        model["part"] = Written([], 2 * Block + 100, a.AsSpan(Block + 100, (1 << 20) + 200));
        // Head: 3996 bytes copied (to the source's next block boundary); then 255 whole blocks shared; the last 300 bytes copied.
        Assert.Equal(255 * Block, SharedBytes(fs, "part"));
        // Offsets not congruent modulo 4096: everything copied, nothing shared.
        Proc.Check("xfs_io", "-f", "-c", $"copy_range -s 100 -d 0 -l 65536 {fs["a"]}", fs["unaligned"]);
        model["unaligned"] = a.AsSpan(100, 65536).ToArray();
        Assert.Equal(0, SharedBytes(fs, "unaligned"));
        Check(fs, model);

        // Every mutation of one copy leaves the others as they were.
        Mutate(fs, model, "auto", f => Native.PWriteAll(f, Fill(100, 0x11), 4096 + 7), m => Written(m, 4096 + 7, Fill(100, 0x11)));
        Mutate(fs, model, "a", f => Native.PWriteAll(f, Fill(3 * Block, 0x22), 0), m => Written(m, 0, Fill(3 * Block, 0x22)));
        Mutate(fs, model, "plain", f => Assert.Equal(0, Native.ftruncate(f, 5000)), m => m[..5000]);
        Mutate(fs, model, "xfsio", f => Assert.Equal(0, Native.fallocate(f, Native.FALLOC_FL_PUNCH_HOLE | Native.FALLOC_FL_KEEP_SIZE, (1 << 20) + 10, 1 << 20)),
            m => Zeroed(m, (1 << 20) + 10, 1 << 20));
        Mutate(fs, model, "a", f => Assert.Equal(0, Native.fallocate(f, Native.FALLOC_FL_ZERO_RANGE, (2 << 20) + 300, (1 << 20) + 5)),
            m => Zeroed(m, (2 << 20) + 300, (1 << 20) + 5));
        Mutate(fs, model, "reflink", f => Native.PWriteAll(f, Fill(Block, 0x33), (6 << 20)), m => Written(m, 6 << 20, Fill(Block, 0x33)));
        Mutate(fs, model, "part", f => Native.PWriteAll(f, Fill(10, 0x44), 3 * Block), m => Written(m, 3 * Block, Fill(10, 0x44)));
        // Growing the shorter file past its old end over shared blocks of the other.
        Mutate(fs, model, "plain", f => Assert.Equal(0, Native.ftruncate(f, 3 << 20)), m => Truncated(m, 3 << 20));
        // The untouched middle of "reflink" is still shared with the others.
        Assert.True(SharedBytes(fs, "reflink") > 4 << 20, "the untouched blocks of reflink should still be shared");
        fs.Remount();
        Check(fs, model);
        fs.Unmount();
        var fsck = fs.Fsck();
        Assert.True(fsck.Ok, "fsck after sharing, copy on write and remount is not clean:\n" + fsck);
    }

    [SkippableFact]
    public void CpReflinkAlwaysFailsOverFuseAndLeavesAnEmptyFile()
    {
        using var fs = new MountedFileSystem("64M");
        File.WriteAllBytes(fs["a"], Fill(1 << 20, 0x5a));
        var r = Proc.Run("cp", "--reflink=always", fs["a"], fs["b"]);
        output.WriteLine(r.ToString());
        // FICLONE never reaches a FUSE daemon: the kernel answers EOPNOTSUPP, and cp has already created DST.
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("failed to clone", r.Err, StringComparison.Ordinal);
        Assert.Contains("Operation not supported", r.Err, StringComparison.Ordinal);
        Assert.True(File.Exists(fs["b"]));
        Assert.Equal(0, new FileInfo(fs["b"]).Length);
        // What to use instead: pmemfs reflink shares or fails.
        Proc.Check(fs.Cli, "reflink", fs["a"], fs["b"]);
        Assert.Equal(1 << 20, SharedBytes(fs, "b"));
        fs.Unmount();
        var fsck = fs.Fsck();
        Assert.True(fsck.Ok, "fsck:\n" + fsck);
    }

    [SkippableFact]
    public void StatfsCountsASharedFileOnce()
    {
        using var fs = new MountedFileSystem("256M");
        File.WriteAllBytes(fs["big"], Fill(64 << 20, 0x77));
        var before = Native.StatVfsOf(fs.Path);
        foreach (var copy in new[] { "c1", "c2", "c3" }) Proc.Check("cp", "--reflink=auto", fs["big"], fs[copy]);
        var after = Native.StatVfsOf(fs.Path);
        long usedBySharing = (long)(before.FreeBlocks - after.FreeBlocks) * Block;
        output.WriteLine($"three shared 64 MiB copies used {usedBySharing} bytes of free space");
        Assert.InRange(usedBySharing, 0, 1 << 20); // metadata at most: not 3 x 64 MiB
        var df = Proc.Check("df", "-B1", "--output=avail", fs.Path).Out.Split('\n', StringSplitOptions.RemoveEmptyEntries)[1].Trim();
        Assert.Equal((long)after.AvailableBlocks * Block, long.Parse(df, System.Globalization.CultureInfo.InvariantCulture));
        // Writing every block of one copy unshares it: now it costs its 64 MiB.
        Proc.Check("dd", "if=/dev/zero", $"of={fs["c1"]}", "bs=1M", "count=64", "conv=notrunc", "status=none");
        var unshared = Native.StatVfsOf(fs.Path);
        long cow = (long)(after.FreeBlocks - unshared.FreeBlocks) * Block;
        Assert.InRange(cow, 64L << 20, (64L << 20) + (1 << 20));
        // Deleting the original frees nothing still shared with c2 and c3.
        File.Delete(fs["big"]);
        Assert.InRange((long)(Native.StatVfsOf(fs.Path).FreeBlocks - unshared.FreeBlocks) * Block, 0, 1 << 20);
        Assert.True(Native.ReadWholeFile(fs["c2"]).All(b => b == 0x77));
        File.Delete(fs["c2"]);
        File.Delete(fs["c3"]);
        Assert.InRange((long)(Native.StatVfsOf(fs.Path).FreeBlocks - unshared.FreeBlocks) * Block, 64L << 20, (64L << 20) + (1 << 20));
        fs.Unmount();
        var fsck = fs.Fsck();
        Assert.True(fsck.Ok, "fsck:\n" + fsck);
    }

    [SkippableFact]
    public void BadClonesGetTheirErrnoAndChangeNothing()
    {
        using var fs = new MountedFileSystem("128M");
        using var other = new MountedFileSystem("64M");
        var rng = new Random(3);
        byte[] Random(int n) { var b = new byte[n]; rng.NextBytes(b); return b; }
        File.WriteAllBytes(fs["src"], Random(64 * 1024 + 10));
        File.WriteAllBytes(fs["dst"], Random(32 * 1024));
        File.WriteAllBytes(other["far"], Random(16 * 1024));
        File.WriteAllBytes("/dev/shm/pmemfs-reflink-test-local", Random(8192));
        Directory.CreateDirectory(fs["dir"]);
        foreach (var (name, flags) in new[] { ("imm", "+i"), ("app", "+a") })
        {
            File.WriteAllBytes(fs[name], Random(16 * 1024));
            Proc.Check("chattr", flags, fs[name]);
        }
        File.WriteAllBytes(fs["daxi"], Random(16 * 1024));
        Proc.Check(fs.Cli, "chattr", "+dax,dax_immutable", fs["daxi"]);
        var names = new[] { "src", "dst", "imm", "app", "daxi" };
        var before = names.ToDictionary(n => n, n => (Data: File.ReadAllBytes(fs[n]), Map: Proc.Check(fs.Cli, "bmap", fs[n], "--json").Out));
        try
        {
            // Through the CLI: one line, exit 1, nothing created or changed.
            Refused(fs, ["reflink", fs["src"], other["new"]], "cross-device link");
            Assert.False(File.Exists(other["new"]));
            Refused(fs, ["reflink", fs["src"], "/dev/shm/pmemfs-reflink-test-new"], "cross-device link");
            Assert.False(File.Exists("/dev/shm/pmemfs-reflink-test-new"));
            Refused(fs, ["reflink", fs["src"], fs["dir"]], "is a directory");
            Refused(fs, ["reflink", fs["src"], fs["src"], "--range", "0:8192:4096"], "invalid argument");
            Refused(fs, ["reflink", fs["src"], fs["dst"], "--range", "100:4096:0"], "invalid argument");
            Refused(fs, ["reflink", fs["src"], fs["dst"], "--range", "0:4000:0"], "invalid argument"); // unaligned length short of SRC's end
            Refused(fs, ["reflink", fs["src"], fs["imm"]], "Operation not permitted");
            Refused(fs, ["reflink", fs["src"], fs["app"]], "Operation not permitted");
            Refused(fs, ["reflink", fs["src"], fs["daxi"]], "operation not permitted");
            Refused(fs, ["reflink", fs["daxi"], fs["fromdaxi"]], "operation not permitted");
            Assert.False(File.Exists(fs["fromdaxi"]));
            var usage = Proc.Run(fs.Cli, "reflink", fs["src"], fs["dst"], "--range", "1:2:3:4");
            Assert.Equal(2, usage.ExitCode);

            // The ioctl itself, as a C program would issue it.
            int src = Open(fs["src"], Native.O_RDONLY);
            int dst = Open(fs["dst"], Native.O_RDWR);
            int far = Open(other["far"], Native.O_RDONLY);
            int local = Open("/dev/shm/pmemfs-reflink-test-local", Native.O_RDONLY);
            int srcWrite = Open(fs["src"], Native.O_WRONLY);
            int dstRead = Open(fs["dst"], Native.O_RDONLY);
            int dir = Open(fs["dir"], Native.O_RDONLY | Native.O_DIRECTORY);
            int app = Open(fs["app"], Native.O_WRONLY | Native.O_APPEND);
            int daxi = Open(fs["daxi"], Native.O_RDWR);
            int srcPath = Open(fs["src"], 0x200000 /* O_PATH */);
            try
            {
                PmemFsCloneRange Good(int from) => new() { Version = PmemFsCloneAbi.Version, SrcFd = from, Length = 8192 };
                Assert.Equal(Native.EXDEV, Clone(dst, Good(far)));
                Assert.Equal(Native.EXDEV, Clone(dst, Good(local)));
                Assert.Equal(EISDIR, Clone(dir, Good(src)));
                Assert.Equal(Native.EINVAL, Clone(dst, Good(src) with { Version = 2 }));
                Assert.Equal(Native.EINVAL, Clone(dst, Good(src) with { Flags = 1 }));
                Assert.Equal(Native.EINVAL, Clone(dst, Good(src) with { Reserved2 = 1 }));
                Assert.Equal(Native.EINVAL, Clone(dst, Good(src) with { Cloned = 1 }));
                Assert.Equal(Native.EINVAL, Clone(dst, Good(src) with { SrcFd = -1 }));
                Assert.Equal(Native.EINVAL, Clone(dst, Good(src) with { DstOffset = 100 }));
                Assert.Equal(Native.EINVAL, Clone(dst, Good(src) with { SrcOffset = 4095 }));
                Assert.Equal(Native.EINVAL, Clone(dst, Good(src) with { SrcOffset = ulong.MaxValue - 4095 }));
                Assert.Equal(Native.EINVAL, Clone(dst, Good(src) with { Length = 100 }));
                Assert.Equal(Native.EBADF, Clone(dst, Good(srcWrite)));
                Assert.Equal(Native.EBADF, Clone(dst, Good(srcPath)));
                Assert.Equal(Native.EBADF, Clone(dst, Good(999)));
                Assert.Equal(Native.EBADF, Clone(dstRead, Good(src)));
                Assert.Equal(Native.EBADF, Clone(app, Good(src)));
                Assert.Equal(Native.EPERM, Clone(daxi, Good(src)));
                // Overlapping ranges of one file (the descriptor open for both).
                Assert.Equal(Native.EINVAL, Clone(dst, Good(dst) with { SrcOffset = 0, DstOffset = 4096 }));
                Assert.Equal(Native.EPERM, Clone(dst, Good(daxi)));
                // And one that works, for contrast: the struct says how much was done.
                var ok = Good(src) with { DstOffset = 64 * 1024 };
                Assert.Equal(0, Native.ioctl(dst, PmemFsCloneAbi.CloneRange, &ok) == 0 ? 0 : Native.Errno);
                Assert.Equal(8192ul, ok.Cloned);
            }
            finally
            {
                foreach (int fd in new[] { src, dst, far, local, srcWrite, dstRead, dir, app, daxi, srcPath }) Native.close(fd);
            }
            // Everything refused changed nothing (dst: only its one successful clone, past its old end).
            foreach (var n in names.Where(n => n != "dst"))
            {
                Assert.Equal(before[n].Data, File.ReadAllBytes(fs[n]));
                // src's first blocks are shared now (by the clone that worked): its map says so, nothing else moved.
                if (n != "src") Assert.Equal(before[n].Map, Proc.Check(fs.Cli, "bmap", fs[n], "--json").Out);
            }
            Assert.Equal(8192, SharedBytes(fs, "src"));
            var dstNow = File.ReadAllBytes(fs["dst"]);
            Assert.Equal(before["dst"].Data, dstNow[..(32 * 1024)]);
            Assert.Equal(before["src"].Data[..8192], dstNow[(64 * 1024)..]);
            // copy_file_range from the DAX_IMMUTABLE file copies instead of sharing.
            Proc.Check("cp", fs["daxi"], fs["daxicopy"]);
            Assert.Equal(before["daxi"].Data, File.ReadAllBytes(fs["daxicopy"]));
            Assert.Equal(0, SharedBytes(fs, "daxicopy"));
            Assert.Equal(0, SharedBytes(fs, "daxi"));
        }
        finally
        {
            File.Delete("/dev/shm/pmemfs-reflink-test-local");
            File.Delete("/dev/shm/pmemfs-reflink-test-new");
        }
        fs.Unmount();
        var fsck = fs.Fsck();
        Assert.True(fsck.Ok, "fsck:\n" + fsck);
    }

    private static void Refused(MountedFileSystem fs, string[] args, string words)
    {
        var r = Proc.Run(fs.Cli, args);
        Assert.True(r.ExitCode == 1, r.ToString());
        Assert.Contains(words, r.Err, StringComparison.OrdinalIgnoreCase);
        Assert.Single(r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    private static int Open(string path, int flags)
    {
        int fd = Native.open(path, flags | Native.O_CLOEXEC, 0);
        if (fd < 0) throw new NativeException($"open {path}", Native.Errno);
        return fd;
    }

    /// <summary>PMEMFS_IOC_CLONE_RANGE on <paramref name="dst"/>: 0 or the errno.</summary>
    private static int Clone(int dst, PmemFsCloneRange a) => Native.ioctl(dst, PmemFsCloneAbi.CloneRange, &a) == 0 ? 0 : Native.Errno;

    /// <summary>Bytes of the file that `pmemfs bmap --json` flags shared.</summary>
    private static long SharedBytes(MountedFileSystem fs, string name)
    {
        using var doc = JsonDocument.Parse(Proc.Check(fs.Cli, "bmap", fs[name], "--json").Out);
        return doc.RootElement.GetProperty("extents").EnumerateArray()
            .Where(e => e.GetProperty("flags").EnumerateArray().Any(f => f.GetString() == "shared"))
            .Sum(e => e.GetProperty("length").GetInt64());
    }

    private static void Mutate(MountedFileSystem fs, Dictionary<string, byte[]> model, string name, Action<int> change, Func<byte[], byte[]> expect)
    {
        int fd = Open(fs[name], Native.O_RDWR);
        try { change(fd); }
        finally { Native.close(fd); }
        model[name] = expect(model[name]);
        Check(fs, model);
    }

    private static void Check(MountedFileSystem fs, Dictionary<string, byte[]> model)
    {
        foreach (var (name, want) in model)
        {
            var got = File.ReadAllBytes(fs[name]);
            Assert.True(got.Length == want.Length, $"{name}: size {got.Length}, expected {want.Length}");
            Assert.True(got.AsSpan().SequenceEqual(want), $"{name}: content differs at offset {got.AsSpan().CommonPrefixLength(want)}");
        }
    }

    private static byte[] Fill(int n, byte b) => Enumerable.Repeat(b, n).ToArray();

    private static byte[] Written(byte[] old, long off, ReadOnlySpan<byte> data)
    {
        var n = new byte[Math.Max(old.Length, off + data.Length)];
        old.CopyTo(n, 0);
        data.CopyTo(n.AsSpan((int)off));
        return n;
    }

    private static byte[] Zeroed(byte[] old, long off, long len)
    {
        var n = (byte[])old.Clone();
        if (off < n.Length) Array.Clear(n, (int)off, (int)Math.Min(len, n.Length - off));
        return n;
    }

    private static byte[] Truncated(byte[] old, long size)
    {
        var n = new byte[size];
        Array.Copy(old, n, Math.Min(old.Length, size));
        return n;
    }
}
