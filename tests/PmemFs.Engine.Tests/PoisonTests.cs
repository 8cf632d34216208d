using PmemFs.Engine.Health;
using PmemFs.Engine.Leases;
using PmemFs.Engine.Mapping;
using PmemFs.Format;
using PmemFs.Media;
using PmemFs.Media.Poison;
using static PmemFs.Engine.Tests.EngineFixture;

namespace PmemFs.Engine.Tests;

/// <summary>
/// Poison (bad blocks) on an emulated region: every owner kind reacts as DESIGN.md "Poison"
/// says, reads never return poisoned bytes, writing, zeroing or punching whole bad blocks
/// clears them, free space is withheld, and the list survives a remount.
/// </summary>
public class PoisonTests
{
    private const int Bs = FormatConstants.BlockSize;

    private static EngineFixture Fixture(InodeFlags rootFlags = InodeFlags.None, FileSystemOptions? options = null) =>
        new(rootFlags: rootFlags, options: options, wrap: m => new EmulatedPoisonMedia(m, EmulatedDeviceState.InMemory(), writable: true, ownsInner: false));

    private static long PhysOf(EngineFixture t, ulong ino, long fileOffset)
    {
        var into = new MappedExtent[64];
        Assert.Equal(Errno.Ok, t.Fs.GetExtentMap(ino, fileOffset, Bs, into, out int n, out _));
        Assert.True(n > 0 && into[0].PhysicalOffset >= 0);
        return into[0].PhysicalOffset + (fileOffset - into[0].FileOffset);
    }

    private static Errno ReadAt(EngineFixture t, ulong ino, long offset, int length, out byte[] data)
    {
        data = new byte[length];
        var e = t.Fs.Read(ino, offset, data, out int n);
        if (e.IsOk) data = data[..n];
        return e;
    }

    /// <summary>A 64-block file with a known pattern, and the region offset of its block 10.</summary>
    private static (ulong Ino, byte[] Data, long Bad) PoisonedFile(EngineFixture t, string name = "f", bool tell = true)
    {
        ulong ino = t.CreateFile(Root, name);
        var data = Pattern(64 * Bs, name.Length);
        t.Write(ino, 0, data);
        long bad = PhysOf(t, ino, 10 * Bs);
        Assert.Equal(Errno.Ok, t.Fs.InjectPoison(bad + 100, 64, tell));
        return (ino, data, bad);
    }

    [Fact]
    public void APoisonedRangeReadsEioExactlyThereAndTheRestOfTheFileReadsBack()
    {
        using var t = Fixture();
        var (ino, data, _) = PoisonedFile(t);
        Assert.Equal(Errno.EIO, ReadAt(t, ino, 10 * Bs, Bs, out _));
        Assert.Equal(Errno.EIO, ReadAt(t, ino, 9 * Bs + 10, Bs, out _)); // a read crossing into it
        for (int b = 0; b < 64; b++)
        {
            if (b == 10) continue;
            Assert.Equal(Errno.Ok, ReadAt(t, ino, b * (long)Bs, Bs, out var got));
            Assert.Equal(data.AsSpan(b * Bs, Bs).ToArray(), got);
        }
        // The zero-copy path too.
        Assert.Equal(Errno.EIO, t.Fs.ReadMapped(ino, 10 * Bs, Bs, 0, (_, _) => Assert.Fail("the sink must not see poisoned bytes")));
        var e = t.Fs.Health.Events.Where(v => v.Kind == HealthEventKind.Poison && v.Ino == ino).ToList();
        Assert.Contains(e, v => v.Offset == 10 * Bs); // the event names file and offset (the bad sector's start)
    }

    [Fact]
    public void PoisonTheFileSystemWasNotToldOfIsFoundByTheReadThatTouchesItAndLearned()
    {
        using var t = Fixture();
        var (ino, _, bad) = PoisonedFile(t, tell: false);
        Assert.Empty(t.Fs.PoisonedRanges);
        Assert.Equal(Errno.EIO, ReadAt(t, ino, 10 * Bs, Bs, out _));
        Assert.Contains(t.Fs.PoisonedRanges, r => r.Overlaps(bad + 100, 64));
        Assert.Contains(t.Fs.Health.Events, v => v.Message.Contains("found by a read"));
    }

