using PmemFs.Check;
using PmemFs.CrashSim;
using PmemFs.Format;
using PmemFs.Media;
using static PmemFs.Engine.Tests.EngineFixture;

namespace PmemFs.Engine.Tests;

/// <summary>
/// The flag engine without a mount: immutable, append-only, DAX inheritance and dax= modes,
/// and the seven DAX_IMMUTABLE rules (docs/flags.md cites these tests by name).
/// </summary>
public sealed class FlagRulesTests : IDisposable
{
    private readonly EngineFixture _f = new();
    private FileSystem Fs => _f.Fs;

    private static readonly Credentials Owner = new(1000, 1000, 0, Capabilities.None);
    private static readonly Credentials OwnerWithImmutableCap = Owner with { Caps = Capabilities.LinuxImmutable };
    private static readonly Credentials Stranger = new(2000, 2000, 0, Capabilities.LinuxImmutable);
    private static readonly Credentials Root = Credentials.Root;

    public void Dispose() => _f.Dispose();

    private ulong FileWith(string name, int bytes, InodeFlags flags = InodeFlags.None)
    {
        ulong ino = _f.CreateFile(EngineFixture.Root, name);
        if (bytes > 0) _f.Write(ino, 0, Pattern(bytes));
        if (flags != InodeFlags.None) Assert.Equal(Errno.Ok, Fs.SetFlags(ino, flags, InodeFlags.None, Root, out _));
        return ino;
    }

    private static byte[] Pattern(int n)
    {
        var b = new byte[n];
        for (int i = 0; i < n; i++) b[i] = (byte)(i * 7 + 1);
        return b;
    }

    private InodeFlags FlagsOf(ulong ino)
    {
        Assert.Equal(Errno.Ok, Fs.GetFlags(ino, out var s));
        return s.Flags;
    }

    private Errno Truncate(ulong ino, long size, Credentials? who = null) =>
        Fs.SetAttr(ino, new SetAttrRequest { Fields = SetAttrFields.Size, Size = size }, who ?? Root, out _);

    private Errno SetAttr(ulong ino, SetAttrRequest req) => Fs.SetAttr(ino, req, Root, out _);

    private void OpenAndClose(ulong ino, bool write, bool append)
    {
        Assert.Equal(Errno.Ok, Fs.Open(ino, write, append));
        Fs.Closed(ino);
    }

    // ---- who may change flags ----

    [Fact]
    public void OwnerWithoutCapabilityMaySetOrdinaryFlagsButNotImmutableAppendOrDaxImmutable()
    {
        ulong ino = _f.CreateFile(EngineFixture.Root, "f");
        Assert.Equal(Errno.Ok, Fs.SetAttr(ino, new SetAttrRequest { Fields = SetAttrFields.Uid | SetAttrFields.Gid, Uid = 1000, Gid = 1000 }, Root, out _));
        Assert.Equal(Errno.Ok, Fs.SetFlags(ino, InodeFlags.NoAtime | InodeFlags.Dax | InodeFlags.Sync | InodeFlags.NoDump, 0, Owner, out _));
        Assert.Equal(Errno.EPERM, Fs.SetFlags(ino, InodeFlags.Immutable, 0, Owner, out _));
        Assert.Equal(Errno.EPERM, Fs.SetFlags(ino, InodeFlags.Append, 0, Owner, out _));
        Assert.Equal(Errno.Ok, Fs.SetFlags(ino, InodeFlags.Append, 0, OwnerWithImmutableCap, out _));
        // Any change at all to an append-only file needs the capability.
        Assert.Equal(Errno.EPERM, Fs.SetFlags(ino, 0, InodeFlags.NoDump, Owner, out _));
        Assert.Equal(InodeFlags.NoAtime | InodeFlags.Dax | InodeFlags.Sync | InodeFlags.NoDump | InodeFlags.Append, FlagsOf(ino));
    }

    [Fact]
    public void StrangerMayNotChangeFlagsEvenWithTheImmutableCapability()
    {
        ulong ino = _f.CreateFile(EngineFixture.Root, "f");
        Assert.Equal(Errno.EPERM, Fs.SetFlags(ino, InodeFlags.NoDump, 0, Stranger, out _));
        Assert.Equal(Errno.Ok, Fs.SetFlags(ino, InodeFlags.NoDump, 0, Stranger with { Caps = Capabilities.Fowner }, out _));
    }

