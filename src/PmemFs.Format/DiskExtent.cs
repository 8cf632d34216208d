using static PmemFs.Format.RecordCodec;

namespace PmemFs.Format;

/// <summary>On-media forward-map record: file blocks of an inode -> physical blocks.</summary>
/// <remarks>
/// <code>
/// 0  u32 crc32c of [4, 48)   8  u64 inode        24 i64 physical block
/// 4  u16 magic "EX"          16 i64 file block   32 i64 block count
/// 6  u8 state (1 written, 2 unwritten)           40 u64 zero (reserved)
/// 7  u8 flags (0)
/// </code>
/// </remarks>
public static class DiskExtent
{
    public const int Size = 48;
    public const ushort Magic = 0x5845;

    public static void Seal(in ExtentRecord r, Span<byte> dst)
    {
        dst = dst[..Size];
        dst.Clear();
        Put(dst, 4, Magic);
        dst[6] = (byte)r.State;
        Put(dst, 8, r.Ino);
        Put(dst, 16, r.FileBlock);
        Put(dst, 24, r.PhysBlock);
        Put(dst, 32, r.BlockCount);
        Checksum.SealRecord(dst);
    }

    public static VerifyResult VerifyRead(ReadOnlySpan<byte> src, long slot, out ExtentRecord r)
    {
        r = default;
        src = src[..Size];
        var pre = Precheck(src, Magic, "extent slot ", (ulong)slot);
        if (!pre.IsOk) return pre;
        r = new ExtentRecord(U64(src, 8), I64(src, 16), I64(src, 24), I64(src, 32), (ExtentState)src[6]);
        if (r.State is not (ExtentState.Written or ExtentState.Unwritten)) return VerifyResult.Corruption($"extent slot {slot}: invalid state {src[6]}");
        if (src[7] != 0) return VerifyResult.Corruption($"extent slot {slot}: unknown flags {src[7]}");
        if (r.Ino == 0) return VerifyResult.Corruption($"extent slot {slot}: no owner");
        if (r.BlockCount <= 0 || r.FileBlock < 0 || r.PhysBlock <= 0 || r.FileBlock > (FormatConstants.MaxFileSize >> FormatConstants.BlockShift) - r.BlockCount)
            return VerifyResult.Corruption($"extent slot {slot}: impossible range (file block {r.FileBlock}, physical {r.PhysBlock}, {r.BlockCount} blocks)");
        return VerifyResult.Good;
    }
}
