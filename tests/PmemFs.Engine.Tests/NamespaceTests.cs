using PmemFs.Media;
using PmemFs.Format;
using static PmemFs.Engine.Tests.EngineFixture;

namespace PmemFs.Engine.Tests;

public class NamespaceTests
{
    [Fact]
    public void CreatedFileCanBeLookedUpAndSurvivesRemount()
    {
        using var t = new EngineFixture();
        ulong ino = t.CreateFile(Root, "hello");
        Assert.Equal(ino, t.LookupIno(Root, "hello"));
        t.Remount();
        Assert.Equal(ino, t.LookupIno(Root, "hello"));
        Assert.Equal(Errno.Ok, t.Fs.GetAttr(ino, out var a));
        Assert.Equal(RegularMode, a.Mode);
        Assert.Equal(1u, a.Nlink);
    }

    [Fact]
    public void CreatingAnExistingNameFailsWithEexist()
    {
        using var t = new EngineFixture();
        t.CreateFile(Root, "x");
        Assert.Equal(Errno.EEXIST, t.Fs.Create(Root, N("x"), RegularMode, Credentials.Root, out _));
        Assert.Equal(Errno.EEXIST, t.Fs.MakeDirectory(Root, N("x"), DirMode, Credentials.Root, out _));
    }

    [Fact]
    public void NamesAreBytesNotText()
    {
        using var t = new EngineFixture();
        byte[] a = [0xff, 0xfe, 0x41], b = [0xff, 0xfd, 0x41];
        Assert.Equal(Errno.Ok, t.Fs.Create(Root, a, RegularMode, Credentials.Root, out var fa));
        Assert.Equal(Errno.Ok, t.Fs.Create(Root, b, RegularMode, Credentials.Root, out var fb));
        Assert.NotEqual(fa.Ino, fb.Ino);
        t.Remount();
        Assert.Equal(Errno.Ok, t.Fs.Lookup(Root, a, out var la));
        Assert.Equal(fa.Ino, la.Ino);
    }

    [Fact]
    public void InvalidAndOverlongNamesAreRefused()
    {
        using var t = new EngineFixture();
        Assert.Equal(Errno.ENAMETOOLONG, t.Fs.Create(Root, new byte[256], RegularMode, Credentials.Root, out _));
        Assert.Equal(Errno.EINVAL, t.Fs.Create(Root, N("a/b"), RegularMode, Credentials.Root, out _));
        Assert.Equal(Errno.Ok, t.Fs.Create(Root, Enumerable.Repeat((byte)'n', 255).ToArray(), RegularMode, Credentials.Root, out _));
    }

    [Fact]
    public void MkdirCountsLinksOnParentAndChild()
    {
        using var t = new EngineFixture();
        ulong d = t.MakeDir(Root, "d");
        t.MakeDir(d, "sub");
        t.Fs.GetAttr(Root, out var root);
        t.Fs.GetAttr(d, out var da);
        Assert.Equal(3u, root.Nlink);
        Assert.Equal(3u, da.Nlink);
        Assert.True(da.IsDirectory);
        Assert.Equal(Errno.Ok, t.Fs.Lookup(d, N(".."), out var up));
        Assert.Equal(Root, up.Ino);
    }

    [Fact]
    public void RmdirOfNonEmptyDirectoryFailsAndOfEmptySucceeds()
    {
        using var t = new EngineFixture();
        ulong d = t.MakeDir(Root, "d");
        t.CreateFile(d, "f");
        Assert.Equal(Errno.ENOTEMPTY, t.Fs.RemoveDirectory(Root, N("d")));
        Assert.Equal(Errno.ENOTDIR, t.Fs.RemoveDirectory(d, N("f")));
        Assert.Equal(Errno.Ok, t.Fs.Unlink(d, N("f")));
        Assert.Equal(Errno.Ok, t.Fs.RemoveDirectory(Root, N("d")));
        Assert.Equal(Errno.ENOENT, t.Fs.Lookup(Root, N("d"), out _));
        t.Fs.GetAttr(Root, out var root);
        Assert.Equal(2u, root.Nlink);
    }

    [Fact]
    public void UnlinkOfDirectoryFailsWithEisdir()
    {
        using var t = new EngineFixture();
        t.MakeDir(Root, "d");
        Assert.Equal(Errno.EISDIR, t.Fs.Unlink(Root, N("d")));
    }

    [Fact]
    public void UnlinkFreesTheInodeAndItsBlocks()
    {
        using var t = new EngineFixture();
        long free0 = t.Fs.StatFs().FreeBlocks;
        long inodes0 = t.Fs.StatFs().FreeInodes;
        ulong f = t.CreateFile(Root, "big");
        t.Write(f, 0, Pattern(1 << 20, 1));
        Assert.Equal(free0 - 256, t.Fs.StatFs().FreeBlocks);
        Assert.Equal(Errno.Ok, t.Fs.Unlink(Root, N("big")));
        Assert.Equal(free0, t.Fs.StatFs().FreeBlocks);
        Assert.Equal(inodes0, t.Fs.StatFs().FreeInodes);
        Assert.Equal(Errno.ESTALE, t.Fs.GetAttr(f, out _));
    }

