using PmemFs.Check;
using PmemFs.Engine.Health;
using PmemFs.Engine.Leases;
using PmemFs.Engine.Mapping;
using PmemFs.Format;
using PmemFs.Media;
using static PmemFs.Engine.Tests.EngineFixture;

namespace PmemFs.Engine.Tests;

/// <summary>
/// Damage stays where it is (issue 13, item 6): one damaged record of each kind costs only what
/// it holds. The image mounts, the file the record belongs to answers EUCLEAN, every other file
/// reads back exactly and stays writable, a quarantined slot is never allocated, fsck reports
/// the damage, and fsck --repair gives an image that mounts healthy.
/// </summary>
public class DamageConfinementTests
{
    private const int Bs = FormatConstants.BlockSize;

    private sealed class Image : IDisposable
    {
        public readonly EngineFixture T = new(size: 32L << 20, inodes: 256);
        public readonly Dictionary<string, (ulong Ino, byte[] Data)> Files = [];

        public Image()
        {
            for (int i = 0; i < 6; i++)
            {
                string name = $"f{i}";
                ulong ino = T.CreateFile(Root, name);
                var data = Pattern(3 * Bs + 100 * i, i + 1);
                T.Write(ino, 0, data);
                Files[name] = (ino, data);
            }
            Assert.Equal(Errno.Ok, T.Fs.SetXattr(Files["f5"].Ino, N("user.k"), Pattern(6000, 9), XattrSetFlags.None));
            T.Fs.Dispose();
        }

        public Geometry G => T.Fs.Geometry;

        public void Corrupt(long offset) => T.Media.RawBytes(offset + 8, 4).Fill(0xA5);

        public FileSystem Mount() => FileSystem.Mount(T.Media);

        public void Dispose() => T.Media.Dispose();
    }

    private static long SlotOffsetOf(FileSystem fs, Func<Geometry, long, long> offset, long slot) => offset(fs.Geometry, slot);

    /// <summary>Every file but <paramref name="sick"/> reads back exactly and takes a write; the sick one answers EUCLEAN.</summary>
    private static void OthersWork(Image img, FileSystem fs, string? sick)
    {
        foreach (var (name, (ino, data)) in img.Files)
        {
            var buf = new byte[data.Length];
            var e = fs.Read(ino, 0, buf, out int n);
            if (name == sick)
            {
                Assert.Equal(Errno.EUCLEAN, e);
                Assert.Equal(Errno.EUCLEAN, fs.Write(ino, 0, new byte[1], Credentials.Root, out _));
                Assert.Equal(Errno.EUCLEAN, fs.Lookup(Root, N(name), out _));
                continue;
            }
            Assert.Equal(Errno.Ok, e);
            Assert.Equal(data, buf[..n]);
            Assert.Equal(Errno.Ok, fs.Write(ino, data.Length, new byte[10], Credentials.Root, out _));
        }
        Assert.Equal(Errno.Ok, fs.Create(Root, N("new"), RegularMode, Credentials.Root, out var made));
        Assert.Equal(Errno.Ok, fs.Write(made.Ino, 0, new byte[2 * Bs], Credentials.Root, out _));
    }

    private static void RepairBringsItBack(Image img)
    {
        var check = Fsck.Check(img.T.Media, new FsckOptions());
        Assert.False(check.IsClean); // the damage is reported
        var repair = FsckRepair.Repair(img.T.Media, new FsckOptions());
        Assert.True(repair.After.IsClean, string.Join("; ", repair.After.Problems));
        using var fs = img.Mount();
        Assert.Empty(fs.Health.SickInodes);
        Assert.Empty(fs.Health.Quarantined);
        Assert.Equal(HealthState.Healthy, fs.Health.State);
    }

    [Fact]
    public void ADamagedUnusedSlotOfEachTableIsQuarantinedAndNeverAllocated()
    {
        using var img = new Image();
        var g = img.G;
        long freeInode = g.InodeCount - 1, freeDirent = g.DirentCount - 1, freeExtent = g.ExtentCount - 1, freeRmap = g.RmapCount - 1;
        img.Corrupt(g.InodeOffset(freeInode));
        img.Corrupt(g.DirentOffset(freeDirent));
        img.Corrupt(g.ExtentOffset(freeExtent));
        img.Corrupt(g.RmapOffset(freeRmap));
        using (var fs = img.Mount())
        {
            Assert.Equal(4, fs.Health.Quarantined.Count);
            Assert.Empty(fs.Health.SickInodes);
            Assert.Equal(HealthState.Healthy, fs.Health.State);
            OthersWork(img, fs, sick: null);
            // Fill the inode table: the quarantined slot is never handed out.
            while (fs.Create(Root, N($"x{Guid.NewGuid():N}"), RegularMode, Credentials.Root, out var a).IsOk)
                Assert.NotEqual(Geometry.InoOfSlot(freeInode), a.Ino);
        }
        RepairBringsItBack(img);
    }

