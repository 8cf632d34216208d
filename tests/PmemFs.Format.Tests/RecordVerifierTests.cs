using static PmemFs.Format.Tests.TestSupport;

namespace PmemFs.Format.Tests;

/// <summary>
/// Every verifier tells an all-zero slot (Empty), a flipped bit (BadChecksum) and a resealed
/// impossible field (Corrupt, with a problem naming it) apart.
/// </summary>
public class RecordVerifierTests
{
    private static void AssertCorrupt(VerifyResult v, params string[] mentions)
    {
        Assert.Equal(Verdict.Corrupt, v.Verdict);
        Assert.False(string.IsNullOrWhiteSpace(v.Problem));
        foreach (var m in mentions) Assert.Contains(m, v.Problem, StringComparison.OrdinalIgnoreCase);
    }

    private static void AssertBadChecksum(VerifyResult v)
    {
        Assert.Equal(Verdict.BadChecksum, v.Verdict);
        Assert.Contains("checksum", v.Problem, StringComparison.OrdinalIgnoreCase);
    }

    // ---------------- superblock ----------------

    private static byte[] SuperblockImage()
    {
        var buf = new byte[DiskSuperblock.Size];
        DiskSuperblock.Encode(new Superblock
        {
            Geometry = Geometry.Compute(64 * MiB),
            Uuid = Guid.NewGuid(),
            CreatedNs = 1,
            JournalSalt = 3,
            Label = "x",
        }, buf);
        return buf;
    }

    [Fact]
    public void AllZeroSuperblockIsEmpty()
    {
        Assert.Equal(Verdict.Empty, DiskSuperblock.VerifyRead(new byte[DiskSuperblock.Size], out var sb).Verdict);
        Assert.Null(sb);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(5)]
    [InlineData(20)]
    [InlineData(100)]
    [InlineData(200)]
    [InlineData(511)]
    public void FlippedSuperblockByteIsABadChecksum(int offset)
    {
        AssertBadChecksum(DiskSuperblock.VerifyRead(Flip(SuperblockImage(), offset), out var sb));
        Assert.Null(sb);
    }

    [Fact]
    public void SuperblockWithoutTheMagicIsCorruptNotAChecksumError()
    {
        AssertCorrupt(DiskSuperblock.VerifyRead(Flip(SuperblockImage(), 9), out _), "magic");
    }

    [Fact]
    public void SuperblockOfAnotherVersionIsCorrupt()
    {
        foreach (uint version in new uint[] { 0, FormatConstants.FormatVersion + 1 })
        {
            var bad = Forge(SuperblockImage(), b => PutU32(b, 4, version));
            AssertCorrupt(DiskSuperblock.VerifyRead(bad, out var sb), $"version {version}");
            Assert.Null(sb);
        }
    }

    [Fact]
    public void SuperblockOfVersion1IsReadAsVersion1()
    {
        var old = Forge(SuperblockImage(), b => PutU32(b, 4, 1));
        Assert.True(DiskSuperblock.VerifyRead(old, out var sb).IsOk);
        Assert.Equal(1u, sb!.Version);
    }

    [Fact]
    public void SuperblockWithUnknownFeatureFlagsIsCorrupt()
    {
        var bad = Forge(SuperblockImage(), b => PutU32(b, 28, 0x10));
        AssertCorrupt(DiskSuperblock.VerifyRead(bad, out _), "feature");
    }

    [Fact]
    public void SuperblockWithAnotherBlockSizeIsCorrupt()
    {
        var bad = Forge(SuperblockImage(), b => PutU32(b, 24, 8192));
        AssertCorrupt(DiskSuperblock.VerifyRead(bad, out _), "block size");
    }

    [Theory]
    [InlineData(16)]  // region size
    [InlineData(72)]  // journal blocks
    [InlineData(88)]  // bitmap blocks
    [InlineData(104)] // inode count
    [InlineData(120)] // dirent count
    [InlineData(136)] // extent count
    [InlineData(152)] // rmap count
    [InlineData(160)] // data start
    public void SuperblockWithANegativeSizeOrCountIsCorrupt(int offset)
    {
        var bad = Forge(SuperblockImage(), b => PutI64(b, offset, -4096));
        AssertCorrupt(DiskSuperblock.VerifyRead(bad, out _), "impossible");
    }

