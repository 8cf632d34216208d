namespace PmemFs.Cli.Tests;

/// <summary>
/// pmemfs mount / unmount refusals, in process: each fails before anything is mounted (the
/// mounting itself is tested through the real command in PmemFs.Mount.Tests and tests/fstests).
/// </summary>
public sealed class MountCommandTests : IDisposable
{
    private readonly TempImage _image = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("pmemfs-mountcmd-").FullName;

    public void Dispose()
    {
        _image.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void AMissingImageIsRefusedWithTheMkfsCommandToRun()
    {
        var r = Cli.Run("mount", "-f", _image.Path, _dir);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("no such image (create one with: pmemfs mkfs", r.Err, StringComparison.Ordinal);
    }

    [Fact]
    public void AForeignImageIsRefusedAndLeftAlone()
    {
        File.WriteAllBytes(_image.Path, new byte[8 << 20]);
        File.SetUnixFileMode(_image.Path, UnixFileMode.UserRead | UnixFileMode.UserWrite); // private: past the access check
        string before = _image.Hash();
        var r = Cli.Run("mount", "-f", _image.Path, _dir);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("not a PmemFs image", r.Err, StringComparison.Ordinal);
        Assert.Equal(before, _image.Hash());
    }

    [Fact]
    public void AMissingMountpointIsRefused()
    {
        Cli.Mkfs(_image, "32M");
        var r = Cli.Run("mount", "-f", _image.Path, Path.Combine(_dir, "nope"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("mountpoint does not exist", r.Err, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("bogus", "unknown mount option 'bogus'")]
    [InlineData("dax=sometimes", "use dax=inode, dax=always or dax=never")]
    [InlineData("threads=0", "threads must be 1..64")]
    public void BadOptionsAreRefusedBeforeAnythingStarts(string options, string message)
    {
        Cli.Mkfs(_image, "32M");
        var r = Cli.Run("mount", _image.Path, _dir, "-o", options);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains(message, r.Err, StringComparison.Ordinal);
    }

    [Fact]
    public void MountWithoutArgumentsIsAUsageError()
    {
        var r = Cli.Run("mount");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("Required argument 'IMAGE' missing", r.Err, StringComparison.Ordinal);
    }

    [Fact]
    public void UnmountOfSomethingThatIsNotAPmemFsMountIsRefused()
    {
        var r = Cli.Run("unmount", _dir);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("not a PmemFs mount", r.Err, StringComparison.Ordinal);
    }
}
