using static PmemFs.Format.Tests.TestSupport;

namespace PmemFs.Format.Tests;

/// <summary>
/// Hostile inputs that once got through the format layer (found while writing these tests):
/// wrap-around geometry, xattr blobs of another version or with reserved bytes set, and
/// xattr entries that Seal cannot encode.
/// </summary>
public class FormatHardeningTests
{
    /// <summary>
    /// A resealed superblock whose journal is 2^62 blocks and bitmap 2^62 + 1 blocks: the bitmap
    /// check multiplies to 32768 (mod 2^64) and the inode table start wraps to -2^63 + 2, so
    /// every "follows" check holds and VerifyRead says Ok, with negative table starts and
    /// LogBytes = -4096.
    /// </summary>
    [Fact]
    public void SuperblockWhoseGeometryWrapsAroundIsCorrupt()
    {
        var buf = new byte[DiskSuperblock.Size];
        DiskSuperblock.Encode(new Superblock { Geometry = Geometry.Compute(16 * MiB), Uuid = Guid.NewGuid(), CreatedNs = 1, JournalSalt = 1 }, buf);
        var forged = Forge(buf, b =>
        {
            const long journal = 1L << 62, bitmap = (1L << 62) + 1;
            long inodes = unchecked(1 + journal + bitmap);
            PutI64(b, 72, journal);
            PutI64(b, 80, 1 + journal);
            PutI64(b, 88, bitmap);
            PutI64(b, 96, inodes);
            PutI64(b, 104, 16);
            PutI64(b, 112, inodes + 1);
            PutI64(b, 120, 16);
            PutI64(b, 128, inodes + 3);
            PutI64(b, 136, 16);
            PutI64(b, 144, inodes + 4);
            PutI64(b, 152, 16);
            PutI64(b, 160, 512);
            PutI64(b, 168, 4095 - 512);
        });

        var v = DiskSuperblock.VerifyRead(forged, out var sb);

        Assert.True(v.Verdict == Verdict.Corrupt, $"verdict {v.Verdict}, geometry {sb?.Geometry}");
    }

    [Fact]
    public void XattrBlobOfAnotherVersionOrWithReservedBytesSetIsCorrupt()
    {
        List<KeyValuePair<byte[], byte[]>> entries = [new(N("user.a"), [1])];
        var buf = new byte[DiskXattrBlob.EncodedLength(entries)];
        DiskXattrBlob.Seal(entries, buf);

        Assert.Equal(Verdict.Corrupt, DiskXattrBlob.VerifyRead(Forge(buf, b => PutU16(b, 6, 2)), 1, out _).Verdict);
        Assert.Equal(Verdict.Corrupt, DiskXattrBlob.VerifyRead(Forge(buf, b => PutU32(b, 12, 5)), 1, out _).Verdict);
        Assert.Equal(Verdict.Corrupt, DiskXattrBlob.VerifyRead(Forge(buf, b => b[17] = 3), 1, out _).Verdict);
    }

    [Fact]
    public void XattrBlobSealRefusesANameItCannotEncode()
    {
        List<KeyValuePair<byte[], byte[]>> entries = [new(new byte[256], [1])];
        var buf = new byte[DiskXattrBlob.EncodedLength(entries)];
        Assert.Throws<ArgumentException>(() => DiskXattrBlob.Seal(entries, buf));
    }
}