    [Theory]
    [InlineData("inode")]
    [InlineData("extent")]
    [InlineData("rmap")]
    [InlineData("xattr")]
    public void ADamagedRecordOfAFileMakesThatFileSickAndNothingElse(string kind)
    {
        using var img = new Image();
        string victim = kind == "xattr" ? "f5" : "f2";
        ulong ino = img.Files[victim].Ino;
        long offset;
        using (var fs = img.Mount())
        {
            var g = fs.Geometry;
            var rows = new ReverseMapOwner[8];
            Assert.Equal(Errno.Ok, fs.ReverseMap(0, long.MaxValue, default, new ReverseMapOwner[4096], out _, out _));
            var inode = fs.InodeAt(ino)!;
            var e = inode.Extents.All[0];
            offset = kind switch
            {
                "inode" => g.InodeOffset(Geometry.SlotOfIno(ino)),
                "extent" => g.ExtentOffset(e.Slot),
                "rmap" => g.RmapOffset(e.RmapSlot),
                _ => Geometry.BlockOffset(inode.Rec.XattrBlock) + 100,
            };
            _ = rows;
        }
        img.Corrupt(offset);
        using (var fs = img.Mount())
        {
            Assert.True(fs.Health.IsSick(ino), string.Join("; ", fs.Health.Events.Select(v => v.Message)));
            Assert.Single(fs.Health.SickInodes);
            Assert.Equal(HealthState.Healthy, fs.Health.State);
            OthersWork(img, fs, victim);
            // Unlinking it is refused too: its blocks are never freed or handed out.
            Assert.Equal(Errno.EUCLEAN, fs.Unlink(Root, N(victim)));
        }
        // A read-only mount confines it the same way and writes nothing.
        var before = img.T.Media.Read(0, (int)img.T.Media.Size).ToArray();
        using (var ro = FileSystem.Mount(img.T.Media, new FileSystemOptions { ReadOnly = true }))
            Assert.True(ro.Health.IsSick(ino));
        Assert.True(before.AsSpan().SequenceEqual(img.T.Media.Read(0, (int)img.T.Media.Size)));
        RepairBringsItBack(img);
    }

    [Fact]
    public void ADamagedDirectoryEntryLosesOnlyItsName()
    {
        using var img = new Image();
        long slot;
        using (var fs = img.Mount())
        {
            Assert.Equal(Errno.Ok, fs.ReadDirectory(Root, 0, _ => true));
            slot = fs.InodeAt(Root)!.Directory!.Find(N("f3"))!.Slot;
        }
        img.Corrupt(img.G.DirentOffset(slot));
        using (var fs = img.Mount())
        {
            Assert.Contains(fs.Health.Quarantined, q => q.Table == "dirent" && q.Slot == slot);
            Assert.Equal(Errno.ENOENT, fs.Lookup(Root, N("f3"), out _)); // the name is gone with its record
            foreach (var (name, (ino, data)) in img.Files.Where(f => f.Key != "f3"))
            {
                var buf = new byte[data.Length];
                Assert.Equal(Errno.Ok, fs.Read(ino, 0, buf, out _));
                Assert.Equal(data, buf);
            }
            Assert.Equal(Errno.Ok, fs.Create(Root, N("f3"), RegularMode, Credentials.Root, out _)); // the name is free again
        }
        RepairBringsItBack(img);
    }

    [Fact]
    public void BlocksTheMapsUseButTheBitmapCallsFreeAreNeverHandedOut()
    {
        using var img = new Image();
        long phys;
        using (var fs = img.Mount()) phys = fs.InodeAt(img.Files["f1"].Ino)!.Extents.All[0].PhysBlock;
        FreeSpaceBitmap.ApplyRange(img.T.Media, img.G, phys, 1, false);
        using (var fs = img.Mount())
        {
            Assert.Equal(HealthState.Healthy, fs.Health.State);
            OthersWork(img, fs, sick: null);
            ulong big = fs.Create(Root, N("big"), RegularMode, Credentials.Root, out var a).IsOk ? a.Ino : 0;
            Assert.Equal(Errno.Ok, fs.WriteWhatFits(big, 0, new byte[fs.StatFs().FreeBlocks * Bs], Credentials.Root, out _));
            var buf = new byte[img.Files["f1"].Data.Length];
            Assert.Equal(Errno.Ok, fs.Read(img.Files["f1"].Ino, 0, buf, out _));
            Assert.Equal(img.Files["f1"].Data, buf); // nobody overwrote it
        }
    }