    [Fact]
    public void BadArgumentsAreEinvalAndReadOnlyIsErofs()
    {
        ulong ino = _f.CreateFile(EngineFixture.Root, "f");
        Assert.Equal(Errno.EINVAL, Fs.SetFlags(ino, (InodeFlags)(1UL << 40), 0, Root, out _));
        Assert.Equal(Errno.EINVAL, Fs.SetFlags(ino, InodeFlags.Sync, InodeFlags.Sync, Root, out _));
        _f.Remount(new FileSystemOptions { ReadOnly = true });
        Assert.Equal(Errno.EROFS, Fs.SetFlags(ino, InodeFlags.Sync, 0, Root, out _));
    }

    [Fact]
    public void FlagsPersistAcrossRemountAndChangeCtime()
    {
        ulong ino = _f.CreateFile(EngineFixture.Root, "f");
        _f.Write(ino, 0, Pattern(4096));
        Fs.GetAttr(ino, out var before);
        Thread.Sleep(2);
        var all = InodeFlags.Immutable | InodeFlags.Append | InodeFlags.NoAtime | InodeFlags.Sync | InodeFlags.NoDump | InodeFlags.Dax | InodeFlags.DaxImmutable;
        Assert.Equal(Errno.Ok, Fs.SetFlags(ino, all, 0, Root, out _));
        Fs.GetAttr(ino, out var after);
        Assert.True(after.CtimeNs > before.CtimeNs);
        _f.Remount();
        Assert.Equal(all, FlagsOf(ino));
    }

    // ---- immutable ----

    [Fact]
    public void ImmutableRefusesEveryChangeButReadsAndFlagChanges()
    {
        ulong dir = _f.MakeDir(EngineFixture.Root, "d");
        ulong ino = _f.CreateFile(dir, "f");
        _f.Write(ino, 0, Pattern(5000));
        Assert.Equal(Errno.Ok, Fs.SetXattr(ino, N("user.k"), N("v"), XattrSetFlags.None));
        Assert.Equal(Errno.Ok, SetAttr(ino, new SetAttrRequest { Fields = SetAttrFields.Atime, AtimeNs = 1 }));
        Assert.Equal(Errno.Ok, Fs.SetFlags(ino, InodeFlags.Immutable, 0, Root, out _));
        // As on Linux, immutable does not stop access-time updates (noatime does).
        Assert.Equal(Errno.Ok, Fs.Read(ino, 0, new byte[10], out _));
        Fs.GetAttr(ino, out var afterRead);
        Assert.NotEqual(1, afterRead.AtimeNs);

        Assert.Equal(Errno.EPERM, Fs.Write(ino, 5000, Pattern(10), Root, out _));
        Assert.Equal(Errno.EPERM, Fs.Write(ino, 0, Pattern(10), Root, out _, WriteOrigin.MappedWriteback));
        Assert.Equal(Errno.EPERM, Truncate(ino, 0));
        Assert.Equal(Errno.EPERM, Fs.Fallocate(ino, FallocateMode.KeepSize, 0, 4096, Root));
        Assert.Equal(Errno.EPERM, SetAttr(ino, new SetAttrRequest { Fields = SetAttrFields.Mode, Mode = 0x180 }));
        Assert.Equal(Errno.EPERM, SetAttr(ino, new SetAttrRequest { Fields = SetAttrFields.Uid, Uid = 5 }));
        Assert.Equal(Errno.EPERM, SetAttr(ino, new SetAttrRequest { Fields = SetAttrFields.Mtime, MtimeNs = 1 }));
        Assert.Equal(Errno.EPERM, SetAttr(ino, new SetAttrRequest { Fields = SetAttrFields.Mtime | SetAttrFields.MtimeNow | SetAttrFields.Atime | SetAttrFields.AtimeNow }));
        Assert.Equal(Errno.EPERM, Fs.SetXattr(ino, N("user.k"), N("w"), XattrSetFlags.None));
        Assert.Equal(Errno.EPERM, Fs.RemoveXattr(ino, N("user.k")));
        Assert.Equal(Errno.EPERM, Fs.SetXattr(ino, N("system.posix_acl_access"), N("v"), XattrSetFlags.None)); // EPERM before EOPNOTSUPP, as Linux
        Assert.Equal(Errno.EPERM, Fs.Link(ino, dir, N("g"), out _));
        Assert.Equal(Errno.EPERM, Fs.Unlink(dir, N("f")));
        Assert.Equal(Errno.EPERM, Fs.Rename(dir, N("f"), dir, N("g")));
        ulong other = _f.CreateFile(dir, "other");
        Assert.Equal(Errno.EPERM, Fs.Rename(dir, N("other"), dir, N("f"))); // replacing it removes it
        Assert.Equal(Errno.EPERM, Fs.Open(ino, write: true, append: false));
        OpenAndClose(ino, write: false, append: false);
        Assert.Equal(Pattern(5000), _f.ReadAll(ino));

        Assert.Equal(Errno.Ok, Fs.SetFlags(ino, 0, InodeFlags.Immutable, Root, out _));
        Assert.Equal(Errno.Ok, Truncate(ino, 10));
        Assert.Equal(Errno.Ok, Fs.Unlink(dir, N("f")));
        Assert.NotEqual(0UL, other);
    }

