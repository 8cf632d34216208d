using PmemFs.Media;
using static PmemFs.Format.Tests.TestSupport;

namespace PmemFs.Format.Tests;

public sealed class LogTransactionTests : IDisposable
{
    private const ulong Salt = 0x5A5A_0000_1234_5679;
    private readonly Geometry _g = Geometry.Compute(16 * MiB);
    private readonly MemoryMedia _media = new(16 * MiB);

    public void Dispose() => _media.Dispose();

    private static LogTransaction Sample()
    {
        var tx = new LogTransaction();
        tx.Write(1_100_000, Pattern(DiskInode.Size, 1));
        tx.Zero(1_200_000, DiskExtent.Size);
        tx.SetBits(600, 10);
        tx.ClearBits(700, 3);
        tx.Write(1_300_000, [1, 2, 3, 4, 5]); // payload padded to 8
        return tx;
    }

    private static byte[] Encode(LogTransaction tx, ulong seq, bool commit, ulong salt = Salt)
    {
        var buf = new byte[tx.EncodedLength];
        tx.EncodeUncommitted(seq, buf);
        if (commit) PutU64(buf, LogTransaction.CommitWordOffset, LogTransaction.CommitWord(seq, salt));
        return buf;
    }

    [Fact]
    public void ASecondImageOfARecordReplacesTheFirstUnlessSomethingTouchedItInBetween()
    {
        var tx = new LogTransaction();
        tx.Write(1_100_000, Pattern(DiskInode.Size, 1));
        tx.SetBits(600, 1);
        tx.Write(1_100_000, Pattern(DiskInode.Size, 2)); // replaces the first image: one entry
        Assert.Equal(2, tx.EntryCount);
        Assert.Equal(Pattern(DiskInode.Size, 2), tx.Body.Slice(16, DiskInode.Size).ToArray());

        tx.Zero(1_100_000 + 64, 64); // touches the record: a later image must follow the zero
        tx.Write(1_100_000, Pattern(DiskInode.Size, 3));
        Assert.Equal(4, tx.EntryCount);
        tx.Write(1_100_000 + 8, Pattern(8, 4)); // overlaps but is not the same range: appended
        Assert.Equal(5, tx.EntryCount);

        // Applied in order, the log gives the last image of each byte.
        Assert.Null(LogTransaction.Apply(tx.Body, tx.EntryCount, _media, _g));
        var expected = Pattern(DiskInode.Size, 3);
        Pattern(8, 4).CopyTo(expected.AsSpan(8));
        Assert.Equal(expected, _media.Read(1_100_000, DiskInode.Size).ToArray());
    }

    [Fact]
    public void CommittedTransactionReadsBackWithItsBodyAndEntryCount()
    {
        var tx = Sample();
        var buf = Encode(tx, 42, commit: true);

        Assert.True(LogTransaction.TryReadCommitted(buf, 42, Salt, out var body, out int entries, out int length));
        Assert.Equal(tx.Body.ToArray(), body.ToArray());
        Assert.Equal(5, entries);
        Assert.Equal(tx.EncodedLength, length);
        Assert.Equal(0, length % 64);
    }

    [Fact]
    public void CommittedTransactionIsFoundInsideALargerLogSlice()
    {
        var tx = Sample();
        var log = new byte[64 * 1024];
        Encode(tx, 7, commit: true).CopyTo(log, 0);
        Assert.True(LogTransaction.TryReadCommitted(log, 7, Salt, out _, out _, out int length));
        Assert.Equal(tx.EncodedLength, length);
    }

    [Fact]
    public void EmptyTransactionIsJustAHeader()
    {
        var tx = new LogTransaction();
        Assert.True(tx.IsEmpty);
        Assert.Equal(64, tx.EncodedLength);
        var buf = Encode(tx, 1, commit: true);
        Assert.True(LogTransaction.TryReadCommitted(buf, 1, Salt, out var body, out int entries, out int length));
        Assert.Equal(0, body.Length);
        Assert.Equal(0, entries);
        Assert.Equal(64, length);
    }