    [Fact]
    public void SuperblockWithAnAbsurdRegionSizeIsCorrupt()
    {
        var bad = Forge(SuperblockImage(), b => PutI64(b, 16, (1L << 56) + 4096));
        AssertCorrupt(DiskSuperblock.VerifyRead(bad, out _));
    }

    [Fact]
    public void SuperblockWhoseDirentTableOverlapsTheInodeTableIsCorrupt()
    {
        var bad = Forge(SuperblockImage(), b => PutI64(b, 112, I64(b, 96) + 1));
        AssertCorrupt(DiskSuperblock.VerifyRead(bad, out _), "geometry", "dirent table");
    }

    [Fact]
    public void SuperblockWhoseDataAreaOverlapsTheRmapTableIsCorrupt()
    {
        var bad = Forge(SuperblockImage(), b =>
        {
            long dataStart = I64(b, 144) + 1; // one block after the rmap table start
            long blocks = I64(b, 32);
            PutI64(b, 160, dataStart);
            PutI64(b, 168, blocks - 1 - dataStart);
        });
        AssertCorrupt(DiskSuperblock.VerifyRead(bad, out _), "geometry", "overlaps the rmap table");
    }

    [Fact]
    public void SuperblockWhoseInodeCountOutgrowsItsTableIsCorrupt()
    {
        // More inodes than the blocks between the inode and dirent tables can hold: the tables overlap.
        var bad = Forge(SuperblockImage(), b => PutI64(b, 104, I64(b, 104) * 2));
        AssertCorrupt(DiskSuperblock.VerifyRead(bad, out _), "geometry");
    }

    [Fact]
    public void SuperblockWithoutJournalAtBlock1IsCorrupt()
    {
        var bad = Forge(SuperblockImage(), b => PutI64(b, 64, 2));
        AssertCorrupt(DiskSuperblock.VerifyRead(bad, out _), "journal");
    }

    [Fact]
    public void SuperblockWhoseBlockCountDisagreesWithTheRegionSizeIsCorrupt()
    {
        var bad = Forge(SuperblockImage(), b => PutI64(b, 32, I64(b, 32) + 1));
        AssertCorrupt(DiskSuperblock.VerifyRead(bad, out _), "block count");
    }

    [Fact]
    public void SuperblockWhoseDataBlockCountDisagreesIsCorrupt()
    {
        var bad = Forge(SuperblockImage(), b => PutI64(b, 168, I64(b, 168) - 1));
        AssertCorrupt(DiskSuperblock.VerifyRead(bad, out _), "data block count");
    }

    [Fact]
    public void SuperblockWithAnotherRootInodeIsCorrupt()
    {
        var bad = Forge(SuperblockImage(), b => PutU64(b, 176, 2));
        AssertCorrupt(DiskSuperblock.VerifyRead(bad, out _), "root");
    }

    // ---------------- inode ----------------

    private static byte[] GoodInode(ulong ino = 5) => InodeImage(ino, size: 100);

    [Fact]
    public void AllZeroInodeSlotIsEmpty()
    {
        Assert.Equal(Verdict.Empty, DiskInode.VerifyRead(new byte[DiskInode.Size], 1, out _).Verdict);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(8)]
    [InlineData(48)]
    [InlineData(200)]
    [InlineData(255)]
    public void FlippedInodeByteIsABadChecksum(int offset)
    {
        AssertBadChecksum(DiskInode.VerifyRead(Flip(GoodInode(), offset), 5, out _));
    }

    [Fact]
    public void InodeWithAWrongMagicIsCorrupt()
    {
        AssertCorrupt(DiskInode.VerifyRead(Forge(GoodInode(), b => PutU16(b, 4, 0x4E4A)), 5, out _), "magic");
    }

    [Fact]
    public void InodeWithAnUnknownRecordVersionIsCorrupt()
    {
        AssertCorrupt(DiskInode.VerifyRead(Forge(GoodInode(), b => PutU16(b, 6, 2)), 5, out _), "version");
    }