    [Fact]
    public void ImmutableDirectoryRefusesNewAndRemovedEntries()
    {
        ulong dir = _f.MakeDir(EngineFixture.Root, "d");
        _f.CreateFile(dir, "in");
        ulong outside = _f.CreateFile(EngineFixture.Root, "out");
        Assert.Equal(Errno.Ok, Fs.SetFlags(dir, InodeFlags.Immutable, 0, Root, out _));
        Assert.Equal(Errno.EPERM, Fs.Create(dir, N("new"), RegularMode, Root, out _));
        Assert.Equal(Errno.EPERM, Fs.MakeDirectory(dir, N("sub"), DirMode, Root, out _));
        Assert.Equal(Errno.EPERM, Fs.Symlink(dir, N("l"), N("x"), Root, out _));
        Assert.Equal(Errno.EPERM, Fs.Link(outside, dir, N("h"), out _));
        Assert.Equal(Errno.EPERM, Fs.Unlink(dir, N("in")));
        Assert.Equal(Errno.EPERM, Fs.Rename(dir, N("in"), EngineFixture.Root, N("moved")));
        Assert.Equal(Errno.EPERM, Fs.Rename(EngineFixture.Root, N("out"), dir, N("moved")));
        Assert.Equal(Errno.EPERM, Fs.RemoveDirectory(EngineFixture.Root, N("d")));
        Assert.Equal(Errno.Ok, Fs.Lookup(dir, N("in"), out _));
    }

    // ---- append-only ----

    [Fact]
    public void AppendOnlyTakesWritesAtEofAndNothingElse()
    {
        ulong ino = FileWith("f", 100, InodeFlags.Append);
        Assert.Equal(Errno.Ok, Fs.Write(ino, 100, Pattern(50), Root, out _));
        Assert.Equal(Errno.EPERM, Fs.Write(ino, 0, Pattern(1), Root, out _));
        Assert.Equal(Errno.EPERM, Truncate(ino, 0));
        Assert.Equal(Errno.EPERM, Truncate(ino, 1000));
        Assert.Equal(Errno.Ok, Fs.Fallocate(ino, FallocateMode.Default, 0, 8192, Root));
        Assert.Equal(Errno.Ok, Fs.Fallocate(ino, FallocateMode.KeepSize, 0, 16384, Root));
        Assert.Equal(Errno.EPERM, Fs.Fallocate(ino, FallocateMode.PunchHole | FallocateMode.KeepSize, 0, 4096, Root));
        Assert.Equal(Errno.EPERM, Fs.Fallocate(ino, FallocateMode.ZeroRange, 0, 4096, Root));
        Assert.Equal(Errno.EPERM, SetAttr(ino, new SetAttrRequest { Fields = SetAttrFields.Mode, Mode = 0x180 }));
        Assert.Equal(Errno.EPERM, SetAttr(ino, new SetAttrRequest { Fields = SetAttrFields.Mtime, MtimeNs = 5 }));
        Assert.Equal(Errno.Ok, SetAttr(ino, new SetAttrRequest { Fields = SetAttrFields.Mtime | SetAttrFields.MtimeNow | SetAttrFields.Atime | SetAttrFields.AtimeNow }));
        Assert.Equal(Errno.EPERM, Fs.SetXattr(ino, N("user.k"), N("v"), XattrSetFlags.None));
        Assert.Equal(Errno.EPERM, Fs.Unlink(EngineFixture.Root, N("f")));
        Assert.Equal(Errno.EPERM, Fs.Link(ino, EngineFixture.Root, N("g"), out _));
        Assert.Equal(Errno.EPERM, Fs.Open(ino, write: true, append: false));
        OpenAndClose(ino, write: true, append: true);
    }

