using PmemFs.Format;

namespace PmemFs.Daemon.Tests;

/// <summary>
/// How a plain fuse mount (-o nosubtype) is known as PmemFs's: by its source's superblock, or by
/// the pid file a PmemFs daemon of this user left for its mount point.
/// </summary>
public sealed class PmemFsSourceTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pmemfs-source-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void AFileBeginningWithAPmemFsSuperblockIsAPmemFsSource()
    {
        string image = Path.Combine(_dir, "image");
        var head = new byte[4096];
        DiskSuperblock.MagicBytes.CopyTo(head.AsSpan(8));
        File.WriteAllBytes(image, head);
        Assert.True(PmemFsSource.Names(image, Path.Combine(_dir, "mnt")));
    }

    [Theory]
    [InlineData("other")]     // another file system's image
    [InlineData("short")]     // shorter than a superblock
    [InlineData("missing")]
    [InlineData("relative")]  // not a path: a FUSE source like "passthrough" or "non1"
    public void AnythingElseIsNot(string kind)
    {
        string source = kind switch
        {
            "other" => Write(Path.Combine(_dir, "ext4.img"), new byte[4096]),
            "short" => Write(Path.Combine(_dir, "short.img"), [.. DiskSuperblock.MagicBytes]),
            "missing" => Path.Combine(_dir, "nothing"),
            _ => "non1",
        };
        Assert.False(PmemFsSource.Names(source, Path.Combine(_dir, "mnt")));
    }

    [Fact]
    public void AMountPointWithAPmemFsPidFileIsPmemFsWhateverItsSource()
    {
        // A device-DAX device (never read), or an image this user may not read.
        string mountpoint = Path.Combine(_dir, "mnt-" + Guid.NewGuid().ToString("N")[..8]);
        string pidFile = RuntimePaths.PidFile(mountpoint);
        RuntimePaths.PrepareDirectoryOf(pidFile);
        Assert.False(PmemFsSource.Names("/dev/dax0.0", mountpoint));
        File.WriteAllText(pidFile, "1\n");
        try { Assert.True(PmemFsSource.Names("/dev/dax0.0", mountpoint)); }
        finally { File.Delete(pidFile); }
    }

    private static string Write(string path, byte[] bytes)
    {
        File.WriteAllBytes(path, bytes);
        return path;
    }
}
