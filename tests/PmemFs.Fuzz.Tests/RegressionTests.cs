using PmemFs.Check;
using PmemFs.Engine;
using PmemFs.Format;
using PmemFs.Media;

namespace PmemFs.Fuzz.Tests;

/// <summary>
/// Bugs the corrupted-image fuzzer found, each as a hand-made corruption (and the fuzzer's own
/// image that found it): mount used a bad structure instead of refusing it.
/// </summary>
public sealed class RegressionTests
{
    private static BaseImage Tree => BaseImages.Get("tree");

    /// <summary>The fuzzer's images that failed before the fixes (base, kind, corruption seed).</summary>
    [Theory]
    [InlineData("tree", CorruptionKind.LinkCount, 159992729)]        // named file with nlink 0: mount freed it
    [InlineData("empty", CorruptionKind.LinkCount, 1633610134)]      // root with nlink 0: mount freed the root
    [InlineData("fragmented", CorruptionKind.LinkCount, 1508742923)]
    [InlineData("tree", CorruptionKind.CrossLink, 236926779)]        // two files sharing blocks
    [InlineData("fragmented", CorruptionKind.CrossLink, 884607337)]
    [InlineData("tree", CorruptionKind.DirectoryCycle, 1842564373)]  // a cycle cut off from the root
    [InlineData("fragmented", CorruptionKind.DirectoryCycle, 345701348)]
    [InlineData("tree", CorruptionKind.ImpossibleSize, 44185342)]    // pending trim inside the file
    public void FuzzerFindingsKeepTheOracle(string baseName, CorruptionKind kind, int seed)
    {
        var m = Corruptor.Make(BaseImages.Get(baseName), kind, seed);
        Assert.NotEqual(Outcome.Skipped, Oracle.Check(m));
    }

    private static (MemoryMedia Media, ImageMap Map) Copy(BaseImage b) => (MemoryMedia.FromBytes(b.Bytes), b.Map);

    private static void WriteInode(MemoryMedia media, Geometry g, InodeRecord r) =>
        DiskInode.Seal(r, media.RawBytes(g.InodeOffset(Geometry.SlotOfIno(r.Ino)), DiskInode.Size));

    /// <summary>
    /// Mounts the damaged image (damage costs only what it holds: docs/health.md) and returns
    /// what the engine said about it: the sick files, quarantined slots and refusals, one per line.
    /// </summary>
    private static string Confined(MemoryMedia media)
    {
        using var fs = FileSystem.Mount(media);
        Assert.True(fs.Health.SickInodes.Count > 0 || fs.Health.Quarantined.Count > 0 || fs.Health.State != Engine.Health.HealthState.Healthy,
            "mount found nothing wrong with a damaged image");
        return string.Join("\n", fs.Health.Events.Select(e => e.Message));
    }

    [Fact]
    public void AFileNamedByAnEntryWithLinkCountZeroIsConfinedNotFreed()
    {
        var (media, map) = Copy(Tree);
        using var owned = media;
        var file = map.Dirents.Select(d => map.Inode(d.Rec.Child)!.Value).First(r => r.FileType == FileTypes.Regular && r.Nlink == 1);
        WriteInode(media, map.G, file with { Nlink = 0 });
        Assert.Contains($"inode {file.Ino} has link count 0 but 1 directory entry names it", Confined(media));
    }

    [Fact]
    public void ARootWithLinkCountZeroIsConfined()
    {
        var (media, map) = Copy(Tree);
        using var owned = media;
        WriteInode(media, map.G, map.Inode(FormatConstants.RootIno)!.Value with { Nlink = 0 });
        Assert.Contains("root directory has link count 0", Confined(media));
    }

    [Fact]
    public void AFileWithFewerLinksThanNamesIsConfined()
    {
        var (media, map) = Copy(Tree);
        using var owned = media;
        var linked = map.Inodes.Select(i => i.Rec).First(r => r.FileType == FileTypes.Regular && r.Nlink == 3); // a.txt and its two links
        WriteInode(media, map.G, linked with { Nlink = 2 });
        Assert.Contains($"inode {linked.Ino} has link count 2 but 3 directory entries name it", Confined(media));
    }

    [Fact]
    public void ADirectoryCycleCutOffFromTheRootIsConfined()
    {
        // deep -> deeper -> deepest: the entry naming "deep" moves into "deepest".
        var (media, map) = Copy(Tree);
        using var owned = media;
        var deep = map.Dirents.First(d => d.Rec.Name.AsSpan().SequenceEqual("deep"u8));
        var deeper = map.Dirents.First(d => d.Rec.Name.AsSpan().SequenceEqual("deeper"u8));
        var deepest = map.Dirents.First(d => d.Rec.Name.AsSpan().SequenceEqual("deepest"u8));
        Assert.Equal(deep.Rec.Child, deeper.Rec.Parent);
        DiskDirent.Seal(deep.Rec with { Parent = deepest.Rec.Child }, media.RawBytes(deep.Slot.Offset, DiskDirent.Size));

        using (var check = MemoryMedia.CopyOf(media))
            Assert.Contains(Fsck.Check(check, new FsckOptions()).Problems, p => p.Message.Contains("directory cycle", StringComparison.Ordinal));
        Assert.Contains("directory cycle cut off from the root", Confined(media));
    }

