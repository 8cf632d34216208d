using PmemFs.Media;
using static PmemFs.Format.Tests.TestSupport;

namespace PmemFs.Format.Tests;

public sealed class JournalReplayTests : IDisposable
{
    private readonly MemoryMedia _media;
    private readonly Superblock _sb;
    private readonly Geometry _g;

    public JournalReplayTests()
    {
        _media = Formatted(16 * MiB, out _sb);
        _g = _sb.Geometry;
    }

    public void Dispose() => _media.Dispose();

    private InodeRecord ReadInode(long slot)
    {
        Assert.Equal(Verdict.Ok, DiskInode.VerifyRead(_media.Read(_g.InodeOffset(slot), DiskInode.Size), Geometry.InoOfSlot(slot), out var r).Verdict);
        return r;
    }

    private LogTransaction InodeUpdate(long slot, long size)
    {
        var tx = new LogTransaction();
        tx.Write(_g.InodeOffset(slot), InodeImage(Geometry.InoOfSlot(slot), size: size));
        return tx;
    }

    private void Write(long offset, ulong seq, LogTransaction tx, bool commit = true) => WriteTransaction(_media, _sb, offset, seq, tx, commit);

    private byte[] MetadataSnapshot() => _media.Read(Geometry.BlockOffset(_g.BitmapStart), checked((int)Geometry.BlockOffset(_g.DataStart - _g.BitmapStart))).ToArray();

    [Fact]
    public void FreshImageReplaysNothing()
    {
        var before = MetadataSnapshot();
        var r = JournalReplay.Recover(_media, _sb);
        Assert.Null(r.Problem);
        Assert.Equal(0, r.Replayed);
        Assert.Equal(1ul, r.NextSeq);
        Assert.Equal(0, r.NextOffset);
        Assert.Equal(1ul, r.HeaderGeneration);
        Assert.Equal(before, MetadataSnapshot());
    }

    [Fact]
    public void CommittedTransactionsAtTheTailAreAppliedInOrder()
    {
        var t1 = InodeUpdate(1, 100);
        t1.SetBits(_g.DataStart, 5);
        var t2 = InodeUpdate(1, 200);
        t2.ClearBits(_g.DataStart + 1, 2);
        var t3 = InodeUpdate(2, 300);
        t3.Zero(_g.InodeOffset(1), DiskInode.Size);
        t3.Write(_g.InodeOffset(1), InodeImage(2, size: 400)); // same record again: the last image wins
        Write(0, 1, t1);
        Write(t1.EncodedLength, 2, t2);
        Write(t1.EncodedLength + t2.EncodedLength, 3, t3);

        var r = JournalReplay.Recover(_media, _sb);

        Assert.Null(r.Problem);
        Assert.Equal(3, r.Replayed);
        Assert.Equal(4ul, r.NextSeq);
        Assert.Equal(t1.EncodedLength + t2.EncodedLength + t3.EncodedLength, r.NextOffset);
        Assert.Equal(400, ReadInode(1).Size);
        Assert.Equal(300, ReadInode(2).Size);
        Assert.True(FreeSpaceBitmap.IsSet(_media, _g, _g.DataStart));
        Assert.False(FreeSpaceBitmap.IsSet(_media, _g, _g.DataStart + 1));
        Assert.False(FreeSpaceBitmap.IsSet(_media, _g, _g.DataStart + 2));
        Assert.True(FreeSpaceBitmap.IsSet(_media, _g, _g.DataStart + 3));
        Assert.True(FreeSpaceBitmap.IsSet(_media, _g, _g.DataStart + 4));
        Assert.False(FreeSpaceBitmap.IsSet(_media, _g, _g.DataStart + 5));
    }

    [Fact]
    public void TransactionWithoutCommitWordStopsReplay()
    {
        var t1 = InodeUpdate(1, 100);
        var t2 = InodeUpdate(1, 200);
        var t3 = InodeUpdate(1, 300);
        Write(0, 1, t1);
        Write(t1.EncodedLength, 2, t2, commit: false);
        Write(t1.EncodedLength + t2.EncodedLength, 3, t3);

        var r = JournalReplay.Recover(_media, _sb);

        Assert.Null(r.Problem);
        Assert.Equal(1, r.Replayed);
        Assert.Equal(2ul, r.NextSeq);
        Assert.Equal(t1.EncodedLength, r.NextOffset);
        Assert.Equal(100, ReadInode(1).Size);
    }

