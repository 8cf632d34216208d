namespace PmemFs.Mount.Tests;

/// <summary>
/// A mount with -o nosubtype: the kernel's type is exactly "fuse" (what the real xfstests checks
/// for FSTYP=fuse), and every pmemfs command still finds the mount, by its source image
/// (docs/xfstests.md). Before, the tools knew a mount only by the type fuse.pmemfs.
/// </summary>
public class PlainFuseTypeTest
{
    [SkippableFact]
    public void TheTypeIsPlainFuseAndEveryToolFindsTheMount()
    {
        using var fs = new MountedFileSystem(options: "nosubtype");
        Assert.Equal(("fuse", fs.Image), TypeAndSource(fs.Path));
        File.WriteAllText(fs["f"], "data");

        Proc.Check(fs.Cli, "chattr", "+a", fs["f"]);
        Assert.StartsWith("append", Proc.Check(fs.Cli, "lsattr", fs["f"]).Out, StringComparison.Ordinal);
        var info = Proc.Check(fs.Cli, "info", fs.Path).Out;
        Assert.Contains("PmemFs mount point", info, StringComparison.Ordinal);
        Assert.Contains(fs.Image, info, StringComparison.Ordinal);
        Assert.Matches($@"(?m)^mount: +{System.Text.RegularExpressions.Regex.Escape(fs.Path)}$", Proc.Check(fs.Cli, "info", fs["f"]).Out);
        Proc.Check(fs.Cli, "chattr", "-a", fs["f"]);
        Proc.Check(fs.Cli, "lease", "list", fs.Path);
        Assert.Contains("/f", Proc.Check(fs.Cli, "rmap", fs.Path).Out, StringComparison.Ordinal);
        Proc.Check(fs.Cli, "poison", "list", fs.Path);
        Proc.Check(fs.Cli, "bmap", fs["f"]);

        // pmemfs unmount finds it by its source, and waits for the daemon (Dispose checks fsck).
        fs.Unmount();
        Assert.False(fs.IsMounted);
    }

    [SkippableFact]
    public void RemountReadOnlyAndBackThroughTheHelper()
    {
        Skip.If(!File.Exists("/sbin/mount.fuse.pmemfs"), "no /sbin/mount.fuse.pmemfs (scripts/install.sh installs it)");
        using var fs = new MountedFileSystem(options: "nosubtype");
        File.WriteAllText(fs["before"], "x");
        // What xfstests does (mount -t $FSTYP$FUSE_SUBTYP -o remount,ro DEV DIR).
        Proc.Check("mount", "-t", "fuse.pmemfs", "-o", "remount,ro", fs.Image, fs.Path);
        Assert.Throws<IOException>(() => File.WriteAllText(fs["refused"], "x"));
        Assert.Equal("x", File.ReadAllText(fs["before"]));
        Proc.Check("mount", "-t", "fuse.pmemfs", "-o", "remount,rw", fs.Image, fs.Path);
        File.WriteAllText(fs["after"], "y");
        Assert.Equal(("fuse", fs.Image), TypeAndSource(fs.Path));
    }

    [SkippableFact]
    public void ADeadPlainFuseMountIsKnownAsPmemFsAndCleared()
    {
        using var fs = new MountedFileSystem(options: "nosubtype");
        File.WriteAllText(fs["kept"], "survives");
        fs.KillDaemon();
        var r = Proc.Run(fs.Cli, ["mount", fs.Image, fs.Path, "-o", "nosubtype"]);
        Assert.True(r.Ok, r.ToString());
        Assert.Contains($"a dead PmemFs mount of {fs.Image} was still attached there", r.Err, StringComparison.Ordinal);
        Assert.Equal("survives", File.ReadAllText(fs["kept"]));
        Assert.Equal(("fuse", fs.Image), TypeAndSource(fs.Path));
    }

    private static (string Type, string Source) TypeAndSource(string mountpoint)
    {
        var line = File.ReadLines("/proc/self/mountinfo").Last(l => l.Split(' ')[4] == mountpoint).Split(' ');
        int dash = Array.IndexOf(line, "-");
        return (line[dash + 1], line[dash + 2]);
    }
}