    [Fact]
    public void ARemovedDirectoryThatStillHoldsEntriesIsConfined()
    {
        // "deepest" (holding "leaf" and "another-link") loses its entry and its links: an orphan directory with entries.
        var (media, map) = Copy(Tree);
        using var owned = media;
        var deepest = map.Dirents.First(d => d.Rec.Name.AsSpan().SequenceEqual("deepest"u8));
        media.RawBytes(deepest.Slot.Offset, DiskDirent.Size).Clear();
        var parent = map.Inode(deepest.Rec.Parent)!.Value;
        WriteInode(media, map.G, parent with { Nlink = parent.Nlink - 1 });
        WriteInode(media, map.G, map.Inode(deepest.Rec.Child)!.Value with { Nlink = 0 });
        string message = Confined(media);
        Assert.Contains($"directory {deepest.Rec.Child}", message);
        Assert.Contains("holds entries", message);
    }

    [Fact]
    public void TwoFilesSharingBlocksWithoutAReferenceCountAreConfined()
    {
        var (media, map) = Copy(Tree);
        using var owned = media;
        var (slot, e) = map.Extents.First();
        var other = map.Extents.First(x => x.Rec.Ino != e.Ino && x.Rec.BlockCount >= e.BlockCount).Rec;
        var twin = map.Rmaps.First(r => r.Rec.Kind == RmapOwnerKind.InodeData && r.Rec.Owner == e.Ino && r.Rec.FileBlock == e.FileBlock);
        DiskExtent.Seal(e with { PhysBlock = other.PhysBlock }, media.RawBytes(slot.Offset, DiskExtent.Size));
        DiskRmap.Seal(twin.Rec with { PhysBlock = other.PhysBlock }, media.RawBytes(twin.Slot.Offset, DiskRmap.Size));
        string message = Confined(media);
        Assert.Contains("mapped by 2 extents", message);
        Assert.Contains("no reference-count record covers", message);
    }

    [Fact]
    public void APendingTrimInsideTheFileIsReportedAndConfined()
    {
        var (media, map) = Copy(Tree);
        using var owned = media;
        var file = map.Inodes.Select(i => i.Rec).First(r => r.FileType == FileTypes.Regular && r.Size > 4096);
        WriteInode(media, map.G, file with { PendingTrim = 1 });

        using (var check = MemoryMedia.CopyOf(media))
            Assert.Contains(Fsck.Check(check, new FsckOptions()).Problems, p => p.Where == $"inode {file.Ino}" && p.Message.Contains("pending trim", StringComparison.Ordinal));
        Assert.Contains($"inode {file.Ino}: pending trim from file block 0 lies inside the file", Confined(media));
    }

    [Fact]
    public void AMetadataRmapRecordMovedIntoTheDataAreaIsQuarantined()
    {
        // Writes would allocate the blocks it names (the bitmap calls them free), leaving them owned twice.
        var (media, map) = Copy(BaseImages.Get("empty"));
        using var owned = media;
        var journal = map.Rmaps.First(r => r.Rec.Kind == RmapOwnerKind.Journal);
        DiskRmap.Seal(journal.Rec with { PhysBlock = map.G.DataStart }, media.RawBytes(journal.Slot.Offset, DiskRmap.Size));
        Assert.Contains($"rmap slot {journal.Slot.Index}: claims blocks {map.G.DataStart}", Confined(media));
    }

    [Fact]
    public void MkdirUnderADirectoryWithTheLargestLinkCountFailsInsteadOfWrapping()
    {
        var (media, map) = Copy(BaseImages.Get("empty"));
        using var owned = media;
        WriteInode(media, map.G, map.Inode(FormatConstants.RootIno)!.Value with { Nlink = uint.MaxValue });
        using (var fs = FileSystem.Mount(media))
        {
            Assert.Equal(Errno.EMLINK, fs.MakeDirectory(FormatConstants.RootIno, "d"u8, 0x1ED, Credentials.Root, out _));
            Assert.Equal(Errno.Ok, fs.GetAttr(FormatConstants.RootIno, out var root));
            Assert.Equal(uint.MaxValue, root.Nlink);
        }
        using var again = FileSystem.Mount(media);
    }

    [Fact]
    public void ASuperblockWithAJournalOfTwoGibibytesOrMoreIsRefused()
    {
        // Found by reading replay while fuzzing (16 MiB images cannot hold such a journal): on a
        // large region a resealed superblock could name a journal whose log does not fit in an
        // int, and replay's checked((int)LogBytes) threw OverflowException out of mount.
        var g = Geometry.Compute(16L << 30);
        long grow = 600_000 - g.JournalBlocks;
        var big = g with
        {
            JournalBlocks = 600_000,
            BitmapStart = g.BitmapStart + grow,
            InodeTableStart = g.InodeTableStart + grow,
            DirentTableStart = g.DirentTableStart + grow,
            ExtentTableStart = g.ExtentTableStart + grow,
            RmapTableStart = g.RmapTableStart + grow,
            DataStart = g.DataStart + grow,
        };
        Assert.Contains("journal of 600000 blocks is too large", big.Validate());
        var bytes = new byte[DiskSuperblock.Size];
        DiskSuperblock.Encode(new Superblock { Geometry = big, Uuid = Guid.Empty, CreatedNs = 0, JournalSalt = 1 }, bytes);
        Assert.Equal(Verdict.Corrupt, DiskSuperblock.VerifyRead(bytes, out _).Verdict);
    }

    [Fact]
    public void APendingTrimPastTheEndIsStillFinishedByMount()
    {
        var (media, map) = Copy(Tree);
        using var owned = media;
        var file = map.Inodes.Select(i => i.Rec).First(r => r.FileType == FileTypes.Regular && r.Size > 4096);
        WriteInode(media, map.G, file with { PendingTrim = (file.Size + 4095) / 4096 + 1 });
        using var fs = FileSystem.Mount(media);
        Assert.Equal(1, fs.Report.TrimsFinished);
    }
}
