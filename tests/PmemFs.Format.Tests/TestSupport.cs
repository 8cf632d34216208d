using System.Buffers.Binary;
using System.Text;
using PmemFs.Media;

namespace PmemFs.Format.Tests;

/// <summary>Small helpers shared by the format tests.</summary>
internal static class TestSupport
{
    public const long MiB = 1024 * 1024;
    public const long GiB = 1024 * MiB;

    public static byte[] N(string name) => Encoding.UTF8.GetBytes(name);

    public static byte[] Pattern(int length, int seed)
    {
        var b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }

    /// <summary>A freshly formatted in-memory region.</summary>
    public static MemoryMedia Formatted(long size, out Superblock sb, MkfsOptions? options = null)
    {
        var media = new MemoryMedia(size);
        sb = Mkfs.Format(media, options ?? new MkfsOptions());
        return media;
    }

    public static void PutU16(Span<byte> s, int off, ushort v) => BinaryPrimitives.WriteUInt16LittleEndian(s[off..], v);
    public static void PutU32(Span<byte> s, int off, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(s[off..], v);
    public static void PutU64(Span<byte> s, int off, ulong v) => BinaryPrimitives.WriteUInt64LittleEndian(s[off..], v);
    public static void PutI64(Span<byte> s, int off, long v) => BinaryPrimitives.WriteInt64LittleEndian(s[off..], v);
    public static ushort U16(ReadOnlySpan<byte> s, int off) => BinaryPrimitives.ReadUInt16LittleEndian(s[off..]);
    public static uint U32(ReadOnlySpan<byte> s, int off) => BinaryPrimitives.ReadUInt32LittleEndian(s[off..]);
    public static ulong U64(ReadOnlySpan<byte> s, int off) => BinaryPrimitives.ReadUInt64LittleEndian(s[off..]);
    public static long I64(ReadOnlySpan<byte> s, int off) => BinaryPrimitives.ReadInt64LittleEndian(s[off..]);

    /// <summary>Applies <paramref name="edit"/> to a copy of <paramref name="record"/> and reseals it.</summary>
    public static byte[] Forge(ReadOnlySpan<byte> record, Action<byte[]> edit)
    {
        var copy = record.ToArray();
        edit(copy);
        Checksum.SealRecord(copy);
        return copy;
    }

    /// <summary>A copy of <paramref name="record"/> with one byte flipped (checksum left as is).</summary>
    public static byte[] Flip(ReadOnlySpan<byte> record, int offset)
    {
        var copy = record.ToArray();
        copy[offset] ^= 0x5A;
        return copy;
    }

    /// <summary>Writes a transaction at a log offset, committed (commit word written) or not.</summary>
    public static void WriteTransaction(IMedia media, Superblock sb, long logOffset, ulong seq, LogTransaction tx, bool commit = true)
    {
        var g = sb.Geometry;
        var buf = new byte[tx.EncodedLength];
        tx.EncodeUncommitted(seq, buf);
        media.Write(g.LogOffset + logOffset, buf);
        if (commit)
        {
            Span<byte> word = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(word, LogTransaction.CommitWord(seq, sb.JournalSalt));
            media.Write(g.LogOffset + logOffset + LogTransaction.CommitWordOffset, word);
        }
    }

    /// <summary>A sealed in-use inode image (regular file) for slot <c>ino - 1</c>.</summary>
    public static byte[] InodeImage(ulong ino, uint mode = FileTypes.Regular | 0x1A4, long size = 0, uint generation = 1)
    {
        var buf = new byte[DiskInode.Size];
        DiskInode.Seal(new InodeRecord { Ino = ino, Generation = generation, Mode = mode, Nlink = 1, Size = size }, buf);
        return buf;
    }
}
