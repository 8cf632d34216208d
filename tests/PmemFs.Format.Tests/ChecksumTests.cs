using System.Text;

namespace PmemFs.Format.Tests;

public class ChecksumTests
{
    [Fact]
    public void Crc32COfTheStandardCheckStringIsE3069283()
    {
        Assert.Equal(0xE3069283u, Checksum.Crc32C("123456789"u8));
    }

    [Fact]
    public void Crc32COfNothingIsZero()
    {
        Assert.Equal(0u, Checksum.Crc32C([]));
        Assert.Equal(0u, Checksum.Finish(Checksum.Start));
    }

    [Theory]
    // Test vectors from RFC 3720 (iSCSI), appendix B.4.
    [InlineData(0x00, 32, 0x8A9136AAu)]
    [InlineData(0xFF, 32, 0x62A8AB43u)]
    public void Crc32COfTheRfc3720VectorsMatches(byte fill, int length, uint expected)
    {
        Assert.Equal(expected, Checksum.Crc32C(Enumerable.Repeat(fill, length).ToArray()));
    }

    [Fact]
    public void Crc32COfAscendingAndDescendingBytesMatchesRfc3720()
    {
        Assert.Equal(0x46DD794Eu, Checksum.Crc32C(Enumerable.Range(0, 32).Select(i => (byte)i).ToArray()));
        Assert.Equal(0x113FDB5Cu, Checksum.Crc32C(Enumerable.Range(0, 32).Select(i => (byte)(31 - i)).ToArray()));
    }

    [Fact]
    public void Crc32COfAShortAsciiStringMatchesAKnownValue()
    {
        // "The quick brown fox jumps over the lazy dog" under CRC-32C.
        Assert.Equal(0x22620404u, Checksum.Crc32C(Encoding.ASCII.GetBytes("The quick brown fox jumps over the lazy dog")));
    }

    [Fact]
    public void AppendingInPiecesEqualsOneShot()
    {
        var data = new byte[1000];
        new Random(7).NextBytes(data);
        uint oneShot = Checksum.Crc32C(data);
        int[] cuts = [0, 1, 3, 7, 8, 9, 15, 16, 17, 63, 64, 65, 500, 999, 1000];
        foreach (int a in cuts)
        {
            foreach (int b in cuts.Where(b => b >= a))
            {
                uint crc = Checksum.Append(Checksum.Start, data.AsSpan(0, a));
                crc = Checksum.Append(crc, data.AsSpan(a, b - a));
                crc = Checksum.Append(crc, data.AsSpan(b));
                Assert.Equal(oneShot, Checksum.Finish(crc));
            }
        }
    }

    [Fact]
    public void AppendingOneByteAtATimeEqualsOneShot()
    {
        var data = "123456789abcdefghijklmnopqrstuvwxyz"u8.ToArray();
        uint crc = Checksum.Start;
        foreach (byte b in data) crc = Checksum.Append(crc, [b]);
        Assert.Equal(Checksum.Crc32C(data), Checksum.Finish(crc));
    }

    [Fact]
    public void SealRecordStoresTheChecksumOfEverythingAfterTheFirstFourBytes()
    {
        var rec = new byte[48];
        new Random(3).NextBytes(rec);
        Checksum.SealRecord(rec);
        Assert.Equal(Checksum.Crc32C(rec.AsSpan(4)), BitConverter.ToUInt32(rec, 0));
        Assert.True(Checksum.RecordChecksumMatches(rec));
        rec[47] ^= 1;
        Assert.False(Checksum.RecordChecksumMatches(rec));
    }
}
