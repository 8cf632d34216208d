namespace PmemFs.Mount.Tests;

/// <summary>
/// `pmemfs mount` on a directory where a killed daemon left its mount attached (every access
/// ENOTCONN): the same image's dead mount is cleared and mounted again, with a warning saying
/// so; another image's refuses with what is attached there and the command that clears it; a
/// dead mount of the image on another directory names that directory. Before, every case said
/// "mountpoint does not exist or is not a directory".
/// </summary>
public class DeadMountTest
{
    [SkippableFact]
    public void ADeadMountOfTheSameImageIsClearedAndMountedAgain()
    {
        using var fs = new MountedFileSystem();
        File.WriteAllText(fs["kept"], "survives the kill");
        fs.KillDaemon();
        Assert.True(fs.IsMounted, "the dead mount should still be attached");
        Assert.False(Directory.Exists(fs.Path)); // ENOTCONN

        var r = Proc.Run(fs.Cli, ["mount", fs.Image, fs.Path]);
        Assert.True(r.Ok, r.ToString());
        Assert.Contains($"{fs.Path}: a dead PmemFs mount of {fs.Image} was still attached there", r.Err, StringComparison.Ordinal);
        Assert.Contains("cleared it", r.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("does not exist", r.Err, StringComparison.Ordinal);
        Assert.True(fs.IsMounted);
        Assert.Equal("survives the kill", File.ReadAllText(fs["kept"]));
        File.WriteAllText(fs["after"], "new daemon");
        Assert.Single(File.ReadLines("/proc/self/mountinfo"), l => l.Split(' ')[4] == fs.Path); // replaced, not stacked
    }

    [SkippableFact]
    public void ADeadMountOfAnotherImageRefusesWithTheWayToClearIt()
    {
        using var fs = new MountedFileSystem();
        using var other = new MountedFileSystem(mount: false);
        fs.KillDaemon();

        var r = Proc.Run(fs.Cli, ["mount", other.Image, fs.Path]);
        Assert.False(r.Ok, r.ToString());
        Assert.Contains($"{fs.Path}: a dead PmemFs mount of {fs.Image} is still attached there", r.Err, StringComparison.Ordinal);
        Assert.Contains($"clear it with: pmemfs unmount {fs.Path}", r.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("does not exist", r.Err, StringComparison.Ordinal);
        Assert.True(fs.IsMounted, "a dead mount of another image is left alone");

        // The image's own dead mount, asked for on another directory: named, not "already mounted".
        r = Proc.Run(fs.Cli, ["mount", fs.Image, other.Path]);
        Assert.False(r.Ok, r.ToString());
        Assert.Contains($"{fs.Image}: a dead PmemFs mount of it is still attached on {fs.Path}", r.Err, StringComparison.Ordinal);
        Assert.Contains($"pmemfs unmount {fs.Path}", r.Err, StringComparison.Ordinal);

        // And the command it names works.
        var clean = Proc.Run(fs.Cli, ["unmount", fs.Path]);
        Assert.True(clean.Ok, clean.ToString());
        Assert.False(fs.IsMounted);
        fs.Mount();
        Assert.True(Directory.Exists(fs.Path));
    }
}
