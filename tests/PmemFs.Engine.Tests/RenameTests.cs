using static PmemFs.Engine.Tests.EngineFixture;

namespace PmemFs.Engine.Tests;

public class RenameTests
{
    [Fact]
    public void RenameWithinDirectoryMovesTheName()
    {
        using var t = new EngineFixture();
        ulong f = t.CreateFile(Root, "a");
        Assert.Equal(Errno.Ok, t.Fs.Rename(Root, N("a"), Root, N("b")));
        Assert.Equal(Errno.ENOENT, t.Fs.Lookup(Root, N("a"), out _));
        Assert.Equal(f, t.LookupIno(Root, "b"));
        t.Remount();
        Assert.Equal(["b"], t.List(Root));
    }

    [Fact]
    public void RenameOverExistingFileReplacesAndFreesIt()
    {
        using var t = new EngineFixture();
        ulong a = t.CreateFile(Root, "a");
        ulong b = t.CreateFile(Root, "b");
        t.Write(b, 0, Pattern(10_000, 3));
        long free = t.Fs.StatFs().FreeBlocks;
        Assert.Equal(Errno.Ok, t.Fs.Rename(Root, N("a"), Root, N("b")));
        Assert.Equal(a, t.LookupIno(Root, "b"));
        Assert.Equal(Errno.ESTALE, t.Fs.GetAttr(b, out _));
        Assert.Equal(free + 3, t.Fs.StatFs().FreeBlocks);
    }

    [Fact]
    public void RenameNoReplaceRefusesAnExistingTarget()
    {
        using var t = new EngineFixture();
        t.CreateFile(Root, "a");
        t.CreateFile(Root, "b");
        Assert.Equal(Errno.EEXIST, t.Fs.Rename(Root, N("a"), Root, N("b"), RenameFlags.NoReplace));
        Assert.Equal(Errno.Ok, t.Fs.Rename(Root, N("a"), Root, N("c"), RenameFlags.NoReplace));
    }

    [Fact]
    public void RenameExchangeSwapsFileAndDirectoryAcrossParents()
    {
        using var t = new EngineFixture();
        ulong d1 = t.MakeDir(Root, "d1");
        ulong d2 = t.MakeDir(Root, "d2");
        ulong f = t.CreateFile(d1, "x");
        ulong sub = t.MakeDir(d2, "y");
        Assert.Equal(Errno.Ok, t.Fs.Rename(d1, N("x"), d2, N("y"), RenameFlags.Exchange));
        Assert.Equal(sub, t.LookupIno(d1, "x"));
        Assert.Equal(f, t.LookupIno(d2, "y"));
        t.Fs.GetAttr(d1, out var a1);
        t.Fs.GetAttr(d2, out var a2);
        Assert.Equal(3u, a1.Nlink);
        Assert.Equal(2u, a2.Nlink);
        Assert.Equal(Errno.Ok, t.Fs.Lookup(sub, N(".."), out var up));
        Assert.Equal(d1, up.Ino);
        t.Remount();
        Assert.Equal(sub, t.LookupIno(d1, "x"));
        Assert.Equal(Errno.Ok, t.Fs.Lookup(sub, N(".."), out up));
        Assert.Equal(d1, up.Ino);
    }

    [Fact]
    public void RenameExchangeNeedsBothNames()
    {
        using var t = new EngineFixture();
        t.CreateFile(Root, "a");
        Assert.Equal(Errno.ENOENT, t.Fs.Rename(Root, N("a"), Root, N("nope"), RenameFlags.Exchange));
        Assert.Equal(Errno.EINVAL, t.Fs.Rename(Root, N("a"), Root, N("b"), RenameFlags.Exchange | RenameFlags.NoReplace));
    }

    [Fact]
    public void MovingADirectoryIntoItselfFailsWithEinval()
    {
        using var t = new EngineFixture();
        ulong a = t.MakeDir(Root, "a");
        ulong b = t.MakeDir(a, "b");
        Assert.Equal(Errno.EINVAL, t.Fs.Rename(Root, N("a"), b, N("a")));
        Assert.Equal(Errno.EINVAL, t.Fs.Rename(Root, N("a"), a, N("self")));
    }

    [Fact]
    public void RenameDirectoryOverNonEmptyDirectoryFails()
    {
        using var t = new EngineFixture();
        t.MakeDir(Root, "a");
        ulong b = t.MakeDir(Root, "b");
        t.CreateFile(b, "f");
        Assert.Equal(Errno.ENOTEMPTY, t.Fs.Rename(Root, N("a"), Root, N("b")));
        t.CreateFile(Root, "file");
        Assert.Equal(Errno.EISDIR, t.Fs.Rename(Root, N("file"), Root, N("a")));
        Assert.Equal(Errno.ENOTDIR, t.Fs.Rename(Root, N("a"), Root, N("file")));
    }

    [Fact]
    public void RenameDirectoryOverEmptyDirectoryAcrossParentsFixesLinkCounts()
    {
        using var t = new EngineFixture();
        ulong p1 = t.MakeDir(Root, "p1");
        ulong p2 = t.MakeDir(Root, "p2");
        ulong a = t.MakeDir(p1, "a");
        t.MakeDir(p2, "b");
        Assert.Equal(Errno.Ok, t.Fs.Rename(p1, N("a"), p2, N("b")));
        t.Fs.GetAttr(p1, out var a1);
        t.Fs.GetAttr(p2, out var a2);
        Assert.Equal(2u, a1.Nlink);
        Assert.Equal(3u, a2.Nlink);
        Assert.Equal(a, t.LookupIno(p2, "b"));
        t.Remount();
        t.Fs.GetAttr(p2, out a2);
        Assert.Equal(3u, a2.Nlink);
    }

    [Fact]
    public void RenameOfHardLinkOntoItsTwinDoesNothing()
    {
        using var t = new EngineFixture();
        ulong f = t.CreateFile(Root, "a");
        t.Fs.Link(f, Root, N("b"), out _);
        Assert.Equal(Errno.Ok, t.Fs.Rename(Root, N("a"), Root, N("b")));
        Assert.Equal(2, t.List(Root).Count);
    }
}