    [Fact]
    public void TransactionWithAnotherSequenceAtTheTailStopsReplay()
    {
        Write(0, 2, InodeUpdate(1, 100)); // the header expects sequence 1
        var r = JournalReplay.Recover(_media, _sb);
        Assert.Null(r.Problem);
        Assert.Equal(0, r.Replayed);
        Assert.Equal(1ul, r.NextSeq);
        Assert.Equal(0, r.NextOffset);
        Assert.True(_media.Read(_g.InodeOffset(1), DiskInode.Size).IndexOfAnyExcept((byte)0) < 0);
    }

    [Fact]
    public void TransactionCommittedUnderAnotherSaltIsIgnored()
    {
        var foreign = _sb with { JournalSalt = _sb.JournalSalt ^ 0x100 };
        WriteTransaction(_media, foreign, 0, 1, InodeUpdate(1, 100));
        Assert.Equal(0, JournalReplay.Recover(_media, _sb).Replayed);
    }

    [Fact]
    public void ReplayStartsAtTheTailTheNewestHeaderNames()
    {
        Write(0, 9, InodeUpdate(1, 900));                 // already checkpointed: before the tail
        Write(640, 10, InodeUpdate(1, 1000));
        var t11 = InodeUpdate(2, 1100);
        Write(640 + InodeUpdate(1, 0).EncodedLength, 11, t11);
        JournalReplay.WriteHeader(_media, _g, generation: 2, seq: 10, offset: 640);

        var r = JournalReplay.Recover(_media, _sb);

        Assert.Null(r.Problem);
        Assert.Equal(2ul, r.HeaderGeneration);
        Assert.Equal(2, r.Replayed);
        Assert.Equal(12ul, r.NextSeq);
        Assert.Equal(640 + InodeUpdate(1, 0).EncodedLength + t11.EncodedLength, r.NextOffset);
        Assert.Equal(1000, ReadInode(1).Size);
        Assert.Equal(1100, ReadInode(2).Size);
    }

    [Fact]
    public void TransactionThatDidNotFitAtTheEndIsFoundAtOffsetZero()
    {
        long tail = _g.LogBytes - 128;
        var t5 = InodeUpdate(1, 500);
        Assert.True(t5.EncodedLength > 128);
        var t6 = InodeUpdate(2, 600);
        // Stale bytes of an older lap at the tail: a committed transaction of an older sequence.
        var stale = new LogTransaction();
        Write(tail, 3, stale);
        Write(0, 5, t5);
        Write(t5.EncodedLength, 6, t6);
        JournalReplay.WriteHeader(_media, _g, generation: 2, seq: 5, offset: tail);

        var r = JournalReplay.Recover(_media, _sb);

        Assert.Null(r.Problem);
        Assert.Equal(2, r.Replayed);
        Assert.Equal(7ul, r.NextSeq);
        Assert.Equal(t5.EncodedLength + t6.EncodedLength, r.NextOffset);
        Assert.Equal(500, ReadInode(1).Size);
        Assert.Equal(600, ReadInode(2).Size);
    }

    [Fact]
    public void TransactionEndingExactlyAtTheEndOfTheLogWrapsToZero()
    {
        var t1 = InodeUpdate(1, 100);
        var t2 = InodeUpdate(2, 200);
        long tail = _g.LogBytes - t1.EncodedLength;
        Write(tail, 1, t1);
        Write(0, 2, t2);
        JournalReplay.WriteHeader(_media, _g, generation: 2, seq: 1, offset: tail);

        var r = JournalReplay.Recover(_media, _sb);

        Assert.Null(r.Problem);
        Assert.Equal(2, r.Replayed);
        Assert.Equal(3ul, r.NextSeq);
        Assert.Equal(t2.EncodedLength, r.NextOffset);
        Assert.Equal(100, ReadInode(1).Size);
        Assert.Equal(200, ReadInode(2).Size);
    }

    [Fact]
    public void ReplayEndingExactlyAtTheEndOfTheLogReportsOffsetZero()
    {
        var t1 = InodeUpdate(1, 100);
        long tail = _g.LogBytes - t1.EncodedLength;
        Write(tail, 1, t1);
        JournalReplay.WriteHeader(_media, _g, generation: 2, seq: 1, offset: tail);

        var r = JournalReplay.Recover(_media, _sb);

        Assert.Equal(1, r.Replayed);
        Assert.Equal(2ul, r.NextSeq);
        Assert.Equal(0, r.NextOffset);
    }