    [Fact]
    public void InodeWhoseNumberIsNotSlotPlusOneIsCorrupt()
    {
        var v = DiskInode.VerifyRead(GoodInode(5), 6, out _);
        AssertCorrupt(v, "inode 6", "5");
    }

    [Fact]
    public void FreeInodeWhoseNumberIsNotSlotPlusOneIsCorrupt()
    {
        var buf = new byte[DiskInode.Size];
        DiskInode.Seal(new InodeRecord { Ino = 9, Generation = 2 }, buf);
        AssertCorrupt(DiskInode.VerifyRead(buf, 8, out _), "9");
    }

    [Theory]
    [InlineData(0x0000u | 0x1A4u)] // permission bits but no type
    [InlineData(0x3000u)]
    [InlineData(0x5000u)]
    [InlineData(0x7000u)]
    [InlineData(0x9000u)]
    [InlineData(0xE000u)]
    [InlineData(0xF000u)]
    public void InodeWithAnInvalidFileTypeIsCorrupt(uint mode)
    {
        var bad = Forge(GoodInode(), b => PutU32(b, 20, mode));
        AssertCorrupt(DiskInode.VerifyRead(bad, 5, out _), "file type");
    }

    [Theory]
    [InlineData(1ul << 7)]
    [InlineData(1ul << 63)]
    [InlineData(0x100ul | (ulong)InodeFlags.Dax)]
    public void InodeWithUnknownFlagBitsIsCorrupt(ulong flags)
    {
        var bad = Forge(GoodInode(), b => PutU64(b, 40, flags));
        AssertCorrupt(DiskInode.VerifyRead(bad, 5, out _), "flag");
    }

    [Theory]
    [InlineData(-1L)]
    [InlineData(long.MinValue)]
    [InlineData(FormatConstants.MaxFileSize + 1)]
    public void InodeWithAnImpossibleSizeIsCorrupt(long size)
    {
        var bad = Forge(GoodInode(), b => PutI64(b, 48, size));
        AssertCorrupt(DiskInode.VerifyRead(bad, 5, out _), "size");
    }

    [Theory]
    [InlineData(0L)]
    [InlineData(4096L)]
    [InlineData(-3L)]
    public void SymlinkOfImpossibleLengthIsCorrupt(long size)
    {
        var bad = InodeImage(5, FileTypes.Symlink | 0x1FF, size);
        var v = DiskInode.VerifyRead(bad, 5, out _);
        AssertCorrupt(v);
        Assert.True(v.Problem!.Contains("symlink", StringComparison.Ordinal) || v.Problem.Contains("size", StringComparison.Ordinal), v.Problem);
    }

    [Theory]
    [InlineData(100L, 0u, 0u)]       // block without blocks
    [InlineData(0L, 0u, 1u)]         // blocks without block
    [InlineData(0L, 10u, 0u)]        // length without blob
    [InlineData(100L, 4097u, 1u)]    // length beyond the blocks
    [InlineData(-100L, 10u, 1u)]     // negative block
    [InlineData(100L, 69633u, 18u)]  // more than MaxXattrTotal
    public void InodeWithInconsistentXattrFieldsIsCorrupt(long block, uint length, uint blocks)
    {
        var bad = Forge(GoodInode(), b =>
        {
            PutI64(b, 96, block);
            PutU32(b, 104, length);
            PutU32(b, 108, blocks);
        });
        AssertCorrupt(DiskInode.VerifyRead(bad, 5, out _), "xattr");
    }

    [Theory]
    [InlineData(FileTypes.Directory)]
    [InlineData(FileTypes.Symlink)]
    [InlineData(FileTypes.Fifo)]
    public void PendingTrimOnANonRegularInodeIsCorrupt(uint type)
    {
        var bad = Forge(InodeImage(5, type | 0x1ED, 10), b => PutI64(b, 112, 3));
        AssertCorrupt(DiskInode.VerifyRead(bad, 5, out _), "pending trim");
    }

    [Fact]
    public void NegativePendingTrimIsCorrupt()
    {
        var bad = Forge(GoodInode(), b => PutI64(b, 112, -1));
        AssertCorrupt(DiskInode.VerifyRead(bad, 5, out _), "pending trim");
    }

