using PmemFs.Daemon;

namespace PmemFs.Cli.Tests;

public sealed class MountLookupTests
{
    private static readonly MountEntry Root = new("/", "ext4", "/dev/sda1");
    private static readonly MountEntry Mnt = new("/mnt/p", "fuse.pmemfs", "/dev/shm/a.img");

    [Theory]
    [InlineData("/mnt/p", "/mnt/p")]
    [InlineData("/mnt/p/d/f", "/mnt/p")]
    [InlineData("/mnt/pq/f", "/")] // a prefix of the name is not a parent directory
    [InlineData("/mnt", "/")]
    [InlineData("/", "/")]
    public void TheLongestMountPointAboveThePathHoldsIt(string path, string expected) =>
        Assert.Equal(expected, MountTable.Containing(path, [Root, Mnt])!.Mountpoint);

    [Fact]
    public void OfStackedMountsTheLastListedHidesTheOthers()
    {
        var above = new MountEntry("/mnt/p", "tmpfs", "tmpfs");
        Assert.Same(above, MountTable.Containing("/mnt/p/f", [Root, Mnt, above]));
        Assert.Same(Mnt, MountTable.Containing("/mnt/p/f", [Root, above, Mnt]));
    }

    [Fact]
    public void WithoutARootMountAPathElsewhereIsOnNone() =>
        Assert.Null(MountTable.Containing("/srv/x", [Mnt]));

    [Fact]
    public void RealPathResolvesSymlinksAndDots()
    {
        string dir = Directory.CreateTempSubdirectory("pmemfs-realpath-").FullName;
        try
        {
            string real = MountLookup.RealPath(dir)!;
            Directory.CreateDirectory(Path.Combine(dir, "d"));
            File.CreateSymbolicLink(Path.Combine(dir, "l"), Path.Combine(dir, "d"));
            Assert.Equal(Path.Combine(real, "d"), MountLookup.RealPath(Path.Combine(dir, "l", "..", "l")));
            Assert.Null(MountLookup.RealPath(Path.Combine(dir, "missing")));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
