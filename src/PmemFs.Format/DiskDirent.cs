using static PmemFs.Format.RecordCodec;

namespace PmemFs.Format;

/// <summary>On-media directory entry, one slot of the dirent table.</summary>
/// <remarks>
/// <code>
/// 0  u32 crc32c of [4, 288)   8  u64 parent inode    32 u8[256] name (bytes), zero padded
/// 4  u16 magic "DE" (0x4544)  16 u64 child inode
/// 6  u8 name length (1..255)  24 u64 zero (reserved)
/// 7  u8 DT_ type of the child
/// </code>
/// A free slot is all zero. Entries of one directory are scattered over the table; the engine
/// indexes them per directory in memory (hash by name) at mount.
/// </remarks>
public static class DiskDirent
{
    public const int Size = 288;
    public const ushort Magic = 0x4544;
    private const int NameOffset = 32;

    public static void Seal(in DirentRecord r, Span<byte> dst)
    {
        if (!IsValidName(r.Name)) throw new ArgumentException("invalid directory entry name");
        dst = dst[..Size];
        dst.Clear();
        Put(dst, 4, Magic);
        dst[6] = (byte)r.Name.Length;
        dst[7] = r.Type;
        Put(dst, 8, r.Parent);
        Put(dst, 16, r.Child);
        r.Name.CopyTo(dst[NameOffset..]);
        Checksum.SealRecord(dst);
    }

    public static VerifyResult VerifyRead(ReadOnlySpan<byte> src, long slot, out DirentRecord r)
    {
        r = default;
        src = src[..Size];
        var pre = Precheck(src, Magic, "dirent slot ", (ulong)slot);
        if (!pre.IsOk) return pre;
        int len = src[6];
        var name = src.Slice(NameOffset, Math.Max(len, 0)).ToArray();
        r = new DirentRecord(U64(src, 8), U64(src, 16), src[7], name);
        if (len < 1) return VerifyResult.Corruption($"dirent slot {slot}: empty name");
        if (!IsValidName(name)) return VerifyResult.Corruption($"dirent slot {slot}: invalid name");
        if (r.Parent == 0 || r.Child == 0) return VerifyResult.Corruption($"dirent slot {slot}: null inode number");
        if (!IsAllZero(src[(NameOffset + len)..])) return VerifyResult.Corruption($"dirent slot {slot}: bytes after the name");
        if (!FileTypes.IsValid((uint)r.Type << 12)) return VerifyResult.Corruption($"dirent slot {slot}: invalid type {r.Type}");
        return VerifyResult.Good;
    }

    /// <summary>1..255 bytes, no '/' or NUL, not "." or "..".</summary>
    public static bool IsValidName(ReadOnlySpan<byte> name) =>
        name.Length is >= 1 and <= FormatConstants.MaxNameLength
        && name.IndexOfAny((byte)'/', (byte)0) < 0
        && !name.SequenceEqual("."u8) && !name.SequenceEqual(".."u8);
}