    [Fact]
    public void AppendOnlyDirectoryTakesNewEntriesButKeepsOldOnes()
    {
        ulong dir = _f.MakeDir(EngineFixture.Root, "d");
        _f.CreateFile(dir, "old");
        Assert.Equal(Errno.Ok, Fs.SetFlags(dir, InodeFlags.Append, 0, Root, out _));
        Assert.Equal(Errno.Ok, Fs.Create(dir, N("new"), RegularMode, Root, out _));
        Assert.Equal(Errno.EPERM, Fs.Unlink(dir, N("old")));
        Assert.Equal(Errno.EPERM, Fs.Rename(dir, N("old"), dir, N("renamed")));
        Assert.Equal(Errno.EPERM, Fs.Rename(dir, N("new"), dir, N("old"), RenameFlags.None));
    }

    // ---- noatime ----

    [Fact]
    public void NoAtimeFlagStopsAccessTimeUpdates()
    {
        ulong ino = FileWith("f", 10);
        Assert.Equal(Errno.Ok, SetAttr(ino, new SetAttrRequest { Fields = SetAttrFields.Atime, AtimeNs = 1 }));
        Assert.Equal(Errno.Ok, Fs.SetFlags(ino, InodeFlags.NoAtime, 0, Root, out _));
        Assert.Equal(Errno.Ok, Fs.Read(ino, 0, new byte[10], out _));
        Fs.GetAttr(ino, out var a);
        Assert.Equal(1, a.AtimeNs);
        Assert.Equal(Errno.Ok, Fs.SetFlags(ino, 0, InodeFlags.NoAtime, Root, out _));
        Assert.Equal(Errno.Ok, Fs.Read(ino, 0, new byte[10], out _));
        Fs.GetAttr(ino, out a);
        Assert.NotEqual(1, a.AtimeNs);
    }

    // ---- DAX ----

    [Fact]
    public void DaxIsInheritedByNewFilesAndDirectoriesButNotOtherTypes()
    {
        ulong dir = _f.MakeDir(EngineFixture.Root, "d");
        Assert.Equal(Errno.Ok, Fs.SetFlags(dir, InodeFlags.Dax, 0, Root, out _));
        ulong file = _f.CreateFile(dir, "f");
        ulong sub = _f.MakeDir(dir, "sub");
        ulong deeper = _f.CreateFile(sub, "g");
        Assert.Equal(Errno.Ok, Fs.Symlink(dir, N("l"), N("f"), Root, out var link));
        Assert.Equal(Errno.Ok, Fs.Create(dir, N("fifo"), 0x11A4, Root, out var fifo));
        Assert.Equal(InodeFlags.Dax, FlagsOf(file));
        Assert.Equal(InodeFlags.Dax, FlagsOf(sub));
        Assert.Equal(InodeFlags.Dax, FlagsOf(deeper));
        Assert.Equal(InodeFlags.None, FlagsOf(link.Ino));
        Assert.Equal(InodeFlags.None, FlagsOf(fifo.Ino));
        Assert.Equal(Errno.EINVAL, Fs.SetFlags(link.Ino, InodeFlags.Dax, 0, Root, out _));
        Assert.Equal(Errno.EINVAL, Fs.SetFlags(fifo.Ino, InodeFlags.Dax, 0, Root, out _));
        // Only the flag is inherited.
        Assert.Equal(Errno.Ok, Fs.SetFlags(dir, InodeFlags.NoDump, 0, Root, out _));
        Assert.Equal(InodeFlags.Dax, FlagsOf(_f.CreateFile(dir, "h")));
    }

    [Theory]
    [InlineData(DaxMode.Inode, false, true)]
    [InlineData(DaxMode.Always, true, true)]
    [InlineData(DaxMode.Never, false, false)]
    public void DaxModeDecidesWhatTheFlagMeans(DaxMode mode, bool plainFileIsDax, bool flaggedFileIsDax)
    {
        ulong plain = FileWith("plain", 10);
        ulong flagged = FileWith("flagged", 10, InodeFlags.Dax);
        ulong dir = _f.MakeDir(EngineFixture.Root, "d");
        _f.Remount(new FileSystemOptions { Dax = mode });
        Fs.GetFlags(plain, out var p);
        Fs.GetFlags(flagged, out var f);
        Fs.GetFlags(dir, out var d);
        Assert.Equal(plainFileIsDax, p.DaxNow);
        Assert.Equal(flaggedFileIsDax, f.DaxNow);
        Assert.Equal(InodeFlags.Dax, f.Flags); // the flag stays what it was
        Assert.True(p.CanBeDax);
        Assert.False(d.CanBeDax); // directories carry the flag for inheritance; they are never DAX
        Assert.False(d.DaxNow);
    }