    [Fact]
    public void ReplayingTwiceIsIdempotent()
    {
        var t1 = InodeUpdate(1, 100);
        t1.SetBits(_g.DataStart, 70);
        var t2 = InodeUpdate(1, 200);
        t2.ClearBits(_g.DataStart + 10, 50);
        t2.Zero(_g.ExtentOffset(0), DiskExtent.Size);
        Write(0, 1, t1);
        Write(t1.EncodedLength, 2, t2);

        var first = JournalReplay.Recover(_media, _sb);
        var afterFirst = MetadataSnapshot();
        var second = JournalReplay.Recover(_media, _sb);

        Assert.Equal(first, second);
        Assert.Equal(afterFirst, MetadataSnapshot());
        Assert.Equal(200, ReadInode(1).Size);
    }

    [Fact]
    public void ReplayOverAPartlyAppliedLogGivesTheSameResult()
    {
        var t1 = InodeUpdate(1, 100);
        t1.SetBits(_g.DataStart, 8);
        var t2 = InodeUpdate(1, 200);
        t2.ClearBits(_g.DataStart, 4);
        Write(0, 1, t1);
        Write(t1.EncodedLength, 2, t2);
        using var clean = MemoryMedia.CopyOf(_media);

        // Apply t1 fully and t2 in part (only its bitmap change) before the "crash".
        Assert.True(LogTransaction.TryReadCommitted(_media.Read(_g.LogOffset, 4096), 1, _sb.JournalSalt, out var b1, out int e1, out _));
        Assert.Null(LogTransaction.Apply(b1, e1, _media, _g));
        FreeSpaceBitmap.ApplyRange(_media, _g, _g.DataStart, 4, set: false);

        JournalReplay.Recover(_media, _sb);
        JournalReplay.Recover(clean, _sb);

        Assert.Equal(clean.Read(0, checked((int)_media.Size)).ToArray(), _media.Read(0, checked((int)_media.Size)).ToArray());
    }

    [Fact]
    public void BothHeaderSlotsCorruptIsAProblem()
    {
        long slot1 = DiskJournalHeader.SlotOffset(_g, 1);
        _media.RawBytes(slot1 + 20, 1)[0] ^= 0xFF; // mkfs wrote only slot 1: break it
        var bad0 = new byte[DiskJournalHeader.Size];
        DiskJournalHeader.Seal(new JournalHeader(2, 5, 0), bad0);
        bad0[30] ^= 1;
        _media.Write(DiskJournalHeader.SlotOffset(_g, 0), bad0);
        Write(0, 1, InodeUpdate(1, 100));

        var r = JournalReplay.Recover(_media, _sb);

        Assert.NotNull(r.Problem);
        Assert.Contains("journal header unreadable", r.Problem, StringComparison.Ordinal);
        Assert.Contains("checksum", r.Problem, StringComparison.Ordinal);
        Assert.Equal(0, r.Replayed);
        Assert.True(_media.Read(_g.InodeOffset(1), DiskInode.Size).IndexOfAnyExcept((byte)0) < 0, "nothing replayed");
    }

    [Fact]
    public void OneCorruptHeaderSlotFallsBackToTheOther()
    {
        // A torn checkpoint: slot 0 (generation 2) is garbage, slot 1 (generation 1) still names the tail.
        var torn = new byte[DiskJournalHeader.Size];
        DiskJournalHeader.Seal(new JournalHeader(2, 7, 4096), torn);
        torn[8] ^= 4;
        _media.Write(DiskJournalHeader.SlotOffset(_g, 2), torn);
        Write(0, 1, InodeUpdate(1, 100));

        var r = JournalReplay.Recover(_media, _sb);

        Assert.Null(r.Problem);
        Assert.Equal(1ul, r.HeaderGeneration);
        Assert.Equal(1, r.Replayed);
    }

    [Fact]
    public void CommittedTransactionTargetingTheSuperblockStopsReplayWithAProblem()
    {
        var t1 = InodeUpdate(1, 100);
        var t2 = new LogTransaction();
        t2.Write(0, new byte[DiskSuperblock.Size]);
        Write(0, 1, t1);
        Write(t1.EncodedLength, 2, t2);

        var r = JournalReplay.Recover(_media, _sb);

        Assert.NotNull(r.Problem);
        Assert.Contains("journal transaction 2", r.Problem, StringComparison.Ordinal);
        Assert.Equal(1, r.Replayed);
        Assert.Equal(2ul, r.NextSeq);
        Assert.True(DiskSuperblock.HasMagic(_media.Read(0, DiskSuperblock.Size)), "the superblock was not overwritten");
    }

