using System.Text;
using static PmemFs.Format.Tests.TestSupport;

namespace PmemFs.Format.Tests;

/// <summary>Every record type: Seal/Encode then VerifyRead gives back every field; sizes and offsets match docs/format.md.</summary>
public class RecordRoundTripTests
{
    private static Superblock SampleSuperblock(string label) => new()
    {
        Geometry = Geometry.Compute(64 * MiB),
        Uuid = new Guid("00112233-4455-6677-8899-aabbccddeeff"),
        CreatedNs = 1_700_000_000_123_456_789,
        JournalSalt = 0x0123_4567_89AB_CDEF,
        UnsafeShutdownCount = 42,
        Label = label,
    };

    [Theory]
    [InlineData("")]
    [InlineData("data")]
    [InlineData("étiquette ✓")]
    [InlineData("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")] // exactly 64 bytes, no NUL
    public void SuperblockRoundTripsEveryFieldIncludingLabelAndUuid(string label)
    {
        var sb = SampleSuperblock(label);
        var buf = new byte[DiskSuperblock.Size];
        DiskSuperblock.Encode(sb, buf);

        var v = DiskSuperblock.VerifyRead(buf, out var back);

        Assert.Equal(Verdict.Ok, v.Verdict);
        Assert.NotNull(back);
        Assert.Equal(sb, back); // record equality: geometry, uuid, times, salt, usc, label
        Assert.Equal(sb.Uuid, back.Uuid);
        Assert.Equal(label, back.Label);
        Assert.Equal(sb.Geometry, back.Geometry);
    }

    [Fact]
    public void SuperblockEncodeRefusesALabelLongerThan64Bytes()
    {
        var sb = SampleSuperblock(new string('x', 65));
        var buf = new byte[DiskSuperblock.Size];
        Assert.Throws<ArgumentException>(() => DiskSuperblock.Encode(sb, buf));
    }

    [Fact]
    public void SuperblockBytesSitAtTheDocumentedOffsets()
    {
        var sb = SampleSuperblock("lbl");
        var g = sb.Geometry;
        var buf = new byte[DiskSuperblock.Size];
        DiskSuperblock.Encode(sb, buf);

        Assert.Equal(512, DiskSuperblock.Size);
        Assert.Equal(Checksum.Crc32C(buf.AsSpan(4)), U32(buf, 0));
        Assert.Equal(FormatConstants.FormatVersion, U32(buf, 4));
        Assert.Equal(new byte[] { 0x50, 0x4D, 0x45, 0x4D, 0x46, 0x53, 0x00, 0x01 }, buf[8..16]);
        Assert.Equal(g.RegionSize, I64(buf, 16));
        Assert.Equal(4096u, U32(buf, 24));
        Assert.Equal(0u, U32(buf, 28));
        Assert.Equal(g.BlockCount, I64(buf, 32));
        Assert.Equal(sb.Uuid.ToByteArray(), buf[40..56]);
        Assert.Equal(sb.CreatedNs, I64(buf, 56));
        Assert.Equal(1, I64(buf, 64));
        Assert.Equal(g.JournalBlocks, I64(buf, 72));
        Assert.Equal(g.BitmapStart, I64(buf, 80));
        Assert.Equal(g.BitmapBlocks, I64(buf, 88));
        Assert.Equal(g.InodeTableStart, I64(buf, 96));
        Assert.Equal(g.InodeCount, I64(buf, 104));
        Assert.Equal(g.DirentTableStart, I64(buf, 112));
        Assert.Equal(g.DirentCount, I64(buf, 120));
        Assert.Equal(g.ExtentTableStart, I64(buf, 128));
        Assert.Equal(g.ExtentCount, I64(buf, 136));
        Assert.Equal(g.RmapTableStart, I64(buf, 144));
        Assert.Equal(g.RmapCount, I64(buf, 152));
        Assert.Equal(g.DataStart, I64(buf, 160));
        Assert.Equal(g.DataBlocks, I64(buf, 168));
        Assert.Equal(1ul, U64(buf, 176));
        Assert.Equal(42ul, U64(buf, 184));
        Assert.Equal(sb.JournalSalt, U64(buf, 192));
        Assert.Equal("lbl"u8.ToArray(), buf[200..203]);
        Assert.True(buf.AsSpan(203).IndexOfAnyExcept((byte)0) < 0, "label padding and bytes 264..511 are zero");
    }