    [Fact]
    public void ADaxChangeOnAnOpenFileTakesEffectAtItsLastClose()
    {
        ulong ino = FileWith("f", 10);
        Fs.Opened(ino);
        Fs.Opened(ino);
        Assert.Equal(Errno.Ok, Fs.SetFlags(ino, InodeFlags.Dax, 0, Root, out var s));
        Assert.Equal((InodeFlags.Dax, false, true), (s.Flags, s.DaxNow, s.DaxPending));
        Fs.Closed(ino);
        Fs.GetFlags(ino, out s);
        Assert.True(s.DaxPending);
        Fs.Closed(ino);
        Fs.GetFlags(ino, out s);
        Assert.Equal((true, false), (s.DaxNow, s.DaxPending));
        // Not open: at once.
        Assert.Equal(Errno.Ok, Fs.SetFlags(ino, 0, InodeFlags.Dax, Root, out s));
        Assert.Equal((false, false), (s.DaxNow, s.DaxPending));
    }

    [Fact]
    public void DaxFilesGetHugePageAlignedBlocks()
    {
        // One-block probes until the next free block is surely unaligned (the probe is neither the
        // last block before a 2 MiB boundary nor on one), so alignment cannot happen by chance.
        long probe;
        int n = 0;
        do probe = FirstPhysBlock(FileWith($"probe{n++}", 4096));
        while (probe % FormatConstants.HugePageBlocks is 0 or FormatConstants.HugePageBlocks - 1);
        ulong plain = FileWith("plain", 4 << 20);
        Assert.Equal(probe + 1, FirstPhysBlock(plain)); // without DAX: the next free block
        ulong ino = FileWith("f", 0, InodeFlags.Dax);
        _f.Write(ino, 0, new byte[4 << 20]);
        Assert.Equal(0, FirstPhysBlock(ino) % FormatConstants.HugePageBlocks);
    }

    private long FirstPhysBlock(ulong ino)
    {
        long phys = -1;
        Fs.ReadMapped(ino, 0, 4096, 0, (segments, _) => { unsafe { phys = (long)((byte*)segments[0].Address - Fs.Media.PointerAt(0)) / FormatConstants.BlockSize; } });
        return phys;
    }

    // ---- DAX_IMMUTABLE ----

    [Fact]
    public void Rule1_DaxImmutableNeedsDaxOrGetsItInTheSameCallAndGoesWithIt()
    {
        ulong ino = FileWith("f", 8192);
        Assert.Equal(Errno.EINVAL, Fs.SetFlags(ino, InodeFlags.DaxImmutable, 0, Root, out _));
        Assert.Equal(Errno.EINVAL, Fs.SetFlags(ino, InodeFlags.DaxImmutable, InodeFlags.Dax, Root, out _));
        Assert.Equal(Errno.Ok, Fs.SetFlags(ino, InodeFlags.DaxImmutable | InodeFlags.Dax, 0, Root, out _));
        Assert.Equal(InodeFlags.Dax | InodeFlags.DaxImmutable, FlagsOf(ino));
        Assert.Equal(Errno.Ok, Fs.SetFlags(ino, 0, InodeFlags.Dax, Root, out _));
        Assert.Equal(InodeFlags.None, FlagsOf(ino));
        ulong dir = _f.MakeDir(EngineFixture.Root, "d");
        Assert.Equal(Errno.EINVAL, Fs.SetFlags(dir, InodeFlags.DaxImmutable | InodeFlags.Dax, 0, Root, out _));
    }