    [Fact]
    public void TransactionHeaderAndEntriesSitAtTheDocumentedOffsets()
    {
        var tx = new LogTransaction();
        tx.Write(0x1000_0000, [9, 8, 7, 6, 5]);
        tx.SetBits(33, 4);
        Assert.Equal(16 + 8 + 16, tx.BodyLength);
        var buf = Encode(tx, 0x0102_0304_0506_0708, commit: false);

        Assert.Equal(128, buf.Length);
        Assert.Equal("TX"u8.ToArray(), buf[4..6]);
        Assert.Equal(1, U16(buf, 6));
        Assert.Equal(0x0102_0304_0506_0708ul, U64(buf, 8));
        Assert.Equal(40u, U32(buf, 16));
        Assert.Equal(2u, U32(buf, 20));
        Assert.True(buf.AsSpan(24, 32).IndexOfAnyExcept((byte)0) < 0);
        Assert.Equal(0ul, U64(buf, 56)); // not committed yet
        uint crc = Checksum.Append(Checksum.Start, buf.AsSpan(4, 52));
        Assert.Equal(Checksum.Finish(Checksum.Append(crc, buf.AsSpan(64, 40))), U32(buf, 0));

        // entry 0: Write
        Assert.Equal((byte)LogEntryKind.Write, buf[64]);
        Assert.True(buf.AsSpan(65, 3).IndexOfAnyExcept((byte)0) < 0);
        Assert.Equal(5u, U32(buf, 68));
        Assert.Equal(0x1000_0000, I64(buf, 72));
        Assert.Equal(new byte[] { 9, 8, 7, 6, 5, 0, 0, 0 }, buf[80..88]);
        // entry 1: SetBits
        Assert.Equal((byte)LogEntryKind.SetBits, buf[88]);
        Assert.Equal(4u, U32(buf, 92));
        Assert.Equal(33, I64(buf, 96));
        Assert.True(buf.AsSpan(104).IndexOfAnyExcept((byte)0) < 0, "padding to the cache line is zero");
    }

    [Fact]
    public void CommitWordIsSequenceXorSalt()
    {
        Assert.Equal(5ul ^ Salt, LogTransaction.CommitWord(5, Salt));
    }

    [Fact]
    public void TransactionWithoutCommitWordIsNotCommitted()
    {
        Assert.False(LogTransaction.TryReadCommitted(Encode(Sample(), 3, commit: false), 3, Salt, out _, out _, out _));
    }

    [Fact]
    public void TransactionWithAnotherSequenceIsNotCommitted()
    {
        var buf = Encode(Sample(), 3, commit: true);
        Assert.False(LogTransaction.TryReadCommitted(buf, 4, Salt, out _, out _, out _));
        Assert.False(LogTransaction.TryReadCommitted(buf, 2, Salt, out _, out _, out _));
    }

    [Fact]
    public void TransactionCommittedUnderAnotherSaltIsNotCommitted()
    {
        var buf = Encode(Sample(), 3, commit: true, salt: Salt + 2);
        Assert.False(LogTransaction.TryReadCommitted(buf, 3, Salt, out _, out _, out _));
    }

    [Theory]
    [InlineData(0)]   // the checksum itself
    [InlineData(20)]  // entry count
    [InlineData(30)]  // reserved header bytes
    [InlineData(64)]  // first body byte
    [InlineData(100)] // inside a payload
    public void TransactionWithAFlippedByteIsNotCommitted(int offset)
    {
        var buf = Encode(Sample(), 3, commit: true);
        buf[offset] ^= 0x10;
        Assert.False(LogTransaction.TryReadCommitted(buf, 3, Salt, out _, out _, out _));
    }

    [Fact]
    public void FlippedLastBodyByteIsNotCommitted()
    {
        var tx = Sample();
        var buf = Encode(tx, 3, commit: true);
        buf[64 + tx.BodyLength - 1] ^= 1;
        Assert.False(LogTransaction.TryReadCommitted(buf, 3, Salt, out _, out _, out _));
    }

    [Fact]
    public void TransactionWhoseBodyLengthRunsPastTheLogIsNotCommitted()
    {
        var tx = Sample();
        var buf = Encode(tx, 3, commit: true);
        Assert.False(LogTransaction.TryReadCommitted(buf.AsSpan(0, 64 + tx.BodyLength - 8), 3, Salt, out _, out _, out _));
        Assert.False(LogTransaction.TryReadCommitted(buf.AsSpan(0, 63), 3, Salt, out _, out _, out _));
    }

    [Fact]
    public void TransactionWithAnotherVersionOrMagicIsNotCommitted()
    {
        var v2 = Encode(Sample(), 3, commit: true);
        PutU16(v2, 6, 2);
        Assert.False(LogTransaction.TryReadCommitted(v2, 3, Salt, out _, out _, out _));
        var magic = Encode(Sample(), 3, commit: true);
        magic[4] = 0;
        Assert.False(LogTransaction.TryReadCommitted(magic, 3, Salt, out _, out _, out _));
    }

    [Fact]
    public void BitRangeLongerThanInt32IsSplitIntoEntries()
    {
        var tx = new LogTransaction();
        tx.ClearBits(10, int.MaxValue + 5L);
        Assert.Equal(2, tx.EntryCount);
        var body = tx.Body;
        Assert.Equal((uint)int.MaxValue, U32(body, 4));
        Assert.Equal(10, I64(body, 8));
        Assert.Equal(5u, U32(body, 20));
        Assert.Equal(10 + (long)int.MaxValue, I64(body, 24));
        tx.Clear();
        Assert.True(tx.IsEmpty);
        Assert.Equal(0, tx.BodyLength);
    }