    [Fact]
    public void UnlinkedOpenFileStaysReadableUntilClosedAndIsFreedWhenForgotten()
    {
        using var t = new EngineFixture();
        long free0 = t.Fs.StatFs().FreeBlocks;
        ulong f = t.CreateFile(Root, "open");
        t.Write(f, 0, N("still here"));
        t.Fs.Retain(f);
        Assert.Equal(Errno.Ok, t.Fs.Open(f, write: false, append: false)); // counts the handle
        Assert.Equal(Errno.EISDIR, t.Fs.Open(Root, write: false, append: false));
        Assert.Equal(Errno.Ok, t.Fs.Unlink(Root, N("open")));
        Assert.Equal("still here"u8.ToArray(), t.ReadAll(f));
        Assert.Equal(free0 - 1, t.Fs.StatFs().FreeBlocks);
        t.Fs.Closed(f);
        Assert.Equal(free0, t.Fs.StatFs().FreeBlocks);
        t.Fs.Forget(f);
        Assert.Equal(Errno.ESTALE, t.Fs.GetAttr(f, out _));
    }

    [Fact]
    public void UnlinkingAFileNobodyHasOpenFreesItsSpaceAtOnceEvenIfTheKernelStillKnowsIt()
    {
        using var t = new EngineFixture();
        long free0 = t.Fs.StatFs().FreeBlocks;
        ulong f = t.CreateFile(Root, "gone");
        t.Write(f, 0, Pattern(1 << 20, 3));
        t.Fs.Retain(f);
        Assert.Equal(Errno.Ok, t.Fs.Unlink(Root, N("gone")));
        Assert.Equal(free0, t.Fs.StatFs().FreeBlocks);
        Assert.Equal(Errno.Ok, t.Fs.GetAttr(f, out _));
        t.Fs.Forget(f);
        Assert.Equal(Errno.ESTALE, t.Fs.GetAttr(f, out _));
    }

    [Fact]
    public void OrphanLeftByACrashIsFreedAtNextMount()
    {
        using var t = new EngineFixture();
        long free0 = t.Fs.StatFs().FreeBlocks;
        ulong f = t.CreateFile(Root, "open");
        t.Write(f, 0, Pattern(100_000, 2));
        t.Fs.Retain(f);
        t.Fs.Unlink(Root, N("open"));
        using var copy = MemoryMedia.CopyOf(t.Media);
        using (var crashed = FileSystem.Mount(copy))
        {
            Assert.Equal(1, crashed.Report.OrphansFreed);
            Assert.Equal(free0, crashed.StatFs().FreeBlocks);
            Assert.Equal(Errno.ESTALE, crashed.GetAttr(f, out _));
        }
    }

    [Fact]
    public void HardLinkSharesTheInodeAndCountsLinks()
    {
        using var t = new EngineFixture();
        ulong f = t.CreateFile(Root, "a");
        t.Write(f, 0, N("data"));
        ulong d = t.MakeDir(Root, "d");
        Assert.Equal(Errno.Ok, t.Fs.Link(f, d, N("b"), out var la));
        Assert.Equal(2u, la.Nlink);
        Assert.Equal(f, t.LookupIno(d, "b"));
        Assert.Equal(Errno.EPERM, t.Fs.Link(d, Root, N("dirlink"), out _));
        t.Fs.Unlink(Root, N("a"));
        t.Remount();
        Assert.Equal("data"u8.ToArray(), t.ReadAll(t.LookupIno(d, "b")));
        t.Fs.GetAttr(f, out var a);
        Assert.Equal(1u, a.Nlink);
    }

    [Fact]
    public void SymlinkStoresItsTargetBytes()
    {
        using var t = new EngineFixture();
        byte[] target = N("../some/where/" + new string('x', 3000));
        Assert.Equal(Errno.Ok, t.Fs.Symlink(Root, N("l"), target, Credentials.Root, out var a));
        Assert.Equal(FileTypes.Symlink, a.FileType);
        Assert.Equal(target.Length, a.Size);
        t.Remount();
        Assert.Equal(Errno.Ok, t.Fs.ReadLink(a.Ino, out var back));
        Assert.Equal(target, back);
        Assert.Equal(Errno.EINVAL, t.Fs.ReadLink(Root, out _));
    }

    [Fact]
    public void SpecialFilesKeepTheirTypeAndDevice()
    {
        using var t = new EngineFixture();
        Assert.Equal(Errno.Ok, t.Fs.Create(Root, N("fifo"), FileTypes.Fifo | 0x1A4, Credentials.Root, out var fifo));
        Assert.Equal(Errno.Ok, t.Fs.Create(Root, N("chr"), FileTypes.CharDevice | 0x1A4, Credentials.Root, out var chr, rdev: 0x0103));
        t.Remount();
        t.Fs.GetAttr(fifo.Ino, out var a);
        t.Fs.GetAttr(chr.Ino, out var b);
        Assert.Equal(FileTypes.Fifo, a.FileType);
        Assert.Equal(0x0103ul, b.Rdev);
    }

