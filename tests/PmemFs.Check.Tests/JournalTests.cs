using System.Buffers.Binary;
using System.Security.Cryptography;
using PmemFs.Engine;
using PmemFs.Format;
using PmemFs.Media;

namespace PmemFs.Check.Tests;

public sealed class JournalTests
{
    private const int Bs = FormatConstants.BlockSize;

    /// <summary>Writes <paramref name="tx"/> into the log as committed (header, body, commit word); returns where the next one goes.</summary>
    private static long AppendCommitted(IMedia media, Superblock sb, ulong seq, long offset, LogTransaction tx)
    {
        var g = sb.Geometry;
        if (offset + tx.EncodedLength > g.LogBytes) offset = 0; // does not fit before the end: starts at 0
        var buf = new byte[tx.EncodedLength];
        tx.EncodeUncommitted(seq, buf);
        BinaryPrimitives.WriteUInt64LittleEndian(buf.AsSpan(LogTransaction.CommitWordOffset), LogTransaction.CommitWord(seq, sb.JournalSalt));
        media.Write(g.LogOffset + offset, buf);
        return offset + tx.EncodedLength;
    }

    private static JournalHeader Header(IMedia media, Geometry g) =>
        DiskJournalHeader.ReadNewest(media.Read(g.JournalHeaderOffset, 2 * DiskJournalHeader.Size), g.LogBytes, out _)!.Value;

    [Fact]
    public void HandBuiltCommittedTransactionsAreReplayedAndTheResultIsClean()
    {
        using var img = new TestImage().Populate().Unmount();
        var sb = ImageReader.ReadSuperblock(img.Media, "t").Superblock;
        var g = sb.Geometry;
        var header = Header(img.Media, g);

        // Transaction 1: a new empty file "handmade" in the root.
        long slot = Enumerable.Range(0, (int)g.InodeCount).First(s => DiskInode.VerifyRead(img.InodeBytes(Geometry.InoOfSlot(s)), Geometry.InoOfSlot(s), out _).Verdict == Verdict.Empty);
        ulong ino = Geometry.InoOfSlot(slot);
        long dslot = img.FreeDirentSlot();
        var rec = new InodeRecord { Ino = ino, Generation = 1, Mode = TestImage.FileMode, Nlink = 1 };
        var tx1 = new LogTransaction();
        var ibuf = new byte[DiskInode.Size];
        DiskInode.Seal(rec, ibuf);
        tx1.Write(g.InodeOffset(slot), ibuf);
        var dbuf = new byte[DiskDirent.Size];
        DiskDirent.Seal(new DirentRecord(TestImage.Root, ino, FileTypes.ToDirentType(rec.Mode), TestImage.N("handmade")), dbuf);
        tx1.Write(g.DirentOffset(dslot), dbuf);

        // Transaction 2: one block of data for it (data first, as the engine does: it is not in the log).
        long phys = img.FreeDataBlock();
        img.Media.Write(phys * Bs, TestImage.Pattern(Bs, 42));
        long eslot = Enumerable.Range(0, (int)g.ExtentCount).First(s => DiskExtent.VerifyRead(img.ExtentBytes(s), s, out _).Verdict == Verdict.Empty);
        long rslot = Enumerable.Range(0, (int)g.RmapCount).First(s => DiskRmap.VerifyRead(img.RmapBytes(s), s, out _).Verdict == Verdict.Empty);
        var tx2 = new LogTransaction();
        tx2.SetBits(phys, 1);
        var xbuf = new byte[DiskExtent.Size];
        DiskExtent.Seal(new ExtentRecord(ino, 0, phys, 1, ExtentState.Written), xbuf);
        tx2.Write(g.ExtentOffset(eslot), xbuf);
        var rbuf = new byte[DiskRmap.Size];
        DiskRmap.Seal(new RmapRecord(phys, 1, RmapOwnerKind.InodeData, ino, 0), rbuf);
        tx2.Write(g.RmapOffset(rslot), rbuf);
        DiskInode.Seal(rec with { Size = 3000 }, ibuf);
        tx2.Write(g.InodeOffset(slot), ibuf);

        long next = AppendCommitted(img.Media, sb, header.TailSeq, header.TailOffset, tx1);
        AppendCommitted(img.Media, sb, header.TailSeq + 1, next, tx2);
        Assert.Equal(Verdict.Empty, DiskInode.VerifyRead(img.InodeBytes(ino), ino, out _).Verdict); // not applied yet

        var report = img.Check();
        ReportAssert.Clean(report);
        Assert.Equal(2, report.Stats.TransactionsReplayed);
        Assert.Contains(report.Notes, n => n.Contains("replayed 2 committed transaction", StringComparison.Ordinal));
        Assert.Equal(21, report.Stats.Inodes);
        Assert.Equal(11, report.Stats.RegularFiles);
        Assert.Equal(3000, img.ReadInode(ino).Size); // the replay went into the media fsck was given

        // The engine agrees with what fsck saw.
        using var fs = FileSystem.Mount(img.Media);
        Assert.Equal(Errno.Ok, fs.Lookup(TestImage.Root, TestImage.N("handmade"), out var a));
        var data = new byte[3000];
        Assert.Equal(Errno.Ok, fs.Read(a.Ino, 0, data, out int n));
        Assert.Equal(TestImage.Pattern(Bs, 42).AsSpan(0, 3000).ToArray(), data);
    }