    [Fact]
    public void OverwritingWholePoisonedBlocksClearsThePoisonAndAPartialOverwriteIsEio()
    {
        using var t = Fixture();
        var (ino, data, bad) = PoisonedFile(t);
        var part = Pattern(100, 5);
        Assert.Equal(Errno.EIO, t.Fs.Write(ino, 10 * Bs + 4000, part, Credentials.Root, out _)); // would need the bad bytes around it
        Assert.NotEmpty(t.Fs.PoisonedRanges);
        var block = Pattern(Bs, 6);
        t.Write(ino, 10 * Bs, block);
        Assert.Empty(t.Fs.PoisonedRanges);
        Assert.Empty(t.Mounted.BadRanges);
        Assert.Equal(bad, PhysOf(t, ino, 10 * Bs)); // stored in place, the block is healthy again
        block.CopyTo(data, 10 * Bs);
        Assert.Equal(data, t.ReadAll(ino));
        Assert.Contains(t.Fs.Health.Events, v => v.Kind == HealthEventKind.PoisonCleared);
    }

    [Theory]
    [InlineData(FallocateMode.ZeroRange | FallocateMode.KeepSize)]
    [InlineData(FallocateMode.PunchHole | FallocateMode.KeepSize)]
    public void ZeroingOrPunchingPoisonedBlocksClearsThem(FallocateMode mode)
    {
        using var t = Fixture();
        var (ino, data, _) = PoisonedFile(t);
        long free = t.Fs.StatFs().FreeBlocks;
        Assert.Equal(Errno.Ok, t.Fs.Fallocate(ino, mode, 10 * Bs, Bs, Credentials.Root));
        Assert.Empty(t.Fs.PoisonedRanges);
        Assert.Empty(t.Mounted.BadRanges);
        Array.Clear(data, 10 * Bs, Bs);
        Assert.Equal(data, t.ReadAll(ino));
        // A punched block is free again, and usable: nothing is withheld any more.
        Assert.Equal(free + (mode.HasFlag(FallocateMode.PunchHole) ? 1 : 0), t.Fs.StatFs().FreeBlocks);
    }

    [Fact]
    public void PoisonedFreeSpaceIsWithheldFromTheAllocatorUntilCleared()
    {
        using var t = Fixture();
        var g = t.Fs.Geometry;
        long free = t.Fs.StatFs().FreeBlocks;
        long badBlock = g.DataStart + 100;
        Assert.Equal(Errno.Ok, t.Fs.InjectPoison(badBlock * Bs, 3 * Bs));
        Assert.Equal(free - 3, t.Fs.StatFs().FreeBlocks);
        Assert.Single(t.Fs.PoisonOwners(t.Fs.PoisonedRanges[0]), o => o.IsFree);
        // Fill the file system: no file ever gets the bad blocks.
        ulong big = t.CreateFile(Root, "big");
        Assert.Equal(Errno.Ok, t.Fs.WriteWhatFits(big, 0, new byte[(free - 3) * Bs], Credentials.Root, out int n));
        var rows = new ReverseMapOwner[16];
        Assert.Equal(Errno.Ok, t.Fs.ReverseMap(badBlock * Bs, 3 * Bs, default, rows, out int count, out _));
        Assert.Equal(0, count);
        Assert.Equal(Errno.Ok, t.Fs.ClearPoison(badBlock * Bs, 3 * Bs, discardData: false));
        Assert.Equal(3, t.Fs.StatFs().FreeBlocks);
        Assert.Empty(t.Mounted.BadRanges);
        _ = n;
    }