    [Fact]
    public void Rule2_DaxImmutableNeedsAFullyWrittenFileAndTheCapability()
    {
        ulong sparse = _f.CreateFile(EngineFixture.Root, "sparse");
        _f.Write(sparse, 0, Pattern(4096));
        _f.Write(sparse, 3 * 4096, Pattern(4096)); // blocks 1-2 are a hole
        Assert.Equal(Errno.EINVAL, Fs.SetFlags(sparse, InodeFlags.DaxImmutable | InodeFlags.Dax, 0, Root, out _));
        Assert.Equal("hole at block 1", Fs.WhyNotFullyWritten(sparse));

        ulong grown = FileWith("grown", 4096);
        Assert.Equal(Errno.Ok, Truncate(grown, 3 * 4096)); // size past the last block: a hole
        Assert.Equal(Errno.EINVAL, Fs.SetFlags(grown, InodeFlags.DaxImmutable | InodeFlags.Dax, 0, Root, out _));

        ulong prealloc = FileWith("prealloc", 0);
        Assert.Equal(Errno.Ok, Fs.Fallocate(prealloc, FallocateMode.Default, 0, 8192, Root));
        Assert.Equal(Errno.EINVAL, Fs.SetFlags(prealloc, InodeFlags.DaxImmutable | InodeFlags.Dax, 0, Root, out _));

        ulong pastEof = FileWith("pastEof", 4096);
        Assert.Equal(Errno.Ok, Fs.Fallocate(pastEof, FallocateMode.KeepSize, 4096, 8192, Root));
        Assert.Equal(Errno.EINVAL, Fs.SetFlags(pastEof, InodeFlags.DaxImmutable | InodeFlags.Dax, 0, Root, out _));

        ulong full = FileWith("full", 10_000); // partial last block is fine
        Assert.Equal(Errno.Ok, Fs.SetAttr(full, new SetAttrRequest { Fields = SetAttrFields.Uid, Uid = 1000 }, Root, out _));
        Assert.Equal(Errno.EPERM, Fs.SetFlags(full, InodeFlags.DaxImmutable | InodeFlags.Dax, 0, Owner, out _));
        Assert.Equal(Errno.Ok, Fs.SetFlags(full, InodeFlags.DaxImmutable | InodeFlags.Dax, 0, OwnerWithImmutableCap, out _));
        Assert.Equal(Errno.Ok, Fs.SetFlags(FileWith("empty", 0), InodeFlags.DaxImmutable | InodeFlags.Dax, 0, Root, out _));
    }

    [Fact]
    public void Rule3_TheBlockMapNeverChanges()
    {
        ulong ino = FileWith("f", 3 * 4096, InodeFlags.Dax | InodeFlags.DaxImmutable);
        long phys = FirstPhysBlock(ino);
        Assert.Equal(Errno.EPERM, Truncate(ino, 0));
        Assert.Equal(Errno.EPERM, Truncate(ino, 5 * 4096));
        foreach (var mode in new[] { FallocateMode.Default, FallocateMode.KeepSize, FallocateMode.PunchHole | FallocateMode.KeepSize, FallocateMode.ZeroRange, FallocateMode.ZeroRange | FallocateMode.KeepSize })
            Assert.Equal(Errno.EPERM, Fs.Fallocate(ino, mode, 0, 4096, Root));
        Assert.Equal(Errno.EPERM, Fs.Write(ino, 3 * 4096, Pattern(10), Root, out _, WriteOrigin.MappedWriteback));
        Assert.Equal(Errno.EPERM, Fs.Write(ino, 3 * 4096 - 5, Pattern(10), Root, out _, WriteOrigin.MappedWriteback));
        Assert.Equal(phys, FirstPhysBlock(ino));
        Assert.Equal(1, Fs.ExtentCount(ino));
    }

    [Fact]
    public void Rule4_MetadataIsFrozen()
    {
        ulong dir = _f.MakeDir(EngineFixture.Root, "d");
        ulong ino = _f.CreateFile(dir, "f");
        _f.Write(ino, 0, Pattern(4096));
        Assert.Equal(Errno.Ok, Fs.SetFlags(ino, InodeFlags.Dax | InodeFlags.DaxImmutable, 0, Root, out _));
        Fs.GetAttr(ino, out var before);
        Assert.Equal(Errno.EPERM, SetAttr(ino, new SetAttrRequest { Fields = SetAttrFields.Mode, Mode = 0x1FF }));
        Assert.Equal(Errno.EPERM, SetAttr(ino, new SetAttrRequest { Fields = SetAttrFields.Uid | SetAttrFields.Gid, Uid = 1, Gid = 1 }));
        Assert.Equal(Errno.EPERM, SetAttr(ino, new SetAttrRequest { Fields = SetAttrFields.Atime | SetAttrFields.Mtime, AtimeNs = 1, MtimeNs = 1 }));
        Assert.Equal(Errno.EPERM, SetAttr(ino, new SetAttrRequest { Fields = SetAttrFields.Mtime | SetAttrFields.MtimeNow }));
        Assert.Equal(Errno.EPERM, Fs.SetXattr(ino, N("user.k"), N("v"), XattrSetFlags.None));
        Assert.Equal(Errno.EPERM, Fs.Link(ino, dir, N("g"), out _));
        Assert.Equal(Errno.EPERM, Fs.Unlink(dir, N("f")));
        Assert.Equal(Errno.EPERM, Fs.Rename(dir, N("f"), dir, N("g")));
        _f.CreateFile(dir, "other");
        Assert.Equal(Errno.EPERM, Fs.Rename(dir, N("other"), dir, N("f")));
        Assert.Equal(Errno.EPERM, Fs.Rename(dir, N("other"), dir, N("f"), RenameFlags.Exchange));
        // Reads and mapped writeback leave every timestamp alone.
        Thread.Sleep(2);
        Assert.Equal(Errno.Ok, Fs.Read(ino, 0, new byte[100], out _));
        Assert.Equal(Errno.Ok, Fs.Write(ino, 0, Pattern(100), Root, out _, WriteOrigin.MappedWriteback));
        Fs.GetAttr(ino, out var after);
        Assert.Equal((before.AtimeNs, before.MtimeNs, before.CtimeNs, before.Mode, before.Nlink), (after.AtimeNs, after.MtimeNs, after.CtimeNs, after.Mode, after.Nlink));
        // Flag changes stay possible: that is how the flag goes.
        Assert.Equal(Errno.Ok, Fs.SetFlags(ino, InodeFlags.NoDump, 0, Root, out _));
    }