    [Fact]
    public void CrashCopyWithRecordsLostSinceTheCommitIsRestoredByReplayAndClean()
    {
        // The process dies after writing "late": the log since mount holds every transaction, applied in place.
        using var crash = TestImage.CrashedWithLateFile(out ulong late);
        // Undo what applying the last transactions did, as if those stores never reached the media.
        long dslot = crash.DirentSlot(TestImage.Root, "late");
        var extent = crash.Extents(late).Single();
        var twin = crash.RmapTwin(extent.Rec);
        crash.DirentBytes(dslot).Clear();
        crash.InodeBytes(late).Clear();
        crash.ExtentBytes(extent.Slot).Clear();
        crash.RmapBytes(twin.Slot).Clear();
        crash.SetBit(extent.Rec.PhysBlock, false);

        var report = crash.Check();
        ReportAssert.Clean(report);
        Assert.True(report.Stats.TransactionsReplayed > 20, $"replayed {report.Stats.TransactionsReplayed}");
        Assert.True(crash.Bit(extent.Rec.PhysBlock));
        Assert.Equal(dslot, crash.DirentSlot(TestImage.Root, "late"));
    }

    [Fact]
    public void CrashCopyWithoutReplayWouldBeDamaged()
    {
        // The same damage with the log emptied first: fsck must see it, which shows the clean
        // result above comes from the replay.
        using var img = new TestImage();
        ulong late = img.File(TestImage.Root, "late");
        img.Write(late, 0, TestImage.Pattern(3 * Bs, 5));
        using var crash = img.CrashCopy();
        var g = crash.G;
        crash.Media.Fill(g.LogOffset, g.LogBytes, 0);
        crash.ExtentBytes(crash.Extents(late).Single().Slot).Clear();

        var report = crash.Check();
        Assert.Equal(0, report.Stats.TransactionsReplayed);
        ReportAssert.Has(report, $"rmap slot {crash.RmapTwin(new ExtentRecord(late, 0, 0, 0, ExtentState.Written)).Slot}", "which has no extent");
    }