    [Fact]
    public void PendingTrimOnARegularFileIsOk()
    {
        var ok = Forge(GoodInode(), b => PutI64(b, 112, 1));
        Assert.Equal(Verdict.Ok, DiskInode.VerifyRead(ok, 5, out var r).Verdict);
        Assert.Equal(1, r.PendingTrim);
    }

    // ---------------- dirent ----------------

    private static byte[] GoodDirent(string name = "file")
    {
        var buf = new byte[DiskDirent.Size];
        DiskDirent.Seal(new DirentRecord(1, 2, 8, N(name)), buf);
        return buf;
    }

    [Fact]
    public void AllZeroDirentSlotIsEmpty()
    {
        Assert.Equal(Verdict.Empty, DiskDirent.VerifyRead(new byte[DiskDirent.Size], 0, out _).Verdict);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(6)]
    [InlineData(16)]
    [InlineData(33)]
    [InlineData(287)]
    public void FlippedDirentByteIsABadChecksum(int offset)
    {
        AssertBadChecksum(DiskDirent.VerifyRead(Flip(GoodDirent(), offset), 0, out _));
    }

    [Fact]
    public void DirentWithAWrongMagicIsCorrupt()
    {
        AssertCorrupt(DiskDirent.VerifyRead(Forge(GoodDirent(), b => b[4] = 0), 0, out _), "magic");
    }

    [Theory]
    [InlineData("a/b")]
    [InlineData("/")]
    [InlineData(".")]
    [InlineData("..")]
    [InlineData("a\0b")]
    public void DirentWithAForbiddenNameIsCorrupt(string name)
    {
        var bytes = N(name);
        var bad = Forge(GoodDirent("zzz"), b =>
        {
            b.AsSpan(32).Clear();
            bytes.CopyTo(b, 32);
            b[6] = (byte)bytes.Length;
        });
        AssertCorrupt(DiskDirent.VerifyRead(bad, 4, out _), "slot 4", "name");
    }

    [Theory]
    [InlineData("a/b")]
    [InlineData(".")]
    [InlineData("..")]
    [InlineData("")]
    public void DirentSealRefusesAForbiddenName(string name)
    {
        var buf = new byte[DiskDirent.Size];
        Assert.Throws<ArgumentException>(() => DiskDirent.Seal(new DirentRecord(1, 2, 8, N(name)), buf));
    }

    [Fact]
    public void DirentWithAZeroLengthNameIsCorrupt()
    {
        var bad = Forge(GoodDirent("a"), b => { b[6] = 0; b[32] = 0; });
        AssertCorrupt(DiskDirent.VerifyRead(bad, 0, out _), "empty name");
    }

    [Fact]
    public void DirentWithBytesAfterTheNameIsCorrupt()
    {
        var bad = Forge(GoodDirent("abc"), b => b[287] = (byte)'x');
        AssertCorrupt(DiskDirent.VerifyRead(bad, 0, out _), "after the name");
        var shortened = Forge(GoodDirent("abc"), b => b[6] = 2); // "ab" then a stray 'c'
        AssertCorrupt(DiskDirent.VerifyRead(shortened, 0, out _), "after the name");
    }

    [Theory]
    [InlineData(8)]
    [InlineData(16)]
    public void DirentWithANullInodeIsCorrupt(int offset)
    {
        var bad = Forge(GoodDirent(), b => PutU64(b, offset, 0));
        AssertCorrupt(DiskDirent.VerifyRead(bad, 0, out _), "inode");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(9)]
    [InlineData(15)]
    public void DirentWithAnInvalidTypeIsCorrupt(byte type)
    {
        var bad = Forge(GoodDirent(), b => b[7] = type);
        AssertCorrupt(DiskDirent.VerifyRead(bad, 0, out _), "type");
    }

    // ---------------- extent ----------------

    private static byte[] GoodExtent()
    {
        var buf = new byte[DiskExtent.Size];
        DiskExtent.Seal(new ExtentRecord(5, 0, 600, 10, ExtentState.Written), buf);
        return buf;
    }