    // ---------------- Apply ----------------

    private string? Apply(LogTransaction tx)
    {
        var buf = Encode(tx, 1, commit: true);
        Assert.True(LogTransaction.TryReadCommitted(buf, 1, Salt, out var body, out int entries, out _));
        return LogTransaction.Apply(body, entries, _media, _g);
    }

    [Fact]
    public void ApplyWritesRecordImagesAndZeroesSlots()
    {
        var inode = InodeImage(3, size: 77);
        var dirent = new byte[DiskDirent.Size];
        DiskDirent.Seal(new DirentRecord(1, 3, 8, N("f")), dirent);
        _media.Fill(_g.ExtentOffset(2), DiskExtent.Size, 0xEE);
        _media.Fill(_g.RmapOffset(2), DiskRmap.Size + 1, 0xEE);

        var tx = new LogTransaction();
        tx.Write(_g.InodeOffset(2), inode);
        tx.Write(_g.DirentOffset(5), dirent);
        tx.Zero(_g.ExtentOffset(2), DiskExtent.Size);
        tx.Zero(_g.RmapOffset(2), DiskRmap.Size);
        Assert.Null(Apply(tx));

        Assert.Equal(inode, _media.Read(_g.InodeOffset(2), DiskInode.Size).ToArray());
        Assert.Equal(Verdict.Ok, DiskInode.VerifyRead(_media.Read(_g.InodeOffset(2), DiskInode.Size), 3, out var r).Verdict);
        Assert.Equal(77, r.Size);
        Assert.Equal(dirent, _media.Read(_g.DirentOffset(5), DiskDirent.Size).ToArray());
        Assert.True(_media.Read(_g.ExtentOffset(2), DiskExtent.Size).IndexOfAnyExcept((byte)0) < 0);
        Assert.True(_media.Read(_g.RmapOffset(2), DiskRmap.Size).IndexOfAnyExcept((byte)0) < 0);
        Assert.Equal(0xEE, _media.Read(_g.RmapOffset(3), 1)[0]); // the byte after the zeroed slot is untouched
    }

    [Fact]
    public void ApplyHandlesPayloadsThatAreNotAMultipleOf8()
    {
        var tx = new LogTransaction();
        tx.Write(_g.InodeOffset(0), [1, 2, 3, 4, 5]);
        tx.Write(_g.InodeOffset(1), [6, 7, 8, 9, 10, 11, 12, 13, 14]);
        tx.SetBits(1000, 1);
        Assert.Null(Apply(tx));
        Assert.Equal(new byte[] { 1, 2, 3, 4, 5, 0 }, _media.Read(_g.InodeOffset(0), 6).ToArray());
        Assert.Equal(new byte[] { 6, 7, 8, 9, 10, 11, 12, 13, 14, 0 }, _media.Read(_g.InodeOffset(1), 10).ToArray());
        Assert.True(FreeSpaceBitmap.IsSet(_media, _g, 1000));
    }

    private void AssertBits(Func<long, bool> expected, long upTo = 400)
    {
        for (long b = 0; b < upTo; b++) Assert.True(expected(b) == FreeSpaceBitmap.IsSet(_media, _g, b), $"block {b}");
    }

    [Fact]
    public void ApplySetsAndClearsBitRangesAcrossWordBoundaries()
    {
        // Neighbours that must survive.
        FreeSpaceBitmap.ApplyRange(_media, _g, 59, 1, set: true);
        FreeSpaceBitmap.ApplyRange(_media, _g, 131, 1, set: true);

        var set = new LogTransaction();
        set.SetBits(60, 71); // bits 60..130: three words
        Assert.Null(Apply(set));
        AssertBits(b => b is >= 59 and <= 131);
        long bitmap = Geometry.BlockOffset(_g.BitmapStart);
        Assert.Equal(0xF800_0000_0000_0000ul, _media.ReadUInt64(bitmap));
        Assert.Equal(ulong.MaxValue, _media.ReadUInt64(bitmap + 8));
        Assert.Equal(0xFul, _media.ReadUInt64(bitmap + 16));

        var clear = new LogTransaction();
        clear.ClearBits(62, 68); // bits 62..129
        Assert.Null(Apply(clear));
        AssertBits(b => b is 59 or 60 or 61 or 130 or 131);

        // Idempotent: applying again changes nothing.
        Assert.Null(Apply(clear));
        AssertBits(b => b is 59 or 60 or 61 or 130 or 131);
    }