    private static InodeRecord FullInode(ulong ino) => new()
    {
        Ino = ino,
        Generation = 0xDEAD_BEEF,
        Mode = FileTypes.Regular | 0x1A4,
        Uid = 1000,
        Gid = 1001,
        Nlink = 3,
        ProjectId = 77,
        Flags = (ulong)InodeFlags.Known,
        Size = FormatConstants.MaxFileSize,
        AtimeNs = -5,
        MtimeNs = 1_700_000_000_000_000_001,
        CtimeNs = 1_700_000_000_000_000_002,
        BtimeNs = 1_700_000_000_000_000_003,
        Rdev = 0x0102_0304_0506_0708,
        XattrBlock = 12345,
        XattrLength = FormatConstants.MaxXattrTotal,
        XattrBlocks = 17,
        PendingTrim = 987_654,
    };

    [Fact]
    public void InodeRoundTripsEveryFieldIncludingPendingTrim()
    {
        var r = FullInode(9);
        var buf = new byte[DiskInode.Size];
        DiskInode.Seal(r, buf);

        var v = DiskInode.VerifyRead(buf, 9, out var back);

        Assert.Equal(Verdict.Ok, v.Verdict);
        Assert.Equal(r, back);
        Assert.Equal(987_654, back.PendingTrim);
    }

    [Theory]
    [InlineData(FileTypes.Fifo)]
    [InlineData(FileTypes.CharDevice)]
    [InlineData(FileTypes.Directory)]
    [InlineData(FileTypes.BlockDevice)]
    [InlineData(FileTypes.Socket)]
    public void InodeOfEveryOtherFileTypeRoundTrips(uint type)
    {
        var r = FullInode(2) with { Mode = type | 0x1FF, PendingTrim = 0, Size = 4096 };
        var buf = new byte[DiskInode.Size];
        DiskInode.Seal(r, buf);
        Assert.Equal(Verdict.Ok, DiskInode.VerifyRead(buf, 2, out var back).Verdict);
        Assert.Equal(r, back);
    }

    [Fact]
    public void SymlinkInodeOfMaximumLengthRoundTrips()
    {
        var r = FullInode(3) with { Mode = FileTypes.Symlink | 0x1FF, Size = FormatConstants.MaxSymlinkLength, PendingTrim = 0 };
        var buf = new byte[DiskInode.Size];
        DiskInode.Seal(r, buf);
        Assert.Equal(Verdict.Ok, DiskInode.VerifyRead(buf, 3, out var back).Verdict);
        Assert.Equal(r, back);
    }

    [Fact]
    public void FreeInodeSlotThatKeepsItsGenerationIsOk()
    {
        var r = new InodeRecord { Ino = 4, Generation = 7 };
        var buf = new byte[DiskInode.Size];
        DiskInode.Seal(r, buf);
        Assert.Equal(Verdict.Ok, DiskInode.VerifyRead(buf, 4, out var back).Verdict);
        Assert.True(back.IsFree);
        Assert.Equal(7u, back.Generation);
    }

    [Fact]
    public void InodeBytesSitAtTheDocumentedOffsets()
    {
        var r = FullInode(9);
        var buf = new byte[DiskInode.Size];
        DiskInode.Seal(r, buf);

        Assert.Equal(256, DiskInode.Size);
        Assert.Equal(Checksum.Crc32C(buf.AsSpan(4)), U32(buf, 0));
        Assert.Equal(new byte[] { 0x49, 0x4E }, buf[4..6]); // "IN"
        Assert.Equal(1, U16(buf, 6));
        Assert.Equal(9ul, U64(buf, 8));
        Assert.Equal(r.Generation, U32(buf, 16));
        Assert.Equal(r.Mode, U32(buf, 20));
        Assert.Equal(r.Uid, U32(buf, 24));
        Assert.Equal(r.Gid, U32(buf, 28));
        Assert.Equal(r.Nlink, U32(buf, 32));
        Assert.Equal(r.ProjectId, U32(buf, 36));
        Assert.Equal(r.Flags, U64(buf, 40));
        Assert.Equal(r.Size, I64(buf, 48));
        Assert.Equal(r.AtimeNs, I64(buf, 56));
        Assert.Equal(r.MtimeNs, I64(buf, 64));
        Assert.Equal(r.CtimeNs, I64(buf, 72));
        Assert.Equal(r.BtimeNs, I64(buf, 80));
        Assert.Equal(r.Rdev, U64(buf, 88));
        Assert.Equal(r.XattrBlock, I64(buf, 96));
        Assert.Equal(r.XattrLength, U32(buf, 104));
        Assert.Equal(r.XattrBlocks, U32(buf, 108));
        Assert.Equal(r.PendingTrim, I64(buf, 112));
        Assert.True(buf.AsSpan(120).IndexOfAnyExcept((byte)0) < 0);
    }

