using static PmemFs.Format.RecordCodec;

namespace PmemFs.Format;

/// <summary>
/// All extended attributes of one inode, serialized into data blocks owned by the inode
/// (rmap kind InodeXattr). Replaced as a whole: a new blob is written to fresh blocks and
/// persisted, then one transaction points the inode at it and frees the old one.
/// </summary>
/// <remarks>
/// <code>
/// 0  u32 crc32c of [4, length)   8  u32 entry count
/// 4  u16 magic "XA"              12 u32 zero
/// 6  u16 version (1)             16 entries: u8 name length, u8 zero, u16 zero, u32 value length, name, value
/// </code>
/// Names are bytes ("user.foo"), compared exactly.
/// </remarks>
public static class DiskXattrBlob
{
    public const ushort Magic = 0x4158;
    private const int HeaderSize = 16;
    private const int EntryHeader = 8;

    public static int EncodedLength(IEnumerable<KeyValuePair<byte[], byte[]>> entries) =>
        HeaderSize + entries.Sum(e => EntryHeader + e.Key.Length + e.Value.Length);

    public static void Seal(IReadOnlyCollection<KeyValuePair<byte[], byte[]>> entries, Span<byte> dst)
    {
        var names = new HashSet<byte[]>(ByteArrayComparer.Instance);
        foreach (var (name, value) in entries)
            if (name.Length is 0 or > FormatConstants.MaxNameLength || value.Length > FormatConstants.MaxXattrValue || !names.Add(name))
                throw new ArgumentException("xattr entry the blob cannot hold (empty, overlong or repeated name, or value over 64 KiB)");
        int pos = HeaderSize;
        foreach (var (name, value) in entries)
        {
            dst[pos] = (byte)name.Length;
            dst.Slice(pos + 1, 3).Clear();
            Put(dst, pos + 4, (uint)value.Length);
            name.CopyTo(dst[(pos + EntryHeader)..]);
            value.CopyTo(dst[(pos + EntryHeader + name.Length)..]);
            pos += EntryHeader + name.Length + value.Length;
        }
        dst[..HeaderSize].Clear();
        Put(dst, 4, Magic);
        Put(dst, 6, (ushort)1);
        Put(dst, 8, (uint)entries.Count);
        Checksum.SealRecord(dst[..pos]);
    }

    public static VerifyResult VerifyRead(ReadOnlySpan<byte> src, ulong ino, out List<KeyValuePair<byte[], byte[]>> entries)
    {
        entries = [];
        if (src.Length < HeaderSize) return VerifyResult.Corruption($"inode {ino}: xattr blob shorter than its header");
        var pre = Precheck(src, Magic, "inode ", (ulong)ino, " xattr blob");
        if (pre.Verdict == Verdict.Empty) return VerifyResult.Corruption($"inode {ino}: xattr blob is blank");
        if (!pre.IsOk) return pre;
        if (U16(src, 6) != 1) return VerifyResult.Corruption($"inode {ino}: xattr blob of unknown version {U16(src, 6)}");
        if (U32(src, 12) != 0) return VerifyResult.Corruption($"inode {ino}: xattr blob reserved header bytes are not zero");
        uint count = U32(src, 8);
        int pos = HeaderSize;
        var seen = new HashSet<byte[]>(ByteArrayComparer.Instance);
        for (uint i = 0; i < count; i++)
        {
            if (pos + EntryHeader > src.Length) return VerifyResult.Corruption($"inode {ino}: xattr entry {i} runs past the blob");
            int nameLen = src[pos];
            if (src[pos + 1] != 0 || U16(src, pos + 2) != 0) return VerifyResult.Corruption($"inode {ino}: xattr entry {i} reserved bytes are not zero");
            long valueLen = U32(src, pos + 4);
            if (nameLen == 0 || pos + EntryHeader + nameLen + valueLen > src.Length || valueLen > FormatConstants.MaxXattrValue)
                return VerifyResult.Corruption($"inode {ino}: xattr entry {i} has impossible lengths");
            var name = src.Slice(pos + EntryHeader, nameLen).ToArray();
            if (!seen.Add(name)) return VerifyResult.Corruption($"inode {ino}: xattr name repeated");
            entries.Add(new(name, src.Slice(pos + EntryHeader + nameLen, (int)valueLen).ToArray()));
            pos += EntryHeader + nameLen + (int)valueLen;
        }
        if (pos != src.Length) return VerifyResult.Corruption($"inode {ino}: xattr blob length disagrees with its entries");
        return VerifyResult.Good;
    }
}

/// <summary>Byte-string equality for names (file names and xattr names are bytes, not text).</summary>
public sealed class ByteArrayComparer : IEqualityComparer<byte[]>, IAlternateEqualityComparer<ReadOnlySpan<byte>, byte[]>
{
    public static readonly ByteArrayComparer Instance = new();
    public bool Equals(byte[]? x, byte[]? y) => ReferenceEquals(x, y) || (x is not null && y is not null && x.AsSpan().SequenceEqual(y));
    public int GetHashCode(byte[] obj) => GetHashCode((ReadOnlySpan<byte>)obj);
    public bool Equals(ReadOnlySpan<byte> alternate, byte[] other) => alternate.SequenceEqual(other);
    public int GetHashCode(ReadOnlySpan<byte> alternate)
    {
        var h = new HashCode();
        h.AddBytes(alternate);
        return h.ToHashCode();
    }
    public byte[] Create(ReadOnlySpan<byte> alternate) => alternate.ToArray();
}
