using System.Buffers.Binary;
using System.Numerics;

namespace PmemFs.Format;

/// <summary>CRC32C (Castagnoli), hardware-accelerated through <see cref="BitOperations.Crc32C(uint, ulong)"/>.</summary>
public static class Checksum
{
    public static uint Crc32C(ReadOnlySpan<byte> data) => Finish(Append(Start, data));

    public const uint Start = 0xFFFF_FFFF;

    public static uint Append(uint crc, ReadOnlySpan<byte> data)
    {
        while (data.Length >= 8)
        {
            crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data));
            data = data[8..];
        }
        foreach (byte b in data) crc = BitOperations.Crc32C(crc, b);
        return crc;
    }

    public static uint Finish(uint crc) => ~crc;

    /// <summary>Every on-media record keeps its CRC32C in its first 4 bytes, covering the rest.</summary>
    public static uint OfRecord(ReadOnlySpan<byte> record) => Crc32C(record[4..]);

    public static void SealRecord(Span<byte> record) =>
        BinaryPrimitives.WriteUInt32LittleEndian(record, OfRecord(record));

    public static bool RecordChecksumMatches(ReadOnlySpan<byte> record) =>
        BinaryPrimitives.ReadUInt32LittleEndian(record) == OfRecord(record);
}