    /// <summary>
    /// Rule 5 under power loss, on the persistence model (the in-memory media's flush and drain
    /// do nothing, so a missing one would pass there): the image holding only what was durable
    /// when each mapped writeback returned (Write and WriteWhatFits) has its bytes, in the same
    /// blocks, and fsck is clean; write(2) is refused.
    /// </summary>
    [Fact]
    public void Rule5_OnlyMappedWritebackModifiesDataInPlaceAndDurably()
    {
        using var recording = new RecordingMedia(new MemoryMedia(16L << 20));
        Mkfs.Format(recording, new MkfsOptions());
        ulong ino;
        long phys;
        int afterWrite, afterFits;
        var update = Enumerable.Repeat((byte)0x5A, 5000).ToArray();
        var second = Enumerable.Repeat((byte)0xA5, 700).ToArray();
        using (var fs = FileSystem.Mount(recording))
        {
            Assert.Equal(Errno.Ok, fs.Create(EngineFixture.Root, N("f"), EngineFixture.RegularMode, Root, out var a));
            ino = a.Ino;
            Assert.Equal(Errno.Ok, fs.Write(ino, 0, Pattern(8192), Root, out _));
            Assert.Equal(Errno.Ok, fs.SetFlags(ino, InodeFlags.Dax | InodeFlags.DaxImmutable, InodeFlags.None, Root, out _));
            phys = PhysBlock(fs, ino);
            Assert.Equal(Errno.EPERM, fs.Write(ino, 0, Pattern(10), Root, out _));
            Assert.Equal(Errno.Ok, fs.Open(ino, write: true, append: false));
            fs.Closed(ino);
            Assert.Equal(Errno.Ok, fs.Write(ino, 100, update, Root, out int n, WriteOrigin.MappedWriteback));
            Assert.Equal(5000, n);
            afterWrite = recording.Count;
            Assert.Equal(Errno.Ok, fs.WriteWhatFits(ino, 7000, second, Root, out n, WriteOrigin.MappedWriteback));
            Assert.Equal(700, n);
            afterFits = recording.Count;
        }
        var expected1 = Pattern(8192);
        update.CopyTo(expected1, 100);
        var expected2 = (byte[])expected1.Clone();
        second.CopyTo(expected2, 7000);
        var rec = Recording.From(recording);
        foreach (var (at, want) in new[] { (afterWrite, expected1), (afterFits, expected2) })
        {
            var sim = new PmemSimulator(rec);
            sim.AdvanceTo(at);
            using var image = MemoryMedia.FromBytes(sim.Durable); // only what was durable: every line in doubt lost
            var report = Fsck.Check(image, new FsckOptions());
            Assert.True(report.IsClean, string.Join("\n", report.Problems));
            using var fs = FileSystem.Mount(image);
            var got = new byte[8192];
            Assert.Equal(Errno.Ok, fs.Read(ino, 0, got, out int read));
            Assert.Equal(8192, read);
            Assert.Equal(want, got);
            Assert.Equal(phys, PhysBlock(fs, ino));
        }
    }

    private static long PhysBlock(FileSystem fs, ulong ino)
    {
        long phys = -1;
        fs.ReadMapped(ino, 0, 4096, 0, (segments, _) => { unsafe { phys = (long)((byte*)segments[0].Address - fs.Media.PointerAt(0)) / FormatConstants.BlockSize; } });
        return phys;
    }

    private sealed class FakeMappings(params ulong[] mapped) : IMappingProbe
    {
        public int Asked;
        public bool IsMapped(ulong ino)
        {
            Asked++;
            return mapped.Contains(ino);
        }
    }

