using PmemFs.Engine.Mapping;
using PmemFs.Format;
using static PmemFs.Engine.Tests.EngineFixture;

namespace PmemFs.Engine.Tests;

/// <summary>
/// Finding inodes by number for file handles (FileSystem.Handles.cs): what the kernel's FUSE
/// export support asks with lookups of "." and ".." in a handle's node id.
/// </summary>
public class HandleTests
{
    private static readonly byte[] Dot = N("."), DotDot = N("..");

    [Fact]
    public void LookupOfDotFindsALiveFileOrDirectoryByNumberAlsoAfterRemount()
    {
        using var t = new EngineFixture();
        ulong d = t.MakeDir(Root, "d");
        ulong f = t.CreateFile(d, "f");
        t.Write(f, 0, N("data"));
        Assert.Equal(Errno.Ok, t.Fs.GetAttr(f, out var before));
        t.Remount();
        foreach (ulong ino in new[] { f, d, Root })
        {
            Assert.Equal(Errno.Ok, t.Fs.Lookup(ino, Dot, out var a));
            Assert.Equal(ino, a.Ino);
            Assert.Equal(Errno.Ok, t.Fs.LookupInode(ino, a.Generation, out _));
        }
        Assert.Equal(Errno.Ok, t.Fs.LookupInode(f, out var after));
        Assert.Equal(before.Generation, after.Generation);
        Assert.Equal(4, after.Size);
    }

    [Fact]
    public void AFreeSlotOrANumberOutsideTheTableIsStale()
    {
        using var t = new EngineFixture(inodes: 64);
        foreach (ulong ino in new ulong[] { 0, 10, 64, 65, 1UL << 40, ulong.MaxValue })
        {
            Assert.Equal(Errno.ESTALE, t.Fs.LookupInode(ino, out _));
            Assert.Equal(Errno.ESTALE, t.Fs.Lookup(ino, Dot, out _));
            Assert.Equal(Errno.ESTALE, t.Fs.Lookup(ino, DotDot, out _));
        }
    }

    [Fact]
    public void AFreedThenReusedSlotHasANewGenerationAndTheOldHandleIsStale()
    {
        using var t = new EngineFixture();
        ulong f = t.CreateFile(Root, "f");
        t.Write(f, 0, N("old file"));
        Assert.Equal(Errno.Ok, t.Fs.LookupInode(f, out var old));
        Assert.Equal(Errno.Ok, t.Fs.Unlink(Root, N("f"))); // nobody holds it: freed at once
        Assert.Equal(Errno.ESTALE, t.Fs.LookupInode(f, out _));
        Assert.Equal(Errno.ESTALE, t.Fs.LookupInode(f, old.Generation, out _));

        ulong g = t.CreateFile(Root, "g");
        Assert.Equal(f, g); // the lowest free slot: the same number again
        foreach (bool remount in new[] { false, true })
        {
            if (remount) t.Remount();
            Assert.Equal(Errno.Ok, t.Fs.LookupInode(g, out var reused));
            Assert.NotEqual(old.Generation, reused.Generation);
            Assert.Equal(Errno.ESTALE, t.Fs.LookupInode(g, old.Generation, out _));
            Assert.Equal(Errno.Ok, t.Fs.LookupInode(g, reused.Generation, out _));
        }
    }

    [Fact]
    public void AnUnlinkedFileIsReachableWhileOpenAndStaleOnceClosed()
    {
        using var t = new EngineFixture();
        ulong f = t.CreateFile(Root, "f");
        t.Write(f, 0, N("still here"));
        t.Fs.Retain(f); // the kernel knows it
        Assert.Equal(Errno.Ok, t.Fs.Open(f, write: false, append: false));
        Assert.Equal(Errno.Ok, t.Fs.Unlink(Root, N("f")));

        Assert.Equal(Errno.Ok, t.Fs.Lookup(f, Dot, out var open));
        Assert.Equal(0u, open.Nlink);
        Assert.Equal(10, open.Size);

        t.Fs.Closed(f); // its data goes with the last close; the kernel's forget comes later
        Assert.Equal(Errno.ESTALE, t.Fs.Lookup(f, Dot, out _));
        t.Fs.Forget(f);
        Assert.Equal(Errno.ESTALE, t.Fs.Lookup(f, Dot, out _));
    }

    [Fact]
    public void DotDotOfADirectoryIsItsParentAndFollowsRenames()
    {
        using var t = new EngineFixture();
        ulong a = t.MakeDir(Root, "a");
        ulong b = t.MakeDir(Root, "b");
        ulong c = t.MakeDir(a, "c");
        ulong f = t.CreateFile(c, "f");

        Assert.Equal(Errno.Ok, t.Fs.Lookup(c, DotDot, out var p));
        Assert.Equal(a, p.Ino);
        Assert.Equal(Errno.Ok, t.Fs.Lookup(Root, DotDot, out var rootParent));
        Assert.Equal(Root, rootParent.Ino);
        Assert.Equal(Errno.ENOTDIR, t.Fs.LookupParent(f, out _));

        Assert.Equal(Errno.Ok, t.Fs.Rename(a, N("c"), b, N("c")));
        t.Remount();
        Assert.Equal(Errno.Ok, t.Fs.LookupParent(c, out p));
        Assert.Equal(b, p.Ino);

        t.Fs.Retain(c); // the kernel still holds the removed directory
        Assert.Equal(Errno.Ok, t.Fs.Unlink(c, N("f")));
        Assert.Equal(Errno.Ok, t.Fs.RemoveDirectory(b, N("c")));
        Assert.Equal(Errno.ESTALE, t.Fs.Lookup(c, Dot, out _));
        Assert.NotEqual(Errno.Ok, t.Fs.LookupParent(c, out _));
    }

