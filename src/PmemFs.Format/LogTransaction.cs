using System.Buffers.Binary;
using PmemFs.Media;
using static PmemFs.Format.RecordCodec;

namespace PmemFs.Format;

/// <summary>The kinds of change a journal transaction carries. Each is idempotent, so replay may repeat it.</summary>
public enum LogEntryKind : byte
{
    /// <summary>Store the payload at a region byte offset (a whole record image).</summary>
    Write = 1,
    /// <summary>Zero a byte range (a freed record slot).</summary>
    Zero = 2,
    /// <summary>Mark blocks in use in the free-space bitmap.</summary>
    SetBits = 3,
    /// <summary>Mark blocks free in the free-space bitmap.</summary>
    ClearBits = 4,
}

/// <summary>
/// One atomic metadata update, as it is written to the journal and applied in place.
/// </summary>
/// <remarks>
/// Transaction in the log (64-byte aligned, never wraps; a transaction that does not fit before
/// the end of the log starts at offset 0 instead):
/// <code>
/// 0  u32 crc32c of header [4, 56) and the body      16 u32 body length (multiple of 8)
/// 4  u16 magic "TX"                                  20 u32 entry count
/// 6  u16 version (1)                                 24..55 zero
/// 8  u64 sequence number                             56 u64 commit word = seq ^ journal salt
/// body: entries, each 8-aligned:
///   0 u8 kind   1..3 zero   4 u32 length (bytes, or blocks for bit kinds)   8 i64 target   16 payload (Write)
/// </code>
/// Ordering (the commit protocol): write header (commit word 0) and body, flush, drain; write
/// the commit word, flush, drain. Only then, and only once every earlier sequence is committed
/// too (replay stops at the first one that is not), apply the entries in place. A transaction
/// counts as committed only when magic, sequence, checksum and commit word all match.
///
/// Entries of concurrent transactions must commute: a record image is only logged by the holder
/// of the lock that owns that record, and bitmap changes are bit ranges (set/clear), never
/// word images, so two transactions touching different blocks of one bitmap word replay in any
/// order.
/// </remarks>
public sealed class LogTransaction
{
    public const int HeaderSize = 64;
    public const ushort Magic = 0x5854;
    private const int EntryHeader = 16;

    private byte[] _body = new byte[512];
    private int _length;

    public int EntryCount { get; private set; }
    public int BodyLength => _length;
    public bool IsEmpty => EntryCount == 0;

    /// <summary>Bytes the transaction takes in the log.</summary>
    public int EncodedLength => Align(HeaderSize + _length, FormatConstants.CacheLine);

    public ReadOnlySpan<byte> Body => _body.AsSpan(0, _length);

    /// <summary>
    /// Logs <paramref name="bytes"/> for <paramref name="offset"/>. A second image of the same
    /// record (an inode logged when made and again when its symlink target is added) replaces
    /// the first in place when no entry in between touches it: the log holds one final image of
    /// each record, which is what the commit-time record check verifies, and fewer bytes.
    /// </summary>
    public void Write(long offset, ReadOnlySpan<byte> bytes)
    {
        if (FindReplaceableImage(offset, bytes.Length) is int at)
        {
            bytes.CopyTo(_body.AsSpan(at + EntryHeader, bytes.Length));
            return;
        }
        var dst = Append(LogEntryKind.Write, bytes.Length, offset, bytes.Length);
        bytes.CopyTo(dst);
    }

    /// <summary>The body position of the last entry touching [offset, +length), if it is a Write of exactly that range.</summary>
    private int? FindReplaceableImage(long offset, int length)
    {
        int? found = null;
        for (int pos = 0, i = 0; i < EntryCount; i++)
        {
            var kind = (LogEntryKind)_body[pos];
            int len = (int)BinaryPrimitives.ReadUInt32LittleEndian(_body.AsSpan(pos + 4));
            long target = BinaryPrimitives.ReadInt64LittleEndian(_body.AsSpan(pos + 8));
            if (kind is LogEntryKind.Write or LogEntryKind.Zero && target < offset + length && offset < target + len)
                found = kind == LogEntryKind.Write && target == offset && len == length ? pos : null;
            pos += EntryHeader + (kind == LogEntryKind.Write ? Align(len, 8) : 0);
        }
        return found;
    }

    public void Zero(long offset, int length) => Append(LogEntryKind.Zero, length, offset, 0);

    public void SetBits(long firstBlock, long count) => AppendBits(LogEntryKind.SetBits, firstBlock, count);

    public void ClearBits(long firstBlock, long count) => AppendBits(LogEntryKind.ClearBits, firstBlock, count);

    /// <summary>Bytes the body buffer holds before it must grow.</summary>
    public int Capacity => _body.Length;

    public void Clear()
    {
        _length = 0;
        EntryCount = 0;
    }

    private void AppendBits(LogEntryKind kind, long first, long count)
    {
        while (count > 0)
        {
            int n = (int)Math.Min(count, int.MaxValue);
            Append(kind, n, first, 0);
            first += n;
            count -= n;
        }
    }