    [Fact]
    public void ReplayIntoAPrivateViewNeverWritesTheImageFile()
    {
        using var img = new TestImage().Populate();
        img.File(TestImage.Root, "late");
        using var crash = img.CrashCopy();
        string dir = Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath();
        string path = Path.Combine(dir, $"pmemfs-check-test-{Environment.ProcessId}-{Guid.NewGuid():N}.img");
        try
        {
            using (var file = PmemMedia.Create(path, crash.Media.Size))
            {
                file.Write(0, crash.Media.Read(0, checked((int)crash.Media.Size)));
                file.Persist(0, file.Size);
            }
            byte[] before = SHA256.HashData(File.ReadAllBytes(path));

            FsckReport report;
            using (var view = PmemMedia.Open(path, readOnly: true))
                report = Fsck.Check(view, new FsckOptions());

            ReportAssert.Clean(report);
            Assert.True(report.Stats.TransactionsReplayed > 0);
            Assert.Equal(before, SHA256.HashData(File.ReadAllBytes(path)));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void SharedWritableMappingOfTheImageIsNeverWritten()
    {
        using var img = new TestImage().Populate();
        img.File(TestImage.Root, "late");
        using var crash = img.CrashCopy();
        string dir = Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath();
        string path = Path.Combine(dir, $"pmemfs-check-test-{Environment.ProcessId}-{Guid.NewGuid():N}.img");
        try
        {
            using (var file = PmemMedia.Create(path, crash.Media.Size))
            {
                file.Write(0, crash.Media.Read(0, checked((int)crash.Media.Size)));
                file.Persist(0, file.Size);
            }
            byte[] before = SHA256.HashData(File.ReadAllBytes(path));

            FsckReport report;
            using (var shared = PmemMedia.Open(path)) // a caller's mistake: not a private view
            {
                Assert.False(shared.IsPrivateCopy);
                report = Fsck.Check(shared, new FsckOptions());
            }

            ReportAssert.Clean(report);
            Assert.True(report.Stats.TransactionsReplayed > 0);
            Assert.Equal(before, SHA256.HashData(File.ReadAllBytes(path)));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void MediaThatIsNotAKnownPrivateCopyGetsAnOverlayAndIsNeverStoredInto()
    {
        using var img = new TestImage().Populate();
        ulong late = img.File(TestImage.Root, "late");
        img.Write(late, 0, TestImage.Pattern(5000, 3));
        using var crash = img.CrashCopy();
        // Damage that only replay repairs, so the overlay must really hold the replayed stores.
        crash.DirentBytes(crash.DirentSlot(TestImage.Root, "late")).Clear();
        crash.SetBit(crash.Extents(late)[0].Rec.PhysBlock, false);
        byte[] before = SHA256.HashData(crash.Media.Read(0, checked((int)crash.Media.Size)));

        using var decorated = new FaultInjectingMedia(crash.Media, ownsInner: false);
        var report = Fsck.Check(decorated, new FsckOptions());

        ReportAssert.Clean(report);
        Assert.True(report.Stats.TransactionsReplayed > 0);
        Assert.Contains(report.Notes, n => n.Contains("replayed into memory only", StringComparison.Ordinal));
        Assert.Equal(before, SHA256.HashData(crash.Media.Read(0, checked((int)crash.Media.Size))));
    }

    [Fact]
    public void OneBadHeaderSlotIsANoteButBothAreAProblem()
    {
        using var img = new TestImage().Populate().Unmount();
        var g = img.G;
        var header = img.Media.RawBytes(g.JournalHeaderOffset, 2 * DiskJournalHeader.Size);
        header[10] ^= 0x40; // slot 0
        var one = img.Check();
        ReportAssert.Clean(one);
        Assert.Contains(one.Notes, n => n.Contains("journal: header slot 0", StringComparison.Ordinal));

        header[DiskJournalHeader.Size + 10] ^= 0x40; // slot 1
        var both = img.Check();
        ReportAssert.Has(both, "journal", "header unreadable");
        Assert.Equal(20, both.Stats.Inodes); // the tables are still checked
    }

    [Fact]
    public void CommittedTransactionThatWritesOutsideTheTablesIsAReplayProblem()
    {
        using var img = new TestImage().Unmount();
        var sb = ImageReader.ReadSuperblock(img.Media, "t").Superblock;
        var header = Header(img.Media, sb.Geometry);
        var tx = new LogTransaction();
        tx.Write(0, new byte[64]); // over the primary superblock
        AppendCommitted(img.Media, sb, header.TailSeq, header.TailOffset, tx);

        var report = img.Check();
        ReportAssert.Has(report, "journal", "outside the metadata tables");
        Assert.True(DiskSuperblock.HasMagic(img.Media.Read(0, DiskSuperblock.Size)));
    }
}