    /// <summary>Every engine entry point that touches a sick file or directory answers EUCLEAN and changes nothing.</summary>
    [Fact]
    public void EveryEntryPointOnASickFileOrDirectoryAnswersEuclean()
    {
        using var img = new Image();
        ulong f, dir, inDir;
        using (var fs = img.Mount())
        {
            Assert.Equal(Errno.Ok, fs.MakeDirectory(Root, N("d"), DirMode, Credentials.Root, out var d));
            Assert.Equal(Errno.Ok, fs.Create(d.Ino, N("inside"), RegularMode, Credentials.Root, out var i));
            (f, dir, inDir) = (img.Files["f2"].Ino, d.Ino, i.Ino);
        }
        img.Corrupt(img.G.InodeOffset(Geometry.SlotOfIno(f)));
        img.Corrupt(img.G.InodeOffset(Geometry.SlotOfIno(dir)));
        using var sick = img.Mount();
        Assert.True(sick.Health.IsSick(f) && sick.Health.IsSick(dir));
        ulong ok = img.Files["f1"].Ino;
        var who = Credentials.Root;
        var buf = new byte[16];
        var answers = new Dictionary<string, Errno>
        {
            ["lookup"] = sick.Lookup(Root, N("f2"), out _),
            ["getattr"] = sick.GetAttr(f, out _),
            ["read"] = sick.Read(f, 0, buf, out _),
            ["write"] = sick.Write(f, 0, buf, who, out _),
            ["truncate"] = sick.SetAttr(f, new SetAttrRequest { Fields = SetAttrFields.Size, Size = 0 }, who, out _),
            ["chmod"] = sick.SetAttr(f, new SetAttrRequest { Fields = SetAttrFields.Mode, Mode = 0x1FF }, who, out _),
            ["fallocate"] = sick.Fallocate(f, FallocateMode.KeepSize, 0, Bs, who),
            ["seek"] = sick.Seek(f, 0, SeekWhence.Data, out _),
            ["getxattr"] = sick.GetXattr(f, N("user.k"), out _),
            ["listxattr"] = sick.ListXattr(f, out _),
            ["setxattr"] = sick.SetXattr(f, N("user.k"), buf, XattrSetFlags.None),
            ["removexattr"] = sick.RemoveXattr(f, N("user.k")),
            ["getflags"] = sick.GetFlags(f, out _),
            ["setflags"] = sick.SetFlags(f, InodeFlags.NoDump, InodeFlags.None, who, out _),
            ["open"] = sick.Open(f, write: false, append: false),
            ["link"] = sick.Link(f, Root, N("f2-link"), out _),
            ["rename"] = sick.Rename(Root, N("f2"), Root, N("f2-renamed")),
            ["rename onto"] = sick.Rename(Root, N("f1"), Root, N("f2")),
            ["unlink"] = sick.Unlink(Root, N("f2")),
            ["extent map"] = sick.GetExtentMap(f, 0, Bs, new MappedExtent[4], out _, out _),
            ["clone from"] = sick.CloneRange(f, 0, ok, 0, Bs, who, 1, out _),
            ["clone onto"] = sick.CloneRange(ok, 0, f, 0, Bs, who, 1, out _),
            ["lease"] = sick.Leases.Acquire(f, 1, 1, LeaseMode.Read, new FileRange(0, Bs), out _),
            ["readdir"] = sick.ReadDirectory(dir, 0, _ => true),
            ["lookup in dir"] = sick.Lookup(dir, N("inside"), out _),
            ["create in dir"] = sick.Create(dir, N("x"), RegularMode, who, out _),
            ["rmdir"] = sick.RemoveDirectory(Root, N("d")),
            ["rename dir"] = sick.Rename(Root, N("d"), Root, N("d2")),
        };
        Assert.All(answers, kv => Assert.True(kv.Value == Errno.EUCLEAN, $"{kv.Key}: {kv.Value}"));
        Assert.Equal(Errno.Ok, sick.GetAttr(inDir, out _)); // what the sick directory holds is not sick itself
        OthersWork(img, sick, "f2");
    }

    /// <summary>
    /// A damaged reference-count record: which blocks it counted is lost, so no free of shared
    /// blocks is safe. The mount refuses writes (EROFS) instead of the mount; every file reads.
    /// </summary>
    [Fact]
    public void ADamagedReferenceCountRecordRefusesWritesAndEveryFileStillReads()
    {
        using var img = new Image();
        long slot;
        using (var fs = img.Mount())
        {
            var (a, b) = (img.Files["f0"], img.Files["f1"]);
            Assert.Equal(Errno.Ok, fs.CloneRange(a.Ino, 0, b.Ino, 0, 3 * Bs, Credentials.Root, 1, out _));
            var shared = b.Data.ToArray();
            a.Data.AsSpan(0, 3 * Bs).CopyTo(shared);
            img.Files["f1"] = (b.Ino, shared);
            slot = Assert.Single(fs.Sharing.All).Slot;
        }
        img.Corrupt(img.G.RmapOffset(slot));
        using (var fs = img.Mount())
        {
            Assert.Equal(HealthState.WritesRefused, fs.Health.State);
            Assert.Contains("fsck --repair", fs.Health.Reason, StringComparison.Ordinal);
            Assert.Contains(fs.Health.Quarantined, q => q.Table == "rmap" && q.Slot == slot);
            foreach (var (_, (ino, data)) in img.Files)
            {
                var buf = new byte[data.Length];
                Assert.Equal(Errno.Ok, fs.Read(ino, 0, buf, out int n));
                Assert.Equal(data, buf[..n]);
            }
            Assert.Equal(Errno.EROFS, fs.Write(img.Files["f0"].Ino, 0, new byte[1], Credentials.Root, out _));
            Assert.Equal(Errno.EROFS, fs.Unlink(Root, N("f1")));
        }
        RepairBringsItBack(img);
    }
}