    [Fact]
    public void BlocksOfAnUnlinkedPoisonedFileAreWithheldNotReused()
    {
        using var t = Fixture();
        long free = t.Fs.StatFs().FreeBlocks;
        var (ino, _, bad) = PoisonedFile(t);
        Assert.Equal(Errno.Ok, t.Fs.Unlink(Root, N("f")));
        Assert.Equal(free - 1, t.Fs.StatFs().FreeBlocks);
        Assert.All(t.Fs.PoisonOwners(t.Fs.PoisonedRanges[0]), o => Assert.True(o.IsFree));
        _ = ino;
        _ = bad;
    }

    [Fact]
    public void PoisonInSharedBlocksAffectsEveryOwnerAndAWholeBlockWriteMovesOneOwnerOff()
    {
        using var t = Fixture();
        ulong a = t.CreateFile(Root, "a");
        var data = Pattern(32 * Bs, 9);
        t.Write(a, 0, data);
        ulong b = t.CreateFile(Root, "b");
        Assert.Equal(Errno.Ok, t.Fs.CloneRange(a, 0, b, 0, 0, Credentials.Root, 0, out _));
        long bad = PhysOf(t, a, 5 * Bs);
        Assert.Equal(Errno.Ok, t.Fs.InjectPoison(bad, 512));
        var owners = t.Fs.PoisonOwners(t.Fs.PoisonedRanges[0]);
        Assert.Contains(owners, o => o.Ino == a && o.FileOffset == 5 * Bs);
        Assert.Contains(owners, o => o.Ino == b && o.FileOffset == 5 * Bs);
        Assert.Equal(Errno.EIO, ReadAt(t, a, 5 * Bs, Bs, out _));
        Assert.Equal(Errno.EIO, ReadAt(t, b, 5 * Bs, Bs, out _));
        // A partial write to b would copy the bad bytes on write: EIO.
        Assert.Equal(Errno.EIO, t.Fs.Write(b, 5 * Bs + 10, new byte[10], Credentials.Root, out _));
        var fresh = Pattern(Bs, 10);
        t.Write(b, 5 * Bs, fresh);
        Assert.Equal(fresh, ReadAt(t, b, 5 * Bs, Bs, out var got) == Errno.Ok ? got : null);
        Assert.Equal(Errno.EIO, ReadAt(t, a, 5 * Bs, Bs, out _)); // a still maps the bad block
        Assert.NotEmpty(t.Fs.PoisonedRanges);
        Assert.DoesNotContain(t.Fs.PoisonOwners(t.Fs.PoisonedRanges[0]), o => o.Ino == b);
    }