    [Fact]
    public void Rule6_ClearingNeedsTheCapabilityAndNoMapping()
    {
        ulong ino = FileWith("f", 4096, InodeFlags.Dax | InodeFlags.DaxImmutable);
        var probe = new FakeMappings(ino);
        Fs.Mappings = probe;
        Assert.Equal(Errno.EBUSY, Fs.SetFlags(ino, 0, InodeFlags.DaxImmutable, Root, out _));
        Assert.Equal(Errno.EBUSY, Fs.SetFlags(ino, 0, InodeFlags.Dax, Root, out _)); // clearing DAX would clear it
        Assert.Equal(Errno.Ok, Fs.SetFlags(ino, InodeFlags.NoDump, 0, Root, out _)); // other changes do not care
        Fs.Mappings = new FakeMappings();
        Assert.Equal(Errno.EPERM, Fs.SetFlags(ino, 0, InodeFlags.DaxImmutable, Root with { Caps = Capabilities.None }, out _));
        Assert.Equal(Errno.Ok, Fs.SetFlags(ino, 0, InodeFlags.DaxImmutable, Root, out _));
        Assert.Equal(InodeFlags.Dax | InodeFlags.NoDump, FlagsOf(ino));
        Assert.Equal(Errno.Ok, Truncate(ino, 0)); // and the file is ordinary again
        Assert.True(probe.Asked >= 2);
    }

    [Fact]
    public void Rule7_PhysicalAddressesStayWhileSetEvenAcrossRemount()
    {
        ulong ino = FileWith("f", 64 * 1024, InodeFlags.Dax | InodeFlags.DaxImmutable);
        long phys = FirstPhysBlock(ino);
        for (int i = 0; i < 20; i++) FileWith($"churn{i}", 20_000); // other files allocate around it
        Assert.Equal(Errno.Ok, Fs.Unlink(EngineFixture.Root, N("churn3")));
        _f.Remount();
        Assert.Equal(phys, FirstPhysBlock(ino));
        Assert.Equal(1, Fs.ExtentCount(ino));
    }
}

public sealed class ProjectIdTests : IDisposable
{
    private readonly EngineFixture _f = new();

    public void Dispose() => _f.Dispose();

    [Fact]
    public void ProjectIdIsStoredInheritedAndFrozenByImmutable()
    {
        ulong dir = _f.MakeDir(EngineFixture.Root, "d");
        Assert.Equal(Errno.Ok, _f.Fs.SetFlags(dir, 0, 0, Credentials.Root, out _, projectId: 42));
        ulong file = _f.CreateFile(dir, "f");
        _f.Fs.GetAttr(file, out var a);
        Assert.Equal(42u, a.ProjectId);
        Assert.Equal(Errno.Ok, _f.Fs.SetFlags(file, InodeFlags.Immutable, 0, Credentials.Root, out _));
        Assert.Equal(Errno.EPERM, _f.Fs.SetFlags(file, 0, 0, Credentials.Root, out _, projectId: 7));
        _f.Remount();
        _f.Fs.GetAttr(dir, out a);
        Assert.Equal(42u, a.ProjectId);
    }
}

public sealed class AppendOnlyChmodTests : IDisposable
{
    private readonly EngineFixture _f = new();

    public void Dispose() => _f.Dispose();

    /// <summary>Found by the model test against tmpfs: a chmod to the unchanged mode slipped through as "only drops suid/sgid".</summary>
    [Fact]
    public void ChmodToTheSameModeIsRefusedOnAnAppendOnlyFileButDroppingSuidIsNot()
    {
        ulong ino = _f.CreateFile(EngineFixture.Root, "f", 0x8000 | 0x9A4); // -rwsr--r--
        Assert.Equal(Errno.Ok, _f.Fs.SetFlags(ino, InodeFlags.Append, 0, Credentials.Root, out _));
        Assert.Equal(Errno.EPERM, _f.Fs.SetAttr(ino, new SetAttrRequest { Fields = SetAttrFields.Mode, Mode = 0x9A4 }, Credentials.Root, out _));
        Assert.Equal(Errno.Ok, _f.Fs.SetAttr(ino, new SetAttrRequest { Fields = SetAttrFields.Mode, Mode = 0x1A4 }, Credentials.Root, out _));
        Assert.Equal(Errno.EPERM, _f.Fs.SetAttr(ino, new SetAttrRequest { Fields = SetAttrFields.Mode, Mode = 0x1A4 }, Credentials.Root, out _));
    }
}