    /// <summary>
    /// Node ids arrive from the kernel, which may hold them from before a remount: every
    /// operation taking one answers ESTALE for a number that names no inode, and never throws.
    /// </summary>
    [Fact]
    public void EveryOperationOnANodeIdThatNamesNoInodeAnswersEstale()
    {
        using var t = new EngineFixture(inodes: 64);
        ulong live = t.CreateFile(Root, "live");
        ulong dir = t.MakeDir(Root, "dir");
        ulong freed = t.CreateFile(Root, "freed");
        Assert.Equal(Errno.Ok, t.Fs.Unlink(Root, N("freed")));
        var who = Credentials.Root;
        var setattr = new SetAttrRequest { Fields = SetAttrFields.Mode, Mode = 0x1A4 };
        var extents = new MappedExtent[4];

        foreach (ulong ino in new ulong[] { 0, freed, 40, 64, 65, ulong.MaxValue })
        {
            var answers = new Dictionary<string, Errno>
            {
                ["lookup"] = t.Fs.Lookup(ino, N("x"), out _),
                ["lookup ."] = t.Fs.Lookup(ino, Dot, out _),
                ["lookup .."] = t.Fs.Lookup(ino, DotDot, out _),
                ["getattr"] = t.Fs.GetAttr(ino, out _),
                ["setattr"] = t.Fs.SetAttr(ino, setattr, who, out _),
                ["create"] = t.Fs.Create(ino, N("x"), RegularMode, who, out _),
                ["mkdir"] = t.Fs.MakeDirectory(ino, N("x"), DirMode, who, out _),
                ["symlink"] = t.Fs.Symlink(ino, N("x"), N("target"), who, out _),
                ["link from"] = t.Fs.Link(ino, Root, N("x"), out _),
                ["link into"] = t.Fs.Link(live, ino, N("x"), out _),
                ["unlink"] = t.Fs.Unlink(ino, N("live")),
                ["rmdir"] = t.Fs.RemoveDirectory(ino, N("dir")),
                ["rename from"] = t.Fs.Rename(ino, N("live"), Root, N("y")),
                ["rename into"] = t.Fs.Rename(Root, N("live"), ino, N("y")),
                ["readlink"] = t.Fs.ReadLink(ino, out _),
                ["readdir"] = t.Fs.ReadDirectory(ino, 0, _ => true),
                ["open"] = t.Fs.Open(ino, write: true, append: false),
                ["read"] = t.Fs.Read(ino, 0, new byte[16], out _),
                ["write"] = t.Fs.Write(ino, 0, N("x"), who, out _),
                ["fallocate"] = t.Fs.Fallocate(ino, FallocateMode.Default, 0, 4096, who),
                ["lseek"] = t.Fs.Seek(ino, 0, SeekWhence.Data, out _),
                ["getxattr"] = t.Fs.GetXattr(ino, N("user.x"), out _),
                ["listxattr"] = t.Fs.ListXattr(ino, out _),
                ["setxattr"] = t.Fs.SetXattr(ino, N("user.x"), N("v"), XattrSetFlags.None),
                ["removexattr"] = t.Fs.RemoveXattr(ino, N("user.x")),
                ["getflags"] = t.Fs.GetFlags(ino, out _),
                ["setflags"] = t.Fs.SetFlags(ino, InodeFlags.NoDump, InodeFlags.None, who, out _),
                ["extent map"] = t.Fs.GetExtentMap(ino, 0, 4096, extents, out _, out _),
                ["prepare write"] = t.Fs.PrepareWrite(ino, 1, 0, 4096, PrepareWriteFlags.None, who),
                ["clone from"] = t.Fs.CloneRange(ino, 0, live, 0, 4096, who, 0, out _),
                ["clone onto"] = t.Fs.CloneRange(live, 0, ino, 0, 4096, who, 0, out _),
            };
            var wrong = answers.Where(kv => kv.Value != Errno.ESTALE).Select(kv => $"{kv.Key}: {kv.Value}").ToList();
            Assert.True(wrong.Count == 0, $"node id {ino}: not ESTALE: {string.Join(", ", wrong)}");

            // Reference counting on an unknown node id changes nothing and never throws.
            t.Fs.Retain(ino);
            t.Fs.Forget(ino, 2);
            t.Fs.Opened(ino);
            t.Fs.Closed(ino, 0);
        }
        Assert.Equal(Errno.Ok, t.Fs.GetAttr(live, out _));
        Assert.Equal(Errno.Ok, t.Fs.GetAttr(dir, out _));
    }
}