    // ---------------- ReadNewest ----------------

    private static byte[] HeaderBlock(JournalHeader? slot0, JournalHeader? slot1)
    {
        var block = new byte[4096];
        if (slot0 is { } h0) DiskJournalHeader.Seal(h0, block.AsSpan(0, 64));
        if (slot1 is { } h1) DiskJournalHeader.Seal(h1, block.AsSpan(64, 64));
        return block;
    }

    private const long LogBytes = 255 * 4096;

    [Fact]
    public void ReadNewestPicksTheHigherGeneration()
    {
        var a = DiskJournalHeader.ReadNewest(HeaderBlock(new(4, 40, 64), new(3, 30, 128)), LogBytes, out var p1);
        Assert.Equal(new JournalHeader(4, 40, 64), a);
        Assert.Null(p1);
        var b = DiskJournalHeader.ReadNewest(HeaderBlock(new(4, 40, 64), new(5, 50, 128)), LogBytes, out var p2);
        Assert.Equal(new JournalHeader(5, 50, 128), b);
        Assert.Null(p2);
    }

    [Fact]
    public void ReadNewestIgnoresASlotWhoseGenerationParityDoesNotMatchItsPosition()
    {
        // Slot 0 claims generation 7 (odd): it cannot have been written there, so slot 1 wins.
        var h = DiskJournalHeader.ReadNewest(HeaderBlock(new(7, 70, 0), new(3, 30, 128)), LogBytes, out _);
        Assert.Equal(new JournalHeader(3, 30, 128), h);
        // Slot 1 claims generation 8 (even).
        var h2 = DiskJournalHeader.ReadNewest(HeaderBlock(new(2, 20, 0), new(8, 80, 128)), LogBytes, out _);
        Assert.Equal(new JournalHeader(2, 20, 0), h2);
        // Both misplaced: no header at all.
        Assert.Null(DiskJournalHeader.ReadNewest(HeaderBlock(new(1, 10, 0), new(2, 20, 0)), LogBytes, out _));
    }

    [Fact]
    public void ReadNewestWithOneSlotEmptyUsesTheOther()
    {
        Assert.Equal(new JournalHeader(1, 1, 0), DiskJournalHeader.ReadNewest(HeaderBlock(null, new(1, 1, 0)), LogBytes, out var p));
        Assert.Null(p);
        Assert.Equal(new JournalHeader(6, 1, 0), DiskJournalHeader.ReadNewest(HeaderBlock(new(6, 1, 0), null), LogBytes, out _));
        Assert.Null(DiskJournalHeader.ReadNewest(new byte[128], LogBytes, out var none));
        Assert.Null(none);
    }

    [Fact]
    public void ReadNewestSkipsACorruptSlotAndReportsIt()
    {
        var block = HeaderBlock(new(10, 100, 0), new(9, 90, 64));
        block[10] ^= 1; // slot 0 checksum breaks
        var h = DiskJournalHeader.ReadNewest(block, LogBytes, out var problem);
        Assert.Equal(new JournalHeader(9, 90, 64), h);
        Assert.NotNull(problem);
        Assert.Contains("slot 0", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void ReadNewestRejectsAHeaderWhoseTailIsOutsideTheLog()
    {
        var h = DiskJournalHeader.ReadNewest(HeaderBlock(new(2, 5, LogBytes), new(1, 1, 0)), LogBytes, out var problem);
        Assert.Equal(new JournalHeader(1, 1, 0), h);
        Assert.Contains("tail offset", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void WriteHeaderWritesTheSlotOfItsGenerationOnly()
    {
        var slot1Before = _media.Read(DiskJournalHeader.SlotOffset(_g, 1), 64).ToArray();
        JournalReplay.WriteHeader(_media, _g, generation: 2, seq: 9, offset: 192);
        Assert.Equal(slot1Before, _media.Read(DiskJournalHeader.SlotOffset(_g, 1), 64).ToArray());
        Assert.Equal(Verdict.Ok, DiskJournalHeader.VerifyRead(_media.Read(_g.JournalHeaderOffset, 64), _g.LogBytes, out var h).Verdict);
        Assert.Equal(new JournalHeader(2, 9, 192), h);
        Assert.Equal(h, DiskJournalHeader.ReadNewest(_media.Read(_g.JournalHeaderOffset, 128), _g.LogBytes, out _));
    }
}
