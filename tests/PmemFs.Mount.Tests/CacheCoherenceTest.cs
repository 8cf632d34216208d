namespace PmemFs.Mount.Tests;

/// <summary>
/// The kernel keeps PmemFs's attributes and names for a day (issue 14: stat without a round
/// trip), so every change the kernel does not make itself must be invalidated by the daemon the
/// moment it happens. Each case caches the attributes first (a stat), changes the file behind
/// the kernel's back through an ioctl, and stats again at once. fsync, fdatasync and syncfs
/// (answered by the kernel itself after the first ENOSYS) succeed, and the data stays. fsck is
/// clean at the end.
/// </summary>
public class CacheCoherenceTest
{
    private static string Stat(string format, string path) => Proc.Check("stat", "-c", format, path).Out.Trim();

    [SkippableFact]
    public void ChangesMadeThroughIoctlsShowAtOnceDespiteLongAttributeTimeouts()
    {
        PmemfsEnvironment.SkipUnlessMountable();
        using var fs = new MountedFileSystem();

        // A flag change (FS_IOC_SETFLAGS) changes ctime: the kernel does not know.
        string flagged = fs["flagged"];
        File.WriteAllBytes(flagged, new byte[100]);
        string ctimeBefore = Stat("%z", flagged);
        Thread.Sleep(20);
        Proc.Check("chattr", "+a", flagged);
        Assert.NotEqual(ctimeBefore, Stat("%z", flagged));
        Proc.Check("chattr", "-a", flagged);

        // A clone (PMEMFS_IOC_CLONE_RANGE) grows a file the kernel has just seen created empty.
        string source = fs["source"];
        var data = new byte[3 * 4096 + 123];
        new Random(5).NextBytes(data);
        File.WriteAllBytes(source, data);
        string clone = fs["clone"];
        Proc.Check(fs.Cli, "reflink", source, clone);
        Assert.Equal(data.Length.ToString(), Stat("%s", clone));
        Assert.Equal(data, File.ReadAllBytes(clone));

        // A name looked up and not found is cached as absent (a negative entry); creating it through the
        // mount must replace that. Correctness only: it passes without negative entries too; nothing
        // in the suites shows that they are cached (the daemon counts no requests).
        string late = fs["late"];
        Assert.False(File.Exists(late));
        File.WriteAllText(late, "here");
        Assert.Equal("here", File.ReadAllText(late));
        File.Delete(late);
        Assert.False(File.Exists(late));

        // Correctness only (it would pass with fsync making a round trip each time; the cost is in the
        // benchmarks): fsync, fdatasync and syncfs succeed every time (the first reaches the daemon, which says
        // ENOSYS: nothing is left to do), and the data is there after a remount.
        string synced = fs["synced"];
        for (int i = 0; i < 3; i++)
            Proc.Check("xfs_io", "-f", "-c", $"pwrite -q -S 0x{0x41 + i:x2} {i * 4096} 4096", "-c", "fsync", "-c", "fdatasync", "-c", "syncfs", synced);
        fs.Remount();
        var back = File.ReadAllBytes(synced);
        Assert.Equal(3 * 4096, back.Length);
        for (int i = 0; i < 3; i++) Assert.All(back.AsSpan(i * 4096, 4096).ToArray(), b => Assert.Equal(0x41 + i, b));

        fs.Unmount();
        var fsck = fs.Fsck();
        Assert.True(fsck.Ok, fsck.ToString());
    }
}