    [Fact]
    public void NewFilesTakeCallerIdentityAndSetgidDirectoryGroup()
    {
        using var t = new EngineFixture();
        var user = new Credentials(1000, 1000);
        Assert.Equal(Errno.Ok, t.Fs.MakeDirectory(Root, N("shared"), 0x1FF, Credentials.Root, out var d));
        Assert.Equal(Errno.Ok, t.Fs.SetAttr(d.Ino, new SetAttrRequest { Fields = SetAttrFields.Gid | SetAttrFields.Mode, Gid = 50, Mode = 0x400 | 0x1FF }, Credentials.Root, out _));
        Assert.Equal(Errno.Ok, t.Fs.Create(d.Ino, N("f"), RegularMode, user, out var f));
        Assert.Equal(Errno.Ok, t.Fs.MakeDirectory(d.Ino, N("sub"), DirMode, user, out var sub));
        Assert.Equal(1000u, f.Uid);
        Assert.Equal(50u, f.Gid);
        Assert.Equal(50u, sub.Gid);
        Assert.NotEqual(0u, sub.Mode & 0x400);
        Assert.Equal(Errno.Ok, t.Fs.Create(Root, N("g"), RegularMode, user, out var g));
        Assert.Equal(1000u, g.Gid);
    }

    [Fact]
    public void ReaddirListsEveryEntryOnceAcrossResumedCalls()
    {
        using var t = new EngineFixture();
        ulong d = t.MakeDir(Root, "d");
        for (int i = 0; i < 500; i++) t.CreateFile(d, $"f{i}");
        var seen = new List<string>();
        long cookie = 0;
        while (true)
        {
            int got = 0;
            Assert.Equal(Errno.Ok, t.Fs.ReadDirectory(d, cookie, item =>
            {
                if (got == 37) return false;
                seen.Add(System.Text.Encoding.UTF8.GetString(item.Name));
                cookie = item.NextCookie;
                got++;
                return true;
            }));
            if (got == 0) break;
        }
        Assert.Equal(502, seen.Count);
        Assert.Equal(502, seen.Distinct().Count());
        Assert.Equal(".", seen[0]);
        Assert.Equal("..", seen[1]);
    }

    [Fact]
    public void ReusedInodeNumberGetsANewGeneration()
    {
        using var t = new EngineFixture();
        Assert.Equal(Errno.Ok, t.Fs.Create(Root, N("a"), RegularMode, Credentials.Root, out var a));
        t.Fs.Unlink(Root, N("a"));
        Assert.Equal(Errno.Ok, t.Fs.Create(Root, N("b"), RegularMode, Credentials.Root, out var b));
        Assert.Equal(a.Ino, b.Ino);
        Assert.True(b.Generation > a.Generation);
    }

    [Fact]
    public void FullInodeTableGivesEnospcAndLosesNothing()
    {
        using var t = new EngineFixture(inodes: 64);
        int made = 0;
        Errno last = Errno.Ok;
        for (int i = 0; i < 100 && last.IsOk; i++)
        {
            last = t.Fs.Create(Root, N($"f{i}"), RegularMode, Credentials.Root, out _);
            if (last.IsOk) made++;
        }
        Assert.Equal(Errno.ENOSPC, last);
        Assert.Equal(63, made);
        t.Remount();
        Assert.Equal(63, t.List(Root).Count);
    }

    [Fact]
    public void DirectoryWithHundredThousandEntriesStaysFastToLookUp()
    {
        using var t = new EngineFixture(size: 256L << 20, inodes: 120_000);
        ulong d = t.MakeDir(Root, "big");
        for (int i = 0; i < 100_000; i++)
            Assert.Equal(Errno.Ok, t.Fs.Create(d, N($"entry-{i:D6}"), RegularMode, Credentials.Root, out _));
        t.Remount();
        for (int i = 0; i < 100_000; i += 997) Assert.Equal(Errno.Ok, t.Fs.Lookup(d, N($"entry-{i:D6}"), out _));
        Assert.Equal(Errno.ENOENT, t.Fs.Lookup(d, N("entry-x"), out _));
        Assert.Equal(100_000, t.List(d).Count);
    }
}

public class OrphanDirectoryTests
{
    [Fact]
    public void RemovedDirectoryStillReferencedAtCrashIsFreedAtNextMount()
    {
        using var t = new EngineFixture();
        ulong d = t.MakeDir(Root, "d");
        t.Fs.Retain(d);
        Assert.Equal(Errno.Ok, t.Fs.RemoveDirectory(Root, N("d")));
        Assert.Equal(Errno.Ok, t.Fs.GetAttr(d, out _)); // still referenced by the kernel
        using var copy = MemoryMedia.CopyOf(t.Media);
        using var crashed = FileSystem.Mount(copy);
        Assert.Equal(1, crashed.Report.OrphansFreed);
        Assert.Equal(Errno.ESTALE, crashed.GetAttr(d, out _));
    }
}