    public static TheoryData<string> DirentNames => new()
    {
        "a",
        "hello.txt",
        "..." ,
        ".hidden",
        "ünïcødé",
    };

    [Theory]
    [MemberData(nameof(DirentNames))]
    public void DirentRoundTripsEveryField(string name)
    {
        var r = new DirentRecord(1, 0xFFFF_FFFF_0000_0001, FileTypes.ToDirentType(FileTypes.Regular), N(name));
        var buf = new byte[DiskDirent.Size];
        DiskDirent.Seal(r, buf);

        Assert.Equal(Verdict.Ok, DiskDirent.VerifyRead(buf, 5, out var back).Verdict);
        Assert.Equal(r.Parent, back.Parent);
        Assert.Equal(r.Child, back.Child);
        Assert.Equal(r.Type, back.Type);
        Assert.Equal(r.Name, back.Name);
    }

    [Fact]
    public void DirentRoundTripsABinaryNameOfEveryByteButSlashAndNul()
    {
        var name = Enumerable.Range(1, 255).Select(i => (byte)i).Where(b => b != (byte)'/').ToArray();
        var r = new DirentRecord(3, 4, FileTypes.ToDirentType(FileTypes.Directory), name);
        var buf = new byte[DiskDirent.Size];
        DiskDirent.Seal(r, buf);

        Assert.Equal(Verdict.Ok, DiskDirent.VerifyRead(buf, 0, out var back).Verdict);
        Assert.Equal(name, back.Name);
    }

    [Fact]
    public void DirentRoundTripsA255ByteName()
    {
        var name = Enumerable.Range(0, 255).Select(i => (byte)(0x80 + i % 0x7F)).ToArray();
        var r = new DirentRecord(1, 2, FileTypes.ToDirentType(FileTypes.Symlink), name);
        var buf = new byte[DiskDirent.Size];
        DiskDirent.Seal(r, buf);

        Assert.Equal(255, buf[6]);
        Assert.Equal(Verdict.Ok, DiskDirent.VerifyRead(buf, 0, out var back).Verdict);
        Assert.Equal(255, back.Name.Length);
        Assert.Equal(name, back.Name);
    }

    [Fact]
    public void DirentSealRefusesA256ByteName()
    {
        var r = new DirentRecord(1, 2, 8, new byte[256].Select(_ => (byte)'a').ToArray());
        var buf = new byte[DiskDirent.Size];
        Assert.Throws<ArgumentException>(() => DiskDirent.Seal(r, buf));
    }

    [Fact]
    public void DirentBytesSitAtTheDocumentedOffsets()
    {
        var r = new DirentRecord(0x1111, 0x2222, 10, N("link"));
        var buf = new byte[DiskDirent.Size];
        DiskDirent.Seal(r, buf);

        Assert.Equal(288, DiskDirent.Size);
        Assert.Equal(Checksum.Crc32C(buf.AsSpan(4)), U32(buf, 0));
        Assert.Equal("DE"u8.ToArray(), buf[4..6]);
        Assert.Equal(4, buf[6]);
        Assert.Equal(10, buf[7]);
        Assert.Equal(0x1111ul, U64(buf, 8));
        Assert.Equal(0x2222ul, U64(buf, 16));
        Assert.Equal(0ul, U64(buf, 24));
        Assert.Equal("link"u8.ToArray(), buf[32..36]);
        Assert.True(buf.AsSpan(36).IndexOfAnyExcept((byte)0) < 0);
    }

    [Theory]
    [InlineData(ExtentState.Written)]
    [InlineData(ExtentState.Unwritten)]
    public void ExtentRoundTripsEveryField(ExtentState state)
    {
        long maxFileBlocks = FormatConstants.MaxFileSize >> FormatConstants.BlockShift;
        var r = new ExtentRecord(0xABCDEF, maxFileBlocks - 1000, 1L << 40, 1000, state);
        var buf = new byte[DiskExtent.Size];
        DiskExtent.Seal(r, buf);

        Assert.Equal(Verdict.Ok, DiskExtent.VerifyRead(buf, 11, out var back).Verdict);
        Assert.Equal(r, back);
    }

