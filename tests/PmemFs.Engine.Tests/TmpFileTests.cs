using PmemFs.Check;
using PmemFs.Format;
using PmemFs.Media;
using static PmemFs.Engine.Tests.EngineFixture;

namespace PmemFs.Engine.Tests;

/// <summary>
/// O_TMPFILE (FileSystem.CreateTmpFile): a file in no directory that keeps its data while open,
/// gives its blocks back at the last close and its inode with the last reference, may be
/// linked once, and is an orphan (freed at mount) when a crash or unmount finds it unnamed.
/// </summary>
public class TmpFileTests
{
    private static readonly Credentials Who = Credentials.Root with { Umask = 0x12 }; // 022

    [Fact]
    public void ATmpFileHasNoNameKeepsItsDataWhileOpenAndGivesItBackAtClose()
    {
        using var t = new EngineFixture();
        ulong d = t.MakeDir(Root, "d");
        long free = t.Fs.StatFs().FreeBlocks;
        Assert.Equal(Errno.Ok, t.Fs.CreateTmpFile(d, 0x1B6, Who, out var a)); // 0666 & ~022
        Assert.Equal(0u, a.Nlink);
        Assert.Equal(FileTypes.Regular | 0x1A4u, a.Mode);
        Assert.Empty(t.List(d));
        t.Fs.Retain(a.Ino);
        t.Fs.Opened(a.Ino);
        var data = Pattern(3 * 4096 + 5, 7);
        t.Write(a.Ino, 0, data);
        Assert.Equal(data, t.ReadAll(a.Ino));
        Assert.True(t.Fs.StatFs().FreeBlocks < free);

        t.Fs.Closed(a.Ino);
        Assert.Equal(free, t.Fs.StatFs().FreeBlocks);
        t.Fs.Forget(a.Ino);
        Assert.Equal(Errno.ESTALE, t.Fs.GetAttr(a.Ino, out _));
    }

    [Fact]
    public void LinkGivesATmpFileItsNameOnceAndItSurvivesRemount()
    {
        using var t = new EngineFixture();
        Assert.Equal(Errno.Ok, t.Fs.CreateTmpFile(Root, 0x180, Who, out var a));
        t.Fs.Retain(a.Ino);
        t.Fs.Opened(a.Ino);
        var data = Pattern(10_000, 3);
        t.Write(a.Ino, 0, data);
        Assert.Equal(Errno.Ok, t.Fs.Link(a.Ino, Root, N("named"), out var linked));
        Assert.Equal(1u, linked.Nlink);
        Assert.Equal(Errno.Ok, t.Fs.Unlink(Root, N("named")));
        // Unlinked again, it is an ordinary unlinked file: no second first name.
        Assert.Equal(Errno.ENOENT, t.Fs.Link(a.Ino, Root, N("again"), out _));

        Assert.Equal(Errno.Ok, t.Fs.CreateTmpFile(Root, 0x180, Who, out var b));
        t.Fs.Retain(b.Ino);
        t.Fs.Opened(b.Ino);
        t.Write(b.Ino, 0, data);
        Assert.Equal(Errno.Ok, t.Fs.Link(b.Ino, Root, N("kept"), out _));
        t.Fs.Closed(b.Ino);
        t.Remount();
        Assert.Equal(data, t.ReadAll(t.LookupIno(Root, "kept")));
        Assert.Equal(["kept"], t.List(Root));
    }

    [Fact]
    public void AnUnnamedTmpFileLeftAtUnmountOrCrashIsAnOrphanFreedAtMount()
    {
        using var t = new EngineFixture();
        long inodesFree = t.Fs.StatFs().FreeInodes;
        long free = t.Fs.StatFs().FreeBlocks;
        Assert.Equal(Errno.Ok, t.Fs.CreateTmpFile(Root, 0x180, Who, out var a));
        t.Fs.Retain(a.Ino);
        t.Fs.Opened(a.Ino);
        t.Write(a.Ino, 0, Pattern(64 * 1024, 1));
        // What a killed daemon leaves: the image as it is, the file still open and unnamed.
        using var image = MemoryMedia.CopyOf(t.Media);
        var report = Fsck.Check(image, new FsckOptions());
        Assert.True(report.IsClean, string.Join("\n", report.Problems));
        using var after = FileSystem.Mount(image);
        Assert.Equal(1, after.Report.OrphansFreed);
        Assert.Equal(inodesFree, after.StatFs().FreeInodes);
        Assert.Equal(free, after.StatFs().FreeBlocks);
        Assert.Equal(Errno.ESTALE, after.GetAttr(a.Ino, out _));
    }

    [Theory]
    [InlineData(0x41ED)] // a directory
    [InlineData(0x21A4)] // a character device
    public void OnlyARegularFileCanBeATmpFile(uint mode)
    {
        using var t = new EngineFixture();
        Assert.Equal(Errno.EINVAL, t.Fs.CreateTmpFile(Root, mode, Who, out _));
    }

    [Fact]
    public void ATmpFileInAFileOrARemovedDirectoryIsRefused()
    {
        using var t = new EngineFixture();
        ulong f = t.CreateFile(Root, "f");
        Assert.Equal(Errno.ENOTDIR, t.Fs.CreateTmpFile(f, 0x180, Who, out _));
        ulong d = t.MakeDir(Root, "d");
        t.Fs.Retain(d); // the kernel still holds it (a process's working directory)
        Assert.Equal(Errno.Ok, t.Fs.RemoveDirectory(Root, N("d")));
        Assert.Equal(Errno.ENOENT, t.Fs.CreateTmpFile(d, 0x180, Who, out _));
    }
}
