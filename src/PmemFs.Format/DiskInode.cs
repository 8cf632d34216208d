using static PmemFs.Format.RecordCodec;

namespace PmemFs.Format;

/// <summary>
/// On-media inode, one slot of the inode table. Slot N holds inode N+1.
/// </summary>
/// <remarks>
/// <code>
/// 0  u32 crc32c of [4, 256)    40  u64 flags (InodeFlags)    88  u64 rdev
/// 4  u16 magic "IN" (0x4E49)   48  i64 size                  96  i64 xattr blob first block (0 = none)
/// 6  u16 record version (1)    56  i64 atime (ns)            104 u32 xattr blob length (bytes)
/// 8  u64 ino                   64  i64 mtime (ns)            108 u32 xattr blob blocks
/// 16 u32 generation            72  i64 ctime (ns)            120..255 zero (reserved)
/// 20 u32 mode (0 = free slot)  80  i64 btime (ns)
/// 24 u32 uid   28 u32 gid   32 u32 nlink   36 u32 project id   112 i64 pending trim (0 = none; file block + 1)
/// </code>
/// A free slot that was used before keeps magic and generation with mode 0, so that a reused
/// inode number gets a new generation. A never-used slot is all zero.
/// </remarks>
public static class DiskInode
{
    public const int Size = 256;
    public const ushort Magic = 0x4E49;

    public static void Seal(in InodeRecord r, Span<byte> dst)
    {
        dst = dst[..Size];
        dst.Clear();
        Put(dst, 4, Magic);
        Put(dst, 6, (ushort)1);
        Put(dst, 8, r.Ino);
        Put(dst, 16, r.Generation);
        Put(dst, 20, r.Mode);
        Put(dst, 24, r.Uid);
        Put(dst, 28, r.Gid);
        Put(dst, 32, r.Nlink);
        Put(dst, 36, r.ProjectId);
        Put(dst, 40, r.Flags);
        Put(dst, 48, r.Size);
        Put(dst, 56, r.AtimeNs);
        Put(dst, 64, r.MtimeNs);
        Put(dst, 72, r.CtimeNs);
        Put(dst, 80, r.BtimeNs);
        Put(dst, 88, r.Rdev);
        Put(dst, 96, r.XattrBlock);
        Put(dst, 104, r.XattrLength);
        Put(dst, 108, r.XattrBlocks);
        Put(dst, 112, r.PendingTrim);
        Checksum.SealRecord(dst);
    }

    /// <summary>Checks a slot's checksum, then its structure; <paramref name="expectedIno"/> is slot + 1.</summary>
    public static VerifyResult VerifyRead(ReadOnlySpan<byte> src, ulong expectedIno, out InodeRecord r)
    {
        r = default;
        src = src[..Size];
        var pre = Precheck(src, Magic, "inode ", expectedIno);
        if (!pre.IsOk) return pre;
        r = new InodeRecord
        {
            Ino = U64(src, 8),
            Generation = U32(src, 16),
            Mode = U32(src, 20),
            Uid = U32(src, 24),
            Gid = U32(src, 28),
            Nlink = U32(src, 32),
            ProjectId = U32(src, 36),
            Flags = U64(src, 40),
            Size = I64(src, 48),
            AtimeNs = I64(src, 56),
            MtimeNs = I64(src, 64),
            CtimeNs = I64(src, 72),
            BtimeNs = I64(src, 80),
            Rdev = U64(src, 88),
            XattrBlock = I64(src, 96),
            XattrLength = U32(src, 104),
            XattrBlocks = U32(src, 108),
            PendingTrim = I64(src, 112),
        };
        if (U16(src, 6) != 1) return VerifyResult.Corruption($"inode {expectedIno}: unknown record version {U16(src, 6)}");
        if (r.Ino != expectedIno) return VerifyResult.Corruption($"inode {expectedIno}: slot holds inode number {r.Ino}");
        if (r.IsFree) return VerifyResult.Good;
        if (!FileTypes.IsValid(r.FileType)) return VerifyResult.Corruption($"inode {expectedIno}: invalid file type in mode 0{Convert.ToString(r.Mode, 8)}");
        if (r.Size < 0 || r.Size > FormatConstants.MaxFileSize) return VerifyResult.Corruption($"inode {expectedIno}: impossible size {r.Size}");
        if ((r.Flags & ~(ulong)InodeFlags.Known) != 0) return VerifyResult.Corruption($"inode {expectedIno}: unknown flag bits 0x{r.Flags & ~(ulong)InodeFlags.Known:x}");
        if ((r.XattrBlock == 0) != (r.XattrBlocks == 0) || r.XattrBlock < 0
            || r.XattrLength > (long)r.XattrBlocks * FormatConstants.BlockSize || r.XattrLength > FormatConstants.MaxXattrTotal)
            return VerifyResult.Corruption($"inode {expectedIno}: inconsistent xattr blob (block {r.XattrBlock}, {r.XattrBlocks} blocks, {r.XattrLength} bytes)");
        if (r.PendingTrim < 0 || (r.PendingTrim != 0 && r.FileType != FileTypes.Regular))
            return VerifyResult.Corruption($"inode {expectedIno}: impossible pending trim {r.PendingTrim}");
        if (r.FileType == FileTypes.Symlink && (r.Size < 1 || r.Size > FormatConstants.MaxSymlinkLength))
            return VerifyResult.Corruption($"inode {expectedIno}: symlink of impossible length {r.Size}");
        return VerifyResult.Good;
    }
}