    [Fact]
    public void AllZeroExtentSlotIsEmpty()
    {
        Assert.Equal(Verdict.Empty, DiskExtent.VerifyRead(new byte[DiskExtent.Size], 0, out _).Verdict);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    [InlineData(24)]
    [InlineData(47)]
    public void FlippedExtentByteIsABadChecksum(int offset)
    {
        AssertBadChecksum(DiskExtent.VerifyRead(Flip(GoodExtent(), offset), 0, out _));
    }

    [Fact]
    public void ExtentWithAWrongMagicIsCorrupt()
    {
        AssertCorrupt(DiskExtent.VerifyRead(Forge(GoodExtent(), b => PutU16(b, 4, DiskRmap.Magic)), 0, out _), "magic");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(255)]
    public void ExtentWithABadStateIsCorrupt(byte state)
    {
        var bad = Forge(GoodExtent(), b => b[6] = state);
        AssertCorrupt(DiskExtent.VerifyRead(bad, 7, out _), "extent slot 7", "state");
    }

    [Fact]
    public void ExtentWithFlagsIsCorrupt()
    {
        AssertCorrupt(DiskExtent.VerifyRead(Forge(GoodExtent(), b => b[7] = 1), 0, out _), "flags");
    }

    [Fact]
    public void ExtentWithoutOwnerIsCorrupt()
    {
        AssertCorrupt(DiskExtent.VerifyRead(Forge(GoodExtent(), b => PutU64(b, 8, 0)), 0, out _), "owner");
    }

    [Theory]
    [InlineData(32, 0L)]          // zero count
    [InlineData(32, -1L)]         // negative count
    [InlineData(24, -600L)]       // negative physical
    [InlineData(24, 0L)]          // physical 0 is the superblock
    [InlineData(16, -1L)]         // negative file block
    [InlineData(16, 1L << 40)]    // ends past 2^40 file blocks
    public void ExtentWithAnImpossibleRangeIsCorrupt(int offset, long value)
    {
        var bad = Forge(GoodExtent(), b => PutI64(b, offset, value));
        AssertCorrupt(DiskExtent.VerifyRead(bad, 0, out _), "range");
    }

    [Fact]
    public void ExtentEndingExactlyAtTheLargestFileBlockIsOk()
    {
        long limit = FormatConstants.MaxFileSize >> FormatConstants.BlockShift;
        var ok = Forge(GoodExtent(), b => PutI64(b, 16, limit - 10));
        Assert.Equal(Verdict.Ok, DiskExtent.VerifyRead(ok, 0, out _).Verdict);
        var over = Forge(GoodExtent(), b => PutI64(b, 16, limit - 9));
        AssertCorrupt(DiskExtent.VerifyRead(over, 0, out _), "range");
    }

    // ---------------- rmap ----------------

    private static byte[] GoodRmap(RmapOwnerKind kind = RmapOwnerKind.InodeData, ulong owner = 5)
    {
        var buf = new byte[DiskRmap.Size];
        DiskRmap.Seal(new RmapRecord(600, 10, kind, owner, 0), buf);
        return buf;
    }

    [Fact]
    public void AllZeroRmapSlotIsEmpty()
    {
        Assert.Equal(Verdict.Empty, DiskRmap.VerifyRead(new byte[DiskRmap.Size], 0, out _).Verdict);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    [InlineData(30)]
    [InlineData(47)]
    public void FlippedRmapByteIsABadChecksum(int offset)
    {
        AssertBadChecksum(DiskRmap.VerifyRead(Flip(GoodRmap(), offset), 0, out _));
    }

    [Fact]
    public void RmapWithAWrongMagicIsCorrupt()
    {
        AssertCorrupt(DiskRmap.VerifyRead(Forge(GoodRmap(), b => PutU16(b, 4, DiskExtent.Magic)), 0, out _), "magic");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(15)]
    [InlineData(23)]
    [InlineData(255)]
    public void RmapOfAnUnknownKindIsCorrupt(byte kind)
    {
        var bad = Forge(GoodRmap(), b => b[6] = kind);
        AssertCorrupt(DiskRmap.VerifyRead(bad, 2, out _), "rmap slot 2", "kind");
    }

    [Theory]
    [InlineData(RmapOwnerKind.Superblock)]
    [InlineData(RmapOwnerKind.Journal)]
    [InlineData(RmapOwnerKind.RmapTable)]
    public void MetadataRmapWithAnOwnerIsCorrupt(RmapOwnerKind kind)
    {
        AssertCorrupt(DiskRmap.VerifyRead(GoodRmap(kind, owner: 5), 0, out _), "owner");
    }

    [Theory]
    [InlineData(RmapOwnerKind.InodeData)]
    [InlineData(RmapOwnerKind.InodeXattr)]
    public void DataRmapWithoutAnOwnerIsCorrupt(RmapOwnerKind kind)
    {
        AssertCorrupt(DiskRmap.VerifyRead(GoodRmap(kind, owner: 0), 0, out _), "owner");
    }

    [Fact]
    public void RmapWithFlagsIsCorrupt()
    {
        AssertCorrupt(DiskRmap.VerifyRead(Forge(GoodRmap(), b => b[7] = 0x80), 0, out _), "flags");
    }

    [Theory]
    [InlineData(8, -1L)]   // negative physical
    [InlineData(16, 0L)]   // zero count
    [InlineData(16, -5L)]  // negative count
    [InlineData(32, -1L)]  // negative file block
    public void RmapWithAnImpossibleRangeIsCorrupt(int offset, long value)
    {
        var bad = Forge(GoodRmap(), b => PutI64(b, offset, value));
        AssertCorrupt(DiskRmap.VerifyRead(bad, 0, out _), "range");
    }

    // ---------------- journal header ----------------

    private const long LogBytes = 255 * 4096;

    private static byte[] GoodHeader(ulong gen = 1, ulong seq = 1, long offset = 0)
    {
        var buf = new byte[DiskJournalHeader.Size];
        DiskJournalHeader.Seal(new JournalHeader(gen, seq, offset), buf);
        return buf;
    }

    [Fact]
    public void AllZeroJournalHeaderSlotIsEmpty()
    {
        Assert.Equal(Verdict.Empty, DiskJournalHeader.VerifyRead(new byte[64], LogBytes, out _).Verdict);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(8)]
    [InlineData(24)]
    [InlineData(63)]
    public void FlippedJournalHeaderByteIsABadChecksum(int offset)
    {
        AssertBadChecksum(DiskJournalHeader.VerifyRead(Flip(GoodHeader(), offset), LogBytes, out _));
    }

    [Fact]
    public void JournalHeaderWithAWrongMagicIsCorrupt()
    {
        AssertCorrupt(DiskJournalHeader.VerifyRead(Forge(GoodHeader(), b => b[5] = 0), LogBytes, out _), "magic");
    }

    [Theory]
    [InlineData(1L)]
    [InlineData(63L)]
    [InlineData(100L)]
    [InlineData(-64L)]
    [InlineData(LogBytes)]
    [InlineData(LogBytes + 64)]
    public void JournalHeaderWithATailOffsetUnalignedOrOutsideTheLogIsCorrupt(long tail)
    {
        var v = DiskJournalHeader.VerifyRead(GoodHeader(offset: tail), LogBytes, out _);
        AssertCorrupt(v, "tail offset", tail.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public void JournalHeaderWithTheLastCacheLineAsTailIsOk()
    {
        Assert.Equal(Verdict.Ok, DiskJournalHeader.VerifyRead(GoodHeader(offset: LogBytes - 64), LogBytes, out var h).Verdict);
        Assert.Equal(LogBytes - 64, h.TailOffset);
    }

    [Fact]
    public void JournalHeaderWithSequenceZeroIsCorrupt()
    {
        AssertCorrupt(DiskJournalHeader.VerifyRead(GoodHeader(seq: 0), LogBytes, out _), "sequence 0");
    }

    // ---------------- xattr blob ----------------

    private static byte[] GoodBlob()
    {
        List<KeyValuePair<byte[], byte[]>> entries = [new(N("user.a"), N("1")), new(N("user.b"), N("22"))];
        var buf = new byte[DiskXattrBlob.EncodedLength(entries)];
        DiskXattrBlob.Seal(entries, buf);
        return buf;
    }

    [Fact]
    public void AllZeroXattrBlobIsCorruptBecauseAnInodePointsAtIt()
    {
        AssertCorrupt(DiskXattrBlob.VerifyRead(new byte[64], 9, out _), "inode 9", "blank");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(8)]
    [InlineData(20)]
    [InlineData(30)]
    public void FlippedXattrBlobByteIsABadChecksum(int offset)
    {
        var bad = Flip(GoodBlob(), offset);
        AssertBadChecksum(DiskXattrBlob.VerifyRead(bad, 9, out _));
    }

    [Fact]
    public void XattrBlobWithAWrongMagicIsCorrupt()
    {
        AssertCorrupt(DiskXattrBlob.VerifyRead(Forge(GoodBlob(), b => b[4] = (byte)'Y'), 9, out _), "magic");
    }

    [Fact]
    public void XattrBlobShorterThanItsHeaderIsCorrupt()
    {
        AssertCorrupt(DiskXattrBlob.VerifyRead(GoodBlob().AsSpan(0, 15), 9, out _), "header");
    }

    [Fact]
    public void XattrBlobWithARepeatedNameIsCorrupt()
    {
        // Seal refuses duplicates, so forge one: seal "user.a" and "user.b", then rename b to a.
        List<KeyValuePair<byte[], byte[]>> entries = [new(N("user.a"), N("1")), new(N("user.b"), N("2"))];
        var sealedBlob = new byte[DiskXattrBlob.EncodedLength(entries)];
        DiskXattrBlob.Seal(entries, sealedBlob);
        int second = 16 + 8 + 6 + 1; // header, first entry header, "user.a", "1"
        var buf = Forge(sealedBlob, b => b[second + 8 + 5] = (byte)'a');
        AssertCorrupt(DiskXattrBlob.VerifyRead(buf, 9, out _), "repeated");
    }

    [Fact]
    public void XattrBlobWithAnEmptyNameIsCorrupt()
    {
        var bad = Forge(GoodBlob(), b => b[16] = 0);
        AssertCorrupt(DiskXattrBlob.VerifyRead(bad, 9, out _), "lengths");
    }

    [Fact]
    public void XattrBlobWithAValueRunningPastTheBlobIsCorrupt()
    {
        var bad = Forge(GoodBlob(), b => PutU32(b, 20, 1000));
        AssertCorrupt(DiskXattrBlob.VerifyRead(bad, 9, out _), "lengths");
    }

    [Fact]
    public void XattrBlobWithAValueOver64KiBIsCorrupt()
    {
        // Seal refuses it, so forge one: seal a 64 KiB + 1 byte blob holding a 64 KiB value, then grow the length.
        List<KeyValuePair<byte[], byte[]>> entries = [new(N("user.big"), new byte[FormatConstants.MaxXattrValue])];
        var sealedBlob = new byte[DiskXattrBlob.EncodedLength(entries) + 1];
        DiskXattrBlob.Seal(entries, sealedBlob);
        var buf = Forge(sealedBlob, b => PutU32(b, 16 + 4, (uint)FormatConstants.MaxXattrValue + 1));
        AssertCorrupt(DiskXattrBlob.VerifyRead(buf, 9, out _), "lengths");
    }

    [Fact]
    public void XattrBlobWithMoreEntriesThanItHoldsIsCorrupt()
    {
        var bad = Forge(GoodBlob(), b => PutU32(b, 8, 3));
        AssertCorrupt(DiskXattrBlob.VerifyRead(bad, 9, out _), "past the blob");
    }

    [Fact]
    public void XattrBlobWithBytesAfterItsEntriesIsCorrupt()
    {
        var good = GoodBlob();
        var longer = new byte[good.Length + 8];
        good.CopyTo(longer, 0);
        longer[^1] = 1;
        Checksum.SealRecord(longer);
        AssertCorrupt(DiskXattrBlob.VerifyRead(longer, 9, out _), "length disagrees");
        var fewer = Forge(GoodBlob(), b => PutU32(b, 8, 1));
        AssertCorrupt(DiskXattrBlob.VerifyRead(fewer, 9, out _), "length disagrees");
    }
}