    [Fact]
    public void ExtentBytesSitAtTheDocumentedOffsets()
    {
        var r = new ExtentRecord(7, 100, 600, 25, ExtentState.Unwritten);
        var buf = new byte[DiskExtent.Size];
        DiskExtent.Seal(r, buf);

        Assert.Equal(48, DiskExtent.Size);
        Assert.Equal(Checksum.Crc32C(buf.AsSpan(4)), U32(buf, 0));
        Assert.Equal("EX"u8.ToArray(), buf[4..6]);
        Assert.Equal(2, buf[6]);
        Assert.Equal(0, buf[7]);
        Assert.Equal(7ul, U64(buf, 8));
        Assert.Equal(100, I64(buf, 16));
        Assert.Equal(600, I64(buf, 24));
        Assert.Equal(25, I64(buf, 32));
        Assert.Equal(0ul, U64(buf, 40));
    }

    [Theory]
    [InlineData(RmapOwnerKind.InodeData, 5ul, 77L)]
    [InlineData(RmapOwnerKind.InodeXattr, 6ul, 0L)]
    [InlineData(RmapOwnerKind.Superblock, 0ul, 0L)]
    [InlineData(RmapOwnerKind.Journal, 0ul, 0L)]
    [InlineData(RmapOwnerKind.Bitmap, 0ul, 0L)]
    [InlineData(RmapOwnerKind.InodeTable, 0ul, 0L)]
    [InlineData(RmapOwnerKind.DirentTable, 0ul, 0L)]
    [InlineData(RmapOwnerKind.ExtentTable, 0ul, 0L)]
    [InlineData(RmapOwnerKind.RmapTable, 0ul, 0L)]
    public void RmapRoundTripsEveryField(RmapOwnerKind kind, ulong owner, long fileBlock)
    {
        var r = new RmapRecord(0, 12, kind, owner, fileBlock);
        var buf = new byte[DiskRmap.Size];
        DiskRmap.Seal(r, buf);

        Assert.Equal(Verdict.Ok, DiskRmap.VerifyRead(buf, 3, out var back).Verdict);
        Assert.Equal(r, back);
    }

    [Fact]
    public void RmapBytesSitAtTheDocumentedOffsets()
    {
        var r = new RmapRecord(600, 25, RmapOwnerKind.InodeData, 7, 100);
        var buf = new byte[DiskRmap.Size];
        DiskRmap.Seal(r, buf);

        Assert.Equal(48, DiskRmap.Size);
        Assert.Equal(Checksum.Crc32C(buf.AsSpan(4)), U32(buf, 0));
        Assert.Equal("RM"u8.ToArray(), buf[4..6]);
        Assert.Equal(1, buf[6]);
        Assert.Equal(0, buf[7]);
        Assert.Equal(600, I64(buf, 8));
        Assert.Equal(25, I64(buf, 16));
        Assert.Equal(7ul, U64(buf, 24));
        Assert.Equal(100, I64(buf, 32));
        Assert.Equal(0ul, U64(buf, 40));
    }

    [Fact]
    public void JournalHeaderRoundTripsEveryField()
    {
        var h = new JournalHeader(0xFFFF_FFFF_FFFF_FFF1, 0x8000_0000_0000_0001, 4096 * 255 - 64);
        var buf = new byte[DiskJournalHeader.Size];
        DiskJournalHeader.Seal(h, buf);

        Assert.Equal(Verdict.Ok, DiskJournalHeader.VerifyRead(buf, 4096 * 255, out var back).Verdict);
        Assert.Equal(h, back);
    }

    [Fact]
    public void JournalHeaderBytesSitAtTheDocumentedOffsets()
    {
        var h = new JournalHeader(3, 17, 640);
        var buf = new byte[DiskJournalHeader.Size];
        DiskJournalHeader.Seal(h, buf);

        Assert.Equal(64, DiskJournalHeader.Size);
        Assert.Equal(Checksum.Crc32C(buf.AsSpan(4)), U32(buf, 0));
        Assert.Equal("JH"u8.ToArray(), buf[4..6]);
        Assert.Equal(1, U16(buf, 6));
        Assert.Equal(3ul, U64(buf, 8));
        Assert.Equal(17ul, U64(buf, 16));
        Assert.Equal(640, I64(buf, 24));
        Assert.True(buf.AsSpan(32).IndexOfAnyExcept((byte)0) < 0);
    }

