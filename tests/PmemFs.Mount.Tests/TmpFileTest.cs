namespace PmemFs.Mount.Tests;

/// <summary>
/// open(2) with O_TMPFILE through the mount (the kernel transport answers FUSE_TMPFILE): an
/// unnamed file whose space comes back at close, linkat(AT_EMPTY_PATH) naming it with its data
/// (xfs_io's flink), and one left open when the daemon is killed freed by the next mount. libfuse
/// 3.14's loop has no tmpfile: there O_TMPFILE is EOPNOTSUPP, as on a file system without it.
/// </summary>
public class TmpFileTest
{
    private const int O_RDWR = 2, O_TMPFILE = 0x400000 | 0x10000, EOPNOTSUPP = 95;

    [SkippableFact]
    public void AnUnnamedFileGivesItsSpaceBackAndFlinkNamesIt()
    {
        using var fs = new MountedFileSystem();
        long free = FreeBlocks(fs.Path);
        var r = Proc.Check("xfs_io", "-T", "-c", "pwrite -q -S 0x5a 0 8m", "-c", "stat", fs.Path);
        Assert.Contains("stat.size = 8388608", r.Out, StringComparison.Ordinal);
        Assert.Equal(free, FreeBlocks(fs.Path)); // closed: nothing left
        Assert.Empty(Directory.EnumerateFileSystemEntries(fs.Path));

        Proc.Check("xfs_io", "-T", "-c", "pwrite -q -S 0x5a 0 1m", "-c", $"flink {fs["named"]}", fs.Path);
        var bytes = File.ReadAllBytes(fs["named"]);
        Assert.Equal(1 << 20, bytes.Length);
        Assert.All(bytes, b => Assert.Equal(0x5a, b));
        fs.Remount();
        Assert.Equal(1 << 20, new FileInfo(fs["named"]).Length);
    }

    [SkippableFact]
    public unsafe void AnOpenTmpFileOfAKilledDaemonIsFreedAtTheNextMount()
    {
        using var fs = new MountedFileSystem();
        long free = FreeBlocks(fs.Path);
        int fd = Native.open(fs.Path, O_TMPFILE | O_RDWR, 0x180);
        Assert.True(fd >= 0, $"open O_TMPFILE: errno {Native.Errno}");
        try
        {
            var data = new byte[1 << 20];
            fixed (byte* p = data) Assert.Equal(data.Length, (int)Native.pwrite(fd, p, (nuint)data.Length, 0));
            Assert.True(FreeBlocks(fs.Path) < free);
            fs.KillDaemon();
        }
        finally { Native.close(fd); }
        fs.CleanDeadMount();
        fs.Mount();
        Assert.Equal(free, FreeBlocks(fs.Path)); // the orphan was freed; Dispose checks fsck
        Assert.Contains("freed 1 orphans", File.ReadAllText(fs.LogFile), StringComparison.Ordinal);
    }

    [SkippableFact]
    public void TheLibfuseTransportHasNoTmpFile()
    {
        using var fs = new MountedFileSystem(options: "fuse_transport=libfuse");
        int fd = Native.open(fs.Path, O_TMPFILE | O_RDWR, 0x180);
        if (fd >= 0) Native.close(fd);
        Assert.True(fd < 0, "O_TMPFILE opened on the libfuse transport");
        Assert.Equal(EOPNOTSUPP, Native.Errno);
    }

    private static long FreeBlocks(string path) => long.Parse(Proc.Check("stat", "-f", "-c", "%f", path).Out.Trim());
}