    [Fact]
    public void TheListSurvivesARemountAndTheFileStillReadsEio()
    {
        using var t = Fixture();
        var (ino, data, bad) = PoisonedFile(t);
        t.Remount();
        Assert.Contains(t.Fs.PoisonedRanges, r => r.Overlaps(bad + 100, 64));
        Assert.Equal(Errno.EIO, ReadAt(t, ino, 10 * Bs, Bs, out _));
        Assert.Equal(Errno.Ok, ReadAt(t, ino, 11 * Bs, Bs, out var got));
        Assert.Equal(data.AsSpan(11 * Bs, Bs).ToArray(), got);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void APoisonedSuperblockCopyIsRewrittenFromMemory(bool primary)
    {
        using var t = Fixture();
        long at = primary ? 0 : t.Fs.Geometry.SecondarySuperblock * Bs;
        Assert.Equal(Errno.Ok, t.Fs.InjectPoison(at, 512));
        Assert.Empty(t.Fs.PoisonedRanges);
        Assert.Empty(t.Mounted.BadRanges);
        Assert.Equal(HealthState.Healthy, t.Fs.Health.State);
        t.Remount();
        Assert.Equal(SuperblockCopy.Primary, t.Fs.Report.SuperblockUsed);
        Assert.Null(t.Fs.Report.SuperblockProblem);
    }

    [Fact]
    public void PoisonedTableMetadataRefusesWritesButReadsGoOn()
    {
        using var t = Fixture();
        ulong ino = t.CreateFile(Root, "f");
        var data = Pattern(3 * Bs, 2);
        t.Write(ino, 0, data);
        var g = t.Fs.Geometry;
        Assert.Equal(Errno.Ok, t.Fs.InjectPoison(g.InodeOffset(5), 512));
        Assert.Equal(HealthState.WritesRefused, t.Fs.Health.State);
        Assert.Contains("fsck --repair", t.Fs.Health.Reason);
        Assert.Equal(Errno.EROFS, t.Fs.Write(ino, 0, new byte[10], Credentials.Root, out _));
        Assert.Equal(data, t.ReadAll(ino));
        Assert.Equal(Errno.EPERM, t.Fs.ClearPoison(g.InodeOffset(5), 512, discardData: true)); // fsck rewrites metadata, not clear
    }

    [Fact]
    public void ClearingFileDataNeedsConsentAndThenReadsZeros()
    {
        using var t = Fixture();
        var (ino, data, bad) = PoisonedFile(t);
        Assert.Equal(Errno.EBUSY, t.Fs.ClearPoison(bad, Bs, discardData: false));
        Assert.Equal(Errno.Ok, t.Fs.ClearPoison(bad, Bs, discardData: true));
        Assert.Equal(Errno.Ok, ReadAt(t, ino, 10 * Bs, Bs, out var got));
        var expected = data.AsSpan(10 * Bs, Bs).ToArray();
        Array.Clear(expected, 0, 512); // the 64 bytes injected were widened to their sector, now zeros
        Assert.Equal(expected, got);
    }

    [Fact]
    public void ALeaseOverPoisonedDataIsRecalled()
    {
        var host = new RecordingLeaseHost();
        using var t = Fixture(InodeFlags.Dax);
        t.Fs.Leases.Host = host;
        ulong ino = t.CreateFile(Root, "f");
        t.Write(ino, 0, Pattern(16 * Bs, 1));
        Assert.Equal(Errno.Ok, t.Fs.Leases.Acquire(ino, 7, 1234, LeaseMode.Read, FileRange.WholeFile, out _));
        Assert.Equal(Errno.Ok, t.Fs.InjectPoison(PhysOf(t, ino, 3 * Bs), 64));
        Assert.Single(host.Recalled);
    }

    [Fact]
    public void InjectionIsRefusedWhereTheMediaCannotBePoisonedAndOutsideTheRegion()
    {
        using (var plain = new EngineFixture())
            Assert.Equal(Errno.EOPNOTSUPP, plain.Fs.InjectPoison(0, 512));
        using var t = Fixture();
        Assert.Equal(Errno.EINVAL, t.Fs.InjectPoison(t.Mounted.Size, 512));
        Assert.Equal(Errno.EINVAL, t.Fs.InjectPoison(-1, 512));
    }
}

/// <summary>The direct-access view of poison: the extent map marks poisoned blocks, and prepare-write refuses them.</summary>
public class PoisonExtentMapTests
{
    private const int Bs = FormatConstants.BlockSize;

    [Fact]
    public void TheExtentMapCutsOutPoisonedBlocksAndPrepareWriteRefusesThem()
    {
        using var t = new EngineFixture(rootFlags: InodeFlags.Dax,
            wrap: m => new EmulatedPoisonMedia(m, EmulatedDeviceState.InMemory(), writable: true, ownsInner: false));
        ulong ino = t.CreateFile(EngineFixture.Root, "f");
        t.Write(ino, 0, EngineFixture.Pattern(8 * Bs, 1));
        var into = new MappedExtent[16];
        Assert.Equal(Errno.Ok, t.Fs.GetExtentMap(ino, 0, 8 * Bs, into, out int n, out _));
        long phys = into[0].PhysicalOffset;
        Assert.Equal(Errno.Ok, t.Fs.InjectPoison(phys + 3 * Bs + 1000, 100));
        Assert.Equal(Errno.Ok, t.Fs.GetExtentMap(ino, 0, 8 * Bs, into, out n, out _));
        Assert.Equal(
            [new MappedExtent(0, phys, 3 * Bs, Mapping.ExtentState.Written), new MappedExtent(3 * Bs, phys + 3 * Bs, Bs, Mapping.ExtentState.Poisoned), new MappedExtent(4 * Bs, phys + 4 * Bs, 4 * Bs, Mapping.ExtentState.Written)],
            into[..n]);
        Assert.Equal(Errno.Ok, t.Fs.Leases.Acquire(ino, 9, 99, Leases.LeaseMode.Write, Leases.FileRange.WholeFile, out _));
        Assert.Equal(Errno.EIO, t.Fs.PrepareWrite(ino, 9, 2 * Bs, 2 * Bs, PrepareWriteFlags.None, Credentials.Root));
        Assert.Equal(Errno.Ok, t.Fs.PrepareWrite(ino, 9, 5 * Bs, Bs, PrepareWriteFlags.None, Credentials.Root));
    }
}

/// <summary>Poison in each metadata structure: never read through; writes refused (or the copy rewritten); fsck --repair brings it back.</summary>
public class PoisonedMetadataTests
{
    private const int Bs = FormatConstants.BlockSize;