    private Span<byte> Append(LogEntryKind kind, int length, long target, int payload)
    {
        int size = EntryHeader + Align(payload, 8);
        if (_length + size > _body.Length) Array.Resize(ref _body, Math.Max(_body.Length * 2, _length + size));
        var e = _body.AsSpan(_length, size);
        e.Clear();
        e[0] = (byte)kind;
        Put(e, 4, (uint)length);
        Put(e, 8, target);
        _length += size;
        EntryCount++;
        return e.Slice(EntryHeader, payload);
    }

    /// <summary>Writes header (with a zero commit word) and body into <paramref name="dst"/>.</summary>
    public void EncodeUncommitted(ulong seq, Span<byte> dst)
    {
        var header = dst[..HeaderSize];
        header.Clear();
        Put(header, 4, Magic);
        Put(header, 6, (ushort)1);
        Put(header, 8, seq);
        Put(header, 16, (uint)_length);
        Put(header, 20, (uint)EntryCount);
        Body.CopyTo(dst[HeaderSize..]);
        dst[(HeaderSize + _length)..EncodedLength].Clear();
        uint crc = Checksum.Append(Checksum.Start, header[4..56]);
        crc = Checksum.Finish(Checksum.Append(crc, Body));
        Put(header, 0, crc);
    }

    public static ulong CommitWord(ulong seq, ulong salt) => seq ^ salt;

    public const int CommitWordOffset = 56;

    /// <summary>
    /// Parses a committed transaction at the start of <paramref name="log"/>; returns its body
    /// and entry count, or false when there is none with sequence <paramref name="seq"/>.
    /// </summary>
    public static bool TryReadCommitted(ReadOnlySpan<byte> log, ulong seq, ulong salt, out ReadOnlySpan<byte> body, out int entries, out int encodedLength)
    {
        body = default;
        entries = 0;
        encodedLength = 0;
        if (log.Length < HeaderSize) return false;
        if (U16(log, 4) != Magic || U64(log, 8) != seq || U16(log, 6) != 1) return false;
        if (U64(log, CommitWordOffset) != CommitWord(seq, salt)) return false;
        uint length = U32(log, 16);
        if (length % 8 != 0 || length > log.Length - HeaderSize) return false;
        body = log.Slice(HeaderSize, (int)length);
        uint crc = Checksum.Append(Checksum.Start, log[4..56]);
        crc = Checksum.Finish(Checksum.Append(crc, body));
        if (crc != U32(log, 0)) return false;
        entries = (int)U32(log, 20);
        encodedLength = Align(HeaderSize + (int)length, FormatConstants.CacheLine);
        return true;
    }

    /// <summary>
    /// Stores every entry of <paramref name="body"/> at its home and flushes it (no drain).
    /// Returns a problem when an entry is malformed or points outside the metadata areas.
    /// </summary>
    /// <summary>
    /// What <see cref="Apply"/> (and so replay) would refuse in a body, without writing: the
    /// log checks every transaction with it before anything of it is stored, so a bad one can
    /// never be committed and then stop every later mount at replay.
    /// </summary>
    public static string? Validate(ReadOnlySpan<byte> body, int entries, Geometry g) => Apply(body, entries, null, g);

    public static string? Apply(ReadOnlySpan<byte> body, int entries, IMedia? media, Geometry g)
    {
        int pos = 0;
        for (int i = 0; i < entries; i++)
        {
            if (pos + EntryHeader > body.Length) return $"entry {i} runs past the body";
            var kind = (LogEntryKind)body[pos];
            int length = (int)U32(body, pos + 4);
            long target = I64(body, pos + 8);
            int payload = kind == LogEntryKind.Write ? length : 0;
            if (length < 0 || pos + EntryHeader + ((long)payload + 7) / 8 * 8 > body.Length) return $"entry {i} runs past the body";
            switch (kind)
            {
                case LogEntryKind.Write or LogEntryKind.Zero:
                    if (!IsRecordArea(g, target, length)) return $"entry {i} writes [{target}, +{length}) outside the metadata tables";
                    if (media is null) break;
                    if (kind == LogEntryKind.Write) media.Write(target, body.Slice(pos + EntryHeader, length));
                    else media.Fill(target, length, 0);
                    media.Flush(target, length);
                    break;
                case LogEntryKind.SetBits or LogEntryKind.ClearBits:
                    if (target < 0 || length < 0 || target > g.BlockCount - length) return $"entry {i} changes bits of blocks outside the region";
                    if (media is not null) FreeSpaceBitmap.ApplyRange(media, g, target, length, kind == LogEntryKind.SetBits);
                    break;
                default:
                    return $"entry {i} has unknown kind {(byte)kind}";
            }
            pos += EntryHeader + Align(payload, 8);
        }
        return null;
    }

    /// <summary>Record writes may only land in the inode, dirent, extent and rmap tables.</summary>
    private static bool IsRecordArea(Geometry g, long offset, long length)
    {
        long start = Geometry.BlockOffset(g.InodeTableStart);
        long end = Geometry.BlockOffset(g.DataStart);
        return offset >= start && length >= 0 && offset <= end - length;
    }

    private static int Align(int value, int alignment) => (value + alignment - 1) / alignment * alignment;

    internal static ulong ReadCommitWord(ReadOnlySpan<byte> log) => BinaryPrimitives.ReadUInt64LittleEndian(log[CommitWordOffset..]);
}