    [Fact]
    public void ApplySetsTheLastBlockOfTheRegion()
    {
        var tx = new LogTransaction();
        tx.SetBits(_g.BlockCount - 1, 1);
        Assert.Null(Apply(tx));
        Assert.True(FreeSpaceBitmap.IsSet(_media, _g, _g.BlockCount - 1));
        Assert.False(FreeSpaceBitmap.IsSet(_media, _g, _g.BlockCount - 2));
    }

    [Fact]
    public void ApplyAcceptsTheFirstAndLastBytesOfTheRecordTables()
    {
        var tx = new LogTransaction();
        tx.Zero(_g.InodeTableStart * 4096, 8);
        tx.Write(_g.DataStart * 4096 - 48, Pattern(48, 2));
        Assert.Null(Apply(tx));
    }

    public static TheoryData<string, long, int> OutsideTheTables(Geometry g) => new()
    {
        { "superblock", 0, 512 },
        { "journal header", g.JournalHeaderOffset, 64 },
        { "journal log", g.LogOffset + 4096, 64 },
        { "bitmap", g.BitmapStart * 4096, 8 },
        { "just before the inode table", g.InodeTableStart * 4096 - 8, 16 },
        { "straddling into the data area", g.DataStart * 4096 - 8, 16 },
        { "data area", g.DataStart * 4096, 4096 },
        { "secondary superblock", (g.BlockCount - 1) * 4096, 512 },
        { "negative offset", -4096, 8 },
    };

    public static TheoryData<string, long, int> OutsideTheTables16MiB => OutsideTheTables(Geometry.Compute(16 * MiB));

    [Theory]
    [MemberData(nameof(OutsideTheTables16MiB))]
    public void ApplyRefusesAWriteOutsideTheRecordTables(string where, long offset, int length)
    {
        var before = _media.Read(0, 4096).ToArray();
        var tx = new LogTransaction();
        tx.Write(offset, Pattern(length, 3));
        var problem = Apply(tx);
        Assert.NotNull(problem);
        Assert.Contains("outside the metadata tables", problem, StringComparison.Ordinal);
        Assert.Equal(before, _media.Read(0, 4096).ToArray());
        Assert.False(string.IsNullOrEmpty(where));
    }

    [Theory]
    [MemberData(nameof(OutsideTheTables16MiB))]
    public void ApplyRefusesAZeroOutsideTheRecordTables(string where, long offset, int length)
    {
        var tx = new LogTransaction();
        tx.Zero(offset, length);
        Assert.Contains("outside the metadata tables", Apply(tx), StringComparison.Ordinal);
        Assert.False(string.IsNullOrEmpty(where));
    }

    [Theory]
    [InlineData(-1L, 2L)]
    [InlineData(-64L, 1L)]
    [InlineData(4095L, 2L)]
    [InlineData(4096L, 1L)]
    [InlineData(0L, 4097L)]
    [InlineData(4000L, 200L)]
    public void ApplyRefusesBitRangesOutsideTheRegion(long first, long count)
    {
        Assert.Equal(4096, _g.BlockCount);
        var set = new LogTransaction();
        set.SetBits(first, count);
        Assert.Contains("outside the region", Apply(set), StringComparison.Ordinal);
        var clear = new LogTransaction();
        clear.ClearBits(first, count);
        Assert.Contains("outside the region", Apply(clear), StringComparison.Ordinal);
        Assert.True(_media.Read(_g.BitmapStart * 4096, 4096).IndexOfAnyExcept((byte)0) < 0);
    }

    [Fact]
    public void ApplyRefusesAnUnknownEntryKind()
    {
        var body = new byte[16];
        body[0] = 9;
        PutI64(body, 8, _g.InodeTableStart * 4096);
        Assert.Contains("unknown kind 9", LogTransaction.Apply(body, 1, _media, _g), StringComparison.Ordinal);
    }

    [Fact]
    public void ApplyRefusesEntriesThatRunPastTheBody()
    {
        var tx = new LogTransaction();
        tx.Zero(_g.InodeOffset(0), 8);
        Assert.Contains("runs past the body", LogTransaction.Apply(tx.Body, 2, _media, _g), StringComparison.Ordinal);

        var write = new LogTransaction();
        write.Write(_g.InodeOffset(0), Pattern(256, 4));
        Assert.Contains("runs past the body", LogTransaction.Apply(write.Body[..100], 1, _media, _g), StringComparison.Ordinal);

        var huge = new byte[16];
        huge[0] = (byte)LogEntryKind.Write;
        PutU32(huge, 4, 0x8000_0000); // a length that is negative as an int
        PutI64(huge, 8, _g.InodeOffset(0));
        Assert.Contains("runs past the body", LogTransaction.Apply(huge, 1, _media, _g), StringComparison.Ordinal);
    }
}