    [Theory]
    [InlineData("journal")]
    [InlineData("bitmap")]
    [InlineData("inodes")]
    [InlineData("dirents")]
    [InlineData("extents")]
    [InlineData("rmap")]
    public void PoisonInATableRefusesWritesUntilRepairAndNothingIsReadThroughIt(string area)
    {
        var state = EmulatedDeviceState.InMemory();
        using var raw = new MemoryMedia(16L << 20);
        Mkfs.Format(raw, new MkfsOptions());
        using var media = new EmulatedPoisonMedia(raw, state, writable: true, ownsInner: false);
        ulong ino;
        var data = EngineFixture.Pattern(3 * Bs, 4);
        long at;
        using (var fs = FileSystem.Mount(media))
        {
            Assert.Equal(Errno.Ok, fs.Create(EngineFixture.Root, EngineFixture.N("f"), EngineFixture.RegularMode, Credentials.Root, out var a));
            ino = a.Ino;
            Assert.Equal(Errno.Ok, fs.Write(ino, 0, data, Credentials.Root, out _));
            var g = fs.Geometry;
            at = area switch
            {
                "journal" => Geometry.BlockOffset(g.JournalStart + g.JournalBlocks - 1),
                "bitmap" => Geometry.BlockOffset(g.BitmapStart),
                "inodes" => g.InodeOffset(0),
                "dirents" => g.DirentOffset(0),
                "extents" => g.ExtentOffset(0),
                _ => g.RmapOffset(0),
            };
            Assert.Equal(Errno.Ok, fs.InjectPoison(at, 512));
            Assert.Equal(HealthState.WritesRefused, fs.Health.State); // (the journal's ring may be in use while mounted)
            Assert.Equal(Errno.EROFS, fs.Create(EngineFixture.Root, EngineFixture.N("g"), EngineFixture.RegularMode, Credentials.Root, out _));
            var buf = new byte[data.Length];
            Assert.Equal(Errno.Ok, fs.Read(ino, 0, buf, out _)); // reads go on
            Assert.Equal(data, buf);
        }

        // The next mount never loads the bad line (the emulated device would throw); it confines.
        using (var fs = FileSystem.Mount(media))
        {
            if (area == "journal") Assert.Equal(HealthState.Healthy, fs.Health.State); // an idle journal's poison is cleared at mount
            else Assert.Equal(HealthState.WritesRefused, fs.Health.State);
        }
        var report = PmemFs.Check.Fsck.Check(media, new PmemFs.Check.FsckOptions());
        Assert.DoesNotContain(report.Problems, p => p.Message.Contains(nameof(MediaPoisonException), StringComparison.Ordinal));
        var repaired = PmemFs.Check.FsckRepair.Repair(media, new PmemFs.Check.FsckOptions());
        Assert.True(repaired.After.IsClean, string.Join("; ", repaired.After.Problems));
        using (var fs = FileSystem.Mount(media))
        {
            Assert.Equal(HealthState.Healthy, fs.Health.State);
            Assert.Equal(Errno.Ok, fs.Create(EngineFixture.Root, EngineFixture.N("g"), EngineFixture.RegularMode, Credentials.Root, out _));
        }
    }
}
