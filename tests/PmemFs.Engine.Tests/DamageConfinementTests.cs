using PmemFs.Check;
using PmemFs.Engine.Health;
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
}

/// <summary>Salvage (issue 13, item 8): read-only mounts replay into a private view instead of refusing.</summary>
public class SalvageTests
{
    [Fact]
    public void AReadOnlyMountOfAnImageWithCommittedTransactionsReplaysPrivately()
    {
        using var media = new MemoryMedia(16L << 20);
        Mkfs.Format(media, new MkfsOptions());
        var fs = FileSystem.Mount(media);
        Assert.Equal(Errno.Ok, fs.Create(Root, N("kept"), RegularMode, Credentials.Root, out var a));
        Assert.Equal(Errno.Ok, fs.Write(a.Ino, 0, Pattern(5000, 3), Credentials.Root, out _));
        // Crash: the process dies with the transactions committed in the journal (no checkpoint).
        var crashed = MemoryMedia.CopyOf(media);
        fs.Dispose();
        using (crashed)
        {
            Assert.Equal(JournalState.Pending, JournalReplay.Inspect(crashed, ImageReader.ReadSuperblock(crashed, "x").Superblock));
            var before = crashed.Read(0, (int)crashed.Size).ToArray();
            using (var ro = FileSystem.Mount(crashed, new FileSystemOptions { ReadOnly = true }))
            {
                Assert.Contains(ro.Health.Events, e => e.Kind == HealthEventKind.Salvaged);
                Assert.Equal(Errno.Ok, ro.Lookup(Root, N("kept"), out var got));
                var buf = new byte[5000];
                Assert.Equal(Errno.Ok, ro.Read(got.Ino, 0, buf, out _));
                Assert.Equal(Pattern(5000, 3), buf);
                Assert.Equal(Errno.EROFS, ro.Create(Root, N("no"), RegularMode, Credentials.Root, out _));
            }
            Assert.True(before.AsSpan().SequenceEqual(crashed.Read(0, (int)crashed.Size))); // nothing written
        }
    }

    [Fact]
    public void AReadOnlyMountOfAnImageWithADamagedPrimarySuperblockUsesTheCopy()
    {
        using var media = new MemoryMedia(16L << 20);
        Mkfs.Format(media, new MkfsOptions());
        using (var fs = FileSystem.Mount(media)) Assert.Equal(Errno.Ok, fs.Create(Root, N("kept"), RegularMode, Credentials.Root, out _));
        media.RawBytes(64, 8).Fill(0xEE);
        var before = media.Read(0, (int)media.Size).ToArray();
        using (var ro = FileSystem.Mount(media, new FileSystemOptions { ReadOnly = true }))
        {
            Assert.Equal(SuperblockCopy.Secondary, ro.Report.SuperblockUsed);
            Assert.Equal(Errno.Ok, ro.Lookup(Root, N("kept"), out _));
        }
        Assert.True(before.AsSpan().SequenceEqual(media.Read(0, (int)media.Size)));
    }
}