    [Fact]
    public void JournalHeaderSlotOfAGenerationIsItsParity()
    {
        var g = Geometry.Compute(16 * MiB);
        Assert.Equal(g.JournalHeaderOffset + 64, DiskJournalHeader.SlotOffset(g, 1));
        Assert.Equal(g.JournalHeaderOffset, DiskJournalHeader.SlotOffset(g, 2));
        Assert.Equal(4096, g.JournalHeaderOffset);
    }

    private static List<KeyValuePair<byte[], byte[]>> SampleXattrs() =>
    [
        new(N("user.empty"), []),
        new(N("user.small"), N("value")),
        new(N("security.selinux"), N("system_u:object_r:tmp_t:s0\0")),
        new(N("user.big"), Pattern(FormatConstants.MaxXattrValue, 1)),
        new(Enumerable.Repeat((byte)'n', 255).ToArray(), [0, 1, 2]),
    ];

    [Fact]
    public void XattrBlobRoundTripsSeveralEntriesIncludingEmptyAnd64KiBValues()
    {
        var entries = SampleXattrs();
        int length = DiskXattrBlob.EncodedLength(entries);
        var buf = new byte[length];
        DiskXattrBlob.Seal(entries, buf);

        var v = DiskXattrBlob.VerifyRead(buf, 12, out var back);

        Assert.Equal(Verdict.Ok, v.Verdict);
        Assert.Equal(entries.Count, back.Count);
        for (int i = 0; i < entries.Count; i++)
        {
            Assert.Equal(entries[i].Key, back[i].Key);
            Assert.Equal(entries[i].Value, back[i].Value);
        }
        Assert.Empty(back[0].Value);
        Assert.Equal(65536, back[3].Value.Length);
    }

    [Fact]
    public void XattrBlobWithNoEntriesRoundTrips()
    {
        var buf = new byte[DiskXattrBlob.EncodedLength([])];
        DiskXattrBlob.Seal([], buf);
        Assert.Equal(16, buf.Length);
        Assert.Equal(Verdict.Ok, DiskXattrBlob.VerifyRead(buf, 1, out var back).Verdict);
        Assert.Empty(back);
    }

    [Fact]
    public void XattrBlobBytesSitAtTheDocumentedOffsets()
    {
        List<KeyValuePair<byte[], byte[]>> entries = [new(N("user.a"), N("xyz")), new(N("user.bb"), [])];
        int length = DiskXattrBlob.EncodedLength(entries);
        Assert.Equal(16 + 8 + 6 + 3 + 8 + 7, length);
        // A blob sits in zeroed blocks: the rest of the buffer stays zero and outside the checksum.
        var buf = new byte[4096];
        DiskXattrBlob.Seal(entries, buf);

        Assert.Equal(Checksum.Crc32C(buf.AsSpan(4, length - 4)), U32(buf, 0));
        Assert.Equal("XA"u8.ToArray(), buf[4..6]);
        Assert.Equal(1, U16(buf, 6));
        Assert.Equal(2u, U32(buf, 8));
        Assert.Equal(0u, U32(buf, 12));
        Assert.Equal(6, buf[16]);
        Assert.Equal(0, buf[17]);
        Assert.Equal(0, U16(buf, 18));
        Assert.Equal(3u, U32(buf, 20));
        Assert.Equal("user.axyz"u8.ToArray(), buf[24..33]);
        Assert.Equal(7, buf[33]);
        Assert.Equal(0u, U32(buf, 37));
        Assert.Equal("user.bb"u8.ToArray(), buf[41..48]);
        Assert.True(buf.AsSpan(length).IndexOfAnyExcept((byte)0) < 0);
        Assert.Equal(Verdict.Ok, DiskXattrBlob.VerifyRead(buf.AsSpan(0, length), 1, out _).Verdict);
    }

    [Fact]
    public void RecordSizesMatchTheDocumentation()
    {
        Assert.Equal(512, DiskSuperblock.Size);
        Assert.Equal(256, DiskInode.Size);
        Assert.Equal(288, DiskDirent.Size);
        Assert.Equal(48, DiskExtent.Size);
        Assert.Equal(48, DiskRmap.Size);
        Assert.Equal(64, DiskJournalHeader.Size);
        Assert.Equal(64, LogTransaction.HeaderSize);
        Assert.Equal(56, LogTransaction.CommitWordOffset);
        Assert.Equal(4096, FormatConstants.BlockSize);
        Assert.Equal(Encoding.ASCII.GetBytes("PMEMFS\0\u0001"), DiskSuperblock.MagicBytes.ToArray());
    }
}
